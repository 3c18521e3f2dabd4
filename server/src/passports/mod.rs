//! Vaccine passports (5772/QĐ-BYT, docs/design.md §1 and §7): at the end of each day the server
//! issues an EU DCC certificate to every person whose identity matched the population database
//! and whose every standing dose an accepted signing run covers, for their latest dose; it
//! revokes and re-issues when what a certificate says changes (a voided or corrected dose, a
//! corrected identity), and signs a fresh trust list (document signers + revoked UVCIs) for
//! verifiers. The document signer's key stays in an HSM (PKCS#11): there is no key-file mode.

mod issuer;
mod store;

pub use issuer::{Issuer, SignerConfig};
pub use store::{PassportRecord, RunRecord};

use crate::db::Db;
use sha2::{Digest, Sha256};
use sotiem_passport::{Claims, HealthCertificate, LatestDose, TrustList};
use sync_protocol::person::format_time;
use sync_protocol::vaccines::Catalogue;
use time::OffsetDateTime;

/// People read, judged and written per transaction.
const PAGE: usize = 1_000;
/// Signed trust lists kept (the newest is served).
const TRUST_LISTS_KEPT: i64 = 5;

/// Why passports could not be issued or served.
#[derive(Debug, thiserror::Error)]
pub enum PassportError {
    #[error("thiết bị ký hộ chiếu (HSM): {0}")]
    Token(#[from] sotiem_token::TokenError),
    #[error("{0}")]
    Issue(#[from] sotiem_passport::IssueError),
    #[error("cấu hình ký hộ chiếu: {0}")]
    Config(String),
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Db(#[from] sqlx::Error),
    #[error("chưa có danh sách tin cậy: máy chủ chưa cấp hộ chiếu lần nào")]
    NoTrustList,
    #[error("không có hộ chiếu {0}")]
    NotFound(String),
}

/// What one end-of-day run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    pub id: i64,
    pub day: String,
    /// First certificates.
    pub issued: u64,
    /// Certificates replaced because what they said changed (the old one revoked).
    pub reissued: u64,
    /// Certificates revoked with no successor (the person is no longer eligible).
    pub revoked: u64,
    /// Valid certificates that still say the truth.
    pub unchanged: u64,
}

/// A person as the issuer sees them: the materialised columns and their doses.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub person_id: String,
    pub full_name: String,
    pub birth_date: String,
    pub verification: String,
    pub merged: bool,
    pub doses: Vec<CandidateDose>,
}

#[derive(Debug, Clone)]
pub(crate) struct CandidateDose {
    pub id: String,
    pub vaccine: String,
    pub dose_number: i64,
    pub given_at: String,
    pub voided: bool,
    pub signed: bool,
    /// Given elsewhere, recorded as history: never signed, never on a certificate.
    pub history: bool,
}

/// A certificate signed, ready to store.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub person_id: String,
    pub dose_id: String,
    pub basis: String,
    pub uvci: String,
    pub hc1: String,
}

/// The certificate a person is due, with the hash of what it says; `None` when they are due
/// none (not matched, merged away, no standing dose, a standing dose unsigned, an unknown
/// vaccine).
pub(crate) fn due(
    catalogue: &Catalogue,
    c: &Candidate,
) -> Option<(String, String, HealthCertificate)> {
    if c.verification != "matched" || c.merged {
        return None;
    }
    // The certificate is about COVID-19 doses given and signed in this system: routine
    // programme doses and doses given elsewhere are not on it (and do not hold it back).
    let standing: Vec<&CandidateDose> = c
        .doses
        .iter()
        .filter(|d| !d.voided && !d.history && catalogue.find(&d.vaccine).is_some())
        .collect();
    if standing.is_empty() || standing.iter().any(|d| !d.signed) {
        return None;
    }
    // Stored times are RFC 3339 at +07:00, so they sort in time order and start with the date.
    let latest = standing
        .iter()
        .max_by(|a, b| (&a.given_at, a.dose_number).cmp(&(&b.given_at, b.dose_number)))?;
    let vaccine = catalogue.find(&latest.vaccine)?;
    let date = latest.given_at.get(..10)?.to_string();
    let dose = LatestDose {
        vaccine,
        dose_number: u8::try_from(latest.dose_number).ok()?,
        date,
    };
    let basis = hex::encode(Sha256::digest(
        [
            c.full_name.as_str(),
            c.birth_date.as_str(),
            latest.id.as_str(),
            vaccine.code.as_str(),
            &latest.dose_number.to_string(),
            dose.date.as_str(),
        ]
        .join("\n"),
    ));
    let certificate = HealthCertificate::vaccination(
        catalogue,
        &c.full_name,
        &c.birth_date,
        &dose,
        sotiem_passport::new_uvci(),
    );
    Some((latest.id.clone(), basis, certificate))
}

/// One end-of-day run at `now`: judges every person, revokes and issues in one transaction per
/// page of people, then signs a new trust list.
pub async fn run(
    db: &Db,
    issuer: &std::sync::Arc<Issuer>,
    catalogue: &Catalogue,
    now: OffsetDateTime,
) -> Result<RunReport, PassportError> {
    issuer.register(db, now).await?;
    let started = format_time(now);
    let day = started.get(..10).unwrap_or_default().to_string();
    let version = store::start_run(db, "daily", &day, &started).await?;
    let mut report = RunReport {
        id: version,
        day,
        ..RunReport::default()
    };
    let claims = issuer.claims(now);
    let mut after = String::new();
    loop {
        let page = store::candidates(db, &after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.person_id.clone();
        let current = store::valid_passports(db, &page).await?;
        let mut revoke = Vec::new();
        let mut fresh = Vec::new();
        for c in &page {
            let held = current.get(&c.person_id);
            match (due(catalogue, c), held) {
                (Some((_, basis, _)), Some(h)) if h.basis == basis => report.unchanged += 1,
                (Some((dose_id, basis, cert)), held) => {
                    if let Some(h) = held {
                        revoke.push((h.uvci.clone(), "corrected"));
                        report.reissued += 1;
                    } else {
                        report.issued += 1;
                    }
                    fresh.push((c.person_id.clone(), dose_id, basis, cert));
                }
                (None, Some(h)) => {
                    revoke.push((h.uvci.clone(), "not_eligible"));
                    report.revoked += 1;
                }
                (None, None) => {}
            }
        }
        if revoke.is_empty() && fresh.is_empty() {
            continue;
        }
        let signed = issuer.sign_all(fresh, claims.clone()).await?;
        store::write_page(
            db,
            version,
            &started,
            &revoke,
            &signed,
            &issuer.kid_hex(),
            &claims,
        )
        .await?;
    }
    publish_trust_list(db, issuer, now).await?;
    store::record_run(db, &report, &format_time(OffsetDateTime::now_utc())).await?;
    Ok(report)
}

/// Signs and stores a trust list of the known signers still valid and the UVCIs revoked and not
/// yet expired.
pub async fn publish_trust_list(
    db: &Db,
    issuer: &std::sync::Arc<Issuer>,
    now: OffsetDateTime,
) -> Result<Vec<u8>, PassportError> {
    let at = now.unix_timestamp();
    let signers = store::signer_certificates(db, &format_time(now)).await?;
    let revoked = store::revoked_uvcis(db, &format_time(now))
        .await?
        .iter()
        .map(|u| sotiem_passport::revocation_hash(u))
        .collect();
    let list = TrustList::new(at, issuer.root().to_vec(), signers, revoked);
    let signed = issuer.sign_trust_list(list).await?;
    store::save_trust_list(db, at, &signed, TRUST_LISTS_KEPT).await?;
    Ok(signed)
}

/// The newest signed trust list.
pub async fn trust_list(db: &Db) -> Result<Vec<u8>, PassportError> {
    store::latest_trust_list(db)
        .await?
        .ok_or(PassportError::NoTrustList)
}

pub use store::{changed_since, list, of_person, revoke, runs};

/// The claims of a certificate issued at `now` by a signer valid until `signer_not_after`:
/// 12 months, never past the signer's certificate (verifiers check it).
pub(crate) fn claims_at(now: OffsetDateTime, signer_not_after: i64) -> Claims {
    let iat = now.unix_timestamp();
    Claims {
        issuer: sotiem_passport::payload::COUNTRY.into(),
        issued_at: iat,
        expires_at: (iat + sotiem_passport::VALIDITY_SECONDS).min(signer_not_after),
    }
}

/// Runs the end-of-day issuance once a day at `at` (Vietnam time) while the server serves: a
/// day whose run has not finished gets one as soon as the time has come (also after a restart
/// late in the evening). A failed run is logged and tried again a minute later.
pub async fn daily(
    db: Db,
    issuer: std::sync::Arc<Issuer>,
    catalogue: Catalogue,
    clock: sync_protocol::Clock,
    at: time::Time,
) {
    loop {
        let now = clock.now().to_offset(sync_protocol::person::VIETNAM);
        if now.time() >= at {
            let day = format_time(now).get(..10).unwrap_or_default().to_string();
            match store::finished_on(&db, &day).await {
                Ok(false) => match run(&db, &issuer, &catalogue, now).await {
                    Ok(r) => tracing::info!(
                        "passports of {day}: {} issued, {} re-issued, {} revoked, {} unchanged",
                        r.issued,
                        r.reissued,
                        r.revoked,
                        r.unchanged
                    ),
                    Err(e) => tracing::error!("passports of {day}: {e}"),
                },
                Ok(true) => {}
                Err(e) => tracing::error!("passport runs: {e}"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}
