//! Routine immunization (TCMR, Tiêm chủng mở rộng): the national schedule as versioned data
//! (`data/schedule.json`) and a pure engine that says, for one person on one date, where each
//! series stands.
//!
//! Conventions (also written in the data file):
//! - Ages are whole days since birth (`on - birth`); 1 month = 30 days, 1 year = 365 days.
//! - A dose's *earliest* date is the latest of: birth plus `min_age_days`, the previous counted
//!   dose plus `min_interval_days`, and (for live injectable series) 28 days after any live
//!   injectable dose of another series given on a different day. If the evaluation date itself
//!   falls inside such a 28-day window, `earliest` is the day the window closes (so a dose is
//!   never reported as givable on a day it would not count).
//! - A dose's *due* date is the latest of: its earliest date, birth + `due_age_days`, and the
//!   previous counted dose + `due_interval_days`.
//! - `overdue_after_days` counts days after the due date: from `due + overdue_after_days` on, the
//!   dose is overdue. Absent means never overdue (e.g. tetanus for women).
//! - `max_age_days`: a dose given past this age is not counted (listed in `late_doses`), and a
//!   series still missing that dose past this age is [`Status::TooOld`].
//! - Doses given after the evaluation date are ignored, so history can be replayed.
//!
//! Nothing here reads a clock or a file: the date is a parameter and the data is embedded.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use time::{Date, Duration};

const BUILT_IN: &str = include_str!("../data/schedule.json");

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// Lists of dates as `yyyy-mm-dd` strings (what JSON readers expect).
mod iso_dates {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use time::Date;

    #[derive(Serialize, Deserialize)]
    struct Day(#[serde(with = "super::iso_date")] Date);

    pub fn serialize<S: Serializer>(dates: &[Date], s: S) -> Result<S::Ok, S::Error> {
        let days: Vec<Day> = dates.iter().map(|d| Day(*d)).collect();
        days.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Date>, D::Error> {
        Ok(Vec::<Day>::deserialize(d)?
            .into_iter()
            .map(|d| d.0)
            .collect())
    }
}

/// A schedule file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The JSON does not have the schedule's shape.
    #[error("lịch tiêm chủng không đọc được: {0}")]
    Parse(String),
    /// The file holds no rule set.
    #[error("lịch tiêm chủng không có bộ quy tắc nào")]
    Empty,
    /// Two rule sets, antigens or products share an id.
    #[error("mã trùng lặp trong lịch tiêm chủng: {0}")]
    Duplicate(String),
    /// A product counts for a series the rule set does not define.
    #[error("sản phẩm \"{product}\" tính cho loạt \"{series}\" không có trong lịch")]
    UnknownSeries { product: String, series: String },
    /// A coverage indicator names a series the rule set does not define.
    #[error("chỉ số bao phủ \"{indicator}\" nêu loạt \"{series}\" không có trong lịch")]
    IndicatorSeries { indicator: String, series: String },
    /// A province start date that is not an ISO date.
    #[error("ngày đưa vào tỉnh \"{province}\" không hợp lệ: {value}")]
    BadDate { province: String, value: String },
    /// A dose rule that contradicts itself or the antigen's kind.
    #[error("quy tắc mũi {dose} của \"{antigen}\" không hợp lệ: {reason}")]
    BadRule {
        antigen: String,
        dose: usize,
        reason: &'static str,
    },
}

/// How a vaccine is given (live oral vaccines are exempt from live-injectable spacing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Injection,
    Oral,
}

/// The rule for one dose of a series.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseRule {
    /// Minimum age in days for the dose to count.
    pub min_age_days: u32,
    /// Recommended age in days (absent for interval-only series).
    #[serde(default)]
    pub due_age_days: Option<u32>,
    /// Recommended days after the previous counted dose.
    #[serde(default)]
    pub due_interval_days: Option<u32>,
    /// Days after the due date from which the dose is overdue; absent: never overdue.
    #[serde(default)]
    pub overdue_after_days: Option<u32>,
    /// Minimum days after the previous counted dose.
    #[serde(default)]
    pub min_interval_days: u32,
    /// Age in days after which the dose is no longer given.
    #[serde(default)]
    pub max_age_days: Option<u32>,
    /// False where the values could not be confirmed against a source.
    #[serde(default = "yes")]
    pub confirmed: bool,
    /// Why a value is what it is, or what is unconfirmed.
    #[serde(default)]
    pub note: Option<String>,
}

fn yes() -> bool {
    true
}

/// An antigen (series) with its doses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Antigen {
    /// Stable series id (e.g. `"dtp"`).
    pub id: String,
    /// Display name (Vietnamese).
    pub name: String,
    /// Live attenuated vaccine.
    pub live: bool,
    /// How it is given.
    pub route: Route,
    /// Due dates follow intervals only, never age (tetanus for women).
    #[serde(default)]
    pub by_interval_only: bool,
    /// Province-gated antigens: province → date it is offered from. `None`: offered everywhere.
    #[serde(default, deserialize_with = "province_dates")]
    pub introduced: Option<BTreeMap<String, Date>>,
    /// The legal or programme text the rule comes from.
    pub source: String,
    /// False where the antigen's values could not be confirmed.
    pub confirmed: bool,
    /// Remarks on the rule.
    #[serde(default)]
    pub note: Option<String>,
    /// The doses, in order.
    pub doses: Vec<DoseRule>,
}

impl Antigen {
    fn live_injectable(&self) -> bool {
        self.live && self.route == Route::Injection
    }
}

fn province_dates<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, Date>>, D::Error> {
    let raw: Option<BTreeMap<String, String>> = Option::deserialize(d)?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    raw.map(|m| {
        m.into_iter()
            .map(|(province, value)| match Date::parse(&value, format) {
                Ok(date) => Ok((province, date)),
                Err(_) => Err(serde::de::Error::custom(
                    ScheduleError::BadDate { province, value }.to_string(),
                )),
            })
            .collect()
    })
    .transpose()
}

/// A product and the series each of its doses counts toward.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Stable product code (e.g. `"dtp_hepb_hib"`).
    pub code: String,
    /// Display name (Vietnamese).
    pub name: String,
    /// Other names people type (brand names, "5 trong 1"); matched without case or diacritics.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Series ids a dose counts for.
    pub series: Vec<String>,
    /// Remarks.
    #[serde(default)]
    pub note: Option<String>,
}

/// Spacing between live injectable vaccines of different series.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSpacing {
    /// Days required unless given the same day.
    pub days: u32,
    /// False where the rule could not be confirmed.
    pub confirmed: bool,
    /// Where the rule comes from.
    pub source: String,
    /// Remarks.
    #[serde(default)]
    pub note: Option<String>,
}

/// One version of the schedule, in force from `effective_from`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Stable id (e.g. `"tcmr-2024"`).
    pub id: String,
    /// Display name (Vietnamese).
    pub name: String,
    /// The legal text the rule set implements.
    pub source: String,
    /// First date the rule set applies.
    #[serde(with = "iso_date")]
    pub effective_from: Date,
    /// False where the rule set's own data (e.g. its date) could not be confirmed.
    pub confirmed: bool,
    /// Remarks.
    #[serde(default)]
    pub note: Option<String>,
    /// Live-vaccine spacing; absent: not applied.
    #[serde(default)]
    pub live_spacing: Option<LiveSpacing>,
    /// The series.
    pub antigens: Vec<Antigen>,
    /// The products and what they count for.
    pub products: Vec<Product>,
    /// Why the coverage indicators are what they are.
    #[serde(default)]
    pub indicators_note: Option<String>,
    /// The coverage indicators the programme monitors (see [`coverage`]).
    #[serde(default)]
    pub indicators: Vec<Indicator>,
}

/// A coverage indicator: reached when every listed dose counts (e.g. DPT-VGB-Hib 3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    /// Stable id (e.g. `"dtp3"`).
    pub id: String,
    /// Display name (Vietnamese).
    pub name: String,
    /// The doses that make it: (series id, dose number from 1).
    pub doses: Vec<(String, u8)>,
    /// False where the indicator's make-up could not be confirmed.
    #[serde(default = "yes")]
    pub confirmed: bool,
}

impl RuleSet {
    /// The antigen with this id.
    pub fn antigen(&self, id: &str) -> Option<&Antigen> {
        self.antigens.iter().find(|a| a.id == id)
    }

    /// The product with this code.
    pub fn product(&self, code: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.code == code)
    }

    /// The product a person typed: its code, name or an alias, ignoring case and diacritics.
    pub fn find_product(&self, typed: &str) -> Option<&Product> {
        let key = crate::text::fold(typed);
        self.products.iter().find(|p| {
            crate::text::fold(&p.code) == key
                || crate::text::fold(&p.name) == key
                || p.aliases.iter().any(|a| crate::text::fold(a) == key)
        })
    }

    fn check(&self) -> Result<(), ScheduleError> {
        let mut ids = BTreeSet::new();
        for a in &self.antigens {
            if !ids.insert(a.id.as_str()) {
                return Err(ScheduleError::Duplicate(a.id.clone()));
            }
            let bad = |dose: usize, reason| ScheduleError::BadRule {
                antigen: a.id.clone(),
                dose,
                reason,
            };
            if a.doses.is_empty() || a.doses.len() > usize::from(u8::MAX) {
                return Err(bad(0, "số mũi phải từ 1 đến 255"));
            }
            for (i, d) in a.doses.iter().enumerate() {
                let n = i + 1;
                if i == 0 && (d.min_interval_days > 0 || d.due_interval_days.is_some()) {
                    return Err(bad(n, "mũi đầu không có khoảng cách với mũi trước"));
                }
                if a.by_interval_only && d.due_age_days.is_some() {
                    return Err(bad(n, "lịch theo khoảng cách không có tuổi khuyến cáo"));
                }
                if !a.by_interval_only && d.due_age_days.is_none() && d.due_interval_days.is_none()
                {
                    return Err(bad(n, "thiếu tuổi hoặc khoảng cách khuyến cáo"));
                }
                if d.due_age_days.is_some_and(|due| due < d.min_age_days) {
                    return Err(bad(n, "tuổi khuyến cáo nhỏ hơn tuổi tối thiểu"));
                }
                if d.due_interval_days
                    .is_some_and(|due| due < d.min_interval_days)
                {
                    return Err(bad(n, "khoảng cách khuyến cáo nhỏ hơn tối thiểu"));
                }
                if d.max_age_days.is_some_and(|max| max < d.min_age_days) {
                    return Err(bad(n, "tuổi tối đa nhỏ hơn tuổi tối thiểu"));
                }
            }
        }
        let mut indicators = BTreeSet::new();
        for i in &self.indicators {
            if !indicators.insert(i.id.as_str()) {
                return Err(ScheduleError::Duplicate(i.id.clone()));
            }
            for (series, dose) in &i.doses {
                let Some(a) = self.antigen(series) else {
                    return Err(ScheduleError::IndicatorSeries {
                        indicator: i.id.clone(),
                        series: series.clone(),
                    });
                };
                if *dose == 0 || usize::from(*dose) > a.doses.len() {
                    return Err(ScheduleError::BadRule {
                        antigen: a.id.clone(),
                        dose: usize::from(*dose),
                        reason: "chỉ số bao phủ nêu mũi không có trong loạt",
                    });
                }
            }
            if i.doses.is_empty() {
                return Err(ScheduleError::BadRule {
                    antigen: i.id.clone(),
                    dose: 0,
                    reason: "chỉ số bao phủ không nêu mũi nào",
                });
            }
        }
        let mut codes = BTreeSet::new();
        for p in &self.products {
            if !codes.insert(p.code.as_str()) {
                return Err(ScheduleError::Duplicate(p.code.clone()));
            }
            for s in &p.series {
                if !ids.contains(s.as_str()) {
                    return Err(ScheduleError::UnknownSeries {
                        product: p.code.clone(),
                        series: s.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Every version of the schedule, sorted by `effective_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    rule_sets: Vec<RuleSet>,
}

impl Schedule {
    /// The schedule shipped with the software.
    pub fn current() -> Result<Schedule, ScheduleError> {
        Schedule::load(BUILT_IN)
    }

    /// Reads and checks a schedule file (`{"rule_sets": [...]}`).
    pub fn load(json: &str) -> Result<Schedule, ScheduleError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            rule_sets: Vec<RuleSet>,
        }
        let file: File =
            serde_json::from_str(json).map_err(|e| ScheduleError::Parse(e.to_string()))?;
        let mut rule_sets = file.rule_sets;
        if rule_sets.is_empty() {
            return Err(ScheduleError::Empty);
        }
        rule_sets.sort_by_key(|r| r.effective_from);
        let mut ids = BTreeSet::new();
        for (i, r) in rule_sets.iter().enumerate() {
            if !ids.insert(r.id.as_str())
                || (i > 0 && rule_sets[i - 1].effective_from == r.effective_from)
            {
                return Err(ScheduleError::Duplicate(r.id.clone()));
            }
            r.check()?;
        }
        Ok(Schedule { rule_sets })
    }

    /// All rule sets, oldest first.
    pub fn rule_sets(&self) -> &[RuleSet] {
        &self.rule_sets
    }

    /// The rule set in force on `date`: the latest whose `effective_from` is not after it.
    pub fn rule_set_on(&self, date: Date) -> Option<&RuleSet> {
        self.rule_sets
            .iter()
            .rev()
            .find(|r| r.effective_from <= date)
    }
}

/// A dose as recorded: which product, on which day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GivenDose {
    /// Product code from the rule set's `products`.
    pub product: String,
    /// The day it was given.
    #[serde(with = "iso_date")]
    pub given_on: Date,
}

/// Where a series stands on the evaluation date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Status {
    /// Every dose counted.
    Complete,
    /// The next dose may be given now.
    Due,
    /// The next dose is past its overdue threshold.
    Overdue,
    /// The next dose cannot be given yet.
    NotYet,
    /// Past the maximum age for the missing dose.
    TooOld,
    /// Not offered where the person lives (province-gated antigen).
    NotOffered,
}

/// The evaluation of one series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SeriesStatus {
    /// Antigen (series) id.
    pub series: String,
    /// The antigen's name (Vietnamese), from the rule set.
    pub name: String,
    /// Where the series stands.
    pub status: Status,
    /// How many doses count.
    pub doses_counted: u8,
    /// The days of the counted doses.
    #[serde(with = "iso_dates")]
    #[cfg_attr(feature = "ts", ts(type = "Array<string>"))]
    pub counted_on: Vec<Date>,
    /// Number (1-based) of the next dose, if any is missing.
    pub next_dose: Option<u8>,
    /// Earliest valid date for the next dose.
    #[serde(with = "iso_date::option")]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub earliest: Option<Date>,
    /// Recommended date for the next dose.
    #[serde(with = "iso_date::option")]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub due: Option<Date>,
    /// Doses given too early (age, interval or live spacing): not counted.
    #[serde(with = "iso_dates")]
    #[cfg_attr(feature = "ts", ts(type = "Array<string>"))]
    pub early_doses: Vec<Date>,
    /// Doses given past the maximum age: not counted.
    #[serde(with = "iso_dates")]
    #[cfg_attr(feature = "ts", ts(type = "Array<string>"))]
    pub late_doses: Vec<Date>,
}

fn plus(date: Date, days: u32) -> Date {
    date.checked_add(Duration::days(i64::from(days)))
        .unwrap_or(Date::MAX)
}

/// Age in whole days (negative before birth).
fn age(birth: Date, on: Date) -> i64 {
    (on - birth).whole_days()
}

/// Evaluates every series of `rule_set` for a person born on `birth`, given `doses`, as of `on`,
/// living in `province` (for province-gated antigens). Doses of unknown products and doses
/// after `on` are ignored. Pure: the result depends only on the arguments.
pub fn evaluate(
    rule_set: &RuleSet,
    birth: Date,
    doses: &[GivenDose],
    on: Date,
    province: Option<&str>,
) -> Vec<SeriesStatus> {
    let mut known: Vec<(Date, &Product)> = doses
        .iter()
        .filter(|d| d.given_on <= on)
        .filter_map(|d| rule_set.product(&d.product).map(|p| (d.given_on, p)))
        .collect();
    known.sort_by_key(|(date, _)| *date);
    let live_injectable = |p: &Product| {
        p.series
            .iter()
            .any(|s| rule_set.antigen(s).is_some_and(Antigen::live_injectable))
    };
    rule_set
        .antigens
        .iter()
        .map(|antigen| {
            // Live injectable doses of other series: they push this series' doses back.
            let others: Vec<Date> = match (&rule_set.live_spacing, antigen.live_injectable()) {
                (Some(_), true) => known
                    .iter()
                    .filter(|(_, p)| !p.series.contains(&antigen.id) && live_injectable(p))
                    .map(|(date, _)| *date)
                    .collect(),
                _ => Vec::new(),
            };
            let spacing = rule_set.live_spacing.as_ref().map_or(0, |s| s.days);
            let mine = known
                .iter()
                .filter(|(_, p)| p.series.contains(&antigen.id))
                .map(|(date, _)| *date);
            evaluate_series(antigen, birth, mine, &others, spacing, on, province)
        })
        .collect()
}

/// The earliest date not before `from` that is not 1..spacing-1 days after a date in `others`.
fn after_live_spacing(mut from: Date, others: &[Date], spacing: u32) -> Date {
    loop {
        let blocked = others
            .iter()
            .filter(|&&o| o < from && from < plus(o, spacing))
            .max();
        match blocked {
            Some(&o) => from = plus(o, spacing),
            None => return from,
        }
    }
}

fn evaluate_series(
    antigen: &Antigen,
    birth: Date,
    mine: impl Iterator<Item = Date>,
    others: &[Date],
    spacing: u32,
    on: Date,
    province: Option<&str>,
) -> SeriesStatus {
    let mut counted: Vec<Date> = Vec::new();
    let mut early = Vec::new();
    let mut late = Vec::new();
    let earliest_for = |rule: &DoseRule, counted: &[Date]| {
        let mut e = plus(birth, rule.min_age_days);
        if let Some(&last) = counted.last() {
            e = e.max(plus(last, rule.min_interval_days));
        }
        e
    };
    for given in mine {
        let Some(rule) = antigen.doses.get(counted.len()) else {
            break; // extra doses past the series are not counted
        };
        let earliest = earliest_for(rule, &counted);
        if given < earliest || after_live_spacing(given, others, spacing) != given {
            early.push(given);
        } else if rule
            .max_age_days
            .is_some_and(|max| age(birth, given) > i64::from(max))
        {
            late.push(given);
        } else {
            counted.push(given);
        }
    }
    let doses_counted = u8::try_from(counted.len()).unwrap_or(u8::MAX);
    let mut result = SeriesStatus {
        series: antigen.id.clone(),
        name: antigen.name.clone(),
        status: Status::Complete,
        doses_counted,
        counted_on: counted.clone(),
        next_dose: None,
        earliest: None,
        due: None,
        early_doses: early,
        late_doses: late,
    };
    let Some(rule) = antigen.doses.get(counted.len()) else {
        return result;
    };
    let mut earliest = after_live_spacing(earliest_for(rule, &counted), others, spacing);
    let mut due = earliest;
    let window_end = after_live_spacing(on, others, spacing);
    if earliest <= on && window_end > on {
        // Inside a live-spacing window today: not before the window closes.
        earliest = window_end;
        due = due.max(earliest);
    }
    if let Some(days) = rule.due_age_days {
        due = due.max(plus(birth, days));
    }
    if let (Some(days), Some(&last)) = (rule.due_interval_days, counted.last()) {
        due = due.max(plus(last, days));
    }
    result.next_dose = Some(doses_counted.saturating_add(1));
    result.earliest = Some(earliest);
    result.due = Some(due);
    let offered = match &antigen.introduced {
        None => true,
        Some(starts) => province
            .and_then(|p| starts.get(p))
            .is_some_and(|&from| from <= on),
    };
    result.status = if !offered {
        Status::NotOffered
    } else if rule
        .max_age_days
        .is_some_and(|max| age(birth, on) > i64::from(max) || earliest > plus(birth, max))
    {
        Status::TooOld
    } else if on < earliest {
        Status::NotYet
    } else if rule
        .overdue_after_days
        .is_some_and(|days| on >= plus(due, days))
    {
        Status::Overdue
    } else {
        Status::Due
    };
    result
}

pub mod coverage;
mod person;
pub use person::{
    CHILDHOOD_UNTIL_DAYS, PersonSchedule, ScheduleGap, for_person, for_record, given_doses,
};

#[cfg(test)]
mod tests;
