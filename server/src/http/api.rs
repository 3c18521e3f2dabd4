//! The HTTP API: device authentication and the sync endpoints (`sync_protocol::wire`).

use crate::admin::token_hash;
use crate::db::Db;
use crate::http::auth_api::DataUser;
use crate::ingest::{DeviceCtx, Ingest, IngestError, Pusher};
use crate::scope::Facilities;
use crate::with_db;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sync_protocol::PersonDoc;
use sync_protocol::endpoints;
use sync_protocol::person::{format_time, now};
use sync_protocol::wire::{
    self, BootstrapRequest, BootstrapResponse, DocumentRequest, DocumentResponse, ErrorBody,
    ErrorDetail, PullRequest, PullResponse, PulledItem, PushRequest, PushResponse, ServerInfo,
    Snapshot, WireError,
};
use uuid::Uuid;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub ingest: Ingest,
    pub server_id: String,
    /// The roots facility signatures must chain to.
    pub trust: crate::certificates::TrustStore,
    /// How often one address may try to sign in.
    pub sign_in_limit: crate::http::throttle::SignInLimit,
    /// Reverse proxies in front of the server, whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::http::throttle::TrustedProxies,
    last_seen: Arc<Mutex<HashMap<String, Instant>>>,
}

impl AppState {
    /// State over an open database with its ingest writer.
    pub fn new(db: Db, ingest: Ingest, server_id: String) -> AppState {
        AppState {
            db,
            ingest,
            server_id,
            trust: crate::certificates::TrustStore::default(),
            sign_in_limit: crate::http::throttle::SignInLimit::default(),
            trusted_proxies: crate::http::throttle::TrustedProxies::default(),
            last_seen: Arc::default(),
        }
    }
}

/// The router of the whole API.
pub fn router(state: AppState) -> Router {
    // The routes anyone may call without a session, each an argon2 hash: limited per address.
    let sign_in = crate::http::throttle::limit_per_address(
        Router::new()
            .route(
                &endpoints::full(endpoints::LOGIN),
                post(crate::http::auth_api::login),
            )
            .route(
                &endpoints::full(endpoints::ENROLL),
                post(crate::http::auth_api::enroll),
            )
            .route(
                &endpoints::full(endpoints::CHANGE_PASSWORD),
                post(crate::http::auth_api::change_password),
            ),
        state.sign_in_limit,
    );
    Router::new()
        .merge(sign_in)
        .route("/healthz", get(|| async { "ok" }))
        .route(&endpoints::full(endpoints::INFO), get(info))
        .route(&endpoints::full(endpoints::PUSH), post(push))
        .route(&endpoints::full(endpoints::PULL), post(pull))
        .route(&endpoints::full(endpoints::BOOTSTRAP), post(bootstrap))
        .route(&endpoints::full(endpoints::DOCUMENT), post(document))
        .route(
            &endpoints::full(endpoints::SIGNING_BATCH),
            post(signing_batch),
        )
        .route(
            &endpoints::full(endpoints::LOGOUT),
            post(crate::http::auth_api::logout),
        )
        .route(
            &endpoints::full(endpoints::STEP_UP),
            post(crate::http::auth_api::step_up),
        )
        .route(
            &endpoints::full(endpoints::CERTIFICATES),
            post(crate::http::auth_api::register_certificate),
        )
        .route(
            &endpoints::full(endpoints::ME),
            get(crate::http::auth_api::me),
        )
        .route(
            &endpoints::full(endpoints::ACCOUNT_STATUS),
            post(crate::http::auth_api::account_status),
        )
        .route(
            &endpoints::full(endpoints::ACCOUNTS),
            get(crate::http::auth_api::list_accounts).post(crate::http::auth_api::create_account),
        )
        .route(
            &endpoints::full(endpoints::REVOKE_ACCOUNT),
            post(crate::http::auth_api::revoke_account),
        )
        .route(
            &endpoints::full(endpoints::RESET_PASSWORD),
            post(crate::http::auth_api::reset_password),
        )
        .route(
            &endpoints::full(endpoints::RESET_AUTHENTICATOR),
            post(crate::http::auth_api::reset_authenticator),
        )
        .route(
            &endpoints::full(endpoints::LOGIN_EVENTS),
            get(crate::http::auth_api::login_events),
        )
        .route(
            &endpoints::full(endpoints::STAFF_SIGN_INS),
            get(crate::http::auth_api::staff_sign_ins),
        )
        .route(
            &endpoints::full(endpoints::OWN_SIGN_INS),
            get(crate::http::auth_api::own_sign_ins),
        )
        .route(
            &endpoints::full(endpoints::AUDIT_PUSH),
            post(crate::http::auth_api::audit_push),
        )
        .route(
            &endpoints::full(endpoints::AUDIT_TAIL),
            post(crate::http::auth_api::audit_tail_of_device),
        )
        .layer(DefaultBodyLimit::max(wire::MAX_BODY_BYTES))
        // Outermost: the client's address is settled before the limits and handlers read it.
        .layer(axum::middleware::from_fn_with_state(
            state.trusted_proxies.clone(),
            crate::http::throttle::client_behind_proxy,
        ))
        .with_state(state)
}

/// An error answer: a status and a JSON body any client version can read.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<String>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// The same error naming exactly what failed.
    pub(crate) fn with_details(mut self, details: Vec<String>) -> ApiError {
        self.details = details;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                details: self.details,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!("database: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database",
            "máy chủ tạm thời không truy cập được cơ sở dữ liệu; thiết bị sẽ thử lại",
        )
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        tracing::error!("ingest: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ingest",
            format!("{e}; thiết bị sẽ thử lại"),
        )
    }
}

/// Decodes a wire message body, with the errors any client version can read.
pub(crate) fn wire_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    wire::decode(body).map_err(|e| match e {
        WireError::UnsupportedVersion { found, min, .. } if found < min => ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "protocol_too_old",
            format!(
                "phần mềm Sổ Tiêm trên máy này dùng giao thức đồng bộ {found}, máy chủ cần từ {min} trở lên: hãy cập nhật phần mềm rồi đồng bộ lại (dữ liệu trên máy vẫn còn nguyên)"
            ),
        ),
        WireError::UnsupportedVersion { found, max, .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "protocol_too_new",
            format!("máy chủ chỉ hiểu giao thức đồng bộ đến {max}, thiết bị gửi {found}: máy chủ cần được cập nhật"),
        ),
        WireError::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
        other => ApiError::new(StatusCode::BAD_REQUEST, "bad_message", other.to_string()),
    })
}

pub(crate) fn encoded<T: serde::Serialize>(message: &T) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(wire::CONTENT_TYPE),
        )],
        wire::encode(message),
    )
        .into_response()
}

/// A device that presented a valid, unrevoked token.
pub struct AuthedDevice(pub DeviceCtx);

impl FromRequestParts<AppState> for AuthedDevice {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "thiếu mã thiết bị: thiết bị phải được đăng ký với máy chủ trước khi đồng bộ",
            )
        })?;
        authenticate(state, token).await
    }
}

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 200)
}

pub(crate) async fn authenticate(state: &AppState, token: &str) -> Result<AuthedDevice, ApiError> {
    let hash = token_hash(token);
    let row = with_db!(&state.db, pool => {
        sqlx::query("SELECT id, facility, revoked_at FROM devices WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(pool)
            .await?
            .map(|r| (r.get::<String, _>("id"), r.get::<String, _>("facility"), r.get::<Option<String>, _>("revoked_at")))
    });
    let Some((id, facility, revoked)) = row else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "mã thiết bị không đúng: kiểm tra lại mã do quản trị viên cấp",
        ));
    };
    if revoked.is_some() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "device_revoked",
            "thiết bị này đã bị thu hồi quyền đồng bộ: liên hệ quản trị viên tuyến huyện/tỉnh",
        ));
    }
    touch(state, &id).await;
    Ok(AuthedDevice(DeviceCtx { id, facility }))
}

/// Records when a device was last seen, at most once a minute per device.
async fn touch(state: &AppState, device: &str) {
    let due = match state.last_seen.lock() {
        Ok(mut seen) => {
            let due = seen
                .get(device)
                .is_none_or(|t| t.elapsed() > Duration::from_secs(60));
            if due {
                seen.insert(device.to_string(), Instant::now());
            }
            due
        }
        Err(_) => false,
    };
    if due {
        let at = format_time(now());
        let _ = with_db!(&state.db, pool => {
            sqlx::query("UPDATE devices SET last_seen_at = $1 WHERE id = $2").bind(at).bind(device).execute(pool).await.map(|_| ())
        });
    }
}

async fn info(State(state): State<AppState>, parts: Parts) -> Result<Json<ServerInfo>, ApiError> {
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

async fn signing_batch(
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

async fn push(
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

/// The facility whose scope a device replicates (its parent for a mobile team).
pub(crate) async fn scope_owner(state: &AppState, device: &DeviceCtx) -> Result<String, ApiError> {
    let all = crate::admin::facilities(&state.db).await?;
    Ok(Facilities::new(all).owner(&device.facility))
}

async fn pull(
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
    let rows: Vec<(i64, String, bool, Vec<u8>)> = with_db!(&state.db, pool => {
        sqlx::query(
            "SELECT f.seq, f.person_id, f.snapshot, c.bytes
             FROM feed f JOIN changes c ON c.seq = f.seq
             WHERE f.facility = $1 AND f.seq > $2 AND f.seq <= $3 AND c.device_id <> $4
             ORDER BY f.seq LIMIT $5",
        )
        .bind(&owner)
        .bind(cursor)
        .bind(i64::try_from(upto).unwrap_or(i64::MAX))
        .bind(&device.id)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| (r.get("seq"), r.get("person_id"), r.get("snapshot"), r.get("bytes")))
        .collect()
    });
    let full_page = rows.len() as i64 == limit;
    let mut items = Vec::new();
    let mut size = 0usize;
    let mut next_cursor = request.cursor;
    let mut cut = false;
    for (seq, person, snapshot, bytes) in rows {
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
    let bytes: Option<Vec<u8>> = with_db!(db, pool => {
        sqlx::query_scalar("SELECT doc FROM documents WHERE person_id = $1").bind(person).fetch_optional(pool).await?
    });
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

async fn bootstrap(
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
    let rows: Vec<(String, Vec<u8>)> = with_db!(&state.db, pool => {
        sqlx::query(
            "SELECT s.person_id, d.doc FROM person_scope s JOIN documents d ON d.person_id = s.person_id
             WHERE s.facility = $1 AND s.person_id > $2 ORDER BY s.person_id LIMIT $3",
        )
        .bind(&owner)
        .bind(&after)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| (r.get("person_id"), r.get("doc")))
        .collect()
    });
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

async fn document(
    State(state): State<AppState>,
    data: DataUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let device = data.device;
    let request: DocumentRequest = wire_body(&body)?;
    let owner = scope_owner(&state, &device).await?;
    let person = request.person_id.to_string();
    let in_scope: Option<i64> = with_db!(&state.db, pool => {
        sqlx::query_scalar("SELECT since_seq FROM person_scope WHERE facility = $1 AND person_id = $2")
            .bind(&owner)
            .bind(&person)
            .fetch_optional(pool)
            .await?
    });
    let doc = match in_scope {
        Some(_) => load_doc(&state.db, &person).await?,
        None => None,
    };
    Ok(encoded(&DocumentResponse { doc }))
}
