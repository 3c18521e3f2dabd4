//! Updates of the app from the station's own server: a release signed with the Tauri CLI is
//! published, offered only to stations running an older version, served only to registered
//! devices; a package changed after signing, signed with another key or for another version is
//! refused at publishing; and an update waits until every change is synced.

use sotiem_scenarios::Lab;
use sotiem_scenarios::release::ReleaseKey;
use sotiem_scenarios::server::Backend;
use sotiem_server::releases::{self, NewRelease, ReleaseError};
use station::{DoseInput, PersonInput, StationError};
use std::path::Path;
use sync_protocol::IdentityKind;

/// A package of `len` random bytes (what the updater verifies does not depend on its content).
fn package(dir: &Path, name: &str, len: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    std::fs::write(&path, bytes).expect("package written");
    path
}

async fn publish(
    lab: &Lab,
    key: &ReleaseKey,
    version: &str,
    file: &Path,
    signature: &str,
) -> Result<releases::Release, ReleaseError> {
    releases::publish(
        &lab.server.db,
        &lab.server.updates_dir,
        &NewRelease {
            version,
            platform: "linux-x86_64",
            package: file,
            signature,
            notes: Some("Sửa lỗi đồng bộ khi mất mạng"),
        },
        Some(&key.public),
    )
    .await
}

/// GETs `path` of the server with the device `token` (or none).
async fn get(lab: &Lab, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let _ = lab;
    request.send().await.expect("the server answers")
}

fn check_url(lab: &Lab, current: &str) -> String {
    sync_protocol::endpoints::updater_endpoint(&lab.server.url)
        .replace("{{target}}", "linux")
        .replace("{{arch}}", "x86_64")
        .replace("{{current_version}}", current)
}

#[tokio::test]
async fn a_signed_release_is_offered_to_older_stations_only_and_served_to_registered_devices() {
    let lab = Lab::start(Backend::Sqlite).await;
    let work = tempfile::tempdir().expect("dir");
    let key = ReleaseKey::generate(work.path(), "phat-hanh");
    let token = lab.server.device("TYT-TANNHUT").await;

    let v2 = package(work.path(), "so-tiem_0.2.0_amd64.AppImage.tar.gz", 40_000);
    let sig2 = key.sign(&v2, "0.2.0");
    publish(&lab, &key, "0.2.0", &v2, &sig2)
        .await
        .expect("published");
    // 0.10.0 is newer than 0.9.0, though not as text.
    let v10 = package(work.path(), "so-tiem_0.10.0_amd64.AppImage.tar.gz", 30_000);
    let sig10 = key.sign(&v10, "0.10.0");
    publish(&lab, &key, "0.10.0", &v10, &sig10)
        .await
        .expect("published");

    let answer = get(&lab, &check_url(&lab, "0.1.0"), Some(&token)).await;
    assert_eq!(answer.status(), 200);
    let offer: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(offer["version"], "0.10.0", "{offer}");
    assert_eq!(offer["signature"], sig10.trim());
    assert_eq!(offer["notes"], "Sửa lỗi đồng bộ khi mất mạng");
    let url = offer["url"].as_str().expect("url");
    assert!(url.starts_with(&lab.server.url), "{url}");
    let body = get(&lab, url, Some(&token)).await;
    assert_eq!(body.status(), 200);
    assert_eq!(
        body.bytes().await.expect("bytes").to_vec(),
        std::fs::read(&v10).expect("read")
    );

    // Up to date: nothing to offer.
    assert_eq!(
        get(&lab, &check_url(&lab, "0.10.0"), Some(&token))
            .await
            .status(),
        204
    );
    // Only registered devices: no token, or a wrong one.
    assert_eq!(
        get(&lab, &check_url(&lab, "0.1.0"), None).await.status(),
        401
    );
    assert_eq!(get(&lab, url, Some("stk_khong_dung")).await.status(), 401);
    // A withdrawn release is offered no more; the one before it is again.
    releases::withdraw(&lab.server.db, "0.10.0", "linux-x86_64")
        .await
        .expect("withdrawn");
    let offer: serde_json::Value = get(&lab, &check_url(&lab, "0.1.0"), Some(&token))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(offer["version"], "0.2.0");
    // Another platform has nothing.
    let windows = check_url(&lab, "0.1.0").replace("/linux/", "/windows/");
    assert_eq!(get(&lab, &windows, Some(&token)).await.status(), 204);
}

#[tokio::test]
async fn publishing_refuses_a_changed_package_another_key_and_another_version() {
    let lab = Lab::start(Backend::Postgres).await;
    let work = tempfile::tempdir().expect("dir");
    let key = ReleaseKey::generate(work.path(), "phat-hanh");
    let stranger = ReleaseKey::generate(work.path(), "la");
    let file = package(work.path(), "goi.tar.gz", 20_000);
    let signature = key.sign(&file, "0.3.0");

    // Changed after signing.
    let changed = work.path().join("goi-sua.tar.gz");
    let mut bytes = std::fs::read(&file).expect("read");
    bytes[1000] ^= 1;
    std::fs::write(&changed, &bytes).expect("write");
    assert!(matches!(
        publish(&lab, &key, "0.3.0", &changed, &signature).await,
        Err(ReleaseError::SignatureMismatch)
    ));
    // Signed with a key the app does not know.
    let foreign = stranger.sign(&file, "0.3.0");
    assert!(matches!(
        publish(&lab, &key, "0.3.0", &file, &foreign).await,
        Err(ReleaseError::SignatureMismatch)
    ));
    // Signed for 0.3.0, announced as 0.4.0.
    assert!(matches!(
        publish(&lab, &key, "0.4.0", &file, &signature).await,
        Err(ReleaseError::VersionMismatch { .. })
    ));
    assert!(matches!(
        publish(&lab, &key, "3.0", &file, &signature).await,
        Err(ReleaseError::BadVersion(_))
    ));
    assert!(matches!(
        publish(&lab, &key, "0.3.0", &file, "không phải chữ ký").await,
        Err(ReleaseError::BadSignature(_))
    ));
    // Nothing was kept of any of them.
    assert!(
        releases::list(&lab.server.db)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        !lab.server.updates_dir.exists()
            || std::fs::read_dir(&lab.server.updates_dir)
                .expect("dir")
                .next()
                .is_none()
    );
    // The honest one is taken, once.
    publish(&lab, &key, "0.3.0", &file, &signature)
        .await
        .expect("published");
    assert!(matches!(
        publish(&lab, &key, "0.3.0", &file, &signature).await,
        Err(ReleaseError::Exists { .. })
    ));
}

#[tokio::test]
async fn an_update_waits_until_every_change_is_synced() {
    let lab = Lab::start(Backend::Sqlite).await;
    let laptop = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    laptop.ready_for_update().await.expect("nothing waits");
    let person = laptop
        .register_person(PersonInput {
            full_name: "Phạm Thị Hồng Nhung".into(),
            gender: "nu".into(),
            birth_date: "14/08/1992".into(),
            id_kind: Some(IdentityKind::Cccd),
            id_number: Some("079192004512".into()),
            phone: Some("0938 112 457".into()),
            ..PersonInput::default()
        })
        .await
        .expect("registered");
    laptop
        .record_dose(
            person.id,
            DoseInput {
                vaccine: "pfizer".into(),
                lot: "FK8891".into(),
                ..DoseInput::default()
            },
        )
        .await
        .expect("dose");
    match laptop.ready_for_update().await {
        Err(e @ StationError::UpdateWaitsForSync { pending }) => {
            assert_eq!(pending, 2);
            assert!(e.to_string().contains("đồng bộ"), "{e}");
        }
        other => panic!("an update must wait for the sync: {other:?}"),
    }
    laptop.sync().await.expect("synced");
    laptop
        .ready_for_update()
        .await
        .expect("everything is on the server");
}
