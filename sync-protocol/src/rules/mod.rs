//! The rulebook (docs/design.md §8, §9): what a write may change in a person's record, decided from
//! the person before and after, who writes (the signed-in user, their role and facilities) and
//! what the authority knows (signed doses, the step-up grant, now). The station runs it before
//! it writes; the server runs the same functions on every pushed change with the session's user,
//! never the change's claims. Each broken rule comes back as a typed [`Violation`].

mod change;
mod doses;
mod person;
mod violation;

#[cfg(test)]
mod tests;

pub use change::{check_change, check_counters, check_document};
pub use violation::{Rule, Violation};

use crate::commit::CommitMeta;
use crate::person::{IdentityKind, Person, VerificationStatus};
use crate::role::Role;
use std::collections::{BTreeMap, BTreeSet};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How far ahead of the checker's clock a device's times may be (laptop clocks drift).
pub const CLOCK_SKEW: Duration = Duration::minutes(5);
/// The largest person document (Automerge's uncompressed save) accepted: far above any real
/// record (a person with 10 doses and years of edits is a few KB), far below a sync page.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// The highest operation counter a change may reach: real documents stay in the thousands.
pub const MAX_OP_COUNTER: u64 = 1 << 31;
/// How long the server's step-up grant may be relied on after the code was given.
pub const GRANT_LIFETIME: Duration = Duration::hours(24);

/// Who writes: the signed-in user on a device.
#[derive(Debug, Clone)]
pub struct Writer {
    pub user: String,
    pub role: Role,
    /// The facility of the device (a mobile team's own code): new doses are recorded there.
    pub device_facility: String,
    /// Facilities whose people are the writer's own: the account's, the device's, the facility
    /// whose scope the device works in and that facility's mobile teams.
    pub own: BTreeSet<String>,
}

impl Writer {
    /// Whether people managed by `facility` are the writer's own.
    pub fn manages(&self, facility: &str) -> bool {
        self.own.contains(facility)
    }
}

/// A dose an accepted signing run covers, as the authority knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDose {
    pub batch_id: Uuid,
    pub signer: String,
}

/// The sensitive fields of a person (docs/design.md §1): changing them on a person another facility
/// manages needs a fresh one-time code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveField {
    FullName,
    BirthDate,
    Identity,
    Address,
    /// Not a field: voiding a dose a signing run covers (it undoes a signed record).
    SignedDose,
}

impl SensitiveField {
    /// Every sensitive field.
    pub const ALL: [SensitiveField; 5] = [
        SensitiveField::FullName,
        SensitiveField::BirthDate,
        SensitiveField::Identity,
        SensitiveField::Address,
        SensitiveField::SignedDose,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SensitiveField::FullName => "full_name",
            SensitiveField::BirthDate => "birth_date",
            SensitiveField::Identity => "identity",
            SensitiveField::Address => "address",
            SensitiveField::SignedDose => "signed_dose",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<SensitiveField> {
        SensitiveField::ALL.into_iter().find(|f| f.as_str() == text)
    }

    /// The Vietnamese name.
    pub fn label(self) -> &'static str {
        match self {
            SensitiveField::FullName => "họ tên",
            SensitiveField::BirthDate => "ngày sinh",
            SensitiveField::Identity => "số giấy tờ",
            SensitiveField::Address => "địa chỉ",
            SensitiveField::SignedDose => "huỷ mũi tiêm đã ký",
        }
    }
}

/// Whether the grant the change relies on lets `writer` do what `fields` names to `person`
/// now; else why not (in Vietnamese). One check for sensitive edits and signed voidings.
pub(crate) fn grant_covers(
    meta: &CommitMeta,
    writer: &Writer,
    knows: &Knowledge<'_>,
    person: Uuid,
    fields: &BTreeSet<SensitiveField>,
) -> Result<(), &'static str> {
    let Some(grant) = knows.grant else {
        return Err(if meta.grant.is_some() {
            "mã xác nhận không có trên máy chủ"
        } else {
            "chưa nhập mã xác thực"
        });
    };
    if meta.grant.as_deref() != Some(grant.id.as_str()) {
        return Err("thay đổi không mang mã xác nhận này");
    }
    if grant.user != writer.user {
        return Err("mã xác nhận của người khác");
    }
    if grant.person_id != person {
        return Err("mã xác nhận cho người khác");
    }
    if !fields.is_subset(&grant.fields) {
        return Err("mã xác nhận không gồm các trường này");
    }
    if knows.now > grant.expires_at {
        return Err("mã xác nhận đã hết hạn: sửa lại và nhập mã mới");
    }
    Ok(())
}

/// The server's step-up grant: `user` gave a fresh code for these fields of this person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub user: String,
    pub person_id: Uuid,
    pub fields: BTreeSet<SensitiveField>,
    pub expires_at: OffsetDateTime,
}

/// What the checker knows besides the two versions of the person.
#[derive(Clone, Copy)]
pub struct Knowledge<'a> {
    pub now: OffsetDateTime,
    /// Doses accepted signing runs cover (the server's record; the station's accepted runs).
    pub signed: &'a BTreeMap<Uuid, SignedDose>,
    /// The step-up grant the change relies on, as the server issued it.
    pub grant: Option<&'a Grant>,
    /// For a merge: the record the doses come from.
    pub merge_source: Option<&'a Person>,
    /// Whether a facility code exists (a transfer must name one); the station, which does not
    /// know every facility, leaves it to the server.
    pub facility_exists: &'a dyn Fn(&str) -> bool,
    /// Whether a dose id is already held by another person's record. Dose ids are unique across
    /// the store; only the server holds every record, so the station leaves it to the server
    /// ([`no_dose_elsewhere`]).
    pub dose_elsewhere: &'a dyn Fn(&Uuid) -> bool,
}

/// For a checker that holds only part of the store (the station): no dose id is known to be
/// another person's.
pub fn no_dose_elsewhere(_: &Uuid) -> bool {
    false
}

/// Nothing signed, no grant, no merge: what most writes know.
pub static NOTHING_SIGNED: BTreeMap<Uuid, SignedDose> = BTreeMap::new();

/// The verification status of a person whose matching fields were never checked: the only one
/// a device may write.
pub fn initial_status(nationality: &str, kind: IdentityKind) -> VerificationStatus {
    if nationality != "VN" {
        VerificationStatus::NotApplicable
    } else if kind == IdentityKind::None {
        VerificationStatus::NoId
    } else {
        VerificationStatus::Unverified
    }
}

/// The sensitive fields that differ between two versions of a person.
pub fn sensitive_changes(before: &Person, after: &Person) -> BTreeSet<SensitiveField> {
    let mut out = BTreeSet::new();
    if before.full_name != after.full_name {
        out.insert(SensitiveField::FullName);
    }
    if before.birth_date != after.birth_date {
        out.insert(SensitiveField::BirthDate);
    }
    if before.identity != after.identity {
        out.insert(SensitiveField::Identity);
    }
    if before.address != after.address {
        out.insert(SensitiveField::Address);
    }
    out
}

/// Whether the fields matched against the population database differ.
pub fn identity_changed(before: &Person, after: &Person) -> bool {
    before.full_name != after.full_name
        || before.gender != after.gender
        || before.birth_date != after.birth_date
        || before.identity != after.identity
}

/// Whether a write of `after` over `before` (none for a new person), made by `writer` as
/// described by `meta`, keeps every rule. The first broken rule is returned.
pub fn check_write(
    before: Option<&Person>,
    after: &Person,
    meta: &CommitMeta,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    if meta.user != writer.user {
        return Err(Violation::WrongAuthor {
            claimed: meta.user.clone(),
            session: writer.user.clone(),
        });
    }
    person::check_role(before, after, writer)?;
    crate::validate::check_person(after, knows.now.date())?;
    match before {
        None => person::check_new(after, meta, writer, knows)?,
        Some(b) => person::check_existing(b, after, meta, writer, knows)?,
    }
    doses::check_doses(before, after, meta, writer, knows)
}

/// Whether a dose recorded now by `writer` keeps the rules of new doses (the server's quick
/// path for pushes that only add doses uses this alone, with the dose's validation).
pub fn check_new_dose(
    dose: &crate::person::Dose,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    // (A merge's copies are judged with the whole record, never on this quick path.)
    doses::check_new(dose, writer, knows, false)
}
