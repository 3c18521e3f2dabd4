//! The Account screen: sign-out, password, the user's own sign-ins, backups and updates.

use super::{App, Result, as_user};
use crate::updates::UpdateView;
use crate::views::ChangePasswordRequest;
use station::{BackupSettings, BackupSummary};
use sync_protocol::auth::SignInEvent;

/// How this station backs up.
#[tauri::command]
pub async fn backup_settings(app: App<'_>) -> Result<BackupSettings> {
    Ok(app.station().await?.backup_settings().await?)
}

/// Sets the recovery passphrase (head of facility).
#[tauri::command]
pub async fn set_recovery_passphrase(app: App<'_>, passphrase: String) -> Result<BackupSettings> {
    let station = app.station().await?;
    station.set_recovery_passphrase(&passphrase).await?;
    Ok(station.backup_settings().await?)
}

/// Chooses the folder of the daily backups (empty: none).
#[tauri::command]
pub async fn set_backup_folder(app: App<'_>, folder: String) -> Result<BackupSettings> {
    let station = app.station().await?;
    let folder = folder.trim();
    station
        .set_backup_folder((!folder.is_empty()).then(|| std::path::Path::new(folder)))
        .await?;
    Ok(station.backup_settings().await?)
}

/// Writes a backup into the chosen folder now.
#[tauri::command]
pub async fn backup_now(app: App<'_>) -> Result<BackupSummary> {
    Ok(app.station().await?.backup_now(None).await?)
}

/// What the app knows of updates.
#[tauri::command]
pub async fn update_status(app: App<'_>) -> Result<UpdateView> {
    Ok(app.update_view().await)
}

/// Asks the server for a newer release.
#[tauri::command]
pub async fn check_update(app: App<'_>) -> Result<UpdateView> {
    app.check_update().await
}

/// Downloads the newer release and verifies its signature.
#[tauri::command]
pub async fn download_update(app: App<'_>) -> Result<UpdateView> {
    app.download_update().await
}

/// Installs the verified release and restarts (refused while changes wait to be synced).
#[tauri::command]
pub async fn install_update(app: App<'_>) -> Result<()> {
    app.install_update().await
}

/// Signs out (on the server too when it answers).
#[tauri::command]
pub async fn sign_out(app: App<'_>) -> Result<()> {
    let station = app.station().await?;
    station.sign_out(app.client().as_deref()).await?;
    Ok(())
}

/// Changes the signed-in user's password (online).
#[tauri::command]
pub async fn change_password(app: App<'_>, request: ChangePasswordRequest) -> Result<()> {
    let station = app.station().await?;
    let client = app.require_client()?;
    station
        .change_password(
            &client,
            &request.old_password,
            &request.otp,
            &request.new_password,
        )
        .await?;
    Ok(())
}

/// The signed-in user's own sign-ins.
#[tauri::command]
pub async fn own_sign_ins(app: App<'_>) -> Result<Vec<SignInEvent>> {
    let client = as_user(&app).await?;
    Ok(station::staff::own_sign_ins(&client).await?)
}
