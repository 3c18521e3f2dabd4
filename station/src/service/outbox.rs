//! The outbox: this device's changes waiting for the server.

use super::Station;
use crate::error::{Result, StationError};
use automerge::Change;
use sqlx::{Row, SqliteConnection};
use sync_protocol::CommitMeta;
use uuid::Uuid;

/// A local change waiting to be acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub change_hash: Vec<u8>,
    pub person_id: Uuid,
    pub change: Vec<u8>,
    /// The account that made it (only that account's session may send it).
    pub author: Option<String>,
}

/// Puts a change of this station in the outbox, with its author.
pub(crate) async fn outbox_insert(
    conn: &mut SqliteConnection,
    change: &Change,
    person_id: &str,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (change_hash, person_id, change, created_at, author) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (change_hash) DO NOTHING",
    )
    .bind(change.hash().0.to_vec())
    .bind(person_id)
    .bind(change.raw_bytes().to_vec())
    .bind(at)
    .bind(CommitMeta::from_change(change).map(|m| m.user))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Station {
    /// The oldest local changes not yet acknowledged, in the order they were made.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT seq, change_hash, person_id, change, author FROM outbox ORDER BY seq LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let person: String = r.get("person_id");
                Ok(OutboxEntry {
                    seq: r.get("seq"),
                    change_hash: r.get("change_hash"),
                    person_id: Uuid::parse_str(&person).map_err(|_| StationError::NotFound {
                        what: "người",
                        id: person,
                    })?,
                    change: r.get("change"),
                    author: r.get("author"),
                })
            })
            .collect()
    }

    /// Removes acknowledged changes from the outbox.
    pub async fn acknowledge(&self, change_hashes: &[Vec<u8>]) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        for h in change_hashes {
            sqlx::query("DELETE FROM outbox WHERE change_hash = ?")
                .bind(h)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The number of local changes not yet acknowledged by the server.
    pub async fn pending_changes(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(self.store.pool())
            .await?)
    }
}
