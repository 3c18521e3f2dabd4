//! The server's copy of each station's audit chain (`audit_entries`): where it ends, and the
//! entries a push appends. The login history reads the sign-ins in it (`accounts::history`).

use crate::db::Db;
use crate::with_db;
use sqlx::Row;
use sync_protocol::audit::{ChainedEntry, GENESIS};

/// The last stored entry of `device`'s chain, `(seq, hash)`; `(0, GENESIS)` when it has none.
pub async fn tail(db: &Db, device: &str) -> Result<(u64, Vec<u8>), sqlx::Error> {
    let row: Option<(i64, Vec<u8>)> = with_db!(db, pool => {
        sqlx::query("SELECT seq, hash FROM audit_entries WHERE device_id = $1 ORDER BY seq DESC LIMIT 1")
            .bind(device)
            .fetch_optional(pool)
            .await?
            .map(|r| (r.get("seq"), r.get("hash")))
    });
    Ok(match row {
        Some((seq, hash)) => (u64::try_from(seq).unwrap_or(0), hash),
        None => (0, GENESIS.to_vec()),
    })
}

/// Appends checked `entries` to `device`'s chain in one transaction, pushed by `pushed_by`.
pub async fn append(
    db: &Db,
    device: &str,
    entries: &[&ChainedEntry],
    received_at: &str,
    pushed_by: &str,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO audit_entries (device_id, seq, at, user_name, action, entity, changes, otp, prev_hash, hash, received_at, pushed_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(device)
            .bind(e.seq as i64)
            .bind(&e.entry.at)
            .bind(&e.entry.user)
            .bind(&e.entry.action)
            .bind(&e.entry.entity)
            .bind(serde_json::to_string(&e.entry.changes).unwrap_or_default())
            .bind(e.entry.otp)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(received_at)
            .bind(pushed_by)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    })
}
