//! Two devices edit the same person while offline; exchanging their changes keeps both doses and
//! merges the field edits, identically on both.

use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, deliver};
use station::{DoseInput, PersonEdit, PersonInput};
use sync_protocol::IdentityKind;

fn nguyen_van_an() -> PersonInput {
    PersonInput {
        full_name: "Nguyễn Văn An".into(),
        gender: "nam".into(),
        birth_date: "02/03/1985".into(),
        id_kind: Some(IdentityKind::Cccd),
        id_number: Some("001085012345".into()),
        phone: Some("0912345678".into()),
        address_detail: Some("Số 12 Ấp 3".into()),
        ..PersonInput::default()
    }
}

#[tokio::test]
async fn two_devices_offline_keep_both_doses_and_merge_field_edits() {
    let lab = Lab::start(Backend::Sqlite).await;
    let station = lab.device("tram", "TYT-TANNHUT", "nv.lan").await.station;
    let team = lab
        .device("doi-luu-dong", "TYT-TANNHUT", "nv.hung")
        .await
        .station;

    let person = station.register_person(nguyen_van_an()).await.unwrap();
    deliver(&station, &team).await;
    assert_eq!(team.show(person.id).await.unwrap().person, person);

    // Both offline: each records a dose and edits a different field.
    let at_station = station
        .record_dose(
            person.id,
            DoseInput {
                vaccine: "astrazeneca".into(),
                lot: "A1234".into(),
                dose_number: Some(1),
                given_at: Some("2021-09-20T08:30:00+07:00".into()),
                ..DoseInput::default()
            },
        )
        .await
        .unwrap();
    station
        .edit_person(
            person.id,
            PersonEdit {
                phone: Some("0987 654 321".into()),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .unwrap();
    let in_the_field = team
        .record_dose(
            person.id,
            DoseInput {
                vaccine: "pfizer".into(),
                lot: "FF2588".into(),
                dose_number: Some(3),
                given_at: Some("2022-03-01T09:00:00+07:00".into()),
                place: Some("Điểm tiêm lưu động nhà văn hoá ấp 3".into()),
                ..DoseInput::default()
            },
        )
        .await
        .unwrap();
    team.edit_person(
        person.id,
        PersonEdit {
            address_detail: Some("Số 14 Ấp 3, gần chợ Tân Nhựt".into()),
            ..PersonEdit::default()
        },
        None,
    )
    .await
    .unwrap();

    // Back online: changes cross both ways.
    assert_eq!(deliver(&station, &team).await, 2);
    assert_eq!(deliver(&team, &station).await, 2);

    let here = station.show(person.id).await.unwrap();
    let there = team.show(person.id).await.unwrap();
    assert_eq!(
        here.person, there.person,
        "both devices hold the same document"
    );
    let p = here.person;
    assert_eq!(p.doses.len(), 2);
    assert_eq!(p.doses[&at_station.id], at_station);
    assert_eq!(p.doses[&in_the_field.id], in_the_field);
    assert_eq!(p.phone.as_deref(), Some("0987654321"));
    assert_eq!(
        p.address.detail.as_deref(),
        Some("Số 14 Ấp 3, gần chợ Tân Nhựt")
    );
    assert!(here.conflicts.is_empty());
    // Columns used by search follow the merged document on both sides.
    for s in [&station, &team] {
        assert!(s.check_integrity().await.unwrap().is_empty());
        let found = s
            .find(&station::SearchQuery {
                full_name: "nguyen van an".into(),
                phone: Some("0987654321".into()),
                id_number: None,
            })
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].active_doses, 2);
    }
    // Nothing is left to send: remote changes never enter the outbox.
    assert_eq!(station.pending_changes().await.unwrap(), 0);
    assert_eq!(team.pending_changes().await.unwrap(), 0);
}

#[tokio::test]
async fn concurrent_edits_of_a_name_are_kept_for_review() {
    let lab = Lab::start(Backend::Sqlite).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await.station;
    let b = lab.device("b", "TYT-TANNHUT", "nv.hung").await.station;
    let person = a.register_person(nguyen_van_an()).await.unwrap();
    deliver(&a, &b).await;
    a.edit_person(
        person.id,
        PersonEdit {
            full_name: Some("Nguyễn Văn Ân".into()),
            ..PersonEdit::default()
        },
        None,
    )
    .await
    .unwrap();
    b.edit_person(
        person.id,
        PersonEdit {
            full_name: Some("Nguyễn Văn Anh".into()),
            ..PersonEdit::default()
        },
        None,
    )
    .await
    .unwrap();
    deliver(&a, &b).await;
    deliver(&b, &a).await;
    let ra = a.show(person.id).await.unwrap();
    let rb = b.show(person.id).await.unwrap();
    assert_eq!(ra.person.full_name, rb.person.full_name);
    assert_eq!(ra.conflicts.len(), 1);
    assert!(
        ra.warnings.iter().any(|w| w.code == "conflict"),
        "{:?}",
        ra.warnings
    );
}
