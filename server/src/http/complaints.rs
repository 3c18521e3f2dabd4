//! Complaints over HTTP: the public pages (`/phan-anh`: the form with its proof of work and
//! photos, the look-up by code and phone), limited per address; and the endpoints a facility's
//! stations use (`/api/v1/complaints/…`: what changed, a photo, answer, forward), for a signed-in
//! user of the facility on its registered device.

use super::codec::JsonBody;
use super::complaint_pages as pages;
use super::error::*;
use super::extract::*;
use super::state::*;
use super::throttle;
use crate::complaints::ComplaintError;
use crate::complaints::photos::{self, MAX_PHOTO_BYTES, MAX_PHOTOS, PhotoError};
use crate::complaints::pow::{self, PowError};
use crate::scope::Facilities;
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::Markup;
use serde::Deserialize;
use sync_protocol::complaints::{
    ComplaintAnswer, ComplaintForm, ComplaintForward, ComplaintPage, ComplaintRecord,
    FacilityChoice, FormProblem,
};
use sync_protocol::endpoints;

/// The most bytes a complaint's form may carry: three photos and the text.
const MAX_FORM_BYTES: usize = MAX_PHOTOS * MAX_PHOTO_BYTES + 256 * 1024;
/// A text field of the form is cut here before any check (the checks name the real limits).
const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Complaints one page of changes carries.
const PAGE: i64 = 500;

/// The public pages, limited per address, and the stations' endpoints.
pub fn routes(state: &AppState) -> Router<AppState> {
    let limited = throttle::limit_per_address_with(
        Router::new()
            .route("/phan-anh", post(submit))
            .route("/phan-anh/tra-cuu", post(lookup)),
        state.complaint_limit,
        too_many,
    );
    Router::new()
        .merge(limited)
        .route("/phan-anh", get(form_page))
        .route("/phan-anh/", get(form_page))
        .route("/phan-anh/tra-cuu", get(lookup_page))
        .route("/phan-anh/style.css", get(style))
        .route("/phan-anh/pow.js", get(script))
        .route("/phan-anh/pow-worker.js", get(worker_script))
        .layer(axum::middleware::from_fn(public_headers))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .route(
            &endpoints::full(endpoints::COMPLAINTS_CHANGED),
            get(changes),
        )
        .route(&endpoints::full(endpoints::COMPLAINT_PHOTO), get(photo))
        .route(&endpoints::full(endpoints::COMPLAINT_ANSWER), post(answer))
        .route(
            &endpoints::full(endpoints::COMPLAINT_FORWARD),
            post(forward),
        )
        .route(
            &endpoints::full(endpoints::COMPLAINT_DESTINATIONS),
            get(destinations),
        )
}

/// No framing, no caching of personal data, scripts only from here.
async fn public_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    super::page_headers::set(
        response.headers_mut(),
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    response
}

/// The page a citizen sees when their address sent too much.
fn too_many(wait: u64) -> Response {
    pages::refused(&format!(
        "Bạn đã gửi quá nhiều lần từ địa chỉ mạng này: thử lại sau {wait} giây."
    ))
    .into_response()
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pages::STYLE,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        pages::POW_SCRIPT,
    )
        .into_response()
}

async fn worker_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        pages::POW_WORKER,
    )
        .into_response()
}

/// The form, filled with `values` and its `problems`, under a fresh challenge.
async fn render_form(
    state: &AppState,
    values: &ComplaintForm,
    problems: &[FormProblem],
    general: Option<&str>,
) -> Result<Markup, sqlx::Error> {
    let facilities = crate::admin::facilities(&state.db).await?;
    let challenge = state.pow.issue(state.clock.now().unix_timestamp());
    Ok(pages::form(
        &facilities,
        values,
        problems,
        &challenge,
        state.pow.difficulty,
        general,
    ))
}

fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!("complaint page: {e}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        pages::refused("máy chủ đang bận hoặc gặp lỗi: thử lại sau ít phút"),
    )
        .into_response()
}

async fn form_page(State(state): State<AppState>) -> Response {
    match render_form(&state, &ComplaintForm::default(), &[], None).await {
        Ok(page) => page.into_response(),
        Err(e) => server_error(e),
    }
}

/// What the multipart body held.
#[derive(Default)]
struct Submitted {
    form: ComplaintForm,
    challenge: String,
    solution: String,
    photos: Vec<Vec<u8>>,
    /// A problem with the upload itself (a photo too large, too many photos).
    photo_problem: Option<String>,
}

/// How long a form waits for a free photo slot before it is told to come back.
const PHOTO_SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long the citizen is asked to wait then (the `Retry-After`).
const PHOTO_RETRY_SECS: u16 = 10;

/// Reads the form's parts; `Err` with the citizen's message when the body itself is unusable.
async fn read_parts(mut multipart: Multipart) -> Result<Submitted, String> {
    let mut s = Submitted::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err("biểu mẫu quá lớn: tối đa 3 ảnh, mỗi ảnh tối đa 5 MB".into());
            }
            Err(_) => return Err("biểu mẫu gửi lên bị hỏng: tải lại trang và gửi lại".into()),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "photos" {
            let has_file = field.file_name().is_some_and(|n| !n.is_empty());
            let bytes = field.bytes().await.map_err(|_| {
                "ảnh gửi lên bị hỏng hoặc quá lớn (tối đa 5 MB mỗi ảnh)".to_string()
            })?;
            if !has_file && bytes.is_empty() {
                continue;
            }
            if s.photos.len() >= MAX_PHOTOS {
                s.photo_problem = Some(PhotoError::TooMany.to_string());
                continue;
            }
            if bytes.len() > MAX_PHOTO_BYTES {
                s.photo_problem = Some(PhotoError::TooLarge.to_string());
                continue;
            }
            s.photos.push(bytes.to_vec());
            continue;
        }
        let bytes = field
            .bytes()
            .await
            .map_err(|_| "biểu mẫu gửi lên bị hỏng: tải lại trang và gửi lại".to_string())?;
        let mut text =
            String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_FIELD_BYTES)]).into_owned();
        if bytes.len() > MAX_FIELD_BYTES {
            // Kept long enough for the check to say it is too long.
            text.push('…');
        }
        let f = &mut s.form;
        match name.as_str() {
            "full_name" => f.full_name = text,
            "birth_date" => f.birth_date = text,
            "phone" => f.phone = text,
            "id_number" => f.id_number = text,
            "facility" => f.facility = text,
            "kind" => f.kind = text,
            "vaccine" => f.vaccine = text,
            "vaccinated_on" => f.vaccinated_on = text,
            "place" => f.place = text,
            "description" => f.description = text,
            "pow_challenge" => s.challenge = text,
            "pow_solution" => s.solution = text,
            _ => {}
        }
    }
    Ok(s)
}

/// Spends a checked challenge; `Spent` when it was used before.
async fn spend(state: &AppState, challenge: &str, expiry: i64) -> Result<(), ComplaintPowError> {
    let now = state.clock.now().unix_timestamp();
    if pow::spend(&state.db, challenge, expiry, now).await? {
        Ok(())
    } else {
        Err(ComplaintPowError::Pow(PowError::Spent))
    }
}

enum ComplaintPowError {
    Pow(PowError),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for ComplaintPowError {
    fn from(e: sqlx::Error) -> Self {
        ComplaintPowError::Db(e)
    }
}

/// `POST /phan-anh`: checks the work, the form and the photos, and files the complaint whole,
/// or shows the form again with every problem and stores nothing.
async fn submit(State(state): State<AppState>, parts: Parts, multipart: Multipart) -> Response {
    let address = throttle::peer_address(&parts.extensions).map(|ip| ip.to_string());
    let mut submitted = match read_parts(multipart).await {
        Ok(s) => s,
        Err(message) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, pages::refused(&message)).into_response();
        }
    };
    let values = submitted.form.clone();
    let again = |problems: Vec<FormProblem>, general: Option<String>, status: StatusCode| {
        let state = state.clone();
        let values = values.clone();
        async move {
            match render_form(&state, &values, &problems, general.as_deref()).await {
                Ok(page) => (status, page).into_response(),
                Err(e) => server_error(e),
            }
        }
    };
    let now = state.clock.now();
    let checked_work = state.pow.check(
        &submitted.challenge,
        &submitted.solution,
        now.unix_timestamp(),
    );
    let spent = match checked_work {
        Ok(expiry) => spend(&state, &submitted.challenge, expiry).await,
        Err(e) => Err(ComplaintPowError::Pow(e)),
    };
    match spent {
        Ok(()) => {}
        Err(ComplaintPowError::Pow(e)) => {
            return again(Vec::new(), Some(e.to_string()), StatusCode::FORBIDDEN).await;
        }
        Err(ComplaintPowError::Db(e)) => return server_error(e),
    }
    let facilities = match Facilities::load(&state.db).await {
        Ok(f) => f,
        Err(e) => return server_error(e),
    };
    let today = now.to_offset(sync_protocol::clock::VIETNAM).date();
    let catalogue = sync_protocol::vaccines::Catalogue::built_in();
    let checked = sync_protocol::complaints::check_form(
        &submitted.form,
        today,
        |code| facilities.contains(code),
        &catalogue,
    );
    let mut problems = match &checked {
        Ok(_) => Vec::new(),
        Err(p) => p.clone(),
    };
    if let Some(m) = &submitted.photo_problem {
        problems.push(FormProblem {
            field: "photos",
            message: m.clone(),
        });
    }
    // Pictures are decoded only for a form that is right otherwise: decoding is what costs
    // memory and CPU, and an invalid form must not buy any of it.
    let checked = match checked {
        Ok(c) if problems.is_empty() => c,
        _ => return again(problems, None, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let raw = std::mem::take(&mut submitted.photos);
    let photos = if raw.is_empty() {
        Vec::new()
    } else {
        // A few at once server-wide, each in its own memory bound; the others are told to
        // come back in a moment.
        let slot =
            tokio::time::timeout(PHOTO_SLOT_WAIT, state.photo_slots.clone().acquire_owned()).await;
        let Ok(Ok(slot)) = slot else {
            let general = format!(
                "máy chủ đang xử lý nhiều ảnh cùng lúc: chờ khoảng {PHOTO_RETRY_SECS} giây rồi chọn lại ảnh và gửi lại"
            );
            let mut busy = again(Vec::new(), Some(general), StatusCode::SERVICE_UNAVAILABLE).await;
            busy.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(PHOTO_RETRY_SECS),
            );
            return busy;
        };
        // Decoding pictures is CPU work: off the async threads, holding the slot throughout
        // (even if the citizen's connection drops meanwhile).
        let encoded = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            raw.iter()
                .map(|p| photos::reencode(p))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
        match encoded {
            Ok(Ok(photos)) => photos,
            Ok(Err(e)) => {
                let problem = FormProblem {
                    field: "photos",
                    message: e.to_string(),
                };
                return again(vec![problem], None, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
            Err(e) => return server_error(e),
        }
    };
    match state
        .complaints
        .file(&checked, &photos, now, address.as_deref())
        .await
    {
        Ok(filed) => (StatusCode::CREATED, pages::filed(&filed)).into_response(),
        Err(e) => server_error(e),
    }
}

async fn lookup_page() -> Markup {
    pages::lookup("", "", None, false)
}

#[derive(Deserialize)]
struct LookupForm {
    code: String,
    phone: String,
}

/// `POST /phan-anh/tra-cuu`: the status and the answer for the right code and phone.
async fn lookup(
    State(state): State<AppState>,
    parts: Parts,
    Form(f): Form<LookupForm>,
) -> Response {
    let address = throttle::peer_address(&parts.extensions).map(|ip| ip.to_string());
    let code: String = f.code.chars().take(40).collect();
    let phone: String = f.phone.chars().take(40).collect();
    match state
        .complaints
        .lookup(&code, &phone, address.as_deref(), state.clock.now())
        .await
    {
        Ok(Some(status)) => pages::lookup(&code, &phone, Some(&status), false).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            pages::lookup(&code, &phone, None, true),
        )
            .into_response(),
        Err(e) => server_error(e),
    }
}

impl From<ComplaintError> for ApiError {
    fn from(e: ComplaintError) -> ApiError {
        let (status, code) = match &e {
            ComplaintError::NotFound => (StatusCode::NOT_FOUND, "no_such_complaint"),
            ComplaintError::OtherFacility(_) => (StatusCode::FORBIDDEN, "other_facility"),
            ComplaintError::AlreadyAnswered => (StatusCode::CONFLICT, "already_answered"),
            ComplaintError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ComplaintError::Db(_) => {
                tracing::error!("complaints: {e}");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "lỗi máy chủ khi đọc phản ánh",
                );
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// The facilities whose complaints a device handles: its facility's scope owner and the
/// owner's mobile teams.
async fn handled_by(state: &AppState, data: &DataUser) -> Result<Vec<String>, ApiError> {
    let facilities = Facilities::load(&state.db).await?;
    Ok(facilities.family(&facilities.owner(&data.device.facility)))
}

fn actor(data: &DataUser) -> String {
    format!("{} @{}", data.user.account.username, data.device.id)
}

#[derive(Deserialize)]
struct Since {
    since: Option<i64>,
}

/// `GET /api/v1/complaints/changes?since=N`
async fn changes(
    State(state): State<AppState>,
    data: DataUser,
    Query(q): Query<Since>,
) -> Result<Json<ComplaintPage>, ApiError> {
    let facilities = handled_by(&state, &data).await?;
    let (complaints, more) = state
        .complaints
        .changed_since(&facilities, q.since.unwrap_or(0).max(0), PAGE)
        .await?;
    state
        .complaints
        .record_sent(&complaints, &actor(&data), state.clock.now())
        .await?;
    Ok(Json(ComplaintPage { complaints, more }))
}

/// `GET /api/v1/complaints/{id}/photos/{n}`: one photo, fetched when the complaint is opened.
async fn photo(
    State(state): State<AppState>,
    data: DataUser,
    Path((id, n)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let facilities = handled_by(&state, &data).await?;
    let jpeg = state
        .complaints
        .photo(&id, n, &facilities, &actor(&data), state.clock.now())
        .await?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response())
}

/// `POST /api/v1/complaints/{id}/answer`
async fn answer(
    State(state): State<AppState>,
    data: DataUser,
    Path(id): Path<String>,
    JsonBody(a): JsonBody<ComplaintAnswer>,
) -> Result<Json<ComplaintRecord>, ApiError> {
    let facilities = handled_by(&state, &data).await?;
    Ok(Json(
        state
            .complaints
            .answer(&id, &facilities, &actor(&data), &a, state.clock.now())
            .await?,
    ))
}

/// `POST /api/v1/complaints/{id}/forward`
async fn forward(
    State(state): State<AppState>,
    data: DataUser,
    Path(id): Path<String>,
    JsonBody(f): JsonBody<ComplaintForward>,
) -> Result<Json<ComplaintRecord>, ApiError> {
    let facilities = handled_by(&state, &data).await?;
    Ok(Json(
        state
            .complaints
            .forward(&id, &facilities, &actor(&data), &f, state.clock.now())
            .await?,
    ))
}

/// `GET /api/v1/complaints/destinations`: where a complaint can be forwarded (every facility but
/// the device's own and its mobile teams), ordered as the forwarding form lists them.
async fn destinations(
    State(state): State<AppState>,
    data: DataUser,
) -> Result<Json<Vec<FacilityChoice>>, ApiError> {
    let own = handled_by(&state, &data).await?;
    let mut all: Vec<FacilityChoice> = crate::admin::facilities(&state.db)
        .await?
        .into_iter()
        .filter(|f| !own.contains(&f.code))
        .map(|f| FacilityChoice {
            code: f.code,
            name: f.name,
            province: f.province,
            commune: f.commune,
        })
        .collect();
    all.sort_by(|a, b| (&a.province, &a.commune, &a.name).cmp(&(&b.province, &b.commune, &b.name)));
    Ok(Json(all))
}
