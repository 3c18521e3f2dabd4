//! HTTP endpoints for sign-in, accounts administration, the login history and the audit trail.

use super::codec::JsonBody;
use super::codec::*;
use super::error::*;
use super::extract::*;
use super::state::*;
use super::throttle;
use crate::accounts::{self, AuthError, Origin, SessionUser};
use crate::station_audit;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use sync_protocol::audit::{AuditEntry, AuditPush, AuditPushResponse};
use sync_protocol::auth::{
    AccountInfo, AccountRef, AccountStatusRequest, AccountStatusResponse, ApproveReset,
    ChangePasswordRequest, EnrollRequest, LoginRequest, LoginStep, NewAccount, PasswordReset,
    ResetRecord, Role, SignInEvent,
};
pub use sync_protocol::endpoints::SESSION_HEADER;
use sync_protocol::person::{format_time, now};

/// Where a sign-in comes from: the peer's address and the device of an optional device token
/// (sign-in records it, and some steps need a device of the account's own facility).
async fn origin(state: &AppState, parts: &Parts) -> Result<Origin, ApiError> {
    // The connection's own peer, never `x-forwarded-for` (any client can write that header).
    let address = throttle::peer_address(&parts.extensions).map(|ip| ip.to_string());
    let device = match bearer(parts) {
        Some(token) => authenticate(state, token).await.ok().map(|d| d.0),
        None => None,
    };
    let device_serves = match &device {
        Some(d) => {
            let owner = scope_owner(state, d).await?;
            vec![d.facility.clone(), owner]
        }
        None => Vec::new(),
    };
    Ok(Origin {
        device_id: device.map(|d| d.id),
        address,
        device_serves,
    })
}

/// `POST /api/v1/auth/login`
pub async fn login(
    State(state): State<AppState>,
    parts: Parts,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginStep>, ApiError> {
    let origin = origin(&state, &parts).await?;
    Ok(Json(
        accounts::login(&state.db, &state.clock, &req, &origin).await?,
    ))
}

/// `POST /api/v1/auth/enroll`
pub async fn enroll(
    State(state): State<AppState>,
    parts: Parts,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> Result<Json<LoginStep>, ApiError> {
    let origin = origin(&state, &parts).await?;
    Ok(Json(
        accounts::enroll(&state.db, &state.clock, &req.challenge, &req.otp, &origin).await?,
    ))
}

/// `POST /api/v1/auth/change-password`
pub async fn change_password(
    State(state): State<AppState>,
    parts: Parts,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> Result<Json<Option<LoginStep>>, ApiError> {
    if req.new_password.len() > 256 {
        return Err(AuthError::InvalidCredentials.into());
    }
    if let Some(challenge) = &req.challenge {
        let origin = origin(&state, &parts).await?;
        let grant = accounts::change_password_with_challenge(
            &state.db,
            &state.clock,
            challenge,
            &req.new_password,
            &origin,
        )
        .await?;
        return Ok(Json(Some(LoginStep::Session(Box::new(grant)))));
    }
    let mut parts = parts;
    let User(user) = User::from_request_parts(&mut parts, &state).await?;
    let (Some(old), Some(otp)) = (&req.old_password, &req.otp) else {
        return Err(AuthError::InvalidCredentials.into());
    };
    accounts::change_password(&state.db, &state.clock, &user, old, otp, &req.new_password).await?;
    Ok(Json(None))
}

/// `POST /api/v1/auth/step-up`: checks a fresh code and grants the sensitive edits it covers.
pub async fn step_up(
    State(state): State<AppState>,
    data: DataUser,
    JsonBody(req): JsonBody<sync_protocol::auth::StepUpRequest>,
) -> Result<Json<sync_protocol::auth::StepUpGrant>, ApiError> {
    Ok(Json(
        accounts::step_up_grant(&state.db, &state.clock, &data.user, &data.device.id, &req).await?,
    ))
}

/// `POST /api/v1/auth/logout`
pub async fn logout(State(state): State<AppState>, parts: Parts) -> Result<StatusCode, ApiError> {
    if let Some(token) = parts
        .headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        accounts::logout(&state.db, token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/certificates`: a signer registers their token's certificate.
pub async fn register_certificate(
    State(state): State<AppState>,
    User(user): User,
    JsonBody(req): JsonBody<sync_protocol::auth::RegisterCertificateRequest>,
) -> Result<Json<AccountInfo>, ApiError> {
    if req.cms.len() > 64 * 1024 || req.serial.len() > 100 || req.at.len() > 64 {
        return Err(AuthError::InvalidCredentials.into());
    }
    match crate::signing::register_certificate(&state.db, &state.clock, &state.trust, &user, &req)
        .await
    {
        Ok(info) => Ok(Json(info)),
        Err(crate::signing::RegistrationError::Account(e)) => Err(e.into()),
        Err(crate::signing::RegistrationError::Refused(r)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            r.code,
            r.message,
        )),
    }
}

/// `GET /api/v1/auth/me`
pub async fn me(User(user): User) -> Json<AccountInfo> {
    Json(user.account)
}

/// `POST /api/v1/auth/account-status`: a station asks which accounts it keeps for offline
/// sign-in have been revoked, so it can lock them out (only its own facility's accounts answer).
pub async fn account_status(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    JsonBody(req): JsonBody<AccountStatusRequest>,
) -> Result<Json<AccountStatusResponse>, ApiError> {
    if req.usernames.len() > 1000 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_accounts",
            "hỏi quá nhiều tài khoản trong một lần (tối đa 1000)",
        ));
    }
    let owner = scope_owner(&state, &device).await?;
    let asked: std::collections::HashSet<String> = req
        .usernames
        .iter()
        .map(|u| u.trim().to_lowercase())
        .collect();
    let mut revoked = Vec::new();
    let mut reset = Vec::new();
    for facility in [device.facility.as_str(), owner.as_str()] {
        for a in accounts::accounts(&state.db, Some(facility)).await? {
            if a.status == "revoked"
                && asked.contains(&a.username)
                && !revoked.contains(&a.username)
            {
                revoked.push(a.username);
            }
        }
        for r in accounts::credential_resets(&state.db, facility).await? {
            if asked.contains(&r.username) && !reset.contains(&r) {
                reset.push(r);
            }
        }
        if owner == device.facility {
            break;
        }
    }
    Ok(Json(AccountStatusResponse { revoked, reset }))
}

/// Refuses an administrator who may not run an account of `role` at `facility` (the rule is
/// [`Role::may_manage`]).
fn may_manage(admin: &SessionUser, facility: &str, role: Role) -> Result<(), AuthError> {
    let own = &admin.account;
    if own.role.may_manage(&own.facility, facility, role) {
        Ok(())
    } else {
        Err(AuthError::Forbidden {
            role: own.role.label(),
        })
    }
}

/// The administrator as the audit log names them.
fn actor(admin: &SessionUser) -> crate::admin_audit::Actor {
    crate::admin_audit::Actor::account(&admin.account.username, admin.address.as_deref())
}

/// An existing account the administrator may run, or the reason they may not.
async fn managed_account(
    state: &AppState,
    admin: &SessionUser,
    username: &str,
) -> Result<accounts::Account, ApiError> {
    let username = username.trim().to_lowercase();
    let target = accounts::account(&state.db, &username)
        .await?
        .ok_or(AuthError::NoSuchAccount(username))?;
    may_manage(admin, &target.info.facility, target.role())?;
    Ok(target)
}

/// Runs one administrative action of `admin` with its entries in the administrators' log.
async fn audited<T>(
    state: &AppState,
    admin: &SessionUser,
    action: &str,
    entity: &str,
    changes: Vec<sync_protocol::audit::FieldChange>,
    run: impl std::future::Future<Output = Result<T, AuthError>>,
) -> Result<T, ApiError> {
    let who = actor(admin);
    let why = |e: &AuthError| e.code().to_string();
    crate::admin_audit::audited(&state.db, &who, action, entity, changes, why, run)
        .await
        .map_err(|r| match r {
            crate::admin_audit::Refused::Log(e) => ApiError::from(e),
            crate::admin_audit::Refused::Action(e) => ApiError::from(e),
        })
}

/// `POST /api/v1/admin/accounts`
pub async fn create_account(
    State(state): State<AppState>,
    User(admin): User,
    JsonBody(new): JsonBody<NewAccount>,
) -> Result<Json<AccountInfo>, ApiError> {
    may_manage(&admin, &new.facility, new.role)?;
    let entity = format!("account/{}", new.username.trim().to_lowercase());
    let changes = vec![
        crate::admin_audit::change("facility", None, Some(&new.facility)),
        crate::admin_audit::change("role", None, Some(new.role.as_str())),
    ];
    let info = audited(
        &state,
        &admin,
        "account_create",
        &entity,
        changes,
        accounts::create_account(&state.db, &new),
    )
    .await?;
    Ok(Json(info))
}

/// `GET /api/v1/admin/accounts`: the accounts an administrator runs (a head of station: their
/// facility's; a system administrator: every one).
pub async fn list_accounts(
    State(state): State<AppState>,
    User(admin): User,
) -> Result<Json<Vec<AccountInfo>>, ApiError> {
    let facility = match admin.account.role {
        Role::SystemAdmin => None,
        Role::FacilityAdmin => Some(admin.account.facility.clone()),
        r => return Err(AuthError::Forbidden { role: r.label() }.into()),
    };
    Ok(Json(
        accounts::accounts(&state.db, facility.as_deref()).await?,
    ))
}

/// `POST /api/v1/admin/accounts/revoke`
pub async fn revoke_account(
    State(state): State<AppState>,
    User(admin): User,
    JsonBody(r): JsonBody<AccountRef>,
) -> Result<StatusCode, ApiError> {
    let target = managed_account(&state, &admin, &r.username).await?;
    let name = target.info.username.clone();
    audited(
        &state,
        &admin,
        "account_revoke",
        &format!("account/{name}"),
        Vec::new(),
        accounts::revoke_account(&state.db, &name),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/admin/accounts/reset-password`: a new initial password (changed at the next
/// sign-in; the authenticator stays). Answers the reset: applied, or awaiting a second person
/// when the authenticator is also in other hands.
pub async fn reset_password(
    State(state): State<AppState>,
    User(admin): User,
    JsonBody(r): JsonBody<PasswordReset>,
) -> Result<Json<ResetRecord>, ApiError> {
    let target = managed_account(&state, &admin, &r.username).await?;
    let name = target.info.username.clone();
    let by = accounts::ResetBy::account(&admin.account);
    let reset = audited(
        &state,
        &admin,
        "account_reset_password",
        &format!("account/{name}"),
        Vec::new(),
        accounts::reset_password(&state.db, &state.clock, &by, &name, &r.initial_password),
    )
    .await?;
    Ok(Json(reset))
}

/// `POST /api/v1/admin/accounts/reset-authenticator`: the next sign-in enrols a new one (held
/// for a second person when the password is also in other hands).
pub async fn reset_authenticator(
    State(state): State<AppState>,
    User(admin): User,
    JsonBody(r): JsonBody<AccountRef>,
) -> Result<Json<ResetRecord>, ApiError> {
    let target = managed_account(&state, &admin, &r.username).await?;
    let name = target.info.username.clone();
    let by = accounts::ResetBy::account(&admin.account);
    let reset = audited(
        &state,
        &admin,
        "account_reset_authenticator",
        &format!("account/{name}"),
        Vec::new(),
        accounts::reset_authenticator(&state.db, &state.clock, &by, &name),
    )
    .await?;
    Ok(Json(reset))
}

/// `GET /api/v1/admin/accounts/resets`: the last 30 days' resets of the accounts the caller
/// runs (a head: their facility's) or follows (a district officer: their area's).
pub async fn resets(
    State(state): State<AppState>,
    User(user): User,
) -> Result<Json<Vec<ResetRecord>>, ApiError> {
    let facilities = reset_facilities(&state, &user.account).await?;
    let since = state.clock.now() - time::Duration::days(accounts::RESET_NOTICE_DAYS);
    Ok(Json(
        accounts::resets_of_facilities(&state.db, &state.clock, &facilities, since).await?,
    ))
}

/// The facilities whose resets `account` sees: a head's own, a district officer's area.
pub(super) async fn reset_facilities(
    state: &AppState,
    account: &AccountInfo,
) -> Result<Vec<String>, ApiError> {
    match account.role {
        Role::FacilityAdmin => Ok(vec![account.facility.clone()]),
        Role::DistrictOfficer | Role::ProvinceOfficer => {
            let area = crate::console::Area::of_officer(&state.db, account)
                .await
                .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, "no_area", e.to_string()))?;
            Ok(area.facilities.into_iter().map(|f| f.code).collect())
        }
        r => Err(AuthError::Forbidden { role: r.label() }.into()),
    }
}

/// `POST /api/v1/admin/accounts/resets/approve`: a second person approves a reset awaiting
/// approval (another head of the facility, or the district); applied at once.
pub async fn approve_reset(
    State(state): State<AppState>,
    User(approver): User,
    JsonBody(r): JsonBody<ApproveReset>,
) -> Result<Json<ResetRecord>, ApiError> {
    let entity = format!("reset/{}", r.id.chars().take(64).collect::<String>());
    let reset = audited(
        &state,
        &approver,
        "account_reset_approve",
        &entity,
        Vec::new(),
        accounts::approve_reset(&state.db, &state.clock, &approver.account, &r.id),
    )
    .await?;
    Ok(Json(reset))
}

/// Query of the login history.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    pub username: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /api/v1/admin/login-events`
pub async fn login_events(
    State(state): State<AppState>,
    User(admin): User,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Vec<accounts::LoginEvent>>, ApiError> {
    if !matches!(admin.account.role, Role::SystemAdmin | Role::FacilityAdmin) {
        return Err(AuthError::Forbidden {
            role: admin.account.role.label(),
        }
        .into());
    }
    let limit = q.limit.unwrap_or(200).clamp(1, 5000);
    let mut events = accounts::login_events(&state.db, q.username.as_deref(), limit).await?;
    if admin.account.role == Role::FacilityAdmin {
        let own: std::collections::HashSet<String> =
            accounts::accounts(&state.db, Some(&admin.account.facility))
                .await?
                .into_iter()
                .map(|a| a.username)
                .collect();
        events.retain(|e| own.contains(&e.username));
    }
    Ok(Json(events))
}

/// `GET /api/v1/auth/sign-ins`: the signed-in user's own sign-ins, online and offline.
pub async fn own_sign_ins(
    State(state): State<AppState>,
    User(user): User,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Vec<SignInEvent>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        accounts::sign_in_history(&state.db, &user.account.username, limit).await?,
    ))
}

/// `GET /api/v1/admin/sign-ins?username=…`: the sign-ins of an account the administrator runs
/// (a head of station: their staff's).
pub async fn staff_sign_ins(
    State(state): State<AppState>,
    User(admin): User,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Vec<SignInEvent>>, ApiError> {
    let username = q.username.clone().unwrap_or_default();
    let target = managed_account(&state, &admin, &username).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        accounts::sign_in_history(&state.db, &target.info.username, limit).await?,
    ))
}

/// `POST /api/v1/audit/push`: the next entries of the device's audit chain. The chain must
/// continue exactly where the server's copy ends, with every hash recomputed, or it is refused.
pub async fn audit_push(
    State(state): State<AppState>,
    data: DataUser,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    let push: AuditPush = wire_body(&body)?;
    let device = data.device.id.clone();
    let (mut last_seq, mut last_hash) = station_audit::tail(&state.db, &device).await?;
    let received_at = format_time(now());
    let mut accepted: Vec<&sync_protocol::audit::ChainedEntry> = Vec::new();
    for e in &push.entries {
        if e.seq <= last_seq {
            continue; // already stored (a retried push)
        }
        let expected = AuditEntry::chained_hash(&e.entry, &last_hash);
        // (The entry's `device` is the station's own id, not the server's id of its token.)
        if e.seq != last_seq + 1 || e.prev_hash != last_hash || e.hash != expected {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "audit_chain_broken",
                format!(
                    "nhật ký kiểm tra của thiết bị không nối tiếp được tại mục {}: có mục bị xoá hoặc bị sửa",
                    e.seq
                ),
            ));
        }
        last_seq = e.seq;
        last_hash = e.hash.clone();
        accepted.push(e);
    }
    station_audit::append(
        &state.db,
        &device,
        &accepted,
        &received_at,
        &data.user.account.username,
    )
    .await?;
    Ok(encoded(&AuditPushResponse {
        stored_through: last_seq,
        last_hash,
    }))
}

/// `POST /api/v1/audit/tail`: where the server's copy of this device's audit chain ends, for
/// the station to check its own copy against (`sotiem audit verify`).
pub async fn audit_tail_of_device(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
) -> Result<axum::response::Response, ApiError> {
    let (stored_through, last_hash) = station_audit::tail(&state.db, &device.id).await?;
    Ok(encoded(&AuditPushResponse {
        stored_through,
        last_hash,
    }))
}
