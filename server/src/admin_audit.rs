//! The administrators' audit log (issue 14): every account created, revoked or reset and every
//! facility, device and signer scope set up, by whom and from where, as one hash chain kept by
//! the server. An entry is written *before* its action runs (with a follow-up entry if the
//! action then fails), so nothing an administrator did is missing from it.

use crate::db::Db;
use crate::with_db;
use serde::Serialize;
use sqlx::Row;
use sync_protocol::audit::{AuditEntry, FieldChange, GENESIS};
use sync_protocol::person::{format_time, now};

/// Who acts and from where: a signed-in administrator over the API, or the server's operator
/// on its command line.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The account, or `cli:<OS user>` for the command line.
    pub name: String,
    /// `api <address>` or `cli`.
    pub origin: String,
}

impl Actor {
    /// The operator at the server's command line.
    pub fn command_line() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "?".into());
        Actor {
            name: format!("cli:{user}"),
            origin: "cli".into(),
        }
    }

    /// A signed-in administrator.
    pub fn account(username: &str, address: Option<&str>) -> Actor {
        Actor {
            name: username.to_string(),
            origin: format!("api {}", address.unwrap_or("?")),
        }
    }
}

/// One stored entry.
#[derive(Debug, Clone, Serialize)]
pub struct AdminEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub origin: String,
    pub action: String,
    pub entity: String,
    pub changes: Vec<FieldChange>,
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ChainCheck {
    /// Every entry links to the one before: this many entries.
    Intact { entries: u64 },
    /// The first entry that does not (removed, inserted or edited at or before it).
    Broken { seq: i64, reason: String },
}

/// Appends an entry at the end of the chain. Concurrent appends (two administrators, or the
/// command line beside the server) race for the next sequence number; the loser retries.
pub async fn append(
    db: &Db,
    actor: &Actor,
    action: &str,
    entity: &str,
    changes: Vec<FieldChange>,
) -> Result<i64, sqlx::Error> {
    let entry = AuditEntry {
        at: format_time(now()),
        user: actor.name.clone(),
        device: actor.origin.clone(),
        action: action.to_string(),
        entity: entity.to_string(),
        changes,
        otp: false,
    };
    let changes_json = serde_json::to_string(&entry.changes).unwrap_or_else(|_| "[]".into());
    let mut tries = 0;
    loop {
        tries += 1;
        let (seq, prev) = tail(db).await?;
        let hash = entry.chained_hash(&prev);
        let inserted = with_db!(db, pool => {
            sqlx::query(
                "INSERT INTO admin_audit (seq, at, actor, origin, action, entity, changes, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (seq) DO NOTHING",
            )
            .bind(seq + 1)
            .bind(&entry.at)
            .bind(&entry.user)
            .bind(&entry.device)
            .bind(&entry.action)
            .bind(&entry.entity)
            .bind(&changes_json)
            .bind(&prev)
            .bind(&hash)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if inserted == 1 {
            return Ok(seq + 1);
        }
        if tries >= 20 {
            return Err(sqlx::Error::Protocol(
                "nhật ký quản trị: không ghi được mục mới sau 20 lần thử".into(),
            ));
        }
    }
}

/// Why an audited action did not happen: its entry could not be written (so it was not run),
/// or it ran and failed.
#[derive(Debug)]
pub enum Refused<E> {
    Log(sqlx::Error),
    Action(E),
}

/// Runs one administrative action: its entry first (so nothing done is missing from the log),
/// then the action, and a `…_failed` entry with `why` of the error if it failed.
pub async fn audited<T, E>(
    db: &Db,
    actor: &Actor,
    action: &str,
    entity: &str,
    changes: Vec<FieldChange>,
    why: impl FnOnce(&E) -> String,
    run: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Refused<E>> {
    append(db, actor, action, entity, changes)
        .await
        .map_err(Refused::Log)?;
    match run.await {
        Ok(t) => Ok(t),
        Err(e) => {
            let failed = change("failed", None, Some(&why(&e)));
            if let Err(log) =
                append(db, actor, &format!("{action}_failed"), entity, vec![failed]).await
            {
                tracing::error!(
                    "admin audit: the failure of {action} on {entity} not logged: {log}"
                );
            }
            Err(Refused::Action(e))
        }
    }
}

/// The last sequence number and hash (0 and [`GENESIS`] for an empty log).
/// The chain's last entry: its number and hash (0 and the genesis for an empty chain).
pub async fn head(db: &Db) -> Result<(i64, Vec<u8>), sqlx::Error> {
    tail(db).await
}

/// Every entry's hash by number.
pub async fn hashes(db: &Db) -> Result<std::collections::BTreeMap<i64, Vec<u8>>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query("SELECT seq, hash FROM admin_audit ORDER BY seq")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| (r.get::<i64, _>("seq"), r.get::<Vec<u8>, _>("hash")))
            .collect()
    }))
}

async fn tail(db: &Db) -> Result<(i64, Vec<u8>), sqlx::Error> {
    let row = with_db!(db, pool => {
        sqlx::query("SELECT seq, hash FROM admin_audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(pool)
            .await?
            .map(|r| (r.get::<i64, _>("seq"), r.get::<Vec<u8>, _>("hash")))
    });
    Ok(row.unwrap_or((0, GENESIS.to_vec())))
}

/// The latest entries, newest first (about one account or facility when `entity` is given).
pub async fn entries(
    db: &Db,
    entity: Option<&str>,
    limit: i64,
) -> Result<Vec<AdminEntry>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT seq, at, actor, origin, action, entity, changes FROM admin_audit
             WHERE $1 = '' OR entity = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(entity.unwrap_or(""))
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| AdminEntry {
            seq: r.get("seq"),
            at: r.get("at"),
            actor: r.get("actor"),
            origin: r.get("origin"),
            action: r.get("action"),
            entity: r.get("entity"),
            changes: serde_json::from_str(r.get::<&str, _>("changes")).unwrap_or_default(),
        })
        .collect()
    }))
}

/// Walks the whole chain from the start, recomputing every hash.
pub async fn verify(db: &Db) -> Result<ChainCheck, sqlx::Error> {
    let rows = with_db!(db, pool => {
        sqlx::query(
            "SELECT seq, at, actor, origin, action, entity, changes, prev_hash, hash
             FROM admin_audit ORDER BY seq",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            (
                r.get::<i64, _>("seq"),
                AuditEntry {
                    at: r.get("at"),
                    user: r.get("actor"),
                    device: r.get("origin"),
                    action: r.get("action"),
                    entity: r.get("entity"),
                    changes: serde_json::from_str(r.get::<&str, _>("changes")).unwrap_or_default(),
                    otp: false,
                },
                r.get::<String, _>("changes"),
                r.get::<Vec<u8>, _>("prev_hash"),
                r.get::<Vec<u8>, _>("hash"),
            )
        })
        .collect::<Vec<_>>()
    });
    let mut prev = GENESIS.to_vec();
    for (expected_seq, (seq, entry, changes_text, prev_hash, hash)) in (1_i64..).zip(&rows) {
        let broken = |reason: &str| ChainCheck::Broken {
            seq: *seq,
            reason: reason.to_string(),
        };
        if *seq != expected_seq {
            return Ok(broken(&format!(
                "thiếu mục {expected_seq}: mục sau nó mang số {seq}"
            )));
        }
        // A text edited into something that is no longer the list it was must not pass.
        if serde_json::to_string(&entry.changes).ok().as_deref() != Some(changes_text.as_str()) {
            return Ok(broken("phần thay đổi của mục đã bị sửa"));
        }
        if *prev_hash != prev {
            return Ok(broken("không nối với mục trước: có mục bị xoá hoặc chèn"));
        }
        if entry.chained_hash(&prev) != *hash {
            return Ok(broken("nội dung của mục đã bị sửa"));
        }
        prev = hash.clone();
    }
    Ok(ChainCheck::Intact {
        entries: rows.len() as u64,
    })
}

/// A field's change, for an entry.
pub fn change(field: &str, before: Option<&str>, after: Option<&str>) -> FieldChange {
    FieldChange {
        field: field.into(),
        before: before.map(str::to_string),
        after: after.map(str::to_string),
    }
}
