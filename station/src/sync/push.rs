//! Pushing the outbox, and quarantining a change the server refuses (the person's document
//! reset to the server's state plus this device's other changes).

use super::{PUSH_BATCH_BYTES, PUSH_BATCH_CHANGES, SyncReport};
use crate::error::StationError;
use crate::remote::{SyncClient, SyncError, SyncResult};
use crate::service::{OutboxEntry, Station};
use automerge::{Change, ChangeHash};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};
use sync_protocol::PersonDoc;
use sync_protocol::person::format_time;
use sync_protocol::wire::{
    self, DocumentRequest, DocumentResponse, PushRequest, PushResponse, PushResult, PushedChange,
};
use uuid::Uuid;

impl Station {
    /// Pushes the whole outbox; returns whether a refusal reset any person's copy.
    pub(super) async fn push_outbox(
        &self,
        client: &SyncClient,
        report: &mut SyncReport,
    ) -> SyncResult<bool> {
        // The server takes a change only from its author's session: the signed-in user's go
        // now, other users' wait in the outbox for their own sign-in.
        let user = self.session().map(|s| s.username().to_string());
        let (entries, others): (Vec<OutboxEntry>, Vec<OutboxEntry>) = self
            .outbox(i64::MAX)
            .await?
            .into_iter()
            .partition(|e| e.author.is_none() || e.author == user);
        report.waiting_for_author = others.len() as u64;
        self.sync_control
            .update(|p| p.to_push = p.pushed + entries.len() as u64);
        let mut rejected: BTreeMap<Uuid, Vec<(OutboxEntry, String, String)>> = BTreeMap::new();
        let mut waiting = Vec::new();
        let mut start = 0;
        while start < entries.len() {
            self.sync_control.check()?;
            let mut end = start;
            let mut size = 0;
            while end < entries.len()
                && end - start < PUSH_BATCH_CHANGES
                && (size < PUSH_BATCH_BYTES || end == start)
            {
                size += entries[end].change.len();
                end += 1;
            }
            let batch = &entries[start..end];
            let request = PushRequest {
                changes: batch
                    .iter()
                    .map(|e| PushedChange {
                        person_id: e.person_id,
                        bytes: e.change.clone(),
                    })
                    .collect(),
            };
            let response: PushResponse = client
                .call(sync_protocol::endpoints::PUSH, &request)
                .await?;
            if response.results.len() != batch.len() {
                return Err(SyncError::BadResponse(
                    "số kết quả khác số thay đổi đã gửi".into(),
                ));
            }
            let mut acked = Vec::new();
            for (entry, result) in batch.iter().zip(response.results) {
                match result {
                    PushResult::Accepted { .. } => {
                        report.pushed += 1;
                        acked.push(entry.change_hash.clone());
                    }
                    PushResult::Duplicate => {
                        report.already_on_server += 1;
                        acked.push(entry.change_hash.clone());
                    }
                    // Built on a refused change: replayed when the copy is reset, not refused itself.
                    PushResult::Rejected {
                        reason: wire::RejectReason::DependsOnRejected,
                        ..
                    } => {
                        rejected.entry(entry.person_id).or_default();
                    }
                    PushResult::Rejected { reason, message } => {
                        rejected.entry(entry.person_id).or_default().push((
                            entry.clone(),
                            reason.code().to_string(),
                            message,
                        ));
                    }
                    PushResult::MissingDependencies => waiting.push(entry.clone()),
                    PushResult::Deferred { message } => {
                        tracing::warn!("change deferred by the server: {message}");
                        report.deferred += 1;
                    }
                }
            }
            self.acknowledge(&acked).await?;
            let pushed = report.pushed + report.already_on_server;
            self.sync_control.update(|p| p.pushed = pushed);
            start = end;
        }
        // A change waiting for a dependency that was refused earlier is replayed the same way.
        let quarantined = self.quarantined_hashes().await?;
        for entry in waiting {
            let depends_on_rejected = Change::from_bytes(entry.change.clone())
                .map(|c| {
                    c.deps()
                        .iter()
                        .any(|d| quarantined.contains(d.0.as_slice()))
                })
                .unwrap_or(true);
            if depends_on_rejected {
                rejected.entry(entry.person_id).or_default();
            } else {
                report.waiting_for_dependencies += 1;
            }
        }
        let reset = !rejected.is_empty();
        for (person, items) in rejected {
            report.quarantined += self.quarantine_and_reset(client, person, items).await?;
        }
        Ok(reset)
    }

    pub(super) async fn quarantined_hashes(&self) -> SyncResult<HashSet<Vec<u8>>> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT change_hash FROM quarantine")
            .fetch_all(self.store().pool())
            .await
            .map_err(StationError::from)?;
        Ok(rows.into_iter().collect())
    }

    /// Keeps refused changes in quarantine and rebuilds the person's document from the server's
    /// copy plus this device's remaining changes. Returns how many changes were quarantined.
    pub(super) async fn quarantine_and_reset(
        &self,
        client: &SyncClient,
        person_id: Uuid,
        refused: Vec<(OutboxEntry, String, String)>,
    ) -> SyncResult<u64> {
        let server: DocumentResponse = client
            .call(
                sync_protocol::endpoints::DOCUMENT,
                &DocumentRequest { person_id },
            )
            .await?;
        let at = format_time(self.clock().now());
        let mut tx = self.store().begin_write().await?;
        let mut count = 0;
        let mut refused_hashes: HashSet<Vec<u8>> = HashSet::new();
        for (entry, reason, message) in &refused {
            quarantine_one(&mut tx, entry, reason, message, &at).await?;
            refused_hashes.insert(entry.change_hash.clone());
            count += 1;
        }
        let remaining: Vec<(Vec<u8>, Vec<u8>)> =
            sqlx::query("SELECT change_hash, change FROM outbox WHERE person_id = ? ORDER BY seq")
                .bind(person_id.to_string())
                .fetch_all(&mut *tx)
                .await
                .map_err(StationError::from)?
                .iter()
                .map(|r| (r.get("change_hash"), r.get("change")))
                .collect();
        let corrupt = |source| StationError::Corrupt {
            id: person_id.to_string(),
            source,
        };
        let local_bytes: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT doc FROM persons WHERE id = ?")
                .bind(person_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(StationError::from)?;
        let local = local_bytes
            .as_deref()
            .map(PersonDoc::load)
            .transpose()
            .map_err(corrupt)?;
        let before = local.as_ref().and_then(|d| d.read().ok());
        let mut doc = match &server.doc {
            Some(bytes) => {
                sync_protocol::document::guarded(|| PersonDoc::load_as(bytes, self.actor().clone()))
                    .map_err(corrupt)?
            }
            None => PersonDoc::empty(),
        };
        let writer = match self.session() {
            Some(session) => Some(self.rule_writer(&session).await?),
            None => None,
        };
        for (hash, bytes) in &remaining {
            let Ok(change) = Change::from_bytes(bytes.clone()) else {
                continue;
            };
            let _ = doc.apply_changes(vec![change.clone()]);
            if ChangeHash::try_from(hash.as_slice()).is_ok_and(|h| doc.has_change(&h)) {
                continue;
            }
            // It builds on a refused change: replay what it did on top of the server's version.
            let entry = OutboxEntry {
                seq: 0,
                change_hash: hash.clone(),
                person_id,
                change: bytes.clone(),
                author: None,
            };
            match self.replay_change(local.as_ref(), &change, &mut doc, writer.as_ref()) {
                Some(new_change) => {
                    sqlx::query("DELETE FROM outbox WHERE change_hash = ?")
                        .bind(hash)
                        .execute(&mut *tx)
                        .await
                        .map_err(StationError::from)?;
                    crate::service::outbox_insert(
                        &mut tx,
                        &new_change,
                        &person_id.to_string(),
                        &at,
                    )
                    .await?;
                }
                None => {
                    quarantine_one(
                        &mut tx,
                        &entry,
                        "depends_on_rejected",
                        "thay đổi dựa trên một thay đổi đã bị máy chủ từ chối và không áp dụng lại được",
                        &at,
                    )
                    .await?;
                    count += 1;
                }
            }
        }
        match doc.read() {
            Ok(after) => {
                self.persist_reset(&mut tx, &doc, before.as_ref(), &after)
                    .await?
            }
            // Neither the server nor this device holds an accepted version: the person was only
            // ever in refused changes, which stay in quarantine.
            Err(_) => self.remove_local_person(&mut tx, person_id).await?,
        }
        tx.commit().await.map_err(StationError::from)?;
        Ok(count)
    }

    /// Re-applies what `change` did (read from the old local copy) on top of `doc` as a new
    /// change of this device in the same author's name, if the result keeps the rules (all of
    /// them when the author is the signed-in user `writer`; the server checks the others' when
    /// they sync). Returns the new change.
    pub(super) fn replay_change(
        &self,
        local: Option<&PersonDoc>,
        change: &Change,
        doc: &mut PersonDoc,
        writer: Option<&sync_protocol::rules::Writer>,
    ) -> Option<Change> {
        let local = local?;
        let meta = sync_protocol::CommitMeta::from_change(change)?;
        let prev = local.fork_at(change.deps()).ok()?.read().ok()?;
        let next = local.fork_at(&[change.hash()]).ok()?.read().ok()?;
        let base = doc.read().ok()?;
        let replayed = base.replay(&prev, &next);
        let now = self.clock().now();
        match writer.filter(|w| w.user == meta.user) {
            Some(w) => crate::intent::Intent::new(meta.action)
                .check(Some(&base), &replayed, w, now)
                .ok()?,
            None => {
                sync_protocol::validate::check_person(&replayed, now.date()).ok()?;
                meta.clone()
            }
        };
        let heads = doc.heads();
        doc.update(&replayed, &meta).ok()??;
        doc.changes_since(&heads).pop()
    }
}

async fn quarantine_one(
    tx: &mut sqlx::SqliteConnection,
    entry: &OutboxEntry,
    reason: &str,
    message: &str,
    at: &str,
) -> crate::Result<()> {
    sqlx::query(
        "INSERT INTO quarantine (change_hash, person_id, change, reason, message, quarantined_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (change_hash) DO NOTHING",
    )
    .bind(&entry.change_hash)
    .bind(entry.person_id.to_string())
    .bind(&entry.change)
    .bind(reason)
    .bind(message)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM outbox WHERE change_hash = ?")
        .bind(&entry.change_hash)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
