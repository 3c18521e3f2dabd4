//! The append-only, hash-chained audit log: every write, with who, where, when and what changed.

use crate::error::Result;
use crate::store::MetaKey;
use serde::Serialize;
use sqlx::SqliteConnection;
use sync_protocol::Person;
use sync_protocol::person::format_time;

pub use sync_protocol::audit::{AuditEntry, FieldChange};

/// Appends an entry inside the caller's transaction, chaining it to the last one.
pub async fn append(conn: &mut SqliteConnection, entry: &AuditEntry) -> Result<()> {
    let prev: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let prev = prev.unwrap_or_else(|| sync_protocol::audit::GENESIS.to_vec());
    let hash = entry.chained_hash(&prev);
    sqlx::query(
        "INSERT INTO audit_log (at, user, device, action, entity, changes, otp, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&entry.at)
    .bind(&entry.user)
    .bind(&entry.device)
    .bind(&entry.action)
    .bind(&entry.entity)
    .bind(serde_json::to_string(&entry.changes).unwrap_or_default())
    .bind(entry.otp)
    .bind(prev)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The fields that differ between two versions of a person (all fields for a new person).
pub fn diff(before: Option<&Person>, after: &Person) -> Vec<FieldChange> {
    let b = before.map(flatten).unwrap_or_default();
    let a = flatten(after);
    let mut out = Vec::new();
    for (field, after_value) in &a {
        let before_value = b
            .iter()
            .find(|(f, _)| f == field)
            .and_then(|(_, v)| v.clone());
        if &before_value != after_value {
            out.push(FieldChange {
                field: field.clone(),
                before: before_value,
                after: after_value.clone(),
            });
        }
    }
    out
}

fn flatten(p: &Person) -> Vec<(String, Option<String>)> {
    let mut v: Vec<(String, Option<String>)> = vec![
        ("full_name".into(), Some(p.full_name.clone())),
        ("gender".into(), Some(p.gender.as_str().into())),
        ("birth_date".into(), Some(p.birth_date.to_string())),
        (
            "identity.kind".into(),
            Some(p.identity.kind.as_str().into()),
        ),
        ("identity.number".into(), p.identity.number.clone()),
        ("phone".into(), p.phone.clone()),
        ("address.province".into(), p.address.province.clone()),
        ("address.commune".into(), p.address.commune.clone()),
        ("address.hamlet".into(), p.address.hamlet.clone()),
        ("address.detail".into(), p.address.detail.clone()),
        (
            "caregiver".into(),
            p.caregiver.as_ref().map(|c| {
                format!(
                    "{} ({}){}",
                    c.name,
                    c.phone.as_deref().unwrap_or("-"),
                    c.relation
                        .as_deref()
                        .map(|r| format!(", {r}"))
                        .unwrap_or_default()
                )
            }),
        ),
        ("nationality".into(), Some(p.nationality.clone())),
        ("insurance_number".into(), p.insurance_number.clone()),
        (
            "managing_facility".into(),
            Some(p.managing_facility.clone()),
        ),
        (
            "verification".into(),
            Some(p.verification.status.as_str().into()),
        ),
        ("merged_into".into(), p.merged_into.map(|u| u.to_string())),
    ];
    for d in p.doses.values() {
        let k = |f: &str| format!("doses.{}.{f}", d.id);
        v.push((k("vaccine"), Some(d.vaccine.clone())));
        v.push((k("lot"), Some(d.lot.clone())));
        v.push((k("dose_number"), Some(d.dose_number.to_string())));
        v.push((k("kind"), Some(d.kind.as_str().into())));
        v.push((k("given_at"), Some(format_time(d.given_at))));
        v.push((k("facility"), Some(d.facility.clone())));
        v.push((k("vaccinator"), Some(d.vaccinator.clone())));
        v.push((
            k("history"),
            d.history
                .as_ref()
                .map(|h| format!("{} (ghi bởi {})", h.source.as_str(), h.recorded_by)),
        ));
        v.push((k("place"), d.place.clone()));
        v.push((k("reaction_notes"), d.reaction_notes.clone()));
        v.push((
            k("voided"),
            d.voided.as_ref().map(|x| format!("{}: {}", x.by, x.reason)),
        ));
        v.push((
            k("signature"),
            d.signature.as_ref().map(|s| s.batch_id.to_string()),
        ));
    }
    v
}

/// A break in the chain: the first entry whose stored hash does not follow from its content and
/// its predecessor, or whose `prev_hash` is not its predecessor's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: &'static str,
}

/// Re-computes the chain; returns the number of entries checked or where it breaks.
pub(crate) async fn verify(
    conn: &mut SqliteConnection,
) -> Result<std::result::Result<u64, ChainBreak>> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT seq, at, user, device, action, entity, changes, otp, prev_hash, hash
         FROM audit_log ORDER BY seq",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut expected_prev = sync_protocol::audit::GENESIS.to_vec();
    let mut last_seq = 0i64;
    for row in &rows {
        let seq: i64 = row.get("seq");
        let e = chained_from_row(row);
        if seq != last_seq + 1 {
            return Ok(Err(ChainBreak {
                seq: last_seq + 1,
                reason: "missing_entry",
            }));
        }
        if e.prev_hash != expected_prev {
            return Ok(Err(ChainBreak {
                seq,
                reason: "broken_link",
            }));
        }
        if e.entry.chained_hash(&e.prev_hash) != e.hash {
            return Ok(Err(ChainBreak {
                seq,
                reason: "altered_entry",
            }));
        }
        expected_prev = e.hash;
        last_seq = seq;
    }
    Ok(Ok(rows.len() as u64))
}

/// Entries after `seq`, with their chain, oldest first.
pub async fn entries_after(
    pool: &sqlx::SqlitePool,
    seq: i64,
    limit: i64,
) -> Result<Vec<sync_protocol::audit::ChainedEntry>> {
    let rows = sqlx::query(
        "SELECT seq, at, user, device, action, entity, changes, otp, prev_hash, hash
         FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(seq)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(chained_from_row).collect())
}

/// An entry of the `audit_log` table with its place in the chain.
fn chained_from_row(row: &sqlx::sqlite::SqliteRow) -> sync_protocol::audit::ChainedEntry {
    use sqlx::Row;
    sync_protocol::audit::ChainedEntry {
        seq: u64::try_from(row.get::<i64, _>("seq")).unwrap_or(0),
        entry: AuditEntry {
            at: row.get("at"),
            user: row.get("user"),
            device: row.get("device"),
            action: row.get("action"),
            entity: row.get("entity"),
            // An unreadable list hashes differently from what was chained: reported as altered.
            changes: serde_json::from_str(&row.get::<String, _>("changes")).unwrap_or_default(),
            otp: row.get("otp"),
        },
        prev_hash: row.get("prev_hash"),
        hash: row.get("hash"),
    }
}

/// The time of an entry, now on `clock` (the station's).
pub fn now_text(clock: &sync_protocol::Clock) -> String {
    format_time(clock.now())
}

/// The result of checking the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditCheck {
    pub entries: u64,
    pub synced_through: u64,
    /// Where the server's copy ends, when the server was asked (else the station's own record
    /// of it, which whoever edits the file could edit too).
    pub server_through: Option<u64>,
    pub problem: Option<ChainBreak>,
}

impl crate::Station {
    /// Checks the audit chain, and that the entries the server already holds are still here
    /// unchanged (so a removed tail shows too).
    pub async fn verify_audit(&self) -> Result<AuditCheck> {
        self.reader()?;
        let mut conn = self.store().pool().acquire().await?;
        let chain = verify(&mut conn).await?;
        let synced: u64 = self
            .store()
            .meta(MetaKey::AuditSyncedSeq)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let synced_hash = self.store().meta(MetaKey::AuditSyncedHash).await?;
        let entries = match &chain {
            Ok(n) => *n,
            Err(_) => 0,
        };
        let mut problem = chain.err();
        if problem.is_none() && synced > 0 {
            let held: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = ?")
                    .bind(synced as i64)
                    .fetch_optional(&mut *conn)
                    .await?;
            let matches = match (&held, &synced_hash) {
                (Some(h), Some(expected)) => &hex::encode(h) == expected,
                _ => false,
            };
            if !matches {
                problem = Some(ChainBreak {
                    seq: i64::try_from(synced).unwrap_or(i64::MAX),
                    reason: "differs_from_server",
                });
            }
        }
        Ok(AuditCheck {
            entries,
            synced_through: synced,
            server_through: None,
            problem,
        })
    }
}
