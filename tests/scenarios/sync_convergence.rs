//! Property: whatever the interleaving of edits and syncs across devices, once every device
//! has synced after the last edit, all devices and the server hold the same documents.

use proptest::prelude::*;
use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, all_people};
use station::{DoseInput, PersonEdit, StationError};

#[derive(Debug, Clone)]
enum Op {
    Dose {
        device: usize,
        person: usize,
    },
    Phone {
        device: usize,
        person: usize,
        n: u32,
    },
    Address {
        device: usize,
        person: usize,
        n: u8,
    },
    Void {
        device: usize,
        person: usize,
    },
    Sync {
        device: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..3usize).prop_map(|(device, person)| Op::Dose { device, person }),
        2 => (0..3usize, 0..3usize, 0..1_000_000u32).prop_map(|(device, person, n)| Op::Phone { device, person, n }),
        2 => (0..3usize, 0..3usize, 1..200u8).prop_map(|(device, person, n)| Op::Address { device, person, n }),
        1 => (0..3usize, 0..3usize).prop_map(|(device, person)| Op::Void { device, person }),
        3 => (0..3usize).prop_map(|device| Op::Sync { device }),
    ]
}

async fn run(ops: Vec<Op>) {
    let lab = Lab::start(Backend::Sqlite).await;
    let mut devices = vec![
        lab.device("d0", "TYT-TANNHUT", "nv0").await,
        lab.device("d1", "TYT-TANNHUT-LD", "nv1").await,
        lab.device("d2", "TYT-TANNHUT", "nv2").await,
    ];
    let mut g = Generator::new(77);
    let people: Vec<_> = (0..3).map(|_| g.person("TYT-TANNHUT", "nv0", 0)).collect();
    devices[0].import_people(&people).await.unwrap();
    for d in devices.iter_mut() {
        d.sync().await.unwrap();
    }
    for op in ops {
        let ok = |r: Result<(), StationError>| match r {
            Ok(()) | Err(StationError::Invalid(_)) => {}
            Err(e) => panic!("{e}"),
        };
        match op {
            Op::Dose { device, person } => {
                let s = &devices[device];
                if s.show(people[person].id).await.unwrap().next_dose_number <= 9 {
                    let input = DoseInput {
                        vaccine: "pfizer".into(),
                        lot: format!("L{device}{person}"),
                        ..DoseInput::default()
                    };
                    ok(s.record_dose(people[person].id, input).await.map(|_| ()));
                }
            }
            Op::Phone { device, person, n } => {
                let edit = PersonEdit {
                    phone: Some(format!("0912{n:06}")),
                    ..PersonEdit::default()
                };
                ok(devices[device]
                    .edit_person(people[person].id, edit, None)
                    .await
                    .map(|_| ()));
            }
            Op::Address { device, person, n } => {
                let edit = PersonEdit {
                    address_detail: Some(format!("Số {n} Ấp {device}")),
                    ..PersonEdit::default()
                };
                ok(devices[device]
                    .edit_person(people[person].id, edit, None)
                    .await
                    .map(|_| ()));
            }
            Op::Void { device, person } => {
                let s = &devices[device];
                let record = s.show(people[person].id).await.unwrap();
                if let Some(d) = record.person.active_doses().last() {
                    ok(s.void_dose(d.id, "Nhập nhầm mũi").await.map(|_| ()));
                }
            }
            Op::Sync { device } => {
                devices[device].sync().await.unwrap();
            }
        }
    }
    for _ in 0..2 {
        for d in devices.iter_mut() {
            d.sync().await.unwrap();
        }
    }
    let first = all_people(&devices[0]).await;
    for d in &devices[1..] {
        assert_eq!(all_people(d).await, first);
    }
    for s in &devices {
        let status = s.sync_status().await.unwrap();
        assert_eq!((status.pending_changes, status.quarantined.len()), (0, 0));
    }
    let doses: usize = first.values().map(|p| p.doses.len()).sum();
    assert_eq!(lab.server.count("doses").await as usize, doses);
    lab.server.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_of_edits_and_syncs_converge(ops in proptest::collection::vec(op(), 5..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
