//! Signing runs (docs/design.md §1 signing, §6): the head of a facility chooses doses by date range,
//! name and phone, sees exactly what will be signed, and the token signs the run's manifest once.
//! Only doses given at this facility, not voided, not yet signed, of people the population
//! database matched, are signed; at most 1,000 people and 3,000 doses per run.

mod backlog;
mod certificate;
#[cfg(test)]
mod tests;

pub use backlog::plan_runs;
use backlog::planned;
pub use certificate::{TokenSigner, is_registered};

use crate::error::{Result, StationError};
use crate::intent::Intent;
use crate::service::Station;
use serde::{Deserialize, Serialize};
use sotiem_token::{CertificateInfo, Signed, TokenError};
use sqlx::Row;
use std::collections::BTreeMap;
use sync_protocol::identity::normalize_phone;
pub use sync_protocol::manifest::normalize_serial;
use sync_protocol::manifest::{
    MAX_DOSES_PER_RUN, MAX_PEOPLE_PER_RUN, Manifest, ManifestEntry, inclusion_proofs,
};
use sync_protocol::person::{BirthDate, format_time};
use sync_protocol::{CommitAction, DoseSignature, record, text};
use time::OffsetDateTime;
use uuid::Uuid;

/// What to sign: doses given between two days (inclusive, `yyyy-mm-dd` or `dd/mm/yyyy`),
/// optionally of one person found by name and phone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SigningSelection {
    pub from: String,
    pub to: String,
    pub full_name: Option<String>,
    pub phone: Option<String>,
    /// Also the doses this facility's mobile teams recorded ("all doses it created"), not only
    /// those given at the facility itself.
    #[serde(default)]
    pub include_mobile_teams: bool,
    /// Doses the signer unticked in the preview: left out of the runs.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "Array<string>"))]
    pub excluded: Vec<Uuid>,
}

/// One dose the run would sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SigningCandidate {
    pub dose_id: Uuid,
    pub person_id: Uuid,
    pub full_name: String,
    pub birth_date: String,
    pub id_number: Option<String>,
    pub vaccine: String,
    pub lot: String,
    pub dose_number: u8,
    pub given_at: String,
    /// Where it was given: the station itself, one of its mobile teams, or (for a unit that
    /// signs for an area) a facility of the area.
    pub facility: String,
}

/// Exactly what the runs over a selection would sign, and what was left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SigningPreview {
    /// The doses to sign, in the order they were given.
    pub doses: Vec<SigningCandidate>,
    pub people: usize,
    /// Doses left out because their person is not matched with the population database.
    pub unverified_excluded: usize,
    /// Doses the signer unticked.
    pub unticked: Vec<SigningCandidate>,
    /// Within the 1,000 people / 3,000 doses of one run.
    pub within_limits: bool,
    /// The runs the doses are split into (each within the limits; a person's doses together).
    pub runs: Vec<PlannedRun>,
}

/// One run of a split selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlannedRun {
    pub people: usize,
    pub doses: usize,
    /// When its first and last doses were given.
    pub first_given_at: String,
    pub last_given_at: String,
}

/// What a backlog's signing did: the runs signed (each one token operation) and whether the
/// signer stopped it before the end (signing the selection again resumes with what is left).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BacklogSummary {
    pub runs: Vec<SigningBatchSummary>,
    pub runs_planned: usize,
    pub stopped: bool,
}

/// A signing run done on this station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SigningBatchSummary {
    pub batch_id: Uuid,
    pub signer: String,
    pub certificate_serial: String,
    pub created_at: String,
    pub doses: usize,
    pub people: usize,
    /// `pending` until the server has verified it, then `accepted` or `refused`.
    pub status: String,
    pub message: Option<String>,
}

/// What signs a run's manifest: the USB token (or a test's SoftHSM token).
pub trait ManifestSigner {
    /// The certificate that signs.
    fn certificate(&self) -> &CertificateInfo;
    /// Signs `content` as detached CMS (one token operation), stating `at` (the station's
    /// clock) as the signing time.
    fn sign(&self, content: &[u8], at: OffsetDateTime) -> std::result::Result<Signed, TokenError>;
}

fn day(text: &str) -> Result<String> {
    let bad = || {
        StationError::invalid(
            sync_protocol::Field::GivenAt,
            sync_protocol::Problem::DateFormat,
        )
    };
    match BirthDate::parse(text).map_err(|_| bad())? {
        BirthDate::Full(d) => Ok(d.to_string()),
        BirthDate::Year(_) => Err(bad()),
    }
}

impl Station {
    /// The doses a run over `selection` would sign (the signer reviews this before the PIN).
    pub async fn signing_preview(&self, selection: &SigningSelection) -> Result<SigningPreview> {
        self.signer()?;
        let from = day(&selection.from)?;
        let until = time::Date::parse(
            &day(&selection.to)?,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| {
            StationError::invalid(
                sync_protocol::Field::GivenAt,
                sync_protocol::Problem::DateFormat,
            )
        })?
        .next_day()
        .map(|d| d.to_string())
        .unwrap_or_else(|| "9999-12-31".into());
        let name_key = selection
            .full_name
            .as_deref()
            .map(text::fold)
            .filter(|k| !k.is_empty());
        let phone = match selection.phone.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => Some(normalize_phone(p)?),
            _ => None,
        };
        let rows = sqlx::query(
            "SELECT d.id, d.person_id, p.full_name, p.birth_date, p.id_number, p.verification,
                    d.vaccine, d.lot, d.dose_number, d.given_at, d.facility
             FROM doses d JOIN persons p ON p.id = d.person_id
             WHERE (d.facility = ?1
                    OR (?6 AND d.facility IN (SELECT code FROM facilities
                                              WHERE kind = 'mobile_team' AND parent = ?1))
                    OR d.facility IN (SELECT value FROM json_each(?7)))
               AND d.given_at >= ?2 AND d.given_at < ?3 AND d.voided = 0
               AND d.signed_batch IS NULL AND p.merged_into IS NULL
               AND NOT EXISTS (SELECT 1 FROM signed_doses s JOIN signing_batches b ON b.id = s.batch_id
                               WHERE s.dose_id = d.id AND b.status <> 'refused')
               AND (?4 IS NULL OR p.name_key = ?4) AND (?5 IS NULL OR p.phone = ?5)
             ORDER BY d.given_at, d.id",
        )
        .bind(self.facility().code)
        .bind(&from)
        .bind(&until)
        .bind(name_key)
        .bind(phone)
        .bind(selection.include_mobile_teams)
        .bind(serde_json::to_string(&self.signing_area().await?).unwrap_or_else(|_| "[]".into()))
        .fetch_all(self.store().pool())
        .await?;
        let mut doses = Vec::new();
        let mut unticked = Vec::new();
        let mut unverified_excluded = 0;
        let excluded: std::collections::BTreeSet<Uuid> =
            selection.excluded.iter().copied().collect();
        for r in rows {
            if r.get::<&str, _>("verification") != "matched" {
                unverified_excluded += 1;
                continue;
            }
            let (Ok(dose_id), Ok(person_id)) = (
                Uuid::parse_str(r.get("id")),
                Uuid::parse_str(r.get("person_id")),
            ) else {
                continue;
            };
            let candidate = SigningCandidate {
                dose_id,
                person_id,
                full_name: r.get("full_name"),
                birth_date: r.get("birth_date"),
                id_number: r.get("id_number"),
                vaccine: r.get("vaccine"),
                lot: r.get("lot"),
                dose_number: u8::try_from(r.get::<i64, _>("dose_number")).unwrap_or(0),
                given_at: r.get("given_at"),
                facility: r.get("facility"),
            };
            if excluded.contains(&dose_id) {
                unticked.push(candidate);
            } else {
                doses.push(candidate);
            }
        }
        let people = doses
            .iter()
            .map(|d| d.person_id)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let runs: Vec<PlannedRun> = plan_runs(&doses).iter().map(|r| planned(r)).collect();
        Ok(SigningPreview {
            within_limits: runs.len() <= 1,
            runs,
            people,
            doses,
            unticked,
            unverified_excluded,
        })
    }

    /// Signs exactly the doses of `selection` that the preview showed (`expected_doses` of
    /// them) in one run: checks the certificate (registered on the account, valid now), builds
    /// the manifest, has the token sign it once, and keeps the run to send.
    pub async fn sign_selection(
        &self,
        selection: &SigningSelection,
        expected_doses: usize,
        signer: &(dyn ManifestSigner + Sync),
    ) -> Result<SigningBatchSummary> {
        let session = self.signer()?;
        let serial = self.check_signer_certificate(&session, signer)?;
        let preview = self.signing_preview(selection).await?;
        if preview.doses.is_empty() {
            return Err(StationError::NothingToSign);
        }
        if !preview.within_limits {
            return Err(StationError::TooManyForOneRun {
                people: preview.people,
                doses: preview.doses.len(),
                max_people: MAX_PEOPLE_PER_RUN,
                max_doses: MAX_DOSES_PER_RUN,
            });
        }
        if preview.doses.len() != expected_doses {
            return Err(StationError::SelectionChanged);
        }
        self.sign_doses(&session, signer, &serial, &preview.doses)
            .await
    }

    /// One run over `doses`: the manifest of their record hashes, one token signature, the
    /// run kept to send with each dose's proof.
    async fn sign_doses(
        &self,
        session: &crate::session::Session,
        signer: &(dyn ManifestSigner + Sync),
        serial: &str,
        doses: &[SigningCandidate],
    ) -> Result<SigningBatchSummary> {
        let at = self.clock().now();
        // The record hashes, from the documents as they are now.
        let mut by_person: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
        for d in doses {
            by_person.entry(d.person_id).or_default().push(d.dose_id);
        }
        let mut entries = Vec::with_capacity(doses.len());
        for (person_id, dose_ids) in &by_person {
            let person = self.load_doc(*person_id).await?.read().map_err(|source| {
                StationError::Corrupt {
                    id: person_id.to_string(),
                    source,
                }
            })?;
            for id in dose_ids {
                let dose = person.doses.get(id).ok_or(StationError::SelectionChanged)?;
                entries.push(ManifestEntry {
                    dose_id: *id,
                    person_id: *person_id,
                    record_hash: record::record_hash(&person, dose),
                });
            }
        }
        let manifest = Manifest {
            batch_id: Uuid::now_v7(),
            facility: self.facility().code,
            signer: session.username().to_string(),
            certificate_serial: serial.to_string(),
            created_at: format_time(at),
            entries,
        };
        let content = manifest.to_bytes();
        let signed = signer.sign(&content, at)?;
        let proofs = inclusion_proofs(&manifest.hashes());

        // The doses are marked signed in their documents once the server has verified the run
        // (see `mark_signed`); until then the run's rows keep them out of other runs.
        let mut tx = self.store().begin_write().await?;
        sqlx::query(
            "INSERT INTO signing_batches (id, signer, certificate_serial, created_at, doses, people,
                manifest, cms, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
        )
        .bind(manifest.batch_id.to_string())
        .bind(&manifest.signer)
        .bind(serial)
        .bind(&manifest.created_at)
        .bind(manifest.entries.len() as i64)
        .bind(by_person.len() as i64)
        .bind(&content)
        .bind(&signed.cms_der)
        .execute(&mut *tx)
        .await?;
        for (entry, proof) in manifest.entries.iter().zip(&proofs) {
            sqlx::query(
                "INSERT INTO signed_doses (dose_id, batch_id, person_id, position, proof)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (dose_id) DO UPDATE SET batch_id = excluded.batch_id,
                    person_id = excluded.person_id, position = excluded.position,
                    proof = excluded.proof",
            )
            .bind(entry.dose_id.to_string())
            .bind(manifest.batch_id.to_string())
            .bind(entry.person_id.to_string())
            .bind(i64::from(proof.index))
            .bind(proof.path.concat())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(SigningBatchSummary {
            batch_id: manifest.batch_id,
            signer: manifest.signer,
            certificate_serial: serial.to_string(),
            created_at: manifest.created_at,
            doses: manifest.entries.len(),
            people: by_person.len(),
            status: "pending".into(),
            message: None,
        })
    }

    /// Writes the signature of a run the server verified into its doses' documents (one
    /// transaction, audited as the signer's): from now on those doses are frozen everywhere.
    pub(crate) async fn mark_signed(&self, batch_id: Uuid) -> Result<()> {
        let batch = sqlx::query("SELECT signer, created_at FROM signing_batches WHERE id = ?")
            .bind(batch_id.to_string())
            .fetch_one(self.store().pool())
            .await?;
        let signer: String = batch.get("signer");
        let signed_at = sync_protocol::person::parse_time(batch.get::<&str, _>("created_at"))
            .unwrap_or_else(|| self.clock().now());
        let mut by_person: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
        for r in sqlx::query("SELECT dose_id, person_id FROM signed_doses WHERE batch_id = ?")
            .bind(batch_id.to_string())
            .fetch_all(self.store().pool())
            .await?
        {
            if let (Ok(d), Ok(p)) = (
                Uuid::parse_str(r.get("dose_id")),
                Uuid::parse_str(r.get("person_id")),
            ) {
                by_person.entry(p).or_default().push(d);
            }
        }
        let signature = DoseSignature {
            batch_id,
            signer: signer.clone(),
            signed_at,
        };
        let session = self.reader()?;
        if session.username() != signer {
            return Err(StationError::Forbidden(
                "dấu đã ký chỉ được ghi khi chính người ký đăng nhập",
            ));
        }
        let writer = self.rule_writer(&session).await?;
        let accepted = by_person
            .values()
            .flatten()
            .map(|d| {
                (
                    *d,
                    sync_protocol::rules::SignedDose {
                        batch_id,
                        signer: signer.clone(),
                    },
                )
            })
            .collect();
        let intent = Intent::new(CommitAction::Sign).signed(accepted);
        let mut tx = self.store().begin_write().await?;
        for (person_id, dose_ids) in &by_person {
            self.modify_in(&mut tx, *person_id, &writer, &intent, |p| {
                for id in dose_ids {
                    if let Some(dose) = p.doses.get_mut(id)
                        && dose.signature.is_none()
                    {
                        dose.signature = Some(signature.clone());
                    }
                }
                Ok(())
            })
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The signing runs made on this station, newest first.
    pub async fn signing_batches(&self) -> Result<Vec<SigningBatchSummary>> {
        self.reader()?;
        let rows = sqlx::query(
            "SELECT id, signer, certificate_serial, created_at, doses, people, status, message
             FROM signing_batches ORDER BY created_at DESC",
        )
        .fetch_all(self.store().pool())
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(SigningBatchSummary {
                    batch_id: Uuid::parse_str(r.get("id")).ok()?,
                    signer: r.get("signer"),
                    certificate_serial: r.get("certificate_serial"),
                    created_at: r.get("created_at"),
                    doses: usize::try_from(r.get::<i64, _>("doses")).ok()?,
                    people: usize::try_from(r.get::<i64, _>("people")).ok()?,
                    status: r.get("status"),
                    message: r.get("message"),
                })
            })
            .collect())
    }

    /// The manifest and CMS signature of a run (for checking with other tools).
    pub async fn signing_batch_files(&self, batch_id: Uuid) -> Result<(Vec<u8>, Vec<u8>)> {
        self.reader()?;
        let row = sqlx::query("SELECT manifest, cms FROM signing_batches WHERE id = ?")
            .bind(batch_id.to_string())
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| StationError::NotFound {
                what: "lần ký",
                id: batch_id.to_string(),
            })?;
        Ok((row.get("manifest"), row.get("cms")))
    }
}
