//! The run's CMS signature and its signer: the signature checked over the manifest (RSA or EC),
//! the signer's certificate path through OpenSSL's verifier at receipt, registered on the account
//! and issued to the facility's organisation.

use super::{Refusal, refuse};
use crate::certificates::{TrustStore, Verified, show};
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::db::rfc5911::{ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME};
use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION};
use der::asn1::OctetString;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use sync_protocol::auth::AccountInfo;
use sync_protocol::manifest::normalize_serial;
use sync_protocol::text;
use x509_cert::Certificate;
use x509_cert::time::Time;

pub(super) fn unix(time: &Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// Checks `signature` over `message` with the public key of `cert` (RSA PKCS#1 v1.5 or ECDSA
/// P-256, SHA-256).
pub(super) fn verify_with(cert: &Certificate, message: &[u8], signature: &[u8]) -> bool {
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
pub(super) struct Signature {
    pub(super) signer: Vec<u8>,
    pub(super) others: Vec<Vec<u8>>,
    pub(super) signed_at: i64,
}

/// The CMS checks: one signer, detached over `content`, the digest and the signature verify
/// with the signer's certificate. Trust in that certificate is checked separately.
pub(super) fn check_cms(content: &[u8], cms: &[u8]) -> Result<Signature, Refusal> {
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
pub(super) fn trusted_signer(
    trust: &TrustStore,
    sig: &Signature,
    at: i64,
) -> Result<Verified, Refusal> {
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
pub(super) fn registered(account: &AccountInfo, cert: &Verified) -> Result<(), Refusal> {
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
pub(super) fn issued_to(
    cert: &Verified,
    facility_code: &str,
    facility_name: &str,
) -> Result<(), Refusal> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_no_cms_signature_are_refused_as_unreadable() {
        for junk in [&b""[..], b"\x30\x03\x02\x01\x05", b"-----BEGIN PKCS7-----"] {
            let refusal = check_cms(b"manifest", junk).err().expect("refused");
            assert_eq!(refusal.code, "cms_invalid", "{junk:?}");
        }
    }
}
