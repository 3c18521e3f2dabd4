//! The Sổ Tiêm station core: the encrypted local replica of a station's people and doses, the
//! operations nurses perform on it, search, the audit log and (later) sync and signing. It has no
//! Tauri dependency: the desktop shell and the `sotiem` CLI both drive it.

// Ground floor: no `Station` here; the modules below build on these.
pub mod audit;
pub mod error;
pub mod facility;
pub mod files;
pub mod intent;
pub mod key;
pub mod paths;
pub(crate) mod pdf;
pub mod progress;
pub mod remote;
pub mod session;
pub mod store;
// The `Station` and its operations on the replica.
pub mod service;
// Jobs built on the `Station`: each `impl Station` block here depends only on the floors above.
pub mod auth;
pub mod backup;
pub mod complaints;
pub mod duplicates;
pub mod import;
pub mod lists;
pub mod passports;
pub mod programme;
pub mod report;
pub mod rulebook;
pub mod signing;
pub mod staff;
pub mod sync;

pub use auth::{Credentials, SignIn};
pub use backup::{BackupError, BackupHeader, BackupSettings, BackupSummary};
pub use complaints::{
    ComplaintCounts, ComplaintFilter, ComplaintState, ComplaintSummary, ComplaintView,
    PendingReply, RepliesSent,
};
pub use duplicates::{DuplicatePair, DuplicateRule, DuplicateSide};
pub use error::{Result, StationError};
pub use facility::{Facility, FacilityKind};
pub use import::{ImportChange, ImportFieldChange, ImportPreview, ImportProblem, ImportSummary};
pub use intent::StepUp;
pub use key::DbKey;
pub use lists::{
    BROWSE_ROWS, DataList, ExportSummary, ListDose, ListPage, ListQuery, ListRow, SCREEN_ROWS,
    list_needs_code,
};
pub use passports::{Paper, PassportCheck, PassportState, PassportStatus, PassportView};
pub use progress::{SigningProgress, SyncPhase, SyncProgress, Watcher};
pub use report::{DailyReport, DayDose, VaccinatorCount, VaccineCount};
pub use service::{
    DoseInput, NewStation, OutboxEntry, PersonEdit, PersonInput, PersonRecord, PersonSummary,
    QrReading, SearchQuery, Station, StationStatus, Warning,
};
pub use session::Session;
pub use signing::{
    BacklogSummary, ManifestSigner, PlannedRun, SigningBatchSummary, SigningCandidate,
    SigningPreview, SigningSelection, TokenSigner,
};
pub use store::Store;
pub use sync::{
    AuthorWaiting, QuarantinedChange, RetryPolicy, SyncClient, SyncError, SyncReport, SyncStatus,
    allow_insecure_http, check_server_address,
};
pub use sync_protocol;
