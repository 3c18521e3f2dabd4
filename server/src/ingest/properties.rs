//! Property: whatever way a person's changes are judged (the quick path for new doses, all at
//! once, one by one), what is accepted leaves a document with no structural conflict, holding
//! exactly the accepted changes — for random concurrent changes of several devices, with dose
//! ids that collide within a push.

use super::validate::{Incoming, PersonWork, PusherCtx, validate_all};
use crate::scope::Facilities;
use automerge::ActorId;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use sync_protocol::person::{
    Address, BirthDate, Dose, DoseKind, Gender, Identity, IdentityKind, Person, Verification,
    VerificationStatus, now,
};
use sync_protocol::role::Role;
use sync_protocol::rules::Writer;
use sync_protocol::wire::PushResult;
use sync_protocol::{CommitAction, CommitMeta, PersonDoc};
use time::Duration;
use uuid::Uuid;

const FACILITY: &str = "TYT-TANNHUT";
const NURSE: &str = "nv.lan";

fn person() -> Person {
    Person {
        id: Uuid::from_u128(0x0193_2222_0000_7000_8000_0000_0000_0001),
        full_name: "Lê Thị Thu Hà".into(),
        gender: Gender::Female,
        birth_date: BirthDate::Full(time::macros::date!(1991 - 04 - 12)),
        identity: Identity {
            kind: IdentityKind::Cccd,
            number: Some("079191004512".into()),
        },
        phone: Some("0908123456".into()),
        address: Address {
            province: Some("TP Hồ Chí Minh".into()),
            commune: Some("Xã Tân Nhựt".into()),
            hamlet: None,
            detail: Some("12 Đường số 3".into()),
        },
        caregiver: None,
        nationality: "VN".into(),
        insurance_number: None,
        managing_facility: FACILITY.into(),
        created_by: NURSE.into(),
        created_at: now() - Duration::days(30),
        verification: Verification {
            status: VerificationStatus::Unverified,
            checked_at: None,
        },
        merged_into: None,
        doses: BTreeMap::new(),
    }
}

fn dose(id: u128, lot: u8) -> Dose {
    Dose {
        id: Uuid::from_u128(0x0193_3333_0000_7000_8000_0000_0000_0000 + id),
        vaccine: "EU/1/20/1528".into(),
        lot: format!("FF{:04}", lot),
        dose_number: 1,
        kind: DoseKind::Primary,
        given_at: now() - Duration::hours(1),
        facility: FACILITY.into(),
        vaccinator: NURSE.into(),
        place: None,
        reaction_notes: None,
        voided: None,
        history: None,
        signature: None,
    }
}

/// What one forged change does, on top of the stored record or of the previous change of the
/// same device.
#[derive(Debug, Clone)]
enum Act {
    /// Adds a dose whose id is one of a few, so two changes often create the same one.
    NewDose {
        id: u128,
        lot: u8,
    },
    Phone(u8),
    VoidFirst,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => (0u128..3, 0u8..50).prop_map(|(id, lot)| Act::NewDose { id, lot }),
        1 => (0u8..100).prop_map(Act::Phone),
        1 => Just(Act::VoidFirst),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn what_is_accepted_leaves_no_structural_conflict(
        // Per device: whether its changes build on each other, and what they do.
        devices in prop::collection::vec((any::<bool>(), prop::collection::vec(act(), 1..4)), 1..4),
        meta_action in prop_oneof![Just(CommitAction::Dose), Just(CommitAction::Edit)],
    ) {
        let mut stored = person();
        let first = dose(100, 1);
        stored.doses.insert(first.id, first.clone());
        let base = PersonDoc::create(
            ActorId::from(vec![9u8; 16]),
            &stored,
            &CommitMeta::new(NURSE, CommitAction::Register),
        )
        .expect("created");
        let saved = base.save();
        let mut incoming = Vec::new();
        for (d, (chained, acts)) in devices.iter().enumerate() {
            let mut copy = PersonDoc::load_as(&saved, ActorId::from(vec![d as u8 + 1; 16])).expect("copy");
            for a in acts {
                if !*chained {
                    copy = PersonDoc::load_as(&saved, ActorId::random()).expect("copy");
                }
                let heads = copy.heads();
                let mut p = copy.read().expect("reads");
                match a {
                    Act::NewDose { id, lot } => {
                        let d = dose(*id, *lot);
                        p.doses.insert(d.id, d);
                    }
                    Act::Phone(n) => p.phone = Some(format!("09081234{n:02}")),
                    Act::VoidFirst => {
                        if let Some(d) = p.doses.get_mut(&first.id) {
                            d.voided = Some(sync_protocol::Voided {
                                by: NURSE.into(),
                                at: now() - Duration::minutes(5),
                                reason: "Nhập trùng".into(),
                            });
                        }
                    }
                }
                let meta = CommitMeta::new(NURSE, meta_action);
                if copy.update(&p, &meta).is_err() {
                    continue;
                }
                for change in copy.changes_since(&heads) {
                    incoming.push(Incoming {
                        entry: incoming.len(),
                        meta: meta.clone(),
                        change,
                        pusher: 0,
                    });
                }
            }
        }
        prop_assume!(!incoming.is_empty());
        let by_hash: HashMap<usize, automerge::ChangeHash> =
            incoming.iter().map(|i| (i.entry, i.change.hash())).collect();
        let pushers = [PusherCtx {
            device: "dev-1".into(),
            owner: FACILITY.into(),
            writer: Some(Writer {
                user: NURSE.into(),
                role: Role::Vaccinator,
                device_facility: FACILITY.into(),
                own: [FACILITY.to_string()].into_iter().collect(),
            }),
        }];
        let work = PersonWork {
            person_id: stored.id,
            dose_owners: Arc::new(HashMap::new()),
            existing: Some(saved.clone()),
            scope: [FACILITY.to_string()].into_iter().collect::<BTreeSet<_>>(),
            signed: BTreeMap::new(),
            incoming,
            grants: HashMap::new(),
            sources: HashMap::new(),
        };
        let outcome = validate_all(vec![work], &pushers, &Facilities::default(), now())
            .pop()
            .expect("one outcome");
        for (entry, verdict) in &outcome.verdicts {
            prop_assert!(!matches!(verdict, PushResult::Accepted { .. }), "{entry}: {verdict:?}");
        }
        if let Some((bytes, _)) = &outcome.result {
            let doc = PersonDoc::load(bytes).expect("loads");
            let (_, issues) = doc.read_checked().expect("reads");
            prop_assert!(issues.conflicts.is_empty(), "{:?}", issues.conflicts);
            prop_assert!(issues.unknown.is_empty(), "{:?}", issues.unknown);
            for entry in &outcome.accepted {
                prop_assert!(doc.has_change(&by_hash[entry]));
            }
            for (entry, _) in &outcome.verdicts {
                prop_assert!(!doc.has_change(&by_hash[entry]), "refused change {entry} kept");
            }
        } else {
            prop_assert!(outcome.accepted.is_empty());
        }
    }
}
