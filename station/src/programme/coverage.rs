//! Coverage of a birth cohort among the children the station manages: the engine's indicators
//! (`sync_protocol::schedule::coverage`), counted from every standing dose, history included,
//! so a child vaccinated at the hospital or elsewhere counts as covered.

use super::due::doses_by_person;
use crate::error::Result;
use crate::service::Station;
use serde::Serialize;
use sqlx::Row;
use sync_protocol::BirthDate;
use sync_protocol::schedule::coverage::{Cohort, Counter, Coverage};
use time::Date;

/// The children of the cohort this station manages (full birth dates only).
macro_rules! cohort {
    () => {
        " FROM persons p INDEXED BY persons_for_due_list
        WHERE p.birth_date >= ?2 AND p.birth_date <= ?3 AND length(p.birth_date) = 10
          AND p.managing_facility = ?1 AND p.merged_into IS NULL"
    };
}

const CHILDREN: &str = concat!("SELECT p.id, p.birth_date, p.province", cohort!());

const DOSES: &str = concat!(
    "SELECT d.person_id, d.vaccine, d.given_at FROM doses d
     WHERE d.voided = 0 AND d.person_id IN (SELECT p.id",
    cohort!(),
    ")"
);

/// A cohort's coverage at the station.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CohortCoverage {
    pub cohort: Cohort,
    /// "năm 2025", "tháng 06/2025".
    pub label: String,
    pub coverage: Coverage,
}

impl Station {
    /// Coverage on `on` (today when absent) of the children born in `cohort` whom the
    /// station manages.
    pub async fn coverage(&self, cohort: Cohort, on: Option<Date>) -> Result<CohortCoverage> {
        self.reader()?;
        let on = on.unwrap_or_else(|| self.clock().now().date());
        let facility = self.facility().code;
        let mut counter = Counter::new(self.schedule(), on)?;
        let (from, until) = (cohort.from.to_string(), cohort.until.to_string());
        let children = sqlx::query(CHILDREN)
            .bind(&facility)
            .bind(&from)
            .bind(&until)
            .fetch_all(self.store().pool())
            .await?;
        let dose_rows = sqlx::query(DOSES)
            .bind(&facility)
            .bind(&from)
            .bind(&until)
            .fetch_all(self.store().pool())
            .await?;
        let doses = doses_by_person(&dose_rows);
        for r in &children {
            let Ok(BirthDate::Full(birth)) = BirthDate::parse(r.get::<&str, _>("birth_date"))
            else {
                continue;
            };
            let id: String = r.get("id");
            let province: Option<String> = r.get("province");
            counter.add(
                birth,
                province.as_deref(),
                doses.get(&id).map_or(&[][..], Vec::as_slice),
            );
        }
        Ok(CohortCoverage {
            cohort,
            label: cohort.label(),
            coverage: counter.finish(),
        })
    }
}
