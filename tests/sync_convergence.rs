//! Property: whatever the interleaving of edits and syncs across devices, once every device
//! has synced after the last edit, all devices and the server hold the same documents.

use proptest::prelude::*;
use sotiem_fixtures::Generator;
use sotiem_scenarios::server::{Backend, TestServer};
use sotiem_scenarios::{all_people, client, new_station_in};
use station::{DbKey, DoseInput, FacilityKind, PersonEdit, StationError};

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
    let server = TestServer::start(Backend::Sqlite).await;
    server
        .facility("TYT-TANNHUT", "commune_station", Some("Xã Tân Nhựt"), None)
        .await;
    server
        .facility("TYT-TANNHUT-LD", "mobile_team", None, Some("TYT-TANNHUT"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut devices = Vec::new();
    for (i, (facility, kind)) in [
        ("TYT-TANNHUT", FacilityKind::CommuneStation),
        ("TYT-TANNHUT-LD", FacilityKind::MobileTeam),
        ("TYT-TANNHUT", FacilityKind::CommuneStation),
    ]
    .into_iter()
    .enumerate()
    {
        let s = new_station_in(
            &dir.path().join(format!("d{i}")),
            facility,
            kind,
            "Xã Tân Nhựt",
            &format!("nv{i}"),
            &DbKey::generate(),
        )
        .await;
        let c = client(&server.url, &server.device(facility).await);
        devices.push((s, c));
    }
    let mut g = Generator::new(77);
    let people: Vec<_> = (0..3).map(|_| g.person("TYT-TANNHUT", "nv0", 0)).collect();
    devices[0].0.import_people(&people).await.unwrap();
    for (s, c) in &devices {
        s.sync(c).await.unwrap();
    }
    for op in ops {
        let ok = |r: Result<(), StationError>| match r {
            Ok(()) | Err(StationError::Invalid(_)) => {}
            Err(e) => panic!("{e}"),
        };
        match op {
            Op::Dose { device, person } => {
                let (s, _) = &devices[device];
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
                    .0
                    .edit_person(people[person].id, edit)
                    .await
                    .map(|_| ()));
            }
            Op::Address { device, person, n } => {
                let edit = PersonEdit {
                    address_detail: Some(format!("Số {n} Ấp {device}")),
                    ..PersonEdit::default()
                };
                ok(devices[device]
                    .0
                    .edit_person(people[person].id, edit)
                    .await
                    .map(|_| ()));
            }
            Op::Void { device, person } => {
                let (s, _) = &devices[device];
                let record = s.show(people[person].id).await.unwrap();
                if let Some(d) = record.person.active_doses().last() {
                    ok(s.void_dose(d.id, "Nhập nhầm mũi").await.map(|_| ()));
                }
            }
            Op::Sync { device } => {
                let (s, c) = &devices[device];
                s.sync(c).await.unwrap();
            }
        }
    }
    for _ in 0..2 {
        for (s, c) in &devices {
            s.sync(c).await.unwrap();
        }
    }
    let first = all_people(&devices[0].0).await;
    for (s, _) in &devices[1..] {
        assert_eq!(all_people(s).await, first);
    }
    for (s, _) in &devices {
        let status = s.sync_status().await.unwrap();
        assert_eq!((status.pending_changes, status.quarantined.len()), (0, 0));
    }
    let doses: usize = first.values().map(|p| p.doses.len()).sum();
    assert_eq!(server.count("doses").await as usize, doses);
    server.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_of_edits_and_syncs_converge(ops in proptest::collection::vec(op(), 5..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
