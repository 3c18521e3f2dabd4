//! Coverage by birth cohort: of the children born in a year or a month, how many reached each
//! indicator of the rule set (every dose of it counted by the engine), how many on time, and
//! how many by 12 and by 24 months of age. One home for the station's figures and the
//! console's, so a commune and its district count alike.
//!
//! Conventions:
//! - An indicator is *reached* on the day its last missing dose is given; only counted doses
//!   count (an early dose or one past the maximum age does not).
//! - *On time*: every dose of it was given before it became overdue (the engine's status on
//!   the day of the dose, without it, was not `overdue`).
//! - *By 12 months*: reached before the first birthday (age < 365 days), counted among the
//!   children who are 12 months old on the evaluation date; likewise by 24 months (730 days).
//!   An indicator whose doses cannot count before 12 months has no "by 12 months" figure.

use super::{GivenDose, RuleSet, Schedule, ScheduleGap, SeriesStatus, Status, evaluate, iso_date};
use serde::Serialize;
use std::collections::BTreeMap;
use time::{Date, Duration, Month};

/// The first birthday, in the schedule's days (1 year = 365 days).
pub const TWELVE_MONTHS_DAYS: i64 = 365;
/// The second birthday.
pub const TWENTY_FOUR_MONTHS_DAYS: i64 = 730;

/// A cohort typed in a form that is neither a year nor a month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "nhóm trẻ \"{0}\" không hợp lệ: nhập năm sinh (2025) hoặc tháng sinh (2025-06 hoặc 06/2025)"
)]
pub struct CohortError(pub String);

/// Children born in one year or one month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Cohort {
    /// First day of birth (inclusive).
    #[serde(with = "iso_date")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub from: Date,
    /// Last day of birth (inclusive).
    #[serde(with = "iso_date")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub until: Date,
}

impl Cohort {
    /// A year (`2025`) or a month (`2025-06`, `06/2025`).
    pub fn parse(text: &str) -> Result<Cohort, CohortError> {
        let t = text.trim();
        let bad = || CohortError(t.to_string());
        let year = |y: &str| {
            (y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
                .then(|| y.parse::<i32>().ok())
                .flatten()
                .filter(|y| (1900..=9999).contains(y))
        };
        let month = |m: &str| {
            (1..=2)
                .contains(&m.len())
                .then(|| m.parse::<u8>().ok())
                .flatten()
                .and_then(|m| Month::try_from(m).ok())
        };
        let (y, m) = if let Some((y, m)) = t.split_once('-') {
            (year(y).ok_or_else(bad)?, Some(month(m).ok_or_else(bad)?))
        } else if let Some((m, y)) = t.split_once('/') {
            (year(y).ok_or_else(bad)?, Some(month(m).ok_or_else(bad)?))
        } else {
            (year(t).ok_or_else(bad)?, None)
        };
        let (first, last) = match m {
            Some(m) => (m, m),
            None => (Month::January, Month::December),
        };
        let from = Date::from_calendar_date(y, first, 1).map_err(|_| bad())?;
        let until = Date::from_calendar_date(y, last, last.length(y)).map_err(|_| bad())?;
        Ok(Cohort { from, until })
    }

    /// Whether someone born on `birth` belongs to it.
    pub fn contains(&self, birth: Date) -> bool {
        (self.from..=self.until).contains(&birth)
    }

    /// "năm 2025" or "tháng 06/2025".
    pub fn label(&self) -> String {
        if self.from.month() == self.until.month() {
            format!(
                "tháng {:02}/{}",
                u8::from(self.from.month()),
                self.from.year()
            )
        } else {
            format!("năm {}", self.from.year())
        }
    }
}

/// How many children of a group reached one indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct IndicatorCount {
    /// The indicator's id, e.g. `dtp3`.
    pub indicator: String,
    /// Its Vietnamese name.
    pub name: String,
    /// Reached by the evaluation date, at any age.
    pub reached: u32,
    /// Reached with every dose of its series up to it given before it was overdue.
    pub on_time: u32,
    /// Reached before 12 months of age, among those 12 months old; `None` where its doses
    /// cannot count before 12 months.
    pub by_12_months: Option<u32>,
    /// Children of the group 12 months old on the evaluation date.
    pub aged_12_months: u32,
    /// Reached before 24 months of age, among those 24 months old.
    pub by_24_months: Option<u32>,
    /// Children of the group 24 months old on the evaluation date.
    pub aged_24_months: u32,
}

/// Coverage of a group of children on a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Coverage {
    /// The rule set whose indicators and rules were used.
    pub rule_set: String,
    /// The evaluation date.
    #[serde(with = "iso_date")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub on: Date,
    /// Children in the group (with a full birth date).
    pub children: u32,
    /// One count per indicator, in the rule set's order.
    pub indicators: Vec<IndicatorCount>,
}

/// When one child reached an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// The day its last dose was given.
    pub on: Date,
    /// Every dose given before it was overdue.
    pub on_time: bool,
}

/// For one child, each indicator of `rule_set` (in order): when reached, if by `on`.
pub fn reached(
    rule_set: &RuleSet,
    birth: Date,
    doses: &[GivenDose],
    on: Date,
    province: Option<&str>,
) -> Vec<Option<Reached>> {
    let now = evaluate(rule_set, birth, doses, on, province);
    let series =
        |statuses: &[SeriesStatus], id: &str| statuses.iter().find(|s| s.series == id).cloned();
    // The engine's view on the day of each dose, without the doses of that day.
    let mut on_the_day: BTreeMap<Date, Vec<SeriesStatus>> = BTreeMap::new();
    rule_set
        .indicators
        .iter()
        .map(|indicator| {
            let mut last = None::<Date>;
            let mut on_time = true;
            for (id, dose) in &indicator.doses {
                let counted = series(&now, id)?.counted_on;
                let upto = counted.get(..usize::from(*dose))?;
                last = last.max(upto.last().copied());
                // Every dose of the series up to this one, each on its own day.
                for &given in upto {
                    let before = on_the_day.entry(given).or_insert_with(|| {
                        let earlier: Vec<GivenDose> = doses
                            .iter()
                            .filter(|d| d.given_on < given)
                            .cloned()
                            .collect();
                        evaluate(rule_set, birth, &earlier, given, province)
                    });
                    on_time &= series(before, id).is_some_and(|s| s.status != Status::Overdue);
                }
            }
            last.map(|on| Reached { on, on_time })
        })
        .collect()
}

/// Counts children one by one into a [`Coverage`].
#[derive(Debug, Clone)]
pub struct Counter<'a> {
    rule_set: &'a RuleSet,
    coverage: Coverage,
}

impl<'a> Counter<'a> {
    /// A counter for the rule set in force on `on`.
    pub fn new(schedule: &'a Schedule, on: Date) -> Result<Counter<'a>, ScheduleGap> {
        let rule_set = schedule.rule_set_on(on).ok_or(ScheduleGap::NoRuleSet(on))?;
        let before_days = |days: i64| {
            rule_set.indicators.iter().map(move |i| {
                i.doses.iter().all(|(id, dose)| {
                    rule_set
                        .antigen(id)
                        .and_then(|a| a.doses.get(usize::from(*dose) - 1))
                        .is_some_and(|d| i64::from(d.min_age_days) < days)
                })
            })
        };
        let indicators = rule_set
            .indicators
            .iter()
            .zip(before_days(TWELVE_MONTHS_DAYS))
            .zip(before_days(TWENTY_FOUR_MONTHS_DAYS))
            .map(|((i, by_12), by_24)| IndicatorCount {
                indicator: i.id.clone(),
                name: i.name.clone(),
                reached: 0,
                on_time: 0,
                by_12_months: by_12.then_some(0),
                aged_12_months: 0,
                by_24_months: by_24.then_some(0),
                aged_24_months: 0,
            })
            .collect();
        Ok(Counter {
            rule_set,
            coverage: Coverage {
                rule_set: rule_set.id.clone(),
                on,
                children: 0,
                indicators,
            },
        })
    }

    /// Counts a child born on `birth` (not after the evaluation date) with these doses.
    pub fn add(&mut self, birth: Date, province: Option<&str>, doses: &[GivenDose]) {
        let on = self.coverage.on;
        if birth > on {
            return;
        }
        self.coverage.children += 1;
        let birthday = |days: i64| birth.checked_add(Duration::days(days)).unwrap_or(Date::MAX);
        let (first, second) = (
            birthday(TWELVE_MONTHS_DAYS),
            birthday(TWENTY_FOUR_MONTHS_DAYS),
        );
        let reached = reached(self.rule_set, birth, doses, on, province);
        for (count, reached) in self.coverage.indicators.iter_mut().zip(reached) {
            for (aged, by, birthday) in [
                (&mut count.aged_12_months, &mut count.by_12_months, first),
                (&mut count.aged_24_months, &mut count.by_24_months, second),
            ] {
                if birthday <= on {
                    *aged += 1;
                    if let (Some(by), Some(r)) = (by.as_mut(), reached)
                        && r.on < birthday
                    {
                        *by += 1;
                    }
                }
            }
            if let Some(r) = reached {
                count.reached += 1;
                count.on_time += u32::from(r.on_time);
            }
        }
    }

    /// The counts so far.
    pub fn finish(self) -> Coverage {
        self.coverage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn dose(product: &str, birth: Date, age: i64) -> GivenDose {
        GivenDose {
            product: product.into(),
            given_on: birth + Duration::days(age),
        }
    }

    fn count<'a>(c: &'a Coverage, id: &str) -> &'a IndicatorCount {
        c.indicators
            .iter()
            .find(|i| i.indicator == id)
            .unwrap_or_else(|| panic!("indicator {id}"))
    }

    #[test]
    fn cohorts_are_a_year_or_a_month_and_anything_else_is_refused() {
        let y = Cohort::parse("2025").unwrap();
        assert_eq!(
            (y.from, y.until),
            (date!(2025 - 01 - 01), date!(2025 - 12 - 31))
        );
        assert_eq!(y.label(), "năm 2025");
        let m = Cohort::parse(" 02/2024 ").unwrap();
        assert_eq!(
            (m.from, m.until),
            (date!(2024 - 02 - 01), date!(2024 - 02 - 29))
        );
        assert_eq!(Cohort::parse("2024-2").unwrap(), m);
        assert_eq!(m.label(), "tháng 02/2024");
        for bad in [
            "",
            "25",
            "2025-13",
            "2025-00",
            "năm 2025",
            "2025-06-01",
            "x/2025",
        ] {
            let err = Cohort::parse(bad).unwrap_err();
            assert!(err.to_string().contains("năm sinh"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_child_on_time_late_and_missing_is_counted_on_each_indicator() {
        let schedule = Schedule::current().unwrap();
        let birth = date!(2024 - 01 - 10);
        let on = date!(2026 - 03 - 01);
        let mut counter = Counter::new(&schedule, on).unwrap();
        // Birth doses on day 0, the 5-in-1 at 2, 3 and 4 months with bOPV, IPV at 5 months,
        // measles at 9 months: fully immunized on time before 12 months.
        let mut doses = vec![dose("hepb", birth, 0), dose("bcg", birth, 0)];
        for age in [60, 90, 120] {
            doses.push(dose("dtp_hepb_hib", birth, age));
            doses.push(dose("bopv", birth, age));
        }
        doses.push(dose("ipv", birth, 150));
        doses.push(dose("measles", birth, 270));
        // The 18-month MR given late, after two years: reached, not on time, not by 24 months.
        doses.push(dose("mr", birth, 760));
        counter.add(birth, None, &doses);
        // A second child with the birth dose at day 3 (not counted) and nothing else.
        counter.add(birth, None, &[dose("hepb", birth, 3)]);
        // A third born after the evaluation date is not a child of the group yet.
        counter.add(on + Duration::days(1), None, &[]);
        let c = counter.finish();
        assert_eq!(c.children, 2);
        let full = count(&c, "full");
        assert_eq!(
            (
                full.reached,
                full.on_time,
                full.by_12_months,
                full.aged_12_months
            ),
            (1, 1, Some(1), 2)
        );
        let mr = count(&c, "mr");
        assert_eq!(
            (
                mr.reached,
                mr.on_time,
                mr.by_12_months,
                mr.by_24_months,
                mr.aged_24_months
            ),
            (1, 0, None, Some(0), 2)
        );
        let hepb = count(&c, "hepb_birth");
        assert_eq!((hepb.reached, hepb.on_time), (1, 1));
        let dtp4 = count(&c, "dtp4");
        assert_eq!((dtp4.reached, dtp4.by_24_months), (0, Some(0)));
    }

    #[test]
    fn a_late_dose_is_counted_but_not_on_time_and_a_dose_not_yet_due_counts_nowhere() {
        let schedule = Schedule::current().unwrap();
        let birth = date!(2025 - 06 - 01);
        let on = date!(2026 - 12 - 01);
        let rule_set = schedule.rule_set_on(on).unwrap();
        // DTP1 at 4 months: overdue from 90 days (due 60 + 30); the next two on their intervals.
        let doses: Vec<GivenDose> = [120, 150, 180]
            .into_iter()
            .map(|a| dose("dtp_hepb_hib", birth, a))
            .collect();
        let r = reached(rule_set, birth, &doses, on, None);
        let at = |id: &str| {
            let i = rule_set.indicators.iter().position(|x| x.id == id).unwrap();
            r[i]
        };
        assert_eq!(
            at("dtp3"),
            Some(Reached {
                on: birth + Duration::days(180),
                on_time: false
            })
        );
        // Given on the last day before overdue: on time.
        let edge = [dose("bcg", birth, 29)];
        let r = reached(rule_set, birth, &edge, on, None);
        let i = rule_set
            .indicators
            .iter()
            .position(|x| x.id == "bcg")
            .unwrap();
        assert_eq!(r[i].map(|r| r.on_time), Some(true));
        let late = [dose("bcg", birth, 30)];
        let r = reached(rule_set, birth, &late, on, None);
        assert_eq!(r[i].map(|r| r.on_time), Some(false));
        // Evaluated before the doses: none reached.
        let r = reached(rule_set, birth, &doses, birth + Duration::days(100), None);
        assert!(r.iter().all(Option::is_none), "{r:?}");
    }
}
