//! Verification of signing runs sent by stations (DESIGN.md §6), as a certification authority
//! would check them: the CMS signature over the manifest; the signer's certificate path
//! validated by OpenSSL at the server's receipt time ([`crate::certificates`]); the certificate's
//! issuer and serial registered on the account; the organisation it was issued to; the signing
//! time against the run's own creation time and the certificate's validity; who may sign which
//! facility's doses (the facility's head, or a unit the province designates for its area); the
//! run's limits; and every dose — matched with the population database, not voided, its record
//! hash the one the server holds. A run that passes marks its doses signed. No HTTP here: the
//! HTTP layer maps the outcomes.

use crate::accounts::{self, SessionUser};
use crate::certificates::{CertificateRefusal, TrustStore, Verified, show};
use crate::db::Db;
use crate::ingest::DeviceCtx;
use crate::scope::Facilities;
use crate::with_db;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::db::rfc5911::{ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME};
use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION};
use der::asn1::OctetString;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::auth::{AccountInfo, RegisterCertificateRequest, Role};
use sync_protocol::manifest::{MAX_PEOPLE_PER_RUN, Manifest, ManifestEntry, normalize_serial};
use sync_protocol::person::{format_time, now, parse_time};
use sync_protocol::wire::{SigningBatchOutcome, SigningBatchUpload};
use sync_protocol::{PersonDoc, VerificationStatus, record, text};
use x509_cert::Certificate;
use x509_cert::time::Time;

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

fn unix(time: &Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// Checks `signature` over `message` with the public key of `cert` (RSA PKCS#1 v1.5 or ECDSA
/// P-256, SHA-256).
fn verify_with(cert: &Certificate, message: &[u8], signature: &[u8]) -> bool {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let key = spki.subject_public_key.raw_bytes();
    let algorithm: &dyn ring::signature::VerificationAlgorithm =
        if spki.algorithm.oid == RSA_ENCRYPTION {
            &ring::signature::RSA_PKCS1_2048_8192_SHA256
        } else if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
            &ring::signature::ECDSA_P256_SHA256_ASN1
        } else {
            return false;
        };
    ring::signature::UnparsedPublicKey::new(algorithm, key)
        .verify(message, signature)
        .is_ok()
}

/// What a valid CMS signature holds: the signer's certificate and the others it carries (DER),
/// and the signing time (unix seconds).
struct Signature {
    signer: Vec<u8>,
    others: Vec<Vec<u8>>,
    signed_at: i64,
}

/// The CMS checks: one signer, detached over `content`, the digest and the signature verify
/// with the signer's certificate. Trust in that certificate is checked separately.
fn check_cms(content: &[u8], cms: &[u8]) -> Result<Signature, Refusal> {
    let bad = |e: der::Error| refuse("cms_invalid", format!("chữ ký CMS không đọc được: {e}"));
    let info = ContentInfo::from_der(cms).map_err(bad)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(refuse(
            "cms_invalid",
            "tệp chữ ký không phải CMS SignedData",
        ));
    }
    let data: SignedData = info.content.decode_as().map_err(bad)?;
    if data.encap_content_info.econtent_type != ID_DATA
        || data.encap_content_info.econtent.is_some()
    {
        return Err(refuse(
            "cms_invalid",
            "chữ ký phải tách rời nội dung (detached)",
        ));
    }
    let certs: Vec<Certificate> = data
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let mut signers = data.signer_infos.0.iter();
    let (Some(signer), None) = (signers.next(), signers.next()) else {
        return Err(refuse("cms_invalid", "chữ ký phải có đúng một người ký"));
    };
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
        return Err(refuse(
            "cms_invalid",
            "không xác định được chứng thư của người ký",
        ));
    };
    let cert = certs
        .iter()
        .find(|c| {
            c.tbs_certificate.issuer == sid.issuer
                && c.tbs_certificate.serial_number == sid.serial_number
        })
        .cloned()
        .ok_or_else(|| refuse("cms_invalid", "chữ ký không kèm chứng thư của người ký"))?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| refuse("cms_invalid", "chữ ký thiếu thuộc tính được ký"))?;
    let value = |oid| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next().cloned())
    };
    let digest = value(ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or_else(|| refuse("cms_invalid", "chữ ký thiếu giá trị băm của nội dung"))?;
    if digest.as_bytes() != Sha256::digest(content).as_slice() {
        return Err(refuse(
            "manifest_changed",
            "danh sách đã ký bị thay đổi sau khi ký (giá trị băm không khớp)",
        ));
    }
    let signed_at = value(ID_SIGNING_TIME)
        .and_then(|v| v.to_der().ok())
        .and_then(|d| Time::from_der(&d).ok())
        .map(|t| unix(&t))
        .ok_or_else(|| refuse("cms_invalid", "chữ ký thiếu thời điểm ký"))?;
    let signed_attrs = attrs.to_der().map_err(bad)?;
    if !verify_with(&cert, &signed_attrs, signer.signature.as_bytes()) {
        return Err(refuse(
            "signature_invalid",
            "chữ ký số không đúng với chứng thư của người ký",
        ));
    }
    let der_of = |c: &Certificate| c.to_der().map_err(bad);
    Ok(Signature {
        signer: der_of(&cert)?,
        others: certs.iter().map(der_of).collect::<Result<_, _>>()?,
        signed_at,
    })
}

/// The signature's certificate, validated now, valid at the signing time too.
fn trusted_signer(trust: &TrustStore, sig: &Signature, at: i64) -> Result<Verified, Refusal> {
    let verified = trust.verify(&sig.signer, &sig.others, at)?;
    if sig.signed_at < verified.not_before || sig.signed_at > verified.not_after {
        return Err(refuse(
            "certificate_not_valid_at_signing",
            format!(
                "chứng thư số {} không có hiệu lực lúc ký ({}): hiệu lực từ {} đến {}",
                verified.serial,
                show(sig.signed_at),
                show(verified.not_before),
                show(verified.not_after)
            ),
        ));
    }
    Ok(verified)
}

/// The certificate must be registered, issuer and serial, on the account.
fn registered(account: &AccountInfo, cert: &Verified) -> Result<(), Refusal> {
    if account
        .certificates
        .iter()
        .any(|r| r.is(&cert.serial, &cert.issuer_key))
    {
        return Ok(());
    }
    let same_serial = account
        .certificates
        .iter()
        .find(|r| normalize_serial(&r.serial) == cert.serial);
    Err(refuse(
        "certificate_not_registered",
        match same_serial {
            Some(r) if r.issuer_key.is_empty() => format!(
                "số hiệu {} được đăng ký cho tài khoản {} khi chưa ghi tổ chức cấp: hãy đăng ký lại chứng thư này",
                cert.serial, account.username
            ),
            Some(r) => format!(
                "số hiệu {} được đăng ký cho tài khoản {} với tổ chức cấp \"{}\", không phải \"{}\" của chứng thư đã ký",
                cert.serial, account.username, r.issuer, cert.issuer
            ),
            None => format!(
                "chứng thư số {} (tổ chức cấp \"{}\") chưa được đăng ký cho tài khoản {}",
                cert.serial, cert.issuer, account.username
            ),
        },
    ))
}

/// The certificate must be the organisation's: its O names the facility that signs.
fn issued_to(cert: &Verified, facility_code: &str, facility_name: &str) -> Result<(), Refusal> {
    let found = cert.organization.clone().unwrap_or_default();
    if !found.is_empty() && text::fold(&found) == text::fold(facility_name) {
        return Ok(());
    }
    Err(refuse(
        "organization_mismatch",
        format!(
            "chứng thư số phải là của tổ chức \"{facility_name}\" ({facility_code}) nhưng được cấp cho \"{}\"",
            if found.is_empty() {
                "(không ghi tổ chức O)"
            } else {
                &found
            }
        ),
    ))
}

/// The facilities whose doses `signer` of `facility` may sign: the facility, its mobile teams,
/// and the facilities of the area the province designated the signer's unit for.
pub async fn signable_facilities(
    db: &Db,
    facilities: &Facilities,
    signer: &str,
    facility: &str,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let mut out: BTreeSet<String> = facilities.family(facility).into_iter().collect();
    for area in signer_scope(db, signer).await? {
        out.extend(facilities.family(&area));
    }
    Ok(out)
}

/// The facilities of the area a signer may sign for besides their own.
pub async fn signer_scope(db: &Db, signer: &str) -> Result<Vec<String>, sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query_scalar("SELECT facility FROM signer_scopes WHERE username = $1 ORDER BY facility")
            .bind(signer)
            .fetch_all(pool)
            .await
    })
}

/// Lets `signer` sign the doses of `facilities` (a district centre for its communes).
pub async fn add_signer_scope(
    db: &Db,
    signer: &str,
    facilities: &[String],
) -> Result<(), accounts::AuthError> {
    let account = accounts::account(db, signer)
        .await?
        .ok_or_else(|| accounts::AuthError::NoSuchAccount(signer.to_string()))?;
    if account.info.role != Role::Signer {
        return Err(accounts::AuthError::Forbidden {
            role: account.info.role.label(),
        });
    }
    for f in facilities {
        if crate::admin::facility(db, f)
            .await
            .map_err(|e| match e {
                crate::admin::AdminError::Db(e) => accounts::AuthError::Db(e),
                other => accounts::AuthError::NoSuchFacility(other.to_string()),
            })?
            .is_none()
        {
            return Err(accounts::AuthError::NoSuchFacility(f.clone()));
        }
        with_db!(db, pool => {
            sqlx::query("INSERT INTO signer_scopes (username, facility) VALUES ($1, $2) ON CONFLICT (username, facility) DO NOTHING")
                .bind(signer)
                .bind(f)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    // The unit now replicates the people already in those facilities' scope; its devices see
    // the wider area in the server's info and fetch them afresh.
    let all = Facilities::load(db).await?;
    let unit = all.owner(&account.info.facility);
    for f in facilities {
        let facility = all.owner(f);
        with_db!(db, pool => {
            sqlx::query(
                "INSERT INTO person_scope (facility, person_id, since_seq)
                 SELECT $1, person_id, since_seq FROM person_scope WHERE facility = $2
                 ON CONFLICT (facility, person_id) DO NOTHING",
            )
            .bind(&unit)
            .bind(&facility)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
    }
    Ok(())
}

/// Stops `signer` signing for `facilities`. The signer's unit stops replicating the people it
/// held only through them: the server sends their changes to it no more.
pub async fn remove_signer_scope(
    db: &Db,
    signer: &str,
    facilities: &[String],
) -> Result<(), sqlx::Error> {
    for f in facilities {
        with_db!(db, pool => {
            sqlx::query("DELETE FROM signer_scopes WHERE username = $1 AND facility = $2")
                .bind(signer)
                .bind(f)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    let unit: Option<String> = with_db!(db, pool => {
        sqlx::query_scalar("SELECT facility FROM accounts WHERE username = $1")
            .bind(signer)
            .fetch_optional(pool)
            .await?
    });
    if let Some(unit) = unit {
        narrow_to_area(db, &unit).await?;
    }
    Ok(())
}

/// Drops the people `unit` holds in scope that neither the scope rules nor its area (as now
/// stored) give it. A document that cannot be read is kept: better held than lost to a bug.
async fn narrow_to_area(db: &Db, unit: &str) -> Result<(), sqlx::Error> {
    let all = Facilities::load(db).await?;
    let unit = all.owner(unit);
    let held: Vec<(String, Vec<u8>)> = with_db!(db, pool => {
        sqlx::query(
            "SELECT s.person_id, d.doc FROM person_scope s JOIN documents d ON d.person_id = s.person_id
             WHERE s.facility = $1",
        )
        .bind(&unit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| (r.get("person_id"), r.get("doc")))
        .collect()
    });
    let outside: Vec<String> = held
        .into_iter()
        .filter(|(_, doc)| {
            PersonDoc::load(doc)
                .and_then(|d| d.read())
                .is_ok_and(|p| !all.scope_of(&p).contains(&unit))
        })
        .map(|(id, _)| id)
        .collect();
    for id in outside {
        with_db!(db, pool => {
            sqlx::query("DELETE FROM person_scope WHERE facility = $1 AND person_id = $2")
                .bind(&unit)
                .bind(&id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    Ok(())
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
    let mut by_person: BTreeMap<uuid::Uuid, Vec<&ManifestEntry>> = BTreeMap::new();
    for e in &manifest.entries {
        by_person.entry(e.person_id).or_default().push(e);
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
            if !may_sign.contains(&dose.facility)
                && !may_sign.contains(&facilities.owner(&dose.facility))
            {
                return Ok(Err(refuse(
                    "wrong_facility",
                    format!(
                        "mũi tiêm {} của {} do cơ sở {} tiêm, ngoài phạm vi ký của {}",
                        dose.dose_number, person.full_name, dose.facility, manifest.signer
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

/// Why a signer's registration of a certificate is refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Account(#[from] accounts::AuthError),
    #[error("{}", .0.message)]
    Refused(Refusal),
}

impl From<Refusal> for RegistrationError {
    fn from(r: Refusal) -> Self {
        RegistrationError::Refused(r)
    }
}

/// A signer registers the certificate of their USB token: the statement must name them and be
/// recent, its CMS signature must verify, the certificate's path must validate now, it must
/// carry the serial claimed, and a fresh one-time code must be given. Its issuer and serial are
/// registered together.
pub async fn register_certificate(
    db: &Db,
    trust: &TrustStore,
    user: &SessionUser,
    req: &RegisterCertificateRequest,
) -> Result<AccountInfo, RegistrationError> {
    if user.account.role != Role::Signer {
        return Err(accounts::AuthError::Forbidden {
            role: user.account.role.label(),
        }
        .into());
    }
    let at = parse_time(&req.at)
        .ok_or_else(|| refuse("statement_invalid", "thời điểm đăng ký không đọc được"))?;
    let received = now();
    if (received - at).abs() > time::Duration::minutes(10) {
        return Err(refuse(
            "statement_stale",
            "lời đăng ký đã quá 10 phút hoặc đồng hồ máy lệch: kiểm tra giờ máy rồi đăng ký lại",
        )
        .into());
    }
    let statement =
        sync_protocol::auth::certificate_statement(&user.account.username, &req.serial, &req.at);
    let sig = check_cms(&statement, &req.cms)?;
    let cert = trusted_signer(trust, &sig, received.unix_timestamp())?;
    if cert.serial != normalize_serial(&req.serial) {
        return Err(refuse(
            "certificate_mismatch",
            "chữ ký không do chứng thư có số hiệu đã khai tạo ra",
        )
        .into());
    }
    accounts::verify_fresh_otp(db, user, &req.otp).await?;
    let info = accounts::add_certificate(db, &user.account.username, cert.registration()).await?;
    tracing::info!(user = %user.account.username, serial = %cert.serial, "certificate registered");
    Ok(info)
}
