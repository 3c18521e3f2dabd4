//! Data-cleaning lists and their Excel export (docs/design.md §1): the right people in each list,
//! workbooks that two independent readers (calamine, and Python's openpyxl) read back with the
//! expected rows and types, a fresh OTP and an audit entry for every export.

use calamine::{Data, Reader, Xlsx, open_workbook};
use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, vaccinated_at};
use station::{DataList, ListQuery};
use std::path::Path;
use sync_protocol::automerge::ActorId;
use sync_protocol::{
    CommitAction, CommitMeta, Identity, IdentityKind, Person, PersonDoc, Verification,
    VerificationStatus, VerifiedField,
};
use time::macros::datetime;

/// `p` as the server's verification pass left them (a device never writes these statuses).
fn with_status(mut p: Person, status: VerificationStatus) -> Person {
    p.verification = Verification {
        status,
        checked_at: Some(datetime!(2026-10-15 09:00 +7)),
    };
    p
}

/// `p` as registered on a device: never checked, so the status follows the ID and nationality.
fn registered(mut p: Person) -> Person {
    p.verification = Verification {
        status: sync_protocol::rules::initial_status(&p.nationality, p.identity.kind),
        checked_at: None,
    };
    p
}

/// Records as a sync brings them from the server, with the results of its verification pass.
fn from_server(people: &[Person]) -> Vec<PersonDoc> {
    people
        .iter()
        .map(|p| {
            PersonDoc::create(
                ActorId::random(),
                p,
                &CommitMeta::new("he-thong:csdlqg", CommitAction::Verify),
            )
            .expect("document")
        })
        .collect()
}

fn query(list: DataList) -> ListQuery {
    ListQuery {
        list,
        commune: None,
        facility: None,
        due_by: Some("30/11/2026".into()),
    }
}

/// Rows of the first sheet as calamine reads them (header included).
fn read_calamine(path: &Path) -> Vec<Vec<Data>> {
    let mut book: Xlsx<_> = open_workbook(path).expect("calamine opens the workbook");
    let range = book
        .worksheet_range_at(0)
        .expect("a sheet")
        .expect("readable");
    range.rows().map(<[Data]>::to_vec).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_hold_the_right_people_and_exports_read_back_with_real_types() {
    let lab = Lab::start(Backend::Sqlite).await;
    let mut nurse = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(71);
    let at = datetime!(2026-10-01 08:00 +7);

    // Two matched people who had one dose on 01/10 (due for dose 2 by 30/11), one who finished
    // the series and the booster (never due again).
    let due: Vec<Person> = vaccinated_at(&mut g, 2, 1, at)
        .into_iter()
        .map(|mut p| {
            // Comirnaty: two doses 21 days apart.
            for d in p.doses.values_mut() {
                d.vaccine = "EU/1/20/1528".into();
            }
            p
        })
        .collect();
    let done = vaccinated_at(&mut g, 1, 3, at);
    // Three Vietnamese with no ID, and a foreigner with none (not verified: not listed).
    let mut no_id: Vec<Person> = (0..3)
        .map(|_| {
            let mut p = g.person("TYT-TANNHUT", "nv.lan", 0);
            p.identity = Identity {
                kind: IdentityKind::None,
                number: None,
            };
            registered(p)
        })
        .collect();
    let mut foreigner = g.person("TYT-TANNHUT", "nv.lan", 0);
    foreigner.nationality = "KR".into();
    foreigner.identity = Identity {
        kind: IdentityKind::Passport,
        number: Some("M12345678".into()),
    };
    let foreigner = registered(foreigner);
    // A legacy record whose CCCD lost a digit (leading zero kept as text in the export).
    let mut legacy = g.person("TYT-TANNHUT", "nv.lan", 0);
    legacy.identity.number = Some("07909000123".into());
    let legacy = with_status(legacy, VerificationStatus::InvalidId);
    // The police disagree on the name and birth date of one, on the gender of another.
    let mismatched = [
        with_status(
            g.person("TYT-TANNHUT", "nv.lan", 0),
            VerificationStatus::Mismatched(vec![VerifiedField::FullName, VerifiedField::BirthDate]),
        ),
        with_status(
            g.person("TYT-TANNHUT", "nv.lan", 0),
            VerificationStatus::Mismatched(vec![VerifiedField::Gender]),
        ),
    ];
    // One of the no-ID people lives in Tân Túc.
    no_id[2].address.commune = Some("Xã Tân Túc".into());
    let mut everyone = Vec::new();
    everyone.extend(due.iter().cloned());
    everyone.extend(done.iter().cloned());
    everyone.extend(no_id.iter().cloned());
    everyone.push(foreigner);
    nurse.import_people(&everyone).await.expect("imported");
    let mut checked = vec![legacy.clone()];
    checked.extend(mismatched.iter().cloned());
    nurse
        .import_documents(from_server(&checked))
        .await
        .expect("received");

    // What each list holds.
    let names = |rows: &[station::ListRow]| {
        let mut n: Vec<String> = rows.iter().map(|r| r.full_name.clone()).collect();
        n.sort();
        n
    };
    let sorted = |people: &[&Person]| {
        let mut n: Vec<String> = people.iter().map(|p| p.full_name.clone()).collect();
        n.sort();
        n
    };
    let page = nurse
        .data_list(&query(DataList::NoId), 0, 100)
        .await
        .expect("list");
    assert_eq!(names(&page.rows), sorted(&no_id.iter().collect::<Vec<_>>()));
    let in_tan_tuc = nurse
        .data_list(
            &ListQuery {
                commune: Some("xa tan tuc".into()),
                ..query(DataList::NoId)
            },
            0,
            100,
        )
        .await
        .expect("list");
    assert_eq!(names(&in_tan_tuc.rows), vec![no_id[2].full_name.clone()]);
    let page = nurse
        .data_list(&query(DataList::InvalidId), 0, 100)
        .await
        .expect("list");
    assert_eq!(names(&page.rows), vec![legacy.full_name.clone()]);
    let page = nurse
        .data_list(&query(DataList::Mismatched), 0, 100)
        .await
        .expect("list");
    assert_eq!(page.total, 2);
    let first = page
        .rows
        .iter()
        .find(|r| r.person_id == mismatched[0].id)
        .expect("row");
    assert_eq!(first.note, "Sai lệch ở: họ tên, ngày sinh");
    let page = nurse
        .data_list(&query(DataList::UnsignedDoses), 0, 2)
        .await
        .expect("list");
    assert_eq!(
        (page.total, page.rows.len()),
        (5, 2),
        "2 + 3 doses, 2 shown"
    );
    // The next pages go on where the last one stopped, in the same order, to the end.
    let all = nurse
        .data_list(&query(DataList::UnsignedDoses), 0, 100)
        .await
        .expect("list");
    let mut paged = page.rows.clone();
    for offset in [2, 4] {
        let next = nurse
            .data_list(&query(DataList::UnsignedDoses), offset, 2)
            .await
            .expect("page");
        assert_eq!((next.total, next.offset), (5, offset));
        paged.extend(next.rows);
    }
    assert_eq!(
        paged, all.rows,
        "pages of 2 put together are the whole list"
    );
    let past_the_end = nurse
        .data_list(&query(DataList::UnsignedDoses), 9, 2)
        .await
        .expect("page");
    assert!(past_the_end.rows.is_empty() && past_the_end.total == 5);
    let page = nurse
        .data_list(&query(DataList::DueNextDose), 0, 100)
        .await
        .expect("list");
    assert_eq!(names(&page.rows), sorted(&due.iter().collect::<Vec<_>>()));
    assert!(page.rows.iter().all(|r| r.note == "Mũi 2 đến hạn"));
    let early = nurse
        .data_list(
            &ListQuery {
                due_by: Some("02/10/2026".into()),
                ..query(DataList::DueNextDose)
            },
            0,
            100,
        )
        .await
        .expect("list");
    assert_eq!(early.total, 0, "not due yet on 02/10");

    // Export: a fresh code each time; none, a wrong one or a replayed one writes nothing.
    let out = lab.dir.path().join("chua-co-cccd.xlsx");
    let e = nurse
        .export_list(&query(DataList::NoId), &out, "")
        .await
        .expect_err("no code");
    assert_eq!(e.code(), "step_up_required");
    let e = nurse
        .export_list(&query(DataList::NoId), &out, "000000")
        .await
        .expect_err("wrong code");
    assert_eq!(e.code(), "otp_invalid", "{e}");
    assert!(!out.exists(), "nothing written without a valid code");
    let code = nurse.otp.code().await;
    let summary = nurse
        .export_list(&query(DataList::NoId), &out, &code)
        .await
        .expect("exported");
    assert_eq!(summary.rows, 3);
    let e = nurse
        .export_list(&query(DataList::NoId), &out, &code)
        .await
        .expect_err("replayed code");
    assert_eq!(e.code(), "otp_replayed");
    // An export that fails at the end (its target is a folder) leaves no partial copy behind.
    let blocked = lab.dir.path().join("bi-chan.xlsx");
    std::fs::create_dir_all(blocked.join("ben-trong")).expect("a folder in the way");
    let code = nurse.otp.code().await;
    let e = nurse
        .export_list(&query(DataList::NoId), &blocked, &code)
        .await
        .expect_err("cannot replace a folder");
    assert_eq!(e.code(), "io", "{e}");
    assert!(
        !blocked.with_extension("xlsx.tmp").exists(),
        "the partial file is removed"
    );

    let rows = read_calamine(&out);
    assert_eq!(rows.len(), 4, "header and three people");
    assert_eq!(rows[0][1], Data::String("Họ và tên".into()));
    assert_eq!(rows[0][3], Data::String("Ngày sinh".into()));
    let mut exported: Vec<String> = rows[1..].iter().map(|r| r[1].to_string()).collect();
    exported.sort();
    assert_eq!(exported, sorted(&no_id.iter().collect::<Vec<_>>()));
    for row in &rows[1..] {
        let person = no_id
            .iter()
            .find(|p| row[1].to_string() == p.full_name)
            .expect("person");
        let sync_protocol::BirthDate::Full(born) = person.birth_date else {
            panic!("full birth date")
        };
        match &row[3] {
            cell @ Data::DateTime(_) => {
                assert_eq!(sotiem_sheets::cell_text(cell), born.to_string());
            }
            other => panic!("birth date is a real date, got {other:?}"),
        }
        assert_eq!(row[4], Data::Float(f64::from(born.year())));
        assert_eq!(
            row.last().map(ToString::to_string),
            Some(person.id.to_string())
        );
    }
    let py = sotiem_scenarios::sheets::read_openpyxl(&out);
    assert_eq!(py["sheet"], "Chưa có CCCD");
    assert_eq!(py["freeze"], "A2");
    assert_eq!(py["filter"], "A1:O1");
    assert_eq!(py["rows"].as_array().map(Vec::len), Some(4));
    assert_eq!(py["rows"][1][3][0], "datetime");
    assert_eq!(py["rows"][1][0], serde_json::json!(["number", 1]));

    // The unsigned doses: a real date-time and the lot as text.
    let doses_out = lab.dir.path().join("mui-chua-ky.xlsx");
    let code = nurse.otp.code().await;
    nurse
        .export_list(&query(DataList::UnsignedDoses), &doses_out, &code)
        .await
        .expect("exported");
    let py = sotiem_scenarios::sheets::read_openpyxl(&doses_out);
    let rows = py["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0][17], serde_json::json!(["text", "Ngày giờ tiêm"]));
    assert_eq!(rows[1][17][0], "datetime");
    assert_eq!(rows[1][17][1], "2026-10-01T08:00:00", "wall time at +07:00");
    assert_eq!(rows[1][15][0], "text");
    // The legacy CCCD keeps its leading zero.
    let legacy_out = lab.dir.path().join("sai-dinh-dang.xlsx");
    let code = nurse.otp.code().await;
    nurse
        .export_list(&query(DataList::InvalidId), &legacy_out, &code)
        .await
        .expect("exported");
    let rows = read_calamine(&legacy_out);
    assert_eq!(rows[1][6], Data::String("07909000123".into()));

    // Every export is in the audit log: who, which list, how many rows.
    let exports: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT user, entity, changes FROM audit_log WHERE action = 'export' ORDER BY seq",
    )
    .fetch_all(nurse.database_for_tests())
    .await
    .expect("audit");
    assert_eq!(exports.len(), 3);
    assert_eq!(exports[0].0, "nv.lan");
    assert_eq!(exports[0].1, "list/no_id");
    assert!(
        exports[0]
            .2
            .contains(r#""field":"rows","before":null,"after":"3""#),
        "{}",
        exports[0].2
    );
    assert!(nurse.verify_audit().await.expect("audit").problem.is_none());
    nurse.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_past_a_screen_or_a_thousand_rows_needs_a_fresh_code_and_is_audited() {
    let lab = Lab::start(Backend::Sqlite).await;
    let mut nurse = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(1050);
    let no_id: Vec<Person> = (0..1_050)
        .map(|_| {
            let mut p = g.person("TYT-TANNHUT", "nv.lan", 0);
            p.identity = Identity {
                kind: IdentityKind::None,
                number: None,
            };
            registered(p)
        })
        .collect();
    nurse.import_people(&no_id).await.expect("imported");
    let list = query(DataList::NoId);
    let reads = |nurse: &sotiem_scenarios::Device| {
        let pool = nurse.database_for_tests().clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM audit_log WHERE action = 'list_read'",
            )
            .fetch_one(&pool)
            .await
            .expect("count")
        }
    };

    // Browsing: a screen at a time within the first thousand rows needs nothing.
    let page = nurse.data_list(&list, 800, 200).await.expect("browsing");
    assert_eq!((page.rows.len(), page.total), (200, 1_050));

    // Past them, or the whole list at once (`--limit 100000000 --json`): an export in all but
    // name, refused without a fresh code; a wrong code unlocks nothing.
    for (offset, limit) in [(1_000, 200), (0, 100_000_000), (0, 201)] {
        let e = nurse
            .data_list(&list, offset, limit)
            .await
            .expect_err("needs a code");
        assert_eq!(e.code(), "step_up_required", "{offset} {limit}");
    }
    let e = nurse.unlock_lists("000000").await.expect_err("wrong code");
    assert_eq!(e.code(), "otp_invalid", "{e}");
    assert!(nurse.data_list(&list, 1_000, 200).await.is_err());
    assert_eq!(reads(&nurse).await, 0);

    // With a fresh code: read, and each such page audited (who, which list, from where, how many).
    // The device's copy of the authenticator may not know the code its sign-in used in this
    // 30 s window: a replay then, and the next window's code is the fresh one.
    let code = nurse.otp.code().await;
    if let Err(e) = nurse.unlock_lists(&code).await {
        assert_eq!(e.code(), "otp_replayed", "{e}");
        let code = nurse.otp.code().await;
        nurse.unlock_lists(&code).await.expect("unlocked");
    }
    let all = nurse
        .data_list(&list, 0, 100_000_000)
        .await
        .expect("the whole list");
    assert_eq!(all.rows.len(), 1_050);
    let rest = nurse.data_list(&list, 1_000, 200).await.expect("the rest");
    assert_eq!(rest.rows.len(), 50);
    assert_eq!(reads(&nurse).await, 2);
    let entry: (String, String) = sqlx::query_as(
        "SELECT user, changes FROM audit_log WHERE action = 'list_read' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(nurse.database_for_tests())
    .await
    .expect("entry");
    assert_eq!(entry.0, "nv.lan");
    assert!(
        entry.1.contains("1000") && entry.1.contains("50"),
        "{}",
        entry.1
    );
    // Browsing a screen stays unaudited.
    nurse.data_list(&list, 0, 200).await.expect("a screen");
    assert_eq!(reads(&nurse).await, 2);
}
