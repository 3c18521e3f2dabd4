//! Signing in to the console: the password and code form, first-login enrolment and password
//! change, each ending in the session's cookie, and signing out.

use super::{COOKIE, session_cookie};
use crate::accounts::{self, AuthError, Origin};
use crate::http::console_pages as pages;
use crate::http::state::AppState;
use crate::http::throttle;
use axum::Form;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use maud::Markup;
use serde::Deserialize;
use sync_protocol::auth::{LoginRequest, LoginStep, SessionGrant};

fn origin_of(parts: &Parts) -> Origin {
    Origin {
        device_id: None,
        address: throttle::peer_address(&parts.extensions).map(|ip| ip.to_string()),
        device_serves: Vec::new(),
    }
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

pub(super) async fn login_page() -> Markup {
    pages::login(None, "")
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
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

pub(super) async fn login(
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
pub(super) struct EnrollForm {
    challenge: String,
    otp: String,
}

pub(super) async fn enroll(
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
pub(super) struct ChangePasswordForm {
    challenge: String,
    new_password: String,
    confirm: String,
}

pub(super) async fn change_password(
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

pub(super) async fn logout(State(state): State<AppState>, parts: Parts) -> Response {
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
