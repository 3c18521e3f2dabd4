//! The server's web pages in Debian's Chromium driven through ChromeDriver, screenshots in
//! `target/console-screenshots/`: a district officer's first day on the console (first sign-in
//! with authenticator enrolment from the page's key and a new password, each view, the daily
//! report downloaded as .xlsx, whose numbers equal those counted here from the people the station
//! recorded); a citizen's complaint with a photo on the public page, answered by the station and
//! read back on the tracking page.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sotiem_scenarios::complaints::comirnaty;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Authenticator, INITIAL_PASSWORD, Lab, vaccinated_at};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use sync_protocol::auth::Role;
use sync_protocol::clock::VIETNAM;

/// The new password the officer chooses at first sign-in.
const NEW_PASSWORD: &str = "Theo@doi2026!";

fn require(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{tool} is missing: run ./scripts/setup (the browser test never skips)")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// ChromeDriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Browser {
    client: Client,
    shots: PathBuf,
    base: String,
}

impl Browser {
    async fn open(base: &str) -> (Driver, Browser) {
        let chromedriver = require("chromedriver");
        let chromium = require("chromium");
        let port = free_port();
        let driver = Driver(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000", "--lang=vi"]
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with Chromium");
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        (
            driver,
            Browser {
                client,
                shots,
                base: base.to_string(),
            },
        )
    }

    async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    /// The element, once the page that holds it has loaded (a click that submits a form
    /// returns before the next page is there); what the page says instead when it never comes.
    async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                return el;
            }
            if Instant::now() > deadline {
                let body = match self.client.find(Locator::Css("body")).await {
                    Ok(b) => b.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                self.shot("failure").await;
                panic!("{css} never appeared; the page says: {body:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        self.wait(css).await.text().await.expect("text")
    }

    async fn fill(&self, css: &str, value: &str) {
        let el = self.wait(css).await;
        el.clear().await.expect("cleared");
        el.send_keys(value).await.expect("typed");
    }

    async fn click(&self, css: &str) {
        self.wait(css).await.click().await.expect("clicked");
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("saved");
    }

    /// The number in a cell of the row of `facility` in `table`.
    async fn cell(&self, table: &str, facility: &str, column: &str) -> i64 {
        let css = format!(
            "[data-testid={table}] tr[data-facility=\"{facility}\"] [data-testid={column}]"
        );
        let text = self.text(&css).await;
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{css}: {text:?} is not a number"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_officer_signs_in_reads_each_view_and_downloads_the_daily_report() {
    let lab = Lab::start(Backend::Sqlite).await;
    lab.server
        .facility("TTYT-BINHCHANH", "district_centre", None, None)
        .await;
    // The district centre signs for Tân Nhựt and Tân Túc: its area (a signer scope).
    lab.account("bs.quan", "TTYT-BINHCHANH", Role::Signer).await;
    sotiem_server::signing::add_signer_scope(
        &lab.server.db,
        "bs.quan",
        &["TYT-TANNHUT".to_string(), "TYT-TANTUC".to_string()],
    )
    .await
    .expect("area designated");
    lab.account("cb.huyen", "TTYT-BINHCHANH", Role::DistrictOfficer)
        .await;

    // This morning Tân Nhựt vaccinates six people, four of them twice; Tân Túc's station has
    // never synced.
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    let _silent_token = lab.server.device("TYT-TANTUC").await;
    let now = lab.server.clock.now();
    let at = now - time::Duration::hours(1);
    let mut g = sotiem_fixtures::Generator::new(2026);
    let mut people = vaccinated_at(&mut g, 4, 2, at);
    people.extend(vaccinated_at(&mut g, 2, 1, at));
    nhut.import_people(&people).await.expect("registered");
    nhut.sync().await.expect("synced");
    let day = at.to_offset(VIETNAM).date();
    let doses: i64 = people.iter().map(|p| p.doses.len() as i64).sum();
    let first_doses: i64 = people
        .iter()
        .flat_map(|p| p.doses.values())
        .filter(|d| d.dose_number == 1)
        .count() as i64;

    let (_driver, b) = Browser::open(&lab.server.url).await;
    // First sign-in: the password the administrator gave, no code yet.
    b.go("/console/stations").await;
    b.fill("#username", "cb.huyen").await;
    b.fill("#password", INITIAL_PASSWORD).await;
    b.shot("01-sign-in").await;
    b.click("[data-testid=console-sign-in]").await;
    // The page shows the authenticator's key (and its QR): set it up, confirm with a code.
    let secret = b.text("[data-testid=enroll-secret]").await;
    b.wait("[data-testid=enroll-qr]").await;
    b.shot("02-enroll").await;
    // The QR code on the page is what a phone reads: the authenticator's URI with this key.
    // QR codes only (see `support::passports::qr_in_pdf`: a QR's modules can read as a
    // linear barcode too).
    let scanned = Command::new(require("zbarimg"))
        .args(["-q", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(b.shots.join("02-enroll.png"))
        .output()
        .expect("zbarimg runs");
    let uri = String::from_utf8_lossy(&scanned.stdout).trim().to_string();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    let mut otp = Authenticator::from_base32(&secret).with_clock(lab.server.clock.clone());
    b.fill("#otp", &otp.code().await).await;
    b.click("[data-testid=console-enroll]").await;
    // Then a new password; a mismatch is refused with a message first.
    b.fill("#new_password", NEW_PASSWORD).await;
    b.fill("#confirm", "Khac@nhau2026").await;
    b.click("[data-testid=console-change-password]").await;
    assert!(
        b.text("[data-testid=console-error]")
            .await
            .contains("không khớp")
    );
    b.fill("#new_password", NEW_PASSWORD).await;
    b.fill("#confirm", NEW_PASSWORD).await;
    b.click("[data-testid=console-change-password]").await;

    // Stations: Tân Túc's device has never synced and is flagged; Tân Nhựt's doses today.
    assert_eq!(b.text("[data-testid=console-user]").await, "cb.huyen");
    let summary = b.text("[data-testid=silent-summary]").await;
    assert!(summary.contains("im lặng"), "{summary}");
    let tuc_row = b
        .wait("[data-testid=stations-table] tr[data-facility=TYT-TANTUC]")
        .await;
    assert_eq!(
        tuc_row.attr("class").await.expect("class").as_deref(),
        Some("silent")
    );
    if day == now.to_offset(VIETNAM).date() {
        assert_eq!(
            b.cell("stations-table", "TYT-TANNHUT", "doses-today").await,
            doses
        );
    }
    assert!(
        b.text("[data-testid=stations-table]")
            .await
            .contains("TTYT-BINHCHANH")
    );
    b.shot("03-stations").await;

    b.click("[data-testid=nav-verification]").await;
    let verification = b.text("[data-testid=verification-table]").await;
    assert!(verification.contains("Xã Tân Nhựt"), "{verification}");
    b.shot("04-verification").await;

    b.click("[data-testid=nav-signing]").await;
    assert_eq!(b.cell("signing-table", "TYT-TANNHUT", "doses").await, doses);
    assert_eq!(
        b.cell("signing-table", "TYT-TANNHUT", "unsigned").await,
        doses
    );
    b.shot("05-signing").await;

    b.click("[data-testid=nav-report]").await;
    b.go(&format!("/console/report?day={day}")).await;
    assert_eq!(b.cell("report-table", "TYT-TANNHUT", "doses").await, doses);
    assert_eq!(
        b.cell("report-table", "TYT-TANNHUT", "first-doses").await,
        first_doses
    );
    assert_eq!(
        b.cell("report-table", "TYT-TANNHUT", "people").await,
        people.len() as i64
    );
    assert_eq!(b.cell("report-table", "total", "doses").await, doses);
    b.wait("[data-testid=report-chart] rect").await;
    b.shot("06-report").await;
    // A day that is no day: a message, the page still there.
    b.go("/console/report?day=31-02-2026").await;
    assert!(
        b.text("[data-testid=console-error]")
            .await
            .contains("không hợp lệ")
    );

    // The download, with the browser's own cookie (HttpOnly: read through WebDriver).
    b.go(&format!("/console/report?day={day}")).await;
    let href = b
        .wait("[data-testid=report-download]")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a link");
    let cookie = b
        .client
        .get_named_cookie("sotiem_console")
        .await
        .expect("the console's cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Strict));
    let workbook = reqwest::Client::new()
        .get(format!("{}{href}", lab.server.url))
        .header("cookie", format!("sotiem_console={}", cookie.value()))
        .send()
        .await
        .expect("download");
    assert_eq!(workbook.status().as_u16(), 200);
    let bytes = workbook.bytes().await.expect("bytes");
    let rows = sotiem_sheets::read_table_from(Path::new("report.xlsx"), &bytes).expect("xlsx");
    let line = rows
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("TYT-TANNHUT"))
        .expect("Tân Nhựt's line");
    assert_eq!(line[3], doses.to_string(), "{line:?}");
    assert_eq!(line[4], first_doses.to_string(), "{line:?}");
    assert_eq!(line[5], people.len().to_string(), "{line:?}");

    // Signing out ends the session: the views send the browser back to the sign-in page.
    b.click("[data-testid=console-logout]").await;
    b.go("/console/report").await;
    b.wait("[data-testid=console-sign-in]").await;
    b.shot("07-signed-out").await;
    b.client.close().await.expect("closed");
    lab.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_files_a_complaint_with_a_photo_and_reads_the_answer_in_chromium() {
    // The form asks the server's default proof of work, solved by the page's own workers.
    let lab = Lab::start_with_pow(
        Backend::Sqlite,
        sotiem_server::complaints::pow::DEFAULT_DIFFICULTY,
    )
    .await;
    let nhut = lab.device("nhut", "TYT-TANNHUT", "nv.lan").await;
    // Her first dose is on the station's record; her second is not.
    let her = nhut
        .register_person(station::PersonInput {
            full_name: "Lê Thị Thu Trang".into(),
            gender: "nu".into(),
            birth_date: "05/07/1988".into(),
            phone: Some("0903112233".into()),
            address_detail: Some("Ấp 1".into()),
            ..station::PersonInput::default()
        })
        .await
        .expect("registered");
    nhut.record_dose(her.id, comirnaty(1, "2026-10-28T09:00:00+07:00"))
        .await
        .expect("first dose");
    nhut.sync().await.expect("synced");
    let photo_dir = tempfile::tempdir().expect("dir");
    let photo = photo_dir.path().join("phieu-tiem.jpg");
    image::RgbImage::from_fn(800, 500, |x, y| {
        image::Rgb([230, (x % 180) as u8 + 50, (y % 180) as u8 + 50])
    })
    .save(&photo)
    .expect("photo written");

    let (_driver, b) = Browser::open(&lab.server.url).await;
    b.go("/phan-anh").await;
    b.fill("#full_name", "Lê Thị Thu Trang").await;
    b.fill("#birth_date", "05/07/1988").await;
    b.fill("#phone", "0903 112 233").await;
    b.click("#facility option[value=TYT-TANNHUT]").await;
    b.click("#kind option[value=missing_dose]").await;
    b.fill("#vaccine", "Comirnaty").await;
    b.fill("#vaccinated_on", "25/11/2026").await;
    b.fill(
        "#description",
        "Mũi 2 ngày 25/11 chưa có trong hồ sơ, có phiếu tiêm kèm theo.",
    )
    .await;
    b.wait("#photos")
        .await
        .send_keys(&photo.display().to_string())
        .await
        .expect("photo chosen");
    // The page's proof of work enables the button when it is done.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !b
        .text("[data-testid=pow-status]")
        .await
        .contains("Sẵn sàng")
    {
        assert!(
            Instant::now() < deadline,
            "the proof of work never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let solved_in = b
        .wait("#complaint-form")
        .await
        .attr("data-pow-millis")
        .await
        .expect("attribute")
        .unwrap_or_default();
    eprintln!(
        "proof of work: {} bits solved by the page in {solved_in} ms",
        sotiem_server::complaints::pow::DEFAULT_DIFFICULTY
    );
    b.shot("11-complaint-form").await;
    b.click("[data-testid=complaint-submit]").await;
    let code = b.text("[data-testid=tracking-code]").await;
    assert!(code.starts_with("PA-"), "{code}");
    b.shot("12-complaint-filed").await;

    // The station syncs it, records the missing dose on her record, links and answers; the
    // answer goes up with the next sync.
    assert_eq!(nhut.sync().await.expect("synced").complaints_pulled, 1);
    let opened = nhut.complaint(&code).await.expect("opened");
    assert_eq!(opened.record.photos, 1, "the photo arrived");
    let found = nhut.complaint_matches(&code).await.expect("matches");
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), vec![her.id]);
    nhut.record_dose(her.id, comirnaty(2, "2026-11-25T09:00:00+07:00"))
        .await
        .expect("the missing dose");
    nhut.link_complaint(&code, Some(her.id))
        .await
        .expect("linked");
    nhut.answer_complaint(
        None,
        &code,
        sync_protocol::complaints::ComplaintStatus::Resolved,
        "Đã bổ sung mũi 2 (Comirnaty, 25/11/2026).",
    )
    .await
    .expect("answered");
    assert_eq!(nhut.sync().await.expect("synced").complaint_replies_sent, 1);

    b.go("/phan-anh/tra-cuu").await;
    b.fill("#code", &code).await;
    b.fill("#phone", "0903112233").await;
    b.click("[data-testid=lookup-submit]").await;
    assert_eq!(b.text("[data-testid=lookup-status]").await, "Đã giải quyết");
    assert!(
        b.text("[data-testid=lookup-answer]")
            .await
            .contains("Đã bổ sung mũi 2")
    );
    b.shot("13-complaint-answered").await;
    b.client.close().await.expect("closed");
    lab.server.stop().await;
}
