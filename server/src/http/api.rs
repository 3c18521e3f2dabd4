//! The sync endpoints (`sync_protocol::wire`): info, push, pull, bootstrap, a document, a
//! signing run.

use super::codec::*;
use super::error::*;
use super::extract::*;
use super::state::*;
use crate::db::Db;
use crate::feed::{self, FeedEntry};
use crate::ingest::Pusher;
use crate::scope::{self, Facilities};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use sync_protocol::PersonDoc;
use sync_protocol::person::{format_time, now};
use sync_protocol::wire::{
    self, BootstrapRequest, BootstrapResponse, DocumentRequest, DocumentResponse, PullRequest,
    PullResponse, PulledItem, PushRequest, PushResponse, ServerInfo, Snapshot,
};
use uuid::Uuid;

pub(super) async fn info(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<Json<ServerInfo>, ApiError> {
    let device = match bearer(&parts) {
        Some(token) => Some(authenticate(&state, token).await?.0),
        None => None,
    };
    let parent = match &device {
        Some(d) => Some(scope_owner(&state, d).await?).filter(|owner| owner != &d.facility),
        None => None,
    };
    let mobile_teams = match &device {
        Some(d) => crate::admin::facilities(&state.db)
            .await?
            .into_iter()
            .filter(|f| f.kind == "mobile_team" && f.parent.as_deref() == Some(d.facility.as_str()))
            .map(|f| f.code)
            .collect(),
        None => Vec::new(),
    };
    let area = match &device {
        Some(d) => Facilities::load(&state.db).await?.area_of(&d.facility),
        None => Vec::new(),
    };
    let facility_info = match &device {
        Some(d) => crate::admin::facility(&state.db, &d.facility)
            .await
            .ok()
            .flatten()
            .map(|f| wire::FacilityInfo {
                code: f.code,
                name: f.name,
                kind: f.kind,
                province: f.province,
                commune: f.commune,
            }),
        None => None,
    };
    Ok(Json(ServerInfo {
        facility_info,
        mobile_teams,
        area,
        server_id: state.server_id.clone(),
        protocol_min: wire::MIN_PROTOCOL_VERSION,
        protocol_max: wire::PROTOCOL_VERSION,
        facility: device.as_ref().map(|d| d.facility.clone()),
        facility_parent: parent,
        device_id: device.map(|d| d.id),
        server_time: format_time(now()),
    }))
}

pub(super) async fn signing_batch(
    State(state): State<AppState>,
    data: DataUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let upload: wire::SigningBatchUpload = wire_body(&body)?;
    let outcome = crate::signing::receive(
        &state.db,
        &state.trust,
        &data.user.account,
        &data.device,
        &upload,
    )
    .await?;
    Ok(encoded(&outcome))
}

pub(super) async fn push(
    State(state): State<AppState>,
    data: DataUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: PushRequest = wire_body(&body)?;
    if request.changes.len() > 5000 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_changes",
            "một lần gửi tối đa 5000 thay đổi",
        ));
    }
    // Every change is checked for the session's user, never for the author it names.
    let pusher = Pusher::User {
        device: data.device,
        account: Box::new(data.user.account),
    };
    let results = state.ingest.push(pusher, request.changes).await?;
    Ok(encoded(&PushResponse { results }))
}

pub(super) async fn pull(
    State(state): State<AppState>,
    data: DataUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let device = data.device;
    let request: PullRequest = wire_body(&body)?;
    let owner = scope_owner(&state, &device).await?;
    let max_bytes = request.max_bytes.clamp(16 * 1024, 4 * 1024 * 1024) as usize;
    let cursor = i64::try_from(request.cursor).unwrap_or(i64::MAX);
    // Everything up to the committed high-water mark is visible (one writer commits in order),
    // so a complete page can move the cursor that far even past rows it did not send.
    let upto = state.ingest.high_water();
    let limit: i64 = 2000;
    // A device's own changes, and snapshots its own changes caused, are not sent back to it:
    // it holds them already.
    let rows = feed::page(
        &state.db,
        &owner,
        cursor,
        i64::try_from(upto).unwrap_or(i64::MAX),
        &device.id,
        limit,
    )
    .await?;
    let full_page = rows.len() as i64 == limit;
    let mut items = Vec::new();
    let mut size = 0usize;
    let mut next_cursor = request.cursor;
    let mut cut = false;
    for FeedEntry {
        seq,
        person_id: person,
        snapshot,
        bytes,
    } in rows
    {
        if size >= max_bytes && !items.is_empty() {
            cut = true;
            break;
        }
        let seq = u64::try_from(seq).unwrap_or(0);
        next_cursor = seq;
        let Ok(person_id) = Uuid::parse_str(&person) else {
            continue;
        };
        let item = if snapshot {
            match load_doc(&state.db, &person).await? {
                Some(doc) => PulledItem::Snapshot {
                    seq,
                    person_id,
                    doc,
                },
                None => continue,
            }
        } else {
            PulledItem::Change {
                seq,
                person_id,
                bytes,
            }
        };
        size += match &item {
            PulledItem::Change { bytes, .. } => bytes.len(),
            PulledItem::Snapshot { doc, .. } => doc.len(),
        };
        items.push(item);
    }
    if !cut && !full_page {
        next_cursor = next_cursor.max(upto);
    }
    Ok(encoded(&PullResponse {
        items,
        next_cursor,
        more: cut || full_page,
    }))
}

/// A person's current document, saved without Automerge's compression (the page is compressed).
async fn load_doc(db: &Db, person: &str) -> Result<Option<Vec<u8>>, ApiError> {
    let bytes = feed::document(db, person).await?;
    Ok(bytes.and_then(|b| wire_document(person, &b)))
}

/// A stored document as it travels: Automerge's uncompressed save. One that cannot be read is
/// left out with an error in the log (ingest never stores such a document: it is damage).
fn wire_document(person: &str, stored: &[u8]) -> Option<Vec<u8>> {
    match PersonDoc::uncompressed(stored) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::error!(person, "stored document unreadable, not sent: {e}");
            None
        }
    }
}

pub(super) async fn bootstrap(
    State(state): State<AppState>,
    data: DataUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let device = data.device;
    let request: BootstrapRequest = wire_body(&body)?;
    let owner = scope_owner(&state, &device).await?;
    // Read the high-water mark before the documents: they then hold at least every change up to it.
    let high_water = request
        .high_water
        .unwrap_or_else(|| state.ingest.high_water());
    let max_bytes = request.max_bytes.clamp(64 * 1024, 8 * 1024 * 1024) as usize;
    let after = request.after.map(|u| u.to_string()).unwrap_or_default();
    let limit: i64 = 1000;
    let rows = feed::scope_documents(&state.db, &owner, &after, limit).await?;
    let full_page = rows.len() as i64 == limit;
    let mut docs = Vec::new();
    let mut size = 0;
    let mut cut = false;
    for (person, bytes) in rows {
        if size >= max_bytes && !docs.is_empty() {
            cut = true;
            break;
        }
        let (Ok(person_id), Some(doc)) = (Uuid::parse_str(&person), wire_document(&person, &bytes))
        else {
            continue;
        };
        size += doc.len();
        docs.push(Snapshot { person_id, doc });
    }
    let next_after = docs.last().map(|d| d.person_id);
    Ok(encoded(&BootstrapResponse {
        docs,
        high_water,
        next_after,
        more: cut || full_page,
    }))
}

pub(super) async fn document(
    State(state): State<AppState>,
    data: DataUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let device = data.device;
    let request: DocumentRequest = wire_body(&body)?;
    let owner = scope_owner(&state, &device).await?;
    let person = request.person_id.to_string();
    let in_scope = scope::person_since(&state.db, &owner, &person).await?;
    let doc = match in_scope {
        Some(_) => load_doc(&state.db, &person).await?,
        None => None,
    };
    Ok(encoded(&DocumentResponse { doc }))
}

/// `POST devices/report`: what waits on the device after its sync (counts only).
pub(super) async fn device_report(
    State(state): State<AppState>,
    AuthedDevice(device): AuthedDevice,
    JsonBody(report): JsonBody<wire::DeviceReport>,
) -> Result<StatusCode, ApiError> {
    crate::stations::record_report(&state.db, &device.id, &report, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
