//! CMS SignedData (RFC 5652) over detached content, with the signer's certificate, SHA-256 and
//! the signing time as signed attributes. The token signs only the DER of the signed attributes
//! (about 100 bytes), once, whatever the size of the content.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier,
    SignerInfo, SignerInfos,
};
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ID_SHA_256, SHA_256_WITH_RSA_ENCRYPTION};
use der::asn1::{OctetString, SetOfVec, UintRef};
use der::{Any, Decode, Encode};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::time::Time;

/// The key algorithm of a signer, which decides the signature's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rsa,
    /// ECDSA on P-256 with SHA-256 (the token returns raw r‖s).
    EcP256,
}

/// Why CMS could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CmsError {
    #[error("chứng thư số không đọc được: {0}")]
    Certificate(String),
    #[error("không tạo được chữ ký CMS: {0}")]
    Encoding(String),
}

fn enc(e: der::Error) -> CmsError {
    CmsError::Encoding(e.to_string())
}

/// What the token must sign for `content`: the DER of the signed attributes, and those
/// attributes to put in the SignerInfo.
pub fn signed_attributes(
    content: &[u8],
    signing_time: std::time::Duration,
) -> Result<(Vec<u8>, SignedAttributes), CmsError> {
    let digest = Sha256::digest(content);
    let attr = |oid, value: Any| -> Result<Attribute, CmsError> {
        let mut values = SetOfVec::new();
        values.insert(value).map_err(enc)?;
        Ok(Attribute { oid, values })
    };
    let time = Time::UtcTime(der::asn1::UtcTime::from_unix_duration(signing_time).map_err(enc)?);
    let mut attrs = SetOfVec::new();
    attrs
        .insert(attr(
            ID_CONTENT_TYPE,
            Any::encode_from(&ID_DATA).map_err(enc)?,
        )?)
        .map_err(enc)?;
    attrs
        .insert(attr(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(digest.to_vec()).map_err(enc)?).map_err(enc)?,
        )?)
        .map_err(enc)?;
    attrs
        .insert(attr(
            const_oid::db::rfc5911::ID_SIGNING_TIME,
            Any::encode_from(&time).map_err(enc)?,
        )?)
        .map_err(enc)?;
    // The signature covers the attributes encoded as a SET OF (RFC 5652 §5.4).
    let der = attrs.to_der().map_err(enc)?;
    Ok((der, attrs))
}

/// DER `SEQUENCE { r INTEGER, s INTEGER }` from a token's raw `r‖s` ECDSA signature.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, CmsError> {
    #[derive(der::Sequence)]
    struct EcdsaSignature<'a> {
        r: UintRef<'a>,
        s: UintRef<'a>,
    }
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(CmsError::Encoding(format!(
            "chữ ký ECDSA dài {} byte",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let trim = |b: &'_ [u8]| -> Result<Vec<u8>, CmsError> {
        let start = b.iter().position(|&x| x != 0).unwrap_or(b.len() - 1);
        Ok(b[start..].to_vec())
    };
    let (r, s) = (trim(r)?, trim(s)?);
    EcdsaSignature {
        r: UintRef::new(&r).map_err(enc)?,
        s: UintRef::new(&s).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

/// A detached CMS SignedData as DER, from the signer's certificate, the certificates of the
/// authorities between it and a root (`chain`, DER), the signed attributes and the signature
/// over them.
pub fn signed_data(
    certificate_der: &[u8],
    chain: &[Vec<u8>],
    kind: KeyKind,
    attrs: SignedAttributes,
    signature: Vec<u8>,
) -> Result<Vec<u8>, CmsError> {
    let cert =
        Certificate::from_der(certificate_der).map_err(|e| CmsError::Certificate(e.to_string()))?;
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    };
    let signature_algorithm = AlgorithmIdentifierOwned {
        oid: match kind {
            KeyKind::Rsa => SHA_256_WITH_RSA_ENCRYPTION,
            KeyKind::EcP256 => ECDSA_WITH_SHA_256,
        },
        parameters: match kind {
            KeyKind::Rsa => Some(Any::null()),
            KeyKind::EcP256 => None,
        },
    };
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm,
        signature: OctetString::new(signature).map_err(enc)?,
        unsigned_attrs: None,
    };
    let mut digests = SetOfVec::new();
    digests.insert(sha256).map_err(enc)?;
    let mut certificates = SetOfVec::new();
    certificates
        .insert(CertificateChoices::Certificate(cert))
        .map_err(enc)?;
    for der in chain.iter().filter(|d| d.as_slice() != certificate_der) {
        let ca = Certificate::from_der(der).map_err(|e| CmsError::Certificate(e.to_string()))?;
        certificates
            .insert(CertificateChoices::Certificate(ca))
            .map_err(enc)?;
    }
    let mut signers = SetOfVec::new();
    signers.insert(signer).map_err(enc)?;
    let data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: digests,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(certificates)),
        crls: None,
        signer_infos: SignerInfos(signers),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&data).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_ecdsa_signature_becomes_two_der_integers() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero to stay positive
        raw[63] = 0x01; // s is small
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..5], &[0x02, 0x21, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_err());
    }

    #[test]
    fn signed_attributes_carry_the_content_digest() {
        let (der, attrs) =
            signed_attributes(b"manifest", std::time::Duration::from_secs(1_795_000_000)).unwrap();
        assert_eq!(der[0], 0x31, "a SET OF");
        assert_eq!(attrs.len(), 3);
        let digest = Sha256::digest(b"manifest");
        assert!(der.windows(32).any(|w| w == digest.as_slice()));
    }
}
