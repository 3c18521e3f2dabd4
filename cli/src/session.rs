//! `sotiem session …`: session days of the routine programme — plan, list, slips, tally,
//! close, defaulters and their tracing.

use crate::print_json;
use crate::programme::parse_date;
use crate::render::Output;
use clap::Subcommand;
use station::Station;
use station::programme::{
    CsvReminders, MissReason, ReminderOutcome, ReminderReport, SessionDay, SessionPlan, SmsGateway,
    Trace, TraceOutcome,
};
use std::path::PathBuf;
use time::Date;

#[derive(Subcommand)]
pub enum SessionCommand {
    /// Plans a session day (today or later) for a hamlet, or the whole commune; prints its id.
    Plan {
        #[arg(long, value_parser = parse_date)]
        date: Date,
        /// The hamlet / village (thôn, ấp) it is for, as registered; the whole commune if left out.
        #[arg(long, alias = "village")]
        hamlet: Option<String>,
        /// Where it is held (the station when left out).
        #[arg(long)]
        place: Option<String>,
    },
    /// The session days, by day.
    List {
        #[arg(long, value_parser = parse_date)]
        from: Option<Date>,
        #[arg(long, value_parser = parse_date)]
        to: Option<Date>,
    },
    /// Whom a session invites: the due list of its hamlet as it stood that morning.
    Due { id: String },
    /// The invitation slips (PDF, four to an A4 page).
    Slips {
        id: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The list and tally sheet (PDF): everyone invited with the doses due and a box to tick
    /// (ticked for whoever was given a dose here that day), then the day's tally.
    Sheet {
        id: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The day's tally: per antigen, how many were due and how many doses were given.
    Tally { id: String },
    /// Reminds the families of a session by SMS: a CSV file for the SMS provider (--csv), or
    /// posted to the province's SMS gateway (--gateway URL, or SOTIEM_SMS_GATEWAY). Says what
    /// the gateway accepted or refused — never that a message was delivered.
    Remind {
        id: String,
        #[arg(long, group = "to", required = true)]
        csv: Option<PathBuf>,
        #[arg(long, group = "to", env = "SOTIEM_SMS_GATEWAY")]
        gateway: Option<String>,
    },
    /// Closes a session (on its day or after): who was due and got no dose here becomes a
    /// defaulter.
    Close { id: String },
    /// The defaulters of a session (or of every closed session) with their tracing.
    Defaulters { id: Option<String> },
    /// Records what tracing a defaulter found.
    Trace {
        id: String,
        #[arg(long)]
        person: String,
        /// Can the child be located: yes or no.
        #[arg(long, value_parser = parse_yes_no)]
        located: Option<bool>,
        /// Why the session was missed: away, sick, forgot, not_informed, refused, moved, other.
        #[arg(long, value_parser = |s: &str| MissReason::parse(s).map_err(|e| e.to_string()))]
        reason: Option<MissReason>,
        /// What came of it: vaccinated_later, rescheduled, vaccinated_elsewhere, moved_away,
        /// refused, not_found.
        #[arg(long, value_parser = |s: &str| TraceOutcome::parse(s).map_err(|e| e.to_string()))]
        outcome: Option<TraceOutcome>,
    },
}

fn parse_yes_no(text: &str) -> Result<bool, String> {
    match sync_protocol::text::fold(text).as_str() {
        "yes" | "co" | "y" => Ok(true),
        "no" | "khong" | "n" => Ok(false),
        _ => Err("nhập yes (có) hoặc no (không)".into()),
    }
}

fn describe(s: &SessionDay) -> String {
    format!(
        "{}  {}  {:<16} {}{}",
        s.id,
        s.day,
        s.hamlet.as_deref().unwrap_or("(cả xã)"),
        s.place.as_deref().unwrap_or("tại trạm"),
        match &s.closed_at {
            Some(_) => format!("  đã kết thúc, {} bỏ lỡ", s.defaulters),
            None => String::new(),
        }
    )
}

fn describe_reminders(r: &ReminderReport) -> String {
    let count = |f: fn(&ReminderOutcome) -> bool| r.sent.iter().filter(|(_, o)| f(o)).count();
    let mut lines = vec![format!(
        "Đã ghi vào tệp: {} · cổng SMS đã nhận: {} · bị từ chối: {} · không có số điện thoại: {}",
        count(|o| matches!(o, ReminderOutcome::Written)),
        count(|o| matches!(o, ReminderOutcome::Accepted { .. })),
        count(|o| matches!(o, ReminderOutcome::Refused { .. })),
        r.without_phone.len()
    )];
    for (reminder, outcome) in &r.sent {
        if let ReminderOutcome::Refused { reason } = outcome {
            lines.push(format!("  {}: {reason}", reminder.phone));
        }
    }
    lines.extend(
        r.without_phone
            .iter()
            .map(|n| format!("  không có số: {n}")),
    );
    lines.join("\n")
}

/// Runs a `sotiem session` command.
pub async fn session(station: &Station, cmd: &SessionCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        SessionCommand::Plan {
            date,
            hamlet,
            place,
        } => {
            let s = station
                .plan_session(SessionPlan {
                    day: *date,
                    hamlet: hamlet.clone(),
                    place: place.clone(),
                })
                .await?;
            out.value(&s, |s| s.id.clone());
        }
        SessionCommand::List { from, to } => {
            let list = station.session_days(*from, *to).await?;
            out.value(&list, |list| {
                list.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
        }
        SessionCommand::Due { id } => {
            let list = station.session_invitees(id).await?;
            if out.json {
                print_json(&list);
            } else {
                crate::programme::print_due(&list);
            }
        }
        SessionCommand::Slips { id, out: path } => {
            let slips = station.session_slips(id).await?;
            station::files::replace(path, &slips.pdf)?;
            let people = slips.people;
            out.value(
                &serde_json::json!({ "file": path, "slips": people }),
                |_| format!("{people} giấy mời → {}", path.display()),
            );
        }
        SessionCommand::Sheet { id, out: path } => {
            let sheet = station.session_sheet(id).await?;
            station::files::replace(path, &sheet.pdf)?;
            let people = sheet.people;
            out.value(
                &serde_json::json!({ "file": path, "people": people }),
                |_| format!("danh sách {people} người và bảng kiểm → {}", path.display()),
            );
        }
        SessionCommand::Tally { id } => {
            let t = station.session_tally(id).await?;
            out.value(&t, |t| {
                let mut lines = vec![
                    describe(&t.session),
                    format!("Đến hạn: {} người; đã tiêm tại buổi: {}", t.invited, t.came),
                ];
                lines.extend(t.rows.iter().map(|r| {
                    format!(
                        "  {:<48} đến hạn {:>3}  đã tiêm {:>3}",
                        r.antigen, r.due, r.given
                    )
                }));
                lines.join("\n")
            });
        }
        SessionCommand::Remind { id, csv, gateway } => {
            let report = match (csv, gateway) {
                (Some(path), _) => station.remind_session(id, &CsvReminders::new(path)).await?,
                (None, Some(url)) => station.remind_session(id, &SmsGateway::new(url)?).await?,
                (None, None) => anyhow::bail!("cần --csv FILE hoặc --gateway URL"),
            };
            out.value(&report, describe_reminders);
        }
        SessionCommand::Close { id } => {
            let defaulters = station.close_session(id).await?;
            out.value(&defaulters, |d| {
                format!("Đã kết thúc buổi tiêm: {} người bỏ lỡ", d.len())
            });
        }
        SessionCommand::Defaulters { id } => {
            let list = station.defaulters(id.as_deref()).await?;
            out.value(&list, |list| {
                list.iter()
                    .map(|d| {
                        format!(
                            "{}  {:<28} {:<12} {}  {}",
                            d.person_id,
                            d.full_name,
                            d.phone.as_deref().unwrap_or("-"),
                            d.missed,
                            d.outcome.map_or("chưa theo dõi", TraceOutcome::label)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        SessionCommand::Trace {
            id,
            person,
            located,
            reason,
            outcome,
        } => {
            let d = station
                .trace_defaulter(
                    id,
                    person,
                    &Trace {
                        located: *located,
                        reason: *reason,
                        outcome: *outcome,
                    },
                )
                .await?;
            out.value(&d, |d| {
                format!(
                    "{}: {}",
                    d.full_name,
                    d.outcome.map_or("chưa có kết quả", TraceOutcome::label)
                )
            });
        }
    }
    Ok(())
}
