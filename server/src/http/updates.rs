//! The app's updater endpoints: which release a station should install, and its package. Both
//! need the device's token: only registered laptops are served.

use super::error::*;
use super::extract::*;
use super::state::*;
use crate::releases;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sync_protocol::endpoints;

/// `GET /api/v1/updates/{target}/{arch}/{current_version}`: the newest release for the
/// platform if newer than the station's, in the updater's dynamic format; 204 when none.
pub async fn check(
    State(state): State<AppState>,
    AuthedDevice(_device): AuthedDevice,
    Path((target, arch, current)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let platform = format!("{target}-{arch}");
    let Some(release) = releases::update_for(&state.db, &platform, &current).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let url = format!(
        "{}{}",
        public_base(&state, &headers),
        endpoints::full(&endpoints::UPDATE_PACKAGE.replace("{id}", &release.id))
    );
    Ok(Json(serde_json::json!({
        "version": release.version,
        "notes": release.notes,
        "pub_date": release.published_at,
        "url": url,
        "signature": release.signature,
    }))
    .into_response())
}

/// `GET /api/v1/updates/package/{id}`: the package, streamed from the updates folder.
pub async fn package(
    State(state): State<AppState>,
    AuthedDevice(_device): AuthedDevice,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "release_not_found",
            "không có gói cập nhật này".to_string(),
        )
    };
    let release = releases::release(&state.db, &id)
        .await?
        .ok_or_else(not_found)?;
    let file = tokio::fs::File::open(releases::package_path(&state.updates_dir, &release))
        .await
        .map_err(|_| not_found())?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, release.size.to_string()),
        ],
        body,
    )
        .into_response())
}

/// Where stations reach this server: the configured public address, else the request's host.
fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let scheme = if state.https { "https" } else { "http" };
    format!("{scheme}://{host}")
}
