//! Citizens' complaints (issue 16) through the real HTTP API: a citizen files one on the public
//! page (proof of work, a photo carrying GPS metadata), the facility's station pulls it, fetches
//! the photo (re-encoded, metadata gone), answers it; the citizen reads the answer with code and
//! phone. Every bad input is refused with its message and stores nothing; a flood from one
//! address is throttled while the server keeps answering the others.

use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, both_backends};
use sotiem_server::complaints::pow;
use std::io::Cursor;
use sync_protocol::complaints::{
    ComplaintAnswer, ComplaintForward, ComplaintPage, ComplaintRecord, ComplaintStatus,
};

/// The text between `start` and the next `end` in `page`.
fn between<'a>(page: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = page.find(start)? + start.len();
    let len = page[from..].find(end)?;
    Some(&page[from..from + len])
}

/// A JPEG of a paper card with an EXIF segment naming where it was taken.
fn card_photo_with_gps() -> Vec<u8> {
    let picture = image::RgbImage::from_fn(640, 400, |x, y| {
        image::Rgb([200, (x % 200) as u8 + 40, (y % 200) as u8 + 40])
    });
    let mut jpeg = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .expect("jpeg");
    let payload = b"Exif\0\0GPSLatitude=10.6512;GPSLongitude=106.5821;Owner=Nguyen Thi Hong Nhung";
    let len = u16::try_from(payload.len() + 2).expect("short");
    let mut with_exif = vec![0xFF, 0xD8, 0xFF, 0xE1];
    with_exif.extend_from_slice(&len.to_be_bytes());
    with_exif.extend_from_slice(payload);
    with_exif.extend_from_slice(&jpeg[2..]);
    with_exif
}

/// A citizen's browser, without one: fetches the form, solves its challenge, posts the parts.
struct Citizen {
    http: reqwest::Client,
    base: String,
}

/// One honest filled-in form.
fn honest_fields() -> Vec<(&'static str, String)> {
    vec![
        ("full_name", "Nguyễn Thị Hồng Nhung".into()),
        ("birth_date", "12/03/1990".into()),
        ("phone", "0912 345 678".into()),
        ("id_number", "079190012345".into()),
        ("facility", "TYT-TANNHUT".into()),
        ("kind", "missing_dose".into()),
        ("vaccine", "Comirnaty".into()),
        ("vaccinated_on", "20/11/2026".into()),
        ("place", "Trạm Y tế xã Tân Nhựt".into()),
        (
            "description",
            "Tôi đã tiêm mũi 2 ngày 20/11 nhưng hồ sơ chưa có. Có ảnh phiếu tiêm.".into(),
        ),
    ]
}

impl Citizen {
    fn new(base: &str) -> Citizen {
        // reqwest is built here without a default TLS provider (plain HTTP on loopback anyway).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Citizen {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    /// A fresh challenge from the form and its difficulty.
    async fn challenge(&self) -> (String, u32) {
        let page = self
            .http
            .get(format!("{}/phan-anh", self.base))
            .send()
            .await
            .expect("form")
            .text()
            .await
            .expect("page");
        let challenge = between(&page, "name=\"pow_challenge\" value=\"", "\"")
            .expect("a challenge in the form")
            .to_string();
        let bits = between(&page, "data-difficulty=\"", "\"")
            .and_then(|b| b.parse().ok())
            .expect("a difficulty");
        (challenge, bits)
    }

    /// Posts `fields` and `photos` with a solved challenge (or `solution` when given).
    async fn post(
        &self,
        fields: &[(&'static str, String)],
        photos: &[(&str, Vec<u8>)],
        solution: Option<&str>,
    ) -> (u16, String) {
        let (challenge, bits) = self.challenge().await;
        let solved = match solution {
            Some(s) => s.to_string(),
            None => pow::solve(&challenge, bits),
        };
        self.post_with(fields, photos, &challenge, &solved).await
    }

    async fn post_with(
        &self,
        fields: &[(&'static str, String)],
        photos: &[(&str, Vec<u8>)],
        challenge: &str,
        solution: &str,
    ) -> (u16, String) {
        let mut form = reqwest::multipart::Form::new()
            .text("pow_challenge", challenge.to_string())
            .text("pow_solution", solution.to_string());
        for (name, value) in fields {
            form = form.text(*name, value.clone());
        }
        for (file, bytes) in photos {
            form = form.part(
                "photos",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(file.to_string()),
            );
        }
        // A body over the limit may be cut off before its answer is read: status 0.
        match self
            .http
            .post(format!("{}/phan-anh", self.base))
            .multipart(form)
            .send()
            .await
        {
            Ok(answer) => {
                let status = answer.status().as_u16();
                (status, answer.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }

    async fn lookup(&self, code: &str, phone: &str) -> (u16, String) {
        let answer = self
            .http
            .post(format!("{}/phan-anh/tra-cuu", self.base))
            .form(&[("code", code), ("phone", phone)])
            .send()
            .await
            .expect("answered");
        let status = answer.status().as_u16();
        (status, answer.text().await.unwrap_or_default())
    }
}

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

    // Answered at the station: the citizen reads it.
    let answered: ComplaintRecord = nhut
        .client
        .json(
            &format!("complaints/{}/answer", complaint.id),
            &ComplaintAnswer {
                status: ComplaintStatus::Resolved,
                answer: "Đã bổ sung mũi 2 (Comirnaty, 20/11/2026) vào hồ sơ.".into(),
                person_id: Some(uuid::Uuid::now_v7().to_string()),
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
