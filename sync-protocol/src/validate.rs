//! Validation rules both sides enforce on a person document (docs/design.md §3, §5).

use crate::error::{Field, FieldError, Problem};
use crate::identity;
use crate::person::{BirthDate, Caregiver, Dose, Person, VerificationStatus};
use time::Date;

/// The longest full name accepted.
pub const MAX_NAME: usize = 100;
/// The longest free-text field (address detail, place) accepted.
pub const MAX_TEXT: usize = 200;
/// The longest reaction note accepted.
pub const MAX_NOTES: usize = 500;
/// The highest dose number accepted.
pub const MAX_DOSE_NUMBER: u8 = 10;
/// The fewest characters of a station's recovery passphrase for backups (a short sentence is
/// easier to keep than a random word, and scrypt makes each guess cost about a second).
pub const MIN_RECOVERY_PASSPHRASE: usize = 12;

/// The shortest reason a void may give (one a reader can act on: "Nhập nhầm người").
pub const MIN_VOID_REASON: usize = 5;

/// Checks a full name: not empty, not too long, letters with spaces, apostrophes, dots, hyphens.
pub fn check_full_name(name: &str) -> Result<(), FieldError> {
    let err = |p| Err(FieldError::new(Field::FullName, p));
    if name.trim().is_empty() {
        return err(Problem::Required);
    }
    if name.chars().count() > MAX_NAME {
        return err(Problem::TooLong { max: MAX_NAME });
    }
    let ok = name.chars().all(|c| {
        c.is_alphabetic()
            || c == ' '
            || matches!(c, '\'' | '’' | '-' | '.')
            || unicode_normalization::char::is_combining_mark(c)
    });
    if !ok || !name.chars().any(char::is_alphabetic) {
        return err(Problem::NameCharacters);
    }
    Ok(())
}

/// Checks a facility code: 2–32 ASCII letters, digits, `.`, `-`, `_`.
pub fn check_code(field: Field, code: &str) -> Result<(), FieldError> {
    let ok = (2..=32).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else if code.is_empty() {
        Err(FieldError::new(field, Problem::Required))
    } else {
        Err(FieldError::new(field, Problem::CodeFormat))
    }
}

/// Checks a lot number: 1–40 ASCII letters, digits, `-`, `.`, `/`.
pub fn check_lot(lot: &str) -> Result<(), FieldError> {
    if lot.is_empty() {
        return Err(FieldError::new(Field::Lot, Problem::Required));
    }
    if lot.len() > 40 {
        return Err(FieldError::new(Field::Lot, Problem::TooLong { max: 40 }));
    }
    if !lot
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/'))
    {
        return Err(FieldError::new(Field::Lot, Problem::LotFormat));
    }
    Ok(())
}

/// Checks an optional free-text field's length.
pub fn check_text(field: Field, text: Option<&str>, max: usize) -> Result<(), FieldError> {
    match text {
        Some(t) if t.chars().count() > max => Err(FieldError::new(field, Problem::TooLong { max })),
        _ => Ok(()),
    }
}

/// Checks a health-insurance number: the 15-character card number (2 letters, 13 digits) or
/// the 10-digit social-insurance code that replaced it.
pub fn check_insurance_number(n: &str) -> Result<(), FieldError> {
    let b = n.as_bytes();
    let card = b.len() == 15
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..].iter().all(u8::is_ascii_digit);
    let code = b.len() == 10 && b.iter().all(u8::is_ascii_digit);
    let ok = card || code;
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            Field::InsuranceNumber,
            Problem::InsuranceFormat,
        ))
    }
}

/// Checks a nationality: an ISO 3166 alpha-2 code in upper case.
pub fn check_nationality(n: &str) -> Result<(), FieldError> {
    if n.len() == 2 && n.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(FieldError::new(
            Field::Nationality,
            Problem::NationalityFormat,
        ))
    }
}

/// Checks a dose on its own and against the person's birth date.
pub fn check_dose(birth: BirthDate, dose: &Dose) -> Result<(), FieldError> {
    if dose.vaccine.trim().is_empty() {
        return Err(FieldError::new(Field::Vaccine, Problem::Required));
    }
    // The lot of a dose given elsewhere is often not on the card.
    if !(dose.is_history() && dose.lot.is_empty()) {
        check_lot(&dose.lot)?;
    }
    if !(1..=MAX_DOSE_NUMBER).contains(&dose.dose_number) {
        return Err(FieldError::new(Field::DoseNumber, Problem::DoseNumberRange));
    }
    if dose.given_at.date() < birth.earliest_day() {
        return Err(FieldError::new(Field::GivenAt, Problem::BeforeBirth));
    }
    match &dose.history {
        // Given elsewhere: no facility of this system claims it, and where it was is said.
        Some(h) => {
            if !dose.facility.is_empty() {
                return Err(FieldError::new(
                    Field::Facility,
                    Problem::HistoryFacility {
                        facility: dose.facility.clone(),
                    },
                ));
            }
            if dose.place.as_deref().is_none_or(|p| p.trim().is_empty()) {
                return Err(FieldError::new(Field::Place, Problem::Required));
            }
            if h.recorded_by.trim().is_empty() {
                return Err(FieldError::new(Field::User, Problem::Required));
            }
        }
        None => check_code(Field::Facility, &dose.facility)?,
    }
    if dose.vaccinator.trim().is_empty() {
        return Err(FieldError::new(Field::Vaccinator, Problem::Required));
    }
    check_text(Field::Place, dose.place.as_deref(), MAX_TEXT)?;
    check_text(
        Field::ReactionNotes,
        dose.reaction_notes.as_deref(),
        MAX_NOTES,
    )?;
    if let Some(v) = &dose.voided
        && v.reason.trim().is_empty()
    {
        return Err(FieldError::new(Field::VoidReason, Problem::Required));
    }
    Ok(())
}

/// A stored phone must be in its normal form (as `normalize_phone` writes it).
fn check_stored_phone(field: Field, phone: Option<&str>) -> Result<(), FieldError> {
    match phone {
        Some(p) if identity::normalize_phone(p).as_deref() != Ok(p) => {
            Err(FieldError::new(field, Problem::PhoneFormat))
        }
        _ => Ok(()),
    }
}

/// Checks a caregiver: a name, and a phone in its normal form when there is one.
pub fn check_caregiver(c: &Caregiver) -> Result<(), FieldError> {
    check_full_name(&c.name).map_err(|e| FieldError::new(Field::CaregiverName, e.problem))?;
    check_stored_phone(Field::CaregiverPhone, c.phone.as_deref())?;
    check_text(Field::CaregiverName, c.relation.as_deref(), MAX_TEXT)
}

/// Checks every field of a person and each of their doses. `today` bounds birth dates.
pub fn check_person(person: &Person, today: Date) -> Result<(), FieldError> {
    check_full_name(&person.full_name)?;
    person.birth_date.check(today)?;
    // A legacy record may carry a malformed ID, but only when it is flagged as such.
    if person.verification.status != VerificationStatus::InvalidId {
        identity::check_identity(&person.identity, person.gender, person.birth_date)?;
    }
    check_stored_phone(Field::Phone, person.phone.as_deref())?;
    check_nationality(&person.nationality)?;
    if let Some(n) = &person.insurance_number {
        check_insurance_number(n)?;
    }
    check_text(Field::Address, person.address.detail.as_deref(), MAX_TEXT)?;
    check_text(Field::Address, person.address.commune.as_deref(), MAX_TEXT)?;
    check_text(Field::Address, person.address.province.as_deref(), MAX_TEXT)?;
    check_text(Field::Hamlet, person.address.hamlet.as_deref(), MAX_TEXT)?;
    if let Some(c) = &person.caregiver {
        check_caregiver(c)?;
    }
    check_code(Field::Facility, &person.managing_facility)?;
    for dose in person.doses.values() {
        check_dose(person.birth_date, dose)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_vietnamese_letters_and_ethnic_apostrophes_pass() {
        for ok in [
            "Nguyễn Văn An",
            "H'Hen Niê",
            "Y-Moan Êban",
            "Đặng Thị Hường",
        ] {
            assert!(check_full_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn names_with_digits_or_symbols_fail() {
        assert_eq!(
            check_full_name("Nguyen Van 3").unwrap_err().problem,
            Problem::NameCharacters
        );
        assert_eq!(check_full_name(" ").unwrap_err().problem, Problem::Required);
        assert_eq!(
            check_full_name("--").unwrap_err().problem,
            Problem::NameCharacters
        );
        let long = "A".repeat(101);
        assert_eq!(
            check_full_name(&long).unwrap_err().problem,
            Problem::TooLong { max: 100 }
        );
    }

    #[test]
    fn lots_and_codes_have_their_format() {
        assert!(check_lot("FF2588").is_ok());
        assert!(check_lot("210610-01/A").is_ok());
        assert_eq!(check_lot("lô 5").unwrap_err().problem, Problem::LotFormat);
        assert!(check_code(Field::Facility, "TYT-79-26734").is_ok());
        assert_eq!(
            check_code(Field::Facility, "trạm y tế")
                .unwrap_err()
                .problem,
            Problem::CodeFormat
        );
    }

    #[test]
    fn insurance_numbers_are_card_numbers_or_social_insurance_codes() {
        assert!(check_insurance_number("DN4797912345678").is_ok());
        assert!(check_insurance_number("7912345678").is_ok());
        assert!(check_insurance_number("dn4797912345678").is_err());
        assert!(check_insurance_number("DN47979123").is_err());
        assert!(check_insurance_number("DN479791234567X").is_err());
    }
}
