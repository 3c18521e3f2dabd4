//! The wire format of sync requests and answers (`sync_protocol::wire`), and the JSON bodies of
//! the sign-in and account endpoints: whatever cannot be read answers like every other error.

use super::error::*;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use sync_protocol::wire::{self, WireError};

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

/// A JSON request body: one that cannot be read is refused with a status, a stable code and a
/// Vietnamese message in the API's error body (not the framework's plain text).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_refusal(&rejection)),
        }
    }
}

/// Why a JSON body was not read, as an answer.
fn json_refusal(rejection: &JsonRejection) -> ApiError {
    let (code, message) = match rejection {
        JsonRejection::MissingJsonContentType(_) => (
            "not_json",
            "yêu cầu phải gửi dạng JSON (Content-Type: application/json)".to_string(),
        ),
        JsonRejection::JsonSyntaxError(_) => (
            "bad_json",
            format!("nội dung JSON không đọc được ({})", rejection.body_text()),
        ),
        JsonRejection::JsonDataError(_) => (
            "bad_fields",
            format!(
                "thiếu trường hoặc trường sai kiểu ({})",
                rejection.body_text()
            ),
        ),
        _ => (
            "bad_request",
            format!("yêu cầu không đọc được ({})", rejection.body_text()),
        ),
    };
    ApiError::new(rejection.status(), code, message)
}
