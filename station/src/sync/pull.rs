//! Bootstrapping a new device, pulling to the cursor, applying what arrives, and repairing a
//! person whose document could not be read.

use super::{BOOTSTRAP_MAX_BYTES, PULL_MAX_BYTES, SyncReport};
use crate::error::StationError;
use crate::remote::{SyncClient, SyncResult};
use crate::service::{RemoteBatch, Station};
use crate::store::MetaKey;
use automerge::Change;
use std::collections::BTreeMap;
use sync_protocol::PersonDoc;
use sync_protocol::wire::{
    BootstrapRequest, BootstrapResponse, DocumentRequest, DocumentResponse, PullRequest,
    PullResponse, PulledItem,
};
use uuid::Uuid;

/// Reads a document the server sent; a document Automerge cannot read (or panics on) is `None`.
fn received_doc(person: Uuid, bytes: &[u8]) -> Option<PersonDoc> {
    match sync_protocol::document::guarded(|| PersonDoc::load(bytes)) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(%person, "unreadable document from the server, repaired later: {e}");
            None
        }
    }
}

/// Reads a change the server sent; one that is unreadable or has counters past any real
/// document's is `None`.
fn received_change(person: Uuid, bytes: Vec<u8>) -> Option<Change> {
    let change = sync_protocol::document::decode_change(bytes).ok()?;
    match sync_protocol::rules::check_counters(&change) {
        Ok(()) => Some(change),
        Err(e) => {
            tracing::warn!(%person, "change from the server refused: {e}");
            None
        }
    }
}

impl Station {
    pub(super) async fn bootstrap(
        &self,
        client: &SyncClient,
        report: &mut SyncReport,
    ) -> SyncResult<()> {
        let mut after: Option<Uuid> = self
            .meta_value(MetaKey::BootstrapAfter)
            .await?
            .and_then(|a| Uuid::parse_str(&a).ok());
        let mut high_water: Option<u64> = self
            .meta_value(MetaKey::BootstrapHighWater)
            .await?
            .and_then(|h| h.parse().ok());
        let fetch = |after: Option<Uuid>, high_water: Option<u64>| async move {
            let request = BootstrapRequest {
                after,
                high_water,
                max_bytes: BOOTSTRAP_MAX_BYTES,
            };
            client
                .call::<_, BootstrapResponse>(sync_protocol::endpoints::BOOTSTRAP, &request)
                .await
        };
        let mut page = fetch(after, high_water).await?;
        loop {
            self.sync_control.check()?;
            let hw = *high_water.get_or_insert(page.high_water);
            let mut batch: BTreeMap<Uuid, RemoteBatch> = BTreeMap::new();
            for s in std::mem::take(&mut page.docs) {
                let entry = batch.entry(s.person_id).or_default();
                match received_doc(s.person_id, &s.doc) {
                    Some(doc) => entry.snapshots.push(doc),
                    None => entry.damaged = true,
                }
                report.bootstrapped += 1;
            }
            after = page.next_after.or(after);
            let meta = if page.more {
                vec![
                    (MetaKey::BootstrapHighWater, Some(hw.to_string())),
                    (MetaKey::BootstrapAfter, after.map(|a| a.to_string())),
                ]
            } else {
                vec![
                    (MetaKey::SyncCursor, Some(hw.to_string())),
                    (MetaKey::BootstrapAfter, None),
                    (MetaKey::BootstrapHighWater, None),
                ]
            };
            // Fetch the next page while this one is written: the link and the disk work at once.
            let more = page.more;
            let next = async {
                if more {
                    Some(fetch(after, high_water).await)
                } else {
                    None
                }
            };
            let (applied, next) = tokio::join!(self.apply_remote_batch(batch, &meta), next);
            report.repaired += applied?.len() as u64;
            let received = report.bootstrapped;
            self.sync_control.update(|p| p.received = received);
            match next {
                Some(next) => page = next?,
                None => return Ok(()),
            }
        }
    }

    pub(super) async fn pull(
        &self,
        client: &SyncClient,
        report: &mut SyncReport,
    ) -> SyncResult<()> {
        loop {
            self.sync_control.check()?;
            let cursor = self.cursor().await?.unwrap_or(0);
            let page: PullResponse = client
                .call(
                    sync_protocol::endpoints::PULL,
                    &PullRequest {
                        cursor,
                        max_bytes: PULL_MAX_BYTES,
                    },
                )
                .await?;
            let mut batch: BTreeMap<Uuid, RemoteBatch> = BTreeMap::new();
            for item in page.items {
                match item {
                    PulledItem::Change {
                        person_id, bytes, ..
                    } => {
                        let entry = batch.entry(person_id).or_default();
                        match received_change(person_id, bytes) {
                            Some(c) => entry.changes.push(c),
                            None => entry.damaged = true,
                        }
                        report.pulled_changes += 1;
                    }
                    PulledItem::Snapshot { person_id, doc, .. } => {
                        let entry = batch.entry(person_id).or_default();
                        match received_doc(person_id, &doc) {
                            Some(d) => entry.snapshots.push(d),
                            None => entry.damaged = true,
                        }
                        report.pulled_snapshots += 1;
                    }
                }
            }
            let missing = self
                .apply_remote_batch(
                    batch,
                    &[(
                        MetaKey::SyncCursor,
                        Some(page.next_cursor.max(cursor).to_string()),
                    )],
                )
                .await?
                .len() as u64;
            report.repaired += missing;
            let received = report.bootstrapped + report.pulled_changes + report.pulled_snapshots;
            self.sync_control.update(|p| p.received = received);
            if missing > 0 {
                self.repair_missing(client).await?;
            }
            if !page.more {
                return Ok(());
            }
        }
    }

    /// Fetches whole documents for people whose copy misses changes, and merges them.
    pub(super) async fn repair_missing(&self, client: &SyncClient) -> SyncResult<()> {
        for person_id in self.store().flagged_for_repair().await? {
            let response: DocumentResponse = client
                .call(
                    sync_protocol::endpoints::DOCUMENT,
                    &DocumentRequest { person_id },
                )
                .await?;
            let mut batch = BTreeMap::new();
            if let Some(bytes) = response.doc {
                let remote = match received_doc(person_id, &bytes) {
                    Some(doc) => RemoteBatch {
                        snapshots: vec![doc],
                        ..RemoteBatch::default()
                    },
                    None => RemoteBatch {
                        damaged: true,
                        ..RemoteBatch::default()
                    },
                };
                batch.insert(person_id, remote);
            }
            // The flag stays while the person still cannot be read whole.
            let still = self.apply_remote_batch(batch, &[]).await?;
            if !still.contains(&person_id) {
                let mut tx = self.store().begin_write().await?;
                self.unflag_repair(&mut tx, person_id).await?;
                tx.commit().await.map_err(StationError::from)?;
            }
        }
        Ok(())
    }
}
