//! The schedule applied to one person: which series concern them (by age and sex) and which
//! doses are due. The one place the station and the server decide this.

use super::{GivenDose, Schedule, SeriesStatus, Status, evaluate};
use crate::person::{BirthDate, Gender, Person};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::Date;

/// Childhood series are followed until 15 years of age. This app's convention (the age the
/// women's tetanus series starts), not a value of the legal text.
pub const CHILDHOOD_UNTIL_DAYS: i64 = 15 * 365;
/// The women's tetanus series: women of 15 to 35 years (the programme's target group).
const WOMEN_SERIES: &str = "tetanus_women";
const WOMEN_FROM_DAYS: i64 = 15 * 365;
const WOMEN_UNTIL_DAYS: i64 = 36 * 365;

/// Why a person's schedule cannot be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleGap {
    /// Only the year of birth is known; ages in days need the day.
    #[error("chỉ biết năm sinh {0}: cần ngày sinh đầy đủ để tính lịch tiêm chủng")]
    BirthYearOnly(i32),
    /// No rule set is in force on the date.
    #[error("không có lịch tiêm chủng nào áp dụng cho ngày {0}")]
    NoRuleSet(Date),
}

/// A person's schedule on a date: the rule set used and each series that concerns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PersonSchedule {
    /// The rule set's id.
    pub rule_set: String,
    /// The evaluation date.
    #[serde(with = "super::iso_date")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub on: Date,
    /// The series that concern the person (by age and sex), in the rule set's order.
    pub series: Vec<SeriesStatus>,
    /// Series started by an event rather than an age (tetanus for women: a pregnancy): a due
    /// list follows them only once a dose is counted.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    event_driven: BTreeSet<String>,
}

impl PersonSchedule {
    /// The series with a dose to give now (due or overdue) that a due list calls people for:
    /// an event-driven series only once started, since the record does not hold the event.
    pub fn due(&self) -> impl Iterator<Item = &SeriesStatus> {
        self.series.iter().filter(|s| {
            matches!(s.status, Status::Due | Status::Overdue)
                && !(s.doses_counted == 0 && self.event_driven.contains(&s.series))
        })
    }
}

/// The schedule of someone of this sex and birth date, living in `province`, with these doses
/// (every standing dose, given here or elsewhere), on `on`.
pub fn for_record(
    schedule: &Schedule,
    gender: Gender,
    birth: BirthDate,
    province: Option<&str>,
    doses: &[GivenDose],
    on: Date,
) -> Result<PersonSchedule, ScheduleGap> {
    let BirthDate::Full(birth) = birth else {
        return Err(ScheduleGap::BirthYearOnly(birth.year()));
    };
    let rule_set = schedule.rule_set_on(on).ok_or(ScheduleGap::NoRuleSet(on))?;
    let age = (on - birth).whole_days();
    let concerns = |series: &str| {
        if series == WOMEN_SERIES {
            gender == Gender::Female && (WOMEN_FROM_DAYS..WOMEN_UNTIL_DAYS).contains(&age)
        } else {
            (0..CHILDHOOD_UNTIL_DAYS).contains(&age)
        }
    };
    let series = evaluate(rule_set, birth, doses, on, province)
        .into_iter()
        .filter(|s| concerns(&s.series))
        .collect();
    Ok(PersonSchedule {
        rule_set: rule_set.id.clone(),
        on,
        series,
        event_driven: rule_set
            .antigens
            .iter()
            .filter(|a| a.by_interval_only)
            .map(|a| a.id.clone())
            .collect(),
    })
}

/// Every standing dose of `person` (history included) as the engine counts it.
pub fn given_doses(person: &Person) -> Vec<GivenDose> {
    person
        .active_doses()
        .into_iter()
        .map(|d| GivenDose {
            product: d.vaccine.clone(),
            given_on: d.given_at.date(),
        })
        .collect()
}

/// The schedule of `person` on `on`, counting every standing dose (history included).
pub fn for_person(
    schedule: &Schedule,
    person: &Person,
    on: Date,
) -> Result<PersonSchedule, ScheduleGap> {
    let doses = given_doses(person);
    for_record(
        schedule,
        person.gender,
        person.birth_date,
        person.address.province.as_deref(),
        &doses,
        on,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Status;
    use time::macros::date;

    fn dose(product: &str, given_on: Date) -> GivenDose {
        GivenDose {
            product: product.into(),
            given_on,
        }
    }

    fn statuses(s: &PersonSchedule) -> Vec<(&str, Status)> {
        s.series
            .iter()
            .map(|x| (x.series.as_str(), x.status))
            .collect()
    }

    #[test]
    fn a_girl_of_two_months_is_followed_for_childhood_series_only() {
        let schedule = Schedule::current().unwrap();
        let birth = date!(2026 - 10 - 01);
        let on = date!(2026 - 12 - 01);
        let doses = [dose("hepb", birth), dose("bcg", date!(2026 - 10 - 03))];
        let s = for_record(
            &schedule,
            Gender::Female,
            BirthDate::Full(birth),
            None,
            &doses,
            on,
        )
        .unwrap();
        let st = statuses(&s);
        assert!(st.contains(&("hepb_birth", Status::Complete)), "{st:?}");
        assert!(st.contains(&("bcg", Status::Complete)), "{st:?}");
        assert!(st.contains(&("dtp", Status::Due)), "{st:?}");
        assert!(!st.iter().any(|(id, _)| *id == "tetanus_women"), "{st:?}");
        let due: Vec<&str> = s.due().map(|x| x.series.as_str()).collect();
        assert!(due.contains(&"dtp") && due.contains(&"bopv"), "{due:?}");
        assert!(!due.contains(&"measles"), "measles is not yet due: {due:?}");
    }

    #[test]
    fn womens_tetanus_concerns_women_of_15_to_35_and_is_called_for_once_started() {
        let schedule = Schedule::current().unwrap();
        let on = date!(2026 - 12 - 01);
        let woman = BirthDate::Full(date!(2000 - 05 - 10));
        let none = for_record(&schedule, Gender::Female, woman, None, &[], on).unwrap();
        assert_eq!(
            statuses(&none),
            vec![("tetanus_women", Status::Due)],
            "an adult woman is followed for tetanus only"
        );
        assert_eq!(none.due().count(), 0, "not called before a first dose");
        let started = for_record(
            &schedule,
            Gender::Female,
            woman,
            None,
            &[dose("tt", date!(2026 - 09 - 01))],
            on,
        )
        .unwrap();
        let due: Vec<(&str, Option<u8>)> = started
            .due()
            .map(|x| (x.series.as_str(), x.next_dose))
            .collect();
        assert_eq!(due, vec![("tetanus_women", Some(2))]);
        let man = for_record(&schedule, Gender::Male, woman, None, &[], on).unwrap();
        assert!(man.series.is_empty(), "{:?}", statuses(&man));
        let older = BirthDate::Full(date!(1988 - 01 - 01));
        let older = for_record(&schedule, Gender::Female, older, None, &[], on).unwrap();
        assert!(
            older.series.is_empty(),
            "a woman of 38 is not in the target group"
        );
    }

    #[test]
    fn a_schedule_needs_the_day_of_birth() {
        let schedule = Schedule::current().unwrap();
        let err = for_record(
            &schedule,
            Gender::Male,
            BirthDate::Year(2025),
            None,
            &[],
            date!(2026 - 01 - 01),
        )
        .unwrap_err();
        assert_eq!(err, ScheduleGap::BirthYearOnly(2025));
        assert!(err.to_string().contains("ngày sinh đầy đủ"));
    }

    #[test]
    fn schedules_serialize_dates_as_iso_strings() {
        let schedule = Schedule::current().unwrap();
        let birth = date!(2026 - 10 - 01);
        let s = for_record(
            &schedule,
            Gender::Male,
            BirthDate::Full(birth),
            None,
            &[dose("hepb", birth)],
            date!(2026 - 12 - 01),
        )
        .unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["on"], "2026-12-01");
        let hepb = json["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["series"] == "hepb_birth")
            .unwrap();
        assert_eq!(hepb["counted_on"][0], "2026-10-01");
        assert_eq!(hepb["status"], "complete");
    }
}
