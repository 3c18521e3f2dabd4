//! The rulebook, one row per rule: the write, who makes it, and the rule it breaks (or none).

use super::*;
use crate::commit::{CommitAction, CommitMeta};
use crate::person::{
    Address, BirthDate, Dose, DoseHistory, DoseKind, DoseSignature, Gender, HistorySource,
    Identity, IdentityKind, Verification, VerificationStatus, Voided,
};
use std::collections::{BTreeMap, BTreeSet};
use time::macros::{date, datetime};

const NOW: OffsetDateTime = datetime!(2026-11-20 10:00:00 +7);

fn writer(user: &str, role: Role) -> Writer {
    Writer {
        user: user.into(),
        role,
        device_facility: "TYT-TANNHUT".into(),
        own: ["TYT-TANNHUT", "TYT-TANNHUT-LD"]
            .into_iter()
            .map(String::from)
            .collect(),
    }
}

fn nurse() -> Writer {
    writer("nv.lan", Role::Vaccinator)
}

fn dose(number: u8, signed: bool) -> Dose {
    Dose {
        id: Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + u128::from(number)),
        vaccine: "EU/1/20/1528".into(),
        lot: "FF2588".into(),
        dose_number: number,
        kind: DoseKind::Primary,
        given_at: datetime!(2026-10-01 09:00:00 +7),
        facility: "TYT-TANNHUT".into(),
        vaccinator: "nv.lan".into(),
        place: None,
        reaction_notes: None,
        voided: None,
        history: None,
        signature: signed.then(|| DoseSignature {
            batch_id: Uuid::from_u128(7),
            signer: "bs.hung".into(),
            signed_at: datetime!(2026-10-01 17:00:00 +7),
        }),
    }
}

/// Trần Thị Bích Ngọc of Tân Nhựt, matched, dose 1 signed and dose 2 not.
fn ngoc() -> Person {
    let doses = [dose(1, true), dose(2, false)];
    Person {
        id: Uuid::from_u128(0x0193_1111_0000_7000_8000_0000_0000_0001),
        full_name: "Trần Thị Bích Ngọc".into(),
        gender: Gender::Female,
        birth_date: BirthDate::Full(date!(2003 - 11 - 17)),
        identity: Identity {
            kind: IdentityKind::Cccd,
            number: Some("079303004321".into()),
        },
        phone: Some("0903123456".into()),
        address: Address {
            province: Some("TP Hồ Chí Minh".into()),
            commune: Some("Xã Tân Nhựt".into()),
            hamlet: None,
            detail: Some("Ấp 3".into()),
        },
        caregiver: None,
        nationality: "VN".into(),
        insurance_number: None,
        managing_facility: "TYT-TANNHUT".into(),
        created_by: "nv.lan".into(),
        created_at: datetime!(2026-09-01 08:00:00 +7),
        verification: Verification {
            status: VerificationStatus::Matched,
            checked_at: Some(datetime!(2026-09-02 07:00:00 +7)),
        },
        merged_into: None,
        doses: doses.into_iter().map(|d| (d.id, d)).collect(),
    }
}

fn signed_map() -> BTreeMap<Uuid, SignedDose> {
    [(
        dose(1, true).id,
        SignedDose {
            batch_id: Uuid::from_u128(7),
            signer: "bs.hung".into(),
        },
    )]
    .into_iter()
    .collect()
}

fn grant(fields: &[SensitiveField]) -> Grant {
    Grant {
        id: "grant-1".into(),
        user: "nv.lan".into(),
        person_id: ngoc().id,
        fields: fields.iter().copied().collect(),
        expires_at: NOW + GRANT_LIFETIME,
    }
}

/// One row: a write and what the rulebook must say of it.
struct Row {
    name: &'static str,
    before: Option<Person>,
    after: Person,
    meta: CommitMeta,
    writer: Writer,
    signed: BTreeMap<Uuid, SignedDose>,
    grant: Option<Grant>,
    merge_source: Option<Person>,
    /// Whether the authority knows [`TAKEN_DOSE`] as another person's dose.
    dose_elsewhere: bool,
    expect: Option<&'static str>,
}

fn row(name: &'static str, action: CommitAction, edit: impl FnOnce(&mut Person)) -> Row {
    let before = ngoc();
    let mut after = before.clone();
    edit(&mut after);
    Row {
        name,
        before: Some(before),
        after,
        meta: CommitMeta::new("nv.lan", action),
        writer: nurse(),
        signed: signed_map(),
        grant: None,
        merge_source: None,
        dose_elsewhere: false,
        expect: None,
    }
}

impl Row {
    fn refused(mut self, rule: &'static str) -> Row {
        self.expect = Some(rule);
        self
    }
    fn by(mut self, writer: Writer) -> Row {
        self.meta.user = writer.user.clone();
        self.writer = writer;
        self
    }
    fn managed_elsewhere(mut self) -> Row {
        for p in self
            .before
            .iter_mut()
            .chain(std::iter::once(&mut self.after))
        {
            p.managing_facility = "TYT-TANTUC".into();
        }
        self
    }
    fn with_grant(mut self, g: Grant) -> Row {
        self.meta.grant = Some(g.id.clone());
        self.grant = Some(g);
        self
    }
    fn new_person(mut self) -> Row {
        self.before = None;
        self.after.verification = Verification {
            status: VerificationStatus::Unverified,
            checked_at: None,
        };
        for d in self.after.doses.values_mut() {
            d.signature = None;
        }
        self.meta.action = CommitAction::Register;
        self
    }
}

fn unverified(p: &mut Person) {
    p.verification = Verification {
        status: VerificationStatus::Unverified,
        checked_at: None,
    };
}

/// Makes a new dose one given at a private clinic and typed in by the nurse.
fn elsewhere(d: &mut Dose) {
    d.facility = String::new();
    d.vaccinator = "BS. Phạm Văn Dũng".into();
    d.place = Some("Phòng khám Đa khoa Medic, TP Hồ Chí Minh".into());
    d.given_at = datetime!(2026-11-02 09:00:00 +7);
    d.history = Some(DoseHistory {
        source: HistorySource::Private,
        recorded_by: "nv.lan".into(),
    });
}

fn rows() -> Vec<Row> {
    let d1 = dose(1, true).id;
    let d2 = dose(2, false).id;
    let new_dose = |p: &mut Person, f: &dyn Fn(&mut Dose)| {
        let mut d = dose(3, false);
        d.given_at = datetime!(2026-11-20 09:30:00 +7);
        f(&mut d);
        p.doses.insert(d.id, d);
    };
    let mut merged = ngoc();
    merged.id = Uuid::from_u128(99);
    let mut moved = dose(3, false);
    moved.facility = "TYT-TANTUC".into();
    moved.vaccinator = "nv.tuc".into();
    merged.doses = [(
        moved.id,
        Dose {
            voided: Some(Voided {
                by: "nv.lan".into(),
                at: NOW,
                reason: "Gộp hồ sơ".into(),
            }),
            ..moved.clone()
        },
    )]
    .into_iter()
    .collect();
    merged.merged_into = Some(ngoc().id);
    // A record nobody merged: its doses are its own.
    let mut unmerged = merged.clone();
    unmerged.merged_into = None;
    vec![
        // Who writes.
        row("a phone edit by its author", CommitAction::Edit, |p| {
            p.phone = Some("0987654321".into())
        }),
        {
            let mut r = row(
                "a change claiming another author",
                CommitAction::Edit,
                |p| p.phone = Some("0987654321".into()),
            );
            r.meta.user = "nv.mai".into();
            r.refused("author")
        },
        row("an administrator writes nothing", CommitAction::Edit, |p| {
            p.phone = Some("0987654321".into())
        })
        .by(writer("qt.tinh", Role::SystemAdmin))
        .refused("role"),
        row("a facility admin writes nothing", CommitAction::Edit, |p| {
            p.phone = Some("0987654321".into())
        })
        .by(writer("qt.tram", Role::FacilityAdmin))
        .refused("role"),
        {
            let mut r = row(
                "a signer marks a dose of an accepted run",
                CommitAction::Sign,
                |p| {
                    p.doses.get_mut(&d2).unwrap().signature = Some(DoseSignature {
                        batch_id: Uuid::from_u128(8),
                        signer: "bs.hung".into(),
                        signed_at: NOW,
                    })
                },
            )
            .by(writer("bs.hung", Role::Signer));
            r.signed.insert(
                d2,
                SignedDose {
                    batch_id: Uuid::from_u128(8),
                    signer: "bs.hung".into(),
                },
            );
            r
        },
        row("a signer edits a phone", CommitAction::Sign, |p| {
            p.phone = Some("0987654321".into())
        })
        .by(writer("bs.hung", Role::Signer))
        .refused("role"),
        // Validation.
        row("a phone that is not one", CommitAction::Edit, |p| {
            p.phone = Some("12345".into())
        })
        .refused("invalid"),
        // New people.
        row("a person registered here", CommitAction::Register, |_| {}).new_person(),
        row(
            "a person registered for another facility",
            CommitAction::Register,
            |p| p.managing_facility = "TYT-TANTUC".into(),
        )
        .new_person()
        .refused("new_person"),
        row(
            "a person registered in another's name",
            CommitAction::Register,
            |p| p.created_by = "nv.mai".into(),
        )
        .new_person()
        .refused("new_person"),
        {
            let mut r = row(
                "a person registered already matched",
                CommitAction::Register,
                |_| {},
            )
            .new_person();
            r.after.verification.status = VerificationStatus::Matched;
            r.refused("verification_reserved")
        },
        // Structure.
        row("the creator rewritten", CommitAction::Edit, |p| {
            p.created_by = "nv.mai".into()
        })
        .refused("structural_field"),
        row(
            "the managing facility changed by an edit",
            CommitAction::Edit,
            |p| p.managing_facility = "TYT-TANTUC".into(),
        )
        .refused("transfer"),
        row(
            "a transfer by the managing facility",
            CommitAction::Transfer,
            |p| p.managing_facility = "TYT-TANTUC".into(),
        ),
        row(
            "a transfer to a facility nobody knows",
            CommitAction::Transfer,
            |p| p.managing_facility = "TYT-MATTICH".into(),
        )
        .refused("transfer"),
        row("a transfer that edits too", CommitAction::Transfer, |p| {
            p.managing_facility = "TYT-TANTUC".into();
            p.phone = None;
        })
        .refused("transfer"),
        {
            // (Its signed dose was voided earlier, as the station requires before a merge.)
            let void = |p: &mut Person, id: Uuid| {
                p.doses.get_mut(&id).unwrap().voided = Some(Voided {
                    by: "nv.lan".into(),
                    at: NOW,
                    reason: "Gộp hồ sơ".into(),
                })
            };
            let mut r = row(
                "a record merged into another, its standing doses voided",
                CommitAction::Merge,
                |p| {
                    void(p, d1);
                    void(p, d2);
                    p.merged_into = Some(Uuid::from_u128(99))
                },
            );
            void(r.before.as_mut().unwrap(), d1);
            r
        },
        {
            let mut r = row(
                "a record merged into another with a dose standing",
                CommitAction::Merge,
                |p| p.merged_into = Some(Uuid::from_u128(99)),
            );
            let before = r.before.as_mut().unwrap();
            before.doses.get_mut(&d1).unwrap().voided = Some(Voided {
                by: "nv.lan".into(),
                at: NOW,
                reason: "Tiêm nhầm".into(),
            });
            r.refused("merge")
        },
        row("merged_into set by an edit", CommitAction::Edit, |p| {
            p.merged_into = Some(Uuid::from_u128(99))
        })
        .refused("merge"),
        // Verification.
        row(
            "a device resets the verification",
            CommitAction::Edit,
            unverified,
        ),
        row("a device writes invalid_id", CommitAction::Edit, |p| {
            p.verification.status = VerificationStatus::InvalidId
        })
        .refused("verification_reserved"),
        row("a name corrected keeps matched", CommitAction::Edit, |p| {
            p.full_name = "Trần Thị Bích Ngân".into();
            p.doses.get_mut(&d1).unwrap().voided = Some(Voided {
                by: "nv.lan".into(),
                at: NOW,
                reason: "Sai tên, nhập lại".into(),
            });
        })
        .refused("verification_not_reset"),
        // Step-up for another facility's person.
        row(
            "an address edit of another facility's person with no code",
            CommitAction::Edit,
            |p| p.address.detail = Some("Ấp 5".into()),
        )
        .managed_elsewhere()
        .refused("step_up_required"),
        row(
            "an address edit of another facility's person with a grant",
            CommitAction::Edit,
            |p| p.address.detail = Some("Ấp 5".into()),
        )
        .managed_elsewhere()
        .with_grant(grant(&[SensitiveField::Address])),
        row("a grant for other fields", CommitAction::Edit, |p| {
            p.address.detail = Some("Ấp 5".into())
        })
        .managed_elsewhere()
        .with_grant(grant(&[SensitiveField::FullName]))
        .refused("step_up_required"),
        {
            let mut g = grant(&[SensitiveField::Address]);
            g.expires_at = NOW - Duration::minutes(1);
            row("an expired grant", CommitAction::Edit, |p| {
                p.address.detail = Some("Ấp 5".into())
            })
            .managed_elsewhere()
            .with_grant(g)
            .refused("step_up_required")
        },
        {
            let mut g = grant(&[SensitiveField::Address]);
            g.user = "nv.mai".into();
            row("another user's grant", CommitAction::Edit, |p| {
                p.address.detail = Some("Ấp 5".into())
            })
            .managed_elsewhere()
            .with_grant(g)
            .refused("step_up_required")
        },
        row(
            "a phone edit of another facility's person needs no code",
            CommitAction::Edit,
            |p| p.phone = Some("0987654321".into()),
        )
        .managed_elsewhere(),
        // Signed doses.
        row("a signed dose's lot changed", CommitAction::Edit, |p| {
            p.doses.get_mut(&d1).unwrap().lot = "FF2589".into()
        })
        .refused("signed_dose_frozen"),
        row(
            "a signed dose's signature removed",
            CommitAction::Edit,
            |p| p.doses.get_mut(&d1).unwrap().signature = None,
        )
        .refused("signed_dose_frozen"),
        {
            // Accepted by the server, not yet marked in the record: frozen all the same.
            let mut r = row(
                "a dose of an accepted run, not yet marked, edited",
                CommitAction::Edit,
                |p| p.doses.get_mut(&d2).unwrap().lot = "FF9999".into(),
            );
            r.signed.insert(
                d2,
                SignedDose {
                    batch_id: Uuid::from_u128(8),
                    signer: "bs.hung".into(),
                },
            );
            r.refused("signed_dose_frozen")
        },
        row(
            "a birth date under a signed dose",
            CommitAction::Edit,
            |p| {
                p.birth_date = BirthDate::Full(date!(2003 - 11 - 18));
                unverified(p);
            },
        )
        .refused("identity_frozen"),
        row(
            "a birth date once the signed dose is voided",
            CommitAction::Edit,
            |p| {
                p.birth_date = BirthDate::Full(date!(2003 - 11 - 18));
                unverified(p);
                p.doses.get_mut(&d1).unwrap().voided = Some(Voided {
                    by: "nv.lan".into(),
                    at: NOW,
                    reason: "Sai ngày sinh, ký lại".into(),
                });
            },
        )
        .with_grant(grant(&[SensitiveField::SignedDose])),
        {
            let void_signed = |p: &mut Person| {
                p.doses.get_mut(&d1).unwrap().voided = Some(Voided {
                    by: "nv.lan".into(),
                    at: NOW,
                    reason: "Ghi nhầm người, huỷ mũi đã ký".into(),
                })
            };
            row(
                "a signed dose voided without a code",
                CommitAction::Void,
                void_signed,
            )
            .refused("signed_void_needs_code")
        },
        row(
            "a signed dose voided with a code for it",
            CommitAction::Void,
            |p| {
                p.doses.get_mut(&d1).unwrap().voided = Some(Voided {
                    by: "nv.lan".into(),
                    at: NOW,
                    reason: "Ghi nhầm người, huỷ mũi đã ký".into(),
                })
            },
        )
        .with_grant(grant(&[SensitiveField::SignedDose])),
        row(
            "a signed dose voided with a code for an address",
            CommitAction::Void,
            |p| {
                p.doses.get_mut(&d1).unwrap().voided = Some(Voided {
                    by: "nv.lan".into(),
                    at: NOW,
                    reason: "Ghi nhầm người, huỷ mũi đã ký".into(),
                })
            },
        )
        .with_grant(grant(&[SensitiveField::Address]))
        .refused("signed_void_needs_code"),
        {
            let mut g = grant(&[SensitiveField::SignedDose]);
            g.user = "nv.binh".into();
            row(
                "a signed dose voided with another's code",
                CommitAction::Void,
                |p| {
                    p.doses.get_mut(&d1).unwrap().voided = Some(Voided {
                        by: "nv.lan".into(),
                        at: NOW,
                        reason: "Ghi nhầm người, huỷ mũi đã ký".into(),
                    })
                },
            )
            .with_grant(g)
            .refused("signed_void_needs_code")
        },
        row(
            "a mark for a run the server never accepted",
            CommitAction::Sign,
            |p| {
                p.doses.get_mut(&d2).unwrap().signature = Some(DoseSignature {
                    batch_id: Uuid::from_u128(666),
                    signer: "bs.hung".into(),
                    signed_at: NOW,
                })
            },
        )
        .by(writer("bs.hung", Role::Signer))
        .refused("signature_not_backed"),
        row(
            "a vaccinator marks a dose signed",
            CommitAction::Edit,
            |p| {
                p.doses.get_mut(&d2).unwrap().signature = Some(DoseSignature {
                    batch_id: Uuid::from_u128(8),
                    signer: "bs.hung".into(),
                    signed_at: NOW,
                })
            },
        )
        .refused("signature_not_backed"),
        // Dose history.
        row("a dose removed", CommitAction::Edit, |p| {
            p.doses.remove(&d2);
        })
        .refused("dose_deleted"),
        row("a dose voided by its writer", CommitAction::Void, |p| {
            p.doses.get_mut(&d2).unwrap().voided = Some(Voided {
                by: "nv.lan".into(),
                at: NOW,
                reason: "Nhập nhầm người".into(),
            })
        }),
        row("a dose voided in another's name", CommitAction::Void, |p| {
            p.doses.get_mut(&d2).unwrap().voided = Some(Voided {
                by: "nv.mai".into(),
                at: NOW,
                reason: "Nhập nhầm người".into(),
            })
        })
        .refused("void_as_other"),
        {
            let mut r = row("a voided dose restored", CommitAction::Edit, |p| {
                p.doses.get_mut(&d2).unwrap().voided = None
            });
            r.before
                .as_mut()
                .unwrap()
                .doses
                .get_mut(&d2)
                .unwrap()
                .voided = Some(Voided {
                by: "nv.lan".into(),
                at: NOW,
                reason: "Nhập nhầm người".into(),
            });
            r.refused("dose_unvoided")
        },
        {
            // Voided at two stations at once; the merge kept this writer's voiding.
            let mut r = row("a dose voided twice at once", CommitAction::Void, |p| {
                p.doses.get_mut(&d2).unwrap().voided = Some(Voided {
                    by: "nv.lan".into(),
                    at: NOW,
                    reason: "Trùng mũi".into(),
                })
            });
            r.before
                .as_mut()
                .unwrap()
                .doses
                .get_mut(&d2)
                .unwrap()
                .voided = Some(Voided {
                by: "nv.mai".into(),
                at: NOW,
                reason: "Nhập nhầm người".into(),
            });
            r
        },
        {
            let mut r = row(
                "a voiding rewritten in another's name",
                CommitAction::Void,
                |p| {
                    p.doses.get_mut(&d2).unwrap().voided = Some(Voided {
                        by: "nv.thu".into(),
                        at: NOW,
                        reason: "Trùng mũi".into(),
                    })
                },
            );
            r.before
                .as_mut()
                .unwrap()
                .doses
                .get_mut(&d2)
                .unwrap()
                .voided = Some(Voided {
                by: "nv.mai".into(),
                at: NOW,
                reason: "Nhập nhầm người".into(),
            });
            r.refused("void_as_other")
        },
        row("an unsigned dose's lot changed", CommitAction::Edit, |p| {
            p.doses.get_mut(&d2).unwrap().lot = "AB1234".into()
        })
        .refused("dose_edited"),
        row("a reaction noted later", CommitAction::Edit, |p| {
            p.doses.get_mut(&d2).unwrap().reaction_notes = Some("Sốt nhẹ".into())
        }),
        // New doses.
        row("a dose recorded here", CommitAction::Dose, |p| {
            new_dose(p, &|_| {})
        }),
        row(
            "a dose recorded for another facility",
            CommitAction::Dose,
            |p| new_dose(p, &|d| d.facility = "TYT-TANTUC".into()),
        )
        .refused("new_dose_not_own"),
        row(
            "a dose recorded in another vaccinator's name",
            CommitAction::Dose,
            |p| new_dose(p, &|d| d.vaccinator = "nv.mai".into()),
        )
        .refused("new_dose_not_own"),
        row("a dose given tomorrow", CommitAction::Dose, |p| {
            new_dose(p, &|d| d.given_at = NOW + Duration::days(1))
        })
        .refused("given_in_future"),
        // Doses given elsewhere, recorded as history.
        row(
            "a dose given elsewhere names who gave it and who typed it",
            CommitAction::Dose,
            |p| new_dose(p, &elsewhere),
        ),
        row(
            "a dose given elsewhere typed in another clerk's name",
            CommitAction::Dose,
            |p| {
                new_dose(p, &|d| {
                    elsewhere(d);
                    if let Some(h) = d.history.as_mut() {
                        h.recorded_by = "nv.mai".into();
                    }
                })
            },
        )
        .refused("new_dose_not_own"),
        row(
            "a dose given elsewhere on the day a recorded dose of that vaccine was given",
            CommitAction::Dose,
            |p| {
                new_dose(p, &|d| {
                    elsewhere(d);
                    d.given_at = datetime!(2026-10-01 15:00:00 +7);
                })
            },
        )
        .refused("history_contradicts"),
        row(
            "a dose given elsewhere claimed for a facility of the system",
            CommitAction::Dose,
            |p| {
                new_dose(p, &|d| {
                    elsewhere(d);
                    d.facility = "TYT-TANNHUT".into();
                })
            },
        )
        .refused("invalid"),
        row(
            "a dose given elsewhere without where",
            CommitAction::Dose,
            |p| {
                new_dose(p, &|d| {
                    elsewhere(d);
                    d.place = None;
                })
            },
        )
        .refused("invalid"),
        row(
            "a dose recorded here turned into history afterwards",
            CommitAction::Edit,
            |p| {
                // Even shaped as a valid history dose, it is an edit of a recorded one.
                let d = p.doses.get_mut(&d2).unwrap();
                d.facility = String::new();
                d.place = Some("Trạm Y tế xã Tân Túc".into());
                d.history = Some(DoseHistory {
                    source: HistorySource::Card,
                    recorded_by: "nv.lan".into(),
                });
            },
        )
        .refused("dose_edited"),
        {
            let mut r = row(
                "a merge copies the merged record's dose",
                CommitAction::Merge,
                |p| {
                    let mut d = moved.clone();
                    d.id = Uuid::from_u128(1234);
                    p.doses.insert(d.id, d);
                },
            );
            r.meta.merged_from = Some(merged.id);
            r.merge_source = Some(merged.clone());
            r
        },
        {
            let mut r = row(
                "a merge brings a dose the merged record never had",
                CommitAction::Merge,
                |p| {
                    let mut d = moved.clone();
                    d.id = Uuid::from_u128(1234);
                    d.lot = "ZZ0001".into();
                    p.doses.insert(d.id, d);
                },
            );
            r.meta.merged_from = Some(merged.id);
            r.merge_source = Some(merged.clone());
            r.refused("new_dose_not_own")
        },
        {
            let mut r = row(
                "a \"merge\" copies the dose of a record that is not merged into this one",
                CommitAction::Merge,
                |p| {
                    let mut d = moved.clone();
                    d.id = Uuid::from_u128(1234);
                    p.doses.insert(d.id, d);
                },
            );
            r.meta.merged_from = Some(unmerged.id);
            r.merge_source = Some(unmerged.clone());
            r.refused("new_dose_not_own")
        },
        {
            let mut r = row(
                "a merge copies the merged record's dose twice",
                CommitAction::Merge,
                |p| {
                    for n in [1234, 1235] {
                        let mut d = moved.clone();
                        d.id = Uuid::from_u128(n);
                        p.doses.insert(d.id, d);
                    }
                },
            );
            r.meta.merged_from = Some(merged.id);
            r.merge_source = Some(merged.clone());
            r.refused("new_dose_not_own")
        },
        {
            let mut r = row(
                "a dose recorded with the id of another person's dose",
                CommitAction::Dose,
                |p| new_dose(p, &|d| d.id = TAKEN_DOSE),
            );
            r.dose_elsewhere = true;
            r.refused("dose_id_taken")
        },
    ]
}

/// The id of a dose another person's record holds, in the rows that say so.
const TAKEN_DOSE: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0777);

#[test]
fn every_rule_accepts_the_honest_write_and_refuses_the_other() {
    let known = |code: &str| code != "TYT-MATTICH";
    let mut refused_rules = BTreeSet::new();
    for r in rows() {
        let taken = |id: &Uuid| r.dose_elsewhere && *id == TAKEN_DOSE;
        let knows = Knowledge {
            now: NOW,
            signed: &r.signed,
            grant: r.grant.as_ref(),
            merge_source: r.merge_source.as_ref(),
            facility_exists: &known,
            dose_elsewhere: &taken,
        };
        let got = check_write(r.before.as_ref(), &r.after, &r.meta, &r.writer, &knows);
        match (r.expect, got) {
            (None, Ok(())) => {}
            (Some(code), Err(v)) => {
                assert_eq!(v.code(), code, "{}: {v}", r.name);
                assert!(!v.to_string().is_empty());
                refused_rules.insert(code);
            }
            (expect, got) => panic!("{}: expected {expect:?}, got {got:?}", r.name),
        }
    }
    // Every rule the person check can break has a refusing row.
    for rule in [
        Rule::Author,
        Rule::Role,
        Rule::StructuralField,
        Rule::Transfer,
        Rule::NewPerson,
        Rule::Merge,
        Rule::VerificationReserved,
        Rule::VerificationNotReset,
        Rule::StepUpRequired,
        Rule::SignedDoseFrozen,
        Rule::IdentityFrozen,
        Rule::SignedVoidNeedsCode,
        Rule::SignatureNotBacked,
        Rule::DoseDeleted,
        Rule::DoseUnvoided,
        Rule::DoseEdited,
        Rule::VoidAsOther,
        Rule::NewDoseNotOwn,
        Rule::GivenInFuture,
        Rule::DoseIdTaken,
        Rule::HistoryContradicts,
    ] {
        assert!(refused_rules.contains(rule.code()), "no row refuses {rule}");
    }
}

mod changes {
    use super::*;
    use crate::document::PersonDoc;
    use automerge::{ActorId, Change, ExpandedChange};

    fn creation() -> (PersonDoc, Change) {
        let doc = PersonDoc::create(
            ActorId::from(vec![1u8; 16]),
            &ngoc(),
            &CommitMeta::new("nv.lan", CommitAction::Register),
        )
        .unwrap();
        let change = doc.changes_since(&[]).remove(0);
        (doc, change)
    }

    fn edit(doc: &PersonDoc) -> Change {
        let mut doc = PersonDoc::load_as(&doc.save(), ActorId::from(vec![2u8; 16])).unwrap();
        let heads = doc.heads();
        let mut p = doc.read().unwrap();
        p.phone = Some("0987654321".into());
        doc.update(&p, &CommitMeta::new("nv.lan", CommitAction::Edit))
            .unwrap();
        doc.changes_since(&heads).remove(0)
    }

    #[test]
    fn an_honest_change_passes_and_returns_its_meta() {
        let (doc, created) = creation();
        assert_eq!(
            check_change(&created, "nv.lan", false).unwrap().action,
            CommitAction::Register
        );
        assert_eq!(
            check_change(&edit(&doc), "nv.lan", true).unwrap().action,
            CommitAction::Edit
        );
    }

    #[test]
    fn a_change_pushed_by_another_user_or_without_author_is_refused() {
        let (doc, _) = creation();
        let e = edit(&doc);
        assert_eq!(
            check_change(&e, "bs.hung", true).unwrap_err().code(),
            "author"
        );
        let mut bare: ExpandedChange = (&e).into();
        bare.message = None;
        assert_eq!(
            check_change(&Change::from(bare), "nv.lan", true)
                .unwrap_err()
                .code(),
            "author"
        );
    }

    #[test]
    fn a_change_without_history_for_an_existing_person_is_refused() {
        let (_, created) = creation();
        assert_eq!(
            check_change(&created, "nv.lan", true).unwrap_err(),
            Violation::Detached
        );
    }

    #[test]
    fn counters_near_the_integer_limits_are_refused() {
        let (doc, _) = creation();
        for start in [MAX_OP_COUNTER, u64::from(u32::MAX) - 1, u64::MAX - 1] {
            let mut forged: ExpandedChange = (&edit(&doc)).into();
            forged.start_op = std::num::NonZeroU64::new(start).unwrap();
            assert_eq!(
                check_change(&Change::from(forged), "nv.lan", true)
                    .unwrap_err()
                    .code(),
                "counter",
                "{start}"
            );
        }
    }

    #[test]
    fn unknown_keys_conflicts_and_size_are_checked_on_the_document() {
        let ok = crate::document::DocIssues::default();
        assert!(check_document(&ok, 2_000).is_ok());
        let unknown = crate::document::DocIssues {
            unknown: vec!["padding".into()],
            ..ok.clone()
        };
        assert_eq!(
            check_document(&unknown, 2_000).unwrap_err().code(),
            "unknown_field"
        );
        let conflict = crate::document::DocIssues {
            conflicts: vec!["managing_facility".into()],
            ..ok.clone()
        };
        assert_eq!(
            check_document(&conflict, 2_000).unwrap_err().code(),
            "structural_conflict"
        );
        assert_eq!(
            check_document(&ok, MAX_DOCUMENT_BYTES + 1)
                .unwrap_err()
                .code(),
            "document_too_large"
        );
    }
}

#[test]
fn the_quick_check_of_a_new_dose_keeps_the_role_gate() {
    let mut d = dose(3, false);
    d.given_at = NOW - Duration::minutes(1);
    let none = BTreeMap::new();
    let any = |_: &str| true;
    let knows = Knowledge {
        now: NOW,
        signed: &none,
        grant: None,
        merge_source: None,
        facility_exists: &any,
        dose_elsewhere: &crate::rules::no_dose_elsewhere,
    };
    assert!(check_new_dose(&d, &nurse(), &knows).is_ok());
    // The quick check knows dose ids held by other people, as the full one does.
    let taken = |id: &Uuid| *id == d.id;
    let knows_taken = Knowledge {
        dose_elsewhere: &taken,
        ..knows
    };
    assert_eq!(
        check_new_dose(&d, &nurse(), &knows_taken)
            .unwrap_err()
            .code(),
        "dose_id_taken"
    );
    d.vaccinator = "bs.hung".into();
    let head = writer("bs.hung", Role::Signer);
    assert_eq!(
        check_new_dose(&d, &head, &knows).unwrap_err().code(),
        "role"
    );
}
