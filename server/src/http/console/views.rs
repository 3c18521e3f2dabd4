//! The console's views of an officer's area: stations, verification, signing, the daily report
//! (page and spreadsheet), and the credential resets a district officer approves.

use super::{NotShown, Officer};
use crate::accounts::{self, AuthError};
use crate::admin_audit::{self, Actor};
use crate::console::{self, ConsoleError, report};
use crate::http::console_pages as pages;
use crate::http::error::auth_status;
use crate::http::state::AppState;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::Markup;
use serde::Deserialize;
use sync_protocol::schedule::Schedule;
use sync_protocol::schedule::coverage::Cohort;

/// The longest silence threshold the stations view takes (a year).
const MAX_SILENT_DAYS: i64 = 365;

#[derive(Deserialize)]
pub(super) struct StationsQuery {
    silent_days: Option<String>,
}

pub(super) async fn stations(
    State(state): State<AppState>,
    officer: Officer,
    Query(q): Query<StationsQuery>,
) -> Result<Markup, NotShown> {
    let silent_days = q
        .silent_days
        .and_then(|d| d.trim().parse::<i64>().ok())
        .unwrap_or(3)
        .clamp(1, MAX_SILENT_DAYS);
    let now = state.clock.now();
    let rows = console::overview(&state.db, &officer.area, now, silent_days).await?;
    let today = report::day_vn(
        &now.to_offset(sync_protocol::clock::VIETNAM)
            .date()
            .to_string(),
    );
    Ok(pages::stations(
        &officer.user.account.username,
        &officer.area,
        &rows,
        silent_days,
        &today,
    ))
}

pub(super) async fn verification(
    State(state): State<AppState>,
    officer: Officer,
) -> Result<Markup, NotShown> {
    let rows = console::verification(&state.db, &officer.area).await?;
    Ok(pages::verification(
        &officer.user.account.username,
        &officer.area,
        &rows,
    ))
}

pub(super) async fn signing(
    State(state): State<AppState>,
    officer: Officer,
) -> Result<Markup, NotShown> {
    let rows = console::signing(&state.db, &officer.area).await?;
    Ok(pages::signing(
        &officer.user.account.username,
        &officer.area,
        &rows,
    ))
}

#[derive(Deserialize)]
pub(super) struct DayQuery {
    day: Option<String>,
}

/// The day asked for (today when none), or why it is not a day.
fn day_of(state: &AppState, q: &DayQuery) -> Result<time::Date, ConsoleError> {
    match q.day.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(state
            .clock
            .now()
            .to_offset(sync_protocol::clock::VIETNAM)
            .date()),
        Some(text) => console::parse_day(text)
            .ok_or_else(|| ConsoleError::BadDay(text.chars().take(20).collect())),
    }
}

pub(super) async fn daily_report(
    State(state): State<AppState>,
    officer: Officer,
    Query(q): Query<DayQuery>,
) -> Result<Markup, NotShown> {
    let (day, error) = match day_of(&state, &q) {
        Ok(day) => (day, None),
        Err(e) => (
            state
                .clock
                .now()
                .to_offset(sync_protocol::clock::VIETNAM)
                .date(),
            Some(e.to_string()),
        ),
    };
    let r = report::daily(&state.db, &officer.area, day).await?;
    audit_with(&state, &officer, "console_daily_report", &r.day).await?;
    Ok(pages::report(
        &officer.user.account.username,
        &officer.area,
        &r,
        error.as_deref(),
    ))
}

pub(super) async fn daily_report_xlsx(
    State(state): State<AppState>,
    officer: Officer,
    Query(q): Query<DayQuery>,
) -> Result<Response, NotShown> {
    let day = day_of(&state, &q)?;
    let r = report::daily(&state.db, &officer.area, day).await?;
    let bytes = report::xlsx(&r)?;
    audit_with(&state, &officer, "console_daily_report_download", &r.day).await?;
    let file = format!("bao-cao-ngay-{}.xlsx", r.day);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The area's password and authenticator resets of the last 30 days; a district officer
/// approves, as the second person, those awaiting one.
pub(super) async fn resets(
    State(state): State<AppState>,
    officer: Officer,
) -> Result<Markup, NotShown> {
    resets_page(&state, &officer, None, None).await
}

async fn resets_page(
    state: &AppState,
    officer: &Officer,
    done: Option<&str>,
    error: Option<&str>,
) -> Result<Markup, NotShown> {
    let codes: Vec<String> = officer
        .area
        .facilities
        .iter()
        .map(|f| f.code.clone())
        .collect();
    let since = state.clock.now() - time::Duration::days(accounts::RESET_NOTICE_DAYS);
    let rows = accounts::resets_of_facilities(&state.db, &state.clock, &codes, since)
        .await
        .map_err(|e| NotShown::Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let approves = officer.user.account.role == sync_protocol::auth::Role::DistrictOfficer;
    Ok(pages::resets(
        &officer.user.account.username,
        &officer.area,
        &rows,
        approves,
        done,
        error,
    ))
}

#[derive(Deserialize)]
pub(super) struct ApproveForm {
    id: String,
}

pub(super) async fn approve_reset(
    State(state): State<AppState>,
    officer: Officer,
    Form(form): Form<ApproveForm>,
) -> Result<Response, NotShown> {
    let actor = Actor::account(
        &officer.user.account.username,
        officer.user.address.as_deref(),
    );
    let entity = format!("reset/{}", form.id.chars().take(64).collect::<String>());
    let approved = admin_audit::audited(
        &state.db,
        &actor,
        "account_reset_approve",
        &entity,
        Vec::new(),
        |e: &AuthError| e.code().to_string(),
        accounts::approve_reset(&state.db, &state.clock, &officer.user.account, &form.id),
    )
    .await;
    Ok(match approved {
        Ok(r) => {
            let done = format!(
                "Đã duyệt: {} của {} được đặt lại (yêu cầu của {}).",
                r.factor.label(),
                r.username,
                r.requested_by
            );
            resets_page(&state, &officer, Some(&done), None)
                .await?
                .into_response()
        }
        Err(admin_audit::Refused::Action(e)) => {
            let status = auth_status(&e);
            let page = resets_page(&state, &officer, None, Some(&e.to_string())).await?;
            (status, page).into_response()
        }
        Err(admin_audit::Refused::Log(e)) => {
            return Err(NotShown::Refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ));
        }
    })
}

/// Records that an officer read or downloaded an area's report (the chain `audit verify` checks).
async fn audit_with(
    state: &AppState,
    officer: &Officer,
    action: &str,
    day: &str,
) -> Result<(), NotShown> {
    let actor = Actor::account(
        &officer.user.account.username,
        officer.user.address.as_deref(),
    );
    admin_audit::append(
        &state.db,
        &actor,
        action,
        &format!("{} {day}", officer.area.label),
        Vec::new(),
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
pub(super) struct CoverageQuery {
    cohort: Option<String>,
    day: Option<String>,
}

/// Coverage of a birth cohort in the officer's area: last year's children by default.
pub(super) async fn coverage(
    State(state): State<AppState>,
    officer: Officer,
    Query(q): Query<CoverageQuery>,
) -> Result<Markup, NotShown> {
    let today = state
        .clock
        .now()
        .to_offset(sync_protocol::clock::VIETNAM)
        .date();
    let mut errors = Vec::new();
    let day = day_of(&state, &DayQuery { day: q.day.clone() }).unwrap_or_else(|e| {
        errors.push(e.to_string());
        today
    });
    let last_year = (today.year() - 1).to_string();
    let typed = q
        .cohort
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or(&last_year);
    let cohort = Cohort::parse(typed).unwrap_or_else(|e| {
        errors.push(e.to_string());
        Cohort::parse(&last_year).unwrap_or(Cohort {
            from: today,
            until: today,
        })
    });
    let schedule = Schedule::current().map_err(|e| ConsoleError::Schedule(e.to_string()))?;
    let c = console::coverage::coverage(&state.db, &officer.area, &schedule, cohort, day).await?;
    audit_with(
        &state,
        &officer,
        "console_coverage",
        &format!("{} {day}", c.label),
    )
    .await?;
    let typed: String = typed.chars().take(20).collect();
    let error = (!errors.is_empty()).then(|| errors.join(" "));
    Ok(pages::coverage(
        &officer.user.account.username,
        &officer.area,
        &c,
        &typed,
        error.as_deref(),
    ))
}
