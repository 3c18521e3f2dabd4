//! Writes to a person document that touch only what changed, so concurrent edits of different
//! fields merge; objects whose parts belong together are replaced whole.

use super::PersonDoc;
use super::read::bad;
use crate::commit::CommitMeta;
use crate::error::SchemaError;
use crate::person::{
    Address, Caregiver, Dose, DoseHistory, DoseSignature, Identity, Person, Verification,
    VerificationStatus, Voided, format_time,
};
use automerge::transaction::{Transactable, Transaction};
use automerge::{ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

impl PersonDoc {
    /// Brings the document to `new` by writing only the fields that differ from what it holds.
    /// Doses are never removed (they are voided). Returns the new change's hash, or `None` when
    /// nothing differed.
    pub fn update(
        &mut self,
        new: &Person,
        meta: &CommitMeta,
    ) -> Result<Option<ChangeHash>, SchemaError> {
        let old = self.read()?;
        if old.id != new.id {
            return Err(bad("id", "không được đổi mã người".into()));
        }
        if &old == new {
            return Ok(None);
        }
        if let Some(missing) = old.doses.keys().find(|k| !new.doses.contains_key(k)) {
            return Err(bad(
                &format!("doses.{missing}"),
                "mũi tiêm không được xoá, chỉ được huỷ".into(),
            ));
        }
        let doses_obj = match self.doc.get(ROOT, "doses")? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => return Err(SchemaError::Missing("doses".into())),
        };
        let mut tx = self.doc.transaction();
        if old.full_name != new.full_name {
            put_str(&mut tx, &ROOT, "full_name", &new.full_name)?;
        }
        if old.gender != new.gender {
            put_str(&mut tx, &ROOT, "gender", new.gender.as_str())?;
        }
        if old.birth_date != new.birth_date {
            put_str(&mut tx, &ROOT, "birth_date", &new.birth_date.to_string())?;
        }
        if old.identity != new.identity {
            put_identity(&mut tx, &new.identity)?;
        }
        if old.phone != new.phone {
            put_opt(&mut tx, &ROOT, "phone", new.phone.as_deref())?;
        }
        if old.address != new.address {
            put_address(&mut tx, &new.address)?;
        }
        if old.caregiver != new.caregiver {
            put_caregiver(&mut tx, new.caregiver.as_ref())?;
        }
        if old.nationality != new.nationality {
            put_str(&mut tx, &ROOT, "nationality", &new.nationality)?;
        }
        if old.insurance_number != new.insurance_number {
            put_opt(
                &mut tx,
                &ROOT,
                "insurance_number",
                new.insurance_number.as_deref(),
            )?;
        }
        if old.managing_facility != new.managing_facility {
            put_str(&mut tx, &ROOT, "managing_facility", &new.managing_facility)?;
        }
        if old.created_by != new.created_by || old.created_at != new.created_at {
            return Err(bad(
                "created_by",
                "không được đổi người và thời điểm tạo".into(),
            ));
        }
        if old.verification != new.verification {
            put_verification(&mut tx, &new.verification)?;
        }
        if old.merged_into != new.merged_into {
            put_opt(
                &mut tx,
                &ROOT,
                "merged_into",
                new.merged_into.map(|u| u.to_string()).as_deref(),
            )?;
        }
        for (id, dose) in &new.doses {
            match old.doses.get(id) {
                None => put_new_dose(&mut tx, &doses_obj, dose)?,
                Some(prev) if prev != dose => update_dose(&mut tx, &doses_obj, prev, dose)?,
                Some(_) => {}
            }
        }
        Ok(tx.commit_with(meta.options()).0)
    }
}

pub(super) fn put_str(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    key: &str,
    value: &str,
) -> Result<(), SchemaError> {
    tx.put(obj, key, value)?;
    Ok(())
}

pub(super) fn put_opt(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    key: &str,
    value: Option<&str>,
) -> Result<(), SchemaError> {
    match value {
        Some(v) => tx.put(obj, key, v)?,
        None => tx.put(obj, key, ScalarValue::Null)?,
    }
    Ok(())
}

pub(super) fn put_identity(
    tx: &mut Transaction<'_>,
    identity: &Identity,
) -> Result<(), SchemaError> {
    let obj = tx.put_object(ROOT, "identity", ObjType::Map)?;
    put_str(tx, &obj, "kind", identity.kind.as_str())?;
    put_opt(tx, &obj, "number", identity.number.as_deref())
}

pub(super) fn put_address(tx: &mut Transaction<'_>, address: &Address) -> Result<(), SchemaError> {
    let obj = tx.put_object(ROOT, "address", ObjType::Map)?;
    put_opt(tx, &obj, "province", address.province.as_deref())?;
    put_opt(tx, &obj, "commune", address.commune.as_deref())?;
    // Written only when known, so documents from before hamlets existed keep their bytes.
    if let Some(hamlet) = &address.hamlet {
        put_str(tx, &obj, "hamlet", hamlet)?;
    }
    put_opt(tx, &obj, "detail", address.detail.as_deref())
}

pub(super) fn put_caregiver(
    tx: &mut Transaction<'_>,
    caregiver: Option<&Caregiver>,
) -> Result<(), SchemaError> {
    match caregiver {
        None => {
            tx.put(ROOT, "caregiver", ScalarValue::Null)?;
        }
        Some(c) => {
            let obj = tx.put_object(ROOT, "caregiver", ObjType::Map)?;
            put_str(tx, &obj, "name", &c.name)?;
            put_opt(tx, &obj, "phone", c.phone.as_deref())?;
            put_opt(tx, &obj, "relation", c.relation.as_deref())?;
        }
    }
    Ok(())
}

pub(super) fn put_history(
    tx: &mut Transaction<'_>,
    dose: &ObjId,
    history: Option<&DoseHistory>,
) -> Result<(), SchemaError> {
    match history {
        None => {
            tx.put(dose, "history", ScalarValue::Null)?;
        }
        Some(h) => {
            let obj = tx.put_object(dose, "history", ObjType::Map)?;
            put_str(tx, &obj, "source", h.source.as_str())?;
            put_str(tx, &obj, "recorded_by", &h.recorded_by)?;
        }
    }
    Ok(())
}

pub(super) fn put_verification(
    tx: &mut Transaction<'_>,
    v: &Verification,
) -> Result<(), SchemaError> {
    let obj = tx.put_object(ROOT, "verification", ObjType::Map)?;
    put_str(tx, &obj, "status", v.status.as_str())?;
    let fields = match &v.status {
        VerificationStatus::Mismatched(fields) => Some(
            fields
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    put_opt(tx, &obj, "fields", fields.as_deref())?;
    put_opt(
        tx,
        &obj,
        "checked_at",
        v.checked_at.map(format_time).as_deref(),
    )
}

pub(super) fn put_new_dose(
    tx: &mut Transaction<'_>,
    doses: &ObjId,
    dose: &Dose,
) -> Result<(), SchemaError> {
    let obj = tx.put_object(doses, dose.id.to_string(), ObjType::Map)?;
    put_str(tx, &obj, "id", &dose.id.to_string())?;
    put_str(tx, &obj, "vaccine", &dose.vaccine)?;
    put_str(tx, &obj, "lot", &dose.lot)?;
    tx.put(&obj, "dose_number", i64::from(dose.dose_number))?;
    put_str(tx, &obj, "kind", dose.kind.as_str())?;
    put_str(tx, &obj, "given_at", &format_time(dose.given_at))?;
    put_str(tx, &obj, "facility", &dose.facility)?;
    put_str(tx, &obj, "vaccinator", &dose.vaccinator)?;
    put_opt(tx, &obj, "place", dose.place.as_deref())?;
    put_opt(tx, &obj, "reaction_notes", dose.reaction_notes.as_deref())?;
    put_voided(tx, &obj, dose.voided.as_ref())?;
    // Only history doses carry the key: a dose recorded here keeps the layout it always had.
    if dose.history.is_some() {
        put_history(tx, &obj, dose.history.as_ref())?;
    }
    put_signature(tx, &obj, dose.signature.as_ref())
}

pub(super) fn update_dose(
    tx: &mut Transaction<'_>,
    doses: &ObjId,
    old: &Dose,
    new: &Dose,
) -> Result<(), SchemaError> {
    let path = format!("doses.{}", new.id);
    let obj = match tx.get(doses, new.id.to_string())? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => return Err(SchemaError::Missing(path)),
    };
    if old.vaccine != new.vaccine {
        put_str(tx, &obj, "vaccine", &new.vaccine)?;
    }
    if old.lot != new.lot {
        put_str(tx, &obj, "lot", &new.lot)?;
    }
    if old.dose_number != new.dose_number {
        tx.put(&obj, "dose_number", i64::from(new.dose_number))?;
    }
    if old.kind != new.kind {
        put_str(tx, &obj, "kind", new.kind.as_str())?;
    }
    if old.given_at != new.given_at {
        put_str(tx, &obj, "given_at", &format_time(new.given_at))?;
    }
    if old.facility != new.facility {
        put_str(tx, &obj, "facility", &new.facility)?;
    }
    if old.vaccinator != new.vaccinator {
        put_str(tx, &obj, "vaccinator", &new.vaccinator)?;
    }
    if old.place != new.place {
        put_opt(tx, &obj, "place", new.place.as_deref())?;
    }
    if old.reaction_notes != new.reaction_notes {
        put_opt(tx, &obj, "reaction_notes", new.reaction_notes.as_deref())?;
    }
    if old.voided != new.voided {
        put_voided(tx, &obj, new.voided.as_ref())?;
    }
    if old.signature != new.signature {
        put_signature(tx, &obj, new.signature.as_ref())?;
    }
    if old.history != new.history {
        put_history(tx, &obj, new.history.as_ref())?;
    }
    Ok(())
}

pub(super) fn put_voided(
    tx: &mut Transaction<'_>,
    dose: &ObjId,
    voided: Option<&Voided>,
) -> Result<(), SchemaError> {
    match voided {
        None => {
            tx.put(dose, "voided", ScalarValue::Null)?;
        }
        Some(v) => {
            let obj = tx.put_object(dose, "voided", ObjType::Map)?;
            put_str(tx, &obj, "by", &v.by)?;
            put_str(tx, &obj, "at", &format_time(v.at))?;
            put_str(tx, &obj, "reason", &v.reason)?;
        }
    }
    Ok(())
}

pub(super) fn put_signature(
    tx: &mut Transaction<'_>,
    dose: &ObjId,
    sig: Option<&DoseSignature>,
) -> Result<(), SchemaError> {
    match sig {
        None => {
            tx.put(dose, "signature", ScalarValue::Null)?;
        }
        Some(s) => {
            let obj = tx.put_object(dose, "signature", ObjType::Map)?;
            put_str(tx, &obj, "batch_id", &s.batch_id.to_string())?;
            put_str(tx, &obj, "signer", &s.signer)?;
            put_str(tx, &obj, "signed_at", &format_time(s.signed_at))?;
        }
    }
    Ok(())
}
