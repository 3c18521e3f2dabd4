//! The header and status bars: the app's state, a sync started or stopped.

use super::{App, Result};
use crate::views::{AppStatus, SessionView};
use station::SyncReport;

/// The state of the app for the header and status bars.
#[tauri::command]
pub async fn app_status(app: App<'_>) -> Result<AppStatus> {
    // The UI asks for its first status once the window has loaded: the first screen follows.
    static FIRST: std::sync::Once = std::sync::Once::new();
    FIRST.call_once(|| {
        if let Some(started) = crate::STARTED.get() {
            tracing::info!(
                "first screen requested {} ms after start",
                started.elapsed().as_millis()
            );
        }
    });
    let station = app.station_if_open().await;
    let (facility, session, sync, progress, complaints) = match &station {
        Some(s) => (
            Some(s.facility()),
            s.session().as_ref().map(SessionView::from),
            s.sync_status().await.ok(),
            s.sync_progress(),
            // Refused (and so absent) for a role that reads no people's data.
            s.complaint_counts().await.ok(),
        ),
        None => (None, None, None, Default::default(), None),
    };
    Ok(AppStatus {
        version: env!("CARGO_PKG_VERSION").into(),
        setup_needed: station.is_none() && app.fatal().is_none(),
        fatal: app.fatal(),
        default_server: app.config.default_server.clone(),
        facility,
        session,
        online: app.online(),
        sync,
        progress,
        last_report: app.last_report(),
        update_available: app.update_view().await.available,
        complaints,
    })
}

/// Syncs now; the UI follows progress through `app_status` and may call `cancel_sync`.
#[tauri::command]
pub async fn sync_now(app: App<'_>) -> Result<SyncReport> {
    app.sync().await
}

/// Asks the running sync to stop at its next step.
#[tauri::command]
pub async fn cancel_sync(app: App<'_>) -> Result<()> {
    app.station().await?.cancel_sync();
    Ok(())
}
