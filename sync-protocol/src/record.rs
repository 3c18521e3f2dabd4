//! The canonical record of a dose that a signature covers, and its hash (docs/design.md §6).
//!
//! The record is a fixed list of fields, each written as a 4-byte big-endian length followed by
//! its UTF-8 bytes, after a version tag. No field can bleed into the next and the same dose always
//! gives the same bytes on every device and on the server.

use crate::person::{Dose, Person, format_time};
use sha2::{Digest, Sha256};

/// The tag that starts every record of this layout.
pub const RECORD_VERSION: &str = "sotiem/dose-record/1";

/// The bytes of the canonical record of `dose` given to `person`.
pub fn canonical_dose_record(person: &Person, dose: &Dose) -> Vec<u8> {
    let number = dose.dose_number.to_string();
    let given_at = format_time(dose.given_at);
    let person_id = person.id.to_string();
    let dose_id = dose.id.to_string();
    let birth = person.birth_date.to_string();
    let fields: [&str; 14] = [
        RECORD_VERSION,
        &person_id,
        &person.full_name,
        person.gender.as_str(),
        &birth,
        person.identity.kind.as_str(),
        person.identity.number.as_deref().unwrap_or(""),
        &dose_id,
        &dose.vaccine,
        &dose.lot,
        &number,
        dose.kind.as_str(),
        &given_at,
        &dose.facility,
    ];
    let mut out = Vec::with_capacity(256);
    for f in fields {
        let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(f.as_bytes());
    }
    out
}

/// SHA-256 of the canonical record.
pub fn record_hash(person: &Person, dose: &Dose) -> [u8; 32] {
    Sha256::digest(canonical_dose_record(person, dose)).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::*;
    use std::collections::BTreeMap;
    use time::macros::{date, datetime};
    use uuid::Uuid;

    fn sample() -> (Person, Dose) {
        let dose = Dose {
            id: Uuid::parse_str("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b").unwrap(),
            vaccine: "EU/1/21/1529".into(),
            lot: "A1234".into(),
            dose_number: 2,
            kind: DoseKind::Primary,
            given_at: datetime!(2021-09-20 08:30:00 +7),
            facility: "TYT-TANNHUT".into(),
            vaccinator: "nv.lan".into(),
            place: None,
            reaction_notes: None,
            voided: None,
            history: None,
            signature: None,
        };
        let person = Person {
            id: Uuid::parse_str("0193a1b2-0000-7000-8000-000000000001").unwrap(),
            full_name: "Trần Thị Bích Ngọc".into(),
            gender: Gender::Female,
            birth_date: BirthDate::Full(date!(2003 - 11 - 17)),
            identity: Identity {
                kind: IdentityKind::Cccd,
                number: Some("079303004321".into()),
            },
            phone: Some("0903123456".into()),
            address: Address::default(),
            caregiver: None,
            nationality: "VN".into(),
            insurance_number: None,
            managing_facility: "TYT-TANNHUT".into(),
            created_by: "nv.lan".into(),
            created_at: datetime!(2021-09-20 08:00:00 +7),
            verification: Verification {
                status: VerificationStatus::Matched,
                checked_at: None,
            },
            merged_into: None,
            doses: BTreeMap::new(),
        };
        (person, dose)
    }

    #[test]
    fn the_record_hash_is_stable_and_covers_each_signed_field() {
        let (p, d) = sample();
        let h = record_hash(&p, &d);
        assert_eq!(h, record_hash(&p.clone(), &d.clone()));
        let mut changed = d.clone();
        changed.lot = "A1235".into();
        assert_ne!(record_hash(&p, &changed), h);
        let mut changed = d.clone();
        changed.given_at = datetime!(2021-09-20 08:31:00 +7);
        assert_ne!(record_hash(&p, &changed), h);
        let mut other = p.clone();
        other.full_name = "Trần Thị Bích Ngọ".into();
        assert_ne!(record_hash(&other, &d), h);
        // Fields the signature does not cover leave the hash alone.
        let mut notes = d.clone();
        notes.reaction_notes = Some("Sốt nhẹ".into());
        assert_eq!(record_hash(&p, &notes), h);
    }

    #[test]
    fn the_same_instant_at_another_offset_hashes_the_same() {
        let (p, d) = sample();
        let mut utc = d.clone();
        utc.given_at = datetime!(2021-09-20 01:30:00 UTC);
        assert_eq!(record_hash(&p, &utc), record_hash(&p, &d));
    }

    #[test]
    fn length_prefixes_keep_adjacent_fields_apart() {
        let (p, d) = sample();
        let mut a = d.clone();
        a.vaccine = "AB".into();
        a.lot = "C".into();
        let mut b = d.clone();
        b.vaccine = "A".into();
        b.lot = "BC".into();
        assert_ne!(record_hash(&p, &a), record_hash(&p, &b));
    }
}
