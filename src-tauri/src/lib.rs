//! The Sổ Tiêm desktop app: a Tauri 2 shell over the `station` core. It holds one open
//! station, offers the UI a small set of commands, and syncs in the background. The UI (in
//! `ui/`) receives the types declared here and in `station`, generated as TypeScript.

pub mod bindings;
pub mod commands;
pub mod error;
pub mod state;
pub mod updates;
pub mod views;

use state::{AppState, Config};
use std::sync::Arc;
use tauri::Manager;

/// Logs to `logs/sotiem-desktop.log` in the data directory and to standard error.
fn start_logging(data_dir: &std::path::Path) {
    use tracing_subscriber::{EnvFilter, fmt, prelude::*};
    let filter = EnvFilter::try_from_env("SOTIEM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = data_dir.join("logs");
    let file = std::fs::create_dir_all(&logs)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logs.join("sotiem-desktop.log"))
        })
        .ok();
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr));
    let result = match file {
        Some(f) => registry
            .with(
                fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(f)),
            )
            .try_init(),
        None => registry.try_init(),
    };
    let _ = result;
}

/// When the process started, for the log line of the first screen (`scripts/footprint` reads it).
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Starts the app.
pub fn run() {
    STARTED.get_or_init(std::time::Instant::now);
    tauri::Builder::default()
        .plugin(tauri_plugin_window_state::Builder::default().build())
        // Checked by hand against the station's server (`updates.rs`); its JavaScript commands
        // are not granted to the UI.
        .plugin(tauri_plugin_updater::Builder::new().build())
        .setup(|app| {
            // Local, not roaming, application data (see `station::paths`).
            let default_data = station::paths::default_data_dir()
                .unwrap_or_else(|| std::path::PathBuf::from("sotiem-data"));
            let config = Config::from_env(default_data, app.path().document_dir().ok());
            start_logging(&config.data_dir);
            tracing::info!("data directory {}", config.data_dir.display());
            let state = Arc::new(AppState::new(config));
            state.push_progress_to(app.handle().clone());
            tauri::async_runtime::block_on(state.open());
            tauri::async_runtime::spawn(state.clone().background());
            app.manage(state);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_status,
            commands::setup_station,
            commands::restore_station,
            commands::backup_settings,
            commands::set_recovery_passphrase,
            commands::set_backup_folder,
            commands::backup_now,
            commands::update_status,
            commands::check_update,
            commands::download_update,
            commands::install_update,
            commands::sign_in,
            commands::complete_enrollment,
            commands::change_initial_password,
            commands::sign_out,
            commands::change_password,
            commands::catalogue,
            commands::find_people,
            commands::read_cccd_qr,
            commands::register_person,
            commands::show_person,
            commands::edit_person,
            commands::record_dose,
            commands::void_dose,
            commands::daily_report,
            commands::sync_now,
            commands::cancel_sync,
            commands::signing_tokens,
            commands::signing_preview,
            commands::sign_run,
            commands::cancel_signing,
            commands::signing_batches,
            commands::register_certificate,
            commands::data_list,
            commands::export_list,
            commands::passport_status,
            commands::print_passport,
            commands::check_passport,
            commands::complaints,
            commands::open_complaint,
            commands::complaint_matches,
            commands::link_complaint,
            commands::answer_complaint,
            commands::forward_complaint,
            commands::complaint_photo,
            commands::complaint_destinations,
            commands::import_preview,
            commands::import_apply,
            commands::duplicate_candidates,
            commands::merge_people,
            commands::staff_accounts,
            commands::create_staff_account,
            commands::revoke_staff_account,
            commands::reset_staff_password,
            commands::reset_staff_authenticator,
            commands::staff_resets,
            commands::approve_staff_reset,
            commands::acknowledge_reset_notices,
            commands::staff_sign_ins,
            commands::own_sign_ins,
        ])
        .build(tauri::generate_context!())
        .map(|app| {
            app.run(|handle, event| {
                // Close the database cleanly before the process exits.
                if let tauri::RunEvent::Exit = event
                    && let Some(state) = handle.try_state::<Arc<AppState>>()
                    && let Some(station) = tauri::async_runtime::block_on(state.station_if_open())
                {
                    tauri::async_runtime::block_on(station.close());
                }
            })
        })
        .unwrap_or_else(|e| {
            eprintln!("Sổ Tiêm không khởi động được: {e}");
            std::process::exit(1);
        });
}

#[cfg(test)]
mod tests {
    /// The station's default folder is named by the identifier the app is built with.
    #[test]
    fn the_data_folder_is_named_by_the_apps_identifier() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../tauri.conf.json")).expect("tauri.conf.json");
        assert_eq!(conf["identifier"], station::paths::APP_ID);
    }
}
