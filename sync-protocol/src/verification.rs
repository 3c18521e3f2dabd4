//! Matching a person against the population database (docs/design.md §1, data cleaning): the four
//! fields compared, the outcome, and the outcome's kind alone with its stored name and label —
//! one table that the document reader, the station's columns and lists, and the UI share.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One of the four fields matched against the population database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum VerifiedField {
    FullName,
    Gender,
    BirthDate,
    IdNumber,
}

impl VerifiedField {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifiedField::FullName => "full_name",
            VerifiedField::Gender => "gender",
            VerifiedField::BirthDate => "birth_date",
            VerifiedField::IdNumber => "id_number",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<VerifiedField> {
        match text {
            "full_name" => Some(VerifiedField::FullName),
            "gender" => Some(VerifiedField::Gender),
            "birth_date" => Some(VerifiedField::BirthDate),
            "id_number" => Some(VerifiedField::IdNumber),
            _ => None,
        }
    }
}

/// The outcome of matching a person against the population database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "fields", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum VerificationStatus {
    Unverified,
    Matched,
    Mismatched(Vec<VerifiedField>),
    NotFound,
    NoId,
    InvalidId,
    NotApplicable,
}

/// The kind of an outcome alone (without the mismatched fields), as summaries, lists and the
/// materialised column carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum VerificationKind {
    Unverified,
    Matched,
    Mismatched,
    NotFound,
    NoId,
    InvalidId,
    NotApplicable,
}

impl VerificationKind {
    /// Every kind, with its stored name and Vietnamese label.
    const TABLE: [(VerificationKind, &'static str, &'static str); 7] = [
        (VerificationKind::Unverified, "unverified", "Chưa xác thực"),
        (VerificationKind::Matched, "matched", "Đã xác thực"),
        (
            VerificationKind::Mismatched,
            "mismatched",
            "Sai lệch với CSDLQG",
        ),
        (
            VerificationKind::NotFound,
            "not_found",
            "Không có trong CSDLQG",
        ),
        (VerificationKind::NoId, "no_id", "Không có giấy tờ"),
        (
            VerificationKind::InvalidId,
            "invalid_id",
            "Giấy tờ sai định dạng",
        ),
        (
            VerificationKind::NotApplicable,
            "not_applicable",
            "Không áp dụng (người nước ngoài)",
        ),
    ];

    fn row(self) -> (VerificationKind, &'static str, &'static str) {
        Self::TABLE
            .into_iter()
            .find(|(k, _, _)| *k == self)
            .unwrap_or(Self::TABLE[0])
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    /// The Vietnamese label.
    pub fn label(self) -> &'static str {
        self.row().2
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<VerificationKind> {
        Self::TABLE
            .into_iter()
            .find(|(_, n, _)| *n == name)
            .map(|(k, _, _)| k)
    }
}

impl VerificationStatus {
    /// The kind of the outcome.
    pub fn kind(&self) -> VerificationKind {
        match self {
            VerificationStatus::Unverified => VerificationKind::Unverified,
            VerificationStatus::Matched => VerificationKind::Matched,
            VerificationStatus::Mismatched(_) => VerificationKind::Mismatched,
            VerificationStatus::NotFound => VerificationKind::NotFound,
            VerificationStatus::NoId => VerificationKind::NoId,
            VerificationStatus::InvalidId => VerificationKind::InvalidId,
            VerificationStatus::NotApplicable => VerificationKind::NotApplicable,
        }
    }

    /// The stored name of the status (without the mismatched fields).
    pub fn as_str(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The Vietnamese label of the status.
    pub fn label(&self) -> &'static str {
        self.kind().label()
    }
}

/// The verification state of a person and when it was last checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Verification {
    #[serde(flatten)]
    pub status: VerificationStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub checked_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_stored_name_and_has_its_own_label() {
        let mut labels = std::collections::BTreeSet::new();
        for (kind, name, label) in VerificationKind::TABLE {
            assert_eq!(VerificationKind::parse(name), Some(kind));
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.label(), label);
            assert!(labels.insert(label), "{label} twice");
            // The stored name is the serde name the UI receives.
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::json!(name))
            );
        }
        assert_eq!(VerificationKind::parse("verified"), None);
        assert_eq!(
            VerificationStatus::Mismatched(vec![VerifiedField::BirthDate]).kind(),
            VerificationKind::Mismatched
        );
    }
}
