//! Verification of signing runs sent by stations (DESIGN.md §6): the CMS signature over the
//! manifest, the signer's certificate (serial registered on the account, chain to a trusted
//! root, valid at signing time) and every record hash against the dose the server holds. A run
//! that passes marks its doses signed.

use crate::api::AppState;
use crate::auth_api::DataUser;
use crate::with_db;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::db::rfc5911::{ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME};
use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION};
use der::asn1::OctetString;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use sync_protocol::auth::Role;
use sync_protocol::manifest::{Manifest, normalize_serial};
use sync_protocol::person::{format_time, now};
use sync_protocol::wire::{SigningBatchOutcome, SigningBatchUpload};
use sync_protocol::{PersonDoc, record};
use x509_cert::Certificate;
use x509_cert::time::Time;

/// Vietnam's public roots (National Root CA, VNPT-CA, the government's CA G2), from the team's
/// shared trust folder.
const BUILT_IN_ROOTS: [&[u8]; 4] = [
    include_bytes!("../trust/vnrca256.crt"),
    include_bytes!("../trust/vnpt-ca-sha2.crt"),
    include_bytes!("../trust/rootcag2.crt"),
    include_bytes!("../trust/cpcag2.crt"),
];

/// The certificates a facility signature may chain to.
#[derive(Clone)]
pub struct TrustStore {
    roots: Arc<RwLock<Vec<Certificate>>>,
}

/// A PEM certificate re-wrapped as the strict RFC 7468 decoder wants it (64-column lines, LF):
/// CAs publish theirs with 76-column lines and CRLF too (VNPT-CA's root does).
fn normalized_pem(text: &str) -> Option<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = text.find(BEGIN)? + BEGIN.len();
    let stop = start + text[start..].find(END)?;
    let body: Vec<u8> = text[start..stop]
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let mut out = format!("{BEGIN}\n");
    for line in body.chunks(64) {
        out.push_str(std::str::from_utf8(line).ok()?);
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    Some(out)
}

impl Default for TrustStore {
    fn default() -> Self {
        let store = TrustStore {
            roots: Arc::default(),
        };
        for cert in BUILT_IN_ROOTS {
            if let Err(e) = store.add(cert) {
                tracing::error!("built-in trusted root unreadable: {e}");
            }
        }
        store
    }
}

impl TrustStore {
    /// Adds a root (PEM or DER).
    pub fn add(&self, bytes: &[u8]) -> Result<(), String> {
        let der = if bytes.starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            let pem = normalized_pem(text).ok_or("not a PEM certificate")?;
            let (_, doc) = der::pem::decode_vec(pem.as_bytes()).map_err(|e| e.to_string())?;
            doc
        } else {
            bytes.to_vec()
        };
        let cert = Certificate::from_der(&der).map_err(|e| e.to_string())?;
        self.roots
            .write()
            .map_err(|_| "trust store poisoned".to_string())?
            .push(cert);
        Ok(())
    }

    /// Adds every `.crt`/`.pem`/`.cer` file of a directory.
    pub fn add_dir(&self, dir: &std::path::Path) -> Result<usize, String> {
        let mut n = 0;
        for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path
                .extension()
                .is_some_and(|x| x == "crt" || x == "pem" || x == "cer")
            {
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                self.add(&bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn roots(&self) -> Vec<Certificate> {
        self.roots.read().map(|r| r.clone()).unwrap_or_default()
    }
}

/// Why a run is refused.
struct Refusal(&'static str, String);

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal(code, message.into())
}

fn serial_hex(cert: &Certificate) -> String {
    normalize_serial(&hex::encode(cert.tbs_certificate.serial_number.as_bytes()))
}

fn unix(time: &Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn valid_at(cert: &Certificate, at: i64) -> bool {
    let v = &cert.tbs_certificate.validity;
    unix(&v.not_before) <= at && at <= unix(&v.not_after)
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

/// Whether `cert` was signed by `issuer` (names match and the signature verifies).
fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return false;
    }
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    let sig = cert.signature.raw_bytes();
    verify_with(issuer, &tbs, sig)
}

/// A path from `cert` to a trusted root through `intermediates`, every link valid at `at`.
fn chains_to_root(
    cert: &Certificate,
    intermediates: &[Certificate],
    roots: &[Certificate],
    at: i64,
) -> bool {
    let mut current = cert.clone();
    for _ in 0..6 {
        if !valid_at(&current, at) {
            return false;
        }
        if roots
            .iter()
            .any(|r| issued_by(&current, r) && valid_at(r, at))
        {
            return true;
        }
        match intermediates
            .iter()
            .find(|i| *i != &current && issued_by(&current, i))
        {
            Some(next) => current = next.clone(),
            None => return false,
        }
    }
    false
}

/// The CMS checks: returns the signer's certificate and the signing time (unix seconds).
fn check_cms(
    manifest: &[u8],
    cms: &[u8],
    roots: &[Certificate],
) -> Result<(Certificate, i64), Refusal> {
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
    if digest.as_bytes() != Sha256::digest(manifest).as_slice() {
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
    if !valid_at(&cert, signed_at) {
        return Err(refuse(
            "certificate_not_valid",
            "chứng thư số không có hiệu lực vào thời điểm ký",
        ));
    }
    if !chains_to_root(&cert, &certs, roots, signed_at) {
        return Err(refuse(
            "untrusted_certificate",
            "chứng thư số không do tổ chức chứng thực được tin cậy cấp (không nối được tới gốc tin cậy)",
        ));
    }
    Ok((cert, signed_at))
}

/// Verifies a run and, when it passes, records its doses as signed.
pub async fn receive(
    state: &AppState,
    data: &DataUser,
    upload: &SigningBatchUpload,
) -> Result<SigningBatchOutcome, crate::api::ApiError> {
    match verify_and_store(state, data, upload).await? {
        Ok(doses) => Ok(SigningBatchOutcome::Accepted { doses }),
        Err(Refusal("later", message)) => Ok(SigningBatchOutcome::Later { message }),
        Err(Refusal(code, message)) => {
            tracing::warn!(batch = %upload.batch_id, code, "signing run refused: {message}");
            Ok(SigningBatchOutcome::Refused {
                code: code.into(),
                message,
            })
        }
    }
}

async fn verify_and_store(
    state: &AppState,
    data: &DataUser,
    upload: &SigningBatchUpload,
) -> Result<Result<u32, Refusal>, crate::api::ApiError> {
    let account = &data.user.account;
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
    let owner = crate::api::scope_owner(state, &data.device).await?;
    if manifest.facility != account.facility
        || (manifest.facility != data.device.facility && manifest.facility != owner)
    {
        return Ok(Err(refuse(
            "wrong_facility",
            "lần ký thuộc cơ sở khác với tài khoản hoặc thiết bị",
        )));
    }
    // A run sent again (its answer was lost) is answered as before; a different run under a
    // used id is refused.
    let already: Option<(Vec<u8>, Vec<u8>, String)> = with_db!(&state.db, pool => {
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
    let (cert, signed_at) = match check_cms(&upload.manifest, &upload.cms, &state.trust.roots()) {
        Ok(v) => v,
        Err(r) => return Ok(Err(r)),
    };
    let serial = serial_hex(&cert);
    if normalize_serial(&manifest.certificate_serial) != serial
        || !account
            .certificate_serials
            .iter()
            .any(|s| normalize_serial(s) == serial)
    {
        return Ok(Err(refuse(
            "certificate_not_registered",
            format!(
                "chứng thư số {serial} chưa được đăng ký cho tài khoản {}",
                account.username
            ),
        )));
    }
    // A signer signs their own facility's doses (its mobile teams' included), nobody else's.
    let facilities = crate::scope::Facilities::new(crate::admin::facilities(&state.db).await?);
    // Every record hash against the dose as the server holds it.
    let mut by_person: BTreeMap<uuid::Uuid, Vec<&sync_protocol::manifest::ManifestEntry>> =
        BTreeMap::new();
    for e in &manifest.entries {
        by_person.entry(e.person_id).or_default().push(e);
    }
    for (person_id, entries) in &by_person {
        let bytes: Option<Vec<u8>> = with_db!(&state.db, pool => {
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
            if facilities.owner(&dose.facility) != manifest.facility {
                return Ok(Err(refuse(
                    "wrong_facility",
                    format!(
                        "mũi tiêm {} của {} do cơ sở {} tiêm, không thuộc cơ sở {}",
                        dose.dose_number, person.full_name, dose.facility, manifest.facility
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
    }
    let received = format_time(now());
    let signed_text = time::OffsetDateTime::from_unix_timestamp(signed_at)
        .map(format_time)
        .unwrap_or_default();
    with_db!(&state.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO signing_batches (id, facility, signer, certificate_serial, signed_at, doses, manifest, cms, device_id, received_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(upload.batch_id.to_string())
            .bind(&manifest.facility)
            .bind(&manifest.signer)
            .bind(&serial)
            .bind(&signed_text)
            .bind(manifest.entries.len() as i64)
            .bind(&upload.manifest)
            .bind(&upload.cms)
            .bind(&data.device.id)
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

/// A signer registers the certificate of their USB token: the statement must name them and be
/// recent, its CMS signature must verify and chain to a trusted root, the certificate must be
/// valid now and carry the serial claimed, and a fresh one-time code must be given.
pub async fn register_certificate(
    state: &AppState,
    user: &crate::accounts::SessionUser,
    req: &sync_protocol::auth::RegisterCertificateRequest,
) -> Result<sync_protocol::auth::AccountInfo, crate::api::ApiError> {
    use axum::http::StatusCode;
    let refused = |code: &'static str, message: String| {
        crate::api::ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    };
    if user.account.role != Role::Signer {
        return Err(crate::api::ApiError::new(
            StatusCode::FORBIDDEN,
            "not_signer",
            "chỉ thủ trưởng đơn vị (vai trò ký số) đăng ký chứng thư số",
        ));
    }
    let at = sync_protocol::person::parse_time(&req.at).ok_or_else(|| {
        refused(
            "statement_invalid",
            "thời điểm đăng ký không đọc được".into(),
        )
    })?;
    if (now() - at).abs() > time::Duration::minutes(10) {
        return Err(refused(
            "statement_stale",
            "lời đăng ký đã quá 10 phút hoặc đồng hồ máy lệch: kiểm tra giờ máy rồi đăng ký lại"
                .into(),
        ));
    }
    let serial = normalize_serial(&req.serial);
    let statement =
        sync_protocol::auth::certificate_statement(&user.account.username, &req.serial, &req.at);
    let (cert, _) = check_cms(&statement, &req.cms, &state.trust.roots())
        .map_err(|Refusal(code, message)| refused(code, message))?;
    if serial_hex(&cert) != serial {
        return Err(refused(
            "certificate_mismatch",
            "chữ ký không do chứng thư có số hiệu đã khai tạo ra".into(),
        ));
    }
    if !valid_at(&cert, now().unix_timestamp()) {
        return Err(refused(
            "certificate_not_valid",
            format!("chứng thư số {serial} không còn hiệu lực lúc này"),
        ));
    }
    crate::accounts::verify_fresh_otp(&state.db, user, &req.otp).await?;
    let info =
        crate::accounts::add_certificate_serial(&state.db, &user.account.username, &serial).await?;
    tracing::info!(user = %user.account.username, serial, "certificate registered");
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_root_loads_whatever_its_line_width_or_endings() {
        assert_eq!(TrustStore::default().roots().len(), BUILT_IN_ROOTS.len());
    }
}
