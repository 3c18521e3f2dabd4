//! Citizens' complaints (issue 16) through the real HTTP API: a citizen files one on the public
//! page (proof of work, a photo carrying GPS metadata), the facility's station pulls it, fetches
//! the photo (re-encoded, metadata gone), answers it; the citizen reads the answer with code and
//! phone. Every bad input is refused with its message and stores nothing; a flood from one
//! address is throttled while the server keeps answering the others.

use sotiem_scenarios::complaints::{
    Citizen, between, card_photo_with_gps, code_of, comirnaty, honest_fields, pixel_bomb,
};
use sotiem_scenarios::server::{Backend, TestServer};
use sotiem_scenarios::{Lab, both_backends};
use sotiem_server::complaints::pow;
use sync_protocol::complaints::{
    ComplaintAnswer, ComplaintForward, ComplaintPage, ComplaintRecord, ComplaintStatus,
};

async fn a_complaint_goes_from_the_public_page_to_the_station_and_its_answer_back(
    backend: Backend,
) {
    let lab = Lab::start(backend).await;
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    let tuc = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    let citizen = Citizen::new(&lab.server.url);

    let (status, page) = citizen
        .post(
            &honest_fields(),
            &[("phieu-tiem.jpg", card_photo_with_gps())],
            None,
        )
        .await;
    assert_eq!(status, 201, "{page}");
    let code = between(&page, "data-testid=\"tracking-code\">", "<")
        .expect("a tracking code")
        .to_string();
    assert!(code.starts_with("PA-"), "{code}");
    assert!(page.contains("Trạm Y tế xã Tân Nhựt"));

    // The citizen's look-up: a wrong phone is answered as an unknown code.
    let (status, page) = citizen.lookup(&code, "0987654321").await;
    assert_eq!(status, 404);
    assert!(page.contains("Không tìm thấy") && !page.contains("Hồng Nhung"));
    let (status, page) = citizen.lookup(&code.to_lowercase(), "0912345678").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("data-status=\"open\""), "{page}");

    // The facility's station pulls it; another commune's does not.
    let inbox: ComplaintPage = nhut
        .client
        .get_json("complaints/changes", &[("since", "0".to_string())])
        .await
        .expect("pulled");
    assert_eq!(inbox.complaints.len(), 1);
    let complaint: &ComplaintRecord = &inbox.complaints[0];
    assert_eq!(
        (complaint.code.as_str(), complaint.phone.as_str()),
        (code.as_str(), "0912345678")
    );
    assert_eq!(complaint.photos, 1);
    let elsewhere: ComplaintPage = tuc
        .client
        .get_json("complaints/changes", &[("since", "0".to_string())])
        .await
        .expect("pulled");
    assert!(elsewhere.complaints.is_empty());
    // The photo, fetched when opened: a JPEG with nothing of the upload's metadata.
    let photo = nhut
        .client
        .get_bytes(&format!("complaints/{}/photos/0", complaint.id))
        .await
        .expect("photo");
    assert_eq!(&photo[..2], &[0xFF, 0xD8]);
    assert!(
        !photo.windows(3).any(|w| w == b"GPS") && !photo.windows(5).any(|w| w == b"Nguye"),
        "metadata kept"
    );
    image::load_from_memory(&photo).expect("a picture");
    assert!(
        tuc.client
            .get_bytes(&format!("complaints/{}/photos/0", complaint.id))
            .await
            .is_err(),
        "another facility's station gets no photo"
    );

    // Answered at the station, linked to the record it corrected: the citizen reads it.
    let mut g = sotiem_fixtures::Generator::new(1601);
    let corrected = g.person("TYT-TANNHUT", "nv.lan", 2);
    nhut.import_people(std::slice::from_ref(&corrected))
        .await
        .expect("registered");
    nhut.sync().await.expect("synced");
    let answered: ComplaintRecord = nhut
        .client
        .json(
            &format!("complaints/{}/answer", complaint.id),
            &ComplaintAnswer {
                status: ComplaintStatus::Resolved,
                answer: "Đã bổ sung mũi 2 (Comirnaty, 20/11/2026) vào hồ sơ.".into(),
                person_id: Some(corrected.id.to_string()),
            },
        )
        .await
        .expect("answered");
    assert_eq!(answered.status, ComplaintStatus::Resolved);
    assert_eq!(
        answered
            .answered_by
            .as_deref()
            .map(|a| a.starts_with("nv.lan")),
        Some(true)
    );
    let again = nhut
        .client
        .json::<_, ComplaintRecord>(
            &format!("complaints/{}/answer", complaint.id),
            &ComplaintAnswer {
                status: ComplaintStatus::Rejected,
                answer: "Sửa lại".into(),
                person_id: None,
            },
        )
        .await
        .expect_err("answered once");
    assert_eq!(again.code(), "already_answered", "{again}");
    let (_, page) = citizen.lookup(&code, "0912345678").await;
    assert!(page.contains("data-status=\"resolved\"") && page.contains("Đã bổ sung mũi 2"));

    // A second complaint belongs elsewhere: forwarded with a reason, it leaves this inbox and
    // reaches Tân Túc's, with a new deadline.
    let (status, page) = citizen.post(&honest_fields(), &[], None).await;
    assert_eq!(status, 201, "{page}");
    let second_code = between(&page, "data-testid=\"tracking-code\">", "<")
        .expect("code")
        .to_string();
    let inbox: ComplaintPage = nhut
        .client
        .get_json(
            "complaints/changes",
            &[("since", answered.version.to_string())],
        )
        .await
        .expect("pulled");
    let second = inbox.complaints[0].clone();
    let forwarded: ComplaintRecord = nhut
        .client
        .json(
            &format!("complaints/{}/forward", second.id),
            &ComplaintForward {
                to: "TYT-TANTUC".into(),
                reason: "Người dân tiêm mũi 2 tại Trạm Y tế xã Tân Túc.".into(),
            },
        )
        .await
        .expect("forwarded");
    assert_eq!(forwarded.facility, "TYT-TANTUC");
    let theirs: ComplaintPage = tuc
        .client
        .get_json("complaints/changes", &[("since", "0".to_string())])
        .await
        .expect("pulled");
    assert_eq!(theirs.complaints.len(), 1);
    assert_eq!(
        theirs.complaints[0].forwarded_from.as_deref(),
        Some("TYT-TANNHUT")
    );
    let ours: ComplaintPage = nhut
        .client
        .get_json(
            "complaints/changes",
            &[("since", second.version.to_string())],
        )
        .await
        .expect("pulled");
    assert_eq!(
        ours.complaints[0].facility, "TYT-TANTUC",
        "the forwarding facility learns it left"
    );
    let (_, page) = citizen.lookup(&second_code, "0912345678").await;
    assert!(page.contains("Đã chuyển từ") && page.contains("Trạm Y tế xã Tân Túc"));

    // The district sees the backlog: Tân Túc holds one open complaint, overdue a week later;
    // Tân Nhựt's is answered.
    let area = sotiem_server::console::Area::province(&lab.server.db, "TP Hồ Chí Minh")
        .await
        .expect("area");
    let later = lab.server.clock.now() + time::Duration::days(7);
    let overview = sotiem_server::console::overview(&lab.server.db, &area, later, 30)
        .await
        .expect("overview");
    let row = |code: &str| {
        overview
            .iter()
            .find(|a| a.facility == code)
            .map(|a| (a.complaints_open, a.complaints_overdue))
            .expect("row")
    };
    assert_eq!(row("TYT-TANTUC"), (1, 1));
    assert_eq!(row("TYT-TANNHUT"), (0, 0));

    // Who saw and did what is recorded.
    let events = lab
        .server
        .state
        .complaints
        .events(&complaint.id)
        .await
        .expect("events");
    let actions: Vec<&str> = events.iter().map(|(_, _, a)| a.as_str()).collect();
    for action in [
        "filed",
        "citizen_lookup",
        "sent_to_station",
        "photo_viewed",
        "resolved",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    lab.server.stop().await;
}
both_backends!(a_complaint_goes_from_the_public_page_to_the_station_and_its_answer_back);

async fn bad_input_on_the_public_form_is_refused_with_its_reason_and_stores_nothing(
    backend: Backend,
) {
    let lab = Lab::start(backend).await;
    let citizen = Citizen::new(&lab.server.url);
    let with = |field: &'static str, value: String| {
        let mut f = honest_fields();
        if let Some(slot) = f.iter_mut().find(|(n, _)| *n == field) {
            slot.1 = value;
        }
        f
    };
    // (what, the fields, the photos, what the page must say)
    type Case<'a> = (
        &'a str,
        Vec<(&'static str, String)>,
        Vec<(&'a str, Vec<u8>)>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "script tags in the name",
            with("full_name", "<script>alert('x')</script>".into()),
            vec![],
            "data-problem=\"full_name\"",
        ),
        (
            "10,000 characters of description",
            with("description", "Tôi đã tiêm. ".repeat(800)),
            vec![],
            "dài quá 2000 ký tự",
        ),
        (
            "markup in the description",
            with("description", "<img src=x onerror=alert(1)>".into()),
            vec![],
            "không dùng ký tự &lt; hoặc &gt;",
        ),
        (
            "an unknown facility",
            with("facility", "TYT-KHONGTONTAI".into()),
            vec![],
            "không có cơ sở này",
        ),
        (
            "a text file as a photo",
            honest_fields(),
            vec![("phieu.jpg", b"day khong phai anh".to_vec())],
            "chỉ nhận ảnh JPEG hoặc PNG",
        ),
        (
            "an oversize photo",
            honest_fields(),
            vec![("lon.jpg", vec![0xFF; 5 * 1024 * 1024 + 10])],
            "tối đa 5 MB",
        ),
        (
            "four photos",
            honest_fields(),
            (0..4).map(|_| ("a.jpg", card_photo_with_gps())).collect(),
            "tối đa 3 ảnh",
        ),
    ];
    for (what, fields, photos, message) in cases {
        let (status, page) = citizen.post(&fields, &photos, None).await;
        assert_eq!(status, 422, "{what}: {page}");
        assert!(page.contains(message), "{what}: {message} not in the page");
        assert!(page.contains("data-testid=\"form-error\""), "{what}");
        // What was typed is kept for the next try (escaped), the photos are not.
        assert!(page.contains("0912 345 678"), "{what}");
        assert!(
            !page.contains("<script>alert") && !page.contains("<img src=x"),
            "{what}"
        );
    }
    // Without the work, or with a challenge already spent.
    let (status, page) = citizen
        .post(&honest_fields(), &[], Some("12345678901234567890"))
        .await;
    assert_eq!(status, 403);
    assert!(page.contains("chống gửi tự động"), "{page}");
    let (challenge, bits) = citizen.challenge().await;
    let solution = pow::solve(&challenge, bits);
    let (status, _) = citizen
        .post_with(&honest_fields(), &[], &challenge, &solution)
        .await;
    assert_eq!(status, 201);
    let (status, page) = citizen
        .post_with(&honest_fields(), &[], &challenge, &solution)
        .await;
    assert_eq!(status, 403);
    assert!(page.contains("đã được gửi"), "{page}");
    // A body far over the limit is cut off.
    let (status, page) = citizen
        .post(
            &honest_fields(),
            &(0..4)
                .map(|_| ("x.jpg", vec![0u8; 5 * 1024 * 1024]))
                .collect::<Vec<_>>(),
            None,
        )
        .await;
    assert!(
        status == 413 || status == 0,
        "{status}: a 20 MB body is refused: {page}"
    );
    assert!(status == 0 || page.contains("tối đa 5 MB"), "{page}");
    assert_eq!(
        lab.server.count("complaints").await,
        1,
        "only the honest complaint was stored"
    );
    assert_eq!(lab.server.count("complaint_photos").await, 0);
    lab.server.stop().await;
}
both_backends!(bad_input_on_the_public_form_is_refused_with_its_reason_and_stores_nothing);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_lookups_from_one_address_is_throttled_while_the_server_keeps_answering() {
    let lab = Lab::start(Backend::Sqlite).await;
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = format!("{}/phan-anh/tra-cuu", lab.server.url);
    let mut flood = Vec::new();
    for i in 0..200 {
        let (http, url) = (http.clone(), url.clone());
        flood.push(tokio::spawn(async move {
            http.post(url)
                .form(&[
                    ("code", format!("PA-{i:04}-AAAA")),
                    ("phone", "0912345678".into()),
                ])
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    // Meanwhile a station syncs and the server answers its health check.
    nhut.sync().await.expect("the station still syncs");
    let health = http
        .get(format!("{}/healthz", lab.server.url))
        .send()
        .await
        .expect("answer");
    assert_eq!(health.status().as_u16(), 200);
    let mut throttled = 0;
    let mut answered = 0;
    for f in flood {
        match f.await.expect("joined") {
            429 => throttled += 1,
            404 => answered += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    assert!(throttled >= 150, "{throttled} of 200 throttled");
    assert!(answered >= 1, "the first look-ups are answered");
    lab.server.stop().await;
}

/// Nguyễn Thị Hồng Nhung as the station registered her (the complaint's person).
fn nhung() -> station::PersonInput {
    station::PersonInput {
        full_name: "Nguyễn Thị Hồng Nhung".into(),
        gender: "nu".into(),
        birth_date: "12/03/1990".into(),
        id_kind: Some(sync_protocol::IdentityKind::Cccd),
        id_number: Some("079190012345".into()),
        phone: Some("0912345678".into()),
        address_detail: Some("Ấp 2".into()),
        ..station::PersonInput::default()
    }
}

async fn a_station_answers_its_complaints_offline_and_the_answers_reach_the_citizen_at_sync(
    backend: Backend,
) {
    use station::{ComplaintFilter, ComplaintState};
    let lab = Lab::start(backend).await;
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    let tuc = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    let citizen = Citizen::new(&lab.server.url);
    let person = nhut.register_person(nhung()).await.expect("registered");
    nhut.record_dose(person.id, comirnaty(1, "2026-10-23T08:00:00+07:00"))
        .await
        .expect("first dose");
    nhut.sync().await.expect("synced");

    // She says her second dose is missing, with a photo of her paper card.
    let (status, page) = citizen
        .post(
            &honest_fields(),
            &[("phieu-tiem.jpg", card_photo_with_gps())],
            None,
        )
        .await;
    assert_eq!(status, 201, "{page}");
    let code = code_of(&page);
    let report = nhut.sync().await.expect("synced");
    assert_eq!(report.complaints_pulled, 1);
    let inbox = nhut.complaints(ComplaintFilter::Open).await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        (inbox[0].code.as_str(), inbox[0].state, inbox[0].overdue),
        (code.as_str(), ComplaintState::Open, false)
    );
    assert!(
        tuc.sync().await.expect("synced").complaints_pulled == 0
            && tuc
                .complaints(ComplaintFilter::All)
                .await
                .expect("inbox")
                .is_empty(),
        "another commune's station gets nothing"
    );

    // Opened by its code as typed: the photo comes from the server once, then from the laptop.
    let view = nhut.complaint(&code.to_lowercase()).await.expect("opened");
    assert_eq!(view.record.phone, "0912345678");
    assert!(
        view.vaccine_name
            .as_deref()
            .is_some_and(|v| v.contains("Comirnaty"))
    );
    let photo = nhut
        .complaint_photo(Some(&nhut.client), &code, 0)
        .await
        .expect("photo");
    assert_eq!(&photo[..2], &[0xFF, 0xD8]);
    assert_eq!(
        nhut.complaint_photo(None, &code, 0).await.expect("kept"),
        photo,
        "kept on the laptop for offline use"
    );
    let refused = nhut
        .complaint_photo(None, &code, 1)
        .await
        .expect_err("only one photo");
    assert_eq!(refused.code(), "not_found");

    // Another commune's station cannot answer or forward it, whatever it sends.
    let answer_path = format!("complaints/{}/answer", view.record.id);
    let forward_path = format!("complaints/{}/forward", view.record.id);
    let theirs = tuc
        .client
        .json::<_, ComplaintRecord>(
            &answer_path,
            &ComplaintAnswer {
                status: ComplaintStatus::Rejected,
                answer: "Không có hồ sơ ở trạm này.".into(),
                person_id: None,
            },
        )
        .await
        .expect_err("another facility's complaint");
    assert_eq!(theirs.code(), "other_facility", "{theirs}");
    let theirs = tuc
        .client
        .json::<_, ComplaintRecord>(
            &forward_path,
            &ComplaintForward {
                to: "TYT-TANNHUT-LD".into(),
                reason: "Chuyển cho đội lưu động trả lời.".into(),
            },
        )
        .await
        .expect_err("another facility's complaint");
    assert_eq!(theirs.code(), "other_facility", "{theirs}");
    // Its own station, written by hand (issue 26): "resolved" with no record, or with a record
    // the station does not hold (one that does not exist), is refused by the server itself.
    for (person_id, what) in [
        (None, "no record linked"),
        (
            Some(uuid::Uuid::now_v7().to_string()),
            "a record out of scope",
        ),
    ] {
        let e = nhut
            .client
            .json::<_, ComplaintRecord>(
                &answer_path,
                &ComplaintAnswer {
                    status: ComplaintStatus::Resolved,
                    answer: "Đã sửa.".into(),
                    person_id,
                },
            )
            .await
            .expect_err(what);
        assert_eq!(e.code(), "invalid", "{what}: {e}");
        assert!(e.to_string().contains("người tiêm"), "{what}: {e}");
    }

    // Resolved needs the person; the usual search finds her by the complaint's name and phone.
    let early = nhut
        .answer_complaint(None, &code, ComplaintStatus::Resolved, "Đã bổ sung")
        .await
        .expect_err("no person linked");
    assert_eq!(early.code(), "complaint_needs_person", "{early}");
    let matches = nhut.complaint_matches(&code).await.expect("matches");
    assert_eq!(
        matches.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![person.id]
    );
    nhut.link_complaint(&code, Some(person.id))
        .await
        .expect("linked");
    nhut.record_dose(person.id, comirnaty(2, "2026-11-20T08:00:00+07:00"))
        .await
        .expect("the missing dose");
    // An empty answer, markup in it: refused with the reason, nothing kept.
    for bad in ["   ", "<script>alert(1)</script>"] {
        let e = nhut
            .answer_complaint(None, &code, ComplaintStatus::Resolved, bad)
            .await
            .expect_err("refused");
        assert_eq!(e.code(), "complaint_reply_invalid", "{e}");
    }

    // Answered with no network: kept on the laptop; the citizen still reads "open".
    let answer = "Đã bổ sung mũi 2 (Comirnaty, ngày 20/11/2026) vào hồ sơ của chị.";
    let waiting = nhut
        .answer_complaint(None, &code, ComplaintStatus::Resolved, answer)
        .await
        .expect("kept");
    assert_eq!(waiting.summary.state, ComplaintState::WaitingToSend);
    let again = nhut
        .answer_complaint(None, &code, ComplaintStatus::Rejected, "Không đúng")
        .await
        .expect_err("one answer");
    assert_eq!(again.code(), "complaint_reply_pending");
    let (_, page) = citizen.lookup(&code, "0912345678").await;
    assert!(page.contains("data-status=\"open\""), "{page}");

    // The next sync sends it with the dose; the citizen reads the answer.
    let report = nhut.sync().await.expect("synced");
    assert_eq!(
        (
            report.complaint_replies_sent,
            report.complaint_replies_refused
        ),
        (1, 0)
    );
    let (_, page) = citizen.lookup(&code, "0912345678").await;
    assert!(
        page.contains("data-status=\"resolved\"") && page.contains("Đã bổ sung mũi 2"),
        "{page}"
    );
    let done = nhut.complaint(&code).await.expect("opened");
    assert_eq!(done.summary.state, ComplaintState::Resolved);
    assert_eq!(done.record.person_id, Some(person.id.to_string()));
    assert!(
        done.record
            .answered_by
            .as_deref()
            .is_some_and(|b| b.starts_with("nv.lan"))
    );
    assert!(
        nhut.complaints(ComplaintFilter::Open)
            .await
            .expect("inbox")
            .is_empty(),
        "answered ones leave the inbox"
    );
    let on_server = lab.on_server(person.id).await;
    assert_eq!(
        on_server
            .doses
            .values()
            .filter(|d| d.voided.is_none())
            .count(),
        2,
        "the missing dose went up with the answer"
    );

    // A second complaint belongs to Tân Túc. Forwarded to a facility that does not exist: the
    // server refuses and the station shows why; forwarded right, it reaches Tân Túc's inbox.
    let (status, page) = citizen.post(&honest_fields(), &[], None).await;
    assert_eq!(status, 201, "{page}");
    let second = code_of(&page);
    nhut.sync().await.expect("synced");
    let wrong = nhut
        .forward_complaint(
            Some(&nhut.client),
            &second,
            "TYT-KHONGCO",
            "Người dân tiêm ở trạm khác.",
        )
        .await
        .expect("kept, then refused by the server");
    assert_eq!(wrong.summary.state, ComplaintState::Refused);
    assert!(
        wrong
            .reply_error
            .as_deref()
            .is_some_and(|e| e.contains("TYT-KHONGCO")),
        "{wrong:?}"
    );
    let own = nhut
        .forward_complaint(None, &second, "tyt-tannhut", "Nhầm")
        .await
        .expect_err("not to itself");
    assert_eq!(own.code(), "complaint_reply_invalid");
    // Where it can go: every facility but Tân Nhựt and its mobile team, kept for offline use.
    let destinations = nhut
        .complaint_destinations(Some(&nhut.client))
        .await
        .expect("destinations");
    let codes: Vec<&str> = destinations.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.contains(&"TYT-TANTUC"), "{codes:?}");
    assert!(
        !codes.contains(&"TYT-TANNHUT") && !codes.contains(&"TYT-TANNHUT-LD"),
        "{codes:?}"
    );
    assert_eq!(
        nhut.complaint_destinations(None).await.expect("kept"),
        destinations,
        "the list kept for when the laptop is offline"
    );
    let forwarded = nhut
        .forward_complaint(
            Some(&nhut.client),
            &second,
            "TYT-TANTUC",
            "Chị tiêm mũi 2 tại Trạm Y tế xã Tân Túc.",
        )
        .await
        .expect("forwarded");
    assert_eq!(forwarded.summary.state, ComplaintState::ForwardedAway);
    assert!(
        nhut.complaints(ComplaintFilter::Open)
            .await
            .expect("inbox")
            .is_empty()
    );
    assert_eq!(tuc.sync().await.expect("synced").complaints_pulled, 1);
    let theirs = tuc.complaints(ComplaintFilter::Open).await.expect("inbox");
    assert_eq!(theirs.len(), 1);
    let at_tuc = tuc.complaint(&second).await.expect("opened");
    assert_eq!(at_tuc.record.forwarded_from.as_deref(), Some("TYT-TANNHUT"));
    // Tân Túc has no record of her: nothing matches, and it rejects with the reason.
    assert!(
        tuc.complaint_matches(&second)
            .await
            .expect("matches")
            .is_empty()
    );
    let rejected = tuc
        .answer_complaint(
            Some(&tuc.client),
            &second,
            ComplaintStatus::Rejected,
            "Trạm Tân Túc không tiêm cho chị ngày 20/11; mũi 2 đã được Trạm Tân Nhựt bổ sung.",
        )
        .await
        .expect("answered");
    assert_eq!(rejected.summary.state, ComplaintState::Rejected);
    let (_, page) = citizen.lookup(&second, "0912345678").await;
    assert!(page.contains("data-status=\"rejected\""), "{page}");

    // Who opened, linked, answered and forwarded is in the station's audit chain.
    let entries = station::audit::entries_after(nhut.database_for_tests(), 0, 10_000)
        .await
        .expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.entry.action.as_str()).collect();
    for action in [
        "complaint_view",
        "complaint_link",
        "complaint_answer",
        "complaint_forward",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    lab.server.stop().await;

    // Kept encrypted like people: nothing of what she wrote is readable in the laptop's files.
    let dir = nhut.dir.clone();
    nhut.station.close().await;
    for (name, bytes) in std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap_or_default()))
    {
        for secret in ["Có ảnh phiếu tiêm", "0912345678", code.as_str()] {
            assert!(
                memchr::memmem::find(&bytes, secret.as_bytes()).is_none(),
                "{} holds {secret:?}",
                name.display()
            );
        }
    }
}
both_backends!(a_station_answers_its_complaints_offline_and_the_answers_reach_the_citizen_at_sync);

async fn an_answer_goes_up_under_its_author_once_and_a_lost_reply_is_recognised(backend: Backend) {
    use station::{ComplaintFilter, ComplaintState};
    use sync_protocol::auth::Role;
    let lab = Lab::start(backend).await;
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    lab.account("nv.hoa", "TYT-TANNHUT", Role::Vaccinator).await;
    let citizen = Citizen::new(&lab.server.url);
    let mut codes = Vec::new();
    for _ in 0..2 {
        let (status, page) = citizen.post(&honest_fields(), &[], None).await;
        assert_eq!(status, 201, "{page}");
        codes.push(code_of(&page));
    }
    assert_eq!(nhut.sync().await.expect("synced").complaints_pulled, 2);

    // Lan answers the first with no network, then leaves the laptop to Hoa, who syncs: Lan's
    // answer waits for her (the server records who answered), Hoa's own goes up.
    let lans = "Trạm không tiêm cho chị ngày 20/11; mời chị mang phiếu tiêm đến trạm để đối chiếu.";
    nhut.answer_complaint(None, &codes[0], ComplaintStatus::Rejected, lans)
        .await
        .expect("kept");
    nhut.sign_out(None).await.expect("signed out");
    lab.sign_in(&nhut, &nhut.client, "nv.hoa").await;
    let waiting = nhut.complaint(&codes[0]).await.expect("opened");
    assert_eq!(waiting.summary.state, ComplaintState::WaitingToSend);
    assert!(
        waiting.summary.state_label.contains("nv.lan"),
        "{waiting:?}"
    );
    let report = nhut.sync().await.expect("synced");
    assert_eq!(
        report.complaint_replies_sent, 0,
        "Lan's answer is not Hoa's"
    );
    let (_, page) = citizen.lookup(&codes[0], "0912345678").await;
    assert!(page.contains("data-status=\"open\""), "{page}");
    nhut.sign_out(None).await.expect("signed out");
    lab.sign_in(&nhut, &nhut.client, "nv.lan").await;
    assert_eq!(nhut.sync().await.expect("synced").complaint_replies_sent, 1);
    let sent = nhut.complaint(&codes[0]).await.expect("opened");
    assert_eq!(sent.summary.state, ComplaintState::Rejected);
    assert!(
        sent.record
            .answered_by
            .as_deref()
            .is_some_and(|b| b.starts_with("nv.lan ")),
        "{:?}",
        sent.record.answered_by
    );

    // The second answer reached the server but its reply was lost on the way (posted here as
    // the station would have): sent again, the server says "already answered"; the pull in the
    // same sync shows it was this very answer, so nothing is left refused.
    let text = "Hồ sơ của chị đã có đủ 2 mũi; chị tra cứu lại sau ngày mai.";
    let id = nhut.complaint(&codes[1]).await.expect("opened").record.id;
    nhut.answer_complaint(None, &codes[1], ComplaintStatus::Rejected, text)
        .await
        .expect("kept");
    let _: ComplaintRecord = nhut
        .client
        .json(
            &format!("complaints/{id}/answer"),
            &ComplaintAnswer {
                status: ComplaintStatus::Rejected,
                answer: text.into(),
                person_id: None,
            },
        )
        .await
        .expect("the first post, its answer lost");
    let report = nhut.sync().await.expect("synced");
    assert_eq!(report.complaint_replies_refused, 1);
    let view = nhut.complaint(&codes[1]).await.expect("opened");
    assert_eq!(
        (view.summary.state, view.reply_error.as_deref()),
        (ComplaintState::Rejected, None),
        "{view:?}"
    );
    assert!(
        nhut.complaints(ComplaintFilter::Open)
            .await
            .expect("inbox")
            .is_empty()
    );
    lab.server.stop().await;
}
both_backends!(an_answer_goes_up_under_its_author_once_and_a_lost_reply_is_recognised);

async fn complaints_filed_by_two_processes_at_once_all_reach_the_station(backend: Backend) {
    use sync_protocol::complaints::{ComplaintForm, check_form};
    let lab = Lab::start(backend).await;
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    // The server's own store and a second one, as `sotiem-server complaints file` run beside
    // the server holds: their locks know nothing of each other.
    let other = sotiem_server::complaints::ComplaintStore::new(lab.server.db.clone());
    let form = ComplaintForm {
        full_name: "Phạm Minh Khôi".into(),
        birth_date: "2016".into(),
        phone: "0977 123 456".into(),
        facility: "TYT-TANNHUT".into(),
        kind: "wrong_personal_details".into(),
        description: "Ngày sinh của cháu ghi sai, đúng là 14/02/2016.".into(),
        ..ComplaintForm::default()
    };
    let now = lab.server.clock.now();
    let checked = check_form(
        &form,
        now.to_offset(sync_protocol::clock::VIETNAM).date(),
        |c| c == "TYT-TANNHUT",
        &sync_protocol::vaccines::Catalogue::built_in(),
    )
    .expect("an honest form");
    let mut filing = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            lab.server.state.complaints.clone()
        } else {
            other.clone()
        };
        let checked = checked.clone();
        filing.push(tokio::spawn(async move {
            store.file(&checked, &[], now, None).await
        }));
    }
    for f in filing {
        f.await.expect("joined").expect("filed");
    }
    assert_eq!(nhut.sync().await.expect("synced").complaints_pulled, 20);
    assert_eq!(
        nhut.complaints(station::ComplaintFilter::Open)
            .await
            .expect("inbox")
            .len(),
        20
    );
    lab.server.stop().await;
}
both_backends!(complaints_filed_by_two_processes_at_once_all_reach_the_station);

/// Issue 26 (5): the public form cannot be made to exhaust the server's memory. Photos are
/// decoded only once the form is right; a picture past 40 megapixels is refused from its header;
/// at most a few are decoded at once server-wide, the others told to come back (503 and
/// Retry-After) — while an honest complaint with its photo is still filed.
async fn the_public_form_decodes_few_pictures_and_only_for_a_valid_form(backend: Backend) {
    let lab = Lab::start(backend).await;
    let citizen = Citizen::new(&lab.server.url);
    let with = |field: &'static str, value: String| {
        let mut f = honest_fields();
        if let Some(slot) = f.iter_mut().find(|(n, _)| *n == field) {
            slot.1 = value;
        }
        f
    };
    let bomb = pixel_bomb(8_000, 6_000);
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    // An invalid form: its picture is never looked at.
    let (status, page) = citizen
        .post(
            &with("facility", "TYT-KHONGTONTAI".into()),
            &[("the.png", bomb.clone())],
            None,
        )
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("data-problem=\"facility\""), "{page}");
    assert!(
        !page.contains("điểm ảnh"),
        "decoded for an invalid form: {page}"
    );
    // A valid form: the picture's header says 48 megapixels, refused before it is decoded.
    let (status, page) = citizen
        .post(&honest_fields(), &[("the.png", bomb)], None)
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("điểm ảnh"), "{page}");
    assert_eq!(lab.server.count("complaints").await, 0);
    assert_eq!(lab.server.count("complaint_photos").await, 0);

    // Every decoding slot busy: told to come back, nothing stored.
    let busy = lab
        .server
        .state
        .photo_slots
        .clone()
        .acquire_many_owned(sotiem_server::http::PHOTO_SLOTS as u32)
        .await
        .expect("every slot");
    let (status, retry, page) = citizen
        .post_retry(&honest_fields(), &[("phieu.jpg", card_photo_with_gps())])
        .await;
    assert_eq!(status, 503, "{page}");
    assert_eq!(retry.as_deref(), Some("10"));
    assert!(page.contains("nhiều ảnh cùng lúc"), "{page}");
    assert_eq!(lab.server.count("complaints").await, 0);
    // A form without photos needs no slot.
    let (status, page) = citizen.post(&honest_fields(), &[], None).await;
    assert_eq!(status, 201, "{page}");
    drop(busy);
    let (status, page) = citizen
        .post(
            &honest_fields(),
            &[("phieu.jpg", card_photo_with_gps())],
            None,
        )
        .await;
    assert_eq!(status, 201, "{page}");
    assert_eq!(lab.server.count("complaint_photos").await, 1);
    lab.server.stop().await;
}
both_backends!(the_public_form_decodes_few_pictures_and_only_for_a_valid_form);

/// Issue 26 (5): an IPv6 client's whole /64 is one address for the public form's limits (a
/// home or phone network gives each client 2^64 addresses). Behind a trusted proxy, lookups
/// from 40 addresses of one /64 are limited after the burst; another /64 is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_client_is_limited_by_its_64() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start_configured(Backend::Sqlite, |state| {
        state.trusted_proxies = sotiem_server::http::throttle::TrustedProxies::new(vec![
            std::net::IpAddr::from([127, 0, 0, 1]),
        ]);
    })
    .await;
    let url = server.url.clone();
    let http = reqwest::Client::new();
    let lookup = |from: String| {
        http.post(format!("{url}/phan-anh/tra-cuu"))
            .header("x-forwarded-for", from)
            .form(&[("code", "PA-2026-ABCDEFGH"), ("phone", "0912345678")])
            .send()
    };
    let mut limited = 0;
    for i in 1..=40 {
        let status = lookup(format!("2001:db8:0:1::{i:x}"))
            .await
            .expect("answer")
            .status()
            .as_u16();
        if status == 429 {
            limited += 1;
        }
    }
    assert!(limited >= 15, "only {limited} of 40 limited");
    let other = lookup("2001:db8:0:2::1".into()).await.expect("answer");
    assert_ne!(
        other.status().as_u16(),
        429,
        "another /64 has its own limit"
    );
    server.stop().await;
}
