use super::PersonDoc;
use crate::commit::{CommitAction, CommitMeta};
use crate::person::{
    Address, BirthDate, Dose, DoseKind, DoseSignature, Gender, Identity, IdentityKind, Person,
    Verification, VerificationStatus, Voided,
};
use automerge::ActorId;
use proptest::prelude::*;
use time::{Date, Duration, Month};
use uuid::Uuid;

fn text_value() -> impl Strategy<Value = String> {
    "[a-zA-ZàáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđĐ ,./-]{1,40}"
}

fn dose() -> impl Strategy<Value = Dose> {
    (
        "[A-Z0-9-]{1,12}",
        1u8..=10,
        0i64..1500,
        proptest::option::of(text_value()),
        proptest::option::of(text_value()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(lot, number, day, place, notes, voided, signed)| {
            let at = Date::from_calendar_date(2021, Month::March, 8)
                .unwrap()
                .midnight()
                .assume_offset(crate::VIETNAM)
                + Duration::days(day)
                + Duration::hours(8);
            Dose {
                id: Uuid::now_v7(),
                vaccine: "EU/1/20/1528".into(),
                lot,
                dose_number: number,
                kind: DoseKind::Booster,
                given_at: at,
                facility: "TYT-TANNHUT".into(),
                vaccinator: "nv.lan".into(),
                place,
                reaction_notes: notes,
                voided: voided.then(|| Voided {
                    by: "nv.lan".into(),
                    at,
                    reason: "Nhập nhầm".into(),
                }),
                history: None,
                signature: signed.then(|| DoseSignature {
                    batch_id: Uuid::now_v7(),
                    signer: "truongtram".into(),
                    signed_at: at + Duration::hours(9),
                }),
            }
        })
}

fn person() -> impl Strategy<Value = Person> {
    (
        text_value(),
        any::<bool>(),
        1920i32..2020,
        proptest::option::of("[A-Z][0-9]{7}"),
        proptest::option::of("0[35789][0-9]{8}"),
        proptest::option::of(text_value()),
        proptest::collection::vec(dose(), 0..6),
    )
        .prop_map(
            |(name, male, year, passport, phone, detail, doses)| Person {
                id: Uuid::now_v7(),
                full_name: name,
                gender: if male { Gender::Male } else { Gender::Female },
                birth_date: BirthDate::Year(year),
                identity: match passport {
                    Some(n) => Identity {
                        kind: IdentityKind::Passport,
                        number: Some(n),
                    },
                    None => Identity::none(),
                },
                phone,
                address: Address {
                    province: None,
                    commune: Some("Xã Tân Nhựt".into()),
                    hamlet: None,
                    detail,
                },
                caregiver: None,
                nationality: "VN".into(),
                insurance_number: None,
                managing_facility: "TYT-TANNHUT".into(),
                created_by: "nv.lan".into(),
                created_at: Date::from_calendar_date(2021, Month::March, 1)
                    .unwrap()
                    .midnight()
                    .assume_offset(crate::VIETNAM),
                verification: Verification {
                    status: VerificationStatus::Unverified,
                    checked_at: None,
                },
                merged_into: None,
                doses: doses.into_iter().map(|d| (d.id, d)).collect(),
            },
        )
}

proptest! {
    #[test]
    fn any_person_round_trips_through_a_saved_document(p in person()) {
        let doc = PersonDoc::create(ActorId::random(), &p, &CommitMeta::new("nv.lan", CommitAction::Register)).unwrap();
        let loaded = PersonDoc::load(&doc.save()).unwrap();
        prop_assert_eq!(loaded.read().unwrap(), p);
    }

    #[test]
    fn updating_to_any_other_person_state_reads_back_exactly(a in person(), b in person()) {
        let mut doc = PersonDoc::create(ActorId::random(), &a, &CommitMeta::new("nv.lan", CommitAction::Register)).unwrap();
        // Same identity and creation, every other field and dose from `b`, `a`'s doses kept.
        let mut target = b.clone();
        target.id = a.id;
        target.created_by = a.created_by.clone();
        target.created_at = a.created_at;
        target.doses.extend(a.doses.clone());
        doc.update(&target, &CommitMeta::new("nv.lan", CommitAction::Edit)).unwrap();
        let loaded = PersonDoc::load(&doc.save()).unwrap();
        prop_assert_eq!(loaded.read().unwrap(), target);
    }
}
