//! The commands the UI calls, one module for each screen of `ui/src/screens/` (and `status` for
//! the header and status bars around them). Each one translates between the UI's types and the
//! station's API and back; the rules live in `station`. `lib.rs` registers each by its path.

use crate::error::UiError;
use crate::state::AppState;
use std::sync::Arc;
use tauri::State;
use uuid::Uuid;

pub mod account;
pub mod cleaning;
pub mod complaints;
pub mod passport;
pub mod people;
pub mod report;
pub mod routine;
pub mod session;
pub mod setup;
pub mod sign_in;
pub mod signing;
pub mod staff;
pub mod status;

type Result<T> = std::result::Result<T, UiError>;
type App<'a> = State<'a, Arc<AppState>>;

fn uuid(text: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(text.trim())
        .map_err(|_| UiError::new("invalid_id", format!("mã {what} không hợp lệ: {text}")))
}

/// Saves a printed page in the export folder (replacing a file of that name whole).
fn save_export(app: &App<'_>, name: &str, pdf: &[u8]) -> Result<crate::views::PrintedFile> {
    let dir = &app.config.export_dir;
    let io = |source| station::StationError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(name);
    station::files::replace(&path, pdf)?;
    Ok(crate::views::PrintedFile {
        path: path.display().to_string(),
        bytes: pdf.len() as u64,
    })
}

/// The client to the server as the signed-in user (online sessions only).
async fn as_user(app: &App<'_>) -> Result<Arc<station::SyncClient>> {
    let station = app.station().await?;
    let client = app.require_client()?;
    station::staff::as_user(station.session().as_ref(), &client)?;
    Ok(client)
}
