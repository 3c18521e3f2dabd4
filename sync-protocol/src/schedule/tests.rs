use super::*;
use proptest::prelude::*;
use time::macros::date;

/// Infants in the table are born on this day.
const BABY: Date = date!(2024 - 03 - 15);
/// Born in time for the Td dose at 7 years.
const PUPIL: Date = date!(2017 - 09 - 01);
/// A woman for the tetanus series.
const WOMAN: Date = date!(2000 - 05 - 20);
/// Born before rotavirus and PCV reached province "01" (2024-01-01 in these tests).
const BEFORE_INTRO: Date = date!(2023 - 06 - 01);

fn built_in() -> RuleSet {
    let s = Schedule::current().expect("built-in schedule is valid");
    s.rule_set_on(date!(2026 - 12 - 07))
        .expect("a rule set is in force")
        .clone()
}

/// The built-in rule set with rotavirus and PCV introduced in province "01" on 2024-01-01.
fn with_province_01() -> RuleSet {
    let mut r = built_in();
    for a in &mut r.antigens {
        if let Some(starts) = &mut a.introduced {
            starts.insert("01".into(), date!(2024 - 01 - 01));
        }
    }
    r
}

fn day(birth: Date, days: i64) -> Date {
    birth + Duration::days(days)
}

/// One golden case: doses and dates are in days after birth.
struct Row {
    name: &'static str,
    series: &'static str,
    birth: Date,
    doses: &'static [(&'static str, i64)],
    on: i64,
    province: Option<&'static str>,
    status: Status,
    counted: u8,
    earliest: Option<i64>,
    early: usize,
}

use Status::*;

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // Hepatitis B birth dose: within 24 h.
    Row { name: "hepb birth on time", series: "hepb_birth", birth: BABY, doses: &[("hepb", 0)], on: 30, province: None, status: Complete, counted: 1, earliest: None, early: 0 },
    Row { name: "hepb birth due on day 0", series: "hepb_birth", birth: BABY, doses: &[], on: 0, province: None, status: Due, counted: 0, earliest: Some(0), early: 0 },
    Row { name: "hepb birth recorded before birth is early", series: "hepb_birth", birth: BABY, doses: &[("hepb", -1)], on: 0, province: None, status: Due, counted: 0, earliest: Some(0), early: 1 },
    Row { name: "hepb birth overdue on day 1", series: "hepb_birth", birth: BABY, doses: &[], on: 1, province: None, status: Overdue, counted: 0, earliest: Some(0), early: 0 },
    Row { name: "hepb birth at day 5 too late to count", series: "hepb_birth", birth: BABY, doses: &[("hepb", 5)], on: 10, province: None, status: TooOld, counted: 0, earliest: Some(0), early: 0 },
    // BCG.
    Row { name: "bcg at birth", series: "bcg", birth: BABY, doses: &[("bcg", 0)], on: 10, province: None, status: Complete, counted: 1, earliest: None, early: 0 },
    Row { name: "bcg overdue", series: "bcg", birth: BABY, doses: &[], on: 45, province: None, status: Overdue, counted: 0, earliest: Some(0), early: 0 },
    Row { name: "bcg catch-up at 100 days", series: "bcg", birth: BABY, doses: &[("bcg", 100)], on: 110, province: None, status: Complete, counted: 1, earliest: None, early: 0 },
    Row { name: "bcg too old after a year", series: "bcg", birth: BABY, doses: &[], on: 400, province: None, status: TooOld, counted: 0, earliest: Some(0), early: 0 },
    Row { name: "bcg 10 days after measles is early (live spacing)", series: "bcg", birth: BABY, doses: &[("measles", 270), ("bcg", 280)], on: 290, province: None, status: NotYet, counted: 0, earliest: Some(298), early: 1 },
    // DTP (5 in 1 at 2, 3, 4 months; booster at 18 months).
    Row { name: "dtp on time, four doses", series: "dtp", birth: BABY, doses: &[("dtp_hepb_hib", 60), ("dtp_hepb_hib", 90), ("dtp_hepb_hib", 120), ("dtp", 540)], on: 600, province: None, status: Complete, counted: 4, earliest: None, early: 0 },
    Row { name: "dtp booster waits for 18 months", series: "dtp", birth: BABY, doses: &[("dtp_hepb_hib", 60), ("dtp_hepb_hib", 90), ("dtp_hepb_hib", 120)], on: 200, province: None, status: NotYet, counted: 3, earliest: Some(540), early: 0 },
    Row { name: "dtp before 6 weeks is early", series: "dtp", birth: BABY, doses: &[("dtp_hepb_hib", 35)], on: 50, province: None, status: Due, counted: 0, earliest: Some(42), early: 1 },
    Row { name: "dtp2 15 days after dtp1 is early", series: "dtp", birth: BABY, doses: &[("dtp_hepb_hib", 60), ("dtp_hepb_hib", 75)], on: 80, province: None, status: NotYet, counted: 1, earliest: Some(88), early: 1 },
    Row { name: "dtp2 overdue", series: "dtp", birth: BABY, doses: &[("dtp_hepb_hib", 60)], on: 150, province: None, status: Overdue, counted: 1, earliest: Some(88), early: 0 },
    Row { name: "dtp catch-up keeps 28 days", series: "dtp", birth: BABY, doses: &[("dtp_hepb_hib", 200), ("dtp_hepb_hib", 228)], on: 240, province: None, status: NotYet, counted: 2, earliest: Some(256), early: 0 },
    Row { name: "dtp booster within 6 months of dtp3 is early", series: "dtp", birth: BABY, doses: &[("dtp_hepb_hib", 60), ("dtp_hepb_hib", 90), ("dtp_hepb_hib", 400), ("dtp", 545)], on: 560, province: None, status: NotYet, counted: 3, earliest: Some(583), early: 1 },
    // Hepatitis B series (from 5 in 1 / 6 in 1).
    Row { name: "hepb three doses of 5 in 1", series: "hepb", birth: BABY, doses: &[("dtp_hepb_hib", 60), ("dtp_hepb_hib", 90), ("dtp_hepb_hib", 120)], on: 130, province: None, status: Complete, counted: 3, earliest: None, early: 0 },
    Row { name: "hepb 6 in 1 at 30 days is early", series: "hepb", birth: BABY, doses: &[("dtap_ipv_hepb_hib", 30)], on: 35, province: None, status: NotYet, counted: 0, earliest: Some(42), early: 1 },
    Row { name: "hepb1 overdue", series: "hepb", birth: BABY, doses: &[], on: 100, province: None, status: Overdue, counted: 0, earliest: Some(42), early: 0 },
    Row { name: "hepb catch-up with 6 in 1", series: "hepb", birth: BABY, doses: &[("dtap_ipv_hepb_hib", 150), ("dtap_ipv_hepb_hib", 180)], on: 190, province: None, status: NotYet, counted: 2, earliest: Some(208), early: 0 },
    // Hib.
    Row { name: "hib three doses", series: "hib", birth: BABY, doses: &[("dtp_hepb_hib", 60), ("dtap_ipv_hepb_hib", 90), ("dtp_hepb_hib", 120)], on: 130, province: None, status: Complete, counted: 3, earliest: None, early: 0 },
    Row { name: "hib early then due", series: "hib", birth: BABY, doses: &[("dtp_hepb_hib", 40)], on: 45, province: None, status: Due, counted: 0, earliest: Some(42), early: 1 },
    Row { name: "hib3 overdue", series: "hib", birth: BABY, doses: &[("dtp_hepb_hib", 60), ("dtp_hepb_hib", 90)], on: 160, province: None, status: Overdue, counted: 2, earliest: Some(118), early: 0 },
    Row { name: "hib dtp-only does not count", series: "hib", birth: BABY, doses: &[("dtp", 60)], on: 70, province: None, status: Due, counted: 0, earliest: Some(42), early: 0 },
    // bOPV (oral: exempt from live spacing).
    Row { name: "bopv on time", series: "bopv", birth: BABY, doses: &[("bopv", 60), ("bopv", 90), ("bopv", 120)], on: 130, province: None, status: Complete, counted: 3, earliest: None, early: 0 },
    Row { name: "bopv at 40 days is early", series: "bopv", birth: BABY, doses: &[("bopv", 40)], on: 41, province: None, status: NotYet, counted: 0, earliest: Some(42), early: 1 },
    Row { name: "bopv1 overdue", series: "bopv", birth: BABY, doses: &[], on: 95, province: None, status: Overdue, counted: 0, earliest: Some(42), early: 0 },
    Row { name: "bopv catch-up 5 days after measles counts", series: "bopv", birth: BABY, doses: &[("measles", 270), ("bopv", 275)], on: 280, province: None, status: NotYet, counted: 1, earliest: Some(303), early: 0 },
    // IPV.
    Row { name: "ipv at 5 months, dose 2 not yet", series: "ipv", birth: BABY, doses: &[("ipv", 150)], on: 160, province: None, status: NotYet, counted: 1, earliest: Some(178), early: 0 },
    Row { name: "ipv from 6 in 1 counts, extra dose ignored", series: "ipv", birth: BABY, doses: &[("dtap_ipv_hepb_hib", 60), ("dtap_ipv_hepb_hib", 90), ("dtap_ipv_hepb_hib", 120)], on: 130, province: None, status: Complete, counted: 2, earliest: None, early: 0 },
    Row { name: "ipv at 30 days is early", series: "ipv", birth: BABY, doses: &[("ipv", 30)], on: 35, province: None, status: NotYet, counted: 0, earliest: Some(42), early: 1 },
    Row { name: "ipv1 overdue", series: "ipv", birth: BABY, doses: &[], on: 181, province: None, status: Overdue, counted: 0, earliest: Some(42), early: 0 },
    Row { name: "ipv2 due at 9 months after catch-up", series: "ipv", birth: BABY, doses: &[("ipv", 200)], on: 280, province: None, status: Due, counted: 1, earliest: Some(228), early: 0 },
    // Measles (9 months; MR at 18 months).
    Row { name: "measles and mr on time", series: "measles", birth: BABY, doses: &[("measles", 270), ("mr", 540)], on: 560, province: None, status: Complete, counted: 2, earliest: None, early: 0 },
    Row { name: "measles at 250 days is early", series: "measles", birth: BABY, doses: &[("measles", 250)], on: 260, province: None, status: NotYet, counted: 0, earliest: Some(270), early: 1 },
    Row { name: "measles1 overdue", series: "measles", birth: BABY, doses: &[], on: 300, province: None, status: Overdue, counted: 0, earliest: Some(270), early: 0 },
    Row { name: "measles catch-up at 400 days", series: "measles", birth: BABY, doses: &[("measles", 400)], on: 410, province: None, status: NotYet, counted: 1, earliest: Some(540), early: 0 },
    Row { name: "measles 15 days after bcg is early", series: "measles", birth: BABY, doses: &[("bcg", 265), ("measles", 280)], on: 285, province: None, status: NotYet, counted: 0, earliest: Some(293), early: 1 },
    Row { name: "measles same day as bcg counts", series: "measles", birth: BABY, doses: &[("bcg", 280), ("measles", 280)], on: 285, province: None, status: NotYet, counted: 1, earliest: Some(540), early: 0 },
    // Rubella (MR at 18 months).
    Row { name: "rubella from mr", series: "rubella", birth: BABY, doses: &[("measles", 270), ("mr", 540)], on: 560, province: None, status: Complete, counted: 1, earliest: None, early: 0 },
    Row { name: "rubella mr at 9 months is early", series: "rubella", birth: BABY, doses: &[("mr", 270)], on: 280, province: None, status: NotYet, counted: 0, earliest: Some(540), early: 1 },
    Row { name: "rubella overdue, measles-only dose does not count", series: "rubella", birth: BABY, doses: &[("measles", 540)], on: 600, province: None, status: Overdue, counted: 0, earliest: Some(540), early: 0 },
    Row { name: "rubella waits 28 days after a measles-only dose", series: "rubella", birth: BABY, doses: &[("measles", 540)], on: 550, province: None, status: NotYet, counted: 0, earliest: Some(568), early: 0 },
    Row { name: "rubella catch-up at 2 years", series: "rubella", birth: BABY, doses: &[("mr", 730)], on: 740, province: None, status: Complete, counted: 1, earliest: None, early: 0 },
    // Japanese encephalitis (12 months; +7–14 days; +1 year).
    Row { name: "je on time", series: "je", birth: BABY, doses: &[("je", 365), ("je", 372), ("je", 737)], on: 740, province: None, status: Complete, counted: 3, earliest: None, early: 0 },
    Row { name: "je2 not before 7 days", series: "je", birth: BABY, doses: &[("je", 365)], on: 370, province: None, status: NotYet, counted: 1, earliest: Some(372), early: 0 },
    Row { name: "je2 due until day 14", series: "je", birth: BABY, doses: &[("je", 365)], on: 378, province: None, status: Due, counted: 1, earliest: Some(372), early: 0 },
    Row { name: "je2 overdue after 14 days", series: "je", birth: BABY, doses: &[("je", 365)], on: 379, province: None, status: Overdue, counted: 1, earliest: Some(372), early: 0 },
    Row { name: "je before 12 months is early", series: "je", birth: BABY, doses: &[("je", 360)], on: 362, province: None, status: NotYet, counted: 0, earliest: Some(365), early: 1 },
    Row { name: "je3 within a year is early", series: "je", birth: BABY, doses: &[("je", 365), ("je", 372), ("je", 700)], on: 710, province: None, status: NotYet, counted: 2, earliest: Some(737), early: 1 },
    Row { name: "je catch-up", series: "je", birth: BABY, doses: &[("je", 500), ("je", 507)], on: 600, province: None, status: NotYet, counted: 2, earliest: Some(872), early: 0 },
    // Td at 7 years.
    Row { name: "td at 7", series: "td", birth: PUPIL, doses: &[("td", 2555)], on: 2600, province: None, status: Complete, counted: 1, earliest: None, early: 0 },
    Row { name: "td before 7 is early", series: "td", birth: PUPIL, doses: &[("td", 2500)], on: 2510, province: None, status: NotYet, counted: 0, earliest: Some(2555), early: 1 },
    Row { name: "td overdue after a year", series: "td", birth: PUPIL, doses: &[], on: 2920, province: None, status: Overdue, counted: 0, earliest: Some(2555), early: 0 },
    Row { name: "td catch-up at 8", series: "td", birth: PUPIL, doses: &[("td", 3000)], on: 3010, province: None, status: Complete, counted: 1, earliest: None, early: 0 },
    // Tetanus for women: by interval only, never overdue.
    Row { name: "tetanus five doses", series: "tetanus_women", birth: WOMAN, doses: &[("tt", 8000), ("tt", 8030), ("tt", 8213), ("td", 8578), ("td", 8943)], on: 9000, province: None, status: Complete, counted: 5, earliest: None, early: 0 },
    Row { name: "tetanus tt2 20 days after tt1 is early", series: "tetanus_women", birth: WOMAN, doses: &[("tt", 8000), ("tt", 8020)], on: 8025, province: None, status: NotYet, counted: 1, earliest: Some(8030), early: 1 },
    Row { name: "tetanus stays due, never overdue", series: "tetanus_women", birth: WOMAN, doses: &[("tt", 8000)], on: 9000, province: None, status: Due, counted: 1, earliest: Some(8030), early: 0 },
    Row { name: "tetanus childhood td is early", series: "tetanus_women", birth: WOMAN, doses: &[("td", 2555)], on: 5475, province: None, status: Due, counted: 0, earliest: Some(5475), early: 1 },
    Row { name: "tetanus catch-up with td", series: "tetanus_women", birth: WOMAN, doses: &[("tt", 8000), ("td", 8100)], on: 8200, province: None, status: NotYet, counted: 2, earliest: Some(8283), early: 0 },
    // Rotavirus: province-gated.
    Row { name: "rota not offered without province", series: "rotavirus", birth: BABY, doses: &[], on: 70, province: None, status: NotOffered, counted: 0, earliest: Some(42), early: 0 },
    Row { name: "rota not offered in unlisted province", series: "rotavirus", birth: BABY, doses: &[], on: 70, province: Some("79"), status: NotOffered, counted: 0, earliest: Some(42), early: 0 },
    Row { name: "rota not offered before its start", series: "rotavirus", birth: BEFORE_INTRO, doses: &[], on: 60, province: Some("01"), status: NotOffered, counted: 0, earliest: Some(42), early: 0 },
    Row { name: "rota overdue once started", series: "rotavirus", birth: BEFORE_INTRO, doses: &[], on: 250, province: Some("01"), status: Overdue, counted: 0, earliest: Some(42), early: 0 },
    Row { name: "rota on time", series: "rotavirus", birth: BABY, doses: &[("rotavirus", 60), ("rotavirus", 90)], on: 100, province: Some("01"), status: Complete, counted: 2, earliest: None, early: 0 },
    Row { name: "rota at 30 days is early", series: "rotavirus", birth: BABY, doses: &[("rotavirus", 30)], on: 35, province: Some("01"), status: NotYet, counted: 0, earliest: Some(42), early: 1 },
    Row { name: "rota catch-up", series: "rotavirus", birth: BABY, doses: &[("rotavirus", 100)], on: 130, province: Some("01"), status: Due, counted: 1, earliest: Some(128), early: 0 },
    // PCV: province-gated.
    Row { name: "pcv not offered", series: "pcv", birth: BABY, doses: &[], on: 70, province: Some("79"), status: NotOffered, counted: 0, earliest: Some(42), early: 0 },
    Row { name: "pcv on time", series: "pcv", birth: BABY, doses: &[("pcv", 60), ("pcv", 90), ("pcv", 120)], on: 130, province: Some("01"), status: Complete, counted: 3, earliest: None, early: 0 },
    Row { name: "pcv2 early", series: "pcv", birth: BABY, doses: &[("pcv", 60), ("pcv", 70)], on: 80, province: Some("01"), status: NotYet, counted: 1, earliest: Some(88), early: 1 },
    Row { name: "pcv2 overdue", series: "pcv", birth: BABY, doses: &[("pcv", 60)], on: 125, province: Some("01"), status: Overdue, counted: 1, earliest: Some(88), early: 0 },
    Row { name: "pcv catch-up", series: "pcv", birth: BABY, doses: &[("pcv", 200)], on: 210, province: Some("01"), status: NotYet, counted: 1, earliest: Some(228), early: 0 },
];

#[test]
fn every_series_is_judged_as_the_calendar_says_on_time_early_overdue_and_catch_up() {
    let rules = with_province_01();
    let mut failures = Vec::new();
    for row in ROWS {
        let doses: Vec<GivenDose> = row
            .doses
            .iter()
            .map(|&(product, days)| GivenDose {
                product: product.into(),
                given_on: day(row.birth, days),
            })
            .collect();
        let all = evaluate(
            &rules,
            row.birth,
            &doses,
            day(row.birth, row.on),
            row.province,
        );
        let Some(got) = all.iter().find(|s| s.series == row.series) else {
            failures.push(format!("{}: no series {}", row.name, row.series));
            continue;
        };
        let want = (
            row.status,
            row.counted,
            row.earliest.map(|d| day(row.birth, d)),
            row.early,
        );
        let have = (
            got.status,
            got.doses_counted,
            got.earliest,
            got.early_doses.len(),
        );
        if want != have {
            failures.push(format!("{}: want {want:?}, got {have:?}", row.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_golden_table_has_on_time_and_early_rows_for_every_series() {
    let rules = built_in();
    for a in &rules.antigens {
        let rows: Vec<&Row> = ROWS.iter().filter(|r| r.series == a.id).collect();
        assert!(
            rows.iter().any(|r| r.status == Complete),
            "{}: on time",
            a.id
        );
        assert!(rows.iter().any(|r| r.early > 0), "{}: early", a.id);
        assert!(rows.len() >= 4, "{}: too few rows", a.id);
    }
}

#[test]
fn schedule_built_in_is_consistent_and_cited() {
    let s = Schedule::current().expect("valid");
    for r in s.rule_sets() {
        assert!(r.source.contains("Thông tư 10/2024/TT-BYT"));
        for a in &r.antigens {
            assert!(!a.source.trim().is_empty(), "{} cites nothing", a.id);
            assert!(
                r.products.iter().any(|p| p.series.contains(&a.id)),
                "{} has no product",
                a.id
            );
            if a.by_interval_only {
                assert!(a.doses.iter().all(|d| d.due_age_days.is_none()));
            }
        }
        // Province-gated antigens ship with no province.
        for id in ["rotavirus", "pcv"] {
            assert_eq!(
                r.antigen(id).and_then(|a| a.introduced.as_ref()),
                Some(&BTreeMap::new())
            );
        }
        let six = r.product("dtap_ipv_hepb_hib").expect("hexavalent");
        for s in ["dtp", "hepb", "hib", "ipv"] {
            assert!(six.series.iter().any(|x| x == s));
        }
    }
}

#[test]
fn schedule_later_rule_set_is_chosen_from_its_effective_date() {
    let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("built-in is JSON");
    let mut next = file["rule_sets"][0].clone();
    next["id"] = "tcmr-2026".into();
    next["effective_from"] = "2026-01-01".into();
    // The later set moves measles dose 1 to 10 months.
    for a in next["antigens"].as_array_mut().expect("antigens") {
        if a["id"] == "measles" {
            a["doses"][0]["min_age_days"] = 300.into();
            a["doses"][0]["due_age_days"] = 300.into();
        }
    }
    file["rule_sets"]
        .as_array_mut()
        .expect("rule sets")
        .insert(0, next);
    let s = Schedule::load(&file.to_string()).expect("valid");
    assert_eq!(s.rule_sets()[0].id, "tcmr-2024", "sorted by date");
    assert_eq!(s.rule_set_on(date!(1999 - 12 - 31)), None);
    assert_eq!(
        s.rule_set_on(date!(2025 - 12 - 31)).map(|r| r.id.as_str()),
        Some("tcmr-2024")
    );
    assert_eq!(
        s.rule_set_on(date!(2026 - 01 - 01)).map(|r| r.id.as_str()),
        Some("tcmr-2026")
    );
    assert_eq!(
        s.rule_set_on(date!(2027 - 06 - 01)).map(|r| r.id.as_str()),
        Some("tcmr-2026")
    );

    let birth = date!(2025 - 04 - 01);
    let on = date!(2026 - 01 - 10); // 284 days old
    let measles = |r: &RuleSet| {
        evaluate(r, birth, &[], on, None)
            .into_iter()
            .find(|x| x.series == "measles")
            .map(|x| (x.status, x.earliest))
    };
    let old = s.rule_set_on(date!(2025 - 12 - 31)).expect("old");
    let new = s.rule_set_on(on).expect("new");
    assert_eq!(measles(old), Some((Due, Some(day(birth, 270)))));
    assert_eq!(measles(new), Some((NotYet, Some(day(birth, 300)))));
}

#[test]
fn schedule_bad_files_are_typed_errors() {
    assert!(matches!(Schedule::load("{"), Err(ScheduleError::Parse(_))));
    assert_eq!(
        Schedule::load(r#"{"rule_sets":[]}"#),
        Err(ScheduleError::Empty)
    );
    let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("JSON");
    file["rule_sets"][0]["products"][0]["series"] = serde_json::json!(["smallpox"]);
    assert_eq!(
        Schedule::load(&file.to_string()),
        Err(ScheduleError::UnknownSeries {
            product: "hepb".into(),
            series: "smallpox".into()
        })
    );
    let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("JSON");
    for a in file["rule_sets"][0]["antigens"]
        .as_array_mut()
        .expect("antigens")
    {
        if a["id"] == "pcv" {
            a["introduced"] = serde_json::json!({"01": "2024-13-01"});
        }
    }
    assert!(
        matches!(Schedule::load(&file.to_string()), Err(ScheduleError::Parse(m)) if m.contains("01"))
    );
    let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("JSON");
    file["rule_sets"][0]["antigens"][2]["doses"][0]["min_interval_days"] = 5.into();
    assert!(matches!(
        Schedule::load(&file.to_string()),
        Err(ScheduleError::BadRule { dose: 1, .. })
    ));
    // Coverage indicators name doses the rule set has.
    let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("JSON");
    file["rule_sets"][0]["indicators"][2]["doses"][0] = serde_json::json!(["diphtheria", 3]);
    assert_eq!(
        Schedule::load(&file.to_string()),
        Err(ScheduleError::IndicatorSeries {
            indicator: "dtp3".into(),
            series: "diphtheria".into()
        })
    );
    let mut file: serde_json::Value = serde_json::from_str(BUILT_IN).expect("JSON");
    file["rule_sets"][0]["indicators"][2]["doses"][0] = serde_json::json!(["dtp", 5]);
    assert!(matches!(
        Schedule::load(&file.to_string()),
        Err(ScheduleError::BadRule { dose: 5, .. })
    ));
}

#[test]
fn schedule_ignores_doses_after_the_date_and_unknown_products() {
    let rules = built_in();
    let doses = [
        GivenDose {
            product: "bcg".into(),
            given_on: day(BABY, 20),
        },
        GivenDose {
            product: "smallpox".into(),
            given_on: day(BABY, 1),
        },
    ];
    let all = evaluate(&rules, BABY, &doses, day(BABY, 10), None);
    let bcg = all.iter().find(|s| s.series == "bcg").expect("bcg");
    assert_eq!((bcg.status, bcg.doses_counted), (Due, 0));
    assert_eq!(all.len(), rules.antigens.len());
}

const PRODUCTS: &[&str] = &[
    "hepb",
    "bcg",
    "dtp_hepb_hib",
    "dtap_ipv_hepb_hib",
    "dtp",
    "bopv",
    "ipv",
    "measles",
    "mr",
    "je",
    "td",
    "tt",
    "rotavirus",
    "pcv",
];

proptest! {
    #[test]
    fn schedule_earliest_respects_minimum_age_and_interval(
        birth_offset in 0i64..4400, // births 2014–2026
        history in proptest::collection::vec((0usize..PRODUCTS.len(), -30i64..12_000), 0..30),
        on_offset in 0i64..12_000,
        in_01 in any::<bool>(),
    ) {
        let rules = with_province_01();
        let birth = day(date!(2014 - 01 - 01), birth_offset);
        let on = day(birth, on_offset);
        let doses: Vec<GivenDose> = history
            .iter()
            .map(|&(p, d)| GivenDose { product: PRODUCTS[p].into(), given_on: day(birth, d) })
            .collect();
        let province = in_01.then_some("01");
        for s in evaluate(&rules, birth, &doses, on, province) {
            let antigen = rules.antigen(&s.series).expect("series of the rule set");
            // Live injectable doses of other series up to `on`: no counted dose, and no
            // "givable today", falls 1..27 days after one of them.
            let others: Vec<Date> = if antigen.live_injectable() {
                doses
                    .iter()
                    .filter(|d| d.given_on <= on)
                    .filter_map(|d| rules.product(&d.product).map(|p| (d.given_on, p)))
                    .filter(|(_, p)| {
                        !p.series.contains(&antigen.id)
                            && p.series.iter().any(|x| {
                                rules.antigen(x).is_some_and(Antigen::live_injectable)
                            })
                    })
                    .map(|(date, _)| date)
                    .collect()
            } else {
                Vec::new()
            };
            let blocked = |d: Date| others.iter().any(|&o| o < d && d < plus(o, 28));
            prop_assert!(s.counted_on.iter().all(|&d| !blocked(d)));
            if matches!(s.status, Due | Overdue) {
                prop_assert!(!blocked(on));
            }
            prop_assert!(usize::from(s.doses_counted) <= antigen.doses.len());
            prop_assert_eq!(usize::from(s.doses_counted), s.counted_on.len());
            for (i, &given) in s.counted_on.iter().enumerate() {
                let rule = &antigen.doses[i];
                prop_assert!(given <= on);
                prop_assert!(given >= plus(birth, rule.min_age_days));
                if i > 0 {
                    prop_assert!(given >= plus(s.counted_on[i - 1], rule.min_interval_days));
                }
            }
            prop_assert!(s.early_doses.iter().chain(&s.late_doses).all(|&d| d <= on));
            match s.next_dose {
                None => {
                    prop_assert_eq!(s.status, Complete);
                    prop_assert_eq!(s.counted_on.len(), antigen.doses.len());
                    prop_assert_eq!(s.earliest, None);
                }
                Some(n) => {
                    prop_assert_ne!(s.status, Complete);
                    prop_assert_eq!(usize::from(n), s.counted_on.len() + 1);
                    let rule = &antigen.doses[s.counted_on.len()];
                    let earliest = s.earliest.expect("earliest for a missing dose");
                    prop_assert!(earliest >= plus(birth, rule.min_age_days));
                    if let Some(&last) = s.counted_on.last() {
                        prop_assert!(earliest >= plus(last, rule.min_interval_days));
                    }
                    if let Some(due) = s.due {
                        prop_assert!(due >= earliest);
                    }
                    if s.status == NotYet {
                        prop_assert!(on < earliest);
                    }
                    if matches!(s.status, Due | Overdue) {
                        prop_assert!(on >= earliest);
                    }
                }
            }
        }
    }
}
