//! Which stations have gone quiet (issue 17's first view): the server records when each device
//! last reached it, on its own clock, and `stations::contacts` lists the silent ones first.

use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, both_backends};

async fn a_station_silent_for_four_days_is_listed_first(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    let tuc = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    nhut.sync().await.expect("Tân Nhựt syncs");
    tuc.sync().await.expect("Tân Túc syncs");

    // Four days later only Tân Nhựt syncs again.
    lab.server.clock.advance(time::Duration::days(4));
    lab.sign_in(&nhut, &nhut.client, "nv.lan").await;
    nhut.sync().await.expect("Tân Nhựt syncs again");

    let now = lab.server.clock.now();
    let list = sotiem_server::stations::contacts(&lab.server.db, now, 3, None)
        .await
        .expect("contacts");
    let row = |facility: &str| {
        list.iter()
            .find(|c| c.facility == facility)
            .unwrap_or_else(|| panic!("{facility} listed: {list:?}"))
    };
    let (tuc_row, nhut_row, team) = (row("TYT-TANTUC"), row("TYT-TANNHUT"), row("TYT-TANNHUT-LD"));
    assert!(tuc_row.silent);
    assert_eq!(tuc_row.silent_days, Some(4));
    assert!(!nhut_row.silent, "{nhut_row:?}");
    assert_eq!(nhut_row.silent_days, Some(0));
    assert!(
        team.silent && team.device_id.is_none(),
        "a facility without a device: {team:?}"
    );
    // Silent first, the longest silence (never) before four days; the healthy ones last.
    assert!(
        list.last().is_some_and(|c| c.facility == "TYT-TANNHUT"),
        "{list:?}"
    );
    let pos = |f: &str| list.iter().position(|c| c.facility == f);
    assert!(pos("TYT-TANNHUT-LD") < pos("TYT-TANTUC"));
    // A looser threshold: four days is not silent past a week.
    let week = sotiem_server::stations::contacts(&lab.server.db, now, 7, None)
        .await
        .expect("contacts");
    assert!(week.iter().any(|c| c.facility == "TYT-TANTUC" && !c.silent));
    // Another province's officer's view holds none of these.
    let elsewhere = sotiem_server::stations::contacts(&lab.server.db, now, 3, Some("Hà Nội"))
        .await
        .expect("contacts");
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
    lab.server.stop().await;
}
both_backends!(a_station_silent_for_four_days_is_listed_first);
