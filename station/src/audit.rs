//! The append-only, hash-chained audit log: every write, with who, where, when and what changed.

use crate::error::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;
use sync_protocol::Person;
use sync_protocol::person::format_time;

/// One field's value before and after a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// An entry as written (the hash covers exactly this, serialised as JSON in this field order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub user: String,
    pub device: String,
    pub action: String,
    pub entity: String,
    pub changes: Vec<FieldChange>,
    pub otp: bool,
}

impl AuditEntry {
    fn chained_hash(&self, prev: &[u8]) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(prev);
        h.update(serde_json::to_vec(self).unwrap_or_default());
        h.finalize().to_vec()
    }
}

/// Appends an entry inside the caller's transaction, chaining it to the last one.
pub async fn append(conn: &mut SqliteConnection, entry: &AuditEntry) -> Result<()> {
    let prev: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let prev = prev.unwrap_or_else(|| vec![0u8; 32]);
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
        ("address.detail".into(), p.address.detail.clone()),
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
pub async fn verify(conn: &mut SqliteConnection) -> Result<std::result::Result<u64, ChainBreak>> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT seq, at, user, device, action, entity, changes, otp, prev_hash, hash
         FROM audit_log ORDER BY seq",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut expected_prev = vec![0u8; 32];
    let mut last_seq = 0i64;
    for row in &rows {
        let seq: i64 = row.get("seq");
        if seq != last_seq + 1 {
            return Ok(Err(ChainBreak {
                seq: last_seq + 1,
                reason: "missing_entry",
            }));
        }
        let changes: String = row.get("changes");
        let entry = AuditEntry {
            at: row.get("at"),
            user: row.get("user"),
            device: row.get("device"),
            action: row.get("action"),
            entity: row.get("entity"),
            changes: serde_json::from_str(&changes).unwrap_or_default(),
            otp: row.get("otp"),
        };
        let prev: Vec<u8> = row.get("prev_hash");
        let hash: Vec<u8> = row.get("hash");
        if prev != expected_prev {
            return Ok(Err(ChainBreak {
                seq,
                reason: "broken_link",
            }));
        }
        if entry.chained_hash(&prev) != hash {
            return Ok(Err(ChainBreak {
                seq,
                reason: "altered_entry",
            }));
        }
        expected_prev = hash;
        last_seq = seq;
    }
    Ok(Ok(rows.len() as u64))
}

/// The time of an entry, now.
pub fn now_text() -> String {
    format_time(sync_protocol::person::now())
}
