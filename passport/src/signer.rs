//! A document signer's certificate: its `kid`, its algorithm and its public key, checked with
//! `ring` (signatures) and `x509-parser` (the certificate's own signature by the root).

use crate::error::IssueError;
use sha2::{Digest, Sha256};
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The signature algorithms a passport may use (COSE identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// RSASSA-PSS with SHA-256, MGF1 SHA-256, salt 32 (COSE −37): Vietnam's production sample.
    Ps256,
    /// ECDSA P-256 with SHA-256 (COSE −7).
    Es256,
}

impl Algorithm {
    /// The COSE algorithm.
    pub fn cose(self) -> coset::iana::Algorithm {
        match self {
            Algorithm::Ps256 => coset::iana::Algorithm::PS256,
            Algorithm::Es256 => coset::iana::Algorithm::ES256,
        }
    }

    /// The JOSE/COSE name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ps256 => "PS256",
            Algorithm::Es256 => "ES256",
        }
    }
}

/// The `kid` of a certificate: the first 8 bytes of the SHA-256 of its DER encoding.
pub fn kid_of(der: &[u8]) -> Vec<u8> {
    Sha256::digest(der)[..8].to_vec()
}

/// A document signer's (or the root's) certificate, read once.
#[derive(Debug, Clone)]
pub struct SignerCertificate {
    pub der: Vec<u8>,
    pub kid: Vec<u8>,
    pub algorithm: Algorithm,
    /// The subject's public key as `ring` takes it (PKCS#1 for RSA, the point for EC).
    public_key: Vec<u8>,
    pub subject: String,
    /// Validity, unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl SignerCertificate {
    /// Reads a DER certificate whose key is RSA (PS256) or EC P-256 (ES256).
    pub fn from_der(der: &[u8]) -> Result<SignerCertificate, IssueError> {
        let bad = |e: String| IssueError::Certificate(e);
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad("dữ liệu thừa sau chứng thư".into()));
        }
        let spki = &cert.tbs_certificate.subject_pki;
        let algorithm = if spki.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION {
            Algorithm::Ps256
        } else if spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
            && spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .is_some_and(|oid| oid == OID_EC_P256)
        {
            Algorithm::Es256
        } else {
            return Err(bad("khoá không phải RSA hay EC P-256".into()));
        };
        Ok(SignerCertificate {
            der: der.to_vec(),
            kid: kid_of(der),
            algorithm,
            public_key: spki.subject_public_key.data.to_vec(),
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Whether `signature` (COSE form: raw r‖s for ES256) over `data` is this key's.
    pub fn verifies(&self, data: &[u8], signature: &[u8]) -> bool {
        use ring::signature::{
            ECDSA_P256_SHA256_FIXED, RSA_PSS_2048_8192_SHA256, UnparsedPublicKey,
        };
        let key = match self.algorithm {
            Algorithm::Ps256 => UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &self.public_key),
            Algorithm::Es256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public_key),
        };
        key.verify(data, signature).is_ok()
    }

    /// Whether this certificate was issued (signed) by `issuer`.
    pub fn issued_by(&self, issuer_der: &[u8]) -> bool {
        let (Ok((_, cert)), Ok((_, ca))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(issuer_der),
        ) else {
            return false;
        };
        cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// Whether `at` (unix seconds) is within the certificate's validity.
    pub fn valid_at(&self, at: i64) -> bool {
        self.not_before <= at && at <= self.not_after
    }
}

/// Whether `der` is a self-signed certification authority's certificate (a root), of any key.
pub fn is_root(der: &[u8]) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    cert.is_ca() && cert.issuer() == cert.subject() && cert.verify_signature(None).is_ok()
}
