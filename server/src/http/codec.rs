//! The wire format of sync requests and answers (`sync_protocol::wire`).

use super::error::*;
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
