//! Verification against the population registry (docs/design.md §1, §7): a registry file from the
//! police (CSV or .xlsx) gives each person the right status, field by field, and the results
//! sync down to the stations.

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, both_backends};
use sotiem_server::registry::{
    PassScope, PopulationRegistry, RegistryError, RegistryFile, verify, verify_people,
};
use station::PersonEdit;
use std::path::Path;
use sync_protocol::{
    BirthDate, Gender, Identity, IdentityKind, Person, Verification, VerificationStatus,
    VerifiedField,
};

/// The people of the scenario and the registry's line for each (None: not in the registry).
struct Case {
    people: Vec<Person>,
    /// Registry lines: số định danh, CMND cũ, họ tên, giới tính, ngày sinh.
    lines: Vec<[String; 5]>,
    expected: Vec<VerificationStatus>,
}

fn unverified(mut p: Person) -> Person {
    p.verification = Verification {
        status: VerificationStatus::Unverified,
        checked_at: None,
    };
    p
}

fn line(p: &Person) -> [String; 5] {
    let born = match p.birth_date {
        BirthDate::Full(d) => format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()),
        BirthDate::Year(y) => y.to_string(),
    };
    [
        p.identity.number.clone().unwrap_or_default(),
        String::new(),
        p.full_name.clone(),
        match p.gender {
            Gender::Male => "Nam".into(),
            Gender::Female => "Nữ".into(),
        },
        born,
    ]
}

/// The registry's word for the other gender.
fn other_gender(g: Gender) -> &'static str {
    match g {
        Gender::Male => "Nữ",
        Gender::Female => "Nam",
    }
}

fn case(g: &mut Generator) -> Case {
    let mut people = Vec::new();
    let mut lines = Vec::new();
    let mut expected = Vec::new();
    let person = |g: &mut Generator| unverified(g.person("TYT-TANNHUT", "nv.lan", 1));

    // Everything agrees.
    let p = person(g);
    lines.push(line(&p));
    people.push(p);
    expected.push(VerificationStatus::Matched);
    // The station typed the name without diacritics.
    let mut p = person(g);
    lines.push(line(&p));
    p.full_name = sync_protocol::text::fold(&p.full_name)
        .split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    people.push(p);
    expected.push(VerificationStatus::Mismatched(vec![
        VerifiedField::FullName,
    ]));
    // The registry has another gender (the CCCD's gender digit stays consistent with the
    // person as recorded, so only the registry line differs).
    let p = person(g);
    let mut l = line(&p);
    l[3] = other_gender(p.gender).into();
    lines.push(l);
    people.push(p);
    expected.push(VerificationStatus::Mismatched(vec![VerifiedField::Gender]));
    // Another day of birth in the same year; and a year only at the station.
    let p = person(g);
    let mut l = line(&p);
    l[4] = match p.birth_date {
        BirthDate::Full(d) => {
            let other = if d.day() == 1 { 2 } else { 1 };
            format!("{:02}/{:02}/{}", other, u8::from(d.month()), d.year())
        }
        BirthDate::Year(y) => format!("01/01/{y}"),
    };
    lines.push(l);
    people.push(p);
    expected.push(VerificationStatus::Mismatched(vec![
        VerifiedField::BirthDate,
    ]));
    let mut p = person(g);
    lines.push(line(&p));
    p.birth_date = BirthDate::Year(p.birth_date.year());
    people.push(p);
    expected.push(VerificationStatus::Mismatched(vec![
        VerifiedField::BirthDate,
    ]));
    // Registered with the old 9-digit CMND: the registry knows the CCCD that replaced it.
    let mut p = person(g);
    let mut l = line(&p);
    let cmnd = format!("0{}", &l[0][4..12]);
    l[1] = cmnd.clone();
    p.identity = Identity {
        kind: IdentityKind::Cmnd,
        number: Some(cmnd),
    };
    lines.push(l);
    people.push(p);
    expected.push(VerificationStatus::Mismatched(vec![
        VerifiedField::IdNumber,
    ]));
    // Two fields wrong at once.
    let mut p = person(g);
    let mut l = line(&p);
    l[3] = other_gender(p.gender).into();
    lines.push(l);
    p.full_name = format!("{} Anh", p.full_name);
    people.push(p);
    expected.push(VerificationStatus::Mismatched(vec![
        VerifiedField::FullName,
        VerifiedField::Gender,
    ]));
    // Not in the registry.
    people.push(person(g));
    expected.push(VerificationStatus::NotFound);
    // A foreigner: not verified.
    let mut p = person(g);
    p.nationality = "KR".into();
    p.identity = Identity {
        kind: IdentityKind::Passport,
        number: Some("M48213377".into()),
    };
    p.verification.status = VerificationStatus::NotApplicable;
    people.push(p);
    expected.push(VerificationStatus::NotApplicable);
    // No ID at all.
    let mut p = person(g);
    p.identity = Identity {
        kind: IdentityKind::None,
        number: None,
    };
    p.verification.status = VerificationStatus::NoId;
    people.push(p);
    expected.push(VerificationStatus::NoId);
    // Citizens the station never saw.
    for _ in 0..50 {
        lines.push(line(&person(g)));
    }
    Case {
        people,
        lines,
        expected,
    }
}

fn write_csv(path: &Path, lines: &[[String; 5]], delimiter: char) {
    let mut text = format!(
        "\u{feff}Số định danh{d}Số CMND cũ{d}Họ và tên{d}Giới tính{d}Ngày sinh\n",
        d = delimiter
    );
    for l in lines {
        text.push_str(&l.join(&delimiter.to_string()));
        text.push('\n');
    }
    std::fs::write(path, text).expect("csv written");
}

fn write_xlsx(path: &Path, lines: &[[String; 5]]) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in [
        "SỐ ĐỊNH DANH",
        "SỐ CMND CŨ",
        "HỌ VÀ TÊN",
        "GIỚI TÍNH",
        "NGÀY SINH",
    ]
    .iter()
    .enumerate()
    {
        sheet.write(0, c as u16, *h).expect("header");
    }
    let date = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
    for (r, l) in lines.iter().enumerate() {
        let r = r as u32 + 1;
        // The police's sheet has the ID as a number and the birth date as a real date.
        sheet
            .write(r, 0, l[0].parse::<f64>().expect("digits"))
            .expect("id");
        sheet.write(r, 1, &l[1]).expect("cmnd");
        sheet.write(r, 2, &l[2]).expect("name");
        sheet.write(r, 3, &l[3]).expect("gender");
        let parts: Vec<&str> = l[4].split('/').collect();
        if let [d, m, y] = parts[..] {
            let when = rust_xlsxwriter::ExcelDateTime::from_ymd(
                y.parse().expect("y"),
                m.parse().expect("m"),
                d.parse().expect("d"),
            )
            .expect("date");
            sheet.write_with_format(r, 4, &when, &date).expect("born");
        } else {
            sheet.write(r, 4, &l[4]).expect("year");
        }
    }
    book.save(path).expect("xlsx written");
}

fn assert_statuses(registry: &dyn PopulationRegistry, c: &Case) {
    for (p, want) in c.people.iter().zip(&c.expected) {
        assert_eq!(&verify(p, registry), want, "{}", p.full_name);
    }
}

#[test]
fn a_registry_file_gives_each_person_the_right_status_field_by_field() {
    let dir = tempfile::tempdir().expect("dir");
    let c = case(&mut Generator::new(91));
    for (name, delimiter) in [("dan-cu.csv", ','), ("dan-cu-excel.csv", ';')] {
        let path = dir.path().join(name);
        write_csv(&path, &c.lines, delimiter);
        let file = RegistryFile::load(&path).expect("csv loads");
        assert_eq!(file.len(), c.lines.len());
        assert_statuses(&file, &c);
    }
    let path = dir.path().join("dan-cu.xlsx");
    write_xlsx(&path, &c.lines);
    let file = RegistryFile::load(&path).expect("xlsx loads");
    assert_statuses(&file, &c);
}

#[test]
fn a_registry_file_with_a_bad_row_or_missing_column_is_refused_with_where() {
    let dir = tempfile::tempdir().expect("dir");
    let c = case(&mut Generator::new(92));
    let mut lines = c.lines.clone();
    lines[3][4] = "31/02/1990".into();
    let path = dir.path().join("hong.csv");
    write_csv(&path, &lines, ',');
    match RegistryFile::load(&path) {
        Err(RegistryError::BadRow { line, reason, .. }) => {
            assert_eq!(line, 5, "header is line 1");
            assert!(reason.contains("31/02/1990"), "{reason}");
        }
        other => panic!("expected a bad row, got {other:?}"),
    }
    std::fs::write(
        &path,
        "Số định danh,Họ và tên,Ngày sinh\n079090001234,An,01/01/1990\n",
    )
    .expect("written");
    match RegistryFile::load(&path) {
        Err(e @ RegistryError::MissingColumn { .. }) => {
            assert!(e.to_string().contains("Giới tính"), "{e}")
        }
        other => panic!("expected a missing column, got {other:?}"),
    }
}

async fn verification_results_sync_down_to_the_station(backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let c = case(&mut Generator::new(93));
    nurse.import_people(&c.people).await.expect("imported");
    nurse.sync().await.expect("pushed");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("dan-cu.csv");
    write_csv(&path, &c.lines, ',');
    let registry = RegistryFile::load(&path).expect("loads");

    let pass = verify_people(&lab.server.state, &registry, PassScope::Unverified)
        .await
        .expect("pass");
    // Foreigners and people without an ID were never `unverified`.
    assert_eq!(pass.checked, c.people.len() - 2);
    assert_eq!((pass.changed, pass.refused), (pass.checked, 0));
    let again = verify_people(&lab.server.state, &registry, PassScope::Unverified)
        .await
        .expect("pass");
    assert_eq!(again.checked, 0, "nothing left unverified");

    nurse.sync().await.expect("pulled");
    for (p, want) in c.people.iter().zip(&c.expected) {
        let record = nurse.show(p.id).await.expect("record");
        assert_eq!(&record.person.verification.status, want, "{}", p.full_name);
        if *want != VerificationStatus::NotApplicable && *want != VerificationStatus::NoId {
            assert!(record.person.verification.checked_at.is_some());
        }
    }

    // The nurse corrects the name the police flagged: unverified again, then matched.
    let flagged = &c.people[1];
    nurse
        .edit_person(
            flagged.id,
            PersonEdit {
                full_name: Some(c.lines[1][2].clone()),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .expect("edited");
    nurse.sync().await.expect("pushed");
    let pass = verify_people(&lab.server.state, &registry, PassScope::Unverified)
        .await
        .expect("pass");
    assert_eq!((pass.checked, pass.changed), (1, 1));
    nurse.sync().await.expect("pulled");
    assert_eq!(
        nurse
            .show(flagged.id)
            .await
            .expect("record")
            .person
            .verification
            .status,
        VerificationStatus::Matched
    );
    // A full pass (a new registry file) changes nothing that is already right.
    let full = verify_people(&lab.server.state, &registry, PassScope::Everyone)
        .await
        .expect("pass");
    assert_eq!(full.changed, 0);
    assert_eq!(full.by_status.get("matched"), Some(&2));
    nurse.close().await;
}
both_backends!(verification_results_sync_down_to_the_station);
