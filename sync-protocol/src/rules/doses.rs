//! Rules on doses: recorded doses are never deleted or edited (they are voided), a voiding is
//! final and in the writer's name, signatures come only from accepted runs and freeze what they
//! cover (the dose's signed fields and the person's identity), new doses are the writer's own.

use super::{CLOCK_SKEW, Knowledge, Violation, Writer};
use crate::commit::{CommitAction, CommitMeta};
use crate::person::{Dose, DoseSignature, Person, Voided};
use crate::record::record_hash;
use uuid::Uuid;

pub(super) fn check_doses(
    before: Option<&Person>,
    after: &Person,
    meta: &CommitMeta,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    if let Some(before) = before {
        for (id, old) in &before.doses {
            let Some(new) = after.doses.get(id) else {
                return Err(Violation::DoseDeleted {
                    dose_number: old.dose_number,
                });
            };
            check_recorded(before, old, after, new, meta, writer, knows)?;
        }
    }
    let is_new = |d: &&Dose| before.is_none_or(|b| !b.doses.contains_key(&d.id));
    for dose in after.doses.values().filter(is_new) {
        if dose.is_history() {
            contradicts_record(before, dose)?;
        }
        let copied = merge_copy(
            dose,
            after.doses.values().filter(is_new),
            after.id,
            meta,
            knows,
        );
        check_new(dose, writer, knows, copied)?;
    }
    Ok(())
}

/// A dose given elsewhere is history the station learned; it is refused only where it
/// contradicts what the record already holds: the same vaccine on the same day, or the same
/// vaccine's dose number already recorded.
fn contradicts_record(before: Option<&Person>, dose: &Dose) -> Result<(), Violation> {
    let Some(before) = before else {
        return Ok(());
    };
    let clash = before.doses.values().filter(|d| d.is_active()).find(|d| {
        d.vaccine == dose.vaccine
            && (d.given_at.date() == dose.given_at.date() || d.dose_number == dose.dose_number)
    });
    match clash {
        Some(d) => Err(Violation::HistoryContradicts {
            dose_number: dose.dose_number,
            recorded_number: d.dose_number,
            given_on: crate::person::BirthDate::Full(d.given_at.date()).display_vn(),
        }),
        None => Ok(()),
    }
}

/// Whether a new dose re-records a dose of the record merged into this one: the record names
/// this one in `merged_into` and holds the dose voided by the merge, and no more new doses look
/// like it here than it holds voided — a merge moves doses, it does not copy anyone's doses.
fn merge_copy<'a>(
    dose: &Dose,
    new_doses: impl Iterator<Item = &'a Dose>,
    person: Uuid,
    meta: &CommitMeta,
    knows: &Knowledge<'_>,
) -> bool {
    let Some(source) = knows.merge_source else {
        return false;
    };
    if meta.action != CommitAction::Merge
        || Some(source.id) != meta.merged_from
        || source.merged_into != Some(person)
    {
        return false;
    }
    let originals = source
        .doses
        .values()
        .filter(|d| d.voided.is_some() && same_dose(d, dose))
        .count();
    let copies = new_doses.filter(|d| same_dose(d, dose)).count();
    originals > 0 && copies <= originals
}

/// Whether the authority holds `id` signed (an accepted run covers it) or the record says so.
fn is_signed(id: &Uuid, old: &Dose, knows: &Knowledge<'_>) -> bool {
    old.signature.is_some() || knows.signed.contains_key(id)
}

/// The first of a recorded dose's fields that differ, by name.
fn edited_field(old: &Dose, new: &Dose) -> Option<&'static str> {
    [
        ("vắc xin", old.vaccine == new.vaccine),
        ("số lô", old.lot == new.lot),
        ("mũi thứ", old.dose_number == new.dose_number),
        ("loại mũi", old.kind == new.kind),
        ("thời điểm tiêm", old.given_at == new.given_at),
        ("cơ sở tiêm", old.facility == new.facility),
        ("người tiêm", old.vaccinator == new.vaccinator),
        ("địa điểm", old.place == new.place),
        ("nguồn (mũi tiêm nơi khác)", old.history == new.history),
    ]
    .into_iter()
    .find(|(_, same)| !same)
    .map(|(field, _)| field)
}

/// A dose the record already held, before and after.
fn check_recorded(
    before: &Person,
    old: &Dose,
    after: &Person,
    new: &Dose,
    meta: &CommitMeta,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    let dose_number = old.dose_number;
    let signed = is_signed(&old.id, old, knows);
    if let Some(field) = edited_field(old, new) {
        return Err(if signed {
            Violation::SignedDoseFrozen { dose_number }
        } else {
            Violation::DoseEdited { dose_number, field }
        });
    }
    match (&old.voided, &new.voided) {
        (Some(_), None) => return Err(Violation::DoseUnvoided { dose_number }),
        // Two stations voided the dose at the same time and the merge kept the other voiding:
        // the dose stays voided; that voiding must be the writer's own, like any other.
        (Some(_), Some(v)) if Some(v) != old.voided.as_ref() => {
            check_void(v, dose_number, writer, knows)?
        }
        (None, Some(v)) => {
            check_void(v, dose_number, writer, knows)?;
            // Undoing a signed record (and the passport built on it) needs a fresh code.
            if signed {
                let fields = [super::SensitiveField::SignedDose].into_iter().collect();
                super::grant_covers(meta, writer, knows, after.id, &fields)
                    .map_err(|why| Violation::SignedVoidNeedsCode { dose_number, why })?;
            }
        }
        _ => {}
    }
    match (&old.signature, &new.signature) {
        (Some(_), s) if s != &old.signature => {
            return Err(Violation::SignedDoseFrozen { dose_number });
        }
        (None, Some(s)) => backed(&old.id, dose_number, s, writer, knows)?,
        _ => {}
    }
    // What a signature covers stays as it was signed while the dose stands.
    if signed && new.voided.is_none() && record_hash(before, old) != record_hash(after, new) {
        return Err(Violation::IdentityFrozen { dose_number });
    }
    Ok(())
}

/// A voiding is in the writer's own name, not in the future.
fn check_void(
    v: &Voided,
    dose_number: u8,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    if v.by != writer.user {
        return Err(Violation::VoidAsOther {
            dose_number,
            why: "dưới tên người khác",
        });
    }
    if v.at > knows.now + CLOCK_SKEW {
        return Err(Violation::VoidAsOther {
            dose_number,
            why: "vào thời điểm ở tương lai",
        });
    }
    Ok(())
}

/// A signature mark must name a run the authority accepted for exactly this dose and signer,
/// written by that signer.
fn backed(
    id: &Uuid,
    dose_number: u8,
    sig: &DoseSignature,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    let Some(known) = knows.signed.get(id) else {
        return Err(Violation::SignatureNotBacked {
            dose_number,
            why: "máy chủ chưa nhận lần ký nào cho mũi này",
        });
    };
    if known.batch_id != sig.batch_id || known.signer != sig.signer {
        return Err(Violation::SignatureNotBacked {
            dose_number,
            why: "lần ký ghi trên mũi tiêm khác lần ký máy chủ đã nhận",
        });
    }
    if sig.signer != writer.user {
        return Err(Violation::SignatureNotBacked {
            dose_number,
            why: "dấu đã ký phải do chính người ký ghi",
        });
    }
    Ok(())
}

/// The fields a merge copies from the merged record's dose (all but the id and marks).
fn same_dose(a: &Dose, b: &Dose) -> bool {
    a.vaccine == b.vaccine
        && a.lot == b.lot
        && a.dose_number == b.dose_number
        && a.kind == b.kind
        && a.given_at == b.given_at
        && a.facility == b.facility
        && a.vaccinator == b.vaccinator
        && a.place == b.place
        && a.reaction_notes == b.reaction_notes
        && a.history == b.history
}

/// A new dose: recorded now by the writer, here, in their name — or `copied` by a merge
/// (see [`merge_copy`]).
pub(super) fn check_new(
    dose: &Dose,
    writer: &Writer,
    knows: &Knowledge<'_>,
    copied: bool,
) -> Result<(), Violation> {
    let dose_number = dose.dose_number;
    // (Here too, not only in the role gate: the server's quick path for new doses runs this
    // alone.)
    if !writer.role.writes_people() {
        return Err(Violation::RoleMayNotWrite {
            user: writer.user.clone(),
            role: writer.role.label(),
            what: "ghi mũi tiêm",
        });
    }
    if dose.given_at > knows.now + CLOCK_SKEW {
        return Err(Violation::GivenInFuture { dose_number });
    }
    if dose.signature.is_some() {
        return Err(Violation::SignatureNotBacked {
            dose_number,
            why: "mũi tiêm vừa ghi chưa thể có lần ký nào",
        });
    }
    // Another person's dose id would make this dose take over that one's row, signature and
    // passport wherever records are found by dose id.
    if (knows.dose_elsewhere)(&dose.id) {
        return Err(Violation::DoseIdTaken { dose_number });
    }
    if let Some(v) = &dose.voided {
        check_void(v, dose_number, writer, knows)?;
    }
    if copied {
        return Ok(());
    }
    if let Some(h) = &dose.history {
        // Given elsewhere: recorded in the writer's name; the vaccinator names who gave it.
        if h.recorded_by != writer.user {
            return Err(Violation::NewDoseNotOwn {
                dose_number,
                why: format!(
                    "(tiêm nơi khác) ghi người nhập {} thay vì người đăng nhập {}",
                    h.recorded_by, writer.user
                ),
            });
        }
        return Ok(());
    }
    if dose.facility != writer.device_facility {
        return Err(Violation::NewDoseNotOwn {
            dose_number,
            why: format!(
                "ghi cho cơ sở {} trong khi thiết bị thuộc cơ sở {}",
                dose.facility, writer.device_facility
            ),
        });
    }
    if dose.vaccinator != writer.user {
        return Err(Violation::NewDoseNotOwn {
            dose_number,
            why: format!(
                "ghi người tiêm {} thay vì người đăng nhập {}",
                dose.vaccinator, writer.user
            ),
        });
    }
    Ok(())
}
