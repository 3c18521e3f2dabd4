//! Routine-immunization coverage of a birth cohort per commune of an officer's area: the
//! engine's indicators (`sync_protocol::schedule::coverage`, the station's own figures) counted
//! over the children the area's facilities manage. Counts only: the people read here never
//! leave this function, and no name, ID or phone is read at all.

use super::{Area, ConsoleError};
use crate::db::{Db, in_list};
use crate::with_db;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use sync_protocol::BirthDate;
use sync_protocol::person::parse_time;
use sync_protocol::schedule::coverage::{Cohort, Counter, Coverage};
use sync_protocol::schedule::{GivenDose, Schedule};
use sync_protocol::text::admin_unit_key;
use time::Date;

/// One commune's coverage.
#[derive(Debug, Clone, Serialize)]
pub struct CommuneCoverage {
    pub commune: String,
    pub facilities: Vec<String>,
    pub coverage: Coverage,
}

/// An area's coverage of a cohort: per commune and in all.
#[derive(Debug, Clone, Serialize)]
pub struct AreaCoverage {
    pub cohort: Cohort,
    /// "năm 2025", "tháng 06/2025".
    pub label: String,
    pub communes: Vec<CommuneCoverage>,
    pub total: Coverage,
}

/// Coverage on `on` of the children born in `cohort` whom the area's facilities manage.
pub async fn coverage(
    db: &Db,
    area: &Area,
    schedule: &Schedule,
    cohort: Cohort,
    on: Date,
) -> Result<AreaCoverage, ConsoleError> {
    let codes = area.codes();
    let (from, until) = (cohort.from.to_string(), cohort.until.to_string());
    // (person, managing facility, birth date, province) and (person, product, given at).
    type Child = (String, String, String, Option<String>);
    let (children, dose_rows): (Vec<Child>, Vec<(String, String, String)>) = with_db!(db, pool => {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT person_id, managing_facility, birth_date, province FROM documents
             WHERE merged_into IS NULL AND length(birth_date) = 10 AND birth_date >= ",
        );
        q.push_bind(from.clone());
        q.push(" AND birth_date <= ");
        q.push_bind(until.clone());
        q.push(" AND managing_facility IN (");
        in_list!(q, codes);
        let children = q.build()
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.get("person_id"), r.get("managing_facility"), r.get("birth_date"), r.get("province")))
            .collect();
        let mut q = sqlx::QueryBuilder::new(
            "SELECT d.person_id, d.vaccine, d.given_at FROM doses d
             JOIN documents p ON p.person_id = d.person_id
             WHERE NOT d.voided AND p.merged_into IS NULL AND length(p.birth_date) = 10
               AND p.birth_date >= ",
        );
        q.push_bind(from);
        q.push(" AND p.birth_date <= ");
        q.push_bind(until);
        q.push(" AND p.managing_facility IN (");
        in_list!(q, codes);
        let doses = q.build()
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.get("person_id"), r.get("vaccine"), r.get("given_at")))
            .collect();
        (children, doses)
    });
    let mut doses: HashMap<String, Vec<GivenDose>> = HashMap::new();
    for (person, product, given_at) in dose_rows {
        if let Some(at) = parse_time(&given_at) {
            doses.entry(person).or_default().push(GivenDose {
                product,
                given_on: at.date(),
            });
        }
    }
    let counter = || Counter::new(schedule, on).map_err(|e| ConsoleError::Schedule(e.to_string()));
    let mut total = counter()?;
    let mut communes: BTreeMap<String, (String, Vec<String>, Counter)> = BTreeMap::new();
    for (key, (commune, facilities)) in area.communes() {
        communes.insert(key, (commune, facilities, counter()?));
    }
    for (person, facility, birth, province) in children {
        let Ok(BirthDate::Full(birth)) = BirthDate::parse(&birth) else {
            continue;
        };
        let given = doses.get(&person).map_or(&[][..], Vec::as_slice);
        total.add(birth, province.as_deref(), given);
        if let Some((_, _, c)) = communes.get_mut(&admin_unit_key(&area.commune_of(&facility))) {
            c.add(birth, province.as_deref(), given);
        }
    }
    Ok(AreaCoverage {
        cohort,
        label: cohort.label(),
        communes: communes
            .into_values()
            .map(|(commune, facilities, c)| CommuneCoverage {
                commune,
                facilities,
                coverage: c.finish(),
            })
            .collect(),
        total: total.finish(),
    })
}
