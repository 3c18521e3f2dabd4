//! Routine immunization: `sotiem vaccine list`, `sotiem schedule show PERSON`, `sotiem due`.

use crate::print_json;
use crate::render::Output;
use clap::Subcommand;
use station::Station;
use station::programme::{DueEntry, DueQuery, VaccineEntry};
use sync_protocol::BirthDate;
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
    match BirthDate::parse(text) {
        Ok(BirthDate::Full(d)) => Ok(d),
        _ => Err("ngày phải có dạng YYYY-MM-DD hoặc DD/MM/YYYY".into()),
    }
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
