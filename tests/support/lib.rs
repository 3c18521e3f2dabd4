//! Helpers shared by the cross-crate scenarios: stations in temporary directories with their own
//! keys, and the helper binaries' paths.

use station::{DbKey, FacilityKind, NewStation, Station};
use std::path::Path;

/// Creates a station in `dir` with an explicit key, signed in as `user`.
pub async fn new_station(dir: &Path, facility: &str, user: &str, key: &DbKey) -> Station {
    let mut s = Station::init_with_key(
        dir,
        NewStation {
            facility_code: facility.into(),
            facility_name: format!("Trạm Y tế {facility}"),
            kind: FacilityKind::CommuneStation,
            province: Some("TP Hồ Chí Minh".into()),
            commune: Some("Xã Tân Nhựt".into()),
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
