//! The sync client (docs/design.md §5): push the outbox, bootstrap a new device from snapshots, pull
//! to the cursor. Every step is idempotent and commits its progress (acknowledgements, cursor)
//! as it goes, so a connection that drops anywhere loses nothing and repeats nothing; the next
//! attempt carries on. A change the server refuses is kept in quarantine with the reason, and
//! the person's document is reset to the server's state plus this device's other changes.

mod pull;
mod push;
mod replies;
mod setup;
mod side_channels;

pub use crate::remote::{
    SyncClient, SyncError, SyncResult, allow_insecure_http, check_server_address,
};

use crate::error::StationError;
use crate::progress::SyncControl;
pub use crate::progress::{SyncPhase, SyncProgress};
use crate::service::Station;
use crate::store::MetaKey;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::atomic::Ordering;
use std::time::Duration;
use sync_protocol::person::format_time;
use sync_protocol::wire;
use uuid::Uuid;

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncReport {
    pub pushed: u64,
    pub already_on_server: u64,
    pub quarantined: u64,
    pub waiting_for_dependencies: u64,
    /// Changes of other users of this laptop, kept until they sign in online and sync.
    pub waiting_for_author: u64,
    /// Changes the server could not take now (kept, sent again at the next sync).
    pub deferred: u64,
    pub bootstrapped: u64,
    pub pulled_changes: u64,
    pub pulled_snapshots: u64,
    pub repaired: u64,
    pub audit_entries_sent: u64,
    /// Accounts the server has revoked since the last sync: locked out on this station now.
    pub accounts_revoked: Vec<String>,
    /// Signing runs the server verified, and those it refused (the reason is kept on the run).
    pub batches_accepted: u64,
    pub batches_refused: u64,
    /// Vaccine passports issued or revoked for the facility's people since the last sync.
    pub passports_pulled: u64,
    /// Complaints routed here (new, forwarded here, or changed) since the last sync.
    pub complaints_pulled: u64,
    /// Answers and forwards written here that the server took, and those it refused (opened
    /// again here with the reason).
    pub complaint_replies_sent: u64,
    pub complaint_replies_refused: u64,
    pub cursor: u64,
    pub attempts: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// A change the server refused, kept on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QuarantinedChange {
    pub change_hash: String,
    pub person_id: Uuid,
    pub full_name: Option<String>,
    pub reason: String,
    pub message: String,
    pub quarantined_at: String,
}

/// How sync stands, for the status bar and `sotiem sync status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    pub server_url: Option<String>,
    pub last_sync_at: Option<String>,
    pub last_error: Option<String>,
    pub pending_changes: i64,
    /// Pending changes of users other than the signed-in one: each user's go up when that user
    /// signs in online and syncs.
    pub waiting_for_author: Vec<AuthorWaiting>,
    pub cursor: Option<u64>,
    pub quarantined: Vec<QuarantinedChange>,
}

/// Pending changes of one user who is not the one signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuthorWaiting {
    pub user: String,
    pub changes: i64,
}

const PUSH_BATCH_CHANGES: usize = 500;
const PUSH_BATCH_BYTES: usize = 512 * 1024;
const PULL_MAX_BYTES: u32 = 1024 * 1024;
const BOOTSTRAP_MAX_BYTES: u32 = 2 * 1024 * 1024;

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl Station {
    /// Syncs, retrying with growing delays after a network failure; each attempt resumes where
    /// the previous one stopped.
    pub async fn sync_with_retry(
        &self,
        client: &SyncClient,
        policy: &RetryPolicy,
    ) -> SyncResult<SyncReport> {
        let mut delay = policy.first_delay;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.sync(client).await {
                Ok(mut report) => {
                    report.attempts = attempt;
                    return Ok(report);
                }
                Err(e) if e.is_retryable() && attempt < policy.attempts => {
                    tracing::warn!("sync attempt {attempt} failed: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(policy.max_delay);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One sync as the signed-in user: check the server, push, bootstrap if this device never
    /// synced, pull, push the audit log. An account the server has revoked is locked out here.
    pub async fn sync(&self, client: &SyncClient) -> SyncResult<SyncReport> {
        let session = self.reader().map_err(SyncError::Station)?;
        let _one_at_a_time = self.sync_control.running.lock().await;
        self.sync_control.cancel.store(false, Ordering::SeqCst);
        self.sync_control.update(|p| {
            *p = SyncProgress {
                running: true,
                phase: SyncPhase::Connect,
                ..SyncProgress::default()
            }
        });
        // Cleared however the sync ends, even when its task is dropped half way.
        struct Finished<'a>(&'a SyncControl);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                self.0.update(|p| p.running = false);
            }
        }
        let _finished = Finished(&self.sync_control);
        self.sync_signed_in(client, &session).await
    }

    /// How far the running sync has got (`running` false when none is).
    pub fn sync_progress(&self) -> SyncProgress {
        self.sync_control.current()
    }

    /// Calls `watcher` with the sync's progress each time it changes (the app pushes it to the
    /// screen).
    pub fn watch_sync(&self, watcher: crate::progress::Watcher<SyncProgress>) {
        self.sync_control.watch(watcher);
    }

    /// Asks the running sync to stop at its next step; it ends with [`SyncError::Cancelled`].
    pub fn cancel_sync(&self) {
        self.sync_control.cancel.store(true, Ordering::SeqCst);
    }

    async fn sync_signed_in(
        &self,
        client: &SyncClient,
        session: &crate::session::Session,
    ) -> SyncResult<SyncReport> {
        let Some(token) = session.server_token.clone() else {
            return Err(SyncError::Station(StationError::ServerUnavailable(
                "phiên đăng nhập ngoại tuyến: hãy đăng nhập trực tuyến để đồng bộ".into(),
            )));
        };
        client.set_session(Some(token));
        let (sent0, received0) = client.traffic();
        let result = self.sync_inner(client).await;
        if let Err(e) = &result {
            match e.code() {
                "account_revoked" => self.mark_revoked(session.username()).await?,
                "session_invalid" => {
                    let _ = self.sign_out(None).await;
                }
                _ => {}
            }
        }
        let (sent1, received1) = client.traffic();
        match result {
            Ok(mut report) => {
                report.bytes_sent = sent1 - sent0;
                report.bytes_received = received1 - received0;
                self.set_meta(MetaKey::LastSyncAt, Some(&format_time(self.clock().now())))
                    .await?;
                self.set_meta(MetaKey::LastSyncError, None).await?;
                Ok(report)
            }
            Err(e) => {
                let _ = self.record_sync_failure(&e.to_string()).await;
                Err(e)
            }
        }
    }

    async fn sync_inner(&self, client: &SyncClient) -> SyncResult<SyncReport> {
        let info = client.info().await?;
        if info.protocol_min > wire::PROTOCOL_VERSION {
            return Err(SyncError::ProtocolTooOld {
                ours: wire::PROTOCOL_VERSION,
                server_min: info.protocol_min,
                server_max: info.protocol_max,
            });
        }
        if let Some(f) = &info.facility
            && f != &self.facility().code
        {
            return Err(SyncError::FacilityMismatch {
                server: f.clone(),
                local: self.facility().code.clone(),
            });
        }
        self.adopt_parent(info.facility_parent.as_deref()).await?;
        self.adopt_mobile_teams(&info.mobile_teams).await?;
        // Pointed at another server: what we know of the old one's sequence means nothing there.
        if self.meta_value(MetaKey::SyncServerId).await?.as_deref() != Some(info.server_id.as_str())
        {
            self.set_meta(MetaKey::SyncCursor, None).await?;
            self.set_meta(MetaKey::BootstrapAfter, None).await?;
            self.set_meta(MetaKey::BootstrapHighWater, None).await?;
            self.set_meta(MetaKey::ComplaintCursor, None).await?;
            self.set_meta(MetaKey::SyncServerId, Some(&info.server_id))
                .await?;
        }
        // A unit whose signing area grew fetches its scope afresh: the people of the added
        // facilities are older than its cursor.
        if self.adopt_area(&info.area).await? {
            self.set_meta(MetaKey::SyncCursor, None).await?;
            self.set_meta(MetaKey::BootstrapAfter, None).await?;
            self.set_meta(MetaKey::BootstrapHighWater, None).await?;
        }
        let mut report = SyncReport::default();
        self.sync_control.update(|p| p.phase = SyncPhase::Push);
        // A refusal can replay later edits as new changes: push those in the same sync.
        for _ in 0..3 {
            if !self.push_outbox(client, &mut report).await? {
                break;
            }
        }
        // After the doses they sign are on the server; the signatures written into the documents
        // of accepted runs go up at once.
        self.push_signing_batches(client, &mut report).await?;
        if report.batches_accepted > 0 {
            self.push_outbox(client, &mut report).await?;
        }
        if self.meta_value(MetaKey::SyncCursor).await?.is_none() {
            self.sync_control.update(|p| p.phase = SyncPhase::Bootstrap);
            self.bootstrap(client, &mut report).await?;
        }
        self.sync_control.update(|p| p.phase = SyncPhase::Pull);
        self.pull(client, &mut report).await?;
        report.passports_pulled = self.pull_passports(client).await?;
        self.sync_control.update(|p| p.phase = SyncPhase::Audit);
        report.audit_entries_sent = self.push_audit(client).await?;
        report.accounts_revoked = self.refresh_accounts(client).await?;
        // After the accounts: a failure here must not keep a revoked account open. Only a user
        // who reads people's data (and is still signed in) handles complaints.
        if self.reader().is_ok() {
            match self.sync_complaints(client).await {
                Ok((pulled, replies)) => {
                    report.complaints_pulled = pulled;
                    report.complaint_replies_sent = replies.sent;
                    report.complaint_replies_refused = replies.refused;
                }
                // The server's word on a role that reads no people's data.
                Err(e) if e.code().ends_with("no_data_access") => {}
                Err(e) => return Err(e),
            }
        }
        report.cursor = self.cursor().await?.unwrap_or(0);
        self.report_backlog(client).await;
        Ok(report)
    }

    /// Tells the server what still waits here (outbox, quarantine) for the district's view.
    /// Best effort: a server that does not take it yet is no reason to fail a sync.
    async fn report_backlog(&self, client: &SyncClient) {
        let quarantined: Result<i64, sqlx::Error> =
            sqlx::query_scalar("SELECT count(*) FROM quarantine")
                .fetch_one(self.store().pool())
                .await;
        let (Ok(waiting), Ok(quarantined)) = (self.pending_changes().await, quarantined) else {
            return;
        };
        let report = wire::DeviceReport {
            waiting_changes: waiting.max(0) as u64,
            quarantined: quarantined.max(0) as u64,
            app_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        if let Err(e) = client
            .json::<_, serde_json::Value>(sync_protocol::endpoints::DEVICE_REPORT, &report)
            .await
        {
            tracing::warn!("the server did not take the device's report: {e}");
        }
    }

    async fn cursor(&self) -> SyncResult<Option<u64>> {
        Ok(self
            .meta_value(MetaKey::SyncCursor)
            .await?
            .and_then(|c| c.parse().ok()))
    }

    /// How sync stands.
    pub async fn sync_status(&self) -> crate::Result<SyncStatus> {
        let rows = sqlx::query(
            "SELECT q.change_hash, q.person_id, q.reason, q.message, q.quarantined_at, p.full_name
             FROM quarantine q LEFT JOIN persons p ON p.id = q.person_id ORDER BY q.quarantined_at DESC",
        )
        .fetch_all(self.store().pool())
        .await?;
        let quarantined = rows
            .iter()
            .filter_map(|r| {
                Some(QuarantinedChange {
                    change_hash: hex::encode(r.get::<Vec<u8>, _>("change_hash")),
                    person_id: Uuid::parse_str(r.get::<&str, _>("person_id")).ok()?,
                    full_name: r.get("full_name"),
                    reason: r.get("reason"),
                    message: r.get("message"),
                    quarantined_at: r.get("quarantined_at"),
                })
            })
            .collect();
        let user = self.session().map(|s| s.username().to_string());
        let waiting_for_author = sqlx::query_as::<_, (String, i64)>(
            "SELECT author, count(*) FROM outbox WHERE author IS NOT NULL AND author IS NOT ?
             GROUP BY author ORDER BY author",
        )
        .bind(user)
        .fetch_all(self.store().pool())
        .await?
        .into_iter()
        .map(|(user, changes)| AuthorWaiting { user, changes })
        .collect();
        Ok(SyncStatus {
            waiting_for_author,
            server_url: self.meta_value(MetaKey::SyncServerUrl).await?,
            last_sync_at: self.meta_value(MetaKey::LastSyncAt).await?,
            last_error: self.meta_value(MetaKey::LastSyncError).await?,
            pending_changes: self.pending_changes().await?,
            cursor: self
                .meta_value(MetaKey::SyncCursor)
                .await?
                .and_then(|c| c.parse().ok()),
            quarantined,
        })
    }

    /// Whether the app may be replaced by an update now: an update restarts the app, so nothing
    /// may wait to be synced and no sync or signing may be under way.
    pub async fn ready_for_update(&self) -> crate::Result<()> {
        let pending = self.pending_changes().await?;
        if pending > 0 {
            return Err(StationError::UpdateWaitsForSync { pending });
        }
        if self.sync_progress().running || self.signing_progress().running {
            return Err(StationError::UpdateWaitsForWork);
        }
        Ok(())
    }

    /// Reads a value of the meta table.
    pub(crate) async fn meta_value(&self, key: MetaKey) -> crate::Result<Option<String>> {
        self.store().meta(key).await
    }

    /// Writes (or with `None` removes) a value of the meta table.
    pub(crate) async fn set_meta(&self, key: MetaKey, value: Option<&str>) -> crate::Result<()> {
        self.store().set_meta(key, value).await
    }

    /// Records why a sync failed, shown on the sync bar until a sync succeeds: the station's own
    /// syncs call it, and so does the desktop shell when it cannot even connect to sync.
    pub async fn record_sync_failure(&self, reason: &str) -> crate::Result<()> {
        self.set_meta(MetaKey::LastSyncError, Some(reason)).await
    }
}
