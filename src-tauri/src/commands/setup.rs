//! The Setup screen: the first run makes this laptop a station, from the server or from a backup.

use super::status::app_status;
use super::{App, Result};
use crate::views::{AppStatus, RestoreRequest, SetupRequest};

/// First run: sets up this laptop as a station of the device token's facility.
#[tauri::command]
pub async fn setup_station(app: App<'_>, request: SetupRequest) -> Result<AppStatus> {
    app.set_up(&request.server_url, &request.device_token)
        .await?;
    app_status(app).await
}

/// First run on a new laptop: rebuilds the station from a backup of the old one.
#[tauri::command]
pub async fn restore_station(app: App<'_>, request: RestoreRequest) -> Result<AppStatus> {
    app.restore(&request).await?;
    app_status(app).await
}
