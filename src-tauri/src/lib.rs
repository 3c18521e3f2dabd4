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
            commands::status::app_status,
            commands::status::sync_now,
            commands::status::cancel_sync,
            commands::setup::setup_station,
            commands::setup::restore_station,
            commands::sign_in::sign_in,
            commands::sign_in::complete_enrollment,
            commands::sign_in::change_initial_password,
            commands::sign_in::acknowledge_reset_notices,
            commands::account::backup_settings,
            commands::account::set_recovery_passphrase,
            commands::account::set_backup_folder,
            commands::account::backup_now,
            commands::account::update_status,
            commands::account::check_update,
            commands::account::download_update,
            commands::account::install_update,
            commands::account::sign_out,
            commands::account::change_password,
            commands::account::own_sign_ins,
            commands::session::catalogue,
            commands::routine::due_list,
            commands::routine::coverage,
            commands::routine::person_schedule,
            commands::routine::plan_session,
            commands::routine::session_days,
            commands::routine::print_session_slips,
            commands::routine::print_session_sheet,
            commands::routine::session_tally,
            commands::routine::close_session,
            commands::routine::session_defaulters,
            commands::routine::trace_defaulter,
            commands::routine::remind_session,
            commands::session::find_people,
            commands::session::read_cccd_qr,
            commands::session::register_person,
            commands::people::show_person,
            commands::people::edit_person,
            commands::people::record_dose,
            commands::people::void_dose,
            commands::passport::passport_status,
            commands::passport::print_passport,
            commands::passport::check_passport,
            commands::report::daily_report,
            commands::signing::signing_tokens,
            commands::signing::signing_preview,
            commands::signing::sign_run,
            commands::signing::cancel_signing,
            commands::signing::signing_batches,
            commands::signing::register_certificate,
            commands::cleaning::data_list,
            commands::cleaning::export_list,
            commands::cleaning::import_preview,
            commands::cleaning::import_apply,
            commands::cleaning::duplicate_candidates,
            commands::cleaning::merge_people,
            commands::complaints::complaints,
            commands::complaints::open_complaint,
            commands::complaints::complaint_matches,
            commands::complaints::link_complaint,
            commands::complaints::answer_complaint,
            commands::complaints::forward_complaint,
            commands::complaints::complaint_photo,
            commands::complaints::complaint_destinations,
            commands::staff::staff_accounts,
            commands::staff::create_staff_account,
            commands::staff::revoke_staff_account,
            commands::staff::reset_staff_password,
            commands::staff::reset_staff_authenticator,
            commands::staff::staff_resets,
            commands::staff::approve_staff_reset,
            commands::staff::staff_sign_ins,
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
