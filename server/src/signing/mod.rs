//! Verification of signing runs sent by stations (docs/design.md §6), as a certification authority
//! would check them: the CMS signature over the manifest; the signer's certificate path
//! validated by OpenSSL at the server's receipt time ([`crate::certificates`]); the certificate's
//! issuer and serial registered on the account; the organisation it was issued to; the signing
//! time against the run's own creation time and the certificate's validity; who may sign which
//! facility's doses (the facility's head, or a unit the province designates for its area); the
//! run's limits; and every dose — matched with the population database, not voided, its record
//! hash the one the server holds. A run that passes marks its doses signed. No HTTP here: the
//! HTTP layer maps the outcomes.

mod area;
mod registration;
mod signer;

pub use area::{add_signer_scope, remove_signer_scope, signable_facilities, signer_scope};
pub use registration::{RegistrationError, register_certificate};
use signer::{check_cms, issued_to, registered, trusted_signer};

use crate::certificates::{CertificateRefusal, TrustStore, Verified, show};
use crate::db::Db;
use crate::ingest::DeviceCtx;
use crate::scope::Facilities;
use crate::with_db;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::auth::{AccountInfo, Role};
use sync_protocol::manifest::{MAX_PEOPLE_PER_RUN, Manifest, ManifestEntry, normalize_serial};
use sync_protocol::person::{format_time, now, parse_time};
use sync_protocol::wire::{SigningBatchOutcome, SigningBatchUpload};
use sync_protocol::{PersonDoc, VerificationStatus, record};

/// How far apart the signing time in the CMS and the run's creation time may be: both are read
/// from the signer's laptop, a moment apart.
pub const SIGNING_SKEW_SECS: i64 = 10 * 60;
/// How far ahead of the server's clock a run's creation time may be.
const CLOCK_SKEW_SECS: i64 = 5 * 60;

/// Why a run or a registration is refused: a stable code and a Vietnamese message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

impl From<CertificateRefusal> for Refusal {
    fn from(r: CertificateRefusal) -> Self {
        refuse(r.code(), r.to_string())
    }
}

/// Verifies a run sent by `account` from `device` at the server's receipt time and, when it
/// passes, records its doses as signed.
pub async fn receive(
    db: &Db,
    trust: &TrustStore,
    account: &AccountInfo,
    device: &DeviceCtx,
    upload: &SigningBatchUpload,
) -> Result<SigningBatchOutcome, sqlx::Error> {
    Ok(
        match verify_and_store(db, trust, account, device, upload).await? {
            Ok(doses) => SigningBatchOutcome::Accepted { doses },
            Err(r) if r.code == "later" => SigningBatchOutcome::Later { message: r.message },
            Err(r) => {
                // The reason goes back to the signer; the log names the run, never a person.
                tracing::warn!(batch = %upload.batch_id, code = r.code, "signing run refused");
                SigningBatchOutcome::Refused {
                    code: r.code.into(),
                    message: r.message,
                }
            }
        },
    )
}

async fn verify_and_store(
    db: &Db,
    trust: &TrustStore,
    account: &AccountInfo,
    device: &DeviceCtx,
    upload: &SigningBatchUpload,
) -> Result<Result<u32, Refusal>, sqlx::Error> {
    let Some(manifest) = Manifest::from_bytes(&upload.manifest) else {
        return Ok(Err(refuse(
            "manifest_invalid",
            "danh sách ký không đọc được",
        )));
    };
    if manifest.batch_id != upload.batch_id {
        return Ok(Err(refuse(
            "manifest_invalid",
            "mã lần ký không khớp danh sách",
        )));
    }
    if account.role != Role::Signer || manifest.signer != account.username {
        return Ok(Err(refuse(
            "not_signer",
            "chỉ thủ trưởng đơn vị đã ký mới gửi được lần ký này",
        )));
    }
    let facilities = Facilities::load(db).await?;
    let owner = facilities.owner(&device.facility);
    if manifest.facility != account.facility
        || (manifest.facility != device.facility && manifest.facility != owner)
    {
        return Ok(Err(refuse(
            "wrong_facility",
            "lần ký thuộc cơ sở khác với tài khoản hoặc thiết bị",
        )));
    }
    // A run sent again (its answer was lost) is answered as before; a different run under a
    // used id is refused.
    let already: Option<(Vec<u8>, Vec<u8>, String)> = with_db!(db, pool => {
        sqlx::query("SELECT manifest, cms, signer FROM signing_batches WHERE id = $1")
            .bind(upload.batch_id.to_string())
            .fetch_optional(pool)
            .await?
            .map(|r| (r.get("manifest"), r.get("cms"), r.get("signer")))
    });
    if let Some((manifest_bytes, cms, signer)) = already {
        if manifest_bytes == upload.manifest && cms == upload.cms && signer == account.username {
            return Ok(Ok(u32::try_from(manifest.entries.len()).unwrap_or(u32::MAX)));
        }
        return Ok(Err(refuse(
            "batch_reused",
            "mã lần ký này đã được dùng cho một lần ký khác",
        )));
    }
    let people: BTreeSet<_> = manifest.entries.iter().map(|e| e.person_id).collect();
    if people.len() > MAX_PEOPLE_PER_RUN {
        return Ok(Err(refuse(
            "too_many",
            format!(
                "một lần ký tối đa {MAX_PEOPLE_PER_RUN} người; lần này có {}",
                people.len()
            ),
        )));
    }
    let received = now();
    let (cert, signed_at) =
        match check_times_and_certificate(trust, account, &manifest, upload, received) {
            Ok(c) => c,
            Err(r) => return Ok(Err(r)),
        };
    let facility_name = crate::admin::facility(db, &manifest.facility)
        .await
        .ok()
        .flatten()
        .map(|f| f.name)
        .unwrap_or_default();
    if let Err(r) = issued_to(&cert, &manifest.facility, &facility_name) {
        return Ok(Err(r));
    }
    let may_sign =
        signable_facilities(db, &facilities, &account.username, &manifest.facility).await?;
    let created_at = parse_time(&manifest.created_at).map(|t| t.unix_timestamp());
    if let Err(r) = check_doses(
        db,
        &facilities,
        &manifest,
        &may_sign,
        created_at.unwrap_or(0),
    )
    .await?
    {
        return Ok(Err(r));
    }
    let signed_text = time::OffsetDateTime::from_unix_timestamp(signed_at)
        .map(format_time)
        .unwrap_or_default();
    let received = format_time(received);
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO signing_batches (id, facility, signer, certificate_serial, signed_at, doses, manifest, cms, device_id, received_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(upload.batch_id.to_string())
            .bind(&manifest.facility)
            .bind(&manifest.signer)
            .bind(&cert.serial)
            .bind(&signed_text)
            .bind(manifest.entries.len() as i64)
            .bind(&upload.manifest)
            .bind(&upload.cms)
            .bind(&device.id)
            .bind(&received)
            .execute(&mut *tx).await?;
        for e in &manifest.entries {
            sqlx::query("INSERT INTO signed_doses (dose_id, batch_id, person_id) VALUES ($1, $2, $3) ON CONFLICT (dose_id) DO NOTHING")
                .bind(e.dose_id.to_string())
                .bind(upload.batch_id.to_string())
                .bind(e.person_id.to_string())
                .execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(Ok(u32::try_from(manifest.entries.len()).unwrap_or(u32::MAX)))
}

/// The signature, the certificate (trusted now, valid when it signed, registered, the one the
/// manifest names) and the times: the signing time close to the run's creation, which is not in
/// the future. Returns the certificate and the signing time.
fn check_times_and_certificate(
    trust: &TrustStore,
    account: &AccountInfo,
    manifest: &Manifest,
    upload: &SigningBatchUpload,
    received: time::OffsetDateTime,
) -> Result<(Verified, i64), Refusal> {
    let sig = check_cms(&upload.manifest, &upload.cms)?;
    let cert = trusted_signer(trust, &sig, received.unix_timestamp())?;
    registered(account, &cert)?;
    if normalize_serial(&manifest.certificate_serial) != cert.serial {
        return Err(refuse(
            "certificate_mismatch",
            "danh sách ký ghi số hiệu chứng thư khác chứng thư đã ký",
        ));
    }
    let created = parse_time(&manifest.created_at)
        .ok_or_else(|| refuse("manifest_invalid", "thời điểm tạo lần ký không đọc được"))?
        .unix_timestamp();
    if created > received.unix_timestamp() + CLOCK_SKEW_SECS {
        return Err(refuse(
            "signing_time",
            format!(
                "lần ký ghi thời điểm tạo {} ở tương lai so với máy chủ: kiểm tra đồng hồ máy",
                show(created)
            ),
        ));
    }
    if (sig.signed_at - created).abs() > SIGNING_SKEW_SECS {
        return Err(refuse(
            "signing_time",
            format!(
                "thời điểm ký ({}) lệch quá 10 phút so với lúc tạo lần ký ({})",
                show(sig.signed_at),
                show(created)
            ),
        ));
    }
    Ok((cert, sig.signed_at))
}

/// Every dose against the server's copy: given before the run was made, in a facility the
/// signer may sign for, of a person matched with the population database, not voided, its
/// record hash the one signed.
async fn check_doses(
    db: &Db,
    facilities: &Facilities,
    manifest: &Manifest,
    may_sign: &BTreeSet<String>,
    created_at: i64,
) -> Result<Result<(), Refusal>, sqlx::Error> {
    if manifest.entries.is_empty() {
        return Ok(Err(refuse(
            "manifest_invalid",
            "danh sách ký trống: không có mũi tiêm nào để ký",
        )));
    }
    let mut by_person: BTreeMap<uuid::Uuid, Vec<&ManifestEntry>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for e in &manifest.entries {
        // One dose once: a run counted twice would claim doses it does not sign.
        if !seen.insert(e.dose_id) {
            return Ok(Err(refuse(
                "manifest_invalid",
                format!("danh sách ký có mũi tiêm {} hai lần", e.dose_id),
            )));
        }
        by_person.entry(e.person_id).or_default().push(e);
    }
    let ids: Vec<String> = seen.iter().map(uuid::Uuid::to_string).collect();
    let mut signed_before: BTreeMap<String, String> = BTreeMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String)> = with_db!(db, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT dose_id, batch_id FROM signed_doses WHERE dose_id IN (");
            crate::db::in_list!(q, chunk);
            q.build_query_as().fetch_all(pool).await?
        });
        signed_before.extend(rows);
    }
    for (person_id, entries) in &by_person {
        let bytes: Option<Vec<u8>> = with_db!(db, pool => {
            sqlx::query_scalar("SELECT doc FROM documents WHERE person_id = $1")
                .bind(person_id.to_string()).fetch_optional(pool).await?
        });
        let Some(person) = bytes
            .and_then(|b| PersonDoc::load(&b).ok())
            .and_then(|d| d.read().ok())
        else {
            return Ok(Err(refuse(
                "later",
                "một số người trong lần ký chưa có trên máy chủ: gửi lại sau khi đồng bộ",
            )));
        };
        for e in entries {
            let Some(dose) = person.doses.get(&e.dose_id) else {
                return Ok(Err(refuse(
                    "later",
                    "một số mũi tiêm trong lần ký chưa có trên máy chủ: gửi lại sau khi đồng bộ",
                )));
            };
            if dose.is_history() {
                // Given elsewhere and only recorded here: no facility signs for it.
                return Ok(Err(refuse(
                    "history_dose",
                    format!(
                        "mũi tiêm {} (người {}) được tiêm nơi khác và chỉ ghi lại lịch sử: không ký số mũi này; bỏ khỏi danh sách rồi ký lại",
                        e.dose_id, e.person_id
                    ),
                )));
            }
            if !may_sign.contains(&dose.facility)
                && !may_sign.contains(&facilities.owner(&dose.facility))
            {
                // Named by its ids only: nothing of a person outside the signer's area.
                return Ok(Err(refuse(
                    "wrong_facility",
                    format!(
                        "lần ký có mũi tiêm {} (người {}) ngoài phạm vi ký của {}: bỏ khỏi danh sách rồi ký lại",
                        e.dose_id, e.person_id, manifest.signer
                    ),
                )));
            }
            if let Some(batch) = signed_before.get(&e.dose_id.to_string()) {
                return Ok(Err(refuse(
                    "already_signed",
                    format!(
                        "mũi tiêm {} của {} đã được ký trong lần ký {batch}: bỏ khỏi danh sách rồi ký lại",
                        dose.dose_number, person.full_name
                    ),
                )));
            }
            if dose.given_at.unix_timestamp() > created_at + CLOCK_SKEW_SECS {
                return Ok(Err(refuse(
                    "signing_time",
                    format!(
                        "mũi tiêm {} của {} tiêm sau lúc tạo lần ký",
                        dose.dose_number, person.full_name
                    ),
                )));
            }
            if record::record_hash(&person, dose) != e.record_hash {
                return Ok(Err(refuse(
                    "dose_changed",
                    format!(
                        "mũi tiêm {} của {} đã bị sửa sau khi ký (nội dung không khớp chữ ký): xem lại rồi ký lại",
                        dose.dose_number, person.full_name
                    ),
                )));
            }
            if dose.voided.is_some() {
                return Ok(Err(refuse(
                    "dose_voided",
                    format!(
                        "mũi tiêm {} của {} đã bị huỷ",
                        dose.dose_number, person.full_name
                    ),
                )));
            }
        }
        // Checked after the doses: a record changed since signing says so first.
        if person.verification.status != VerificationStatus::Matched {
            return Ok(Err(refuse(
                "not_matched",
                format!(
                    "{} chưa được xác thực khớp với CSDLQG về dân cư ({}): chỉ ký mũi tiêm của người đã xác thực",
                    person.full_name,
                    person.verification.status.label()
                ),
            )));
        }
    }
    Ok(Ok(()))
}
