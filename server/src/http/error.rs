//! Errors as answers: a status and a JSON body any client version can read, and the mapping
//! of each domain error (database, ingest, accounts) to one.

use crate::accounts::AuthError;
use crate::ingest::IngestError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sync_protocol::wire::{ErrorBody, ErrorDetail};

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

/// The status an account error answers with (the API's and the console's pages alike).
pub(super) fn auth_status(e: &AuthError) -> StatusCode {
    match e {
        AuthError::InvalidCredentials | AuthError::SessionInvalid | AuthError::ChallengeExpired => {
            StatusCode::UNAUTHORIZED
        }
        AuthError::Otp(_) => StatusCode::UNAUTHORIZED,
        AuthError::Locked { .. } => StatusCode::LOCKED,
        AuthError::Revoked
        | AuthError::Forbidden { .. }
        | AuthError::DeviceOfOtherFacility { .. }
        | AuthError::EnrolOnFacilityDevice { .. } => StatusCode::FORBIDDEN,
        AuthError::WeakPassword(_) | AuthError::SamePassword | AuthError::Invalid(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        AuthError::Exists(_) => StatusCode::CONFLICT,
        AuthError::NoSuchAccount(_) | AuthError::NoSuchFacility(_) | AuthError::NoSuchReset(_) => {
            StatusCode::NOT_FOUND
        }
        AuthError::SecondPerson { .. } => StatusCode::FORBIDDEN,
        AuthError::ResetClosed(_) => StatusCode::CONFLICT,
        AuthError::Db(_) | AuthError::Hash => StatusCode::SERVICE_UNAVAILABLE,
        AuthError::UnknownRole { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        AuthError::GrantSize { .. } | AuthError::OfficerFacility(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = auth_status(&e);
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::INTERNAL_SERVER_ERROR
        {
            tracing::error!("auth: {e}");
        }
        let details = match &e {
            AuthError::WeakPassword(w) => w.0.iter().map(|r| r.as_str().to_string()).collect(),
            _ => Vec::new(),
        };
        ApiError::new(status, e.code(), e.to_string()).with_details(details)
    }
}
