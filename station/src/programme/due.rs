//! The due list: everyone the station manages with a routine dose due or overdue on a date, by
//! hamlet, with a phone to call. Read from the columns and dose rows, not the documents, so a
//! commune's list comes in well under the 200 ms a session's planning may wait.

use crate::error::Result;
use crate::service::Station;
use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::collections::HashMap;
use sync_protocol::schedule::{self, GivenDose, Status};
use sync_protocol::{BirthDate, Gender};
use time::{Date, Duration};

/// Which due list: on a date (today when absent), for one hamlet or all.
#[derive(Debug, Clone, Default)]
pub struct DueQuery {
    /// Today when absent.
    pub on: Option<Date>,
    pub hamlet: Option<String>,
    /// The list as it stood that morning: doses given on the day itself not yet counted (a
    /// session's invitees, after the session too).
    pub before_the_day: bool,
}

/// One dose due: who, which series and dose, since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DueEntry {
    pub person_id: String,
    pub full_name: String,
    pub birth_date: String,
    pub hamlet: Option<String>,
    pub caregiver_name: Option<String>,
    /// The caregiver's phone, else the person's own.
    pub phone: Option<String>,
    /// The series (antigen) id, e.g. `dtp`.
    pub series: String,
    /// Its Vietnamese name.
    pub antigen: String,
    pub dose_number: u8,
    /// `due` or `overdue`.
    pub status: &'static str,
    /// `yyyy-mm-dd`: the earliest day the dose counts.
    pub earliest: String,
    /// `yyyy-mm-dd`: the recommended day.
    pub due: String,
}

/// Whom the programme follows: children under 15 and women of 15 to 35 (see
/// `sync_protocol::schedule::for_record`; `?3`, the women's bound, is the earlier date). Only
/// full birth dates (`yyyy-mm-dd`) can be scheduled. The covering index keeps the documents
/// unread (`INDEXED BY`: a plan that reads the table would cost a commune's documents).
macro_rules! candidates {
    () => {
        " FROM persons p
        INDEXED BY persons_for_due_list
        WHERE p.birth_date > ?3 AND (p.birth_date > ?2 OR p.gender = 'female')
          AND p.managing_facility = ?1 AND p.merged_into IS NULL AND length(p.birth_date) = 10
          AND (?4 IS NULL OR p.hamlet = ?4)"
    };
}

const PEOPLE: &str = concat!(
    "SELECT p.id, p.full_name, p.gender, p.birth_date, p.province, p.hamlet, p.caregiver_name,
        coalesce(p.caregiver_phone, p.phone) AS phone",
    candidates!(),
    " ORDER BY p.hamlet, p.name_key, p.id"
);

const DOSES: &str = concat!(
    "SELECT d.person_id, d.vaccine, d.given_at FROM doses d
     WHERE d.voided = 0 AND substr(d.given_at, 1, 10) < ?5 AND d.person_id IN (SELECT p.id",
    candidates!(),
    ")"
);

/// Dose rows (`person_id`, `vaccine`, `given_at`) as the engine counts them, by person.
pub(super) fn doses_by_person(rows: &[SqliteRow]) -> HashMap<String, Vec<GivenDose>> {
    let mut doses: HashMap<String, Vec<GivenDose>> = HashMap::new();
    for r in rows {
        let given_at: &str = r.get("given_at");
        // Stored times start with the local date (RFC 3339 at +07:00).
        let Some(Ok(BirthDate::Full(given_on))) = given_at.get(..10).map(BirthDate::parse) else {
            continue;
        };
        doses
            .entry(r.get("person_id"))
            .or_default()
            .push(GivenDose {
                product: r.get("vaccine"),
                given_on,
            });
    }
    doses
}

impl Station {
    /// The due list on a date: every routine dose due or overdue for the people this station
    /// manages, by hamlet and name.
    pub async fn due_list(&self, q: &DueQuery) -> Result<Vec<DueEntry>> {
        self.reader()?;
        let on = q.on.unwrap_or_else(|| self.clock().now().date());
        let facility = self.facility().code;
        let years_ago = |years: i64| {
            on.checked_sub(Duration::days(years * 365 + 1))
                .unwrap_or(Date::MIN)
                .to_string()
        };
        let (children_after, women_after) = (years_ago(15), years_ago(36));
        let hamlet = q.hamlet.as_deref().map(str::trim).filter(|h| !h.is_empty());
        let people = sqlx::query(PEOPLE)
            .bind(&facility)
            .bind(&children_after)
            .bind(&women_after)
            .bind(hamlet)
            .fetch_all(self.store().pool())
            .await?;
        // Stored times start with the local date: the doses before this day (the morning's
        // list) or up to its end.
        let cutoff = if q.before_the_day {
            on
        } else {
            on.next_day().unwrap_or(on)
        };
        let dose_rows = sqlx::query(DOSES)
            .bind(&facility)
            .bind(&children_after)
            .bind(&women_after)
            .bind(hamlet)
            .bind(cutoff.to_string())
            .fetch_all(self.store().pool())
            .await?;
        let doses = doses_by_person(&dose_rows);
        let mut out = Vec::new();
        for r in &people {
            let id: String = r.get("id");
            let (Ok(gender), Ok(birth)) = (
                Gender::parse(r.get::<&str, _>("gender")),
                BirthDate::parse(r.get::<&str, _>("birth_date")),
            ) else {
                continue;
            };
            let given = doses.get(&id).map_or(&[][..], Vec::as_slice);
            let province: Option<String> = r.get("province");
            let Ok(s) = schedule::for_record(
                self.schedule(),
                gender,
                birth,
                province.as_deref(),
                given,
                on,
            ) else {
                continue;
            };
            for series in s.due() {
                let (Some(number), Some(earliest), Some(due)) =
                    (series.next_dose, series.earliest, series.due)
                else {
                    continue;
                };
                out.push(DueEntry {
                    person_id: id.clone(),
                    full_name: r.get("full_name"),
                    birth_date: birth.to_string(),
                    hamlet: r.get("hamlet"),
                    caregiver_name: r.get("caregiver_name"),
                    phone: r.get("phone"),
                    antigen: series.name.clone(),
                    series: series.series.clone(),
                    dose_number: number,
                    status: if series.status == Status::Overdue {
                        "overdue"
                    } else {
                        "due"
                    },
                    earliest: earliest.to_string(),
                    due: due.to_string(),
                });
            }
        }
        Ok(out)
    }
}
