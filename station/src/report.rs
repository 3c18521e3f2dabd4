//! The daily report of a station: what was given on one day at this facility, by vaccine and by
//! vaccinator, and the day's doses in order, for the end-of-day check and the session screen.

use crate::error::Result;
use crate::service::Station;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::Date;
use uuid::Uuid;

/// Doses of one vaccine on the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VaccineCount {
    pub vaccine: String,
    /// The catalogue's name, or the code when the catalogue no longer knows it.
    pub name: String,
    pub doses: i64,
    pub first_doses: i64,
}

/// Doses one vaccinator gave on the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VaccinatorCount {
    pub vaccinator: String,
    pub doses: i64,
}

/// One dose of the day, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DayDose {
    pub dose_id: Uuid,
    pub person_id: Uuid,
    pub full_name: String,
    pub vaccine: String,
    pub lot: String,
    pub dose_number: u8,
    /// RFC 3339 at +07:00.
    pub given_at: String,
    pub vaccinator: String,
    pub voided: bool,
}

/// What a facility did on one day (dates at +07:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DailyReport {
    /// `yyyy-mm-dd`.
    pub date: String,
    pub facility: String,
    /// Active doses given.
    pub doses: i64,
    /// People who got at least one active dose.
    pub people: i64,
    /// Doses given that day and voided since.
    pub voided: i64,
    pub by_vaccine: Vec<VaccineCount>,
    pub by_vaccinator: Vec<VaccinatorCount>,
    /// The day's doses, newest first (at most [`DAY_DOSES_SHOWN`]).
    pub day_doses: Vec<DayDose>,
}

/// How many of the day's doses the report lists one by one.
pub const DAY_DOSES_SHOWN: i64 = 300;

impl Station {
    /// The report of `date` (a day at +07:00) for this station's facility.
    pub async fn daily_report(&self, date: Date) -> Result<DailyReport> {
        self.reader()?;
        let facility = self.facility().code;
        // Dose times are stored as RFC 3339 at +07:00, so the day is a range of the text.
        let from = date.to_string();
        let until = date.next_day().unwrap_or(date).to_string();
        let pool = self.store().pool();
        // Every query below is about this facility's doses of the day.
        let of_the_day = |sql: &'static str| {
            sqlx::query(sql)
                .bind(facility.clone())
                .bind(from.clone())
                .bind(until.clone())
        };
        let totals = of_the_day(
            "SELECT coalesce(sum(voided = 0), 0) AS doses, coalesce(sum(voided), 0) AS voided,
                    count(DISTINCT CASE WHEN voided = 0 THEN person_id END) AS people
             FROM doses WHERE facility = ? AND given_at >= ? AND given_at < ?",
        )
        .fetch_one(pool)
        .await?;
        let by_vaccine = of_the_day(
            "SELECT vaccine, count(*) AS doses, sum(dose_number = 1) AS first_doses
             FROM doses WHERE facility = ? AND given_at >= ? AND given_at < ? AND voided = 0
             GROUP BY vaccine ORDER BY doses DESC, vaccine",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            let vaccine: String = r.get("vaccine");
            VaccineCount {
                name: self
                    .catalogue()
                    .find(&vaccine)
                    .map_or_else(|| vaccine.clone(), |v| v.name.clone()),
                vaccine,
                doses: r.get("doses"),
                first_doses: r.get("first_doses"),
            }
        })
        .collect();
        let by_vaccinator = of_the_day(
            "SELECT vaccinator, count(*) AS doses
             FROM doses WHERE facility = ? AND given_at >= ? AND given_at < ? AND voided = 0
             GROUP BY vaccinator ORDER BY doses DESC, vaccinator",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| VaccinatorCount {
            vaccinator: r.get("vaccinator"),
            doses: r.get("doses"),
        })
        .collect();
        let day_doses = of_the_day(
            "SELECT d.id, d.person_id, p.full_name, d.vaccine, d.lot, d.dose_number, d.given_at,
                    d.vaccinator, d.voided
             FROM doses d JOIN persons p ON p.id = d.person_id
             WHERE d.facility = ? AND d.given_at >= ? AND d.given_at < ?
             ORDER BY d.given_at DESC LIMIT ?",
        )
        .bind(DAY_DOSES_SHOWN)
        .fetch_all(pool)
        .await?
        .iter()
        .filter_map(|r| {
            Some(DayDose {
                dose_id: Uuid::parse_str(r.get("id")).ok()?,
                person_id: Uuid::parse_str(r.get("person_id")).ok()?,
                full_name: r.get("full_name"),
                vaccine: r.get("vaccine"),
                lot: r.get("lot"),
                dose_number: u8::try_from(r.get::<i64, _>("dose_number")).unwrap_or(0),
                given_at: r.get("given_at"),
                vaccinator: r.get("vaccinator"),
                voided: r.get::<i64, _>("voided") != 0,
            })
        })
        .collect();
        Ok(DailyReport {
            date: from,
            facility,
            doses: totals.get("doses"),
            people: totals.get("people"),
            voided: totals.get("voided"),
            by_vaccine,
            by_vaccinator,
            day_doses,
        })
    }
}
