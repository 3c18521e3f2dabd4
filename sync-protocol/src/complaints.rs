//! Citizens' complaints ("phản ánh", issue 16): what the public form, the server and the stations
//! agree on — the kinds of problem, the statuses, the tracking code, the checks of the public
//! form (every problem named at once, in Vietnamese), and the deadline in working days (weekends
//! and a holiday list shipped as data). No I/O.

use crate::identity;
use crate::person::BirthDate;
use crate::vaccines::Catalogue;
use crate::validate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::{Date, Weekday};

const HOLIDAYS: &str = include_str!("../data/holidays.json");

/// The working days a facility has to answer, unless the province sets another number.
pub const DEFAULT_WORKING_DAYS: u32 = 2;
/// The longest free text the form takes.
pub const MAX_DESCRIPTION: usize = 2000;
/// The longest short text (a place, a vaccine's name as the citizen writes it).
pub const MAX_SHORT_TEXT: usize = 200;

/// What the citizen reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ComplaintKind {
    /// A dose they had is not recorded.
    MissingDose,
    /// Their name, birth date, ID… is wrong.
    WrongPersonalDetails,
    /// A dose is recorded with the wrong vaccine, date or place.
    WrongDoseDetails,
    /// They appear twice.
    DuplicateRecord,
    Other,
}

impl ComplaintKind {
    /// Every kind, in the form's order.
    pub const ALL: [ComplaintKind; 5] = [
        ComplaintKind::MissingDose,
        ComplaintKind::WrongPersonalDetails,
        ComplaintKind::WrongDoseDetails,
        ComplaintKind::DuplicateRecord,
        ComplaintKind::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintKind::MissingDose => "missing_dose",
            ComplaintKind::WrongPersonalDetails => "wrong_personal_details",
            ComplaintKind::WrongDoseDetails => "wrong_dose_details",
            ComplaintKind::DuplicateRecord => "duplicate_record",
            ComplaintKind::Other => "other",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<ComplaintKind> {
        ComplaintKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// What the citizen reads.
    pub fn label(self) -> &'static str {
        match self {
            ComplaintKind::MissingDose => "Thiếu mũi tiêm (đã tiêm nhưng chưa được ghi nhận)",
            ComplaintKind::WrongPersonalDetails => {
                "Sai thông tin cá nhân (họ tên, ngày sinh, giấy tờ…)"
            }
            ComplaintKind::WrongDoseDetails => "Sai thông tin mũi tiêm (vắc xin, ngày, nơi tiêm)",
            ComplaintKind::DuplicateRecord => "Bị trùng hồ sơ",
            ComplaintKind::Other => "Khác",
        }
    }
}

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ComplaintStatus {
    /// Waiting for the facility it belongs to (also after being forwarded to it).
    Open,
    /// The data was corrected; the answer says what changed.
    Resolved,
    /// Nothing to correct; the answer says why.
    Rejected,
}

impl ComplaintStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintStatus::Open => "open",
            ComplaintStatus::Resolved => "resolved",
            ComplaintStatus::Rejected => "rejected",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<ComplaintStatus> {
        [
            ComplaintStatus::Open,
            ComplaintStatus::Resolved,
            ComplaintStatus::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// What the citizen reads.
    pub fn label(self) -> &'static str {
        match self {
            ComplaintStatus::Open => "Đang xử lý",
            ComplaintStatus::Resolved => "Đã giải quyết",
            ComplaintStatus::Rejected => "Không chấp nhận",
        }
    }
}

/// The alphabet of tracking codes: Crockford's base 32 (no I, L, O, U: nothing to misread on
/// the phone).
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A tracking code from 40 random bits: `PA-XXXX-XXXX`.
pub fn tracking_code(random: [u8; 5]) -> String {
    let mut bits: u64 = 0;
    for b in random {
        bits = (bits << 8) | u64::from(b);
    }
    let chars: String = (0..8)
        .rev()
        .map(|i| CODE_ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
        .collect();
    format!("PA-{}-{}", &chars[..4], &chars[4..])
}

/// A tracking code as typed (lower case, spaces, without dashes, O for 0, I or L for 1) in
/// its stored form; `None` when it cannot be one.
pub fn normalize_tracking_code(text: &str) -> Option<String> {
    let cleaned: String = text
        .trim()
        .to_uppercase()
        .trim_start_matches("PA")
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    (cleaned.len() == 8 && cleaned.bytes().all(|b| CODE_ALPHABET.contains(&b)))
        .then(|| format!("PA-{}-{}", &cleaned[..4], &cleaned[4..]))
}

/// The public form as the citizen filled it in (text as typed; a field left out is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ComplaintForm {
    pub full_name: String,
    pub birth_date: String,
    pub phone: String,
    /// Optional: children and foreigners may have none.
    pub id_number: String,
    pub facility: String,
    pub kind: String,
    /// What should be recorded: the vaccine (a catalogue code or name), the day, the place.
    pub vaccine: String,
    pub vaccinated_on: String,
    pub place: String,
    pub description: String,
}

/// The form once checked: each value in its stored form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedComplaint {
    pub full_name: String,
    pub birth_date: String,
    pub phone: String,
    pub id_number: Option<String>,
    pub facility: String,
    pub kind: ComplaintKind,
    /// The catalogue's code when the citizen named a vaccine it knows.
    pub vaccine: Option<String>,
    /// `yyyy-mm-dd`.
    pub vaccinated_on: Option<String>,
    pub place: Option<String>,
    pub description: String,
}

/// One problem of the form: which field, and what to do, in Vietnamese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormProblem {
    /// The form field's name.
    pub field: &'static str,
    pub message: String,
}

/// Markup or control characters in text a citizen typed: refused with a message rather than
/// stored (the pages escape everything anyway; a station's nurse should read plain text).
fn plain_text(field: &'static str, text: &str, max: usize, out: &mut Vec<FormProblem>) {
    if text.chars().count() > max {
        out.push(FormProblem {
            field,
            message: format!("dài quá {max} ký tự"),
        });
    } else if text.contains(['<', '>']) {
        out.push(FormProblem {
            field,
            message: "không dùng ký tự < hoặc > (không nhập mã HTML)".into(),
        });
    } else if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        out.push(FormProblem {
            field,
            message: "có ký tự điều khiển không hợp lệ".into(),
        });
    }
}

/// Checks the form against `today` (Vietnam time) and the facilities that exist (`known`):
/// every problem at once, or the values in their stored form.
pub fn check_form(
    form: &ComplaintForm,
    today: Date,
    known_facility: impl Fn(&str) -> bool,
    catalogue: &Catalogue,
) -> Result<CheckedComplaint, Vec<FormProblem>> {
    let mut problems = Vec::new();
    let mut problem = |field: &'static str, message: String| {
        problems.push(FormProblem { field, message });
    };
    let full_name = crate::text::clean(&form.full_name);
    if full_name.chars().count() > 100 {
        problem("full_name", "họ và tên dài quá 100 ký tự".into());
    } else if let Err(e) = validate::check_full_name(&full_name) {
        problem("full_name", e.to_string());
    }
    let birth_date = match BirthDate::parse(form.birth_date.trim()).and_then(|b| {
        b.check(today)?;
        Ok(b)
    }) {
        Ok(b) => Some(b),
        Err(e) => {
            problem("birth_date", e.to_string());
            None
        }
    };
    let phone = match identity::normalize_phone(form.phone.trim()) {
        Ok(p) => Some(p),
        Err(e) => {
            problem("phone", e.to_string());
            None
        }
    };
    let id_text: String = form
        .id_number
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let id_number = if id_text.is_empty() {
        None
    } else if id_text.len() > 20 {
        problem("id_number", "số giấy tờ dài quá 20 ký tự".into());
        None
    } else {
        let checked = match id_text.len() {
            12 if id_text.bytes().all(|b| b.is_ascii_digit()) => match birth_date {
                // A CCCD says the holder's birth year: it must agree with the form's.
                Some(b) => identity::check_cccd(&id_text, crate::person::Gender::Male, b)
                    .or_else(|_| identity::check_cccd(&id_text, crate::person::Gender::Female, b)),
                None => Ok(()),
            },
            9 if id_text.bytes().all(|b| b.is_ascii_digit()) => identity::check_cmnd(&id_text),
            _ => identity::check_passport(&id_text.to_uppercase()),
        };
        match checked {
            Ok(()) => Some(id_text.to_uppercase()),
            Err(e) => {
                problem("id_number", e.to_string());
                None
            }
        }
    };
    let facility = form.facility.trim().to_string();
    if facility.is_empty() {
        problem("facility", "chọn cơ sở tiêm chủng nhận phản ánh".into());
    } else if facility.len() > 40 || !known_facility(&facility) {
        problem(
            "facility",
            "không có cơ sở này: chọn lại tỉnh, xã và cơ sở trong danh sách".into(),
        );
    }
    let kind = ComplaintKind::parse(form.kind.trim());
    if kind.is_none() {
        problem("kind", "chọn loại phản ánh".into());
    }
    let vaccine_text = form.vaccine.trim();
    let vaccine = if vaccine_text.is_empty() {
        None
    } else {
        match catalogue.find(vaccine_text) {
            Some(v) => Some(v.code.clone()),
            None => {
                problem(
                    "vaccine",
                    "không có vắc xin này trong danh mục: chọn trong danh sách hoặc để trống và ghi trong phần mô tả".into(),
                );
                None
            }
        }
    };
    let vaccinated_on = match form.vaccinated_on.trim() {
        "" => None,
        text => match BirthDate::parse(text) {
            Ok(BirthDate::Full(d)) if d > today => {
                problem("vaccinated_on", "ngày tiêm ở tương lai".into());
                None
            }
            Ok(BirthDate::Full(d)) => Some(d.to_string()),
            _ => {
                problem(
                    "vaccinated_on",
                    "ngày tiêm không hợp lệ: nhập dạng dd/mm/yyyy".into(),
                );
                None
            }
        },
    };
    let place = crate::text::clean(&form.place);
    // NFC like every stored text (a phone's keyboard may send decomposed marks); line breaks kept.
    let description: String = {
        use unicode_normalization::UnicodeNormalization;
        form.description.trim().nfc().collect()
    };
    plain_text("place", &place, MAX_SHORT_TEXT, &mut problems);
    plain_text("description", &description, MAX_DESCRIPTION, &mut problems);
    if description.is_empty() {
        problems.push(FormProblem {
            field: "description",
            message: "mô tả điều cần sửa (ví dụ: mũi 2 tiêm ngày nào, ở đâu)".into(),
        });
    }
    match (birth_date, phone, kind) {
        (Some(birth_date), Some(phone), Some(kind)) if problems.is_empty() => {
            Ok(CheckedComplaint {
                full_name,
                birth_date: birth_date.to_string(),
                phone,
                id_number,
                facility,
                kind,
                vaccine,
                vaccinated_on,
                place: Some(place).filter(|p| !p.is_empty()),
                description,
            })
        }
        _ => Err(problems),
    }
}

/// A complaint as the facility's stations receive it (JSON): personal data, so the station keeps
/// it encrypted like people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ComplaintRecord {
    pub id: String,
    pub code: String,
    /// The facility it belongs to now.
    pub facility: String,
    pub full_name: String,
    pub birth_date: String,
    pub phone: String,
    pub id_number: Option<String>,
    pub kind: ComplaintKind,
    pub vaccine: Option<String>,
    pub vaccinated_on: Option<String>,
    pub place: Option<String>,
    pub description: String,
    /// How many photos of the paper card (fetched one by one when opened).
    pub photos: u32,
    /// RFC 3339 at +07:00.
    pub received_at: String,
    /// The last day to answer, `yyyy-mm-dd`.
    pub deadline: String,
    pub status: ComplaintStatus,
    pub answer: Option<String>,
    pub answered_at: Option<String>,
    pub answered_by: Option<String>,
    /// The person the facility linked it to.
    pub person_id: Option<String>,
    /// The facility that forwarded it here, and why.
    pub forwarded_from: Option<String>,
    pub forward_reason: Option<String>,
    /// Orders changes for the stations' pull.
    pub version: i64,
}

/// `GET complaints/changes?since=`: the complaints of the device's facility (and those it
/// forwarded away) changed after `since`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintPage {
    pub complaints: Vec<ComplaintRecord>,
    /// More remain after the last one.
    pub more: bool,
}

/// `POST complaints/{id}/answer`: resolved (what was changed) or rejected (why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintAnswer {
    pub status: ComplaintStatus,
    pub answer: String,
    /// The person the complaint is about, once found.
    pub person_id: Option<String>,
}

/// `POST complaints/{id}/forward`: to another facility, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintForward {
    pub to: String,
    pub reason: String,
}

/// A facility a complaint can be forwarded to, as the forwarding station lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FacilityChoice {
    pub code: String,
    pub name: String,
    pub province: Option<String>,
    pub commune: Option<String>,
}

/// Checks an answer's or a forward's text: required, plain, at most [`MAX_DESCRIPTION`].
pub fn check_reply(field: &'static str, text: &str) -> Result<String, FormProblem> {
    let text: String = {
        use unicode_normalization::UnicodeNormalization;
        text.trim().nfc().collect()
    };
    if text.is_empty() {
        return Err(FormProblem {
            field,
            message: "cần ghi nội dung trả lời cho người dân".into(),
        });
    }
    let mut problems = Vec::new();
    plain_text(field, &text, MAX_DESCRIPTION, &mut problems);
    match problems.pop() {
        Some(p) => Err(p),
        None => Ok(text),
    }
}

/// Checks that an answer saying "resolved" names the record it corrected: every complaint but
/// one of kind "other" is about a person's record. The station checks before it keeps the
/// answer; the server again when it receives it.
pub fn check_resolution(
    status: ComplaintStatus,
    kind: ComplaintKind,
    person_linked: bool,
) -> Result<(), FormProblem> {
    if status == ComplaintStatus::Resolved && kind != ComplaintKind::Other && !person_linked {
        return Err(FormProblem {
            field: "person_id",
            message: "hãy tìm và liên kết hồ sơ người tiêm (đã sửa) trước khi báo đã giải quyết"
                .into(),
        });
    }
    Ok(())
}

/// Which days count: not Saturday or Sunday, not a public holiday.
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    holidays: BTreeSet<Date>,
}

#[derive(Deserialize)]
struct HolidayFile {
    holidays: Vec<String>,
}

impl WorkingCalendar {
    /// Weekends and the holidays shipped in `data/holidays.json`.
    pub fn built_in() -> WorkingCalendar {
        let file: HolidayFile = serde_json::from_str(HOLIDAYS).unwrap_or(HolidayFile {
            holidays: Vec::new(),
        });
        let format = time::macros::format_description!("[year]-[month]-[day]");
        WorkingCalendar {
            holidays: file
                .holidays
                .iter()
                .filter_map(|d| Date::parse(d, format).ok())
                .collect(),
        }
    }

    /// Whether `day` is a working day.
    pub fn is_working_day(&self, day: Date) -> bool {
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
            && !self.holidays.contains(&day)
    }

    /// The last day to answer a complaint received on `received` (Vietnam time) with `days`
    /// working days: counting starts the working day after the day it came in.
    pub fn deadline(&self, received: Date, days: u32) -> Date {
        let mut day = received;
        let mut left = days.max(1);
        while left > 0 {
            match day.next_day() {
                Some(next) => day = next,
                None => return day,
            }
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn form() -> ComplaintForm {
        ComplaintForm {
            full_name: "Nguyễn Thị Hồng Nhung".into(),
            birth_date: "12/03/1990".into(),
            phone: "0912 345 678".into(),
            id_number: "".into(),
            facility: "TYT-TANNHUT".into(),
            kind: "missing_dose".into(),
            vaccine: "Comirnaty".into(),
            vaccinated_on: "20/11/2026".into(),
            place: "Trạm Y tế xã Tân Nhựt".into(),
            description: "Tôi đã tiêm mũi 2 nhưng trên ứng dụng chưa có.".into(),
        }
    }

    fn check(f: &ComplaintForm) -> Result<CheckedComplaint, Vec<FormProblem>> {
        check_form(
            f,
            date!(2026 - 12 - 02),
            |code| code == "TYT-TANNHUT",
            &Catalogue::built_in(),
        )
    }

    #[test]
    fn an_honest_form_is_taken_in_its_stored_form() {
        let c = check(&form()).expect("accepted");
        assert_eq!(c.phone, "0912345678");
        assert_eq!(c.birth_date, "1990-03-12");
        assert_eq!(c.vaccinated_on.as_deref(), Some("2026-11-20"));
        assert_eq!(c.kind, ComplaintKind::MissingDose);
        assert!(c.vaccine.is_some());
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let mut f = form();
        f.full_name = "<script>alert(1)</script>".into();
        f.phone = "12345".into();
        f.facility = "TYT-KHONGCO".into();
        f.description = "x".repeat(10_000);
        f.place = "<b>Trạm</b>".into();
        f.kind = "hack".into();
        let problems = check(&f).expect_err("refused");
        let fields: BTreeSet<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            BTreeSet::from([
                "full_name",
                "phone",
                "facility",
                "description",
                "place",
                "kind"
            ])
        );
        assert!(problems.iter().all(|p| !p.message.is_empty()));
    }

    #[test]
    fn a_cccd_must_agree_with_the_birth_year() {
        let mut f = form();
        f.id_number = "079190012345".into();
        assert!(check(&f).is_ok());
        f.id_number = "079185012345".into();
        let problems = check(&f).expect_err("another birth year");
        assert_eq!(problems[0].field, "id_number");
    }

    #[test]
    fn tracking_codes_survive_how_people_type_them() {
        let code = tracking_code([0x12, 0x34, 0x56, 0x78, 0x9a]);
        assert!(code.starts_with("PA-") && code.len() == 12, "{code}");
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(
            normalize_tracking_code(&typed).as_deref(),
            Some(code.as_str())
        );
        assert_eq!(
            normalize_tracking_code("PA-0O1L-ABCD").as_deref(),
            Some("PA-0011-ABCD")
        );
        assert_eq!(normalize_tracking_code("PA-123"), None);
        assert_eq!(normalize_tracking_code("PA-UUUU-UUUU"), None);
    }

    #[test]
    fn deadlines_skip_weekends_and_holidays() {
        let cal = WorkingCalendar::built_in();
        // Thursday → Friday, Monday.
        assert_eq!(
            cal.deadline(date!(2026 - 12 - 03), 2),
            date!(2026 - 12 - 07)
        );
        // Friday → Monday, Tuesday.
        assert_eq!(
            cal.deadline(date!(2026 - 12 - 04), 2),
            date!(2026 - 12 - 08)
        );
        // Before Tết 2026 (14–22 February): the days off do not count.
        assert_eq!(
            cal.deadline(date!(2026 - 02 - 12), 2),
            date!(2026 - 02 - 23)
        );
        assert!(!cal.is_working_day(date!(2026 - 09 - 02)));
    }
}
