//! A station laptop dies mid-day after recording doses offline. Rebuilt from its last backup on
//! a fresh data directory against the same server, every dose ends on the server exactly once:
//! the unsynced ones replayed from the backup, the ones synced after the backup neither lost nor
//! duplicated. Only the device the administrator registered as the replacement may push what the
//! old laptop wrote, and the old laptop's token stops working.

use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Device, Lab, client, quick_retry};
use sotiem_server::admin;
use station::{BackupError, DoseInput, PersonInput, Station, StationError, SyncError};
use std::collections::BTreeSet;
use std::path::Path;
use sync_protocol::auth::Role;
use sync_protocol::wire::{PushRequest, PushResponse, PushResult, PushedChange, RejectReason};
use sync_protocol::{Gender, IdentityKind};
use uuid::Uuid;

const PASSPHRASE: &str = "Sổ tiêm Tân Nhựt cất trong tủ thuốc";

/// A person as the registration form gives them, from the synthetic generator.
fn someone(g: &mut sotiem_fixtures::Generator) -> PersonInput {
    let gender = g.gender();
    let born = g.birth_date();
    PersonInput {
        full_name: g.full_name(gender),
        gender: match gender {
            Gender::Male => "nam".into(),
            _ => "nu".into(),
        },
        birth_date: format!(
            "{:02}/{:02}/{}",
            born.day(),
            u8::from(born.month()),
            born.year()
        ),
        id_kind: Some(IdentityKind::Cccd),
        id_number: Some(g.cccd(gender, born.year())),
        phone: Some(g.phone()),
        address_detail: Some("Ấp 3".into()),
        ..PersonInput::default()
    }
}

/// Registers a person and records `n` doses; returns the person and the doses' ids.
async fn vaccinate(
    station: &Station,
    g: &mut sotiem_fixtures::Generator,
    n: u8,
) -> (Uuid, Vec<Uuid>) {
    let person = station
        .register_person(someone(g))
        .await
        .expect("registered");
    let mut doses = Vec::new();
    for k in 1..=n {
        let dose = station
            .record_dose(
                person.id,
                DoseInput {
                    vaccine: "pfizer".into(),
                    lot: "FK8891".into(),
                    dose_number: Some(k),
                    // Months apart: each dose after the product's interval.
                    given_at: Some(format!("2026-{:02}-02T08:15:00+07:00", 3 * k)),
                    ..DoseInput::default()
                },
            )
            .await
            .expect("dose recorded");
        doses.push(dose.id);
    }
    (person.id, doses)
}

/// The ids of the doses the server holds, and how many rows hold them.
async fn doses_on_server(lab: &Lab) -> (BTreeSet<Uuid>, i64) {
    let ids: Vec<String> = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT id FROM doses").fetch_all(pool).await.expect("doses")
    });
    let rows = ids.len() as i64;
    (
        ids.iter()
            .map(|i| Uuid::parse_str(i).expect("uuid"))
            .collect(),
        rows,
    )
}

/// The server's id of the device whose token is `token`.
async fn device_id(lab: &Lab, token: &str) -> String {
    let hash = admin::token_hash(token);
    sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_scalar("SELECT id FROM devices WHERE token_hash = $1")
            .bind(hash)
            .fetch_one(pool)
            .await
            .expect("device")
    })
}

/// A station of TYT-TANNHUT whose head set the recovery passphrase and a backup folder, with
/// the nurse signed in again.
async fn station_with_backups(lab: &Lab, usb: &Path) -> Device {
    let laptop = lab.device("may-cu", "TYT-TANNHUT", "nv.lan").await;
    lab.account("ts.hoa", "TYT-TANNHUT", Role::Signer).await;
    // A nurse may not choose the passphrase that opens every backup.
    assert!(matches!(
        laptop.set_recovery_passphrase(PASSPHRASE).await,
        Err(StationError::Backup(BackupError::NotHead))
    ));
    lab.sign_in(&laptop.station, &laptop.client, "ts.hoa").await;
    assert!(matches!(
        laptop.set_recovery_passphrase("ngắn quá").await,
        Err(StationError::Backup(BackupError::WeakPassphrase))
    ));
    laptop
        .set_recovery_passphrase(PASSPHRASE)
        .await
        .expect("passphrase set");
    laptop
        .set_backup_folder(Some(usb))
        .await
        .expect("folder chosen");
    lab.sign_in(&laptop.station, &laptop.client, "nv.lan").await;
    laptop
}

/// The administrator replaces the dead laptop; a new laptop is rebuilt from `backup`, its nurse
/// signs in and it syncs.
async fn rebuild(lab: &Lab, old_token: &str, backup: &Path) -> (Station, station::SyncClient) {
    let old = device_id(lab, old_token).await;
    let replacement = admin::replace_device(&lab.server.db, &old, "Máy mới của trạm")
        .await
        .expect("replaced");
    rebuild_from(lab, &replacement.token, backup).await
}

#[tokio::test]
async fn doses_recorded_offline_before_the_backup_reach_the_server_once_after_a_restore() {
    let lab = Lab::start(Backend::Sqlite).await;
    let usb = tempfile::tempdir().expect("usb");
    let mut g = sotiem_fixtures::Generator::new(20261202);
    let laptop = station_with_backups(&lab, usb.path()).await;

    // Morning: two people vaccinated and synced.
    let (_, mut expected) = vaccinate(&laptop, &mut g, 2).await;
    laptop.sync().await.expect("synced");
    // Then the link drops: three more doses recorded offline, and the daily backup is written
    // (no passphrase typed: it is encrypted to the head's key).
    let (offline_person, offline_doses) = vaccinate(&laptop, &mut g, 3).await;
    expected.extend(&offline_doses);
    let backup = laptop.backup_if_due().await.expect("backup").expect("due");
    assert!(backup.pending_changes >= 4, "{backup:?}");
    assert!(
        laptop.backup_if_due().await.expect("checked").is_none(),
        "one a day"
    );
    let pending = laptop.outbox(100).await.expect("outbox");

    // Another laptop of the same facility may not push what the old one wrote.
    let other = lab.device("may-khac", "TYT-TANNHUT", "nv.hung").await;
    other.client.set_session(
        other
            .session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    let answer: PushResponse = other
        .client
        .call(
            "sync/push",
            &PushRequest {
                changes: vec![PushedChange {
                    person_id: offline_person,
                    bytes: pending[0].change.clone(),
                }],
            },
        )
        .await
        .expect("answered");
    assert!(
        matches!(
            &answer.results[..],
            [PushResult::Rejected {
                reason: RejectReason::ForeignActor,
                ..
            }]
        ),
        "{answer:?}"
    );

    // The laptop dies: its data directory is gone.
    let old_token = laptop.token.clone();
    laptop.station.close().await;
    std::fs::remove_dir_all(&laptop.dir).expect("laptop gone");

    // A wrong passphrase or a changed file restores nothing.
    let file = Path::new(&backup.file);
    let wrong = Station::restore(
        file,
        "không phải mật khẩu này",
        &lab.dir.path().join("thu"),
        &lab.server.url,
        &old_token,
        None,
    )
    .await;
    assert!(
        matches!(
            wrong,
            Err(SyncError::Station(StationError::Backup(
                BackupError::WrongPassphrase
            )))
        ),
        "{:?}",
        wrong.err()
    );
    let mut damaged = std::fs::read(file).expect("read");
    let at = damaged.len() - 5000;
    damaged[at] ^= 0x40;
    let damaged_file = usb.path().join("hong.sotiem-backup");
    std::fs::write(&damaged_file, &damaged).expect("write");
    let old_device = device_id(&lab, &old_token).await;
    let spare = admin::replace_device(&lab.server.db, &old_device, "thử")
        .await
        .expect("spare");
    let refused = Station::restore(
        &damaged_file,
        PASSPHRASE,
        &lab.dir.path().join("thu"),
        &lab.server.url,
        &spare.token,
        None,
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(SyncError::Station(StationError::Backup(
                BackupError::Damaged(_)
            )))
        ),
        "{:?}",
        refused.err()
    );
    // The right file and passphrase, with the replacement the administrator issued.
    let (restored, client) = rebuild_from(&lab, &spare.token, file).await;

    let (on_server, rows) = doses_on_server(&lab).await;
    assert_eq!(on_server, expected.iter().copied().collect::<BTreeSet<_>>());
    assert_eq!(rows, expected.len() as i64, "each dose once");
    assert_eq!(restored.status().await.expect("status").pending_changes, 0);

    // The old laptop's token no longer works; the new laptop records as a new actor.
    let old_client = client_of(&lab, &old_token);
    assert!(old_client.info().await.is_err(), "the old token is revoked");
    let (_, more) = vaccinate(&restored, &mut g, 1).await;
    restored.sync(&client).await.expect("synced");
    let (on_server, rows) = doses_on_server(&lab).await;
    assert!(on_server.contains(&more[0]));
    assert_eq!(rows, expected.len() as i64 + 1);
}

#[tokio::test]
async fn changes_synced_after_the_backup_are_neither_lost_nor_duplicated_by_a_restore() {
    // On PostgreSQL: the replacement's actors and audit chain on the other backend.
    let lab = Lab::start(Backend::Postgres).await;
    let usb = tempfile::tempdir().expect("usb");
    let mut g = sotiem_fixtures::Generator::new(20261203);
    let laptop = station_with_backups(&lab, usb.path()).await;

    let (_, mut expected) = vaccinate(&laptop, &mut g, 2).await;
    let backup = laptop
        .backup_now(None)
        .await
        .expect("backup written on demand");
    // After the backup the link came back: what it held went up, and more was recorded and
    // synced before the laptop died.
    laptop.sync().await.expect("synced");
    let (_, later) = vaccinate(&laptop, &mut g, 2).await;
    expected.extend(later);
    laptop.sync().await.expect("synced");
    let old_token = laptop.token.clone();
    laptop.station.close().await;
    std::fs::remove_dir_all(&laptop.dir).expect("laptop gone");

    let (restored, _) = rebuild(&lab, &old_token, Path::new(&backup.file)).await;
    let (on_server, rows) = doses_on_server(&lab).await;
    assert_eq!(on_server, expected.iter().copied().collect::<BTreeSet<_>>());
    assert_eq!(rows, expected.len() as i64, "each dose once");
    // The restored laptop has everything: what the backup held and what the server had since.
    assert_eq!(
        restored.status().await.expect("status").doses,
        expected.len() as i64
    );
}

/// Rebuilds from `backup` with an already issued replacement `token`.
async fn rebuild_from(lab: &Lab, token: &str, backup: &Path) -> (Station, station::SyncClient) {
    let dir = lab.dir.path().join("may-moi");
    let mut restored = Station::restore(backup, PASSPHRASE, &dir, &lab.server.url, token, None)
        .await
        .expect("restored");
    restored.set_clock(lab.server.clock.clone());
    let client = client(&lab.server.url, token);
    lab.sign_in(&restored, &client, "nv.lan").await;
    restored
        .sync_with_retry(&client, &quick_retry(3))
        .await
        .expect("the restored station syncs");
    (restored, client)
}

fn client_of(lab: &Lab, token: &str) -> station::SyncClient {
    client(&lab.server.url, token)
}
