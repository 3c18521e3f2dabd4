//! The district and province console over HTTP (`/console/…`): a browser signs in with the
//! same password and one-time code as everywhere, and gets an HttpOnly, SameSite=Strict cookie
//! holding an ordinary server session. Only officers' sessions open the views; each view shows
//! counts of the officer's area (`crate::console`), never a person.
//!
//! Forms post back to the same origin; a POST whose `Origin` names another site is refused, and
//! every page forbids scripts, framing and caching.

use super::console_pages as pages;
use super::state::AppState;
use super::throttle;
use crate::accounts::{self, AuthError, Origin, SessionUser};
use crate::admin_audit::{self, Actor};
use crate::console::{self, Area, ConsoleError, report};
use axum::Form;
use axum::Router;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use maud::Markup;
use serde::Deserialize;
use sync_protocol::auth::{LoginRequest, LoginStep, SessionGrant};

/// The cookie that carries the console's session.
const COOKIE: &str = "sotiem_console";
/// The longest silence threshold the stations view takes (a year).
const MAX_SILENT_DAYS: i64 = 365;

/// The console's routes; sign-in steps limited per address like the API's.
pub fn routes(state: &AppState) -> Router<AppState> {
    let sign_in = throttle::limit_per_address(
        Router::new()
            .route("/console/login", post(login))
            .route("/console/enroll", post(enroll))
            .route("/console/change-password", post(change_password)),
        state.sign_in_limit,
    );
    Router::new()
        .merge(sign_in)
        .route(
            "/console",
            get(|| async { Redirect::to("/console/stations") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/stations") }),
        )
        .route("/console/login", get(login_page))
        .route("/console/logout", post(logout))
        .route("/console/style.css", get(style))
        .route("/console/stations", get(stations))
        .route("/console/verification", get(verification))
        .route("/console/signing", get(signing))
        .route("/console/report", get(daily_report))
        .route("/console/report.xlsx", get(daily_report_xlsx))
        .route("/console/resets", get(resets))
        .route("/console/resets/approve", post(approve_reset))
        .layer(axum::middleware::from_fn(guard))
}

/// Refuses cross-site form posts, and marks every answer not to be cached, framed or scripted.
async fn guard(request: Request, next: Next) -> Response {
    if request.method() == axum::http::Method::POST && !same_origin(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "yêu cầu gửi từ trang web khác: không nhận",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    super::page_headers::set(
        response.headers_mut(),
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    response
}

/// A post the browser says comes from this site: `Sec-Fetch-Site` (modern browsers) is
/// `same-origin` or `none` (typed by the user), and `Origin`, when sent, names this host. A post
/// with neither header (an old browser, a script on the command line) carries no cookie from
/// another site anyway (SameSite=Strict).
fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pages::STYLE,
    )
        .into_response()
}

fn origin_of(parts: &Parts) -> Origin {
    Origin {
        device_id: None,
        address: throttle::peer_address(&parts.extensions).map(|ip| ip.to_string()),
        device_serves: Vec::new(),
    }
}

/// A signed-in officer and their area.
struct Officer {
    user: SessionUser,
    area: Area,
}

/// Why a view is not shown: not signed in (to the sign-in page), or refused with a message.
enum NotShown {
    SignIn,
    Refused(StatusCode, String),
}

impl IntoResponse for NotShown {
    fn into_response(self) -> Response {
        match self {
            NotShown::SignIn => Redirect::to("/console/login").into_response(),
            NotShown::Refused(status, message) => {
                (status, pages::refused(&message)).into_response()
            }
        }
    }
}

impl From<ConsoleError> for NotShown {
    fn from(e: ConsoleError) -> NotShown {
        let status = match e {
            ConsoleError::Db(_) | ConsoleError::Write(_) | ConsoleError::Lookup(_) => {
                tracing::error!("console: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ConsoleError::BadDay(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        };
        NotShown::Refused(status, e.to_string())
    }
}

impl From<sqlx::Error> for NotShown {
    fn from(e: sqlx::Error) -> NotShown {
        ConsoleError::Db(e).into()
    }
}

impl FromRequestParts<AppState> for Officer {
    type Rejection = NotShown;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = session_cookie(parts).ok_or(NotShown::SignIn)?;
        let mut user = match accounts::session_user(&state.db, &state.clock, &token).await {
            Ok(user) => user,
            Err(AuthError::SessionInvalid | AuthError::Revoked) => return Err(NotShown::SignIn),
            Err(e) => {
                return Err(NotShown::Refused(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    e.to_string(),
                ));
            }
        };
        user.address = throttle::peer_address(&parts.extensions).map(|ip| ip.to_string());
        if !user.account.role.is_officer() {
            return Err(NotShown::Refused(
                StatusCode::FORBIDDEN,
                format!(
                    "tài khoản {} ({}) không dùng bảng theo dõi: chỉ cán bộ theo dõi tuyến huyện/tỉnh",
                    user.account.username,
                    user.account.role.label()
                ),
            ));
        }
        let area = Area::of_officer(&state.db, &user.account).await?;
        Ok(Officer { user, area })
    }
}

fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 200)
}

fn session_set_cookie(state: &AppState, grant: &SessionGrant) -> HeaderValue {
    let cookie = Cookie::build((COOKIE, grant.token.clone()))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.served_over_https())
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

fn cleared_cookie(state: &AppState) -> HeaderValue {
    let cookie = Cookie::build((COOKIE, ""))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.served_over_https())
        .max_age(cookie::time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

async fn login_page() -> Markup {
    pages::login(None, "")
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    otp: String,
}

/// Where a sign-in step leads: the next form, or the views with the session's cookie.
fn next_step(state: &AppState, step: LoginStep) -> Response {
    match step {
        LoginStep::Session(grant) => (
            [(header::SET_COOKIE, session_set_cookie(state, &grant))],
            Redirect::to("/console/stations"),
        )
            .into_response(),
        LoginStep::EnrollOtp {
            challenge,
            otp_uri,
            otp_secret_base32,
        } => pages::enroll(&challenge, &otp_uri, &otp_secret_base32, None).into_response(),
        LoginStep::ChangePassword { challenge } => {
            pages::change_password(&challenge, None).into_response()
        }
    }
}

fn status_of(e: &AuthError) -> StatusCode {
    match e {
        AuthError::Db(_) | AuthError::Hash => StatusCode::INTERNAL_SERVER_ERROR,
        AuthError::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNAUTHORIZED,
    }
}

async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> Response {
    let request = LoginRequest {
        username: form.username.clone(),
        password: form.password,
        otp: Some(form.otp.trim().to_string()).filter(|o| !o.is_empty()),
        want_secret: false,
    };
    match accounts::login(&state.db, &state.clock, &request, &origin_of(&parts)).await {
        Ok(step) => next_step(&state, step),
        Err(e) => {
            let name: String = form.username.chars().take(64).collect();
            (status_of(&e), pages::login(Some(&e.to_string()), &name)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct EnrollForm {
    challenge: String,
    otp: String,
}

async fn enroll(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<EnrollForm>,
) -> Response {
    match accounts::enroll(
        &state.db,
        &state.clock,
        &form.challenge,
        form.otp.trim(),
        &origin_of(&parts),
    )
    .await
    {
        Ok(step) => next_step(&state, step),
        // The challenge is spent or expired: start again from the sign-in form.
        Err(e) => (status_of(&e), pages::login(Some(&e.to_string()), "")).into_response(),
    }
}

#[derive(Deserialize)]
struct ChangePasswordForm {
    challenge: String,
    new_password: String,
    confirm: String,
}

async fn change_password(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<ChangePasswordForm>,
) -> Response {
    if form.new_password != form.confirm {
        return (
            StatusCode::BAD_REQUEST,
            pages::change_password(
                &form.challenge,
                Some("hai lần nhập mật khẩu mới không khớp"),
            ),
        )
            .into_response();
    }
    if form.new_password.len() > 256 {
        return (
            StatusCode::BAD_REQUEST,
            pages::change_password(&form.challenge, Some("mật khẩu quá dài (tối đa 256 ký tự)")),
        )
            .into_response();
    }
    match accounts::change_password_with_challenge(
        &state.db,
        &state.clock,
        &form.challenge,
        &form.new_password,
        &origin_of(&parts),
    )
    .await
    {
        Ok(grant) => next_step(&state, LoginStep::Session(Box::new(grant))),
        Err(e @ AuthError::WeakPassword(_)) | Err(e @ AuthError::SamePassword) => (
            StatusCode::BAD_REQUEST,
            pages::change_password(&form.challenge, Some(&e.to_string())),
        )
            .into_response(),
        Err(e) => (status_of(&e), pages::login(Some(&e.to_string()), "")).into_response(),
    }
}

async fn logout(State(state): State<AppState>, parts: Parts) -> Response {
    if let Some(token) = session_cookie(&parts)
        && let Err(e) = accounts::logout(&state.db, &token).await
    {
        tracing::warn!("console sign-out: {e}");
    }
    (
        [(header::SET_COOKIE, cleared_cookie(&state))],
        Redirect::to("/console/login"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct StationsQuery {
    silent_days: Option<String>,
}

async fn stations(
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

async fn verification(State(state): State<AppState>, officer: Officer) -> Result<Markup, NotShown> {
    let rows = console::verification(&state.db, &officer.area).await?;
    Ok(pages::verification(
        &officer.user.account.username,
        &officer.area,
        &rows,
    ))
}

async fn signing(State(state): State<AppState>, officer: Officer) -> Result<Markup, NotShown> {
    let rows = console::signing(&state.db, &officer.area).await?;
    Ok(pages::signing(
        &officer.user.account.username,
        &officer.area,
        &rows,
    ))
}

#[derive(Deserialize)]
struct DayQuery {
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

async fn daily_report(
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

async fn daily_report_xlsx(
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
async fn resets(State(state): State<AppState>, officer: Officer) -> Result<Markup, NotShown> {
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
struct ApproveForm {
    id: String,
}

async fn approve_reset(
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
            let status = super::error::auth_status(&e);
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
