//! People and doses as the forms give them: registering (typed or from a CCCD QR code),
//! importing, editing, transferring, recording and voiding doses.

mod doses;
mod edit;
mod register;

use crate::error::StationError;
use serde::{Deserialize, Serialize};
use sync_protocol::identity::normalize_phone;
use sync_protocol::validate;
use sync_protocol::{Caregiver, Field, FieldError, IdentityKind, Problem, text};

pub(crate) use edit::apply_edit;

/// A person's details as typed (in the UI or on the command line), before checking.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PersonInput {
    pub full_name: String,
    /// `nam`/`nu` (or male/female).
    pub gender: String,
    /// `yyyy-mm-dd`, `dd/mm/yyyy` or `yyyy`.
    pub birth_date: String,
    pub id_kind: Option<IdentityKind>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub address_detail: Option<String>,
    /// ISO 3166 alpha-2; Vietnamese when absent.
    pub nationality: Option<String>,
    pub insurance_number: Option<String>,
    /// Thôn / ấp / bản / tổ dân phố: what session days and due lists go by.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub hamlet: Option<String>,
    /// A child's mother or caregiver. With no name of the child yet, the child is registered
    /// as "Con bà …" (or "Con ông …") of this name.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub caregiver_name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub caregiver_phone: Option<String>,
    /// Mẹ, bố, bà…
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub caregiver_relation: Option<String>,
}

/// What a CCCD QR code gave the registration form.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QrReading {
    pub input: PersonInput,
    /// The scanner dropped the Vietnamese diacritics (a US keyboard layout): the name and
    /// address must be typed, or the scanner set to Unicode, before registering.
    pub diacritics_lost: bool,
}

/// Changes to a person's details: `None` leaves a field alone, an empty string clears an
/// optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PersonEdit {
    pub full_name: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub id_kind: Option<IdentityKind>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub address_detail: Option<String>,
    pub nationality: Option<String>,
    pub insurance_number: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub hamlet: Option<String>,
    /// An empty name removes the caregiver.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub caregiver_name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub caregiver_phone: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub caregiver_relation: Option<String>,
}

/// A dose as typed; what is left out gets the sensible default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DoseInput {
    /// Catalogue code or alias.
    pub vaccine: String,
    pub lot: String,
    /// Defaults to the next dose number of the person.
    pub dose_number: Option<u8>,
    /// Defaults from the vaccine's primary series length.
    pub kind: Option<String>,
    /// RFC 3339 or `dd/mm/yyyy hh:mm`; defaults to now.
    pub given_at: Option<String>,
    pub place: Option<String>,
    pub reaction_notes: Option<String>,
    /// Set for a dose given elsewhere, recorded as history: where the record comes from
    /// (`card`, `facility`, `private`, `abroad` or their Vietnamese names). `place` then says
    /// where it was given, and it is never counted as this station's.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub elsewhere: Option<String>,
    /// Who gave a dose given elsewhere (a dose given here is always the signed-in user's).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub vaccinator: Option<String>,
}

/// The caregiver the form gives: none without a name; a phone or relation alone is an error.
pub(super) fn caregiver_from(
    errors: &mut Vec<FieldError>,
    name: Option<&str>,
    phone: Option<&str>,
    relation: Option<&str>,
) -> Option<Caregiver> {
    let name = clean_opt(name);
    let phone = opt_text(phone)
        .map(|p| collect(errors, normalize_phone(&p)))
        .unwrap_or(None);
    let relation = clean_opt(relation);
    let Some(name) = name else {
        if phone.is_some() || relation.is_some() {
            errors.push(FieldError::new(Field::CaregiverName, Problem::Required));
        }
        return None;
    };
    let c = Caregiver {
        name,
        phone,
        relation,
    };
    collect(errors, validate::check_caregiver(&c)).map(|()| c)
}

/// The name a newborn goes by until the family chooses one: "Con bà Nguyễn Thị Lan".
pub(super) fn newborn_name(c: &Caregiver) -> String {
    let father = c
        .relation
        .as_deref()
        .is_some_and(|r| matches!(text::fold(r).as_str(), "bo" | "cha" | "ba (cha)" | "father"));
    format!("Con {} {}", if father { "ông" } else { "bà" }, c.name)
}

pub(super) fn collect<T>(
    errors: &mut Vec<FieldError>,
    r: std::result::Result<T, FieldError>,
) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

pub(super) fn many(mut errors: Vec<FieldError>) -> StationError {
    if errors.len() == 1 {
        StationError::Invalid(errors.remove(0))
    } else {
        StationError::InvalidInput(errors)
    }
}

pub(super) fn opt_text(t: Option<&str>) -> Option<String> {
    t.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub(super) fn clean_opt(t: Option<&str>) -> Option<String> {
    t.map(text::clean).filter(|s| !s.is_empty())
}
