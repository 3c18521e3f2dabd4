//! The TypeScript declarations of every type that crosses to the UI, generated from the Rust
//! types (never retyped). `ui/src/bindings/` holds them; a test fails when they are stale, and
//! `SOTIEM_UPDATE_BINDINGS=1 cargo test -p sotiem-desktop bindings` rewrites them.

use std::path::Path;
use ts_rs::{Config, ExportError, TS};

/// Writes the declarations of the UI's types (and what they use) into `dir`.
pub fn export_all(dir: &Path) -> Result<(), ExportError> {
    // serde_json sends 64-bit integers as numbers; counts here stay far below 2^53.
    let cfg = Config::new().with_out_dir(dir).with_large_int("number");
    macro_rules! export {
        ($($t:ty),* $(,)?) => { $( <$t as TS>::export_all(&cfg)?; )* };
    }
    export!(
        crate::views::AppStatus,
        crate::views::SetupRequest,
        crate::views::RestoreRequest,
        station::BackupSettings,
        station::BackupSummary,
        crate::updates::UpdateView,
        crate::views::SignInRequest,
        crate::views::SignInStep,
        crate::views::EnrollRequest,
        crate::views::InitialPasswordRequest,
        crate::views::ChangePasswordRequest,
        crate::views::EditRequest,
        crate::views::RecordDoseRequest,
        crate::views::VoidDoseRequest,
        crate::error::UiError,
        station::PersonInput,
        station::QrReading,
        station::PersonRecord,
        station::PassportStatus,
        station::PassportCheck,
        station::ComplaintFilter,
        station::ComplaintSummary,
        station::ComplaintView,
        sync_protocol::complaints::FacilityChoice,
        station::Paper,
        crate::views::PrintedFile,
        crate::views::PlanSessionRequest,
        crate::views::TraceRequest,
        crate::views::RemindView,
        station::programme::SessionDay,
        station::programme::SessionTally,
        station::programme::Defaulter,
        station::PersonSummary,
        station::SearchQuery,
        station::SyncReport,
        station::DailyReport,
        station::programme::VaccineEntry,
        station::programme::DueEntry,
        station::programme::CohortCoverage,
        sync_protocol::schedule::PersonSchedule,
        crate::views::TokenView,
        crate::views::SignRunRequest,
        station::SigningPreview,
        station::SigningBatchSummary,
        station::SigningProgress,
        station::BacklogSummary,
        station::ListQuery,
        station::ListPage,
        station::ExportSummary,
        crate::views::ExportListRequest,
        crate::views::ImportFileRequest,
        crate::views::ImportPreviewView,
        crate::views::ImportApplyRequest,
        station::ImportSummary,
        station::DuplicatePair,
        crate::views::MergeRequest,
        crate::views::RegisterCertificateView,
        crate::views::NewStaffRequest,
        crate::views::StaffPasswordRequest,
        sync_protocol::auth::AccountInfo,
        sync_protocol::auth::SignInEvent,
        sync_protocol::auth::ResetRecord,
        crate::views::Limits,
    );
    // The values too, not only their type.
    let limits = serde_json::to_string_pretty(&crate::views::Limits::current())
        .map_err(|e| ExportError::Io(std::io::Error::other(e)))?;
    std::fs::write(
        dir.join("currentLimits.ts"),
        format!(
            "// Generated from the Rust rules (src-tauri/src/views.rs `Limits::current`); do not edit.\n\nimport type {{ Limits }} from \"./Limits\";\n\nexport const LIMITS: Limits = {limits};\n"
        ),
    )?;
    // The names of the events the shell pushes, so the UI listens to what is sent.
    std::fs::write(
        dir.join("events.ts"),
        format!(
            "// Generated from src-tauri/src/state.rs; do not edit.\n\n/** Carries a SyncProgress each time it changes. */\nexport const SYNC_PROGRESS_EVENT = {:?};\n/** Carries a SigningProgress each time it changes. */\nexport const SIGNING_PROGRESS_EVENT = {:?};\n",
            crate::state::SYNC_PROGRESS_EVENT,
            crate::state::SIGNING_PROGRESS_EVENT,
        ),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::PathBuf;

    /// The names (snake_case; kebab-case read as snake_case) that follow each `marker`.
    fn names(text: &str, marker: &str) -> BTreeSet<String> {
        text.split(marker)
            .skip(1)
            .filter_map(|rest| {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                (!name.is_empty()).then(|| name.replace('-', "_"))
            })
            .collect()
    }

    /// The commands `generate_handler!` registers: the last segment of each `commands::area::name`.
    fn handler_names(text: &str) -> BTreeSet<String> {
        text.split("commands::")
            .skip(1)
            .filter_map(|rest| {
                let path: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let name = path.rsplit("::").next().unwrap_or_default();
                (!name.is_empty()).then(|| name.to_string())
            })
            .collect()
    }

    #[test]
    fn every_list_of_the_apps_commands_names_the_same_commands() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let read = |p: &str| std::fs::read_to_string(root.join(p)).expect(p);
        let handler = handler_names(&read("src/lib.rs"));
        let build_rs = read("build.rs");
        let build = names(
            build_rs
                .split("fn sotiem_commands()")
                .nth(1)
                .expect("the command list"),
            "\"",
        );
        let capability = names(&read("capabilities/main.json"), "\"allow-");
        // `call<T>("command", …)` in the UI's one module of calls.
        let ui = names(&read("../ui/src/api.ts"), ">(\"");
        assert_eq!(handler, build, "generate_handler! vs build.rs");
        assert_eq!(
            handler, capability,
            "generate_handler! vs the capability file"
        );
        assert_eq!(
            handler, ui,
            "generate_handler! vs the UI's calls (ui/src/api.ts)"
        );
    }

    fn read_dir(dir: &std::path::Path) -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "ts"))
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            std::fs::read_to_string(e.path()).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn typescript_bindings_in_the_ui_are_current() {
        let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
        if std::env::var("SOTIEM_UPDATE_BINDINGS").is_ok_and(|v| v == "1") {
            let _ = std::fs::remove_dir_all(&committed);
            super::export_all(&committed).expect("bindings written");
        }
        let fresh = tempfile::tempdir().expect("temp dir");
        super::export_all(fresh.path()).expect("bindings generated");
        let (want, have) = (read_dir(fresh.path()), read_dir(&committed));
        let stale: Vec<&String> = want
            .keys()
            .chain(have.keys())
            .filter(|name| want.get(*name) != have.get(*name))
            .collect();
        assert!(
            stale.is_empty(),
            "ui/src/bindings is out of date ({stale:?}): run SOTIEM_UPDATE_BINDINGS=1 cargo test -p sotiem-desktop bindings"
        );
    }
}
