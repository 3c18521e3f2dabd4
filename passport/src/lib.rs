//! Vaccine passports in the EU Digital COVID Certificate format (docs/design.md §1): the payload
//! (schema 1.3.0), its encoding (`HC1:` + Base45 + zlib + COSE_Sign1 + CWT), the trust list
//! with its revocations, and offline verification. No I/O: the key lives in an HSM, reached
//! through the signing closure the caller passes.

pub mod codec;
pub mod error;
pub mod payload;
pub mod signer;
pub mod trust;

pub use codec::{Claims, decode, encode};
pub use error::{IssueError, Refusal, TrustListError};
pub use payload::{HealthCertificate, LatestDose, Names, new_uvci};
pub use signer::{Algorithm, SignerCertificate, kid_of};
pub use trust::{Checked, TrustList, Verdict, Verifier, revocation_hash};

/// ISO 8601 calendar dates, as the payload writes them.
pub(crate) const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A certificate is valid for 12 months (docs/design.md §1).
pub const VALIDITY_SECONDS: i64 = 365 * 24 * 3600;

#[cfg(test)]
mod tests;
