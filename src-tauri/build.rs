//! Declares the app's commands so that the capability file can grant exactly these to the UI.

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(sotiem_commands())),
    )
    .expect("tauri build step");
}

/// Every command the shell offers (keep in step with `commands.rs` and the capability file).
fn sotiem_commands() -> &'static [&'static str] {
    &[
        "app_status",
        "setup_station",
        "restore_station",
        "backup_settings",
        "set_recovery_passphrase",
        "set_backup_folder",
        "backup_now",
        "update_status",
        "check_update",
        "download_update",
        "install_update",
        "sign_in",
        "complete_enrollment",
        "change_initial_password",
        "sign_out",
        "change_password",
        "catalogue",
        "find_people",
        "read_cccd_qr",
        "register_person",
        "show_person",
        "passport_status",
        "print_passport",
        "check_passport",
        "complaints",
        "open_complaint",
        "complaint_matches",
        "link_complaint",
        "answer_complaint",
        "forward_complaint",
        "complaint_photo",
        "complaint_destinations",
        "edit_person",
        "record_dose",
        "void_dose",
        "daily_report",
        "sync_now",
        "cancel_sync",
        "signing_tokens",
        "signing_preview",
        "sign_run",
        "cancel_signing",
        "signing_batches",
        "register_certificate",
        "data_list",
        "export_list",
        "import_preview",
        "import_apply",
        "duplicate_candidates",
        "merge_people",
        "staff_accounts",
        "create_staff_account",
        "revoke_staff_account",
        "reset_staff_password",
        "reset_staff_authenticator",
        "staff_sign_ins",
        "own_sign_ins",
    ]
}
