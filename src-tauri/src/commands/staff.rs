//! The Staff screen: the station's accounts, run by its head (online).

use super::{App, Result, as_user};
use crate::views::{NewStaffRequest, StaffPasswordRequest};
use sync_protocol::auth::{AccountInfo, NewAccount, ResetRecord, SignInEvent};

/// The station's accounts, for its head.
#[tauri::command]
pub async fn staff_accounts(app: App<'_>) -> Result<Vec<AccountInfo>> {
    let client = as_user(&app).await?;
    Ok(station::staff::accounts(&client).await?)
}

/// Creates a vaccinator's or signer's account at the head's own facility.
#[tauri::command]
pub async fn create_staff_account(app: App<'_>, request: NewStaffRequest) -> Result<AccountInfo> {
    let client = as_user(&app).await?;
    let facility = app
        .station()
        .await?
        .session()
        .map(|s| s.account.facility.clone())
        .unwrap_or_default();
    let new = NewAccount {
        username: request.username,
        facility,
        role: request.role,
        full_name: request.full_name,
        gender: request.gender,
        position: request.position,
        email: None,
        phone: request.phone,
        initial_password: request.initial_password,
    };
    Ok(station::staff::create(&client, &new).await?)
}

/// Revokes one of the station's accounts.
#[tauri::command]
pub async fn revoke_staff_account(app: App<'_>, username: String) -> Result<()> {
    let client = as_user(&app).await?;
    Ok(station::staff::revoke(&client, &username).await?)
}

/// Gives one of the station's accounts a new initial password (or asks a second person to
/// approve it, when its authenticator was reset lately).
#[tauri::command]
pub async fn reset_staff_password(
    app: App<'_>,
    request: StaffPasswordRequest,
) -> Result<ResetRecord> {
    let client = as_user(&app).await?;
    Ok(
        station::staff::reset_password(&client, &request.username, &request.initial_password)
            .await?,
    )
}

/// Clears the authenticator of one of the station's accounts (re-enrolment at next sign-in), or
/// asks a second person to approve it.
#[tauri::command]
pub async fn reset_staff_authenticator(app: App<'_>, username: String) -> Result<ResetRecord> {
    let client = as_user(&app).await?;
    Ok(station::staff::reset_authenticator(&client, &username).await?)
}

/// The last 30 days' resets of the station's accounts.
#[tauri::command]
pub async fn staff_resets(app: App<'_>) -> Result<Vec<ResetRecord>> {
    let client = as_user(&app).await?;
    Ok(station::staff::resets(&client).await?)
}

/// Approves, as the second person, a reset another administrator asked for.
#[tauri::command]
pub async fn approve_staff_reset(app: App<'_>, id: String) -> Result<ResetRecord> {
    let client = as_user(&app).await?;
    Ok(station::staff::approve_reset(&client, &id).await?)
}

/// The sign-ins of one of the station's accounts.
#[tauri::command]
pub async fn staff_sign_ins(app: App<'_>, username: String) -> Result<Vec<SignInEvent>> {
    let client = as_user(&app).await?;
    Ok(station::staff::sign_ins_of(&client, &username).await?)
}
