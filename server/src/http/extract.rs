//! Who is calling: the device of a token, the signed-in user of a session, and a user who may
//! read people's data on this device.

use super::error::*;
use super::state::*;
use super::throttle;
use crate::accounts::{self, AuthError, SessionUser};
use crate::admin::{TokenDevice, device_by_token, record_last_seen};
use crate::ingest::DeviceCtx;
use crate::scope::Facilities;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use sync_protocol::endpoints::SESSION_HEADER;
use sync_protocol::person::format_time;

/// A device that presented a valid, unrevoked token.
pub struct AuthedDevice(pub DeviceCtx);

impl FromRequestParts<AppState> for AuthedDevice {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "thiếu mã thiết bị: thiết bị phải được đăng ký với máy chủ trước khi đồng bộ",
            )
        })?;
        authenticate(state, token).await
    }
}

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 200)
}

pub(crate) async fn authenticate(state: &AppState, token: &str) -> Result<AuthedDevice, ApiError> {
    let Some(TokenDevice {
        id,
        facility,
        revoked_at,
    }) = device_by_token(&state.db, token).await?
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "mã thiết bị không đúng: kiểm tra lại mã do quản trị viên cấp",
        ));
    };
    if revoked_at.is_some() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "device_revoked",
            "thiết bị này đã bị thu hồi quyền đồng bộ: liên hệ quản trị viên tuyến huyện/tỉnh",
        ));
    }
    touch(state, &id).await;
    Ok(AuthedDevice(DeviceCtx { id, facility }))
}

/// Records when a device was last seen, at most once a minute per device.
async fn touch(state: &AppState, device: &str) {
    // On the server's clock, like every other time it keeps.
    let now = state.clock.now();
    let due = match state.last_seen.lock() {
        Ok(mut seen) => {
            let due = seen
                .get(device)
                .is_none_or(|t| now - *t > time::Duration::minutes(1));
            if due {
                seen.insert(device.to_string(), now);
            }
            due
        }
        Err(_) => false,
    };
    if due {
        let at = format_time(now);
        let _ = record_last_seen(&state.db, device, &at).await;
    }
}

/// The facility whose scope a device replicates (its parent for a mobile team).
pub(crate) async fn scope_owner(state: &AppState, device: &DeviceCtx) -> Result<String, ApiError> {
    let all = crate::admin::facilities(&state.db).await?;
    Ok(Facilities::new(all).owner(&device.facility))
}

/// A signed-in user (from the session header).
pub struct User(pub SessionUser);

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::from(AuthError::SessionInvalid))?;
        let mut user = accounts::session_user(&state.db, &state.clock, token).await?;
        user.address = throttle::peer_address(&parts.extensions).map(|ip| ip.to_string());
        Ok(User(user))
    }
}

/// A signed-in user who may read people's data on this device: never a system administrator,
/// and only for the device's own facility (a mobile team's staff belong to its parent).
pub struct DataUser {
    pub user: SessionUser,
    pub device: crate::ingest::DeviceCtx,
}

impl FromRequestParts<AppState> for DataUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AuthedDevice(device) = AuthedDevice::from_request_parts(parts, state).await?;
        let User(user) = User::from_request_parts(parts, state).await?;
        if user.account.role.is_officer() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "officer_no_data_access",
                "tài khoản cán bộ theo dõi tuyến huyện/tỉnh chỉ xem số liệu tổng hợp, không xem hay sửa dữ liệu người tiêm",
            ));
        }
        if !user.account.role.reads_people() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_no_data_access",
                "tài khoản quản trị hệ thống không được xem hay sửa dữ liệu người tiêm",
            ));
        }
        let owner = scope_owner(state, &device).await?;
        if user.account.facility != device.facility && user.account.facility != owner {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_facility",
                format!(
                    "tài khoản thuộc cơ sở {} nhưng thiết bị thuộc cơ sở {}",
                    user.account.facility, device.facility
                ),
            ));
        }
        Ok(DataUser { user, device })
    }
}
