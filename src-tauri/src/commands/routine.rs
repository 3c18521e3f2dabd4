//! The Routine screen (Tiêm chủng thường xuyên): the due list, session days (plan, slips, tally,
//! close, defaulters and their tracing), and a person's schedule on the record screen.

use super::{App, Result, uuid};
use crate::error::UiError;
use station::programme::{
    Defaulter, DueEntry, DueQuery, MissReason, SessionDay, SessionPlan, SessionTally, Trace,
    TraceOutcome,
};
use sync_protocol::person::parse_day;
use sync_protocol::schedule::PersonSchedule;
use sync_protocol::schedule::coverage::Cohort;
use time::Date;

/// A date the UI sends (`yyyy-mm-dd` or `dd/mm/yyyy`); none or empty: today.
fn day(text: Option<&str>) -> Result<Option<Date>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => parse_day(t).map(Some).ok_or_else(|| {
            UiError::new(
                "invalid_date",
                format!("ngày \"{t}\" không hợp lệ; nhập dạng dd/mm/yyyy"),
            )
        }),
    }
}

/// Who is due or overdue for a routine dose on `date` (today when absent), in `hamlet` or all.
#[tauri::command]
pub async fn due_list(
    app: App<'_>,
    date: Option<String>,
    hamlet: Option<String>,
) -> Result<Vec<DueEntry>> {
    let query = DueQuery {
        on: day(date.as_deref())?,
        hamlet,
        ..DueQuery::default()
    };
    Ok(app.station().await?.due_list(&query).await?)
}

/// Coverage of a birth cohort (a year or a month) among the children the station manages,
/// on `date` (today when absent).
#[tauri::command]
pub async fn coverage(
    app: App<'_>,
    cohort: String,
    date: Option<String>,
) -> Result<station::programme::CohortCoverage> {
    let cohort =
        Cohort::parse(&cohort).map_err(|e| UiError::new("invalid_cohort", e.to_string()))?;
    Ok(app
        .station()
        .await?
        .coverage(cohort, day(date.as_deref())?)
        .await?)
}

/// A person's routine schedule today: each series, its doses counted and the next one.
#[tauri::command]
pub async fn person_schedule(app: App<'_>, person_id: String) -> Result<PersonSchedule> {
    Ok(app
        .station()
        .await?
        .schedule_of(uuid(&person_id, "người")?, None)
        .await?)
}

/// Plans a session day for a hamlet (or the whole commune).
#[tauri::command]
pub async fn plan_session(
    app: App<'_>,
    request: crate::views::PlanSessionRequest,
) -> Result<SessionDay> {
    let day = day(Some(&request.date))?.ok_or_else(|| {
        UiError::new(
            "invalid_date",
            "chọn ngày của buổi tiêm (dd/mm/yyyy)".to_string(),
        )
    })?;
    Ok(app
        .station()
        .await?
        .plan_session(SessionPlan {
            day,
            hamlet: request.hamlet,
            place: request.place,
        })
        .await?)
}

/// Every session day, by day.
#[tauri::command]
pub async fn session_days(app: App<'_>) -> Result<Vec<SessionDay>> {
    Ok(app.station().await?.session_days(None, None).await?)
}

/// The invitation slips of a session, saved as a PDF in the export folder.
#[tauri::command]
pub async fn print_session_slips(app: App<'_>, id: String) -> Result<crate::views::PrintedFile> {
    let slips = app.station().await?.session_slips(&id).await?;
    super::save_export(&app, &slips.file_name, &slips.pdf)
}

/// The list and tally sheet of a session, saved as a PDF in the export folder.
#[tauri::command]
pub async fn print_session_sheet(app: App<'_>, id: String) -> Result<crate::views::PrintedFile> {
    let sheet = app.station().await?.session_sheet(&id).await?;
    super::save_export(&app, &sheet.file_name, &sheet.pdf)
}

/// The day's tally of a session.
#[tauri::command]
pub async fn session_tally(app: App<'_>, id: String) -> Result<SessionTally> {
    Ok(app.station().await?.session_tally(&id).await?)
}

/// Closes a session: who was due and got no dose here becomes a defaulter.
#[tauri::command]
pub async fn close_session(app: App<'_>, id: String) -> Result<Vec<Defaulter>> {
    Ok(app.station().await?.close_session(&id).await?)
}

/// The defaulters of a session with their tracing.
#[tauri::command]
pub async fn session_defaulters(app: App<'_>, id: String) -> Result<Vec<Defaulter>> {
    Ok(app.station().await?.defaulters(Some(&id)).await?)
}

/// Records what tracing a defaulter found.
#[tauri::command]
pub async fn trace_defaulter(
    app: App<'_>,
    request: crate::views::TraceRequest,
) -> Result<Defaulter> {
    let chosen = |t: &Option<String>| {
        t.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let trace = Trace {
        located: request.located,
        reason: chosen(&request.reason)
            .map(|r| MissReason::parse(&r))
            .transpose()
            .map_err(station::StationError::from)?,
        outcome: chosen(&request.outcome)
            .map(|o| TraceOutcome::parse(&o))
            .transpose()
            .map_err(station::StationError::from)?,
    };
    Ok(app
        .station()
        .await?
        .trace_defaulter(&request.session_id, &request.person_id, &trace)
        .await?)
}

/// Reminds the families of a session: posted to the province's SMS gateway when one is
/// configured, else written as a CSV file for the SMS provider in the export folder.
#[tauri::command]
pub async fn remind_session(app: App<'_>, id: String) -> Result<crate::views::RemindView> {
    let station = app.station().await?;
    match &app.config.sms_gateway {
        Some(url) => {
            let gateway = station::programme::SmsGateway::new(url)
                .map_err(|e| UiError::new("sms_gateway", e.to_string()))?;
            Ok(crate::views::RemindView {
                path: None,
                report: station.remind_session(&id, &gateway).await?,
            })
        }
        None => {
            let session = station.session_day(&id).await?;
            let dir = &app.config.export_dir;
            std::fs::create_dir_all(dir).map_err(|source| station::StationError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = dir.join(format!("nhac-lich-{}.csv", session.day));
            let writer = station::programme::CsvReminders::new(&path);
            Ok(crate::views::RemindView {
                path: Some(path.display().to_string()),
                report: station.remind_session(&id, &writer).await?,
            })
        }
    }
}
