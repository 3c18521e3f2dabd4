//! The trust list verifiers carry offline: the root (country signing CA), the document signers'
//! certificates and the revoked UVCIs' hashes, as one COSE_Sign1 signed by a listed signer.
//! A verifier opens it ([`Verifier::open`]) and checks passports with it ([`Verifier::check`]).

use crate::codec::{self, Claims};
use crate::error::{IssueError, Refusal, TrustListError};
use crate::payload::HealthCertificate;
use crate::signer::{SignerCertificate, is_root};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The trust list format's version.
const VERSION: u32 = 1;
/// Clock difference tolerated between issuer and verifier.
const CLOCK_SKEW: i64 = 300;

/// The hash a revocation list carries for a UVCI: the first 16 bytes of SHA-256 of the `ci`
/// value as written (the EU DCC revocation design's "UCI" hash, truncated as its lists are).
pub fn revocation_hash(uvci: &str) -> [u8; 16] {
    let digest = Sha256::digest(uvci.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// What a trust list holds, before signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustList {
    pub version: u32,
    /// Unix seconds: a verifier never replaces its list with an older one.
    pub issued_at: i64,
    /// The root (country signing CA), DER.
    pub root: ByteBuf,
    /// Document signers' certificates, DER.
    pub signers: Vec<ByteBuf>,
    /// Revoked UVCIs ([`revocation_hash`]).
    pub revoked: Vec<ByteBuf>,
}

impl TrustList {
    /// A list of `signers` under `root`, issued at `issued_at`, revoking `revoked`.
    pub fn new(
        issued_at: i64,
        root: Vec<u8>,
        signers: Vec<Vec<u8>>,
        revoked: Vec<[u8; 16]>,
    ) -> TrustList {
        TrustList {
            version: VERSION,
            issued_at,
            root: ByteBuf::from(root),
            signers: signers.into_iter().map(ByteBuf::from).collect(),
            revoked: revoked
                .into_iter()
                .map(|h| ByteBuf::from(h.to_vec()))
                .collect(),
        }
    }

    /// The list signed by `signer` (one of its signers) through `sign` (the HSM).
    pub fn sign(
        &self,
        signer: &SignerCertificate,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, IssueError> {
        let mut payload = Vec::new();
        coset::cbor::ser::into_writer(self, &mut payload)
            .map_err(|e| IssueError::Encoding(e.to_string()))?;
        codec::sign1(payload, signer, sign)
    }
}

/// A trust list checked and ready to verify passports offline.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub issued_at: i64,
    pub root: Vec<u8>,
    signers: BTreeMap<Vec<u8>, SignerCertificate>,
    revoked: BTreeSet<[u8; 16]>,
    /// Listed certificates not issued by the root (left out).
    pub rejected_signers: usize,
}

/// The outcome of checking a passport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by a trusted signer, unchanged, within its dates, not revoked.
    Valid,
    /// Genuine, but past its expiry.
    Expired,
    /// Genuine, but its UVCI is revoked (the dose or identity was corrected).
    Revoked,
    /// Not accepted, with the reason.
    Refused(Refusal),
}

impl Verdict {
    /// A stable code for tests, logs and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Expired => "expired",
            Verdict::Revoked => "revoked",
            Verdict::Refused(r) => r.code(),
        }
    }

    /// What the screen says, in Vietnamese.
    pub fn message(&self) -> String {
        match self {
            Verdict::Valid => {
                "Hợp lệ: hộ chiếu vắc xin do đơn vị tin cậy ký, chưa bị sửa, còn hạn".into()
            }
            Verdict::Expired => "Hết hạn: hộ chiếu thật nhưng đã quá ngày hết hạn".into(),
            Verdict::Revoked => {
                "Đã thu hồi: hộ chiếu này đã được thay bằng hộ chiếu mới (dữ liệu được đính chính)"
                    .into()
            }
            Verdict::Refused(r) => format!("Không hợp lệ: {r}"),
        }
    }
}

/// A checked passport: the verdict and, when it could be read, what it says.
#[derive(Debug, Clone)]
pub struct Checked {
    pub verdict: Verdict,
    pub claims: Option<Claims>,
    pub certificate: Option<HealthCertificate>,
    /// The subject of the certificate that signed it, when known.
    pub signer: Option<String>,
}

impl Verifier {
    /// Opens a signed trust list. `pinned_root` is the root this verifier already trusts (a
    /// list under another root is refused); `None` on the first list, taken from the
    /// verifier's own authenticated server.
    pub fn open(signed: &[u8], pinned_root: Option<&[u8]>) -> Result<Verifier, TrustListError> {
        let unreadable = |e: String| TrustListError::Unreadable(e);
        let sign1 = codec::read_sign1(signed).map_err(|e| unreadable(e.to_string()))?;
        let (kid, algorithm) =
            codec::kid_and_algorithm(&sign1).map_err(|e| unreadable(e.to_string()))?;
        let payload = sign1
            .payload
            .as_deref()
            .ok_or_else(|| unreadable("không có nội dung".into()))?;
        let list: TrustList =
            coset::cbor::de::from_reader(payload).map_err(|e| unreadable(e.to_string()))?;
        if list.version != VERSION {
            return Err(unreadable(format!("phiên bản {}", list.version)));
        }
        if pinned_root.is_some_and(|root| root != list.root.as_slice()) {
            return Err(TrustListError::OtherRoot);
        }
        if !is_root(&list.root) {
            return Err(TrustListError::Root(
                "không phải chứng thư gốc tự ký của một CA".into(),
            ));
        }
        let mut signers = BTreeMap::new();
        let mut rejected_signers = 0;
        for der in &list.signers {
            match SignerCertificate::from_der(der) {
                Ok(cert) if cert.issued_by(&list.root) => {
                    signers.insert(cert.kid.clone(), cert);
                }
                _ => rejected_signers += 1,
            }
        }
        let list_signer = signers
            .get(&kid)
            .filter(|s| s.algorithm == algorithm)
            .ok_or(TrustListError::UnknownListSigner)?;
        sign1
            .verify_signature(b"", |sig, data| {
                list_signer.verifies(data, sig).then_some(()).ok_or(())
            })
            .map_err(|()| TrustListError::BadSignature)?;
        let revoked = list
            .revoked
            .iter()
            .filter_map(|h| <[u8; 16]>::try_from(h.as_slice()).ok())
            .collect();
        Ok(Verifier {
            issued_at: list.issued_at,
            root: list.root.into_vec(),
            signers,
            revoked,
            rejected_signers,
        })
    }

    /// Opens `signed` to replace this verifier's list: same root, not older.
    pub fn update(&self, signed: &[u8]) -> Result<Verifier, TrustListError> {
        let next = Verifier::open(signed, Some(&self.root))?;
        if next.issued_at < self.issued_at {
            return Err(TrustListError::Older);
        }
        Ok(next)
    }

    /// The trusted document signers.
    pub fn signers(&self) -> impl Iterator<Item = &SignerCertificate> {
        self.signers.values()
    }

    /// How many UVCIs the list revokes.
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// Checks a passport's text at `now` (unix seconds). Never panics, whatever the text.
    pub fn check(&self, text: &str, now: i64) -> Checked {
        let decoded = match codec::decode(text) {
            Ok(d) => d,
            Err(r) => {
                return Checked {
                    verdict: Verdict::Refused(r),
                    claims: None,
                    certificate: None,
                    signer: None,
                };
            }
        };
        let mut checked = Checked {
            verdict: Verdict::Valid,
            claims: Some(decoded.claims.clone()),
            certificate: Some(decoded.certificate.clone()),
            signer: None,
        };
        checked.verdict = match self.judge(&decoded, now) {
            Ok((verdict, signer)) => {
                checked.signer = Some(signer);
                verdict
            }
            Err(refusal) => Verdict::Refused(refusal),
        };
        checked
    }

    fn judge(&self, d: &codec::Decoded, now: i64) -> Result<(Verdict, String), Refusal> {
        let signer = self
            .signers
            .get(&d.kid)
            .ok_or_else(|| Refusal::UnknownSigner(hex::encode(&d.kid)))?;
        if signer.algorithm != d.algorithm {
            return Err(Refusal::Algorithm(format!(
                "{} cho khoá {}",
                d.algorithm.name(),
                signer.algorithm.name()
            )));
        }
        d.sign1
            .verify_signature(b"", |sig, data| {
                signer.verifies(data, sig).then_some(()).ok_or(())
            })
            .map_err(|()| Refusal::BadSignature)?;
        // Only now is the content the issuer's: judge what it says.
        d.certificate.check_schema()?;
        let c = &d.claims;
        if c.issuer != crate::payload::COUNTRY {
            return Err(Refusal::Claims(format!("nước cấp {}", c.issuer)));
        }
        if c.expires_at <= c.issued_at {
            return Err(Refusal::Claims("hết hạn trước ngày cấp".into()));
        }
        if c.issued_at > now + CLOCK_SKEW {
            return Err(Refusal::Claims("ngày cấp ở tương lai".into()));
        }
        if !signer.valid_at(c.issued_at) || c.expires_at > signer.not_after {
            return Err(Refusal::SignerValidity);
        }
        let ci = d
            .certificate
            .vaccination_entry()
            .map(|v| v.ci.as_str())
            .unwrap_or_default();
        let verdict = if self.revoked.contains(&revocation_hash(ci)) {
            Verdict::Revoked
        } else if now >= c.expires_at {
            Verdict::Expired
        } else {
            Verdict::Valid
        };
        Ok((verdict, signer.subject.clone()))
    }
}
