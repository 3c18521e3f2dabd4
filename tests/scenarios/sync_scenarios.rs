//! Sync between stations and a real central server on loopback, on SQLite and on PostgreSQL.

use sotiem_fixtures::Generator;
use sotiem_scenarios::proxy::{FaultProxy, Plan};
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, TAN_NHUT, TAN_TUC, all_people, both_backends, quick_retry};
use station::{DoseInput, PersonEdit, PersonInput, SyncError};
use std::collections::BTreeSet;
use sync_protocol::wire::{
    self, PushRequest, PushResponse, PushResult, PushedChange, RejectReason,
};
use sync_protocol::{CommitAction, CommitMeta, IdentityKind};

fn dose(vaccine: &str, lot: &str, number: Option<u8>, at: Option<&str>) -> DoseInput {
    DoseInput {
        vaccine: vaccine.into(),
        lot: lot.into(),
        dose_number: number,
        given_at: at.map(str::to_string),
        ..DoseInput::default()
    }
}

async fn three_devices_editing_offline_converge(backend: Backend) {
    let lab = Lab::start(backend).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let b = lab.device("b", "TYT-TANNHUT-LD", "nv.hung").await;
    let c = lab.device("c", "TYT-TANNHUT", "nv.mai").await;
    let mut g = Generator::new(5);
    let people: Vec<_> = (0..6)
        .map(|_| g.person("TYT-TANNHUT", "nv.lan", 1))
        .collect();
    a.import_people(&people).await.unwrap();
    a.sync().await.unwrap();
    assert_eq!(b.sync().await.unwrap().bootstrapped, 6);
    // The mobile team's station learned from the server whose scope it works in: its parent's
    // people are its own (no step-up code for their address).
    assert_eq!(b.facility().parent.as_deref(), Some("TYT-TANNHUT"));
    b.edit_person(
        people[3].id,
        PersonEdit {
            address_detail: Some("Tổ 4, Ấp 2".into()),
            ..PersonEdit::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(c.sync().await.unwrap().bootstrapped, 6);

    // Offline on all three.
    a.record_dose(people[0].id, dose("pfizer", "FF2588", None, None))
        .await
        .unwrap();
    a.edit_person(
        people[1].id,
        PersonEdit {
            phone: Some("0987 111 222".into()),
            ..PersonEdit::default()
        },
        None,
    )
    .await
    .unwrap();
    b.record_dose(people[0].id, dose("moderna", "MS0072", Some(3), None))
        .await
        .unwrap();
    let first_dose = people[2].doses.keys().next().copied().unwrap();
    b.void_dose(first_dose, "Ghi nhầm người, đúng là chị gái")
        .await
        .unwrap();
    c.edit_person(
        people[0].id,
        PersonEdit {
            address_detail: Some("Số 7 Ấp Chợ".into()),
            ..PersonEdit::default()
        },
        None,
    )
    .await
    .unwrap();
    let newcomer = c
        .register_person(PersonInput {
            full_name: "Võ Thị Thu Trang".into(),
            gender: "nu".into(),
            birth_date: "12/08/1994".into(),
            id_kind: Some(IdentityKind::Cccd),
            id_number: Some("080194001234".into()),
            phone: Some("0909 123 456".into()),
            province: Some("TP Hồ Chí Minh".into()),
            commune: Some(TAN_NHUT.into()),
            ..PersonInput::default()
        })
        .await
        .unwrap();
    c.record_dose(newcomer.id, dose("sinopharm", "202108B1", Some(1), None))
        .await
        .unwrap();

    for round in 0..5 {
        match round % 3 {
            0 => b.sync().await.unwrap(),
            1 => c.sync().await.unwrap(),
            _ => a.sync().await.unwrap(),
        };
    }
    let pa = all_people(&a).await;
    assert_eq!(pa.len(), 7);
    assert_eq!(pa, all_people(&b).await, "device b differs");
    assert_eq!(pa, all_people(&c).await, "device c differs");
    let p0 = &pa[&people[0].id];
    assert_eq!(p0.doses.len(), 3, "both new doses kept beside the first");
    assert_eq!(p0.address.detail.as_deref(), Some("Số 7 Ấp Chợ"));
    assert_eq!(pa[&people[1].id].phone.as_deref(), Some("0987111222"));
    assert!(pa[&people[2].id].doses[&first_dose].voided.is_some());
    assert_eq!(pa[&newcomer.id].doses.len(), 1);
    // The server holds the same people and every dose exactly once.
    assert_eq!(lab.server.count("documents").await, 7);
    let doses: usize = pa.values().map(|p| p.doses.len()).sum();
    assert_eq!(lab.server.count("doses").await as usize, doses);
    for s in [&a, &b, &c] {
        assert_eq!(s.pending_changes().await.unwrap(), 0);
        assert!(s.check_integrity().await.unwrap().is_empty());
    }
    lab.server.stop().await;
}
both_backends!(three_devices_editing_offline_converge);

async fn the_same_batch_pushed_twice_is_stored_once(backend: Backend) {
    let lab = Lab::start(backend).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(8);
    a.import_people(
        &(0..20)
            .map(|_| g.person("TYT-TANNHUT", "nv.lan", 2))
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let outbox = a.outbox(1000).await.unwrap();
    let request = PushRequest {
        changes: outbox
            .iter()
            .map(|e| PushedChange {
                person_id: e.person_id,
                bytes: e.change.clone(),
            })
            .collect(),
    };
    let first: PushResponse = a.client.call("sync/push", &request).await.unwrap();
    assert!(
        first
            .results
            .iter()
            .all(|r| matches!(r, PushResult::Accepted { .. })),
        "{first:?}"
    );
    let second: PushResponse = a.client.call("sync/push", &request).await.unwrap();
    assert!(
        second.results.iter().all(|r| *r == PushResult::Duplicate),
        "{second:?}"
    );
    assert_eq!(lab.server.count("changes").await as usize, outbox.len());
    // The station, which never heard the answers, pushes them a third time: still stored once.
    let report = a.sync().await.unwrap();
    assert_eq!(
        (report.pushed, report.already_on_server),
        (0, outbox.len() as u64)
    );
    assert_eq!(lab.server.count("changes").await as usize, outbox.len());
    assert_eq!(lab.server.count("doses").await, 40);
    lab.server.stop().await;
}
both_backends!(the_same_batch_pushed_twice_is_stored_once);

/// Connections cut at random points of pushes and pulls, for many seeds: every dose ends on the
/// server and on every device, none twice.
async fn connections_cut_mid_transfer_lose_and_repeat_nothing(backend: Backend) {
    let seeds: &[u64] = match backend {
        Backend::Sqlite => &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        Backend::Postgres => &[21, 22, 23, 24, 25, 26],
    };
    let mut total_cuts = 0;
    for &seed in seeds {
        let lab = Lab::start(backend).await;
        let proxy = FaultProxy::start(
            lab.server.addr,
            Plan::Cut {
                p: 0.5,
                max_bytes: 6000,
                seed,
            },
        )
        .await;
        let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
        let b = lab.device("b", "TYT-TANNHUT-LD", "nv.hung").await;
        let ca = a.client_via(&proxy.url);
        let cb = b.client_via(&proxy.url);
        let mut g = Generator::new(seed);
        let people: Vec<_> = (0..25)
            .map(|_| g.person("TYT-TANNHUT", "nv.lan", 2))
            .collect();
        a.import_people(&people).await.unwrap();
        for p in people.iter().take(10) {
            a.record_dose(p.id, dose("pfizer", "FK0071", None, None))
                .await
                .unwrap();
        }
        a.sync_with_retry(&ca, &quick_retry(400)).await.unwrap();
        b.sync_with_retry(&cb, &quick_retry(400)).await.unwrap();
        for p in people.iter().skip(10).take(10) {
            b.record_dose(p.id, dose("moderna", "MS0072", None, None))
                .await
                .unwrap();
        }
        b.sync_with_retry(&cb, &quick_retry(400)).await.unwrap();
        a.sync_with_retry(&ca, &quick_retry(400)).await.unwrap();

        let expected = 25 * 2 + 10 + 10;
        let pa = all_people(&a).await;
        let pb = all_people(&b).await;
        assert_eq!(pa, pb, "seed {seed}: devices differ");
        let ids: Vec<_> = pa.values().flat_map(|p| p.doses.keys().copied()).collect();
        let unique: BTreeSet<_> = ids.iter().collect();
        assert_eq!(
            (ids.len(), unique.len()),
            (expected, expected),
            "seed {seed}"
        );
        assert_eq!(
            lab.server.count("doses").await as usize,
            expected,
            "seed {seed}: server doses"
        );
        // Every local change reached the server once: 25 registrations and 20 dose changes.
        assert_eq!(
            lab.server.count("changes").await,
            25 + 20,
            "seed {seed}: server changes"
        );
        assert_eq!(
            a.pending_changes().await.unwrap() + b.pending_changes().await.unwrap(),
            0
        );
        total_cuts += proxy.cuts.load(std::sync::atomic::Ordering::Relaxed);
        lab.server.stop().await;
    }
    assert!(
        total_cuts >= seeds.len() as u64,
        "the proxy cut only {total_cuts} connections"
    );
}
both_backends!(connections_cut_mid_transfer_lose_and_repeat_nothing);

async fn a_device_outside_the_scope_never_receives_the_people(backend: Backend) {
    let lab = Lab::start(backend).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let x = lab.device("x", "TYT-TANTUC", "nv.tuc").await;
    let mut g = Generator::new(9);
    let people: Vec<_> = (0..10)
        .map(|_| g.person("TYT-TANNHUT", "nv.lan", 1))
        .collect();
    a.import_people(&people).await.unwrap();
    a.sync().await.unwrap();
    let report = x.sync().await.unwrap();
    assert_eq!(
        (
            report.bootstrapped,
            report.pulled_changes,
            report.pulled_snapshots
        ),
        (0, 0, 0)
    );
    assert!(all_people(&x).await.is_empty());
    let doc: wire::DocumentResponse = x
        .client
        .call(
            "sync/document",
            &wire::DocumentRequest {
                person_id: people[0].id,
            },
        )
        .await
        .unwrap();
    assert_eq!(doc.doc, None, "not even on request");

    // Someone living in Tân Túc, vaccinated at Tân Nhựt, comes into Tân Túc's scope.
    let resident = a
        .register_person(PersonInput {
            full_name: "Huỳnh Văn Phúc".into(),
            gender: "nam".into(),
            birth_date: "1978".into(),
            phone: Some("0918 765 432".into()),
            province: Some("TP Hồ Chí Minh".into()),
            commune: Some(TAN_TUC.into()),
            ..PersonInput::default()
        })
        .await
        .unwrap();
    a.record_dose(resident.id, dose("astrazeneca", "ABV5300", Some(1), None))
        .await
        .unwrap();
    a.sync().await.unwrap();
    let report = x.sync().await.unwrap();
    assert_eq!(report.pulled_snapshots, 1);
    let seen = all_people(&x).await;
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), vec![resident.id]);
    assert_eq!(seen[&resident.id].doses.len(), 1);
    // Later changes to that person now reach Tân Túc too; others still do not.
    a.record_dose(resident.id, dose("astrazeneca", "ABV5301", Some(2), None))
        .await
        .unwrap();
    a.record_dose(people[1].id, dose("pfizer", "FF2588", None, None))
        .await
        .unwrap();
    a.sync().await.unwrap();
    let report = x.sync().await.unwrap();
    assert_eq!(report.pulled_changes, 1);
    assert_eq!(all_people(&x).await.len(), 1);
    lab.server.stop().await;
}
both_backends!(a_device_outside_the_scope_never_receives_the_people);

/// A smoke test of refusals at the door (the rules themselves are proven attack by attack in
/// `authority.rs`): unreadable, oversized, invalid, misfiled and foreign changes, broken bodies.
async fn bad_changes_are_rejected_with_a_reason_and_the_server_carries_on(backend: Backend) {
    let lab = Lab::start(backend).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let b = lab.device("b", "TYT-TANNHUT-LD", "nv.hung").await;
    let mut g = Generator::new(12);
    let people: Vec<_> = (0..2)
        .map(|_| g.person("TYT-TANNHUT", "nv.lan", 1))
        .collect();
    a.import_people(&people).await.unwrap();
    a.sync().await.unwrap();
    let changes_before = lab.server.count("changes").await;

    // A change that would make the record invalid (a phone that is not a phone).
    let mut doc = a.load_doc(people[0].id).await.unwrap();
    let heads = doc.heads();
    let mut p = doc.read().unwrap();
    p.phone = Some("12345".into());
    doc.update(&p, &CommitMeta::new("nv.lan", CommitAction::Edit))
        .unwrap();
    let invalid = doc.changes_since(&heads)[0].raw_bytes().to_vec();
    // The creation change of a new person claimed to be person 1's.
    let stranger = g.person("TYT-TANNHUT", "nv.lan", 0);
    let creation = sync_protocol::PersonDoc::create(
        sync_protocol::automerge::ActorId::random(),
        &stranger,
        &CommitMeta::new("nv.lan", CommitAction::Register),
    )
    .unwrap()
    .changes_since(&[])[0]
        .raw_bytes()
        .to_vec();
    // A fresh change of device a's actor pushed by device b.
    let mut doc = a.load_doc(people[1].id).await.unwrap();
    let heads = doc.heads();
    let mut p = doc.read().unwrap();
    p.address.detail = Some("Số 99 Ấp 5".into());
    doc.update(&p, &CommitMeta::new("nv.lan", CommitAction::Edit))
        .unwrap();
    let foreign = doc.changes_since(&heads)[0].raw_bytes().to_vec();
    let push = |person_id, bytes: Vec<u8>| PushRequest {
        changes: vec![PushedChange { person_id, bytes }],
    };
    let cases = [
        (
            a.client
                .call::<_, PushResponse>(
                    "sync/push",
                    &push(people[0].id, vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3]),
                )
                .await,
            RejectReason::Malformed,
        ),
        (
            a.client
                .call(
                    "sync/push",
                    &push(people[0].id, vec![7u8; wire::MAX_CHANGE_BYTES + 1]),
                )
                .await,
            RejectReason::Oversized,
        ),
        (
            a.client
                .call("sync/push", &push(people[0].id, invalid))
                .await,
            RejectReason::Invalid,
        ),
        (
            a.client
                .call("sync/push", &push(people[1].id, creation))
                .await,
            // (A creation has no history to build on: refused before it is read.)
            RejectReason::Rule(sync_protocol::rules::Rule::Detached),
        ),
        (
            b.client
                .call("sync/push", &push(people[1].id, foreign))
                .await,
            RejectReason::ForeignActor,
        ),
    ];
    for (response, reason) in cases {
        let response = response.unwrap();
        match &response.results[..] {
            [PushResult::Rejected { reason: r, message }] => {
                assert_eq!(*r, reason, "{message}");
                assert!(!message.is_empty());
            }
            other => panic!("expected {reason:?}, got {other:?}"),
        }
    }
    assert_eq!(
        lab.server.count("changes").await,
        changes_before,
        "nothing was stored"
    );
    assert_eq!(lab.server.count("rejections").await, 5);

    // Malformed bodies get clear errors, not a crash; then the server serves as before.
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/sync/push", lab.server.url);
    let token = a.token.clone();
    let session = a
        .session()
        .and_then(|s| s.server_token().map(str::to_string))
        .unwrap();
    let garbage = http
        .post(&url)
        .bearer_auth(&token)
        .header("x-sotiem-session", &session)
        .body("xin chào")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let mut old = wire::encode(&push(people[0].id, vec![1]));
    old[4..6].copy_from_slice(&0u16.to_be_bytes());
    let too_old = http
        .post(&url)
        .bearer_auth(&token)
        .header("x-sotiem-session", &session)
        .body(old)
        .send()
        .await
        .unwrap();
    assert_eq!(too_old.status(), 426);
    let body: wire::ErrorBody = serde_json::from_slice(&too_old.bytes().await.unwrap()).unwrap();
    assert_eq!(body.error.code, "protocol_too_old");
    assert!(
        body.error.message.contains("cập nhật phần mềm"),
        "{}",
        body.error.message
    );
    let huge = http
        .post(&url)
        .bearer_auth(&token)
        .header("x-sotiem-session", &session)
        .body(vec![0u8; wire::MAX_BODY_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    let anonymous = http
        .post(&url)
        .body(wire::encode(&push(people[0].id, vec![1])))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    a.record_dose(people[0].id, dose("pfizer", "FF2588", None, None))
        .await
        .unwrap();
    assert_eq!(a.sync().await.unwrap().pushed, 1);
    assert_eq!(b.sync().await.unwrap().bootstrapped, 2);
    assert_eq!(all_people(&a).await, all_people(&b).await);
    lab.server.stop().await;
}
both_backends!(bad_changes_are_rejected_with_a_reason_and_the_server_carries_on);

/// Two devices edit the same person offline; together the edits break a rule (a dose before the
/// birth date). The change pushed second is refused: kept in quarantine with the reason on its
/// device, whose copy returns to the server's state.
async fn a_refused_change_is_quarantined_and_the_copy_reset(backend: Backend) {
    let lab = Lab::start(backend).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let c = lab.device("c", "TYT-TANNHUT", "nv.mai").await;
    let elder = a
        .register_person(PersonInput {
            full_name: "Lê Thị Tư".into(),
            gender: "nu".into(),
            birth_date: "1950".into(),
            phone: Some("0977 000 111".into()),
            ..PersonInput::default()
        })
        .await
        .unwrap();
    a.sync().await.unwrap();
    c.sync().await.unwrap();
    let given = a
        .record_dose(
            elder.id,
            dose(
                "astrazeneca",
                "A1234",
                Some(1),
                Some("2021-09-20T08:30:00+07:00"),
            ),
        )
        .await
        .unwrap();
    c.edit_person(
        elder.id,
        PersonEdit {
            birth_date: Some("2022".into()),
            ..PersonEdit::default()
        },
        None,
    )
    .await
    .unwrap();
    c.edit_person(
        elder.id,
        PersonEdit {
            phone: Some("0977 000 222".into()),
            ..PersonEdit::default()
        },
        None,
    )
    .await
    .unwrap();
    a.sync().await.unwrap();
    let report = c.sync().await.unwrap();
    assert_eq!(report.quarantined, 1, "{report:?}");
    assert_eq!(
        report.pushed, 1,
        "the phone edit does not depend on the refused one"
    );
    let status = c.sync_status().await.unwrap();
    assert_eq!(status.pending_changes, 0);
    assert_eq!(status.quarantined.len(), 1);
    let q = &status.quarantined[0];
    assert_eq!((q.person_id, q.reason.as_str()), (elder.id, "invalid"));
    assert!(q.message.contains("trước ngày sinh"), "{}", q.message);
    assert_eq!(q.full_name.as_deref(), Some("Lê Thị Tư"));
    let on_c = c.show(elder.id).await.unwrap().person;
    assert_eq!(
        on_c.birth_date.to_string(),
        "1950",
        "reset to the server's state"
    );
    assert_eq!(
        on_c.phone.as_deref(),
        Some("0977000222"),
        "its own accepted edit kept"
    );
    assert!(on_c.doses.contains_key(&given.id));
    a.sync().await.unwrap();
    assert_eq!(all_people(&a).await, all_people(&c).await);
    assert!(c.check_integrity().await.unwrap().is_empty());
    lab.server.stop().await;
}
both_backends!(a_refused_change_is_quarantined_and_the_copy_reset);

async fn revoked_or_foreign_devices_are_refused_clearly(backend: Backend) {
    let lab = Lab::start(backend).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let token = a.token.clone();
    let client = |url: &str, token: &str| station::SyncClient::new(url, token, None).unwrap();
    // A token of another facility.
    let other = client(&lab.server.url, &lab.server.device("TYT-TANTUC").await);
    let err = a.station.sync(&other).await.unwrap_err();
    assert!(matches!(err, SyncError::FacilityMismatch { .. }), "{err}");
    let bad = client(&lab.server.url, "stk_khong_dung");
    let err = a.station.sync(&bad).await.unwrap_err();
    assert_eq!(err.code(), "invalid_token");
    assert!(!err.is_retryable());
    a.sync().await.unwrap();
    let devices = sotiem_server::admin::devices(&lab.server.db).await.unwrap();
    let device = devices
        .iter()
        .find(|d| d.facility == "TYT-TANNHUT")
        .unwrap();
    sotiem_server::admin::revoke_device(&lab.server.db, &device.id)
        .await
        .unwrap();
    let err = a.sync().await.unwrap_err();
    assert_eq!(err.code(), "device_revoked");
    assert!(err.to_string().contains("thu hồi"), "{err}");
    let status = a.sync_status().await.unwrap();
    assert!(status.last_error.unwrap().contains("thu hồi"));
    // An unreachable server is a network error, to be retried later.
    let err = a
        .station
        .sync(&client("http://127.0.0.1:9", &token))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    lab.server.stop().await;
}
both_backends!(revoked_or_foreign_devices_are_refused_clearly);

/// The server speaks HTTPS with a province's own CA, which the station is told to trust.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_runs_over_https_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=So Y te TP Ho Chi Minh Test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);

    let db = sotiem_server::Db::open_sqlite(&d.join("server.db"), None)
        .await
        .unwrap();
    sotiem_server::admin::add_facility(
        &db,
        &sotiem_server::admin::FacilityRecord {
            code: "TYT-TANNHUT".into(),
            name: "Trạm Y tế xã Tân Nhựt".into(),
            kind: "commune_station".into(),
            province: Some("TP Hồ Chí Minh".into()),
            commune: Some(TAN_NHUT.into()),
            parent: None,
        },
    )
    .await
    .unwrap();
    let token = sotiem_server::admin::add_device(&db, "TYT-TANNHUT", "Laptop")
        .await
        .unwrap()
        .token;
    let server = sotiem_server::Server::start(db.clone()).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let (cert, key) = (d.join("server.pem"), d.join("server.key"));
    tokio::spawn(async move { server.serve_tls(listener, &cert, &key).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    sotiem_server::accounts::create_account(
        &db,
        &sync_protocol::auth::NewAccount {
            username: "nv.lan".into(),
            facility: "TYT-TANNHUT".into(),
            role: sync_protocol::auth::Role::Vaccinator,
            full_name: "Nguyễn Thị Lan".into(),
            gender: None,
            position: None,
            email: None,
            phone: None,
            initial_password: sotiem_scenarios::INITIAL_PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    let a = station::Station::init_with_key(
        &d.join("a"),
        station::NewStation {
            facility_code: "TYT-TANNHUT".into(),
            facility_name: "Trạm Y tế xã Tân Nhựt".into(),
            kind: station::FacilityKind::CommuneStation,
            province: None,
            commune: Some(TAN_NHUT.into()),
        },
        Some(station::DbKey::generate()),
    )
    .await
    .unwrap();
    // Without the CA the server is not trusted: not even signing in goes through.
    let untrusted = station::SyncClient::new(&url, &token, None).unwrap();
    let creds = station::Credentials {
        username: "nv.lan".into(),
        password: sotiem_scenarios::INITIAL_PASSWORD.into(),
        otp: String::new(),
    };
    assert!(a.sign_in(&creds, Some(&untrusted)).await.is_err());
    let ca = std::fs::read(d.join("ca.pem")).unwrap();
    let trusted = station::SyncClient::new(&url, &token, Some(&ca)).unwrap();
    sotiem_scenarios::first_login(&a, &trusted, "nv.lan").await;
    a.register_person(PersonInput {
        full_name: "Phan Thanh Bình".into(),
        gender: "nam".into(),
        birth_date: "1969".into(),
        phone: Some("0913 456 789".into()),
        ..PersonInput::default()
    })
    .await
    .unwrap();
    let err = a.sync(&untrusted).await.unwrap_err();
    assert!(matches!(err, SyncError::Network(_)), "{err}");
    assert_eq!(a.pending_changes().await.unwrap(), 1);
    assert_eq!(a.sync(&trusted).await.unwrap().pushed, 1);
    db.close().await;
}

/// A server that answers every request with a redirect to `to`, and one that counts what
/// reaches it: credentials must never follow a redirect.
#[tokio::test]
async fn a_redirect_never_carries_the_device_token_or_session_elsewhere() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let elsewhere_addr = elsewhere.local_addr().expect("addr");
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = elsewhere.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let redirector = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let redirector_addr = redirector.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = redirector.accept().await {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{elsewhere_addr}/api/v1/info\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });

    let client = station::SyncClient::new(
        &format!("http://{redirector_addr}"),
        "dev_bi_mat_cua_tram",
        None,
    )
    .expect("client");
    client.set_session(Some("stk_phien_cua_y_ta".into()));
    let err = client
        .info()
        .await
        .expect_err("a redirect is not an answer");
    eprintln!("{err}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        reached.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing went to the redirect's target"
    );
}

async fn a_dose_voided_at_two_stations_at_once_is_kept_voided_and_quarantines_nothing(
    backend: Backend,
) {
    let lab = Lab::start(backend).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let b = lab.device("b", "TYT-TANNHUT", "nv.mai").await;
    let mut g = Generator::new(22);
    // Several people: which station's voiding wins each merge depends on the stations' random
    // actor ids, so both outcomes occur.
    let people: Vec<_> = (0..8)
        .map(|_| g.person("TYT-TANNHUT", "nv.lan", 1))
        .collect();
    a.import_people(&people).await.unwrap();
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    for p in &people {
        let dose = *p.doses.keys().next().expect("a dose");
        a.void_dose(dose, "Nhập nhầm người").await.unwrap();
        b.void_dose(dose, "Trùng mũi").await.unwrap();
    }
    for station in [&a, &b, &a, &b] {
        station.sync().await.unwrap();
    }
    for station in [&a, &b] {
        let status = station.sync_status().await.unwrap();
        assert_eq!(
            (status.pending_changes, status.quarantined.len()),
            (0, 0),
            "{:?}",
            status.quarantined
        );
    }
    let held = all_people(&a).await;
    assert_eq!(held, all_people(&b).await);
    for p in &people {
        assert!(held[&p.id].doses.values().all(|d| d.voided.is_some()));
    }
    lab.server.stop().await;
}
both_backends!(a_dose_voided_at_two_stations_at_once_is_kept_voided_and_quarantines_nothing);
