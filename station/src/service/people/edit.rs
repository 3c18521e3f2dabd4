//! Editing a person's details (a fresh code for another facility's person) and handing a person
//! over to another facility.

use super::{PersonEdit, caregiver_from, clean_opt, collect, many, opt_text};
use crate::error::{Result, StationError};
use crate::intent::Intent;
use crate::intent::StepUp;
use crate::service::Station;
use sync_protocol::identity::normalize_identity;
use sync_protocol::identity::normalize_phone;
use sync_protocol::validate::{self, MAX_TEXT};
use sync_protocol::{BirthDate, CommitAction, Verification};
use sync_protocol::{Field, Gender, Person, text};
use time::Date;
use uuid::Uuid;

/// Applies `e` to `p`, checking each field given; `today` (the station's clock) bounds the date
/// of birth.
pub(crate) fn apply_edit(p: &mut Person, e: &PersonEdit, today: Date) -> Result<()> {
    let mut errors = Vec::new();
    let verified_before = (
        p.full_name.clone(),
        p.gender,
        p.birth_date,
        p.identity.clone(),
    );
    if let Some(name) = &e.full_name {
        let name = text::clean(name);
        if collect(&mut errors, validate::check_full_name(&name)).is_some() {
            p.full_name = name;
        }
    }
    if let Some(g) = &e.gender
        && let Some(g) = collect(&mut errors, Gender::parse(g))
    {
        p.gender = g;
    }
    if let Some(b) = &e.birth_date
        && let Some(b) = collect(
            &mut errors,
            BirthDate::parse(b).and_then(|b| b.check(today).map(|()| b)),
        )
    {
        p.birth_date = b;
    }
    if let Some(phone) = &e.phone {
        p.phone = match opt_text(Some(phone)) {
            None => None,
            Some(t) => collect(&mut errors, normalize_phone(&t)),
        };
    }
    if let Some(n) = &e.nationality {
        let n = n.trim().to_ascii_uppercase();
        if collect(&mut errors, validate::check_nationality(&n)).is_some() {
            p.nationality = n;
        }
    }
    if let Some(n) = &e.insurance_number {
        p.insurance_number = match opt_text(Some(n)).map(|n| n.to_ascii_uppercase()) {
            None => None,
            Some(n) => collect(
                &mut errors,
                validate::check_insurance_number(&n).map(|()| n),
            ),
        };
    }
    if let Some(v) = &e.province {
        p.address.province = clean_opt(Some(v));
    }
    if let Some(v) = &e.commune {
        p.address.commune = clean_opt(Some(v));
    }
    if let Some(v) = &e.address_detail {
        p.address.detail = clean_opt(Some(v));
    }
    if let Some(v) = &e.hamlet {
        p.address.hamlet = clean_opt(Some(v));
        collect(
            &mut errors,
            validate::check_text(Field::Hamlet, p.address.hamlet.as_deref(), MAX_TEXT),
        );
    }
    if e.caregiver_name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty())
    {
        p.caregiver = None;
    } else if e.caregiver_name.is_some()
        || e.caregiver_phone.is_some()
        || e.caregiver_relation.is_some()
    {
        // Fields left out keep the caregiver's current values; an empty name removes them.
        let current = p.caregiver.clone();
        let keep = |new: &Option<String>, old: Option<&String>| -> Option<String> {
            new.clone().or_else(|| old.cloned())
        };
        p.caregiver = caregiver_from(
            &mut errors,
            keep(&e.caregiver_name, current.as_ref().map(|c| &c.name)).as_deref(),
            keep(
                &e.caregiver_phone,
                current.as_ref().and_then(|c| c.phone.as_ref()),
            )
            .as_deref(),
            keep(
                &e.caregiver_relation,
                current.as_ref().and_then(|c| c.relation.as_ref()),
            )
            .as_deref(),
        );
    }
    if e.id_kind.is_some() || e.id_number.is_some() || e.gender.is_some() || e.birth_date.is_some()
    {
        let kind = e.id_kind.unwrap_or(p.identity.kind);
        let number = match &e.id_number {
            Some(n) => Some(n.clone()),
            None => p.identity.number.clone(),
        };
        if let Some(id) = collect(
            &mut errors,
            normalize_identity(kind, number.as_deref(), p.gender, p.birth_date),
        ) {
            p.identity = id;
        }
    }
    if !errors.is_empty() {
        return Err(many(errors));
    }
    // Changed matching fields have not been checked against the population database.
    if verified_before
        != (
            p.full_name.clone(),
            p.gender,
            p.birth_date,
            p.identity.clone(),
        )
    {
        p.verification = Verification {
            status: sync_protocol::rules::initial_status(&p.nationality, p.identity.kind),
            checked_at: None,
        };
    }
    Ok(())
}

impl Station {
    /// Changes a person's details; only the fields given are touched. Changing the name, date
    /// of birth, ID number or address of a person another facility manages needs a fresh
    /// one-time code, checked by the server (`step_up`), which grants the edit.
    pub async fn edit_person(
        &self,
        id: Uuid,
        edit: PersonEdit,
        step_up: Option<StepUp<'_>>,
    ) -> Result<Person> {
        let session = self.reader()?;
        self.writer()?;
        let current = self.show(id).await?.person;
        let today = self.clock().now().date();
        let mut edited = current.clone();
        apply_edit(&mut edited, &edit, today)?;
        let fields = sync_protocol::rules::sensitive_changes(&current, &edited);
        let writer = self.rule_writer(&session).await?;
        let mut intent = Intent::new(CommitAction::Edit);
        if !fields.is_empty() && !writer.manages(&current.managing_facility) {
            let step_up = step_up
                .filter(|s| !s.otp.trim().is_empty())
                .ok_or(StationError::StepUpRequired(
                    "sửa họ tên, ngày sinh, số giấy tờ hoặc địa chỉ của người do cơ sở khác quản lý",
                ))?;
            let mut grants = self.step_up_grants(step_up, &[id], &fields).await?;
            intent = intent.with_code().with_grant(grants.remove(&id));
        }
        self.modify(id, intent, |p| apply_edit(p, &edit, today))
            .await
            .map(|(_, p)| p)
    }

    /// Hands a person this facility manages over to another facility (`to`, a facility code the
    /// server knows): from then on that facility manages them and edits their sensitive fields
    /// without a code. Changes nothing else.
    pub async fn transfer_person(&self, id: Uuid, to: &str) -> Result<Person> {
        self.writer()?;
        let to = to.trim().to_string();
        validate::check_code(Field::Facility, &to)?;
        self.modify(id, Intent::new(CommitAction::Transfer), |p| {
            p.managing_facility = to;
            Ok(())
        })
        .await
        .map(|(_, p)| p)
    }
}
