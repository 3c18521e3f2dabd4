use super::*;

fn candidate(person: u128, n: u32) -> SigningCandidate {
    SigningCandidate {
        dose_id: Uuid::from_u128((person << 8) + u128::from(n)),
        person_id: Uuid::from_u128(person),
        full_name: "Lê Thị Hồng".into(),
        birth_date: "1990-02-03".into(),
        id_number: None,
        vaccine: "EU/1/20/1528".into(),
        lot: "FK0071".into(),
        dose_number: u8::try_from(n).unwrap_or(1),
        given_at: format!("2026-11-20T08:{:02}:00+07:00", n % 60),
        facility: "TYT-TANNHUT".into(),
    }
}

#[test]
fn a_forty_thousand_dose_backlog_splits_into_fourteen_runs_within_the_limits() {
    // 13,334 people with three doses each (40,002 doses).
    let doses: Vec<SigningCandidate> = (0..13_334u128)
        .flat_map(|p| (1..=3).map(move |n| candidate(p, n)))
        .collect();
    let runs = plan_runs(&doses);
    assert_eq!(runs.len(), 14);
    for run in &runs {
        let people: std::collections::BTreeSet<_> = run.iter().map(|d| d.person_id).collect();
        assert!(people.len() <= MAX_PEOPLE_PER_RUN && run.len() <= MAX_DOSES_PER_RUN);
    }
    assert_eq!(runs.iter().map(Vec::len).sum::<usize>(), doses.len());
}

#[test]
fn a_persons_doses_stay_in_one_run_and_the_order_is_kept() {
    // 999 people with three doses, then one with four: the fourth person's doses would
    // cross 3,000 in the first run, so they open the second.
    let mut doses: Vec<SigningCandidate> = (0..999u128)
        .flat_map(|p| (1..=3).map(move |n| candidate(p, n)))
        .collect();
    doses.extend((1..=4).map(|n| candidate(5_000, n)));
    let runs = plan_runs(&doses);
    assert_eq!(runs.iter().map(Vec::len).collect::<Vec<_>>(), [2_997, 4]);
    assert!(
        runs[1]
            .iter()
            .all(|d| d.person_id == Uuid::from_u128(5_000))
    );
    assert!(plan_runs(&[]).is_empty());
}
