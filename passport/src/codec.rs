//! `HC1:` + Base45(zlib(COSE_Sign1(CWT))) in both directions. Decoding is bounded at every
//! step (text length, inflated size) and never trusts a field before its type is checked.

use crate::error::{IssueError, Refusal};
use crate::payload::HealthCertificate;
use crate::signer::{Algorithm, SignerCertificate};
use coset::cbor::value::Value;
use coset::{CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use std::io::{Read, Write};

/// The prefix of a health certificate's text.
pub const PREFIX: &str = "HC1:";
/// A QR code holds at most 4,296 alphanumeric characters; anything longer is not a passport.
pub const MAX_TEXT: usize = 4_296;
/// A vaccination certificate inflates to well under 1 KB; refuse a zip bomb early.
const MAX_INFLATED: u64 = 16 * 1024;

const CLAIM_ISSUER: i64 = 1;
const CLAIM_EXPIRES: i64 = 4;
const CLAIM_ISSUED_AT: i64 = 6;
const CLAIM_HCERT: i64 = -260;

/// The CWT claims besides the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The issuing country.
    pub issuer: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Signs `certificate` with `signer`'s key through `sign` (the HSM) and returns its `HC1:` text.
pub fn encode(
    certificate: &HealthCertificate,
    claims: &Claims,
    signer: &SignerCertificate,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<String, IssueError> {
    let payload = cwt_bytes(certificate, claims)?;
    let cose = sign1(payload, signer, sign)?;
    Ok(wrap(&cose))
}

/// A tagged COSE_Sign1 of `payload` by `signer` (also used for the trust list).
pub(crate) fn sign1(
    payload: Vec<u8>,
    signer: &SignerCertificate,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, IssueError> {
    let protected = HeaderBuilder::new()
        .algorithm(signer.algorithm.cose())
        .key_id(signer.kid.clone())
        .build();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .try_create_signature(b"", sign)
        .map_err(IssueError::Signer)?
        .build()
        .to_tagged_vec()
        .map_err(|e| IssueError::Encoding(e.to_string()))
}

/// zlib, Base45 and the prefix around a COSE message.
fn wrap(cose: &[u8]) -> String {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(cose);
    let compressed = z.finish().unwrap_or_default();
    format!("{PREFIX}{}", base45::encode(&compressed))
}

fn cwt_bytes(certificate: &HealthCertificate, claims: &Claims) -> Result<Vec<u8>, IssueError> {
    let hcert = Value::serialized(certificate).map_err(|e| IssueError::Encoding(e.to_string()))?;
    let map = Value::Map(vec![
        (Value::from(CLAIM_EXPIRES), Value::from(claims.expires_at)),
        (Value::from(CLAIM_ISSUED_AT), Value::from(claims.issued_at)),
        (
            Value::from(CLAIM_ISSUER),
            Value::from(claims.issuer.clone()),
        ),
        (
            Value::from(CLAIM_HCERT),
            Value::Map(vec![(Value::from(1), hcert)]),
        ),
    ]);
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(&map, &mut out)
        .map_err(|e| IssueError::Encoding(e.to_string()))?;
    Ok(out)
}

/// A passport read from its text, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub sign1: CoseSign1,
    pub kid: Vec<u8>,
    pub algorithm: Algorithm,
    pub claims: Claims,
    pub certificate: HealthCertificate,
}

/// Reads a passport's text down to its claims and certificate.
pub fn decode(text: &str) -> Result<Decoded, Refusal> {
    let cose = unwrap(text)?;
    let sign1 = read_sign1(&cose)?;
    let (kid, algorithm) = kid_and_algorithm(&sign1)?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or_else(|| Refusal::Cose("không có nội dung".into()))?;
    let (claims, certificate) = read_cwt(payload)?;
    Ok(Decoded {
        sign1,
        kid,
        algorithm,
        claims,
        certificate,
    })
}

/// The COSE bytes inside `HC1:…` (scanners may add spaces or a line end).
fn unwrap(text: &str) -> Result<Vec<u8>, Refusal> {
    let text = text.trim();
    if text.len() > MAX_TEXT {
        return Err(Refusal::TooLarge);
    }
    let body = text.strip_prefix(PREFIX).ok_or(Refusal::NotHc1)?;
    let compressed = base45::decode(body).map_err(|e| Refusal::Base45(format!("{e:?}")))?;
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| Refusal::Compression(e.to_string()))?;
    if inflated.len() as u64 > MAX_INFLATED {
        return Err(Refusal::TooLarge);
    }
    Ok(inflated)
}

/// A COSE_Sign1, tagged (18) or not: issuers send both.
pub(crate) fn read_sign1(bytes: &[u8]) -> Result<CoseSign1, Refusal> {
    CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| CoseSign1::from_slice(bytes))
        .map_err(|e| Refusal::Cose(e.to_string()))
}

/// The signer's `kid` (protected header, else unprotected) and the protected algorithm.
pub(crate) fn kid_and_algorithm(sign1: &CoseSign1) -> Result<(Vec<u8>, Algorithm), Refusal> {
    use coset::{Algorithm as A, RegisteredLabelWithPrivate as L, iana};
    let algorithm = match &sign1.protected.header.alg {
        Some(A::Assigned(iana::Algorithm::PS256)) => Algorithm::Ps256,
        Some(A::Assigned(iana::Algorithm::ES256)) => Algorithm::Es256,
        Some(L::Assigned(other)) => return Err(Refusal::Algorithm(format!("{other:?}"))),
        Some(other) => return Err(Refusal::Algorithm(format!("{other:?}"))),
        None => return Err(Refusal::Algorithm("không ghi thuật toán".into())),
    };
    let kid = if sign1.protected.header.key_id.is_empty() {
        sign1.unprotected.key_id.clone()
    } else {
        sign1.protected.header.key_id.clone()
    };
    if kid.is_empty() || kid.len() > 64 {
        return Err(Refusal::Cose("thiếu kid".into()));
    }
    Ok((kid, algorithm))
}

fn read_cwt(payload: &[u8]) -> Result<(Claims, HealthCertificate), Refusal> {
    let claims_error = |what: &str| Refusal::Claims(what.to_string());
    let value: Value =
        coset::cbor::de::from_reader(payload).map_err(|e| Refusal::Claims(format!("CBOR: {e}")))?;
    let Value::Map(entries) = value else {
        return Err(claims_error("không phải bảng CWT"));
    };
    let get = |key: i64| {
        entries
            .iter()
            .find(|(k, _)| {
                k.as_integer()
                    .is_some_and(|i| i128::from(i) == i128::from(key))
            })
            .map(|(_, v)| v)
    };
    let integer = |key: i64, name: &str| {
        get(key)
            .and_then(Value::as_integer)
            .and_then(|i| i64::try_from(i).ok())
            .ok_or_else(|| claims_error(name))
    };
    let issuer = get(CLAIM_ISSUER)
        .and_then(Value::as_text)
        .ok_or_else(|| claims_error("iss"))?
        .to_string();
    let claims = Claims {
        issuer,
        issued_at: integer(CLAIM_ISSUED_AT, "iat")?,
        expires_at: integer(CLAIM_EXPIRES, "exp")?,
    };
    let hcert = get(CLAIM_HCERT)
        .and_then(Value::as_map)
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.as_integer().is_some_and(|i| i128::from(i) == 1))
        })
        .map(|(_, v)| v.clone())
        .ok_or_else(|| claims_error("hcert"))?;
    let certificate: HealthCertificate = hcert
        .deserialized()
        .map_err(|e| Refusal::Schema(format!("hcert: {e}")))?;
    Ok((claims, certificate))
}
