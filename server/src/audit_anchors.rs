//! Daily anchors of the administrators' audit chain (issue 26). The chain alone proves that no
//! entry was removed or edited *unless* whoever did it recomputed every later hash — and anyone
//! who can write the database can. So once a day the server signs the chain's head (its last
//! sequence number and hash, and the previous anchor) with the document signer's key in the HSM,
//! which no database write can reach. `audit verify` then checks each anchor's signature and
//! that the chain still holds the hash each anchor signed: a chain rewritten before an anchor
//! no longer matches it. Anchors can be copied off the server (`audit anchors --json`) for the
//! province to keep.

use crate::db::Db;
use crate::passports::{Issuer, PassportError};
use crate::with_db;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sync_protocol::person::format_time;
use time::OffsetDateTime;

/// What an anchor's signature covers, before its fields.
const DOMAIN: &str = "sotiem-admin-audit-anchor-v1";

/// One day's anchor.
#[derive(Debug, Clone, Serialize)]
pub struct Anchor {
    /// The day (Vietnam time, `YYYY-MM-DD`).
    pub day: String,
    /// The chain's last entry when anchored (0: the chain was empty).
    pub seq: i64,
    /// Its hash, hex.
    pub hash: String,
    /// The digest of the previous anchor (hex; empty for the first).
    pub prev: String,
    pub signed_at: String,
    /// The signer's certificate (DER, hex) and the signature (hex).
    pub certificate: String,
    pub signature: String,
}

impl Anchor {
    /// The bytes the signature covers.
    fn payload(&self, server_id: &str) -> Vec<u8> {
        format!(
            "{DOMAIN}\n{server_id}\n{}\n{}\n{}\n{}",
            self.day, self.seq, self.hash, self.prev
        )
        .into_bytes()
    }

    /// What the next anchor names as its previous one.
    fn digest(&self, server_id: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.payload(server_id));
        h.update(self.signature.as_bytes());
        hex::encode(h.finalize())
    }
}

/// Why anchoring failed.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Signer(#[from] PassportError),
}

/// What `audit verify` found of the anchors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AnchorCheck {
    /// Every anchor is signed and the chain still holds what each one signed.
    Intact {
        anchors: u64,
        last_day: Option<String>,
    },
    /// The first anchor that does not hold.
    Broken { day: String, reason: String },
}

const COLUMNS: &str = "day, seq, hash, prev, signed_at, certificate, signature";

/// Every anchor, oldest first.
pub async fn anchors(db: &Db) -> Result<Vec<Anchor>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM admin_audit_anchors ORDER BY day");
    Ok(with_db!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Anchor {
                day: r.get("day"),
                seq: r.get("seq"),
                hash: r.get("hash"),
                prev: r.get("prev"),
                signed_at: r.get("signed_at"),
                certificate: r.get("certificate"),
                signature: r.get("signature"),
            })
            .collect()
    }))
}

/// Anchors the chain's head for the day of `now` with `issuer`'s key (once a day: an anchor
/// already made that day is returned as it is).
pub async fn anchor(
    db: &Db,
    issuer: &std::sync::Arc<Issuer>,
    server_id: &str,
    now: OffsetDateTime,
) -> Result<Anchor, AnchorError> {
    let local = now.to_offset(sync_protocol::person::VIETNAM);
    let day = format_time(local).get(..10).unwrap_or_default().to_string();
    let all = anchors(db).await?;
    if let Some(done) = all.iter().find(|a| a.day == day) {
        return Ok(done.clone());
    }
    let (seq, hash) = crate::admin_audit::head(db).await?;
    let mut anchor = Anchor {
        day,
        seq,
        hash: hex::encode(hash),
        prev: all.last().map(|a| a.digest(server_id)).unwrap_or_default(),
        signed_at: format_time(now),
        certificate: hex::encode(&issuer.certificate().der),
        signature: String::new(),
    };
    anchor.signature = hex::encode(issuer.sign_bytes(anchor.payload(server_id)).await?);
    let sql = format!(
        "INSERT INTO admin_audit_anchors ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (day) DO NOTHING"
    );
    with_db!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&anchor.day)
            .bind(anchor.seq)
            .bind(&anchor.hash)
            .bind(&anchor.prev)
            .bind(&anchor.signed_at)
            .bind(&anchor.certificate)
            .bind(&anchor.signature)
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    Ok(anchor)
}

/// Anchors the chain once a day at `at` (Vietnam time) while the server serves, as the
/// passport run does; a failure is logged and tried again a minute later.
pub async fn daily(
    db: Db,
    issuer: std::sync::Arc<Issuer>,
    server_id: String,
    clock: sync_protocol::Clock,
    at: time::Time,
) {
    loop {
        let now = clock.now();
        if now.to_offset(sync_protocol::person::VIETNAM).time() >= at {
            match anchor(&db, &issuer, &server_id, now).await {
                Ok(a) => tracing::debug!("admin audit anchored on {}: entry {}", a.day, a.seq),
                Err(e) => tracing::error!("anchoring the admin audit: {e}"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

/// Checks every anchor: chained to the one before, signed by its certificate (issued by
/// `root`, when given: the country signing CA the passports chain to), and naming a hash the
/// chain still has at that entry.
pub async fn verify(
    db: &Db,
    server_id: &str,
    root: Option<&[u8]>,
) -> Result<AnchorCheck, sqlx::Error> {
    let hashes = crate::admin_audit::hashes(db).await?;
    let list = anchors(db).await?;
    let mut prev = String::new();
    for a in &list {
        let broken = |reason: String| AnchorCheck::Broken {
            day: a.day.clone(),
            reason,
        };
        if a.prev != prev {
            return Ok(broken(
                "không nối với mốc ngày trước: có mốc bị xoá hay thay".into(),
            ));
        }
        let Some(signer) = hex::decode(&a.certificate)
            .ok()
            .and_then(|der| sotiem_passport::SignerCertificate::from_der(&der).ok())
        else {
            return Ok(broken("chứng thư của mốc không đọc được".into()));
        };
        if root.is_some_and(|root| !signer.issued_by(root)) {
            return Ok(broken(format!(
                "mốc được ký bởi \"{}\", không do chứng thư gốc cấp",
                signer.subject
            )));
        }
        let signed =
            hex::decode(&a.signature).is_ok_and(|sig| signer.verifies(&a.payload(server_id), &sig));
        if !signed {
            return Ok(broken("chữ ký của mốc không đúng".into()));
        }
        let held = if a.seq == 0 {
            hex::encode(sync_protocol::audit::GENESIS)
        } else {
            match hashes.get(&a.seq) {
                Some(h) => hex::encode(h),
                None => {
                    return Ok(broken(format!(
                        "mốc ký mục {}, nhật ký không còn mục đó: có mục bị xoá",
                        a.seq
                    )));
                }
            }
        };
        if held != a.hash {
            return Ok(broken(format!(
                "nhật ký quản trị không khớp mốc ngày {} (mục {}): đã bị viết lại",
                a.day, a.seq
            )));
        }
        prev = a.digest(server_id);
    }
    Ok(AnchorCheck::Intact {
        anchors: list.len() as u64,
        last_day: list.last().map(|a| a.day.clone()),
    })
}
