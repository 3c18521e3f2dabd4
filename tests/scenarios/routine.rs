//! Routine immunization (issue 29) across the station and the server: a newborn registered by
//! the caregiver's name, found by the caregiver's phone, doses given elsewhere recorded as
//! history that the schedule counts and the server keeps as nobody's, the birth registration
//! updating the same record; and the due list read from the columns agreeing with the schedule
//! engine run on every record.

use sotiem_fixtures::{Generator, HAMLETS};
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, all_people, both_backends};
use station::programme::{
    CsvReminders, DueQuery, MissReason, ReminderOutcome, SessionPlan, SmsGateway, Trace,
    TraceOutcome,
};
use station::{DoseInput, PersonEdit, PersonInput, SearchQuery, StationError};
use sync_protocol::person::{format_time, now};
use sync_protocol::schedule::{self, Status};
use sync_protocol::{Gender, IdentityKind, Problem};
use time::{Duration, Time};

async fn a_newborn_is_found_by_the_caregiver_and_history_counts_but_stays_nobodys(
    backend: Backend,
) {
    let lab = Lab::start(backend).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let today = now().date();
    let birth = today - Duration::days(75);
    let at = |day: time::Date, hour: u8| {
        format_time(
            day.with_time(Time::from_hms(hour, 30, 0).expect("time"))
                .assume_offset(sync_protocol::VIETNAM),
        )
    };

    // Registered before the family has chosen a name: the caregiver's name stands in.
    let child = nurse
        .register_person(PersonInput {
            gender: "nữ".into(),
            birth_date: birth.to_string(),
            hamlet: Some("Ấp 3".into()),
            caregiver_name: Some("Nguyễn Thị Lan".into()),
            caregiver_phone: Some("+84 912 345 678".into()),
            caregiver_relation: Some("mẹ".into()),
            ..PersonInput::default()
        })
        .await
        .expect("registered");
    assert_eq!(child.full_name, "Con bà Nguyễn Thị Lan");
    assert_eq!(child.identity.kind, IdentityKind::None);
    let phone = child.caregiver.as_ref().and_then(|c| c.phone.clone());
    assert_eq!(phone.as_deref(), Some("0912345678"), "phone normalised");
    // Found by the caregiver's phone with her name or the child's; never by the phone alone.
    for name in ["Nguyễn Thị Lan", "con ba nguyen thi lan"] {
        let found = nurse
            .find(&SearchQuery {
                full_name: name.into(),
                phone: Some("0912345678".into()),
                id_number: None,
            })
            .await
            .expect("found");
        assert_eq!(
            found.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![child.id]
        );
    }
    let alone = nurse
        .find(&SearchQuery {
            full_name: String::new(),
            phone: Some("0912345678".into()),
            id_number: None,
        })
        .await;
    assert!(matches!(alone, Err(StationError::SearchNeedsTwoFields)));
    // A phone without a caregiver's name is refused with the field named.
    let err = nurse
        .register_person(PersonInput {
            full_name: "Lê Minh Khôi".into(),
            gender: "nam".into(),
            birth_date: birth.to_string(),
            caregiver_phone: Some("0912345679".into()),
            ..PersonInput::default()
        })
        .await
        .expect_err("no caregiver name");
    assert!(err.to_string().contains("Họ tên mẹ"), "{err}");

    // The birth dose at the hospital and the first 5-in-1 and bOPV at a private clinic, from
    // the child's card, typed in by the nurse; BCG given here today.
    let history =
        |vaccine: &str, day: time::Date, source: &str, place: &str, who: &str| DoseInput {
            vaccine: vaccine.into(),
            given_at: Some(at(day, 8)),
            elsewhere: Some(source.into()),
            place: Some(place.into()),
            vaccinator: Some(who.into()),
            ..DoseInput::default()
        };
    let hepb = nurse
        .record_dose(
            child.id,
            history(
                "VGB sơ sinh",
                birth,
                "facility",
                "Bệnh viện Hùng Vương",
                "NHS Trần Thị Mỹ",
            ),
        )
        .await
        .expect("birth dose");
    assert_eq!(
        (hepb.vaccine.as_str(), hepb.facility.as_str()),
        ("hepb", "")
    );
    let clinic = "Phòng tiêm chủng VNVC Bình Chánh";
    let five = nurse
        .record_dose(
            child.id,
            history(
                "5 trong 1",
                birth + Duration::days(62),
                "private",
                clinic,
                "ĐD Lý Văn Tài",
            ),
        )
        .await
        .expect("5-in-1");
    assert_eq!(five.dose_number, 1);
    nurse
        .record_dose(
            child.id,
            history(
                "bOPV",
                birth + Duration::days(62),
                "dịch vụ",
                clinic,
                "ĐD Lý Văn Tài",
            ),
        )
        .await
        .expect("bOPV");
    // The same card typed twice: the same product on the same day is refused.
    let again = nurse
        .record_dose(
            child.id,
            history(
                "5in1",
                birth + Duration::days(62),
                "card",
                clinic,
                "ĐD Lý Văn Tài",
            ),
        )
        .await
        .expect_err("typed twice");
    assert!(
        matches!(&again, StationError::Invalid(e) if matches!(e.problem, Problem::AlreadyRecorded { .. })),
        "{again}"
    );
    // History needs where and when.
    let nowhere = nurse
        .record_dose(
            child.id,
            DoseInput {
                vaccine: "ipv".into(),
                elsewhere: Some("card".into()),
                place: Some(clinic.into()),
                ..DoseInput::default()
            },
        )
        .await
        .expect_err("no date");
    assert!(nowhere.to_string().contains("Thời điểm tiêm"), "{nowhere}");
    let bcg = nurse
        .record_dose(
            child.id,
            DoseInput {
                vaccine: "BCG".into(),
                lot: "bcg-0324".into(),
                ..DoseInput::default()
            },
        )
        .await
        .expect("BCG here");
    assert_eq!(
        (bcg.facility.as_str(), bcg.vaccinator.as_str()),
        ("TYT-TANNHUT", "nv.lan")
    );
    assert!(bcg.history.is_none());
    // The record's proposal is for a COVID-19 dose: routine doses are numbered by their series.
    let record = nurse.show(child.id).await.expect("shown");
    assert_eq!(record.next_dose_number, 1);

    // The schedule counts history like any dose.
    let s = nurse.schedule_of(child.id, None).await.expect("schedule");
    let series = |id: &str| {
        s.series
            .iter()
            .find(|x| x.series == id)
            .unwrap_or_else(|| panic!("{id} in {s:?}"))
            .clone()
    };
    assert_eq!(series("hepb_birth").status, Status::Complete);
    assert_eq!(series("bcg").status, Status::Complete);
    let dtp = series("dtp");
    assert_eq!((dtp.doses_counted, dtp.next_dose), (1, Some(2)));
    assert_eq!(dtp.earliest, Some(birth + Duration::days(62 + 28)));
    assert_eq!(series("hib").doses_counted, 1, "5-in-1 counts for Hib");
    assert_eq!(series("bopv").doses_counted, 1);
    // On the day the second doses fall due, the child is on the due list of her hamlet.
    let on = birth + Duration::days(95);
    let due = nurse
        .due_list(&DueQuery {
            on: Some(on),
            hamlet: Some("Ấp 3".into()),
            ..DueQuery::default()
        })
        .await
        .expect("due list");
    let mine: Vec<(&str, u8)> = due
        .iter()
        .filter(|e| e.person_id == child.id.to_string())
        .map(|e| (e.series.as_str(), e.dose_number))
        .collect();
    for want in [("dtp", 2), ("hepb", 2), ("hib", 2), ("bopv", 2)] {
        assert!(mine.contains(&want), "{want:?} in {mine:?}");
    }
    assert!(due.iter().all(|e| e.phone.as_deref() == Some("0912345678")));
    let elsewhere = nurse
        .due_list(&DueQuery {
            on: Some(on),
            hamlet: Some("Ấp 1".into()),
            ..DueQuery::default()
        })
        .await
        .expect("due list");
    assert!(elsewhere.is_empty(), "{elsewhere:?}");

    // Synced: the server keeps the history as nobody's dose, with who gave it and who typed it.
    let report = nurse.sync().await.expect("synced");
    assert_eq!(report.quarantined, 0);
    let on_server = lab.on_server(child.id).await;
    let stored = &on_server.doses[&hepb.id];
    assert_eq!(stored.facility, "");
    assert_eq!(stored.vaccinator, "NHS Trần Thị Mỹ");
    assert_eq!(stored.place.as_deref(), Some("Bệnh viện Hùng Vương"));
    assert_eq!(
        stored.history.as_ref().map(|h| h.recorded_by.as_str()),
        Some("nv.lan")
    );
    assert_eq!(on_server.caregiver, child.caregiver);
    assert_eq!(on_server.address.hamlet.as_deref(), Some("Ấp 3"));

    // The birth is registered: the same record gets the name and the personal number.
    let number = Generator::new(2901).cccd(Gender::Female, birth.year());
    let named = nurse
        .edit_person(
            child.id,
            PersonEdit {
                full_name: Some("Trần Gia Hân".into()),
                id_kind: Some(IdentityKind::Cccd),
                id_number: Some(number.clone()),
                ..PersonEdit::default()
            },
            None,
        )
        .await
        .expect("named");
    assert_eq!(named.id, child.id);
    assert_eq!(named.caregiver, child.caregiver, "the caregiver stays");
    nurse.sync().await.expect("synced");
    let on_server = lab.on_server(child.id).await;
    assert_eq!(on_server.full_name, "Trần Gia Hân");
    assert_eq!(on_server.identity.number.as_deref(), Some(number.as_str()));
    assert_eq!(all_people(&nurse).await.len(), 1, "updated, not duplicated");
    lab.server.stop().await;
}
both_backends!(a_newborn_is_found_by_the_caregiver_and_history_counts_but_stays_nobodys);

/// What the engine says is due on `on`, record by record (documents, not columns).
async fn engine_due(
    station: &station::Station,
    hamlet: Option<&str>,
    on: time::Date,
) -> Vec<(String, String, u8, bool, String)> {
    let mut out = Vec::new();
    for p in all_people(station).await.values() {
        if hamlet.is_some() && p.address.hamlet.as_deref() != hamlet {
            continue;
        }
        let Ok(s) = schedule::for_person(station.schedule(), p, on) else {
            continue;
        };
        for x in s.due() {
            out.push((
                p.id.to_string(),
                x.series.clone(),
                x.next_dose.expect("a next dose"),
                x.status == Status::Overdue,
                x.earliest.expect("earliest").to_string(),
            ));
        }
    }
    out.sort();
    out
}

/// The due list reads columns and dose rows, not documents; on a synthetic commune it must say
/// exactly what the schedule engine says of each record, for the commune and for one hamlet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_due_list_agrees_with_the_engine_on_every_record() {
    let lab = Lab::start(Backend::Sqlite).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let today = now().date();
    let mut g = Generator::new(2902);
    let mut people: Vec<sync_protocol::Person> = (0..80)
        .map(|_| g.child("TYT-TANNHUT", "nv.lan", today, 3 * 365))
        .collect();
    people.extend((0..5).map(|_| g.child("TYT-TANNHUT", "nv.lan", today, 9 * 365)));
    people.extend((0..30).map(|_| g.person("TYT-TANNHUT", "nv.lan", 2)));
    // Women who started tetanus in pregnancy are followed; the others are not called.
    let mut women = 0;
    for p in people.iter_mut().filter(|p| p.gender == Gender::Female) {
        let age = (today - p.birth_date.earliest_day()).whole_days();
        if (16 * 365..34 * 365).contains(&age) && women < 3 {
            let mut d = p.doses.values().next().expect("a dose").clone();
            d.id = uuid::Uuid::now_v7();
            d.vaccine = "tt".into();
            d.dose_number = 1;
            d.given_at = now() - Duration::days(40 + women);
            p.doses.insert(d.id, d);
            women += 1;
        }
    }
    assert_eq!(women, 3, "the generator gives women of that age");
    nurse.import_people(&people).await.expect("imported");

    let on = today + Duration::days(10);
    for hamlet in [None, Some(HAMLETS[2])] {
        let list = nurse
            .due_list(&DueQuery {
                on: Some(on),
                hamlet: hamlet.map(str::to_string),
                ..DueQuery::default()
            })
            .await
            .expect("due list");
        let mut got: Vec<_> = list
            .iter()
            .map(|e| {
                (
                    e.person_id.clone(),
                    e.series.clone(),
                    e.dose_number,
                    e.status == "overdue",
                    e.earliest.clone(),
                )
            })
            .collect();
        got.sort();
        let want = engine_due(&nurse, hamlet, on).await;
        assert!(want.len() > 20, "a real list: {}", want.len());
        assert_eq!(got, want, "hamlet {hamlet:?}");
        assert!(
            got.iter().filter(|e| e.1 == "tetanus_women").count() == 3 || hamlet.is_some(),
            "the three women who started tetanus are called"
        );
    }
    lab.server.stop().await;
}

/// A session day (issue 29): planned for a hamlet, its invitees the hamlet's due list as it
/// stood that morning, slips printed for them, the day's tally counting the doses given, and
/// closing it keeping whoever did not come as a defaulter to trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_day_invites_the_due_tallies_the_day_and_keeps_the_defaulters() {
    let lab = Lab::start(Backend::Sqlite).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let today = now().date();
    let mut g = Generator::new(2903);
    let children: Vec<sync_protocol::Person> = (0..12)
        .map(|_| {
            let mut c = g.child("TYT-TANNHUT", "nv.lan", today, 2 * 365);
            c.address.hamlet = Some("Ấp 2".into());
            c
        })
        .collect();
    nurse.import_people(&children).await.expect("imported");

    let plan = |day: time::Date, hamlet: &str| SessionPlan {
        day,
        hamlet: Some(hamlet.into()),
        place: Some("Nhà văn hoá ấp 2".into()),
    };
    let session = nurse
        .plan_session(plan(today, "Ấp 2"))
        .await
        .expect("planned");
    let again = nurse.plan_session(plan(today, "Ấp 2")).await;
    assert!(
        matches!(&again, Err(StationError::Invalid(e)) if matches!(e.problem, Problem::SessionPlanned { .. })),
        "{again:?}"
    );
    let past = nurse
        .plan_session(plan(today - Duration::days(1), "Ấp 5"))
        .await
        .expect_err("yesterday");
    assert!(past.to_string().contains("quá khứ"), "{past}");

    let invitees = nurse.session_invitees(&session.id).await.expect("invitees");
    // Before anyone comes, the invitees are what the engine says of each record.
    let mut listed: Vec<_> = invitees
        .iter()
        .map(|e| {
            (
                e.person_id.clone(),
                e.series.clone(),
                e.dose_number,
                e.status == "overdue",
                e.earliest.clone(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(listed, engine_due(&nurse, Some("Ấp 2"), today).await);
    let mut people: Vec<String> = invitees.iter().map(|e| e.person_id.clone()).collect();
    people.dedup();
    assert!(people.len() >= 3, "a real session: {}", people.len());
    let slips = nurse.session_slips(&session.id).await.expect("slips");
    assert_eq!(slips.people, people.len());
    assert!(slips.file_name.starts_with("giay-moi-") && slips.file_name.ends_with("-ap-2.pdf"));
    let pdf = slips.pdf;
    assert!(pdf.starts_with(b"%PDF"));
    let first = invitees[0].clone();
    let text = sotiem_scenarios::passports::pdf_text(&pdf);
    assert!(text.contains("GIẤY MỜI TIÊM CHỦNG"), "{text}");
    assert!(text.contains(&first.full_name), "{text}");
    assert!(text.contains("Nhà văn hoá ấp 2"), "{text}");

    // The first comes and gets a dose of a series due; the others do not come.
    let product = nurse
        .vaccines(today)
        .into_iter()
        .find(|v| v.series.contains(&first.series))
        .expect("a product for the series");
    nurse
        .record_dose(
            first.person_id.parse().expect("uuid"),
            DoseInput {
                vaccine: product.code.clone(),
                lot: "QV2405".into(),
                ..DoseInput::default()
            },
        )
        .await
        .expect("given");
    // The morning's list stands: the dose given does not take her off it.
    let still = nurse.session_invitees(&session.id).await.expect("invitees");
    assert_eq!(still, invitees);
    let tally = nurse.session_tally(&session.id).await.expect("tally");
    assert_eq!(
        (tally.invited, tally.came),
        (people.len() as i64, 1),
        "{tally:?}"
    );
    let row = tally
        .rows
        .iter()
        .find(|r| r.series == first.series)
        .expect("the series' row");
    assert_eq!(row.given, 1);
    assert!(row.due >= 1);
    // The list and tally sheet: everyone invited, only she ticked, the tally at the end.
    let sheet = nurse.session_sheet(&session.id).await.expect("sheet");
    assert_eq!(sheet.people, people.len());
    assert!(sheet.file_name.starts_with("danh-sach-") && sheet.file_name.ends_with("-ap-2.pdf"));
    let text = sotiem_scenarios::passports::pdf_text(&sheet.pdf);
    assert!(
        text.contains("DANH SÁCH VÀ BẢNG KIỂM BUỔI TIÊM CHỦNG"),
        "{text}"
    );
    for e in &invitees {
        assert!(
            text.contains(&e.full_name),
            "{} on the sheet: {text}",
            e.full_name
        );
    }
    assert_eq!(text.matches("đã tiêm").count(), 1, "one tick: {text}");
    assert!(
        text.contains(&format!("Được mời: {} — đã đến tiêm: 1", people.len())),
        "{text}"
    );
    assert!(text.contains(&row.antigen), "{text}");

    // A session not yet over cannot be closed; this one can, once.
    let tomorrow = nurse
        .plan_session(plan(today + Duration::days(1), "Ấp 2"))
        .await
        .expect("planned");
    let early = nurse
        .close_session(&tomorrow.id)
        .await
        .expect_err("not over");
    assert!(early.to_string().contains("chưa diễn ra"), "{early}");
    let defaulters = nurse.close_session(&session.id).await.expect("closed");
    assert_eq!(defaulters.len(), people.len() - 1);
    assert!(defaulters.iter().all(|d| d.person_id != first.person_id));
    assert!(
        defaulters
            .iter()
            .all(|d| !d.missed.is_empty() && d.located.is_none())
    );
    let twice = nurse
        .close_session(&session.id)
        .await
        .expect_err("closed once");
    assert!(twice.to_string().contains("đã kết thúc"), "{twice}");

    // Tracing a defaulter: located, why, what came of it.
    let d = &defaulters[0];
    let traced = nurse
        .trace_defaulter(
            &session.id,
            &d.person_id,
            &Trace {
                located: Some(true),
                reason: Some(MissReason::Sick),
                outcome: Some(TraceOutcome::Rescheduled),
            },
        )
        .await
        .expect("traced");
    assert_eq!(traced.located, Some(true));
    assert_eq!(traced.reason, Some(MissReason::Sick));
    assert_eq!(traced.traced_by.as_deref(), Some("nv.lan"));
    let listed = nurse.session_days(None, None).await.expect("sessions");
    let closed = listed.iter().find(|s| s.id == session.id).expect("listed");
    assert_eq!(closed.defaulters, (people.len() - 1) as i64);
    assert!(closed.closed_at.is_some());
    lab.server.stop().await;
}

/// Reminders of a session (issue 29): a provider-ready CSV file, or posts to an SMS gateway (a
/// real HTTP server on loopback here) that accepts some and refuses one; the report says
/// written, accepted or refused — never delivered — and names who has no phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_are_written_for_the_provider_or_posted_to_the_gateway_never_called_delivered() {
    use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
    use std::sync::{Arc, Mutex};

    let lab = Lab::start(Backend::Sqlite).await;
    let nurse = lab.device("a", "TYT-TANNHUT", "nv.lan").await;
    let today = now().date();
    let mut g = Generator::new(2905);
    let mut children: Vec<sync_protocol::Person> = (0..5)
        .map(|_| {
            // Born three to four months ago with no doses after birth: all due.
            let mut c = g.child("TYT-TANNHUT", "nv.lan", today - Duration::days(100), 10);
            c.address.hamlet = Some("Ấp 4".into());
            c
        })
        .collect();
    // One family without any phone: a slip only.
    if let Some(c) = children.last_mut() {
        c.caregiver.as_mut().expect("a caregiver").phone = None;
    }
    // The gateway refuses this number.
    let refused_phone = children[0]
        .caregiver
        .as_ref()
        .and_then(|c| c.phone.clone())
        .expect("a phone");
    nurse.import_people(&children).await.expect("imported");
    let session = nurse
        .plan_session(SessionPlan {
            day: today + Duration::days(3),
            hamlet: Some("Ấp 4".into()),
            place: Some("Nhà văn hoá ấp 4".into()),
        })
        .await
        .expect("planned");

    // The provider's file.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("nhac-lich.csv");
    let report = nurse
        .remind_session(&session.id, &CsvReminders::new(&file))
        .await
        .expect("written");
    assert_eq!(report.sent.len(), 4);
    assert_eq!(report.without_phone.len(), 1);
    assert!(
        report
            .sent
            .iter()
            .all(|(_, o)| *o == ReminderOutcome::Written)
    );
    let mut rows = csv::Reader::from_path(&file).expect("csv");
    let read: Vec<(String, String, String)> =
        rows.deserialize().map(|r| r.expect("a row")).collect();
    assert_eq!(read.len(), 4);
    for ((phone, text, reference), (reminder, _)) in read.iter().zip(&report.sent) {
        assert_eq!(
            (phone, text, reference),
            (&reminder.phone, &reminder.text, &reminder.person_id)
        );
        assert!(text.is_ascii() && text.chars().count() <= 160, "{text}");
        assert!(text.contains("Nha van hoa ap 4"), "{text}");
    }

    // The province's gateway, on loopback.
    type Seen = Arc<Mutex<Vec<serde_json::Value>>>;
    async fn gateway(
        State((seen, refused)): State<(Seen, String)>,
        Json(body): Json<serde_json::Value>,
    ) -> (StatusCode, String) {
        let to = body["to"].as_str().unwrap_or_default().to_string();
        if let Ok(mut s) = seen.lock() {
            s.push(body);
        }
        if to == refused {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "so thue bao khong hop le".into(),
            )
        } else {
            (StatusCode::OK, format!("{{\"id\": \"msg-{to}\"}}"))
        }
    }
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/sms/send", post(gateway))
        .with_state((seen.clone(), refused_phone.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bound");
    let url = format!(
        "http://{}/sms/send",
        listener.local_addr().expect("address")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let report = nurse
        .remind_session(&session.id, &SmsGateway::new(&url).expect("gateway"))
        .await
        .expect("posted");
    assert_eq!(report.sent.len(), 4);
    for (reminder, outcome) in &report.sent {
        if reminder.phone == refused_phone {
            assert!(
                matches!(outcome, ReminderOutcome::Refused { reason } if reason.contains("422") && reason.contains("khong hop le")),
                "{outcome:?}"
            );
        } else {
            assert_eq!(
                outcome,
                &ReminderOutcome::Accepted {
                    gateway_id: Some(format!("msg-{}", reminder.phone))
                }
            );
        }
    }
    let posted = seen.lock().expect("seen").clone();
    assert_eq!(posted.len(), 4, "one post per reminder");
    for (body, (reminder, _)) in posted.iter().zip(&report.sent) {
        assert_eq!(body["to"], reminder.phone.as_str());
        assert_eq!(body["text"], reminder.text.as_str());
        assert_eq!(body["reference"], reminder.person_id.as_str());
    }
    // A gateway that cannot be reached: every reminder refused, with the reason.
    let down = nurse
        .remind_session(
            &session.id,
            &SmsGateway::new("http://127.0.0.1:9/sms").expect("gateway"),
        )
        .await
        .expect("reported");
    assert!(down.sent.iter().all(|(_, o)| matches!(o, ReminderOutcome::Refused { reason } if reason.contains("không kết nối"))));
    // An address that is neither https nor this machine is refused before anything is sent.
    assert!(SmsGateway::new("http://sms.example.vn/send").is_err());
    lab.server.stop().await;
}
