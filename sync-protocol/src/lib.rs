//! What a Sổ Tiêm station and the central server must agree on: the Automerge schema of a
//! person document with its doses, the validation rules both enforce, the canonical record hash
//! that signatures cover, and (for sync) the wire messages. No I/O here.

pub mod audit;
pub mod auth;
pub mod clock;
pub mod columns;
pub mod commit;
pub mod complaints;
pub mod document;
pub mod endpoints;
pub mod error;
pub mod identity;
pub mod manifest;
pub mod person;
pub mod record;
pub mod role;
pub mod rules;
pub mod schedule;
pub mod text;
pub mod vaccines;
pub mod validate;
pub mod verification;
pub mod wire;

pub use automerge;
pub use clock::Clock;
pub use commit::{CommitAction, CommitMeta};
pub use document::{DocIssues, FieldConflict, PersonDoc, SCHEMA_VERSION};
pub use error::{Field, FieldError, Problem, SchemaError};
pub use person::{
    Address, BirthDate, Caregiver, Dose, DoseHistory, DoseKind, DoseSignature, Gender,
    HistorySource, Identity, IdentityKind, Person, VIETNAM, Verification, VerificationKind,
    VerificationStatus, VerifiedField, Voided,
};
pub use schedule::Schedule;
pub use vaccines::{Catalogue, Vaccine};
