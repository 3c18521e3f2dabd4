//! What rides along with a sync: signing runs, the accounts kept for offline sign-in, and the
//! audit log.

use super::SyncReport;
use crate::error::StationError;
use crate::remote::{SyncClient, SyncResult};
use crate::service::Station;
use crate::store::{MetaKey, write_meta};
use sqlx::Row;
use sync_protocol::wire;
use uuid::Uuid;

impl Station {
    /// Sends the signed-in signer's pending signing runs for the server to verify.
    pub(super) async fn push_signing_batches(
        &self,
        client: &SyncClient,
        report: &mut SyncReport,
    ) -> SyncResult<()> {
        let Some(user) = self.session().map(|s| s.username().to_string()) else {
            return Ok(());
        };
        let rows = sqlx::query(
            "SELECT id, manifest, cms FROM signing_batches WHERE status = 'pending' AND signer = ?
             ORDER BY created_at",
        )
        .bind(&user)
        .fetch_all(self.store().pool())
        .await
        .map_err(StationError::from)?;
        for r in rows {
            self.sync_control.check()?;
            let id: String = r.get("id");
            let Ok(batch_id) = Uuid::parse_str(&id) else {
                continue;
            };
            let outcome: wire::SigningBatchOutcome = client
                .call(
                    sync_protocol::endpoints::SIGNING_BATCH,
                    &wire::SigningBatchUpload {
                        batch_id,
                        manifest: r.get("manifest"),
                        cms: r.get("cms"),
                    },
                )
                .await?;
            let (status, message) = match outcome {
                wire::SigningBatchOutcome::Accepted { .. } => {
                    self.mark_signed(batch_id).await?;
                    report.batches_accepted += 1;
                    ("accepted", None)
                }
                wire::SigningBatchOutcome::Refused { code, message } => {
                    report.batches_refused += 1;
                    ("refused", Some(format!("{message} ({code})")))
                }
                wire::SigningBatchOutcome::Later { message } => ("pending", Some(message)),
            };
            sqlx::query("UPDATE signing_batches SET status = ?, message = ? WHERE id = ?")
                .bind(status)
                .bind(message)
                .bind(&id)
                .execute(self.store().pool())
                .await
                .map_err(StationError::from)?;
        }
        Ok(())
    }

    /// Sends the audit entries the server does not have yet; the server checks that they
    /// continue its copy of this device's chain.
    /// Asks the server which of the accounts kept here for offline sign-in it has revoked, and
    /// locks those out.
    pub(super) async fn refresh_accounts(&self, client: &SyncClient) -> SyncResult<Vec<String>> {
        let usernames: Vec<String> =
            sqlx::query_scalar("SELECT username FROM local_accounts WHERE status <> 'revoked'")
                .fetch_all(self.store().pool())
                .await
                .map_err(StationError::from)?;
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let answer: sync_protocol::auth::AccountStatusResponse = client
            .json(
                sync_protocol::endpoints::ACCOUNT_STATUS,
                &sync_protocol::auth::AccountStatusRequest { usernames },
            )
            .await?;
        for username in &answer.revoked {
            self.mark_revoked(username).await?;
        }
        for reset in &answer.reset {
            self.forget_if_reset(&reset.username, &reset.at).await?;
        }
        Ok(answer.revoked)
    }

    pub(super) async fn push_audit(&self, client: &SyncClient) -> SyncResult<u64> {
        let mut sent = 0;
        loop {
            let from: i64 = self
                .meta_value(MetaKey::AuditSyncedSeq)
                .await?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let batch = crate::audit::entries_after(self.store().pool(), from, 500).await?;
            if batch.is_empty() {
                return Ok(sent);
            }
            let response: sync_protocol::audit::AuditPushResponse = client
                .call(
                    sync_protocol::endpoints::AUDIT_PUSH,
                    &sync_protocol::audit::AuditPush {
                        entries: batch.clone(),
                    },
                )
                .await?;
            sent += batch.len() as u64;
            let mut tx = self.store().begin_write().await?;
            write_meta(
                &mut tx,
                &[
                    (
                        MetaKey::AuditSyncedSeq,
                        Some(response.stored_through.to_string()),
                    ),
                    (
                        MetaKey::AuditSyncedHash,
                        Some(hex::encode(&response.last_hash)),
                    ),
                ],
            )
            .await?;
            tx.commit().await.map_err(StationError::from)?;
            if batch.len() < 500 {
                return Ok(sent);
            }
        }
    }

    /// [`Station::verify_audit`], then against the server's copy of this device's chain: the
    /// last entry the server holds must be here with the same hash (the chain then vouches for
    /// every entry before it), so a removed or rewritten part shows even when this station's
    /// own record of what was synced was rewritten with it.
    pub async fn verify_audit_with_server(
        &self,
        client: &SyncClient,
    ) -> SyncResult<crate::audit::AuditCheck> {
        let mut check = self.verify_audit().await?;
        let tail: sync_protocol::audit::AuditPushResponse = client
            .call(sync_protocol::endpoints::AUDIT_TAIL, &())
            .await?;
        check.server_through = Some(tail.stored_through);
        if check.problem.is_none() && tail.stored_through > 0 {
            let seq = i64::try_from(tail.stored_through).unwrap_or(i64::MAX);
            let held: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = ?")
                    .bind(seq)
                    .fetch_optional(self.store().pool())
                    .await
                    .map_err(StationError::from)?;
            check.problem = match held {
                None => Some(crate::audit::ChainBreak {
                    seq,
                    reason: "missing_on_station",
                }),
                Some(h) if h != tail.last_hash => Some(crate::audit::ChainBreak {
                    seq,
                    reason: "differs_from_server",
                }),
                Some(_) => None,
            };
        }
        Ok(check)
    }
}
