//! The rest of the cleaning loop (docs/design.md §1): the police's corrected list comes back and is
//! applied as audited edits — bad rows reported and changing nothing — and people registered
//! twice are found by a visible rule and merged with every dose kept once, on every station.

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, all_people, both_backends};
use station::{DuplicateRule, StepUp};
use sync_protocol::{Identity, IdentityKind, Person, VerificationStatus};

fn without_id(mut p: Person) -> Person {
    p.identity = Identity {
        kind: IdentityKind::None,
        number: None,
    };
    p.verification.status = VerificationStatus::NoId;
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_list_changes_matched_rows_and_reports_the_others() {
    let lab = Lab::start(Backend::Sqlite).await;
    let mut nurse = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(81);
    let people: Vec<Person> = (0..4)
        .map(|_| without_id(g.person("TYT-TANNHUT", "nv.lan", 1)))
        .collect();
    let registered = g.person("TYT-TANNHUT", "nv.lan", 1);
    let mut all = people.clone();
    all.push(registered.clone());
    nurse.import_people(&all).await.expect("imported");
    let year = |p: &Person| p.birth_date.year();
    let cccd0 = g.cccd(people[0].gender, year(&people[0]));
    let cccd1 = g.cccd(people[1].gender, year(&people[1]));
    // A CCCD whose gender/century digit contradicts the person: invalid, reported.
    let wrong_gender = g.cccd(
        if people[2].gender == sync_protocol::Gender::Male {
            sync_protocol::Gender::Female
        } else {
            sync_protocol::Gender::Male
        },
        year(&people[2]),
    );
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("cong-an-da-sua.csv");
    let phone = g.phone();
    let csv = [
        "Mã hồ sơ (không sửa);Họ và tên;Số giấy tờ;Điện thoại".to_string(),
        // 2: the CCCD filled in.
        format!("{};{};{};", people[0].id, people[0].full_name, cccd0),
        // 3: the CCCD as a number cell lost its leading zero; and a new phone.
        format!(
            "{};{};{};{}",
            people[1].id,
            people[1].full_name,
            cccd1.trim_start_matches('0'),
            phone
        ),
        // 4: invalid CCCD for this person.
        format!("{};{};{};", people[2].id, people[2].full_name, wrong_gender),
        // 5: a record code this station does not hold.
        format!(
            "{};Người Không Có;{};",
            uuid::Uuid::now_v7(),
            g.cccd(sync_protocol::Gender::Male, 1990)
        ),
        // 6: no record code, matched by the ID only one person holds; nothing to change.
        format!(
            ";{};{};",
            registered.full_name,
            registered.identity.number.clone().unwrap_or_default()
        ),
        // 7: no code and an ID nobody holds: reported, never guessed by name.
        format!(
            ";{};{};",
            people[3].full_name,
            g.cccd(people[3].gender, year(&people[3]))
        ),
    ]
    .join("\n");
    std::fs::write(&path, csv).expect("written");

    let preview = nurse.import_preview(&path).await.expect("preview");
    assert_eq!(preview.rows, 6);
    assert_eq!(preview.unchanged, 1);
    let rows: Vec<usize> = preview.changes.iter().map(|c| c.row).collect();
    assert_eq!(rows, vec![2, 3]);
    assert_eq!(
        preview.changes[1]
            .changes
            .iter()
            .map(|c| c.field.as_str())
            .collect::<Vec<_>>(),
        vec!["id_number", "phone"]
    );
    assert_eq!(
        preview.changes[1].changes[0].after.as_deref(),
        Some(cccd1.as_str()),
        "the leading zero is back"
    );
    let problems: Vec<usize> = preview.problems.iter().map(|p| p.row).collect();
    assert_eq!(problems, vec![4, 5, 7]);
    assert!(
        preview.problems[0].reason.contains("không hợp lệ"),
        "{}",
        preview.problems[0].reason
    );
    assert!(
        preview.problems[2].reason.contains("không có ai"),
        "{}",
        preview.problems[2].reason
    );

    // Applying needs the preview's count and a fresh code.
    let step_up = |otp| StepUp {
        otp,
        server: Some(&nurse.client),
    };
    let e = nurse
        .import_apply(&path, 3, step_up(""))
        .await
        .expect_err("count differs");
    assert_eq!(e.code(), "import_changed");
    let e = nurse
        .import_apply(&path, 2, step_up(""))
        .await
        .expect_err("no code");
    assert_eq!(e.code(), "step_up_required");
    let code = nurse.otp.code().await;
    let done = nurse
        .import_apply(&path, 2, step_up(&code))
        .await
        .expect("applied");
    assert_eq!((done.changed, done.problems.len()), (2, 3));

    let after = |i: usize| {
        let id = people[i].id;
        let nurse = &nurse;
        async move { nurse.show(id).await.expect("record").person }
    };
    let p0 = after(0).await;
    assert_eq!(p0.identity.number.as_deref(), Some(cccd0.as_str()));
    assert_eq!(p0.identity.kind, IdentityKind::Cccd);
    assert_eq!(
        p0.verification.status,
        VerificationStatus::Unverified,
        "ready to verify"
    );
    assert_eq!(after(1).await.phone.as_deref(), Some(phone.as_str()));
    assert_eq!(after(2).await, people[2], "a bad row changes nothing");
    assert_eq!(after(3).await, people[3]);
    // Audited as edits, with the fresh code.
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'import_correction' AND otp = 1",
    )
    .fetch_one(nurse.database_for_tests())
    .await
    .expect("audit");
    assert_eq!(audited, 2);

    // Legacy encodings are refused whole, naming the encoding.
    let legacy = dir.path().join("cu.csv");
    std::fs::write(
        &legacy,
        b"Ho va ten;So giay to\nNguy\xd4n V\xa8n An;079090001234\n",
    )
    .expect("written");
    let e = nurse.import_preview(&legacy).await.expect_err("legacy");
    assert_eq!(e.code(), "legacy_encoding");
    assert!(e.to_string().contains("TCVN3"), "{e}");
    nurse.close().await;
}

async fn people_registered_twice_are_merged_with_every_dose_once(backend: Backend) {
    let lab = Lab::start(backend).await;
    let a = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let b = lab.device("b", "TYT-TANNHUT", "nv.hoa").await;
    let mut g = Generator::new(82);
    // Registered offline at two laptops: same CCCD, each with the dose given there.
    let first = g.person("TYT-TANNHUT", "nv.lan", 1);
    let mut second = first.clone();
    second.id = uuid::Uuid::now_v7();
    second.created_by = "nv.hoa".into();
    second.doses = g
        .person("TYT-TANNHUT", "nv.hoa", 1)
        .doses
        .into_values()
        .map(|mut d| {
            d.dose_number = 2;
            d.given_at =
                first.doses.values().next().expect("dose").given_at + time::Duration::days(56);
            (d.id, d)
        })
        .collect();
    // A typo: one letter off, same birth date and phone, no ID.
    let typo_a = without_id(g.person("TYT-TANNHUT", "nv.lan", 1));
    let mut typo_b = typo_a.clone();
    typo_b.id = uuid::Uuid::now_v7();
    typo_b.created_by = "nv.hoa".into();
    typo_b.full_name = format!("{}h", typo_b.full_name);
    typo_b.doses.clear();
    // Look-alikes that are not duplicates: same birth date, another phone.
    let mut stranger = typo_a.clone();
    stranger.id = uuid::Uuid::now_v7();
    stranger.phone = Some(g.phone());
    stranger.doses.clear();
    a.import_people(&[first.clone(), typo_a.clone(), stranger.clone()])
        .await
        .expect("a");
    b.import_people(&[second.clone(), typo_b.clone()])
        .await
        .expect("b");
    a.sync().await.expect("a syncs");
    b.sync().await.expect("b syncs");
    a.sync().await.expect("a pulls");

    let pairs = a.duplicate_candidates().await.expect("pairs");
    assert_eq!(pairs.len(), 2, "{pairs:#?}");
    let by_id = pairs
        .iter()
        .find(|p| p.rule == DuplicateRule::SameIdNumber)
        .expect("same ID");
    let ids = [by_id.a.person_id, by_id.b.person_id];
    assert!(ids.contains(&first.id) && ids.contains(&second.id));
    let fuzzy = pairs
        .iter()
        .find(|p| p.rule == DuplicateRule::SimilarNameBirthPhone)
        .expect("similar name");
    assert!(fuzzy.rule_text.contains("ngày sinh"));
    // Nothing is merged until someone asks.
    assert_eq!(all_people(&a).await.len(), 5);

    let kept = a.merge_people(first.id, second.id).await.expect("merged");
    assert_eq!(kept.doses.len(), 2);
    let gone = a.show(second.id).await.expect("record").person;
    assert_eq!(gone.merged_into, Some(first.id));
    assert!(
        gone.doses.values().all(|d| d
            .voided
            .as_ref()
            .is_some_and(|v| v.reason.contains("Gộp hồ sơ"))),
        "doses are never deleted: voided here, recorded on the kept record"
    );
    let moved = kept
        .doses
        .values()
        .find(|d| d.dose_number == 2)
        .expect("the second station's dose")
        .clone();
    let original = second.doses.values().next().expect("dose");
    assert_eq!(
        (
            &moved.vaccine,
            &moved.lot,
            moved.given_at,
            &moved.vaccinator
        ),
        (
            &original.vaccine,
            &original.lot,
            original.given_at,
            &original.vaccinator
        )
    );
    let e = a
        .merge_people(first.id, second.id)
        .await
        .expect_err("already merged");
    assert_eq!(e.code(), "merge_refused");
    let pairs = a.duplicate_candidates().await.expect("pairs");
    assert_eq!(pairs.len(), 1, "only the typo pair is left");
    let merged: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'merge'")
        .fetch_one(a.database_for_tests())
        .await
        .expect("audit");
    assert_eq!(merged, 2, "both records' changes are audited");

    // Synced: the server and the other laptop hold each dose once, on the record kept.
    a.sync().await.expect("a pushes");
    b.sync().await.expect("b pulls");
    for station in [&a, &b] {
        let first_now = station.show(first.id).await.expect("kept").person;
        assert_eq!(first_now.doses.len(), 2);
        let active: Vec<(String,)> =
            sqlx::query_as("SELECT person_id FROM doses WHERE voided = 0 ORDER BY id")
                .fetch_all(station.database_for_tests())
                .await
                .expect("doses");
        let on_kept = active
            .iter()
            .filter(|(p,)| *p == first.id.to_string())
            .count();
        assert_eq!(on_kept, 2);
        assert!(
            !active.iter().any(|(p,)| *p == second.id.to_string()),
            "no active dose left on the merged record"
        );
        assert_eq!(active.len(), 3, "first's two doses and typo_a's one");
        let report = station
            .daily_report(moved.given_at.to_offset(sync_protocol::VIETNAM).date())
            .await
            .expect("report");
        assert_eq!(report.doses, 1, "the moved dose counts once on its day");
    }
    let merged_on_server: i64 = match &lab.server.db {
        sotiem_server::Db::Sqlite(pool) => {
            sqlx::query_scalar("SELECT count(*) FROM documents WHERE merged_into IS NOT NULL")
                .fetch_one(pool)
                .await
                .expect("count")
        }
        sotiem_server::Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT count(*) FROM documents WHERE merged_into IS NOT NULL")
                .fetch_one(pool)
                .await
                .expect("count")
        }
    };
    assert_eq!(merged_on_server, 1);
    a.close().await;
    b.close().await;
}
both_backends!(people_registered_twice_are_merged_with_every_dose_once);
