//! The passports' tables on either backend: candidates read a page of people at a time (keyset
//! on the person id, doses by range on the same key), a page's revocations and new certificates
//! in one transaction, runs, signers and trust lists.

use super::{Candidate, CandidateDose, RunReport, Signed};
use crate::db::Db;
use crate::with_db;
use sotiem_passport::{Claims, SignerCertificate};
use sqlx::Row;
use std::collections::HashMap;
use sync_protocol::person::format_time;
pub use sync_protocol::wire::PassportRecord;
use time::OffsetDateTime;

/// An end-of-day run as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub day: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub issued: i64,
    pub reissued: i64,
    pub revoked: i64,
    pub unchanged: i64,
}

macro_rules! passport_columns {
    () => {
        "uvci, person_id, dose_id, kid, issued_at, expires_at, hc1, revoked_at, revoked_reason, version"
    };
}

macro_rules! passport_row {
    ($r:expr) => {
        PassportRecord {
            uvci: $r.get("uvci"),
            person_id: $r.get("person_id"),
            dose_id: $r.get("dose_id"),
            kid: $r.get("kid"),
            issued_at: $r.get("issued_at"),
            expires_at: $r.get("expires_at"),
            hc1: $r.get("hc1"),
            revoked_at: $r.get("revoked_at"),
            revoked_reason: $r.get("revoked_reason"),
            version: $r.get("version"),
        }
    };
}

/// A valid certificate a person holds: its UVCI and what it certifies.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub uvci: String,
    pub basis: String,
}

/// Starts the next run (its id is the version of every row it changes). Until it is finished,
/// stations pull nothing from that version on ([`changed_since`]). A run left unfinished by a
/// crash is closed first: each of its pages was written whole.
pub(crate) async fn start_run(
    db: &Db,
    kind: &str,
    day: &str,
    started: &str,
) -> Result<i64, sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query("UPDATE passport_runs SET finished_at = $1 WHERE finished_at IS NULL")
            .bind(started)
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO passport_runs (id, kind, day, started_at, issued, reissued, revoked, unchanged)
             SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, 0, 0, 0, 0 FROM passport_runs RETURNING id",
        )
        .bind(kind)
        .bind(day)
        .bind(started)
        .fetch_one(pool)
        .await?
        .try_get::<i64, _>("id")
    })
}

/// Records what a run did and that it finished.
pub(crate) async fn record_run(db: &Db, r: &RunReport, finished: &str) -> Result<(), sqlx::Error> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE passport_runs SET finished_at = $1, issued = $2, reissued = $3, revoked = $4,
               unchanged = $5 WHERE id = $6",
        )
        .bind(finished)
        .bind(n(r.issued))
        .bind(n(r.reissued))
        .bind(n(r.revoked))
        .bind(n(r.unchanged))
        .bind(r.id)
        .execute(&mut *tx)
        .await?;
        // The console's count of valid passports per facility, as this run leaves them.
        sqlx::query("DELETE FROM passport_counts").execute(&mut *tx).await?;
        sqlx::query(crate::console::COUNT_PASSPORTS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// The people after `after` (by id), `limit` of them, with their doses.
pub(crate) async fn candidates(
    db: &Db,
    after: &str,
    limit: usize,
) -> Result<Vec<Candidate>, sqlx::Error> {
    let limit = i64::try_from(limit).unwrap_or(1000);
    let mut people: Vec<Candidate> = with_db!(db, pool => {
        sqlx::query(
            "SELECT person_id, full_name, birth_date, verification, merged_into FROM documents
             WHERE person_id > $1 ORDER BY person_id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| Candidate {
            person_id: r.get("person_id"),
            full_name: r.get("full_name"),
            birth_date: r.get("birth_date"),
            verification: r.get("verification"),
            merged: r.get::<Option<String>, _>("merged_into").is_some(),
            doses: Vec::new(),
        })
        .collect()
    });
    let Some(last) = people.last().map(|p| p.person_id.clone()) else {
        return Ok(people);
    };
    let doses: Vec<(String, CandidateDose)> = with_db!(db, pool => {
        sqlx::query(
            "SELECT x.id, x.person_id, x.vaccine, x.dose_number, x.given_at, x.voided, x.facility,
                    (SELECT COUNT(*) FROM signed_doses s WHERE s.dose_id = x.id AND s.person_id = x.person_id) AS signed
             FROM doses x WHERE x.person_id > $1 AND x.person_id <= $2",
        )
        .bind(after)
        .bind(&last)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.get::<String, _>("person_id"),
                CandidateDose {
                    id: r.get("id"),
                    vaccine: r.get("vaccine"),
                    dose_number: r.get::<i64, _>("dose_number"),
                    given_at: r.get("given_at"),
                    voided: r.get("voided"),
                    signed: r.get::<i64, _>("signed") > 0,
                    // Doses given elsewhere are recorded with no facility of this system.
                    history: r.get::<String, _>("facility").is_empty(),
                },
            )
        })
        .collect()
    });
    let index: HashMap<String, usize> = people
        .iter()
        .enumerate()
        .map(|(i, p)| (p.person_id.clone(), i))
        .collect();
    for (person_id, dose) in doses {
        if let Some(&i) = index.get(&person_id) {
            people[i].doses.push(dose);
        }
    }
    Ok(people)
}

/// The valid certificates held by the people of `page` (a range of ids).
pub(crate) async fn valid_passports(
    db: &Db,
    page: &[Candidate],
) -> Result<HashMap<String, Held>, sqlx::Error> {
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(HashMap::new());
    };
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT person_id, uvci, basis FROM passports
             WHERE revoked_at IS NULL AND person_id >= $1 AND person_id <= $2",
        )
        .bind(&first.person_id)
        .bind(&last.person_id)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.get::<String, _>("person_id"),
                Held {
                    uvci: r.get("uvci"),
                    basis: r.get("basis"),
                },
            )
        })
        .collect()
    }))
}

/// A page's revocations, then its new certificates, in one transaction (the one-valid index
/// holds at every commit).
pub(crate) async fn write_page(
    db: &Db,
    version: i64,
    at: &str,
    revoke: &[(String, &str)],
    signed: &[Signed],
    kid: &str,
    claims: &Claims,
) -> Result<(), sqlx::Error> {
    let issued_at = format_time(unix(claims.issued_at));
    let expires_at = format_time(unix(claims.expires_at));
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for (uvci, reason) in revoke {
            sqlx::query(
                "UPDATE passports SET revoked_at = $1, revoked_reason = $2, version = $3
                 WHERE uvci = $4 AND revoked_at IS NULL",
            )
            .bind(at)
            .bind(*reason)
            .bind(version)
            .bind(uvci)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in signed.chunks(500) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO passports (uvci, person_id, dose_id, basis, kid, issued_at, expires_at, hc1, version) ",
            );
            q.push_values(chunk, |mut b, s| {
                b.push_bind(&s.uvci)
                    .push_bind(&s.person_id)
                    .push_bind(&s.dose_id)
                    .push_bind(&s.basis)
                    .push_bind(kid)
                    .push_bind(&issued_at)
                    .push_bind(&expires_at)
                    .push_bind(&s.hc1)
                    .push_bind(version);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

fn unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Records a document signer's certificate (once).
pub(crate) async fn register_signer(
    db: &Db,
    signer: &SignerCertificate,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO passport_signers (kid, certificate, algorithm, subject, not_after, first_used_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kid) DO NOTHING",
        )
        .bind(hex::encode(&signer.kid))
        .bind(&signer.der)
        .bind(signer.algorithm.name())
        .bind(&signer.subject)
        .bind(format_time(unix(signer.not_after)))
        .bind(format_time(now))
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// The certificates of the signers still valid at `now` (a stored time).
pub(crate) async fn signer_certificates(db: &Db, now: &str) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query("SELECT certificate FROM passport_signers WHERE not_after > $1 ORDER BY kid")
            .bind(now)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| r.get::<Vec<u8>, _>("certificate"))
            .collect()
    }))
}

/// The UVCIs revoked and not yet expired at `now` (a stored time).
pub(crate) async fn revoked_uvcis(db: &Db, now: &str) -> Result<Vec<String>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT uvci FROM passports WHERE revoked_at IS NOT NULL AND expires_at > $1 ORDER BY uvci",
        )
        .bind(now)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| r.get::<String, _>("uvci"))
        .collect()
    }))
}

/// Stores a signed trust list, keeping the newest `keep`.
pub(crate) async fn save_trust_list(
    db: &Db,
    issued_at: i64,
    signed: &[u8],
    keep: i64,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO passport_trust_lists (issued_at, signed) VALUES ($1, $2)
             ON CONFLICT (issued_at) DO UPDATE SET signed = excluded.signed",
        )
        .bind(issued_at)
        .bind(signed)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM passport_trust_lists WHERE issued_at NOT IN
             (SELECT issued_at FROM passport_trust_lists ORDER BY issued_at DESC LIMIT $1)",
        )
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// The newest signed trust list.
pub(crate) async fn latest_trust_list(db: &Db) -> Result<Option<Vec<u8>>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query("SELECT signed FROM passport_trust_lists ORDER BY issued_at DESC LIMIT 1")
            .fetch_optional(pool)
            .await?
            .map(|r| r.get::<Vec<u8>, _>("signed"))
    }))
}

/// The certificates of the people `facility` sees that finished runs changed after `cursor`,
/// in (version, UVCI) order, at most `limit`.
pub async fn changed_since(
    db: &Db,
    facility: &str,
    cursor: &sync_protocol::wire::PassportCursor,
    limit: i64,
) -> Result<Vec<PassportRecord>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(concat!(
            "SELECT ",
            "p.uvci, p.person_id, p.dose_id, p.kid, p.issued_at, p.expires_at, p.hc1, p.revoked_at, p.revoked_reason, p.version",
            " FROM passports p JOIN person_scope s ON s.person_id = p.person_id AND s.facility = $1
              WHERE (p.version > $2 OR (p.version = $2 AND p.uvci > $3))
                AND p.version < (SELECT COALESCE(MIN(id), 9223372036854775807) FROM passport_runs WHERE finished_at IS NULL)
              ORDER BY p.version, p.uvci LIMIT $4"
        ))
        .bind(facility)
        .bind(cursor.since.max(0))
        .bind(&cursor.after)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| passport_row!(r))
        .collect()
    }))
}

/// A person's certificates, newest first.
pub async fn of_person(db: &Db, person_id: &str) -> Result<Vec<PassportRecord>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(concat!(
            "SELECT ", passport_columns!(),
            " FROM passports WHERE person_id = $1 ORDER BY issued_at DESC, version DESC"
        ))
        .bind(person_id)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| passport_row!(r))
        .collect()
    }))
}

/// The latest certificates issued or revoked, newest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<PassportRecord>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(concat!(
            "SELECT ", passport_columns!(),
            " FROM passports ORDER BY version DESC, uvci LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| passport_row!(r))
        .collect()
    }))
}

/// The latest runs, newest first.
pub async fn runs(db: &Db, limit: i64) -> Result<Vec<RunRecord>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT id, day, started_at, finished_at, issued, reissued, revoked, unchanged
             FROM passport_runs ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| RunRecord {
            id: r.get("id"),
            day: r.get("day"),
            started_at: r.get("started_at"),
            finished_at: r.get("finished_at"),
            issued: r.get("issued"),
            reissued: r.get("reissued"),
            revoked: r.get("revoked"),
            unchanged: r.get("unchanged"),
        })
        .collect()
    }))
}

/// Revokes a certificate by hand (a fraud, a court order) as a run of its own, so stations
/// pull it; the next trust list carries it. Returns the record, or `None` if no valid one.
pub async fn revoke(
    db: &Db,
    uvci: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Result<Option<PassportRecord>, sqlx::Error> {
    let at = format_time(now);
    let version = start_run(db, "revocation", at.get(..10).unwrap_or_default(), &at).await?;
    let changed = with_db!(db, pool => {
        sqlx::query(
            "UPDATE passports SET revoked_at = $1, revoked_reason = $2, version = $3
             WHERE uvci = $4 AND revoked_at IS NULL",
        )
        .bind(&at)
        .bind(reason)
        .bind(version)
        .bind(uvci)
        .execute(pool)
        .await?
        .rows_affected()
    });
    let report = RunReport {
        id: version,
        day: at.get(..10).unwrap_or_default().to_string(),
        revoked: changed,
        ..RunReport::default()
    };
    record_run(db, &report, &at).await?;
    if changed == 0 {
        return Ok(None);
    }
    let record = with_db!(db, pool => {
        sqlx::query(concat!("SELECT ", passport_columns!(), " FROM passports WHERE uvci = $1"))
            .bind(uvci)
            .fetch_optional(pool)
            .await?
            .map(|r| passport_row!(r))
    });
    Ok(record)
}

/// Whether an end-of-day run of `day` has finished (a hand revocation does not count).
pub(crate) async fn finished_on(db: &Db, day: &str) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT COUNT(*) AS n FROM passport_runs
             WHERE day = $1 AND kind = 'daily' AND finished_at IS NOT NULL",
        )
        .bind(day)
        .fetch_one(pool)
        .await?
        .get::<i64, _>("n")
            > 0
    }))
}
