//! The station's side of the rulebook (`sync_protocol::rules`): who the signed-in user is to
//! the rules, what a write intends, and the server's step-up grants. The station runs the same
//! rules the server re-checks, so a refusal is met here, with the form still open, not at the
//! next sync.

use crate::error::{Result, StationError};
use crate::intent::StepUp;
use crate::remote::SyncError;
use crate::service::Station;
use crate::session::Session;
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::auth::{OtpError, StepUpGrant, StepUpRequest};
use sync_protocol::person::parse_time;
use sync_protocol::rules::{Grant, SensitiveField, Writer};
use uuid::Uuid;

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
            Err(e) => return Err(crate::remote::network_or(e)),
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
