//! The columns both the station and the server materialise from a person document for listing,
//! search, scope and reports.

use crate::person::{Person, format_time};
use crate::text;

/// A person's searchable and listable fields, in the form the tables store them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonColumns<'a> {
    pub full_name: &'a str,
    /// The folded name (no case, diacritics or đ) that search matches.
    pub name_key: String,
    pub gender: &'static str,
    pub birth_date: String,
    pub birth_year: i64,
    pub id_kind: &'static str,
    pub id_number: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub province: Option<&'a str>,
    pub commune: Option<&'a str>,
    pub hamlet: Option<&'a str>,
    pub caregiver_name: Option<&'a str>,
    pub caregiver_phone: Option<&'a str>,
    /// The caregiver's folded name: a child is also found by it with the caregiver's phone.
    pub caregiver_key: Option<String>,
    pub nationality: &'a str,
    pub managing_facility: &'a str,
    pub verification: &'static str,
    pub merged_into: Option<String>,
}

impl<'a> PersonColumns<'a> {
    /// The columns of `p`.
    pub fn of(p: &'a Person) -> Self {
        PersonColumns {
            full_name: &p.full_name,
            name_key: text::fold(&p.full_name),
            gender: p.gender.as_str(),
            birth_date: p.birth_date.to_string(),
            birth_year: i64::from(p.birth_date.year()),
            id_kind: p.identity.kind.as_str(),
            id_number: p.identity.number.as_deref(),
            phone: p.phone.as_deref(),
            province: p.address.province.as_deref(),
            commune: p.address.commune.as_deref(),
            hamlet: p.address.hamlet.as_deref(),
            caregiver_name: p.caregiver.as_ref().map(|c| c.name.as_str()),
            caregiver_phone: p.caregiver.as_ref().and_then(|c| c.phone.as_deref()),
            caregiver_key: p.caregiver.as_ref().map(|c| text::fold(&c.name)),
            nationality: &p.nationality,
            managing_facility: &p.managing_facility,
            verification: p.verification.status.as_str(),
            merged_into: p.merged_into.map(|u| u.to_string()),
        }
    }
}

/// A dose's row in the `doses` tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoseColumns<'a> {
    pub id: String,
    pub vaccine: &'a str,
    pub lot: &'a str,
    pub dose_number: i64,
    pub kind: &'static str,
    pub given_at: String,
    pub facility: &'a str,
    pub vaccinator: &'a str,
    pub voided: bool,
    pub signed_batch: Option<String>,
}

impl<'a> DoseColumns<'a> {
    /// The columns of `d`.
    pub fn of(d: &'a crate::Dose) -> Self {
        DoseColumns {
            id: d.id.to_string(),
            vaccine: &d.vaccine,
            lot: &d.lot,
            dose_number: i64::from(d.dose_number),
            kind: d.kind.as_str(),
            given_at: format_time(d.given_at),
            facility: &d.facility,
            vaccinator: &d.vaccinator,
            voided: d.voided.is_some(),
            signed_batch: d.signature.as_ref().map(|s| s.batch_id.to_string()),
        }
    }
}
