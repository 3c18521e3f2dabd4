//! Errors as the UI receives them: a stable code, the station's Vietnamese message (what went
//! wrong and what to do), and the form fields it is about.

use serde::Serialize;
use station::{StationError, SyncError};
use sync_protocol::Problem;
use ts_rs::TS;

/// One wrong field of a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiFieldError {
    /// The field's machine name (`full_name`, `id_number`, …).
    pub field: String,
    pub message: String,
}

/// An error shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UiError {
    /// A stable machine name (`bad_credentials`, `network`, …).
    pub code: String,
    /// What went wrong and what to do next, in Vietnamese.
    pub message: String,
    pub fields: Vec<UiFieldError>,
    /// The person already registered with the same ID number, to open instead.
    pub existing_person: Option<String>,
    /// Whether trying again later may work without changing anything (the network).
    pub retryable: bool,
}

impl UiError {
    /// An error of the shell itself (no station yet, …).
    pub fn new(code: &str, message: impl Into<String>) -> UiError {
        UiError {
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
            existing_person: None,
            retryable: false,
        }
    }
}

impl From<StationError> for UiError {
    fn from(e: StationError) -> UiError {
        let fields: Vec<_> = e.field_errors();
        let existing_person = fields.iter().find_map(|f| match &f.problem {
            Problem::DuplicateId { person_id } => Some(person_id.clone()),
            _ => None,
        });
        let retryable = matches!(
            e,
            StationError::ServerUnavailable(_) | StationError::Database(_)
        );
        UiError {
            code: e.code().into(),
            message: e.to_string(),
            fields: fields
                .iter()
                .map(|f| UiFieldError {
                    field: f.field.code().into(),
                    message: f.problem.to_string(),
                })
                .collect(),
            existing_person,
            retryable,
        }
    }
}

impl From<SyncError> for UiError {
    fn from(e: SyncError) -> UiError {
        match e {
            SyncError::Station(s) => s.into(),
            other => UiError {
                code: other.code().into(),
                retryable: other.is_retryable(),
                message: other.to_string(),
                fields: Vec::new(),
                existing_person: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::{Field, FieldError};

    #[test]
    fn a_duplicate_id_points_at_the_person_already_registered() {
        let e: UiError = StationError::Invalid(FieldError::new(
            Field::IdNumber,
            Problem::DuplicateId {
                person_id: "0194f3a0-0000-7000-8000-000000000001".into(),
            },
        ))
        .into();
        assert_eq!(e.fields.len(), 1);
        assert_eq!(e.fields[0].field, "id_number");
        assert_eq!(
            e.existing_person.as_deref(),
            Some("0194f3a0-0000-7000-8000-000000000001")
        );
    }

    #[test]
    fn a_network_failure_is_retryable_and_says_the_data_is_safe() {
        let e: UiError = SyncError::Network("connection refused".into()).into();
        assert_eq!(e.code, "network");
        assert!(e.retryable);
        assert!(e.message.contains("dữ liệu vẫn an toàn"), "{}", e.message);
    }
}
