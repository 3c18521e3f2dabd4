//! Coverage by birth cohort (issue 29): the station's figures and the district/province
//! console's, per commune, equal a count made here from the doses each child was given —
//! with the calendar's ages and intervals written out plainly, not the schedule engine —
//! including doses given elsewhere (history), a voided dose, a birth dose too late to count
//! and a child of another commune.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, both_backends};
use std::collections::BTreeMap;
use sync_protocol::auth::Role;
use sync_protocol::person::now;
use sync_protocol::schedule::coverage::{Cohort, Coverage};
use sync_protocol::{Dose, DoseHistory, DoseKind, HistorySource, Person, VIETNAM};
use time::{Date, Duration, Time};
use uuid::Uuid;

/// What one child got: (product, age in days at the dose), in order.
type Given = Vec<(&'static str, i64)>;

/// A child's doses drawn from plans a commune sees: on time, late, very late, stopped, none.
fn draw(rng: &mut StdRng) -> Given {
    let mut g = Given::new();
    match rng.random_range(0..4) {
        0 => g.push(("hepb", 0)),
        1 => g.push(("hepb", 1)), // counted, not on time
        2 => g.push(("hepb", rng.random_range(2..6))), // past 24 h: not counted
        _ => {}
    }
    match rng.random_range(0..5) {
        0..=2 => g.push(("bcg", rng.random_range(0..30))),
        3 => g.push(("bcg", rng.random_range(30..200))),
        _ => {}
    }
    // The 5-in-1 with bOPV the same day.
    let first = match rng.random_range(0..6) {
        0..=2 => Some(60 + rng.random_range(0..10)),
        3 => Some(rng.random_range(100..150)),
        4 => Some(rng.random_range(330..400)),
        _ => None,
    };
    if let Some(first) = first {
        let count = if rng.random_range(0..5) == 0 { 2 } else { 3 };
        let mut day = first;
        for _ in 0..count {
            g.push(("dtp_hepb_hib", day));
            g.push(("bopv", day));
            day += 30 + rng.random_range(0..10);
        }
    }
    match rng.random_range(0..4) {
        0 | 1 => g.push(("ipv", 150 + rng.random_range(0..30))),
        2 => g.push(("ipv", rng.random_range(200..300))),
        _ => {}
    }
    match rng.random_range(0..5) {
        0 | 1 => g.push(("measles", 270 + rng.random_range(0..30))),
        2 => g.push(("measles", rng.random_range(300..360))),
        3 => g.push(("measles", rng.random_range(400..500))),
        _ => {}
    }
    match rng.random_range(0..3) {
        0 => g.push(("mr", 540 + rng.random_range(0..30))),
        1 => g.push(("mr", rng.random_range(580..700))),
        _ => {}
    }
    g.sort_by_key(|(_, age)| *age);
    g
}

/// One indicator for one child, counted by hand.
#[derive(Debug, Clone, Copy, Default)]
struct Got {
    reached: bool,
    on_time: bool,
    /// The age in days it was reached at.
    age: i64,
}

/// A series' doses by hand: each `(min age, due age, min interval)`; overdue 30 days after
/// the due day (1 day for the birth dose); `max_age` past which a dose does not count.
/// Returns each counted dose's age and whether it was on time.
fn series(ages: &[i64], rules: &[(i64, i64, i64)], overdue: i64, max_age: i64) -> Vec<(i64, bool)> {
    let mut out: Vec<(i64, bool)> = Vec::new();
    for &age in ages {
        let Some(&(min_age, due_age, interval)) = rules.get(out.len()) else {
            break;
        };
        let earliest = out
            .last()
            .map_or(min_age, |(prev, _)| min_age.max(prev + interval));
        if age < earliest || age > max_age {
            continue;
        }
        let due = earliest.max(due_age);
        out.push((age, age < due + overdue));
    }
    out
}

/// Indicator `needs` doses of several series: reached when each has that many counted.
fn indicator(parts: &[(&Vec<(i64, bool)>, usize)]) -> Got {
    let mut got = Got {
        reached: true,
        on_time: true,
        age: 0,
    };
    for (counted, n) in parts {
        match counted.get(n - 1) {
            Some((age, _)) => {
                got.age = got.age.max(*age);
                got.on_time &= counted[..*n].iter().all(|(_, on_time)| *on_time);
            }
            None => return Got::default(),
        }
    }
    got
}

/// Every indicator of the built-in schedule for one child, by hand.
fn by_hand(given: &Given) -> BTreeMap<&'static str, Got> {
    let ages = |products: &[&str]| -> Vec<i64> {
        given
            .iter()
            .filter(|(p, _)| products.contains(p))
            .map(|(_, a)| *a)
            .collect()
    };
    let never = i64::MAX;
    let hepb_birth = series(&ages(&["hepb"]), &[(0, 0, 0)], 1, 1);
    let bcg = series(&ages(&["bcg"]), &[(0, 0, 0)], 30, 365);
    let infant = [(42, 60, 0), (42, 90, 28), (42, 120, 28)];
    let five = series(&ages(&["dtp_hepb_hib"]), &infant, 30, never);
    let bopv = series(&ages(&["bopv"]), &infant, 30, never);
    let ipv = series(&ages(&["ipv"]), &[(42, 150, 0)], 30, never);
    let measles = series(
        &ages(&["measles", "mr"]),
        &[(270, 270, 0), (540, 540, 28)],
        30,
        never,
    );
    let rubella = series(&ages(&["mr"]), &[(540, 540, 0)], 30, never);
    BTreeMap::from([
        ("hepb_birth", indicator(&[(&hepb_birth, 1)])),
        ("bcg", indicator(&[(&bcg, 1)])),
        ("dtp3", indicator(&[(&five, 3)])),
        ("bopv3", indicator(&[(&bopv, 3)])),
        ("ipv1", indicator(&[(&ipv, 1)])),
        ("measles1", indicator(&[(&measles, 1)])),
        (
            "full",
            indicator(&[(&bcg, 1), (&five, 3), (&bopv, 3), (&ipv, 1), (&measles, 1)]),
        ),
        ("dtp4", Got::default()),
        ("mr", indicator(&[(&measles, 2), (&rubella, 1)])),
        ("je2", Got::default()),
    ])
}

/// The figures expected of a group: per indicator (reached, on time, by 12, by 24 months).
#[derive(Debug, Default, PartialEq, Eq)]
struct Figures {
    children: u32,
    aged_12: u32,
    aged_24: u32,
    indicators: BTreeMap<String, (u32, u32, Option<u32>, Option<u32>)>,
}

fn expected(children: &[(Date, Given)], on: Date) -> Figures {
    let mut f = Figures::default();
    for (birth, given) in children {
        let age = (on - *birth).whole_days();
        f.children += 1;
        let (aged_12, aged_24) = (age >= 365, age >= 730);
        f.aged_12 += u32::from(aged_12);
        f.aged_24 += u32::from(aged_24);
        for (id, got) in by_hand(given) {
            // Only the 18-month doses and JE cannot count before a year.
            let late_series = matches!(id, "dtp4" | "mr" | "je2");
            let e = f.indicators.entry(id.to_string()).or_insert((
                0,
                0,
                (!late_series).then_some(0),
                Some(0),
            ));
            e.0 += u32::from(got.reached);
            e.1 += u32::from(got.reached && got.on_time);
            if let Some(by12) = e.2.as_mut() {
                *by12 += u32::from(aged_12 && got.reached && got.age < 365);
            }
            if let Some(by24) = e.3.as_mut() {
                *by24 += u32::from(aged_24 && got.reached && got.age < 730);
            }
        }
    }
    f
}

fn figures(c: &Coverage) -> Figures {
    let first = c.indicators.first().expect("indicators");
    Figures {
        children: c.children,
        aged_12: first.aged_12_months,
        aged_24: first.aged_24_months,
        indicators: c
            .indicators
            .iter()
            .map(|i| {
                (
                    i.indicator.clone(),
                    (i.reached, i.on_time, i.by_12_months, i.by_24_months),
                )
            })
            .collect(),
    }
}

/// Children of `facility` born in `year` with drawn doses, given before `today`; the birth
/// doses of one in three typed in from the maternity ward's card (history).
fn children(
    g: &mut Generator,
    rng: &mut StdRng,
    facility: &str,
    user: &str,
    year: i32,
    n: usize,
    today: Date,
) -> Vec<(Person, Given)> {
    let first = Date::from_ordinal_date(year, 1).expect("1 January");
    (0..n)
        .map(|_| {
            let birth = first + Duration::days(rng.random_range(0..365));
            let mut p = g.child(facility, user, birth + Duration::days(1), 1);
            p.birth_date = sync_protocol::BirthDate::Full(birth);
            p.doses.clear();
            let drawn: Given = draw(rng)
                .into_iter()
                .filter(|(_, age)| birth + Duration::days(*age) < today)
                .collect();
            let from_card = rng.random_range(0..3) == 0;
            let mut numbers: BTreeMap<&str, u8> = BTreeMap::new();
            for (product, age) in &drawn {
                let number = numbers.entry(product).or_insert(0);
                *number += 1;
                let history = from_card && *age < 2;
                let d = Dose {
                    id: Uuid::now_v7(),
                    vaccine: (*product).into(),
                    lot: "QV2405".into(),
                    dose_number: *number,
                    kind: DoseKind::Primary,
                    given_at: (birth + Duration::days(*age))
                        .with_time(Time::from_hms(8, 30, 0).expect("time"))
                        .assume_offset(VIETNAM),
                    facility: if history {
                        String::new()
                    } else {
                        facility.into()
                    },
                    vaccinator: if history {
                        "NHS Trần Thị Mỹ".into()
                    } else {
                        user.into()
                    },
                    place: history.then(|| "Bệnh viện Hùng Vương".into()),
                    reaction_notes: None,
                    voided: None,
                    signature: None,
                    history: history.then(|| DoseHistory {
                        source: HistorySource::Facility,
                        recorded_by: user.into(),
                    }),
                };
                p.doses.insert(d.id, d);
            }
            (p, drawn)
        })
        .collect()
}

/// The numbers of a commune's row on the console page, per indicator.
fn console_row(
    page: &str,
    commune: &str,
) -> BTreeMap<String, (u32, u32, Option<u32>, Option<u32>)> {
    let start = page
        .find(&format!("data-commune=\"{commune}\""))
        .unwrap_or_else(|| panic!("{commune} on the page"));
    let row = &page[start..];
    let row = &row[..row.find("</tr>").expect("end of row")];
    let attr = |cell: &str, name: &str| -> Option<u32> {
        let at = cell.find(&format!("{name}=\""))? + name.len() + 2;
        cell[at..cell[at..].find('"')? + at].parse().ok()
    };
    row.split("data-indicator=\"")
        .skip(1)
        .map(|cell| {
            let id = cell[..cell.find('"').expect("id")].to_string();
            let counts = (
                attr(cell, "data-reached").expect("reached"),
                attr(cell, "data-on-time").expect("on time"),
                attr(cell, "data-by-12"),
                attr(cell, "data-by-24"),
            );
            (id, counts)
        })
        .collect()
}

async fn coverage_equals_an_independent_count_on_the_station_and_the_console(backend: Backend) {
    let lab = Lab::start(backend).await;
    lab.server.facility("CDC-HCM", "cdc", None, None).await;
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    let tuc = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    let today = now().date();
    // Born two years ago: every child is 12 months old, most are 24.
    let year = today.year() - 2;
    let mut g = Generator::new(2929);
    let mut rng = StdRng::seed_from_u64(2929);
    let mut nhut_children = children(&mut g, &mut rng, "TYT-TANNHUT", "nv.lan", year, 48, today);
    let tuc_children = children(&mut g, &mut rng, "TYT-TANTUC", "nv.tuc", year, 16, today);
    // Outside the cohort: a child born the year after, with every dose on time.
    let outside = children(
        &mut g,
        &mut rng,
        "TYT-TANNHUT",
        "nv.lan",
        year + 1,
        4,
        today,
    );
    let people = |c: &[(Person, Given)]| c.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    nhut.import_people(&people(&nhut_children))
        .await
        .expect("imported");
    nhut.import_people(&people(&outside))
        .await
        .expect("imported");
    tuc.import_people(&people(&tuc_children))
        .await
        .expect("imported");
    // A measles dose recorded on the wrong child is voided: it no longer counts.
    let (wrong, given) = nhut_children
        .iter_mut()
        .find(|(_, g)| g.iter().any(|(p, _)| *p == "measles"))
        .expect("a child with measles");
    let measles = wrong
        .active_doses()
        .into_iter()
        .find(|d| d.vaccine == "measles")
        .map(|d| d.id)
        .expect("measles dose");
    nhut.void_dose(measles, "Ghi nhầm người")
        .await
        .expect("voided");
    given.retain(|(p, _)| *p != "measles");

    let born = |c: &[(Person, Given)]| -> Vec<(Date, Given)> {
        c.iter()
            .map(|(p, g)| (p.birth_date.earliest_day(), g.clone()))
            .collect()
    };
    let want_nhut = expected(&born(&nhut_children), today);
    let want_tuc = expected(&born(&tuc_children), today);
    assert_eq!(want_nhut.children, 48);
    assert!(
        want_nhut.indicators["full"].0 > 5 && want_nhut.indicators["full"].1 > 0,
        "the draw gives fully immunized children, some on time: {want_nhut:?}"
    );
    assert!(
        want_nhut.indicators["dtp3"].0 > want_nhut.indicators["dtp3"].1,
        "and late ones"
    );

    // The station's figures, before any sync.
    let cohort = Cohort::parse(&year.to_string()).expect("cohort");
    let station = nhut.coverage(cohort, None).await.expect("coverage");
    assert_eq!(station.label, format!("năm {year}"));
    assert_eq!(figures(&station.coverage), want_nhut);
    // A month of the cohort: only its children.
    let june = Cohort::parse(&format!("{year}-06")).expect("month");
    let in_june: Vec<(Date, Given)> = born(&nhut_children)
        .into_iter()
        .filter(|(b, _)| june.contains(*b))
        .collect();
    let month = nhut.coverage(june, None).await.expect("coverage");
    assert_eq!(figures(&month.coverage), expected(&in_june, today));

    // The console, per commune, after the stations synced.
    nhut.sync().await.expect("Tân Nhựt syncs");
    tuc.sync().await.expect("Tân Túc syncs");
    let province = lab
        .device_as("cdc", "CDC-HCM", "cb.tinh", Role::ProvinceOfficer)
        .await;
    let session = province
        .session()
        .and_then(|s| s.server_token().map(str::to_string))
        .expect("online session");
    let http = reqwest::Client::new();
    let page = http
        .get(format!(
            "{}/console/coverage?cohort={year}&day={today}",
            lab.server.url
        ))
        .header("cookie", format!("sotiem_console={session}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(page.status().as_u16(), 200);
    let page = page.text().await.expect("page");
    for (commune, want) in [
        (sotiem_scenarios::TAN_NHUT, &want_nhut),
        (sotiem_scenarios::TAN_TUC, &want_tuc),
    ] {
        assert_eq!(console_row(&page, commune), want.indicators, "{commune}");
    }
    let total_children = format!(
        "data-testid=\"coverage-children\">{}<",
        want_nhut.children + want_tuc.children
    );
    assert!(page.contains(&total_children), "the area's total");
    // A cohort typed wrong: said so, last year's children shown instead.
    let wrong = http
        .get(format!("{}/console/coverage?cohort=20x5", lab.server.url))
        .header("cookie", format!("sotiem_console={session}"))
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("page");
    assert!(
        wrong.contains("console-error") && wrong.contains("20x5") && wrong.contains("không hợp lệ"),
        "{wrong}"
    );
    // A nurse's session does not open it.
    let nurse_session = nhut
        .session()
        .and_then(|s| s.server_token().map(str::to_string))
        .expect("session");
    let refused = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/console/coverage", lab.server.url))
        .header("cookie", format!("sotiem_console={nurse_session}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status().as_u16(), 403);
    lab.server.stop().await;
}

both_backends!(coverage_equals_an_independent_count_on_the_station_and_the_console);
