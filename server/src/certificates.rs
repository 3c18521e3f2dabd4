//! Facility certificates checked as a certification authority would (docs/design.md §6, §9): the
//! roots the server trusts, the revocation lists the administrator keeps current, and the path
//! from a signer's certificate to a root validated by OpenSSL's verifier (`X509_verify_cert`) —
//! CA flags, key usage, path length, the validity of every link at the time of the check, a
//! maximum depth and, when a CRL directory is set, revocation. Nothing here compares names by
//! hand.

use openssl::nid::Nid;
use openssl::ssl::SslFiletype;
use openssl::stack::Stack;
use openssl::x509::store::{X509Lookup, X509StoreBuilder};
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{
    CrlStatus, X509, X509Crl, X509KeyUsage, X509NameRef, X509PurposeId, X509Ref, X509StoreContext,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use sync_protocol::auth::{RegisteredCertificate, issuer_key};
use sync_protocol::manifest::normalize_serial;

/// Vietnam's public roots (National Root CA, VNPT-CA, the government's CA G2), from the team's
/// shared trust folder.
const BUILT_IN_ROOTS: [&[u8]; 4] = [
    include_bytes!("../trust/vnrca256.crt"),
    include_bytes!("../trust/vnpt-ca-sha2.crt"),
    include_bytes!("../trust/rootcag2.crt"),
    include_bytes!("../trust/cpcag2.crt"),
];

/// The most certificates between a signer's certificate and a root (real Vietnamese signer
/// certificates have one intermediate, sometimes two).
pub const MAX_INTERMEDIATES: i32 = 3;

/// Why a certificate is not trusted, in Vietnamese, naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateRefusal {
    #[error("chứng thư số không đọc được: {0}")]
    Unreadable(String),
    #[error(
        "chứng thư số của {subject} không do tổ chức chứng thực được tin cậy cấp (không nối được tới chứng thư gốc mà máy chủ tin cậy; tổ chức cấp: {issuer})"
    )]
    Untrusted { subject: String, issuer: String },
    #[error(
        "chứng thư {subject} không phải chứng thư của tổ chức chứng thực (thiếu CA:TRUE hoặc quyền ký chứng thư) nên không cấp được chứng thư khác"
    )]
    NotACa { subject: String },
    #[error("chuỗi chứng thư dài quá mức cho phép (giới hạn độ dài đường dẫn của {subject})")]
    PathTooLong { subject: String },
    #[error("chứng thư {subject} đã hết hiệu lực từ {until}")]
    Expired { subject: String, until: String },
    #[error("chứng thư {subject} chưa có hiệu lực (từ {from})")]
    NotYetValid { subject: String, from: String },
    #[error("chứng thư số {serial} của {subject} đã bị thu hồi ngày {on}")]
    Revoked {
        serial: String,
        subject: String,
        on: String,
    },
    #[error(
        "chưa có danh sách thu hồi (CRL) còn hạn của tổ chức cấp {issuer}: quản trị viên cần cập nhật thư mục CRL của máy chủ"
    )]
    NoCrl { issuer: String },
    #[error(
        "chứng thư {subject} không được dùng để ký số (thiếu digitalSignature/nonRepudiation trong keyUsage)"
    )]
    KeyUsage { subject: String },
    #[error("chứng thư số không hợp lệ ({what}) ở {subject}")]
    Invalid { subject: String, what: String },
}

impl CertificateRefusal {
    /// The stable machine name.
    pub fn code(&self) -> &'static str {
        match self {
            CertificateRefusal::Unreadable(_) => "certificate_unreadable",
            CertificateRefusal::Untrusted { .. } => "untrusted_certificate",
            CertificateRefusal::NotACa { .. } => "issuer_not_a_ca",
            CertificateRefusal::PathTooLong { .. } => "path_too_long",
            CertificateRefusal::Expired { .. } => "certificate_expired",
            CertificateRefusal::NotYetValid { .. } => "certificate_not_yet_valid",
            CertificateRefusal::Revoked { .. } => "certificate_revoked",
            CertificateRefusal::NoCrl { .. } => "crl_missing",
            CertificateRefusal::KeyUsage { .. } => "key_usage",
            CertificateRefusal::Invalid { .. } => "certificate_invalid",
        }
    }
}

/// What the signing checks need of a certificate whose path was validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The serial, normalised hex.
    pub serial: String,
    pub issuer: String,
    pub issuer_key: String,
    pub subject: String,
    /// The organisation (O) the certificate was issued to.
    pub organization: Option<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl Verified {
    /// The registration of this certificate on an account.
    pub fn registration(&self) -> RegisteredCertificate {
        RegisteredCertificate {
            serial: self.serial.clone(),
            issuer: self.issuer.clone(),
            issuer_key: self.issuer_key.clone(),
        }
    }
}

/// The roots facility signatures must chain to, and where the CRLs are.
#[derive(Clone)]
pub struct TrustStore {
    roots: Arc<RwLock<Vec<X509>>>,
    crl_dir: Arc<RwLock<Option<PathBuf>>>,
}

impl Default for TrustStore {
    fn default() -> Self {
        let store = TrustStore {
            roots: Arc::default(),
            crl_dir: Arc::default(),
        };
        for cert in BUILT_IN_ROOTS {
            if let Err(e) = store.add(cert) {
                tracing::error!("built-in trusted root unreadable: {e}");
            }
        }
        store
    }
}

/// A name as people read it: `CN=…, O=…, C=VN`.
pub fn name_text(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn unix(t: &openssl::asn1::Asn1TimeRef) -> i64 {
    openssl::asn1::Asn1Time::from_unix(0)
        .and_then(|epoch| epoch.diff(t))
        .map(|d| i64::from(d.days) * 86_400 + i64::from(d.secs))
        .unwrap_or(0)
}

/// A unix time as people read it (dd/mm/yyyy hh:mm at +07:00).
pub fn show(unix_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .map(|t| {
            let t = t.to_offset(sync_protocol::VIETNAM);
            format!(
                "{:02}/{:02}/{} {:02}:{:02}",
                t.day(),
                u8::from(t.month()),
                t.year(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

/// Reads one or more certificates, PEM or DER.
fn read_certificates(bytes: &[u8]) -> Result<Vec<X509>, String> {
    if bytes.starts_with(b"-----BEGIN") || bytes.windows(10).any(|w| w == b"-----BEGIN") {
        X509::stack_from_pem(bytes).map_err(|e| e.to_string())
    } else {
        X509::from_der(bytes)
            .map(|c| vec![c])
            .map_err(|e| e.to_string())
    }
}

/// The DER of a certificate given as PEM or DER.
pub fn der_of(bytes: &[u8]) -> Result<Vec<u8>, CertificateRefusal> {
    read_certificates(bytes)
        .map_err(CertificateRefusal::Unreadable)?
        .first()
        .ok_or_else(|| CertificateRefusal::Unreadable("không có chứng thư nào".into()))?
        .to_der()
        .map_err(|e| CertificateRefusal::Unreadable(e.to_string()))
}

/// The facts of a certificate, from DER.
pub fn facts(der: &[u8]) -> Result<Verified, CertificateRefusal> {
    let cert = X509::from_der(der).map_err(|e| CertificateRefusal::Unreadable(e.to_string()))?;
    facts_of(&cert)
}

fn facts_of(cert: &X509Ref) -> Result<Verified, CertificateRefusal> {
    let unreadable = |e: openssl::error::ErrorStack| CertificateRefusal::Unreadable(e.to_string());
    let serial = cert
        .serial_number()
        .to_bn()
        .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
        .map_err(unreadable)?;
    let issuer_der = cert.issuer_name().to_der().map_err(unreadable)?;
    Ok(Verified {
        serial: normalize_serial(&serial),
        issuer: name_text(cert.issuer_name()),
        issuer_key: issuer_key(&issuer_der),
        subject: name_text(cert.subject_name()),
        organization: cert
            .subject_name()
            .entries_by_nid(Nid::ORGANIZATIONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok()),
        not_before: unix(cert.not_before()),
        not_after: unix(cert.not_after()),
    })
}

impl TrustStore {
    /// Adds roots (PEM, one or more, or DER).
    pub fn add(&self, bytes: &[u8]) -> Result<(), String> {
        let certs = read_certificates(bytes)?;
        if certs.is_empty() {
            return Err("không có chứng thư nào".into());
        }
        self.roots
            .write()
            .map_err(|_| "trust store poisoned".to_string())?
            .extend(certs);
        Ok(())
    }

    /// Adds every `.crt`/`.pem`/`.cer` file of a directory.
    pub fn add_dir(&self, dir: &Path) -> Result<usize, String> {
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

    /// Checks revocation against the CRLs (`.crl`/`.pem`/`.der`) of `dir`, read again at every
    /// check so that a CRL the administrator replaces takes effect at once. Returns how many
    /// CRLs it holds now.
    pub fn set_crl_dir(&self, dir: Option<&Path>) -> Result<usize, String> {
        let count = match dir {
            Some(d) => crl_files(d)?.len(),
            None => 0,
        };
        *self
            .crl_dir
            .write()
            .map_err(|_| "trust store poisoned".to_string())? = dir.map(Path::to_path_buf);
        Ok(count)
    }

    fn roots(&self) -> Vec<X509> {
        self.roots.read().map(|r| r.clone()).unwrap_or_default()
    }

    fn crl_dir(&self) -> Option<PathBuf> {
        self.crl_dir.read().ok().and_then(|d| d.clone())
    }

    /// Validates the path from `leaf_der` through `intermediates` (DER, as the CMS carries
    /// them) to a trusted root at unix time `at`, then the leaf's key usage. Only the server's
    /// own roots are trusted: certificates in the CMS can only be intermediates.
    pub fn verify(
        &self,
        leaf_der: &[u8],
        intermediates: &[Vec<u8>],
        at: i64,
    ) -> Result<Verified, CertificateRefusal> {
        let unreadable =
            |e: openssl::error::ErrorStack| CertificateRefusal::Unreadable(e.to_string());
        let leaf =
            X509::from_der(leaf_der).map_err(|e| CertificateRefusal::Unreadable(e.to_string()))?;
        let mut chain = Stack::new().map_err(unreadable)?;
        for der in intermediates {
            if der.as_slice() != leaf_der {
                chain
                    .push(X509::from_der(der).map_err(unreadable)?)
                    .map_err(unreadable)?;
            }
        }
        let mut builder = X509StoreBuilder::new().map_err(unreadable)?;
        for root in self.roots() {
            builder.add_cert(root).map_err(unreadable)?;
        }
        let mut flags = X509VerifyFlags::X509_STRICT;
        let crl_dir = self.crl_dir();
        if let Some(dir) = &crl_dir {
            let files = crl_files(dir).map_err(CertificateRefusal::Unreadable)?;
            let lookup = builder.add_lookup(X509Lookup::file()).map_err(unreadable)?;
            for (path, kind) in files {
                if let Err(e) = lookup.load_crl_file(&path, kind) {
                    tracing::error!("CRL {} unreadable: {e}", path.display());
                }
            }
            flags |= X509VerifyFlags::CRL_CHECK;
        }
        builder.set_flags(flags).map_err(unreadable)?;
        let mut param = X509VerifyParam::new().map_err(unreadable)?;
        param.set_time(at as _);
        param.set_depth(MAX_INTERMEDIATES);
        // Organisation certificates often lack the S/MIME or code-signing purposes: the key
        // usage that matters is checked below.
        param.set_purpose(X509PurposeId::ANY).map_err(unreadable)?;
        builder.set_param(&param).map_err(unreadable)?;
        let store = builder.build();
        let mut ctx = X509StoreContext::new().map_err(unreadable)?;
        let outcome = ctx
            .init(&store, &leaf, &chain, |c| {
                let ok = c.verify_cert()?;
                let failed = c.current_cert().map(|x| x.to_owned());
                Ok((ok, c.error().as_raw(), failed))
            })
            .map_err(unreadable)?;
        if let (false, code, failed) = outcome {
            let failed = failed.unwrap_or_else(|| leaf.clone());
            return Err(refusal(code, &failed, &leaf, crl_dir.as_deref()));
        }
        let facts = facts_of(&leaf)?;
        let usable = leaf.key_usage().is_some_and(|u| {
            u.intersects(X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::NON_REPUDIATION)
        });
        if !usable {
            return Err(CertificateRefusal::KeyUsage {
                subject: facts.subject,
            });
        }
        Ok(facts)
    }
}

/// The CRL files of a directory with their encoding.
fn crl_files(dir: &Path) -> Result<Vec<(PathBuf, SslFiletype)>, String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if !path
            .extension()
            .is_some_and(|x| x == "crl" || x == "pem" || x == "der")
        {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let kind = if bytes.starts_with(b"-----BEGIN") {
            X509Crl::from_pem(&bytes).map(|_| SslFiletype::PEM)
        } else {
            X509Crl::from_der(&bytes).map(|_| SslFiletype::ASN1)
        }
        .map_err(|e| format!("{}: không phải CRL ({e})", path.display()))?;
        out.push((path, kind));
    }
    Ok(out)
}

/// When a CRL of `dir` says `cert` was revoked.
fn revoked_on(cert: &X509Ref, dir: Option<&Path>) -> Option<i64> {
    let files = crl_files(dir?).ok()?;
    for (path, kind) in files {
        let bytes = std::fs::read(&path).ok()?;
        let crl = if kind.as_raw() == SslFiletype::PEM.as_raw() {
            X509Crl::from_pem(&bytes)
        } else {
            X509Crl::from_der(&bytes)
        }
        .ok()?;
        if let CrlStatus::Revoked(entry) = crl.get_by_serial(cert.serial_number()) {
            return Some(unix(entry.revocation_date()));
        }
    }
    None
}

/// The refusal for OpenSSL's verification error `code` at `failed`.
fn refusal(code: i32, failed: &X509Ref, leaf: &X509Ref, crls: Option<&Path>) -> CertificateRefusal {
    use openssl_sys as ffi;
    let subject = name_text(failed.subject_name());
    match code {
        ffi::X509_V_ERR_CERT_HAS_EXPIRED => CertificateRefusal::Expired {
            subject,
            until: show(unix(failed.not_after())),
        },
        ffi::X509_V_ERR_CERT_NOT_YET_VALID => CertificateRefusal::NotYetValid {
            subject,
            from: show(unix(failed.not_before())),
        },
        ffi::X509_V_ERR_CERT_REVOKED => CertificateRefusal::Revoked {
            serial: facts_of(failed).map(|f| f.serial).unwrap_or_default(),
            subject,
            on: revoked_on(failed, crls).map(show).unwrap_or_default(),
        },
        ffi::X509_V_ERR_UNABLE_TO_GET_CRL | ffi::X509_V_ERR_CRL_HAS_EXPIRED => {
            CertificateRefusal::NoCrl {
                issuer: name_text(failed.issuer_name()),
            }
        }
        ffi::X509_V_ERR_INVALID_CA
        | ffi::X509_V_ERR_KEYUSAGE_NO_CERTSIGN
        | ffi::X509_V_ERR_INVALID_NON_CA => CertificateRefusal::NotACa { subject },
        ffi::X509_V_ERR_PATH_LENGTH_EXCEEDED | ffi::X509_V_ERR_CERT_CHAIN_TOO_LONG => {
            CertificateRefusal::PathTooLong { subject }
        }
        ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        | ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | ffi::X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
        | ffi::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        | ffi::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN => CertificateRefusal::Untrusted {
            subject: name_text(leaf.subject_name()),
            issuer: name_text(failed.issuer_name()),
        },
        _ => CertificateRefusal::Invalid {
            subject,
            // SAFETY: `code` is what `X509_STORE_CTX_get_error` returned, a valid result.
            what: unsafe { openssl::x509::X509VerifyResult::from_raw(code) }
                .error_string()
                .to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_root_loads_whatever_its_line_width_or_endings() {
        assert_eq!(TrustStore::default().roots().len(), BUILT_IN_ROOTS.len());
    }
}
