//! The Cleaning screens: the data-cleaning lists and their export, the corrected list imported,
//! duplicates merged.

use super::{App, Result, uuid};
use crate::error::UiError;
use crate::state::AppState;
use crate::views::{
    ExportListRequest, ImportApplyRequest, ImportFileRequest, ImportPreviewView, MergeRequest,
};
use station::{DuplicatePair, ExportSummary, ImportSummary, ListPage, ListQuery, PersonRecord};

/// Most rows one page of a list may ask for (the whole list goes to Excel instead).
const MAX_LIST_PAGE_ROWS: usize = 1_000;

/// One page of `limit` rows of a data-cleaning list, from row `offset` (from 0), and its total.
#[tauri::command]
pub async fn data_list(
    app: App<'_>,
    query: ListQuery,
    offset: usize,
    limit: usize,
    otp: Option<String>,
) -> Result<ListPage> {
    let station = app.station().await?;
    // Paging past the first rows needs a fresh code (the station's rule); given, it unlocks.
    if let Some(otp) = otp.filter(|o| !o.trim().is_empty()) {
        station.unlock_lists(&otp).await?;
    }
    Ok(station
        .data_list(&query, offset, limit.clamp(1, MAX_LIST_PAGE_ROWS))
        .await?)
}

/// Exports a list to .xlsx in the export folder (fresh code; audited) and says where.
#[tauri::command]
pub async fn export_list(app: App<'_>, request: ExportListRequest) -> Result<ExportSummary> {
    let station = app.station().await?;
    let dir = &app.config.export_dir;
    std::fs::create_dir_all(dir).map_err(|source| station::StationError::Io {
        path: dir.clone(),
        source,
    })?;
    let stamp = time::OffsetDateTime::now_utc()
        .to_offset(sync_protocol::VIETNAM)
        .format(time::macros::format_description!(
            "[day]-[month]-[year]-[hour][minute][second]"
        ))
        .unwrap_or_default();
    let path = dir.join(format!("{}-{}.xlsx", request.query.list.title(), stamp));
    Ok(station
        .export_list(&request.query, &path, &request.otp)
        .await?)
}

/// The kept upload of `upload_id`, or a clear error.
fn kept_upload(app: &AppState, upload_id: &str) -> Result<crate::state::Upload> {
    app.upload(upload_id).ok_or_else(|| {
        UiError::new(
            "upload_missing",
            "không còn tệp đã chọn: chọn lại tệp rồi xem trước",
        )
    })
}

/// Keeps a chosen spreadsheet and shows what importing it would change.
#[tauri::command]
pub async fn import_preview(app: App<'_>, request: ImportFileRequest) -> Result<ImportPreviewView> {
    const MAX_BYTES: usize = 50 * 1024 * 1024;
    let station = app.station().await?;
    let ext = std::path::Path::new(&request.name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let ext = match ext.as_deref() {
        Some(e @ ("xlsx" | "csv")) => e.to_string(),
        _ => {
            return Err(UiError::new(
                "import_type",
                "chỉ nhập được tệp Excel (.xlsx) hoặc CSV (.csv); tệp .xls cũ hãy mở bằng Excel rồi lưu thành .xlsx",
            ));
        }
    };
    if request.content.len() > MAX_BYTES {
        return Err(UiError::new(
            "import_too_large",
            "tệp lớn hơn 50 MB: chia danh sách thành nhiều tệp",
        ));
    }
    // The name as chosen (errors name it); only its extension, checked above, decides the kind.
    let name = std::path::Path::new(&request.name).file_name().map_or_else(
        || format!("tep.{ext}"),
        |n| n.to_string_lossy().into_owned(),
    );
    let preview = station
        .import_preview_of(std::path::Path::new(&name), &request.content)
        .await?;
    // Kept in memory for the apply, never written to disk.
    let upload_id = app.keep_upload(name, request.content);
    Ok(ImportPreviewView { upload_id, preview })
}

/// Applies a previewed import (fresh code), then forgets the file.
#[tauri::command]
pub async fn import_apply(app: App<'_>, request: ImportApplyRequest) -> Result<ImportSummary> {
    let station = app.station().await?;
    let upload = kept_upload(&app, &request.upload_id)?;
    let client = app.client();
    let summary = station
        .import_apply_of(
            std::path::Path::new(&upload.name),
            &upload.bytes,
            request.expected_changes as usize,
            station::StepUp {
                otp: &request.otp,
                server: client.as_deref(),
            },
        )
        .await?;
    app.forget_upload(&request.upload_id);
    Ok(summary)
}

/// Pairs of records that may be the same person, with the rule that paired them.
#[tauri::command]
pub async fn duplicate_candidates(app: App<'_>) -> Result<Vec<DuplicatePair>> {
    Ok(app.station().await?.duplicate_candidates().await?)
}

/// Merges a reviewed pair and returns the record kept.
#[tauri::command]
pub async fn merge_people(app: App<'_>, request: MergeRequest) -> Result<PersonRecord> {
    let station = app.station().await?;
    let keep = uuid(&request.keep, "hồ sơ giữ lại")?;
    let other = uuid(&request.other, "hồ sơ gộp")?;
    station.merge_people(keep, other).await?;
    Ok(station.show(keep).await?)
}
