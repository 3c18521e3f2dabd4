//! What every change says about itself: who made it, what it does, and what it relies on (a
//! step-up grant, the record a merge takes doses from). It travels in the Automerge change's
//! message; the server re-checks every part of it against the session that pushes the change.

use automerge::Change;
use automerge::transaction::CommitOptions;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;
use uuid::Uuid;

/// What a change does. The rules allow some differences only to some actions (a transfer of the
/// managing facility, doses copied by a merge, signature marks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitAction {
    /// A person registered at the station.
    Register,
    /// People brought in together (a prepared list, demo data).
    Import,
    /// Details of a person edited.
    Edit,
    /// A dose recorded.
    Dose,
    /// A dose voided.
    Void,
    /// Doses marked signed by the run the server accepted.
    Sign,
    /// Two records of one person merged (doses copied to the kept record).
    Merge,
    /// Corrections from the police's verified list.
    ImportCorrection,
    /// The server's verification against the population database.
    Verify,
    /// The managing facility hands the person over to another facility.
    Transfer,
}

impl CommitAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommitAction::Register => "register",
            CommitAction::Import => "import",
            CommitAction::Edit => "edit",
            CommitAction::Dose => "dose",
            CommitAction::Void => "void",
            CommitAction::Sign => "sign",
            CommitAction::Merge => "merge",
            CommitAction::ImportCorrection => "import_correction",
            CommitAction::Verify => "verify",
            CommitAction::Transfer => "transfer",
        }
    }
}

impl fmt::Display for CommitAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change and why, carried in the change's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitMeta {
    /// The account that made the change.
    #[serde(rename = "u")]
    pub user: String,
    /// What the change does.
    #[serde(rename = "a")]
    pub action: CommitAction,
    /// The server's step-up grant for a sensitive edit of another facility's person.
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// For a merge: the record whose doses the kept record receives.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<Uuid>,
    /// The change's own timestamp (the device's clock: informative, never trusted).
    #[serde(skip)]
    pub time: Option<OffsetDateTime>,
}

/// The longest commit message read back (a change carrying more is not one of ours).
const MAX_MESSAGE: usize = 512;

impl CommitMeta {
    /// A change by `user` doing `action` now.
    pub fn new(user: &str, action: CommitAction) -> CommitMeta {
        CommitMeta {
            user: user.to_string(),
            action,
            grant: None,
            merged_from: None,
            time: None,
        }
    }

    /// The same, relying on the server's step-up grant `grant`.
    pub fn with_grant(mut self, grant: Option<&str>) -> CommitMeta {
        self.grant = grant.map(str::to_string);
        self
    }

    /// The same, for a merge taking doses from `from`.
    pub fn merging_from(mut self, from: Uuid) -> CommitMeta {
        self.merged_from = Some(from);
        self
    }

    /// Reads the meta back from a change's message; `None` when it has none or not ours.
    pub fn from_change(change: &Change) -> Option<CommitMeta> {
        let message = change.message()?;
        if message.len() > MAX_MESSAGE {
            return None;
        }
        let mut meta: CommitMeta = serde_json::from_str(message).ok()?;
        meta.time = OffsetDateTime::from_unix_timestamp(change.timestamp()).ok();
        Some(meta)
    }

    /// The commit options that write this meta into a change.
    pub(crate) fn options(&self) -> CommitOptions {
        let time = self.time.unwrap_or_else(crate::person::now);
        CommitOptions::default()
            .with_message(serde_json::to_string(self).unwrap_or_default())
            .with_time(time.unix_timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meta_round_trips_through_its_message_and_older_messages_still_read() {
        let meta = CommitMeta::new("nv.lan", CommitAction::Edit).with_grant(Some("g1"));
        let text = serde_json::to_string(&meta).unwrap();
        assert_eq!(text, r#"{"u":"nv.lan","a":"edit","g":"g1"}"#);
        let back: CommitMeta = serde_json::from_str(r#"{"u":"nv.lan","a":"dose"}"#).unwrap();
        assert_eq!(back.action, CommitAction::Dose);
        assert_eq!(back.grant, None);
        assert!(serde_json::from_str::<CommitMeta>(r#"{"u":"x","a":"take_over"}"#).is_err());
    }
}
