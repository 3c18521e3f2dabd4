//! Passports for stations: the signed trust list any registered device may fetch, and the
//! certificates of the people its facility sees, for a signed-in user only (they name people).

use super::error::*;
use super::extract::*;
use super::state::*;
use crate::passports::{self, PassportError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sync_protocol::wire::{PassportCursor, PassportPage};

/// Passports one page carries at most.
const PAGE: i64 = 2_000;

/// `GET /api/v1/passports/trust-list`: the newest signed trust list (COSE bytes).
pub async fn trust_list(
    State(state): State<AppState>,
    AuthedDevice(_device): AuthedDevice,
) -> Result<Response, ApiError> {
    match passports::trust_list(&state.db).await {
        Ok(bytes) => Ok((
            [(
                header::CONTENT_TYPE,
                "application/cose; cose-type=\"cose-sign1\"",
            )],
            bytes,
        )
            .into_response()),
        Err(PassportError::NoTrustList) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_trust_list",
            PassportError::NoTrustList.to_string(),
        )),
        Err(e) => Err(internal(e)),
    }
}

/// `GET /api/v1/passports/changes?since=N&after=UVCI`: the passports of the device facility's
/// people that finished runs issued or revoked after the cursor (run `N`, then UVCI order).
pub async fn changes(
    State(state): State<AppState>,
    data: DataUser,
    Query(cursor): Query<PassportCursor>,
) -> Result<Json<PassportPage>, ApiError> {
    let mut passports =
        passports::changed_since(&state.db, &data.device.facility, &cursor, PAGE + 1).await?;
    let more = passports.len() as i64 > PAGE;
    passports.truncate(PAGE as usize);
    let next = passports.last().map_or(cursor, |p| PassportCursor {
        since: p.version,
        after: p.uvci.clone(),
    });
    Ok(Json(PassportPage {
        passports,
        next,
        more,
    }))
}

/// `GET /api/v1/passports/person/{id}`: one person's passports, if the facility sees them.
pub async fn of_person(
    State(state): State<AppState>,
    data: DataUser,
    Path(person_id): Path<String>,
) -> Result<Json<Vec<sync_protocol::wire::PassportRecord>>, ApiError> {
    if !crate::scope::holds_person(&state.db, &data.device.facility, &person_id).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "person_not_found",
            "không có người này trong phạm vi của cơ sở",
        ));
    }
    Ok(Json(passports::of_person(&state.db, &person_id).await?))
}

fn internal(e: PassportError) -> ApiError {
    tracing::error!("passports: {e}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "lỗi máy chủ khi đọc hộ chiếu vắc xin",
    )
}
