//! What the desktop app leans on during a day at the station: the daily report, recording while
//! a sync runs on a slow link, and a sync the user cancels half way that loses nothing.

use sotiem_fixtures::Generator;
use sotiem_scenarios::proxy::{FaultProxy, Plan};
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, all_people};
use station::{DoseInput, PersonInput, SyncError};
use std::sync::Arc;
use std::time::Duration;

fn dose(vaccine: &str, at: &str) -> DoseInput {
    DoseInput {
        vaccine: vaccine.into(),
        lot: "AZ2107".into(),
        given_at: Some(at.into()),
        ..DoseInput::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_report_counts_one_days_active_doses_by_vaccine_and_vaccinator() {
    let lab = Lab::start(Backend::Sqlite).await;
    let d = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(7);
    let mut people = Vec::new();
    for _ in 0..3 {
        let gender = g.gender();
        let year = 1980;
        people.push(
            d.register_person(PersonInput {
                full_name: g.full_name(gender),
                gender: gender.as_str().into(),
                birth_date: year.to_string(),
                id_number: Some(g.cccd(gender, year)),
                phone: Some(g.phone()),
                ..PersonInput::default()
            })
            .await
            .expect("registered"),
        );
    }
    // Times at +07:00: 00:30 on the 20th is still the 19th in UTC, and belongs to the 20th here.
    d.record_dose(
        people[0].id,
        dose("AstraZeneca", "2026-11-20T00:30:00+07:00"),
    )
    .await
    .expect("dose");
    d.record_dose(people[1].id, dose("Pfizer", "2026-11-20T09:00:00+07:00"))
        .await
        .expect("dose");
    let voided = d
        .record_dose(people[2].id, dose("Pfizer", "2026-11-20T10:00:00+07:00"))
        .await
        .expect("dose");
    d.void_dose(voided.id, "Ghi nhầm người")
        .await
        .expect("void");
    d.record_dose(people[1].id, dose("Pfizer", "2026-11-20T23:59:00+07:00"))
        .await
        .expect("dose");
    // The next day, and the day before, are not counted.
    d.record_dose(people[2].id, dose("Moderna", "2026-11-21T00:00:00+07:00"))
        .await
        .expect("dose");
    d.record_dose(people[2].id, dose("Moderna", "2026-11-19T23:59:00+07:00"))
        .await
        .expect("dose");

    let report = d
        .daily_report(time::macros::date!(2026 - 11 - 20))
        .await
        .expect("report");
    assert_eq!(report.date, "2026-11-20");
    assert_eq!(report.doses, 3);
    assert_eq!(report.people, 2);
    assert_eq!(report.voided, 1);
    let by: Vec<(&str, i64, i64)> = report
        .by_vaccine
        .iter()
        .map(|v| (v.name.as_str(), v.doses, v.first_doses))
        .collect();
    assert_eq!(by.len(), 2, "{by:?}");
    assert_eq!(by[0].1, 2, "Pfizer first with two doses: {by:?}");
    assert_eq!(by[1].1, 1);
    assert_eq!(report.by_vaccinator.len(), 1);
    assert_eq!(report.by_vaccinator[0].vaccinator, "nv.lan");
    assert_eq!(report.day_doses.len(), 4, "voided doses are listed, marked");
    assert!(report.day_doses.iter().any(|x| x.voided));
    assert!(
        report.day_doses[0].given_at > report.day_doses[3].given_at,
        "newest first"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_sync_keeps_what_it_sent_and_the_next_sync_finishes_while_recording_goes_on() {
    let lab = Lab::start(Backend::Sqlite).await;
    let d = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(8);
    let people: Vec<_> = (0..1500)
        .map(|_| g.person("TYT-TANNHUT", "nv.lan", 1))
        .collect();
    d.import_people(&people).await.expect("imported");
    let pending_before = d.pending_changes().await.expect("pending");
    assert!(pending_before >= 1500);

    // A slow link: the push takes seconds, long enough to press "Dừng".
    let proxy = FaultProxy::start(
        lab.server.addr,
        Plan::Shape {
            bits_per_sec: 2_000_000,
            rtt: Duration::from_millis(50),
        },
    )
    .await;
    let client = Arc::new(d.client_via(&proxy.url));
    let station = Arc::new(d.station);
    let running = {
        let (s, c) = (station.clone(), client.clone());
        tokio::spawn(async move { s.sync(&c).await })
    };
    let mut waited = 0;
    while station.sync_progress().pushed == 0 {
        assert!(waited < 600, "the first batch never went through");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let progress = station.sync_progress();
    assert!(progress.running);
    assert_eq!(progress.phase, station::SyncPhase::Push);
    assert!(progress.to_push >= 1500);

    // Recording goes on while the sync runs: a new person and a dose.
    let newcomer = station
        .register_person(PersonInput {
            full_name: "Lê Thị Hồng".into(),
            gender: "nu".into(),
            birth_date: "1990-05-17".into(),
            id_number: Some("079190123456".into()),
            phone: Some("0903123456".into()),
            ..PersonInput::default()
        })
        .await
        .expect("registered during the sync");
    let recorded = station
        .record_dose(newcomer.id, dose("Pfizer", "2026-11-20T09:00:00+07:00"))
        .await
        .expect("recorded during the sync");
    assert!(
        station.sync_progress().running,
        "still syncing while recording"
    );

    station.cancel_sync();
    let result = running.await.expect("task");
    assert!(
        matches!(result, Err(SyncError::Cancelled)),
        "cancelled: {result:?}"
    );
    assert!(!station.sync_progress().running);
    let left = station.pending_changes().await.expect("pending");
    assert!(
        left > 0 && left < pending_before + 2,
        "part pushed, part left: {left} of {}",
        pending_before + 2
    );

    // The next sync (directly, no proxy) finishes: everything on the server once.
    let report = station.sync(&d.client).await.expect("sync");
    assert_eq!(station.pending_changes().await.expect("pending"), 0);
    assert!(report.pushed > 0);
    let other = lab.device("b", "TYT-TANNHUT", "nv.lan").await;
    other.sync().await.expect("other syncs");
    let theirs = all_people(&other).await;
    assert_eq!(theirs.len(), 1501);
    let dose_there = theirs[&newcomer.id]
        .doses
        .get(&recorded.id)
        .expect("the dose recorded during the sync reached the server");
    assert_eq!(dose_there.vaccine, recorded.vaccine);
}
