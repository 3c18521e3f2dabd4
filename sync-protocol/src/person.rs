//! The typed view of a person document and its doses (docs/design.md §3).
//! The outcome of matching against the population database is in `verification`.

use crate::error::{Field, FieldError, Problem};
pub use crate::verification::{Verification, VerificationKind, VerificationStatus, VerifiedField};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use time::macros::format_description;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

pub use crate::clock::VIETNAM;

/// Male or female, as on the CCCD card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    /// The value stored in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }

    /// Reads the stored value or what people type: male/female, nam/nữ/nu, m/f.
    pub fn parse(text: &str) -> Result<Gender, FieldError> {
        match crate::text::fold(text).as_str() {
            "male" | "nam" | "m" => Ok(Gender::Male),
            "female" | "nu" | "f" => Ok(Gender::Female),
            _ => Err(FieldError::new(
                Field::Gender,
                Problem::Choice { allowed: "nam, nu" },
            )),
        }
    }

    /// The Vietnamese word for the gender.
    pub fn label(self) -> &'static str {
        match self {
            Gender::Male => "Nam",
            Gender::Female => "Nữ",
        }
    }
}

/// A date of birth: the full date, or only the year when that is all that is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BirthDate {
    Full(Date),
    Year(i32),
}

const ISO_DATE: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day]");
const VN_DATE: &[time::format_description::FormatItem<'static>] =
    format_description!("[day]/[month]/[year]");
const COMPACT_DATE: &[time::format_description::FormatItem<'static>] =
    format_description!("[day][month][year]");

impl BirthDate {
    /// The year of birth.
    pub fn year(self) -> i32 {
        match self {
            BirthDate::Full(d) => d.year(),
            BirthDate::Year(y) => y,
        }
    }

    /// The earliest day the person may have been born on.
    pub fn earliest_day(self) -> Date {
        match self {
            BirthDate::Full(d) => d,
            BirthDate::Year(y) => Date::from_ordinal_date(y, 1).unwrap_or(Date::MIN),
        }
    }

    /// Parses `yyyy-mm-dd`, `dd/mm/yyyy`, `ddmmyyyy` (as in the CCCD QR code) or `yyyy`.
    pub fn parse(text: &str) -> Result<BirthDate, FieldError> {
        let t = text.trim();
        let err = || FieldError::new(Field::BirthDate, Problem::DateFormat);
        if t.len() == 4 && t.chars().all(|c| c.is_ascii_digit()) {
            return t.parse().map(BirthDate::Year).map_err(|_| err());
        }
        let date = if t.contains('-') {
            Date::parse(t, ISO_DATE)
        } else if t.contains('/') {
            Date::parse(&pad_vn_date(t), VN_DATE)
        } else if t.len() == 8 && t.chars().all(|c| c.is_ascii_digit()) {
            Date::parse(t, COMPACT_DATE)
        } else {
            return Err(err());
        };
        date.map(BirthDate::Full).map_err(|_| err())
    }

    /// Checks the date against today: not in the future, not before 1900.
    pub fn check(self, today: Date) -> Result<(), FieldError> {
        if self.year() < 1900 {
            return Err(FieldError::new(
                Field::BirthDate,
                Problem::BeforeYear { year: 1900 },
            ));
        }
        if self.earliest_day() > today {
            return Err(FieldError::new(Field::BirthDate, Problem::InFuture));
        }
        Ok(())
    }

    /// The date as dd/mm/yyyy (or yyyy), the way the UI shows it.
    pub fn display_vn(self) -> String {
        match self {
            BirthDate::Full(d) => d.format(VN_DATE).unwrap_or_default(),
            BirthDate::Year(y) => format!("{y:04}"),
        }
    }
}

/// Pads `1/2/1990` to `01/02/1990` so the strict parser accepts what people type.
fn pad_vn_date(t: &str) -> String {
    t.split('/')
        .map(|part| {
            if part.len() == 1 {
                format!("0{part}")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl fmt::Display for BirthDate {
    /// The stored form: `yyyy-mm-dd` or `yyyy`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BirthDate::Full(d) => write!(
                f,
                "{:04}-{:02}-{:02}",
                d.year(),
                u8::from(d.month()),
                d.day()
            ),
            BirthDate::Year(y) => write!(f, "{y:04}"),
        }
    }
}

impl Serialize for BirthDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BirthDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BirthDate::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Which identity document a number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum IdentityKind {
    Cccd,
    Cmnd,
    Passport,
    None,
}

impl IdentityKind {
    /// The value stored in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Cccd => "cccd",
            IdentityKind::Cmnd => "cmnd",
            IdentityKind::Passport => "passport",
            IdentityKind::None => "none",
        }
    }

    /// Reads a stored value.
    pub fn parse(text: &str) -> Option<IdentityKind> {
        match text {
            "cccd" => Some(IdentityKind::Cccd),
            "cmnd" => Some(IdentityKind::Cmnd),
            "passport" => Some(IdentityKind::Passport),
            "none" => Some(IdentityKind::None),
            _ => None,
        }
    }

    /// The Vietnamese name of the document.
    pub fn label(self) -> &'static str {
        match self {
            IdentityKind::Cccd => "CCCD",
            IdentityKind::Cmnd => "CMND",
            IdentityKind::Passport => "Hộ chiếu",
            IdentityKind::None => "Không có",
        }
    }
}

/// An identity document: its kind and number (no number when the kind is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Identity {
    pub kind: IdentityKind,
    pub number: Option<String>,
}

impl Identity {
    /// A person with no identity document.
    pub fn none() -> Identity {
        Identity {
            kind: IdentityKind::None,
            number: None,
        }
    }
}

/// Where a person lives: province and commune (2025 two-level units), the hamlet or village
/// (thôn, ấp, bản, tổ dân phố: what session days and due lists are planned by) and the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Address {
    pub province: Option<String>,
    pub commune: Option<String>,
    #[serde(default)]
    pub hamlet: Option<String>,
    pub detail: Option<String>,
}

impl Address {
    /// True when no part of the address is known.
    pub fn is_empty(&self) -> bool {
        self.province.is_none()
            && self.commune.is_none()
            && self.hamlet.is_none()
            && self.detail.is_none()
    }
}

/// A child's mother, father or other caregiver: whom the station calls about the child's doses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Caregiver {
    pub name: String,
    pub phone: Option<String>,
    /// Mẹ, bố, bà…; free text.
    pub relation: Option<String>,
}

/// Where a dose given elsewhere is known from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum HistorySource {
    /// The child's vaccination card or book (phiếu / sổ tiêm chủng).
    Card,
    /// Another public facility (another commune, a hospital's birth dose).
    Facility,
    /// A private (service) vaccination clinic.
    Private,
    /// Given abroad.
    Abroad,
}

impl HistorySource {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            HistorySource::Card => "card",
            HistorySource::Facility => "facility",
            HistorySource::Private => "private",
            HistorySource::Abroad => "abroad",
        }
    }

    /// Reads the stored value or its Vietnamese name.
    pub fn parse(text: &str) -> Result<HistorySource, FieldError> {
        match crate::text::fold(text).as_str() {
            "card" | "phieu" | "so" | "phieu tiem" | "so tiem" => Ok(HistorySource::Card),
            "facility" | "co so" | "co so khac" | "benh vien" => Ok(HistorySource::Facility),
            "private" | "dich vu" | "tiem dich vu" => Ok(HistorySource::Private),
            "abroad" | "nuoc ngoai" => Ok(HistorySource::Abroad),
            _ => Err(FieldError::new(
                Field::HistorySource,
                Problem::Choice {
                    allowed: "card (phiếu tiêm), facility (cơ sở khác), private (dịch vụ), abroad (nước ngoài)",
                },
            )),
        }
    }

    /// The Vietnamese name.
    pub fn label(self) -> &'static str {
        match self {
            HistorySource::Card => "Phiếu / sổ tiêm chủng",
            HistorySource::Facility => "Cơ sở y tế khác",
            HistorySource::Private => "Cơ sở tiêm dịch vụ",
            HistorySource::Abroad => "Nước ngoài",
        }
    }
}

/// A dose given elsewhere and recorded here as history: counted by the schedule, never counted
/// as given by this station, never signed by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DoseHistory {
    pub source: HistorySource,
    /// The account that typed it in (the dose's `vaccinator` names who gave it).
    pub recorded_by: String,
}

/// Primary series, booster, or an additional dose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DoseKind {
    Primary,
    Booster,
    Additional,
}

impl DoseKind {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            DoseKind::Primary => "primary",
            DoseKind::Booster => "booster",
            DoseKind::Additional => "additional",
        }
    }

    /// Reads the stored value or its Vietnamese name.
    pub fn parse(text: &str) -> Result<DoseKind, FieldError> {
        match crate::text::fold(text).as_str() {
            "primary" | "co ban" => Ok(DoseKind::Primary),
            "booster" | "nhac lai" => Ok(DoseKind::Booster),
            "additional" | "bo sung" => Ok(DoseKind::Additional),
            _ => Err(FieldError::new(
                Field::DoseKind,
                Problem::Choice {
                    allowed: "primary (cơ bản), booster (nhắc lại), additional (bổ sung)",
                },
            )),
        }
    }

    /// The Vietnamese name.
    pub fn label(self) -> &'static str {
        match self {
            DoseKind::Primary => "Cơ bản",
            DoseKind::Booster => "Nhắc lại",
            DoseKind::Additional => "Bổ sung",
        }
    }
}

/// Who voided a dose, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Voided {
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub at: OffsetDateTime,
    pub reason: String,
}

/// The signing batch that holds a dose once it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DoseSignature {
    pub batch_id: Uuid,
    pub signer: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub signed_at: OffsetDateTime,
}

/// One dose given to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Dose {
    pub id: Uuid,
    pub vaccine: String,
    pub lot: String,
    pub dose_number: u8,
    pub kind: DoseKind,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub given_at: OffsetDateTime,
    pub facility: String,
    pub vaccinator: String,
    pub place: Option<String>,
    pub reaction_notes: Option<String>,
    pub voided: Option<Voided>,
    pub signature: Option<DoseSignature>,
    /// Set when the dose was given elsewhere and is recorded as history.
    #[serde(default)]
    pub history: Option<DoseHistory>,
}

impl Dose {
    /// True unless the dose was voided.
    pub fn is_active(&self) -> bool {
        self.voided.is_none()
    }

    /// True when the dose was given elsewhere and only recorded here.
    pub fn is_history(&self) -> bool {
        self.history.is_some()
    }

    /// The account that typed the dose in: the clerk of a history dose, else the vaccinator.
    pub fn recorded_by(&self) -> &str {
        self.history
            .as_ref()
            .map_or(&self.vaccinator, |h| &h.recorded_by)
    }
}

/// A person and their doses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Person {
    pub id: Uuid,
    pub full_name: String,
    pub gender: Gender,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub birth_date: BirthDate,
    pub identity: Identity,
    pub phone: Option<String>,
    pub address: Address,
    /// A child's caregiver (absent for adults).
    #[serde(default)]
    pub caregiver: Option<Caregiver>,
    pub nationality: String,
    pub insurance_number: Option<String>,
    pub managing_facility: String,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub created_at: OffsetDateTime,
    pub verification: Verification,
    pub merged_into: Option<Uuid>,
    pub doses: BTreeMap<Uuid, Dose>,
}

impl Person {
    /// Active (not voided) doses, in the order they were given.
    pub fn active_doses(&self) -> Vec<&Dose> {
        let mut doses: Vec<&Dose> = self.doses.values().filter(|d| d.is_active()).collect();
        doses.sort_by_key(|d| (d.given_at, d.dose_number));
        doses
    }

    /// The active doses of the COVID-19 catalogue (routine programme doses are numbered by
    /// their series instead).
    pub fn covid_doses<'a>(
        &'a self,
        catalogue: &'a crate::Catalogue,
    ) -> impl Iterator<Item = &'a Dose> + 'a {
        self.doses
            .values()
            .filter(|d| d.is_active() && catalogue.find(&d.vaccine).is_some())
    }

    /// The COVID-19 dose number to propose: one past the highest active COVID-19 dose.
    pub fn next_dose_number(&self, catalogue: &crate::Catalogue) -> u8 {
        self.covid_doses(catalogue)
            .map(|d| d.dose_number)
            .max()
            .map_or(1, |n| n.saturating_add(1))
    }
}

impl Person {
    /// Replays on `self` what changed between `prev` and `next` (two versions of the same
    /// person): the fields that differ take `next`'s value, new doses are added and changed dose
    /// fields carried over. Used to re-apply a device's edit on top of the server's version after
    /// an earlier edit of the device was refused.
    pub fn replay(&self, prev: &Person, next: &Person) -> Person {
        let mut out = self.clone();
        macro_rules! carry {
            ($($f:ident),*) => { $( if prev.$f != next.$f { out.$f = next.$f.clone(); } )* };
        }
        carry!(
            full_name,
            gender,
            birth_date,
            identity,
            phone,
            address,
            caregiver,
            nationality,
            insurance_number,
            managing_facility,
            verification,
            merged_into
        );
        for (id, d) in &next.doses {
            match (prev.doses.get(id), out.doses.get_mut(id)) {
                (None, _) | (_, None) => {
                    out.doses.entry(*id).or_insert_with(|| d.clone());
                }
                (Some(p), Some(o)) => {
                    macro_rules! carry_dose {
                        ($($f:ident),*) => { $( if p.$f != d.$f { o.$f = d.$f.clone(); } )* };
                    }
                    carry_dose!(
                        vaccine,
                        lot,
                        dose_number,
                        kind,
                        given_at,
                        facility,
                        vaccinator,
                        place,
                        reaction_notes,
                        voided,
                        signature,
                        history
                    );
                }
            }
        }
        out
    }
}

/// A day as people type it (`yyyy-mm-dd` or `dd/mm/yyyy`); a year alone is not a day. The one
/// reading of typed dates that every screen and command shares.
pub fn parse_day(text: &str) -> Option<Date> {
    match BirthDate::parse(text) {
        Ok(BirthDate::Full(d)) => Some(d),
        _ => None,
    }
}

/// Formats a time at +07:00 as RFC 3339 with whole seconds, the stored form of every time.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(VIETNAM).replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Parses a stored or typed time: RFC 3339, or `dd/mm/yyyy hh:mm` taken at +07:00.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let t = text.trim();
    if let Ok(v) = OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
        return Some(v.to_offset(VIETNAM));
    }
    let vn = format_description!("[day]/[month]/[year] [hour]:[minute]");
    let (date, clock) = t.split_once(' ')?;
    let padded = format!("{} {}", pad_vn_date(date), clock.trim());
    time::PrimitiveDateTime::parse(&padded, vn)
        .ok()
        .map(|p| p.assume_offset(VIETNAM))
}

/// The current time at +07:00, to the second.
pub fn now() -> OffsetDateTime {
    crate::clock::Clock::system().now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn birth_date_accepts_the_forms_people_type() {
        assert_eq!(
            BirthDate::parse("1990-05-01").unwrap(),
            BirthDate::Full(date!(1990 - 05 - 01))
        );
        assert_eq!(
            BirthDate::parse("1/5/1990").unwrap(),
            BirthDate::Full(date!(1990 - 05 - 01))
        );
        assert_eq!(
            BirthDate::parse("01051990").unwrap(),
            BirthDate::Full(date!(1990 - 05 - 01))
        );
        assert_eq!(BirthDate::parse("1957").unwrap(), BirthDate::Year(1957));
        assert!(BirthDate::parse("31/02/1990").is_err());
        assert!(BirthDate::parse("199").is_err());
        assert!(BirthDate::parse("hôm qua").is_err());
    }

    #[test]
    fn birth_date_in_future_or_before_1900_is_refused() {
        let today = date!(2025 - 06 - 01);
        assert_eq!(
            BirthDate::Full(date!(2025 - 06 - 02))
                .check(today)
                .unwrap_err()
                .problem,
            Problem::InFuture
        );
        assert_eq!(
            BirthDate::Year(1899).check(today).unwrap_err().problem,
            Problem::BeforeYear { year: 1900 }
        );
        assert!(BirthDate::Year(2025).check(today).is_ok());
    }

    #[test]
    fn times_are_stored_at_vietnam_offset() {
        let t = datetime!(2025-03-15 01:30:00 UTC);
        assert_eq!(format_time(t), "2025-03-15T08:30:00+07:00");
        assert_eq!(
            parse_time("15/3/2025 08:30").map(format_time).as_deref(),
            Some("2025-03-15T08:30:00+07:00")
        );
        assert_eq!(
            parse_time("2025-03-15T01:30:00Z")
                .map(format_time)
                .as_deref(),
            Some("2025-03-15T08:30:00+07:00")
        );
        assert!(parse_time("15/3/2025").is_none());
    }

    #[test]
    fn gender_reads_vietnamese_words() {
        assert_eq!(Gender::parse("Nữ").unwrap(), Gender::Female);
        assert_eq!(Gender::parse("nu").unwrap(), Gender::Female);
        assert_eq!(Gender::parse("NAM").unwrap(), Gender::Male);
        assert!(Gender::parse("khác").is_err());
    }
}
