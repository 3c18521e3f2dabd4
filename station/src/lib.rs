//! The Sổ Tiêm station core: the encrypted local replica of a station's people and doses, the
//! operations nurses perform on it, search, the audit log and (later) sync and signing. It has no
//! Tauri dependency: the desktop shell and the `sotiem` CLI both drive it.

pub mod audit;
pub mod auth;
pub mod error;
pub mod facility;
pub mod key;
pub mod service;
pub mod store;
pub mod sync;

pub use auth::{Credentials, Session, SignIn};
pub use error::{Result, StationError};
pub use facility::{Facility, FacilityKind};
pub use key::DbKey;
pub use service::{
    DoseInput, NewStation, OutboxEntry, PersonEdit, PersonInput, PersonRecord, PersonSummary,
    SearchQuery, Station, StationStatus, Warning,
};
pub use store::Store;
pub use sync::{RetryPolicy, SyncClient, SyncError, SyncReport, SyncStatus};
pub use sync_protocol;
