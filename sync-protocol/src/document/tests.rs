use super::*;
use crate::commit::CommitAction;
use crate::person::{
    Address, BirthDate, Caregiver, Dose, DoseHistory, DoseKind, DoseSignature, Gender,
    HistorySource, Identity, IdentityKind, Verification, VerificationStatus, VerifiedField, Voided,
    now,
};
use automerge::Value;
use std::collections::BTreeMap;
use time::macros::{date, datetime};
use uuid::Uuid;

fn actor(n: u8) -> ActorId {
    ActorId::from([n; 16].as_slice())
}

fn person() -> Person {
    Person {
        id: Uuid::now_v7(),
        full_name: "Nguyễn Văn An".into(),
        gender: Gender::Male,
        birth_date: BirthDate::Full(date!(1985 - 03 - 02)),
        identity: Identity {
            kind: IdentityKind::Cccd,
            number: Some("001085012345".into()),
        },
        phone: Some("0912345678".into()),
        address: Address {
            province: Some("Hà Nội".into()),
            commune: Some("Phường Ngọc Hà".into()),
            hamlet: None,
            detail: Some("Số 12 ngõ 34 Kim Mã".into()),
        },
        caregiver: None,
        nationality: "VN".into(),
        insurance_number: None,
        managing_facility: "TYT-NGOCHA".into(),
        created_by: "ytetramngocha".into(),
        created_at: datetime!(2025-03-10 08:00:00 +7),
        verification: Verification {
            status: VerificationStatus::Unverified,
            checked_at: None,
        },
        merged_into: None,
        doses: BTreeMap::new(),
    }
}

fn dose(number: u8) -> Dose {
    Dose {
        id: Uuid::now_v7(),
        vaccine: "EU/1/20/1528".into(),
        lot: "FF2588".into(),
        dose_number: number,
        kind: DoseKind::Primary,
        given_at: datetime!(2025-03-10 09:15:00 +7),
        facility: "TYT-NGOCHA".into(),
        vaccinator: "ytetramngocha".into(),
        place: None,
        reaction_notes: None,
        voided: None,
        history: None,
        signature: None,
    }
}

#[test]
fn a_person_with_doses_round_trips_through_save_and_load() {
    let mut p = person();
    let mut d = dose(1);
    d.voided = Some(Voided {
        by: "ytetramngocha".into(),
        at: datetime!(2025-03-10 10:00:00 +7),
        reason: "Nhập nhầm người".into(),
    });
    let mut d2 = dose(2);
    d2.signature = Some(DoseSignature {
        batch_id: Uuid::now_v7(),
        signer: "truongtram".into(),
        signed_at: datetime!(2025-03-10 17:00:00 +7),
    });
    d2.place = Some("Điểm tiêm lưu động thôn 3".into());
    p.doses.insert(d.id, d);
    p.doses.insert(d2.id, d2);
    p.verification = Verification {
        status: VerificationStatus::Mismatched(vec![
            VerifiedField::FullName,
            VerifiedField::BirthDate,
        ]),
        checked_at: Some(datetime!(2025-03-11 07:00:00 +7)),
    };
    let doc = PersonDoc::create(
        actor(1),
        &p,
        &CommitMeta::new("ytetramngocha", CommitAction::Register),
    )
    .unwrap();
    let loaded = PersonDoc::load(&doc.save()).unwrap();
    assert_eq!(loaded.read().unwrap(), p);
    assert_eq!(loaded.heads(), doc.heads());
}

#[test]
fn update_writes_only_the_fields_that_changed() {
    let p = person();
    let mut doc =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    let heads = doc.heads();
    let mut edited = p.clone();
    edited.phone = Some("0987654321".into());
    let hash = doc
        .update(&edited, &CommitMeta::new("a", CommitAction::Edit))
        .unwrap();
    assert!(hash.is_some());
    let changes = doc.changes_since(&heads);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].len(), 1, "one operation for one field");
    assert_eq!(
        doc.update(&edited, &CommitMeta::new("a", CommitAction::Edit))
            .unwrap(),
        None
    );
    assert_eq!(
        CommitMeta::from_change(&changes[0]).map(|m| (m.user, m.action)),
        Some(("a".to_string(), CommitAction::Edit))
    );
}

#[test]
fn doses_cannot_be_removed_through_update() {
    let mut p = person();
    let d = dose(1);
    p.doses.insert(d.id, d);
    let mut doc =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    let mut removed = p.clone();
    removed.doses.clear();
    assert!(
        doc.update(&removed, &CommitMeta::new("a", CommitAction::Edit))
            .is_err()
    );
}

#[test]
fn concurrent_edits_of_different_fields_and_doses_merge() {
    let p = person();
    let base =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    let mut left = PersonDoc::load_as(&base.save(), actor(2)).unwrap();
    let mut right = PersonDoc::load_as(&base.save(), actor(3)).unwrap();

    let mut l = left.read().unwrap();
    l.phone = Some("0987654321".into());
    let dl = dose(1);
    l.doses.insert(dl.id, dl.clone());
    left.update(&l, &CommitMeta::new("left", CommitAction::Dose))
        .unwrap();

    let mut r = right.read().unwrap();
    r.address.detail = Some("Thôn Đông, xã Yên Sở".into());
    let mut dr = dose(2);
    dr.given_at = now();
    r.doses.insert(dr.id, dr.clone());
    right
        .update(&r, &CommitMeta::new("right", CommitAction::Dose))
        .unwrap();

    left.apply_changes(right.changes_since(&base.heads()))
        .unwrap();
    right
        .apply_changes(left.changes_since(&base.heads()))
        .unwrap();
    let merged = left.read().unwrap();
    assert_eq!(merged, right.read().unwrap());
    assert_eq!(merged.doses.len(), 2);
    assert!(merged.doses.contains_key(&dl.id) && merged.doses.contains_key(&dr.id));
    assert_eq!(merged.phone.as_deref(), Some("0987654321"));
    assert_eq!(
        merged.address.detail.as_deref(),
        Some("Thôn Đông, xã Yên Sở")
    );
    assert!(left.conflicts().unwrap().is_empty());
}

#[test]
fn concurrent_edits_of_the_same_sensitive_field_are_reported_as_conflicts() {
    let p = person();
    let base =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    let mut left = PersonDoc::load_as(&base.save(), actor(2)).unwrap();
    let mut right = PersonDoc::load_as(&base.save(), actor(3)).unwrap();
    let mut l = left.read().unwrap();
    l.full_name = "Nguyễn Văn Ân".into();
    left.update(&l, &CommitMeta::new("left", CommitAction::Edit))
        .unwrap();
    let mut r = right.read().unwrap();
    r.full_name = "Nguyễn Văn Anh".into();
    right
        .update(&r, &CommitMeta::new("right", CommitAction::Edit))
        .unwrap();
    left.apply_changes(right.changes_since(&base.heads()))
        .unwrap();
    right
        .apply_changes(left.changes_since(&base.heads()))
        .unwrap();
    assert_eq!(
        left.read().unwrap().full_name,
        right.read().unwrap().full_name
    );
    let conflicts = left.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].field, "full_name");
    let mut values = conflicts[0].values.clone();
    values.sort();
    assert_eq!(values, vec!["Nguyễn Văn Anh", "Nguyễn Văn Ân"]);
}

#[test]
fn two_creations_of_the_same_person_merged_show_as_structural_conflicts() {
    let p = person();
    let mut one =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    let two =
        PersonDoc::create(actor(2), &p, &CommitMeta::new("b", CommitAction::Register)).unwrap();
    assert!(one.structural_conflicts().unwrap().is_empty());
    one.apply_changes(two.changes_since(&[])).unwrap();
    let conflicts = one.structural_conflicts().unwrap();
    assert!(
        conflicts.contains(&"doses".to_string()) && conflicts.contains(&"id".to_string()),
        "{conflicts:?}"
    );
    assert_eq!(one.read_checked().unwrap().1.conflicts, conflicts);
}

#[test]
fn a_new_dose_is_recognised_as_a_pure_addition_and_an_edit_is_not() {
    let mut p = person();
    let d = dose(1);
    p.doses.insert(d.id, d.clone());
    let base =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    let mut doc = PersonDoc::load_as(&base.save(), actor(2)).unwrap();
    let mut added = p.clone();
    let d2 = dose(2);
    added.doses.insert(d2.id, d2);
    doc.update(&added, &CommitMeta::new("a", CommitAction::Dose))
        .unwrap();
    let new_dose = doc.changes_since(&base.heads());
    assert!(base.only_adds_doses(&new_dose));
    let heads = doc.heads();
    let mut voided = added.clone();
    voided.doses.get_mut(&d.id).unwrap().voided = Some(Voided {
        by: "a".into(),
        at: datetime!(2025-03-11 08:00:00 +7),
        reason: "Nhập nhầm".into(),
    });
    doc.update(&voided, &CommitMeta::new("a", CommitAction::Void))
        .unwrap();
    assert!(
        !base.only_adds_doses(&doc.changes_since(&heads)),
        "a void touches an existing dose"
    );
    let heads = doc.heads();
    let mut edited = voided.clone();
    edited.phone = Some("0987654321".into());
    doc.update(&edited, &CommitMeta::new("a", CommitAction::Edit))
        .unwrap();
    assert!(
        !base.only_adds_doses(&doc.changes_since(&heads)),
        "an edit touches the person"
    );
    // Re-adding a dose key the base already has is not an addition.
    let mut forged = PersonDoc::load_as(&base.save(), actor(3)).unwrap();
    let mut again = p.clone();
    again.doses.clear();
    let h = forged.heads();
    forged
        .doc
        .transact::<_, _, automerge::AutomergeError>(|tx| {
            let doses = match tx.get(ROOT, "doses")? {
                Some((Value::Object(_), id)) => id,
                _ => unreachable!(),
            };
            tx.put_object(&doses, d.id.to_string(), ObjType::Map)?;
            Ok(())
        })
        .unwrap();
    assert!(!base.only_adds_doses(&forged.changes_since(&h)));
}

#[test]
fn a_document_missing_a_field_is_rejected_with_its_path() {
    let p = person();
    let mut doc =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    doc.doc
        .transact::<_, _, automerge::AutomergeError>(|tx| tx.delete(ROOT, "full_name"))
        .unwrap();
    assert_eq!(
        doc.read().unwrap_err(),
        SchemaError::Missing("full_name".into())
    );
}

#[test]
fn a_document_from_a_newer_schema_is_refused() {
    let p = person();
    let mut doc =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    doc.doc
        .transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "schema", 2))
        .unwrap();
    assert!(matches!(
        doc.read(),
        Err(SchemaError::UnsupportedVersion { found: 2, .. })
    ));
}

#[test]
fn a_child_with_a_caregiver_a_hamlet_and_a_dose_given_elsewhere_round_trips() {
    let mut p = person();
    p.full_name = "Con bà Lê Thị Thu".into();
    p.identity = Identity::none();
    p.phone = None;
    p.address.hamlet = Some("Thôn Đông".into());
    p.caregiver = Some(Caregiver {
        name: "Lê Thị Thu".into(),
        phone: Some("0912345678".into()),
        relation: Some("mẹ".into()),
    });
    let mut d = dose(1);
    d.vaccine = "hepb".into();
    d.lot = String::new();
    d.facility = String::new();
    d.vaccinator = "NHS Trần Thị Mỹ".into();
    d.place = Some("Bệnh viện Phụ sản Hà Nội".into());
    d.history = Some(DoseHistory {
        source: HistorySource::Facility,
        recorded_by: "ytetramngocha".into(),
    });
    p.doses.insert(d.id, d);
    let mut doc = PersonDoc::create(
        actor(1),
        &p,
        &CommitMeta::new("ytetramngocha", CommitAction::Register),
    )
    .unwrap();
    let loaded = PersonDoc::load(&doc.save()).unwrap();
    let (read, issues) = loaded.read_checked().unwrap();
    assert_eq!(read, p);
    assert_eq!(issues, DocIssues::default());
    // The caregiver's phone changes alone; removing the caregiver leaves none.
    let mut edited = p.clone();
    if let Some(c) = edited.caregiver.as_mut() {
        c.phone = Some("0987654321".into());
    }
    doc.update(&edited, &CommitMeta::new("a", CommitAction::Edit))
        .unwrap();
    assert_eq!(doc.read().unwrap(), edited);
    edited.caregiver = None;
    doc.update(&edited, &CommitMeta::new("a", CommitAction::Edit))
        .unwrap();
    assert_eq!(doc.read().unwrap().caregiver, None);
}

#[test]
fn an_adult_record_keeps_the_layout_it_had_before_children_existed() {
    let mut p = person();
    p.doses.insert(dose(1).id, dose(1));
    let doc =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    let hydrated = doc.doc.hydrate(None);
    let root = layout::root_map(&hydrated).unwrap();
    assert!(root.get("caregiver").is_none(), "no caregiver key");
    let Some(automerge::hydrate::Value::Map(address)) = root.get("address") else {
        panic!("address map");
    };
    assert!(address.get("hamlet").is_none(), "no hamlet key");
    let Some(automerge::hydrate::Value::Map(doses)) = root.get("doses") else {
        panic!("doses map");
    };
    for (_, d) in doses.iter() {
        let automerge::hydrate::Value::Map(d) = &d.value else {
            panic!("dose map");
        };
        assert!(
            d.get("history").is_none(),
            "no history key on a dose given here"
        );
    }
}

#[test]
fn an_unknown_key_inside_a_caregiver_is_reported() {
    let mut p = person();
    p.caregiver = Some(Caregiver {
        name: "Lê Thị Thu".into(),
        phone: None,
        relation: None,
    });
    let mut doc =
        PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
    let mut tx = doc.doc.transaction();
    let Some((_, caregiver)) = tx.get(ROOT, "caregiver").unwrap() else {
        panic!("caregiver");
    };
    tx.put(&caregiver, "cccd_me", "079185000001").unwrap();
    tx.commit();
    let (_, issues) = doc.read_checked().unwrap();
    assert_eq!(issues.unknown, vec!["caregiver.cccd_me".to_string()]);
}
