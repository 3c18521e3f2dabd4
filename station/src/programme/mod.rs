//! Routine immunization (TCMR) at the station: which products can be recorded, a person's
//! schedule, and the due list of the people the station manages. The rules themselves (the
//! schedule as data and its engine) live in `sync_protocol::schedule`.

mod coverage;
mod due;
mod reminders;
mod sessions;
mod sheet;
mod slips;

pub use coverage::CohortCoverage;
pub use due::{DueEntry, DueQuery};
pub use reminders::{
    CsvReminders, Reminder, ReminderOutcome, ReminderReport, ReminderSender, SmsGateway,
};
pub use sessions::{
    Defaulter, MissReason, SessionDay, SessionPaper, SessionPlan, SessionTally, TallyRow, Trace,
    TraceOutcome,
};

use crate::error::{Result, StationError};
use crate::service::Station;
use serde::Serialize;
use sync_protocol::schedule::{self, PersonSchedule, Product, RuleSet};
use sync_protocol::validate::MAX_DOSE_NUMBER;
use sync_protocol::{Catalogue, Dose, DoseKind, Field, Person, Problem, Vaccine};
use time::Date;
use uuid::Uuid;

/// A product as the station records it: a COVID-19 vaccine of the catalogue, or a product of
/// the routine schedule in force on the day it was given.
pub(crate) enum Recordable<'a> {
    Covid(&'a Vaccine),
    Routine {
        product: &'a Product,
        rule_set: &'a RuleSet,
    },
}

impl Recordable<'_> {
    /// The code stored on the dose.
    pub(crate) fn code(&self) -> &str {
        match self {
            Recordable::Covid(v) => &v.code,
            Recordable::Routine { product, .. } => &product.code,
        }
    }

    /// The dose number to propose: for COVID-19, one past the highest standing COVID-19 dose;
    /// for a routine product, one past the doses its first series counts on that day (a dose
    /// given too early is not counted, so the dose that replaces it keeps its number).
    pub(crate) fn next_number(&self, catalogue: &Catalogue, p: &Person, on: Date) -> u8 {
        let n = match self {
            Recordable::Covid(_) => return p.next_dose_number(catalogue),
            Recordable::Routine { product, rule_set } => {
                let doses = schedule::given_doses(p);
                let birth = p.birth_date.earliest_day();
                let series = product.series.first();
                schedule::evaluate(rule_set, birth, &doses, on, None)
                    .into_iter()
                    .find(|s| Some(&s.series) == series)
                    .map_or(0, |s| s.doses_counted)
            }
        };
        n.saturating_add(1).min(MAX_DOSE_NUMBER)
    }

    /// A standing dose this one would repeat: the same COVID-19 dose number, or the same
    /// routine product on the same day.
    pub(crate) fn clash<'p>(
        &self,
        catalogue: &'p Catalogue,
        p: &'p Person,
        number: u8,
        on: Date,
    ) -> Option<&'p Dose> {
        match self {
            Recordable::Covid(_) => p.covid_doses(catalogue).find(|d| d.dose_number == number),
            Recordable::Routine { product, .. } => p
                .doses
                .values()
                .find(|d| d.is_active() && d.vaccine == product.code && d.given_at.date() == on),
        }
    }

    /// The kind of a dose of this number when the user does not say.
    pub(crate) fn default_kind(&self, number: u8) -> DoseKind {
        match self {
            Recordable::Covid(v) => Catalogue::default_kind(v, number),
            Recordable::Routine { .. } => DoseKind::Primary,
        }
    }
}

/// A product the station can record, for `sotiem vaccine list` and the dose form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VaccineEntry {
    /// The code stored on doses.
    pub code: String,
    pub name: String,
    /// `tcmr` (the routine programme) or `covid19`.
    pub programme: &'static str,
    /// What else may be typed for it.
    pub aliases: Vec<String>,
    /// The series a dose counts for (routine products).
    pub series: Vec<String>,
}

impl Station {
    /// The product typed on a dose given on `on`: the COVID-19 catalogue first, then the
    /// routine schedule in force that day.
    pub(crate) fn recordable(&self, typed: &str, on: Date) -> Result<Recordable<'_>> {
        let t = typed.trim();
        if t.is_empty() {
            return Err(StationError::invalid(Field::Vaccine, Problem::Required));
        }
        if let Some(v) = self.catalogue().find(t) {
            return Ok(Recordable::Covid(v));
        }
        self.schedule()
            .rule_set_on(on)
            .and_then(|rule_set| {
                rule_set
                    .find_product(t)
                    .map(|product| Recordable::Routine { product, rule_set })
            })
            .ok_or_else(|| {
                StationError::invalid(
                    Field::Vaccine,
                    Problem::UnknownVaccine {
                        code: t.to_string(),
                    },
                )
            })
    }

    /// Every product the station can record on `on`: the routine programme's, then COVID-19's.
    pub fn vaccines(&self, on: Date) -> Vec<VaccineEntry> {
        let routine = self
            .schedule()
            .rule_set_on(on)
            .into_iter()
            .flat_map(|r| r.products.iter())
            .map(|p| VaccineEntry {
                code: p.code.clone(),
                name: p.name.clone(),
                programme: "tcmr",
                aliases: p.aliases.clone(),
                series: p.series.clone(),
            });
        let covid = self.catalogue().vaccines.iter().map(|v| VaccineEntry {
            code: v.code.clone(),
            name: v.name.clone(),
            programme: "covid19",
            aliases: v.aliases.clone(),
            series: Vec::new(),
        });
        routine.chain(covid).collect()
    }

    /// A person's routine schedule on `on` (today when absent): each series that concerns them,
    /// counting every standing dose, history included.
    pub async fn schedule_of(&self, person_id: Uuid, on: Option<Date>) -> Result<PersonSchedule> {
        let on = on.unwrap_or_else(|| self.clock().now().date());
        let record = self.show(person_id).await?;
        Ok(schedule::for_person(self.schedule(), &record.person, on)?)
    }
}
