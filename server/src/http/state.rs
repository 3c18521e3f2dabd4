//! What every handler shares: the database, the ingest writer, the trust store and the limits.

use crate::db::Db;
use crate::ingest::Ingest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub ingest: Ingest,
    pub server_id: String,
    /// The roots facility signatures must chain to.
    pub trust: crate::certificates::TrustStore,
    /// How often one address may try to sign in.
    pub sign_in_limit: crate::http::throttle::SignInLimit,
    /// Reverse proxies in front of the server, whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::http::throttle::TrustedProxies,
    /// The time the rules read (the system's; a test moves its own).
    pub clock: sync_protocol::Clock,
    /// Where published app packages are kept (`releases`).
    pub updates_dir: std::path::PathBuf,
    /// The address stations reach the server at, for the links it answers with (`serve
    /// --public-url`); else taken from the request's `Host`.
    pub public_url: Option<String>,
    /// Whether the server itself speaks TLS (for the links it makes from `Host`).
    pub https: bool,
    pub(super) last_seen: Arc<Mutex<HashMap<String, time::OffsetDateTime>>>,
    /// Citizens' complaints.
    pub complaints: crate::complaints::ComplaintStore,
    /// The public form's proof of work (a key of this process: a restart asks open forms to
    /// be reloaded).
    pub pow: crate::complaints::pow::ProofOfWork,
    /// How often one address may send the public complaint form or look one up.
    pub complaint_limit: crate::http::throttle::SignInLimit,
}

impl AppState {
    /// State over an open database with its ingest writer.
    pub fn new(db: Db, ingest: Ingest, server_id: String) -> AppState {
        AppState {
            complaints: crate::complaints::ComplaintStore::new(db.clone()),
            pow: crate::complaints::pow::ProofOfWork::new(
                rand::random::<[u8; 32]>().to_vec(),
                crate::complaints::pow::DEFAULT_DIFFICULTY,
            ),
            // A ward office's shared connection may file for several citizens: a burst of 20,
            // then one each 6 s.
            complaint_limit: crate::http::throttle::SignInLimit {
                burst: 20,
                every: std::time::Duration::from_secs(6),
            },
            db,
            ingest,
            server_id,
            trust: crate::certificates::TrustStore::default(),
            sign_in_limit: crate::http::throttle::SignInLimit::default(),
            trusted_proxies: crate::http::throttle::TrustedProxies::default(),
            clock: sync_protocol::Clock::system(),
            updates_dir: std::path::PathBuf::from("sotiem-updates"),
            public_url: None,
            https: false,
            last_seen: Arc::default(),
        }
    }
}
