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
    /// How many complaints' photos are decoded at once, server-wide (each may take up to
    /// 192 MiB while it is decoded).
    pub photo_slots: Arc<tokio::sync::Semaphore>,
}

/// Photo decodes at once by default: two, whatever the cores (memory is the bound).
pub const PHOTO_SLOTS: usize = 2;

/// Reads the address stations and browsers reach the server at (`serve --public-url`): an
/// `https://` address with a host and no user name, query or fragment (`http://` only for this
/// machine). It is where stations send their device token for updates, and it says whether
/// browsers reach the console over TLS (behind a proxy), so a wrong one is refused at start.
pub fn parse_public_url(text: &str) -> Result<String, String> {
    let refuse = |why: &str| {
        Err(format!(
            "--public-url {why}: phải là địa chỉ https đầy đủ, ví dụ https://sotiem.soyte.gov.vn (không có tên người dùng, ? hay #)"
        ))
    };
    let text = text.trim().trim_end_matches('/');
    if text.contains(['?', '#', ' ']) {
        return refuse("có ?, # hay khoảng trắng");
    }
    let Ok(uri) = text.parse::<axum::http::Uri>() else {
        return refuse("không đọc được");
    };
    let Some(authority) = uri.authority() else {
        return refuse("không có tên máy chủ");
    };
    if authority.as_str().contains('@') {
        return refuse("không được chứa tên người dùng hay mật khẩu");
    }
    let host = authority.host().trim_matches(['[', ']']);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => Ok(text.to_string()),
        Some("http") if loopback => Ok(text.to_string()),
        Some("http") => refuse("dùng http:// qua mạng (mã thiết bị sẽ đi không mã hoá)"),
        _ => refuse("không bắt đầu bằng https://"),
    }
}

impl AppState {
    /// Whether browsers and stations reach the server over TLS: its own, or a proxy's in front
    /// of it (`--public-url https://…`). The console's cookie is then `Secure`.
    pub fn served_over_https(&self) -> bool {
        self.https
            || self
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
    }

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
            photo_slots: Arc::new(tokio::sync::Semaphore::new(PHOTO_SLOTS)),
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

#[cfg(test)]
mod tests {
    use super::parse_public_url;

    #[test]
    fn a_public_url_is_a_whole_https_address() {
        assert_eq!(
            parse_public_url("https://sotiem.soyte.gov.vn/").as_deref(),
            Ok("https://sotiem.soyte.gov.vn")
        );
        assert!(parse_public_url("https://sotiem.soyte.gov.vn:8443/so-tiem").is_ok());
        assert!(parse_public_url("http://127.0.0.1:8787").is_ok());
        assert!(parse_public_url("http://localhost:8787").is_ok());
        for bad in [
            "sotiem.soyte.gov.vn",
            "http://sotiem.soyte.gov.vn",
            "ftp://sotiem.soyte.gov.vn",
            "https://admin:matkhau@sotiem.soyte.gov.vn",
            "https://sotiem.soyte.gov.vn/?next=evil",
            "https://sotiem.soyte.gov.vn/#x",
            "https://",
            "",
        ] {
            let refused = parse_public_url(bad).expect_err(bad);
            assert!(refused.contains("--public-url"), "{bad}: {refused}");
        }
    }
}
