//! Rules on the person's own fields: who may write at all, new people, structural fields, the
//! managing facility, merges, verification results and the step-up for sensitive edits.

use super::{CLOCK_SKEW, Knowledge, Violation, Writer, identity_changed, initial_status};
use crate::commit::{CommitAction, CommitMeta};
use crate::person::Person;
use crate::role::Role;

/// The role gate: administrators write nothing; a signer only adds signature marks to existing
/// doses; a vaccinator writes everything but signature marks.
pub(super) fn check_role(
    before: Option<&Person>,
    after: &Person,
    writer: &Writer,
) -> Result<(), Violation> {
    let refuse = |what| Violation::RoleMayNotWrite {
        user: writer.user.clone(),
        role: writer.role.label(),
        what,
    };
    match writer.role {
        Role::SystemAdmin | Role::FacilityAdmin | Role::DistrictOfficer | Role::ProvinceOfficer => {
            Err(refuse("sửa dữ liệu người tiêm"))
        }
        Role::Signer => {
            let Some(before) = before else {
                return Err(refuse("đăng ký người tiêm"));
            };
            // The person as it would be with only the new signature marks of `after`.
            let mut expected = before.clone();
            for (id, dose) in expected.doses.iter_mut() {
                if dose.signature.is_none()
                    && let Some(new) = after.doses.get(id)
                    && new.signature.is_some()
                {
                    dose.signature = new.signature.clone();
                }
            }
            if &expected == after {
                Ok(())
            } else {
                Err(refuse(
                    "sửa hồ sơ hay mũi tiêm (thủ trưởng đơn vị chỉ ghi dấu đã ký)",
                ))
            }
        }
        Role::Vaccinator => {
            let marked = after.doses.values().find(|d| {
                d.signature.is_some()
                    && before
                        .and_then(|b| b.doses.get(&d.id))
                        .is_none_or(|old| old.signature.is_none())
            });
            match marked {
                Some(d) => Err(Violation::SignatureNotBacked {
                    dose_number: d.dose_number,
                    why: "chỉ thủ trưởng đơn vị ghi dấu đã ký, sau khi máy chủ nhận lần ký",
                }),
                None => Ok(()),
            }
        }
    }
}

/// A person registered by the writer: created in their name, now, managed by their facility,
/// never verified, not merged.
pub(super) fn check_new(
    after: &Person,
    meta: &CommitMeta,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    let why = |w: String| Err(Violation::NewPerson { why: w });
    if !matches!(meta.action, CommitAction::Register | CommitAction::Import) {
        return why(format!(
            "phải được tạo bằng đăng ký, không phải \"{}\"",
            meta.action
        ));
    }
    if after.created_by != writer.user {
        return why(format!(
            "ghi người tạo {} thay vì người đăng nhập {}",
            after.created_by, writer.user
        ));
    }
    if after.created_at > knows.now + CLOCK_SKEW {
        return why("có thời điểm tạo ở tương lai".into());
    }
    if !writer.manages(&after.managing_facility) {
        return why(format!(
            "phải do cơ sở của người đăng ký quản lý, không phải {}",
            after.managing_facility
        ));
    }
    if after.merged_into.is_some() {
        return Err(Violation::MergedInto {
            why: "không có ở hồ sơ mới",
        });
    }
    let initial = initial_status(&after.nationality, after.identity.kind);
    if after.verification.status != initial || after.verification.checked_at.is_some() {
        return Err(Violation::VerificationReserved {
            status: after.verification.status.as_str(),
        });
    }
    Ok(())
}

/// An existing person's fields: structure, transfer, merge, verification, step-up.
pub(super) fn check_existing(
    before: &Person,
    after: &Person,
    meta: &CommitMeta,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    for (field, same) in [
        ("mã người", before.id == after.id),
        ("người tạo", before.created_by == after.created_by),
        ("thời điểm tạo", before.created_at == after.created_at),
    ] {
        if !same {
            return Err(Violation::StructuralField { field });
        }
    }
    check_transfer(before, after, meta, writer, knows)?;
    check_merged_into(before, after, meta)?;
    check_verification(before, after)?;
    check_step_up(before, after, meta, writer, knows)
}

fn check_transfer(
    before: &Person,
    after: &Person,
    meta: &CommitMeta,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    if before.managing_facility == after.managing_facility {
        return Ok(());
    }
    let refuse = |why| {
        Err(Violation::TransferNotAllowed {
            from: before.managing_facility.clone(),
            to: after.managing_facility.clone(),
            why,
        })
    };
    if meta.action != CommitAction::Transfer {
        return refuse("chỉ đổi được bằng thao tác chuyển cơ sở quản lý");
    }
    if !writer.manages(&before.managing_facility) {
        return refuse("chỉ cơ sở đang quản lý mới chuyển được");
    }
    if !(knows.facility_exists)(&after.managing_facility) {
        return refuse("cơ sở nhận không có trên máy chủ");
    }
    let mut moved = before.clone();
    moved.managing_facility = after.managing_facility.clone();
    if &moved != after {
        return refuse("thao tác chuyển không được sửa gì khác");
    }
    Ok(())
}

fn check_merged_into(before: &Person, after: &Person, meta: &CommitMeta) -> Result<(), Violation> {
    if before.merged_into == after.merged_into {
        return Ok(());
    }
    if before.merged_into.is_some() {
        return Err(Violation::MergedInto {
            why: "đã đặt thì không đổi hay bỏ được",
        });
    }
    if meta.action != CommitAction::Merge {
        return Err(Violation::MergedInto {
            why: "chỉ được đặt khi gộp hồ sơ",
        });
    }
    if after.merged_into == Some(after.id) {
        return Err(Violation::MergedInto {
            why: "không gộp một hồ sơ vào chính nó",
        });
    }
    // Its doses move to the kept record, which may copy only voided ones: a record merged with
    // standing doses would let them be counted twice.
    if after.doses.values().any(|d| d.voided.is_none()) {
        return Err(Violation::MergedInto {
            why: "chỉ được đặt khi mọi mũi tiêm còn lại của hồ sơ được huỷ cùng lúc",
        });
    }
    Ok(())
}

/// A device writes no verification result: only the status of a never-checked person, and that
/// status whenever the fields matched against the population database change.
fn check_verification(before: &Person, after: &Person) -> Result<(), Violation> {
    let initial = initial_status(&after.nationality, after.identity.kind);
    let reset = after.verification.status == initial && after.verification.checked_at.is_none();
    if after.verification != before.verification && !reset {
        return Err(Violation::VerificationReserved {
            status: after.verification.status.as_str(),
        });
    }
    if identity_changed(before, after) && !reset {
        return Err(Violation::VerificationNotReset);
    }
    Ok(())
}

/// Sensitive fields of a person another facility manages change only with the server's grant.
fn check_step_up(
    before: &Person,
    after: &Person,
    meta: &CommitMeta,
    writer: &Writer,
    knows: &Knowledge<'_>,
) -> Result<(), Violation> {
    let fields = super::sensitive_changes(before, after);
    if fields.is_empty() || writer.manages(&before.managing_facility) {
        return Ok(());
    }
    super::grant_covers(meta, writer, knows, after.id, &fields)
        .map_err(|why| Violation::step_up(&fields, &before.managing_facility, why))
}
