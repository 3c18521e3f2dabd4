//! The district and province console over HTTP (`/console/…`): a browser signs in with the
//! same password and one-time code as everywhere, and gets an HttpOnly, SameSite=Strict cookie
//! holding an ordinary server session. Only officers' sessions open the views; each view shows
//! counts of the officer's area (`crate::console`), never a person.
//!
//! Forms post back to the same origin; a POST whose `Origin` names another site is refused, and
//! every page forbids scripts, framing and caching.

mod sign_in;
mod views;

use super::console_pages as pages;
use super::state::AppState;
use super::throttle;
use crate::accounts::{self, AuthError, SessionUser};
use crate::console::{Area, ConsoleError};
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::Cookie;
use sign_in::{change_password, enroll, login, login_page, logout};
use views::{
    approve_reset, coverage, daily_report, daily_report_xlsx, resets, signing, stations,
    verification,
};

/// The cookie that carries the console's session.
const COOKIE: &str = "sotiem_console";

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
        .route("/console/coverage", get(coverage))
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
            ConsoleError::BadDay(_) | ConsoleError::BadCohort(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Schedule(_) => {
                tracing::error!("console: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
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
