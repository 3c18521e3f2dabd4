//! Routine immunization: `sotiem vaccine list`, `sotiem schedule show PERSON`, `sotiem due`,
//! `sotiem coverage`.

use crate::print_json;
use crate::render::Output;
use clap::Subcommand;
use station::Station;
use station::programme::{CohortCoverage, DueEntry, DueQuery, VaccineEntry};
use sync_protocol::person::parse_day;
use sync_protocol::schedule::coverage::Cohort;
use sync_protocol::schedule::{PersonSchedule, Status};
use time::Date;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// A person's routine schedule: per antigen the status, doses counted, the next dose and
    /// its earliest date.
    Show {
        person: Uuid,
        /// The date to evaluate on (YYYY-MM-DD or DD/MM/YYYY); today when not given.
        #[arg(long, value_parser = parse_date)]
        date: Option<Date>,
    },
}

/// Reads a date as people type it.
pub fn parse_date(text: &str) -> Result<Date, String> {
    parse_day(text).ok_or_else(|| "ngày phải có dạng YYYY-MM-DD hoặc DD/MM/YYYY".into())
}

/// Reads a birth cohort: a year or a month.
pub fn parse_cohort(text: &str) -> Result<Cohort, String> {
    Cohort::parse(text).map_err(|e| e.to_string())
}

/// Runs `sotiem schedule …`.
pub async fn schedule(
    station: &Station,
    cmd: &ScheduleCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        ScheduleCommand::Show { person, date } => {
            let s = station.schedule_of(*person, *date).await?;
            if out.json {
                print_json(&s);
            } else {
                print_schedule(&s);
            }
        }
    }
    Ok(())
}

/// Runs `sotiem due`.
pub async fn due(
    station: &Station,
    date: Option<Date>,
    hamlet: Option<&str>,
    out: &Output,
) -> anyhow::Result<()> {
    let list = station
        .due_list(&DueQuery {
            on: date,
            hamlet: hamlet.map(str::to_string),
            ..DueQuery::default()
        })
        .await?;
    if out.json {
        print_json(&list);
    } else {
        print_due(&list);
    }
    Ok(())
}

/// Prints `sotiem vaccine list`.
pub fn vaccines(list: &[VaccineEntry], out: &Output) {
    if out.json {
        print_json(&list);
        return;
    }
    for v in list {
        let programme = if v.programme == "tcmr" {
            "TCMR"
        } else {
            "COVID-19"
        };
        println!("{:<18} {:<9} {}", v.code, programme, v.name);
    }
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Complete => "đủ mũi",
        Status::Due => "đến hạn",
        Status::Overdue => "quá hạn",
        Status::NotYet => "chưa đến hạn",
        Status::TooOld => "quá tuổi",
        Status::NotOffered => "chưa triển khai tại tỉnh",
    }
}

fn print_schedule(s: &PersonSchedule) {
    println!("Lịch tiêm chủng ngày {} ({})", s.on, s.rule_set);
    for series in &s.series {
        let name = &series.name;
        let next = match (series.next_dose, series.earliest) {
            (Some(n), Some(e)) => format!(", mũi {n} từ {e}"),
            _ => String::new(),
        };
        let early = if series.early_doses.is_empty() {
            String::new()
        } else {
            format!(", {} mũi tiêm sớm không tính", series.early_doses.len())
        };
        println!(
            "  {name:<48} {:<14} đã tính {} mũi{next}{early}",
            status_label(series.status),
            series.doses_counted
        );
    }
}

/// Prints a due list by hamlet.
pub fn print_due(list: &[DueEntry]) {
    if list.is_empty() {
        println!("Không có ai đến hạn tiêm.");
        return;
    }
    let mut hamlet: Option<&Option<String>> = None;
    for e in list {
        if hamlet != Some(&e.hamlet) {
            println!("{}", e.hamlet.as_deref().unwrap_or("(chưa ghi thôn/ấp)"));
            hamlet = Some(&e.hamlet);
        }
        println!(
            "  {:<30} {}  {:<36} mũi {}  {:<8} từ {}  {}",
            e.full_name,
            e.birth_date,
            e.antigen,
            e.dose_number,
            if e.status == "overdue" {
                "quá hạn"
            } else {
                "đến hạn"
            },
            e.earliest,
            e.phone.as_deref().unwrap_or("-")
        );
    }
}

/// Runs `sotiem coverage`.
pub async fn coverage(
    station: &Station,
    cohort: Cohort,
    date: Option<Date>,
    out: &Output,
) -> anyhow::Result<()> {
    let c = station.coverage(cohort, date).await?;
    if out.json {
        print_json(&c);
    } else {
        print_coverage(&c);
    }
    Ok(())
}

/// `n/of (p%)`, or a dash where there is nothing to count.
pub fn share(n: Option<u32>, of: u32) -> String {
    match n {
        Some(n) if of > 0 => format!("{n}/{of} ({:.1}%)", f64::from(n) * 100.0 / f64::from(of)),
        Some(_) => "0/0".into(),
        None => "—".into(),
    }
}

fn print_coverage(c: &CohortCoverage) {
    let cov = &c.coverage;
    println!(
        "Tỷ lệ tiêm chủng trẻ sinh {} tính đến ngày {} ({}): {} trẻ",
        c.label, cov.on, cov.rule_set, cov.children
    );
    println!(
        "  {:<38} {:<18} {:<18} {:<18} {:<18}",
        "Chỉ số", "Đã tiêm", "Đúng lịch", "Trước 12 tháng", "Trước 24 tháng"
    );
    for i in &cov.indicators {
        println!(
            "  {:<38} {:<18} {:<18} {:<18} {:<18}",
            i.name,
            share(Some(i.reached), cov.children),
            share(Some(i.on_time), cov.children),
            share(i.by_12_months, i.aged_12_months),
            share(i.by_24_months, i.aged_24_months),
        );
    }
}
