//! Helpers shared by the cross-crate scenarios: stations in temporary directories with their own
//! keys, a real server on loopback (SQLite or PostgreSQL), a fault-injecting proxy.

pub mod proxy;
pub mod server;

use station::{DbKey, FacilityKind, NewStation, Station};
use std::path::Path;

/// Creates a station in `dir` with an explicit key, signed in as `user`.
pub async fn new_station(dir: &Path, facility: &str, user: &str, key: &DbKey) -> Station {
    new_station_in(
        dir,
        facility,
        FacilityKind::CommuneStation,
        "Xã Tân Nhựt",
        user,
        key,
    )
    .await
}

/// Creates a station of a given kind and commune.
pub async fn new_station_in(
    dir: &Path,
    facility: &str,
    kind: FacilityKind,
    commune: &str,
    user: &str,
    key: &DbKey,
) -> Station {
    let mut s = Station::init_with_key(
        dir,
        NewStation {
            facility_code: facility.into(),
            facility_name: format!("Trạm Y tế {facility}"),
            kind,
            province: Some("TP Hồ Chí Minh".into()),
            commune: Some(commune.into()),
        },
        Some(key.clone()),
    )
    .await
    .expect("station initialises");
    s.set_operator(user).expect("valid user");
    s
}

/// Opens an existing station with its key, signed in as `user`.
pub async fn open_station(dir: &Path, user: &str, key: &DbKey) -> Station {
    let mut s = Station::open_with_key(dir, Some(key.clone()))
        .await
        .expect("station opens");
    s.set_operator(user).expect("valid user");
    s
}

/// A sync client for a test server (or proxy) URL.
pub fn client(url: &str, token: &str) -> station::SyncClient {
    station::SyncClient::new(url, token, None).expect("client")
}

/// Retries fast: tests cut connections on purpose.
pub fn quick_retry(attempts: u32) -> station::RetryPolicy {
    station::RetryPolicy {
        attempts,
        first_delay: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(50),
    }
}

/// Every person of a station, read whole, by id.
pub async fn all_people(
    s: &Station,
) -> std::collections::BTreeMap<uuid::Uuid, sync_protocol::Person> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM persons ORDER BY id")
        .fetch_all(s.store().pool())
        .await
        .expect("ids");
    let mut out = std::collections::BTreeMap::new();
    for id in ids {
        let id = uuid::Uuid::parse_str(&id).expect("uuid");
        out.insert(id, s.show(id).await.expect("show").person);
    }
    out
}

/// Copies every unacknowledged local change of `from` into `to`, as a sync would, and marks them
/// acknowledged on `from`.
pub async fn deliver(from: &Station, to: &Station) -> usize {
    let entries = from.outbox(100_000).await.expect("outbox");
    let mut by_person: std::collections::BTreeMap<uuid::Uuid, Vec<Vec<u8>>> = Default::default();
    for e in &entries {
        by_person
            .entry(e.person_id)
            .or_default()
            .push(e.change.clone());
    }
    for (person, changes) in by_person {
        to.apply_remote_changes(person, changes)
            .await
            .expect("changes apply");
    }
    let hashes: Vec<Vec<u8>> = entries.iter().map(|e| e.change_hash.clone()).collect();
    from.acknowledge(&hashes).await.expect("acknowledge");
    entries.len()
}
