//! What a write intends beyond the change itself (its action, a fresh code, the server's grant,
//! a merge's source, the doses signed), checked against `sync_protocol::rules` before the
//! station commits it, so a refusal is met with the form still open, not at the next sync.

use crate::error::{Result, StationError};
use crate::remote::SyncClient;
use std::collections::BTreeMap;
use sync_protocol::rules::{self, Grant, Knowledge, SignedDose, Writer};
use sync_protocol::{CommitAction, CommitMeta, Person};
use time::OffsetDateTime;
use uuid::Uuid;

/// A fresh one-time code for a change that needs one, and the server that checks it: for a
/// sensitive edit of another facility's person, only the server's grant makes the change
/// acceptable there.
#[derive(Clone, Copy)]
pub struct StepUp<'a> {
    pub otp: &'a str,
    /// The server; without one (offline) such an edit cannot be made.
    pub server: Option<&'a SyncClient>,
}

/// What a write intends, beyond the change itself.
#[derive(Debug, Clone)]
pub(crate) struct Intent {
    pub action: CommitAction,
    /// A fresh code was given (audited).
    pub otp: bool,
    pub grant: Option<Grant>,
    /// For a merge: the record the doses come from.
    pub merge_source: Option<Person>,
    /// Doses of runs the server accepted (for signature marks).
    pub signed: BTreeMap<Uuid, SignedDose>,
}

impl Intent {
    /// A write doing `action`.
    pub fn new(action: CommitAction) -> Intent {
        Intent {
            action,
            otp: false,
            grant: None,
            merge_source: None,
            signed: BTreeMap::new(),
        }
    }

    /// The same, after a fresh code.
    pub fn with_code(mut self) -> Intent {
        self.otp = true;
        self
    }

    /// The same, relying on the server's grant.
    pub fn with_grant(mut self, grant: Option<Grant>) -> Intent {
        self.grant = grant;
        self
    }

    /// The same, taking doses from `source` (a merge).
    pub fn merging_from(mut self, source: Person) -> Intent {
        self.merge_source = Some(source);
        self
    }

    /// The same, knowing these doses signed by accepted runs.
    pub fn signed(mut self, signed: BTreeMap<Uuid, SignedDose>) -> Intent {
        self.signed = signed;
        self
    }

    /// The meta the change carries for `user`.
    pub fn meta(&self, user: &str) -> CommitMeta {
        let meta = CommitMeta::new(user, self.action)
            .with_grant(self.grant.as_ref().map(|g| g.id.as_str()));
        match &self.merge_source {
            Some(source) => meta.merging_from(source.id),
            None => meta,
        }
    }

    /// Checks `after` over `before` for `writer` at `now` (the station's clock); returns the
    /// meta to write with.
    pub fn check(
        &self,
        before: Option<&Person>,
        after: &Person,
        writer: &Writer,
        now: OffsetDateTime,
    ) -> Result<CommitMeta> {
        let meta = self.meta(&writer.user);
        // The station does not know every facility; the server checks a transfer's target.
        let any = |_: &str| true;
        let knows = Knowledge {
            now,
            signed: &self.signed,
            grant: self.grant.as_ref(),
            merge_source: self.merge_source.as_ref(),
            facility_exists: &any,
            // The server holds every record and refuses a dose id another person holds.
            dose_elsewhere: &rules::no_dose_elsewhere,
        };
        rules::check_write(before, after, &meta, writer, &knows)?;
        Ok(meta)
    }
}

impl From<rules::Violation> for StationError {
    fn from(v: rules::Violation) -> Self {
        match v {
            rules::Violation::Invalid(e) => StationError::Invalid(e),
            other => StationError::Rule(other),
        }
    }
}
