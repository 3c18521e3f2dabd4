//! The daily report of an area (a district or a province) for one day: per facility, the doses
//! given, first doses, people vaccinated, doses voided since and doses signed, with the area's
//! totals and its doses by vaccine. Read from `doses` over one day's range of its
//! `(facility, given_at)` index, so the numbers are exact at the moment of asking. Written as
//! .xlsx by rust_xlsxwriter in constant-memory mode, like the station's exports.

use super::{Area, ConsoleError};
use crate::db::Db;
use crate::with_db;
use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;
use sync_protocol::vaccines::Catalogue;
use time::Date;

/// One facility's line (or the area's totals).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub facility: String,
    pub name: String,
    pub commune: Option<String>,
    /// Active doses given on the day.
    pub doses: i64,
    /// Of them, first doses of a series.
    pub first_doses: i64,
    /// People who got at least one active dose.
    pub people: i64,
    /// Doses given on the day and voided since.
    pub voided: i64,
    /// Active doses of the day signed by an accepted run.
    pub signed: i64,
}

/// An area's doses of one vaccine on the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VaccineTotal {
    pub vaccine: String,
    pub name: String,
    pub doses: i64,
    pub first_doses: i64,
}

/// The daily report of an area.
#[derive(Debug, Clone, Serialize)]
pub struct DailyReport {
    pub area: String,
    /// `yyyy-mm-dd` (Vietnam time).
    pub day: String,
    /// Every facility of the area, in code order (zeros included: a silent station shows).
    pub rows: Vec<ReportRow>,
    pub totals: ReportRow,
    pub by_vaccine: Vec<VaccineTotal>,
}

/// The report of `day` for `area`.
pub async fn daily(db: &Db, area: &Area, day: Date) -> Result<DailyReport, ConsoleError> {
    // Dose times are stored as RFC 3339 at +07:00: the day is a range of the text.
    let from = day.to_string();
    let until = day.next_day().unwrap_or(day).to_string();
    let codes = area.codes();
    type Counts = (String, i64, i64, i64, i64, i64);
    let (per_facility, people, by_vaccine): (Vec<Counts>, i64, Vec<(String, i64, i64)>) = with_db!(db, pool => {
        // The same filter for the three queries: the area's facilities, the day.
        let scoped = |select: &str| {
            let mut q = sqlx::QueryBuilder::new(select);
            q.push(" FROM doses WHERE given_at >= ");
            q.push_bind(from.clone());
            q.push(" AND given_at < ");
            q.push_bind(until.clone());
            q.push(" AND facility IN (");
            crate::db::in_list!(q, codes);
            q
        };
        let mut q = scoped(
            "SELECT facility,
                sum(CASE WHEN voided THEN 0 ELSE 1 END) AS doses,
                sum(CASE WHEN NOT voided AND dose_number = 1 THEN 1 ELSE 0 END) AS first_doses,
                count(DISTINCT CASE WHEN NOT voided THEN person_id END) AS people,
                sum(CASE WHEN voided THEN 1 ELSE 0 END) AS voided,
                sum(CASE WHEN NOT voided AND signed_batch IS NOT NULL THEN 1 ELSE 0 END) AS signed",
        );
        q.push(" GROUP BY facility");
        let per_facility = q
            .build()
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| {
                let n = |c: &str| r.get::<Option<i64>, _>(c).unwrap_or(0);
                (r.get("facility"), n("doses"), n("first_doses"), n("people"), n("voided"), n("signed"))
            })
            .collect();
        // A person vaccinated at two facilities of the area counts once in the total.
        let people: i64 = scoped("SELECT count(DISTINCT CASE WHEN NOT voided THEN person_id END) AS people")
            .build()
            .fetch_one(pool)
            .await?
            .get("people");
        let mut q = scoped(
            "SELECT vaccine, count(*) AS doses,
                sum(CASE WHEN dose_number = 1 THEN 1 ELSE 0 END) AS first_doses",
        );
        q.push(" AND NOT voided GROUP BY vaccine");
        let by_vaccine = q
            .build()
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.get("vaccine"), r.get("doses"), r.get::<Option<i64>, _>("first_doses").unwrap_or(0)))
            .collect();
        (per_facility, people, by_vaccine)
    });
    let counted: BTreeMap<String, Counts> =
        per_facility.into_iter().map(|c| (c.0.clone(), c)).collect();
    let mut totals = ReportRow {
        name: format!("Tổng {}", area.label),
        people,
        ..ReportRow::default()
    };
    let rows: Vec<ReportRow> = area
        .facilities
        .iter()
        .map(|f| {
            let (_, doses, first_doses, people, voided, signed) = counted
                .get(&f.code)
                .cloned()
                .unwrap_or_else(|| (f.code.clone(), 0, 0, 0, 0, 0));
            totals.doses += doses;
            totals.first_doses += first_doses;
            totals.voided += voided;
            totals.signed += signed;
            ReportRow {
                facility: f.code.clone(),
                name: f.name.clone(),
                commune: f.commune.clone(),
                doses,
                first_doses,
                people,
                voided,
                signed,
            }
        })
        .collect();
    let catalogue = Catalogue::built_in();
    let mut by_vaccine: Vec<VaccineTotal> = by_vaccine
        .into_iter()
        .map(|(vaccine, doses, first_doses)| VaccineTotal {
            name: catalogue
                .find(&vaccine)
                .map_or_else(|| vaccine.clone(), |v| v.name.clone()),
            vaccine,
            doses,
            first_doses,
        })
        .collect();
    by_vaccine.sort_by(|a, b| (b.doses, &a.vaccine).cmp(&(a.doses, &b.vaccine)));
    Ok(DailyReport {
        area: area.label.clone(),
        day: from,
        rows,
        totals,
        by_vaccine,
    })
}

/// The report as an .xlsx workbook: a sheet of facilities with the totals, a sheet by vaccine.
pub fn xlsx(report: &DailyReport) -> Result<Vec<u8>, ConsoleError> {
    write_workbook(report).map_err(|e| ConsoleError::Write(e.to_string()))
}

fn write_workbook(report: &DailyReport) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(14);
    let number = Format::new().set_align(FormatAlign::Right);
    {
        let sheet = book.add_worksheet_with_constant_memory()?;
        sheet.set_name("Báo cáo ngày")?;
        sheet.set_column_width(1, 36)?;
        sheet.set_column_width(2, 20)?;
        sheet.write_string_with_format(
            0,
            0,
            format!(
                "Báo cáo tiêm chủng ngày {} — {}",
                day_vn(&report.day),
                report.area
            ),
            &title,
        )?;
        let headers = [
            "Mã cơ sở",
            "Cơ sở",
            "Xã/phường",
            "Số mũi tiêm",
            "Mũi 1",
            "Số người được tiêm",
            "Mũi đã huỷ",
            "Mũi đã ký số",
        ];
        for (c, h) in headers.iter().enumerate() {
            sheet.write_string_with_format(2, c as u16, *h, &bold)?;
        }
        for (row, r) in (3u32..).zip(report.rows.iter().chain(std::iter::once(&report.totals))) {
            let format = if std::ptr::eq(r, &report.totals) {
                &bold
            } else {
                &number
            };
            sheet.write_string(row, 0, &r.facility)?;
            sheet.write_string_with_format(row, 1, &r.name, format)?;
            sheet.write_string(row, 2, r.commune.as_deref().unwrap_or(""))?;
            for (c, n) in [r.doses, r.first_doses, r.people, r.voided, r.signed]
                .into_iter()
                .enumerate()
            {
                sheet.write_number_with_format(row, 3 + c as u16, n as f64, format)?;
            }
        }
    }
    {
        let sheet = book.add_worksheet_with_constant_memory()?;
        sheet.set_name("Theo vắc xin")?;
        sheet.set_column_width(1, 36)?;
        for (c, h) in ["Mã vắc xin", "Vắc xin", "Số mũi tiêm", "Mũi 1"]
            .iter()
            .enumerate()
        {
            sheet.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        for (i, v) in report.by_vaccine.iter().enumerate() {
            let row = 1 + i as u32;
            sheet.write_string(row, 0, &v.vaccine)?;
            sheet.write_string(row, 1, &v.name)?;
            sheet.write_number(row, 2, v.doses as f64)?;
            sheet.write_number(row, 3, v.first_doses as f64)?;
        }
    }
    book.save_to_buffer()
}

/// `yyyy-mm-dd` as `dd/mm/yyyy`.
pub fn day_vn(day: &str) -> String {
    match super::parse_day(day) {
        Some(d) => format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()),
        None => day.to_string(),
    }
}
