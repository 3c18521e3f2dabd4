//! Recording a dose, and voiding one (a fresh code when a signing run covers it).

use super::{DoseInput, clean_opt, opt_text};
use crate::error::{Result, StationError};
use crate::intent::Intent;
use crate::intent::StepUp;
use crate::service::Station;
use sync_protocol::person::parse_time;
use sync_protocol::rules::CLOCK_SKEW;
use sync_protocol::validate::{self, MAX_NOTES, MAX_TEXT};
use sync_protocol::{CommitAction, Dose, DoseHistory, DoseKind, HistorySource, Voided};
use sync_protocol::{Field, Problem, text};
use uuid::Uuid;

impl Station {
    /// Records a dose given to a person now (or at the time given) and returns it: a COVID-19
    /// vaccine of the catalogue or a product of the routine schedule, given here — or, with
    /// `elsewhere`, a dose given elsewhere recorded as history (never this station's, never
    /// signed by it; `vaccinator` names who gave it).
    pub async fn record_dose(&self, person_id: Uuid, input: DoseInput) -> Result<Dose> {
        let user = self.writer()?;
        let now = self.clock().now();
        let history = opt_text(input.elsewhere.as_deref())
            .map(|s| HistorySource::parse(&s))
            .transpose()?
            .map(|source| DoseHistory {
                source,
                recorded_by: user.clone(),
            });
        let given_at = match opt_text(input.given_at.as_deref()) {
            Some(t) => parse_time(&t)
                .ok_or_else(|| StationError::invalid(Field::GivenAt, Problem::DateTimeFormat))?,
            // History is copied from a card: its date is never "now".
            None if history.is_some() => {
                return Err(StationError::invalid(Field::GivenAt, Problem::Required));
            }
            None => now,
        };
        if given_at > now + CLOCK_SKEW {
            return Err(StationError::invalid(Field::GivenAt, Problem::InFuture));
        }
        let product = self.recordable(&input.vaccine, given_at.date())?;
        let lot = input.lot.trim().to_ascii_uppercase();
        if !(history.is_some() && lot.is_empty()) {
            validate::check_lot(&lot)?;
        }
        let place = clean_opt(input.place.as_deref());
        validate::check_text(Field::Place, place.as_deref(), MAX_TEXT)?;
        if history.is_some() && place.is_none() {
            return Err(StationError::invalid(Field::Place, Problem::Required));
        }
        let vaccinator = match &history {
            None => user,
            Some(_) => clean_opt(input.vaccinator.as_deref()).unwrap_or_else(|| "không rõ".into()),
        };
        validate::check_text(Field::Vaccinator, Some(&vaccinator), MAX_TEXT)?;
        let notes = clean_opt(input.reaction_notes.as_deref());
        validate::check_text(Field::ReactionNotes, notes.as_deref(), MAX_NOTES)?;
        let explicit_kind = opt_text(input.kind.as_deref())
            .map(|k| DoseKind::parse(&k))
            .transpose()?;
        if let Some(n) = input.dose_number
            && !(1..=validate::MAX_DOSE_NUMBER).contains(&n)
        {
            return Err(StationError::invalid(
                Field::DoseNumber,
                Problem::DoseNumberRange,
            ));
        }
        let dose_id = Uuid::now_v7();
        let facility = match history {
            Some(_) => String::new(),
            None => self.facility().code,
        };
        let intent = Intent::new(CommitAction::Dose);
        let (_, person) = self
            .modify(person_id, intent, |p| {
                let number = input
                    .dose_number
                    .unwrap_or_else(|| product.next_number(&self.catalogue, p, given_at.date()));
                if let Some(existing) = product.clash(&self.catalogue, p, number, given_at.date()) {
                    return Err(StationError::invalid(
                        Field::DoseNumber,
                        Problem::AlreadyRecorded {
                            dose_number: existing.dose_number,
                            given_on: sync_protocol::BirthDate::Full(existing.given_at.date())
                                .display_vn(),
                        },
                    ));
                }
                p.doses.insert(
                    dose_id,
                    Dose {
                        id: dose_id,
                        vaccine: product.code().to_string(),
                        lot,
                        dose_number: number,
                        kind: explicit_kind.unwrap_or_else(|| product.default_kind(number)),
                        given_at,
                        facility,
                        vaccinator,
                        place,
                        reaction_notes: notes,
                        voided: None,
                        signature: None,
                        history,
                    },
                );
                Ok(())
            })
            .await?;
        person
            .doses
            .get(&dose_id)
            .cloned()
            .ok_or_else(|| StationError::NotFound {
                what: "mũi tiêm",
                id: dose_id.to_string(),
            })
    }

    /// Voids a dose (doses are never deleted) with the reason, and returns it. A signed dose
    /// needs a fresh code: see [`Station::void_dose_with`].
    pub async fn void_dose(&self, dose_id: Uuid, reason: &str) -> Result<Dose> {
        self.void_dose_with(dose_id, reason, None).await
    }

    /// Voids a dose; a dose a signing run covers is a signed record undone (and the passport
    /// built on it revoked), so it needs a fresh one-time code the server checks (`step_up`).
    pub async fn void_dose_with(
        &self,
        dose_id: Uuid,
        reason: &str,
        step_up: Option<StepUp<'_>>,
    ) -> Result<Dose> {
        let user = self.writer()?;
        let reason = text::clean(reason);
        if reason.chars().count() < validate::MIN_VOID_REASON {
            return Err(StationError::invalid(
                Field::VoidReason,
                Problem::TooShort {
                    min: validate::MIN_VOID_REASON,
                },
            ));
        }
        validate::check_text(Field::VoidReason, Some(&reason), MAX_TEXT)?;
        let person_id: String = sqlx::query_scalar("SELECT person_id FROM doses WHERE id = ?")
            .bind(dose_id.to_string())
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| StationError::NotFound {
                what: "mũi tiêm",
                id: dose_id.to_string(),
            })?;
        let person_id = Uuid::parse_str(&person_id).map_err(|_| StationError::NotFound {
            what: "người",
            id: person_id,
        })?;
        let mut intent = Intent::new(CommitAction::Void);
        let signed = self
            .show(person_id)
            .await?
            .person
            .doses
            .get(&dose_id)
            .is_some_and(|d| d.signature.is_some() && d.voided.is_none());
        if signed {
            let step_up = step_up.filter(|s| !s.otp.trim().is_empty()).ok_or(
                StationError::StepUpRequired(
                    "huỷ mũi tiêm đã ký số (hộ chiếu vắc xin dựa trên mũi này sẽ bị thu hồi)",
                ),
            )?;
            let fields = [sync_protocol::rules::SensitiveField::SignedDose]
                .into_iter()
                .collect();
            let mut grants = self.step_up_grants(step_up, &[person_id], &fields).await?;
            intent = intent.with_code().with_grant(grants.remove(&person_id));
        }
        let voided_at = self.clock().now();
        let (_, person) = self
            .modify(person_id, intent, |p| {
                let dose = p
                    .doses
                    .get_mut(&dose_id)
                    .ok_or_else(|| StationError::NotFound {
                        what: "mũi tiêm",
                        id: dose_id.to_string(),
                    })?;
                if dose.voided.is_some() {
                    return Err(StationError::invalid(Field::DoseId, Problem::AlreadyVoided));
                }
                dose.voided = Some(Voided {
                    by: user,
                    at: voided_at,
                    reason,
                });
                Ok(())
            })
            .await?;
        person
            .doses
            .get(&dose_id)
            .cloned()
            .ok_or_else(|| StationError::NotFound {
                what: "mũi tiêm",
                id: dose_id.to_string(),
            })
    }
}
