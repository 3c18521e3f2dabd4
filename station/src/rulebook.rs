//! The station's side of the rulebook (`sync_protocol::rules`): who the signed-in user is to
//! the rules, what a write intends, and the server's step-up grants. The station runs the same
//! rules the server re-checks, so a refusal is met here, with the form still open, not at the
//! next sync.

use crate::auth::Session;
use crate::error::{Result, StationError};
use crate::service::Station;
use crate::sync::{SyncClient, SyncError};
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::auth::{OtpError, StepUpGrant, StepUpRequest};
use sync_protocol::person::parse_time;
use sync_protocol::rules::{self, Grant, Knowledge, SensitiveField, SignedDose, Writer};
use sync_protocol::{CommitAction, CommitMeta, Person};
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

    /// Checks `after` over `before` for `writer`; returns the meta to write with.
    pub fn check(
        &self,
        before: Option<&Person>,
        after: &Person,
        writer: &Writer,
    ) -> Result<CommitMeta> {
        let meta = self.meta(&writer.user);
        // The station does not know every facility; the server checks a transfer's target.
        let any = |_: &str| true;
        let knows = Knowledge {
            now: sync_protocol::person::now(),
            signed: &self.signed,
            grant: self.grant.as_ref(),
            merge_source: self.merge_source.as_ref(),
            facility_exists: &any,
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

impl Station {
    /// The signed-in user as the rules see them: their role, this device's facility, and the
    /// facilities whose people are theirs (their account's, this station's, the facility it works
    /// under and the mobile teams it knows).
    pub(crate) async fn rule_writer(&self, session: &Session) -> Result<Writer> {
        let facility = self.facility();
        let owner = facility
            .parent
            .clone()
            .unwrap_or_else(|| facility.code.clone());
        let teams: Vec<String> = sqlx::query_scalar(
            "SELECT code FROM facilities WHERE kind = 'mobile_team' AND parent = ?",
        )
        .bind(&owner)
        .fetch_all(self.store().pool())
        .await?;
        let own: BTreeSet<String> = [session.account.facility.clone(), facility.code.clone()]
            .into_iter()
            .chain(std::iter::once(owner))
            .chain(teams)
            .collect();
        Ok(Writer {
            user: session.username().to_string(),
            role: session.role(),
            device_facility: facility.code,
            own,
        })
    }

    /// Asks the server to check a fresh code for these fields of these people and returns its
    /// grant for each of them. Offline, such an edit cannot be made: the server would refuse it.
    pub(crate) async fn step_up_grants(
        &self,
        step_up: StepUp<'_>,
        people: &[Uuid],
        fields: &BTreeSet<SensitiveField>,
    ) -> Result<BTreeMap<Uuid, Grant>> {
        let server = step_up.server.ok_or(StationError::StepUpNeedsServer)?;
        let session = self.session().ok_or(StationError::NotSignedIn)?;
        server.set_session(session.server_token().map(str::to_string));
        let answer: std::result::Result<StepUpGrant, SyncError> = server
            .json(
                sync_protocol::endpoints::STEP_UP,
                &StepUpRequest {
                    otp: step_up.otp.trim().to_string(),
                    person_ids: people.to_vec(),
                    fields: fields.iter().copied().collect(),
                },
            )
            .await;
        let grant = match answer {
            Ok(g) => g,
            Err(SyncError::Network(_)) => return Err(StationError::StepUpNeedsServer),
            Err(SyncError::Server { code, message, .. }) => {
                return Err(match code.as_str() {
                    "otp_replayed" => StationError::Otp(OtpError::Replayed),
                    "otp_invalid" => StationError::Otp(OtpError::Invalid),
                    _ => StationError::AuthRefused { code, message },
                });
            }
            Err(e) => return Err(crate::auth::network_or(e)),
        };
        let expires_at = parse_time(&grant.expires_at).ok_or_else(|| {
            StationError::ServerUnavailable("máy chủ trả mã xác nhận không đọc được".into())
        })?;
        let fields: BTreeSet<SensitiveField> = grant.fields.iter().copied().collect();
        Ok(grant
            .person_ids
            .iter()
            .map(|p| {
                (
                    *p,
                    Grant {
                        id: grant.id.clone(),
                        user: session.username().to_string(),
                        person_id: *p,
                        fields: fields.clone(),
                        expires_at,
                    },
                )
            })
            .collect())
    }
}
