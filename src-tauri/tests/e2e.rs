//! The real desktop app in a real WebKit window under Xvfb, driven through WebDriver
//! (tauri-driver in front of WebKitWebDriver), against a real central server on loopback.
//!
//! It lives here rather than in the workspace's `tests/` because Cargo gives the path of the
//! app's binary (`CARGO_BIN_EXE_sotiem-desktop`) only to this package's own tests.
//!
//! Screenshots of each main screen are saved under `target/e2e-screenshots/`.

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::softhsm::{MODULE, PIN, SoftToken};
use sotiem_scenarios::{INITIAL_PASSWORD, Lab, PASSWORD, vaccinated_at};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use sync_protocol::auth::Role;

/// Processes started for the test, each in its own process group, killed with everything
/// they started (tauri-driver's WebKitWebDriver, the app) however the test ends.
struct Spawned(Vec<Child>);

impl Spawned {
    fn start(&mut self, mut command: Command, what: &str) {
        use std::os::unix::process::CommandExt;
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
        self.0.push(child);
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) on a process group this test created; no memory is involved.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            let _ = child.wait();
        }
    }
}

fn require(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain(std::env::home_dir().map(|h| h.join(".cargo/bin")))
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{tool} is missing: run ./scripts/setup (the end-to-end test never skips)")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A virtual X display on the first free number.
fn start_xvfb(spawned: &mut Spawned) -> String {
    let xvfb = require("Xvfb");
    for n in 90..140 {
        let lock = format!("/tmp/.X{n}-lock");
        // A lock left by an Xvfb that was killed (its PID gone) frees the number again.
        if let Ok(text) = std::fs::read_to_string(&lock)
            && let Ok(pid) = text.trim().parse::<u32>()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(&lock);
            let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{n}"));
        }
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() || Path::new(&lock).exists() {
            continue;
        }
        let mut xvfb_command = Command::new(&xvfb);
        xvfb_command
            .args([
                &format!(":{n}"),
                "-screen",
                "0",
                "1366x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        spawned.start(xvfb_command, "Xvfb");
        let socket = format!("/tmp/.X11-unix/X{n}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if Path::new(&socket).exists() {
                return format!(":{n}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("Xvfb :{n} did not start");
    }
    panic!("no free X display number");
}

/// The files under `dir` whose bytes contain `needle` (plain text left on disk).
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path);
            }
        }
    }
    found
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// The WebDriver session and what the test needs around it.
struct Ui {
    client: Client,
    shots: PathBuf,
}

impl Ui {
    async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Types `text` into the field, as a person would, and checks that it arrived: under load,
    /// WebKit's WebDriver on Xvfb now and then drops synthesized keystrokes (digits and shifted
    /// characters), which would fail a test for a reason outside the app. A field that still
    /// differs after three tries fails the test.
    async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        for _ in 0..3 {
            field.clear().await.expect("clear");
            field.send_keys(text).await.expect("type");
            let typed = field
                .prop("value")
                .await
                .expect("value")
                .unwrap_or_default();
            if typed == text {
                return;
            }
            eprintln!("{css}: typed {text:?}, the field holds {typed:?}; typing again");
        }
        panic!("{css}: the field never held {text:?}");
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// Opens the Account screen and waits for its cards to load: they grow when their data
    /// arrives, and a click aimed before that lands where a button was, not where it is.
    async fn open_account(&self) {
        self.click("[data-testid=nav-account]").await;
        self.find("[data-testid=current-version]").await;
        if !self
            .client
            .find_all(Locator::Css("[data-testid=backup-card]"))
            .await
            .expect("query")
            .is_empty()
        {
            self.find("[data-testid=last-backup]").await;
        }
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// Waits until the text of `css` satisfies `ok`.
    async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
            {
                if ok(&text) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        self.shot("failure").await;
        // What the window showed instead (an error box, another screen): the failure's cause.
        let mut screen = String::new();
        if let Ok(body) = self.client.find(Locator::Css("body")).await {
            screen = body.text().await.unwrap_or_default();
        }
        // Its beginning (the screen, its title, an error at the top) and its end (what a long
        // screen shows last).
        let chars: Vec<char> = screen.chars().collect();
        let screen: String = if chars.len() > 1400 {
            let head: String = chars[..800].iter().collect();
            let tail: String = chars[chars.len() - 600..].iter().collect();
            format!("{head} … {tail}")
        } else {
            screen
        };
        // An error box anywhere on the screen is the likeliest cause.
        let mut errors = Vec::new();
        if let Ok(boxes) = self
            .client
            .find_all(Locator::Css("[data-testid=error-box]"))
            .await
        {
            for b in boxes {
                if let Ok(text) = b.text().await
                    && !text.trim().is_empty()
                {
                    errors.push(text);
                }
            }
        }
        panic!(
            "{css}: {what}; last text {last:?}; errors shown: {errors:?}; the window showed: {screen:?}"
        );
    }

    /// Waits until nothing matches `css` any more.
    async fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match self.client.find_all(Locator::Css(css)).await {
                Ok(found) if found.is_empty() => return,
                _ => tokio::time::sleep(Duration::from_millis(150)).await,
            }
        }
        panic!("{css} never went away");
    }

    async fn shot(&self, name: &str) {
        // A frame right after a click can still show the old screen: let it paint first.
        tokio::time::sleep(Duration::from_millis(400)).await;
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(self.shots.join(format!("{name}.png")), png);
        }
    }
}

/// The six-digit code an authenticator app would show for a base32 secret.
fn code_for(secret_base32: &str, offset_steps: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32.trim()).expect("base32 secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    sync_protocol::auth::otp_code(secret.as_bytes(), now + offset_steps * 30).expect("code")
}

/// The two windows share the machine's two cores: one test drives the app at a time.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Xvfb, tauri-driver and a WebDriver session with the app, started with `env`.
async fn start_app(name: &str, env: &[(&str, String)]) -> (Spawned, Ui) {
    let tauri_driver = require("tauri-driver");
    require("WebKitWebDriver");
    let mut spawned = Spawned(Vec::new());
    let display = start_xvfb(&mut spawned);
    let (port, native_port) = (free_port(), free_port());
    let shots = screenshots_dir();
    // The driver's and the app's output, for reading after a failure.
    let log = std::fs::File::create(shots.join(format!("{name}.log"))).expect("log file");
    let mut driver = Command::new(&tauri_driver);
    driver
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .env("DISPLAY", &display)
        .env("NO_AT_BRIDGE", "1")
        .env("SOTIEM_AUTO_SYNC_SECS", "0")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    spawned.start(driver, "tauri-driver");
    // Both the driver and the WebKitWebDriver it starts must listen before a session opens.
    let deadline = Instant::now() + Duration::from_secs(20);
    for p in [port, native_port] {
        while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
            assert!(Instant::now() < deadline, "WebDriver never listened on {p}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "tauri:options".into(),
        json!({ "application": env!("CARGO_BIN_EXE_sotiem-desktop"), "args": [] }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session with the app");
    (spawned, Ui { client, shots })
}

/// A server that trusts the test CA of a new SoftHSM2 token (kept while the directory lives),
/// with the head of TYT-TANNHUT, bs.hung, as its signer.
async fn lab_with_a_signer() -> (Lab, tempfile::TempDir, SoftToken) {
    let lab = Lab::start(Backend::Sqlite).await;
    let tokens = tempfile::tempdir().expect("token dir");
    let token = SoftToken::create(tokens.path());
    lab.server
        .trust
        .add(&std::fs::read(&token.ca_pem).expect("ca"))
        .expect("trusted");
    lab.account("bs.hung", "TYT-TANNHUT", Role::Signer).await;
    (lab, tokens, token)
}

/// A station of TYT-TANNHUT set up on the server, `people` imported by a vaccinator and
/// synced, then `user` signed in (their session resumes when the app starts). Returns the data
/// directory, its key, and `user`'s authenticator for fresh codes.
async fn prepared_station(
    lab: &Lab,
    people: &[sync_protocol::Person],
    user: &str,
) -> (
    tempfile::TempDir,
    station::DbKey,
    sotiem_scenarios::Authenticator,
) {
    let data = tempfile::tempdir().expect("data dir");
    let key = station::DbKey::generate();
    let device_token = lab.server.device("TYT-TANNHUT").await;
    let st = station::Station::init_with_key(
        data.path(),
        station::NewStation {
            facility_code: "TYT-TANNHUT".into(),
            facility_name: "Trạm Y tế xã Tân Nhựt".into(),
            kind: station::FacilityKind::CommuneStation,
            province: Some("TP Hồ Chí Minh".into()),
            commune: Some("Xã Tân Nhựt".into()),
        },
        Some(key.clone()),
    )
    .await
    .expect("station");
    let client = st
        .connect(Some(&lab.server.url), Some(&device_token), None)
        .await
        .expect("connected");
    lab.account("nv.mai", "TYT-TANNHUT", Role::Vaccinator).await;
    let nurse = lab.sign_in(&st, &client, "nv.mai").await;
    // Registered by the vaccinator who imports them (the server takes nothing else).
    let people: Vec<sync_protocol::Person> = people
        .iter()
        .cloned()
        .map(|mut p| {
            p.created_by = "nv.mai".into();
            for d in p.doses.values_mut() {
                d.vaccinator = "nv.mai".into();
            }
            p
        })
        .collect();
    let people = people.as_slice();
    st.import_people(people).await.expect("imported");
    st.sync(&client).await.expect("synced");
    // The police's registry knows them: matched on the server, then on the station.
    lab.registry_knows(people).await;
    st.sync(&client).await.expect("verification results pulled");
    let otp = if user == "nv.mai" {
        nurse
    } else {
        st.sign_out(None).await.expect("signed out");
        lab.sign_in(&st, &client, user).await
    };
    st.close().await;
    (data, key, otp)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nurse_sets_up_signs_in_registers_from_a_qr_code_records_finds_and_syncs() {
    let _one_window_at_a_time = one_at_a_time().await;
    // A central server on loopback with the facility, a device token and a new nurse account.
    let lab = Lab::start(Backend::Sqlite).await;
    lab.account("nv.mai", "TYT-TANNHUT", Role::Vaccinator).await;
    let token = lab.server.device("TYT-TANNHUT").await;
    // Tân Túc manages a woman who lives in Tân Nhựt: the station will hold her record too.
    let tuc = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    let mut g = Generator::new(2026);
    let resident = g.person("TYT-TANTUC", "nv.tuc", 0);
    tuc.import_people(std::slice::from_ref(&resident))
        .await
        .expect("registered at Tân Túc");
    tuc.sync().await.expect("on the server");
    let data = tempfile::tempdir().expect("data dir");
    let (_spawned, ui) = start_app(
        "app",
        &[
            ("SOTIEM_DATA", data.path().display().to_string()),
            ("SOTIEM_SERVER", lab.server.url.clone()),
            ("SOTIEM_DB_KEY", "5e".repeat(32)),
        ],
    )
    .await;

    // First run: the server address is offered; the device token is typed.
    ui.find("[data-testid=setup-form]").await;
    assert_eq!(ui.value("#server_url").await, lab.server.url);
    ui.shot("01-setup").await;
    ui.type_into("#device_token", "stk_sai_ma").await;
    ui.click("[data-testid=setup-form] button[type=submit]")
        .await;
    let refused = ui
        .wait_text("[data-testid=error-box]", "a wrong token is refused", |t| {
            t.contains("mã thiết bị")
        })
        .await;
    assert!(refused.contains("không đúng"), "{refused}");
    assert_eq!(
        ui.value("#server_url").await,
        lab.server.url,
        "nothing typed is lost"
    );
    ui.type_into("#device_token", &token).await;
    ui.click("[data-testid=setup-form] button[type=submit]")
        .await;

    // A first login: password, then enrol the authenticator from the QR code, then a new password.
    ui.find("[data-testid=sign-in-form]").await;
    ui.wait_text(
        "[data-testid=facility-name]",
        "the facility comes from the server",
        |t| t.contains("Tân Nhựt"),
    )
    .await;
    ui.type_into("#username", "nv.mai").await;
    ui.type_into("#password", INITIAL_PASSWORD).await;
    ui.click("[data-testid=sign-in-submit]").await;
    let secret = ui
        .wait_text("[data-testid=enroll-secret]", "an enrolment secret", |t| {
            t.len() >= 16
        })
        .await;
    ui.find("[data-testid=enroll-qr]").await;
    ui.shot("02-enrol-authenticator").await;
    ui.type_into("#otp", &code_for(&secret, 0)).await;
    ui.click("[data-testid=sign-in-submit]").await;
    ui.find("#new_password").await;
    ui.type_into("#new_password", "yeu").await;
    ui.type_into("#confirm_password", "yeu").await;
    ui.click("[data-testid=sign-in-submit]").await;
    let weak = ui
        .wait_text(
            "[data-testid=error-box]",
            "a weak password is refused",
            |t| !t.is_empty(),
        )
        .await;
    assert!(weak.contains("8"), "names the rule: {weak}");
    ui.type_into("#new_password", PASSWORD).await;
    ui.type_into("#confirm_password", PASSWORD).await;
    ui.click("[data-testid=sign-in-submit]").await;
    ui.wait_text("[data-testid=signed-in-user]", "signed in", |t| {
        t.contains("nv.mai")
    })
    .await;
    let pending_at_start: u64 = ui
        .text("[data-testid=pending-count]")
        .await
        .replace('.', "")
        .parse()
        .expect("a count");

    // A CCCD QR code read by a keyboard-wedge scanner into the search field.
    let person = g.person("TYT-TANNHUT", "nv.mai", 0);
    let qr = g.cccd_qr(&person);
    ui.find("#search-name")
        .await
        .send_keys(&qr)
        .await
        .expect("scan");
    ui.find("[data-testid=from-qr]").await;
    assert_eq!(ui.value("#reg-full_name").await, person.full_name);
    let gender = if person.gender == sync_protocol::Gender::Male {
        "nam"
    } else {
        "nu"
    };
    assert_eq!(ui.value("#reg-gender").await, gender);
    assert_eq!(
        ui.value("#search-name").await,
        "",
        "the scan left the search field as it was"
    );
    let phone = g.phone();
    ui.type_into("#reg-phone", &phone).await;
    ui.shot("03-register-from-qr").await;
    ui.click("[data-testid=register-submit]").await;
    ui.wait_text("[data-testid=person-name]", "the new record opens", |t| {
        t == person.full_name
    })
    .await;

    // Record a dose: choose vaccine and lot once, the dose number is proposed.
    ui.find("#dose-vaccine")
        .await
        .select_by_value("EU/1/21/1529")
        .await
        .expect("vaccine");
    ui.type_into("#dose-lot", "AZ2107").await;
    assert_eq!(ui.value("#dose-number").await, "1");
    ui.click("[data-testid=dose-submit]").await;
    ui.find("[data-testid=dose-message]").await;
    let rows = ui
        .client
        .find_all(Locator::Css("[data-testid=dose-row]"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        ui.value("#dose-number").await,
        "2",
        "the next dose is proposed"
    );
    ui.shot("04-person-record").await;
    let pending: u64 = ui
        .wait_text(
            "[data-testid=pending-count]",
            "the new changes wait for sync",
            |t| {
                t.replace('.', "")
                    .parse::<u64>()
                    .is_ok_and(|n| n > pending_at_start)
            },
        )
        .await
        .replace('.', "")
        .parse()
        .expect("count");

    // Find them again by name without diacritics and their phone.
    let folded = sync_protocol::text::fold(&person.full_name);
    assert_ne!(folded, person.full_name);
    ui.type_into("#search-name", &folded).await;
    ui.type_into("#search-other", &phone).await;
    ui.click("[data-testid=search-submit]").await;
    let found = ui
        .wait_text("[data-testid=search-results]", "the person is found", |t| {
            t.contains(&person.full_name)
        })
        .await;
    assert!(found.contains("1 mũi"), "{found}");
    ui.shot("05-search").await;

    // A scanner on a US layout drops the diacritics: the form opens with the warning and the
    // name field to correct, instead of a registration that would mismatch the registry.
    let another = g.person("TYT-TANNHUT", "nv.mai", 0);
    let stripped = g.cccd_qr_without_marks(&another);
    assert_ne!(stripped, g.cccd_qr(&another));
    ui.find("#search-name")
        .await
        .send_keys(&stripped)
        .await
        .expect("scan");
    let warning = ui
        .wait_text(
            "[data-testid=qr-diacritics-lost]",
            "a warning about the lost diacritics",
            |t| t.contains("mất dấu"),
        )
        .await;
    assert!(warning.contains("Unicode"), "{warning}");
    assert_eq!(
        ui.value("#reg-full_name").await,
        sync_protocol::text::strip_marks(&another.full_name)
    );
    ui.shot("05b-qr-without-diacritics").await;
    ui.find("body")
        .await
        .send_keys("\u{E00C}")
        .await
        .expect("Escape closes the form");

    // Sync with the server: the pending count drops to zero and the server holds the dose.
    let changes_before = lab.server.count("changes").await;
    ui.click("[data-testid=sync-now]").await;
    ui.wait_text("[data-testid=pending-count]", "everything synced", |t| {
        t == "0"
    })
    .await;
    ui.find("[data-testid=sync-message]").await;
    assert!(pending > 0);
    assert!(
        lab.server.count("changes").await >= changes_before + pending as i64,
        "the server stored the station's changes"
    );
    ui.shot("06-synced").await;

    // Another facility's resident: renaming her needs a fresh code, which the server checks
    // and grants; a wrong code saves nothing.
    ui.type_into("#search-name", &resident.full_name).await;
    ui.type_into("#search-other", resident.phone.as_deref().expect("a phone"))
        .await;
    ui.click("[data-testid=search-submit]").await;
    ui.wait_text("[data-testid=search-results]", "she is found", |t| {
        t.contains(&resident.full_name)
    })
    .await;
    ui.click("[data-testid=search-results] button").await;
    ui.wait_text("[data-testid=person-name]", "her record opens", |t| {
        t == resident.full_name
    })
    .await;
    ui.click("[data-testid=edit-person]").await;
    let new_name = format!("{} Anh", resident.full_name);
    ui.type_into("#edit-full_name", &new_name).await;
    ui.click("[data-testid=edit-form] button[type=submit]")
        .await;
    ui.find("#edit-otp").await;
    ui.shot("06b-step-up").await;
    ui.type_into("#edit-otp", "000000").await;
    ui.click("[data-testid=edit-form] button[type=submit]")
        .await;
    let wrong = ui
        .wait_text("[data-testid=error-box]", "a wrong code is refused", |t| {
            !t.is_empty()
        })
        .await;
    assert!(wrong.contains("mã xác thực"), "{wrong}");
    ui.type_into("#edit-otp", &code_for(&secret, 1)).await;
    ui.click("[data-testid=edit-form] button[type=submit]")
        .await;
    ui.wait_text("[data-testid=person-name]", "the new name is saved", |t| {
        t == new_name
    })
    .await;
    ui.click("[data-testid=sync-now]").await;
    ui.wait_text("[data-testid=pending-count]", "the edit synced", |t| {
        t == "0"
    })
    .await;
    let on_server = lab.server.count("step_up_grants").await;
    assert_eq!(on_server, 1, "the server granted the edit");

    // The daily report shows today's dose in the chart.
    ui.click("[data-testid=nav-report]").await;
    ui.find("[data-testid=vaccine-chart]").await;
    assert_eq!(ui.text("[data-testid=report-doses]").await, "1");
    ui.shot("07-daily-report").await;

    ui.open_account().await;
    ui.find("[data-testid=account-name]").await;
    ui.shot("08-account").await;

    ui.client.close().await.expect("session closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_of_facility_signs_the_days_doses_with_the_usb_token() {
    let _one_window_at_a_time = one_at_a_time().await;
    let (lab, _tokens, token) = lab_with_a_signer().await;

    // A backlog: 1,004 people matched with the population database, vaccinated over the last
    // hours (ten seconds apart), synced; then the head of the facility signs in on the laptop.
    // More than the 1,000 people of one run: the preview splits it in two.
    let mut g = Generator::new(77);
    let now = sync_protocol::person::now();
    let since = now - time::Duration::hours(4);
    let people = vaccinated_at(&mut g, 1_004, 1, since);
    let (data, key, mut otp) = prepared_station(&lab, &people, "bs.hung").await;

    let (_spawned, ui) = start_app(
        "signing",
        &[
            ("SOTIEM_DATA", data.path().display().to_string()),
            ("SOTIEM_DB_KEY", key.to_hex()),
            ("SOFTHSM2_CONF", token.conf.display().to_string()),
            ("SOTIEM_PKCS11_MODULE", MODULE.to_string()),
        ],
    )
    .await;
    ui.wait_text(
        "[data-testid=signed-in-user]",
        "the signer's session resumes",
        |t| t.contains("bs.hung"),
    )
    .await;
    // The backlog as a list, paged: the first 1,000 rows are browsing; reading on is an export
    // in all but name, so the next page waits for a fresh code.
    ui.click("[data-testid=nav-cleaning]").await;
    ui.find("#list-kind")
        .await
        .select_by_value("unsigned_doses")
        .await
        .expect("list");
    ui.wait_text("[data-testid=list-total]", "1,004 unsigned doses", |t| {
        t == "1.004"
    })
    .await;
    for first in ["201–", "401–", "601–", "801–"] {
        ui.click("[data-testid=list-next]").await;
        ui.wait_text("[data-testid=list-range]", "the next page", |t| {
            t.contains(first)
        })
        .await;
    }
    ui.click("[data-testid=list-next]").await;
    ui.find("[data-testid=browse-form]").await;
    ui.wait_text("[data-testid=list-range]", "the page shown stays", |t| {
        t.contains("801–1.000")
    })
    .await;
    ui.type_into("#browse-otp", &otp.code().await).await;
    ui.click("[data-testid=browse-unlock]").await;
    ui.wait_text(
        "[data-testid=list-range]",
        "the rows past 1,000 with the code",
        |t| t.contains("1.001–1.004"),
    )
    .await;
    ui.shot("08b-list-past-a-thousand").await;
    ui.click("[data-testid=nav-signing]").await;
    ui.click("[data-testid=find-token]").await;
    // The certificate is not registered yet: the signer registers it with the token's PIN and
    // a fresh code.
    ui.click(&format!("[data-testid=certificate-{}]", token.rsa.id))
        .await;
    ui.type_into("#reg-pin", PIN).await;
    ui.type_into("#reg-otp", &otp.code().await).await;
    ui.click("[data-testid=register-submit]").await;
    ui.find("[data-testid=register-done]").await;
    ui.wait_text("[data-testid=token]", "marked registered", |t| {
        t.contains("đã đăng ký")
    })
    .await;
    ui.type_into(
        "#sign-from",
        &sync_protocol::BirthDate::Full(since.date()).display_vn(),
    )
    .await;
    ui.click("[data-testid=signing-preview]").await;
    ui.wait_text(
        "[data-testid=preview-doses]",
        "the backlog's 1,004 doses",
        |t| t == "1.004",
    )
    .await;
    assert_eq!(ui.text("[data-testid=planned-run-count]").await, "2");
    // Two rows unticked: they stay out of the runs.
    let ticks = ui
        .client
        .find_all(Locator::Css("[data-testid=preview-tick]"))
        .await
        .expect("ticks");
    assert_eq!(ticks.len(), 200, "a page of rows");
    ticks[0].click().await.expect("untick");
    ui.wait_text("[data-testid=preview-doses]", "one unticked", |t| {
        t == "1.003"
    })
    .await;
    let ticks = ui
        .client
        .find_all(Locator::Css("[data-testid=preview-tick]"))
        .await
        .expect("ticks");
    ticks[1].click().await.expect("untick");
    ui.wait_text("[data-testid=preview-doses]", "two unticked", |t| {
        t == "1.002"
    })
    .await;
    ui.type_into("#sign-pin", "0000").await;
    ui.click("[data-testid=sign-submit]").await;
    let wrong = ui
        .wait_text("[data-testid=error-box]", "a wrong PIN", |t| {
            t.contains("PIN")
        })
        .await;
    assert!(wrong.contains("không đúng"), "{wrong}");
    ui.shot("09-signing-preview").await;
    ui.type_into("#sign-pin", PIN).await;
    ui.click("[data-testid=sign-submit]").await;
    let done = ui
        .wait_text("[data-testid=signing-done]", "signed in two runs", |t| {
            t.contains("2/2")
        })
        .await;
    assert!(done.contains("1.002"), "{done}");
    ui.click("[data-testid=sync-now]").await;
    ui.wait_text(
        "[data-testid=signing-runs]",
        "the server verified both runs",
        |t| t.matches("đã xác nhận").count() == 2,
    )
    .await;
    assert_eq!(lab.server.count("signing_batches").await, 2);
    assert_eq!(lab.server.count("signed_doses").await, 1_002);
    ui.shot("10-signed").await;
    ui.client.close().await.expect("session closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nurse_lists_exports_imports_corrections_and_merges_duplicates() {
    let _one_window_at_a_time = one_at_a_time().await;
    let lab = Lab::start(Backend::Sqlite).await;
    let mut g = Generator::new(78);
    // 203 people registered without an ID (more than one page of 200); one registered twice
    // (two stations, offline).
    let no_id: Vec<sync_protocol::Person> = (0..203)
        .map(|_| {
            let mut p = g.person("TYT-TANNHUT", "nv.mai", 1);
            p.identity = sync_protocol::Identity {
                kind: sync_protocol::IdentityKind::None,
                number: None,
            };
            p.verification.status = sync_protocol::VerificationStatus::NoId;
            p
        })
        .collect();
    let twice = g.person("TYT-TANNHUT", "nv.mai", 1);
    let mut again = twice.clone();
    again.id = uuid::Uuid::now_v7();
    again.doses = g
        .person("TYT-TANNHUT", "nv.mai", 1)
        .doses
        .into_values()
        .map(|mut d| {
            d.dose_number = 2;
            d.given_at =
                twice.doses.values().next().expect("dose").given_at + time::Duration::days(60);
            (d.id, d)
        })
        .collect();
    let mut people = no_id.clone();
    people.push(twice.clone());
    people.push(again.clone());
    let (data, key, mut otp) = prepared_station(&lab, &people, "nv.mai").await;
    let exports = tempfile::tempdir().expect("export dir");

    let (_spawned, ui) = start_app(
        "cleaning",
        &[
            ("SOTIEM_DATA", data.path().display().to_string()),
            ("SOTIEM_DB_KEY", key.to_hex()),
            ("SOTIEM_EXPORT_DIR", exports.path().display().to_string()),
        ],
    )
    .await;
    ui.wait_text("[data-testid=signed-in-user]", "the session resumes", |t| {
        t.contains("nv.mai")
    })
    .await;
    ui.click("[data-testid=nav-cleaning]").await;
    ui.wait_text(
        "[data-testid=list-total]",
        "203 people without an ID",
        |t| t == "203",
    )
    .await;
    // Page by page: the last three on the second page, and back.
    assert!(ui.text("[data-testid=list-range]").await.contains("1–200"));
    ui.click("[data-testid=list-next]").await;
    ui.wait_text("[data-testid=list-range]", "the second page", |t| {
        t.contains("201–203")
    })
    .await;
    ui.click("[data-testid=list-previous]").await;
    ui.wait_text("[data-testid=list-range]", "the first page again", |t| {
        t.contains("1–200")
    })
    .await;
    // Export needs a fresh code: a wrong one is refused, a good one writes the workbook.
    ui.type_into("#export-otp", "123456").await;
    ui.click("[data-testid=export-list]").await;
    ui.wait_text("[data-testid=error-box]", "a wrong code", |t| !t.is_empty())
        .await;
    ui.type_into("#export-otp", &otp.code().await).await;
    ui.click("[data-testid=export-list]").await;
    let done = ui
        .wait_text("[data-testid=export-done]", "the export is written", |t| {
            t.contains(".xlsx")
        })
        .await;
    assert!(done.contains("Đã xuất 203"), "{done}");
    let written: Vec<_> = std::fs::read_dir(exports.path())
        .expect("export dir")
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(written.len(), 1, "one workbook, no partial file left");
    ui.shot("11-cleaning-lists").await;

    // The police send back the list with one CCCD filled in, and a row for nobody here.
    let fixed = &no_id[0];
    let born = match fixed.birth_date {
        sync_protocol::BirthDate::Full(d) => d.year(),
        sync_protocol::BirthDate::Year(y) => y,
    };
    let cccd = g.cccd(fixed.gender, born);
    let corrected = exports.path().join("danh-sach-da-sua.csv");
    std::fs::write(
        &corrected,
        format!(
            "Mã hồ sơ (không sửa),Họ và tên,Số giấy tờ\n{},{},{}\n{},Người Lạ,079090001234\n",
            fixed.id,
            fixed.full_name,
            cccd,
            uuid::Uuid::now_v7()
        ),
    )
    .expect("csv");
    ui.click("[data-testid=tab-import]").await;
    ui.find("[data-testid=import-file]")
        .await
        .send_keys(&corrected.display().to_string())
        .await
        .expect("file chosen");
    ui.wait_text("[data-testid=import-changes]", "one change", |t| t == "1")
        .await;
    assert_eq!(ui.text("[data-testid=import-problems]").await, "1");
    // Between preview and apply the list waits in memory: no copy of it in the data directory.
    let left = files_containing(data.path(), cccd.as_bytes());
    assert!(
        left.is_empty(),
        "the previewed list is not on disk: {left:?}"
    );
    ui.shot("12-cleaning-import").await;
    ui.type_into("#import-otp", &otp.code().await).await;
    ui.click("[data-testid=import-apply]").await;
    ui.wait_text("[data-testid=import-done]", "applied", |t| t.contains("1"))
        .await;

    // The duplicate pair, found by its ID number; merged after review.
    ui.click("[data-testid=tab-duplicates]").await;
    let pair = ui
        .wait_text("[data-testid=pair-0]", "the pair is shown", |t| {
            t.contains("Trùng số giấy tờ")
        })
        .await;
    assert!(pair.contains(&twice.full_name), "{pair}");
    ui.shot("13-cleaning-duplicates").await;
    ui.click("[data-testid=keep-a-0]").await;
    ui.click("[data-testid=merge-yes]").await;
    ui.find("[data-testid=merge-done]").await;
    ui.find("[data-testid=no-duplicates]").await;

    // Everything reaches the server: the CCCD, the merge, both doses on one record.
    ui.click("[data-testid=sync-now]").await;
    ui.wait_text("[data-testid=pending-count]", "synced", |t| t == "0")
        .await;
    let db = &lab.server.db;
    let (id_number,): (Option<String>,) = match db {
        sotiem_server::Db::Sqlite(pool) => {
            sqlx::query_as("SELECT id_number FROM documents WHERE person_id = ?")
                .bind(fixed.id.to_string())
                .fetch_one(pool)
                .await
                .expect("row")
        }
        sotiem_server::Db::Postgres(_) => unreachable!("this test runs on SQLite"),
    };
    assert_eq!(id_number.as_deref(), Some(cccd.as_str()));
    let merged: i64 = match db {
        sotiem_server::Db::Sqlite(pool) => {
            sqlx::query_scalar("SELECT count(*) FROM documents WHERE merged_into IS NOT NULL")
                .fetch_one(pool)
                .await
                .expect("count")
        }
        sotiem_server::Db::Postgres(_) => unreachable!("this test runs on SQLite"),
    };
    assert_eq!(merged, 1);
    ui.client.close().await.expect("session closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_of_station_resets_a_nurses_authenticator_and_each_reads_their_sign_ins() {
    let _one_window_at_a_time = one_at_a_time().await;
    let lab = Lab::start(Backend::Sqlite).await;
    lab.account("tt.hoa", "TYT-TANNHUT", Role::FacilityAdmin)
        .await;
    // nv.mai has enrolled her phone on this laptop; the head of station is signed in now.
    let (data, key, _head_otp) = prepared_station(&lab, &[], "tt.hoa").await;
    let (_spawned, ui) = start_app(
        "staff",
        &[
            ("SOTIEM_DATA", data.path().display().to_string()),
            ("SOTIEM_DB_KEY", key.to_hex()),
        ],
    )
    .await;
    ui.wait_text(
        "[data-testid=signed-in-user]",
        "the head's session resumes",
        |t| t.contains("tt.hoa"),
    )
    .await;

    // nv.mai lost her phone: her head resets her authenticator on "Tài khoản của trạm".
    ui.click("[data-testid=nav-staff]").await;
    ui.wait_text("[data-testid=staff-list]", "the station's accounts", |t| {
        t.contains("nv.mai")
    })
    .await;
    ui.shot("14-station-accounts").await;
    ui.click("[data-testid=staff-reset-authenticator-nv\\.mai]")
        .await;
    ui.find("[data-testid=staff-confirm]").await;
    ui.click("[data-testid=staff-confirm-go]").await;
    ui.wait_text("[data-testid=staff-done]", "the reset is confirmed", |t| {
        t.contains("nv.mai")
    })
    .await;
    // Her password too, the same day: both factors in the head's hands, so it waits for a
    // second person (issue 26); the head sees it listed, with no approval button of their own.
    ui.click("[data-testid=staff-reset-password-nv\\.mai]")
        .await;
    ui.find("[data-testid=staff-confirm]").await;
    ui.type_into("#staff-new-password", "Dat@lai2026").await;
    ui.type_into("#staff-new-confirm", "Dat@lai2026").await;
    ui.click("[data-testid=staff-confirm-go]").await;
    ui.wait_text(
        "[data-testid=staff-done]",
        "the second reset is held",
        |t| t.contains("người thứ hai duyệt"),
    )
    .await;
    let resets = ui
        .wait_text(
            "[data-testid=staff-reset-nv\\.mai-password]",
            "the held reset listed",
            |t| t.contains("Chờ người thứ hai duyệt"),
        )
        .await;
    assert!(resets.contains("tt.hoa"), "{resets}");
    assert!(
        ui.client
            .find_all(Locator::Css("[data-testid=staff-approve-nv\\.mai]"))
            .await
            .expect("query")
            .is_empty(),
        "the requester approves nothing"
    );
    ui.shot("15b-staff-reset-held").await;
    // Her history, as her head sees it: her enrolment and sign-in of this morning.
    ui.click("[data-testid=staff-history-nv\\.mai]").await;
    ui.wait_text("[data-testid=staff-sign-ins]", "nv.mai's sign-ins", |t| {
        t.contains("thành công")
    })
    .await;
    ui.shot("15-staff-sign-ins").await;

    // The head reads their own history on the Account screen, then signs out.
    ui.open_account().await;
    ui.click("[data-testid=show-sign-ins]").await;
    let own = ui
        .wait_text("[data-testid=own-sign-ins]", "the head's sign-ins", |t| {
            t.contains("thành công")
        })
        .await;
    assert!(own.contains("trực tuyến"), "{own}");
    ui.click("[data-testid=sign-out]").await;

    // nv.mai signs in with her password and enrols her new phone from the QR code.
    ui.find("[data-testid=sign-in-form]").await;
    ui.type_into("#username", "nv.mai").await;
    ui.type_into("#password", PASSWORD).await;
    ui.click("[data-testid=sign-in-submit]").await;
    let secret = ui
        .wait_text(
            "[data-testid=enroll-secret]",
            "a new enrolment after the reset",
            |t| t.len() >= 16,
        )
        .await;
    ui.find("[data-testid=enroll-qr]").await;
    ui.shot("16-re-enrol").await;
    ui.type_into("#otp", &code_for(&secret, 0)).await;
    ui.click("[data-testid=sign-in-submit]").await;
    ui.wait_text("[data-testid=signed-in-user]", "signed in again", |t| {
        t.contains("nv.mai")
    })
    .await;
    // She is told who reset her authenticator (once on this laptop).
    let told = ui
        .wait_text(
            "[data-testid=reset-notices]",
            "the reset told to her",
            |t| t.contains("tt.hoa"),
        )
        .await;
    assert!(told.contains("Ứng dụng xác thực"), "{told}");
    ui.shot("16b-reset-told").await;
    ui.click("[data-testid=reset-notices-ok]").await;
    ui.wait_gone("[data-testid=reset-notices]").await;

    // Her own history shows the reset's consequence: a new enrolment.
    ui.open_account().await;
    ui.click("[data-testid=show-sign-ins]").await;
    ui.wait_text(
        "[data-testid=own-sign-ins]",
        "her new enrolment in her history",
        |t| t.contains("đăng ký ứng dụng xác thực"),
    )
    .await;
    ui.shot("17-own-sign-ins").await;
    assert_eq!(
        sotiem_server::admin_audit::entries(&lab.server.db, Some("account/nv.mai"), 10)
            .await
            .expect("audit")
            .iter()
            .map(|e| (e.action.as_str(), e.actor.as_str()))
            .collect::<Vec<_>>(),
        [
            ("account_reset_password", "tt.hoa"),
            ("account_reset_authenticator", "tt.hoa")
        ]
    );
    ui.client.close().await.expect("session closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_backs_the_station_up_and_a_new_laptop_is_restored_from_the_first_run_screen() {
    let _one_window_at_a_time = one_at_a_time().await;
    let lab = Lab::start(Backend::Sqlite).await;
    lab.account("tt.hoa", "TYT-TANNHUT", Role::FacilityAdmin)
        .await;
    let mut g = Generator::new(79);
    let people: Vec<_> = (0..4)
        .map(|_| g.person("TYT-TANNHUT", "nv.mai", 1))
        .collect();
    let (data, key, mut head_otp) = prepared_station(&lab, &people, "tt.hoa").await;
    let usb = tempfile::tempdir().expect("usb");
    let passphrase = "Sổ khôi phục cất ở tủ hồ sơ";
    {
        let (_spawned, ui) = start_app(
            "backup",
            &[
                ("SOTIEM_DATA", data.path().display().to_string()),
                ("SOTIEM_DB_KEY", key.to_hex()),
            ],
        )
        .await;
        ui.wait_text("[data-testid=signed-in-user]", "the head's session", |t| {
            t.contains("tt.hoa")
        })
        .await;
        ui.open_account().await;
        // Too short: refused on the form, with the rule's own minimum.
        ui.type_into("#recovery-passphrase", "ngắn").await;
        ui.click("[data-testid=set-passphrase]").await;
        ui.wait_text("[data-testid=backup-card]", "the passphrase rule", |t| {
            t.contains("ít nhất 12 ký tự")
        })
        .await;
        ui.type_into("#recovery-passphrase", passphrase).await;
        ui.type_into("#confirm-passphrase", passphrase).await;
        ui.click("[data-testid=set-passphrase]").await;
        ui.wait_text("[data-testid=backup-card]", "the passphrase is set", |t| {
            t.contains("Đã đặt mật khẩu khôi phục")
        })
        .await;
        ui.type_into("#backup-folder", &usb.path().display().to_string())
            .await;
        ui.click("[data-testid=save-backup-folder]").await;
        ui.wait_text("[data-testid=backup-card]", "the folder is kept", |t| {
            t.contains("Hôm nay chưa sao lưu")
        })
        .await;
        ui.click("[data-testid=backup-now]").await;
        ui.wait_text("[data-testid=backup-written]", "a backup is written", |t| {
            t.contains(".sotiem-backup")
        })
        .await;
        ui.shot("18-backup").await;
        ui.client.close().await.expect("session closed");
    }
    let file = std::fs::read_dir(usb.path())
        .expect("usb")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "sotiem-backup"))
        .expect("the backup file");

    // The laptop is lost; the administrator registers the new one as its replacement.
    let old = sotiem_server::admin::devices(&lab.server.db)
        .await
        .expect("devices")
        .last()
        .expect("a device")
        .id
        .clone();
    let replacement = sotiem_server::admin::replace_device(&lab.server.db, &old, "Laptop mới")
        .await
        .expect("replaced");
    let new_data = tempfile::tempdir().expect("new laptop");
    let (_spawned, ui) = start_app(
        "restore",
        &[
            ("SOTIEM_DATA", new_data.path().display().to_string()),
            ("SOTIEM_SERVER", lab.server.url.clone()),
            ("SOTIEM_DB_KEY", "6f".repeat(32)),
        ],
    )
    .await;
    ui.find("[data-testid=setup-form]").await;
    ui.click("[data-testid=restore-mode]").await;
    ui.type_into("#backup_file", &file.display().to_string())
        .await;
    ui.type_into("#recovery_passphrase", "không phải mật khẩu đó")
        .await;
    ui.type_into("#device_token", &replacement.token).await;
    ui.click("[data-testid=setup-submit]").await;
    ui.wait_text("[data-testid=error-box]", "a wrong passphrase", |t| {
        t.contains("mật khẩu khôi phục không đúng")
    })
    .await;
    ui.shot("19-restore").await;
    ui.type_into("#recovery_passphrase", passphrase).await;
    ui.click("[data-testid=setup-submit]").await;
    // The restored station: its accounts came with it, so the head signs in as before.
    ui.find("[data-testid=sign-in-form]").await;
    ui.type_into("#username", "tt.hoa").await;
    ui.type_into("#password", PASSWORD).await;
    ui.type_into("#otp", &head_otp.code().await).await;
    ui.click("[data-testid=sign-in-submit]").await;
    ui.wait_text(
        "[data-testid=signed-in-user]",
        "signed in on the new laptop",
        |t| t.contains("tt.hoa"),
    )
    .await;
    ui.shot("20-restored").await;
    ui.client.close().await.expect("session closed");
    drop(_spawned);
    let restored = station::Station::open_with_key(
        new_data.path(),
        Some(station::DbKey::from_hex(&"6f".repeat(32)).expect("key")),
    )
    .await
    .expect("the restored station opens");
    assert_eq!(restored.status().await.expect("status").persons, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_station_installs_only_a_release_signed_by_the_publisher() {
    let _one_window_at_a_time = one_at_a_time().await;
    let lab = Lab::start(Backend::Sqlite).await;
    let work = tempfile::tempdir().expect("work");
    let key = sotiem_scenarios::release::ReleaseKey::generate(work.path(), "phat-hanh");
    let publish = |version: &'static str| {
        let file = work
            .path()
            .join(format!("so-tiem_{version}_amd64.AppImage.tar.gz"));
        let bytes: Vec<u8> = (0..50_000).map(|i: u32| (i * 7 % 251) as u8).collect();
        std::fs::write(&file, bytes).expect("package");
        let signature = key.sign(&file, version);
        let (db, dir, public) = (
            lab.server.db.clone(),
            lab.server.updates_dir.clone(),
            key.public.clone(),
        );
        async move {
            sotiem_server::releases::publish(
                &db,
                &dir,
                &sotiem_server::releases::NewRelease {
                    version,
                    platform: "linux-x86_64",
                    package: &file,
                    signature: &signature,
                    notes: Some("Sửa lỗi in báo cáo ngày"),
                },
                Some(&public),
            )
            .await
            .expect("published")
        }
    };
    publish("9.9.0").await;
    let (data, key_db, _otp) = prepared_station(&lab, &[], "nv.mai").await;
    let (_spawned, ui) = start_app(
        "update",
        &[
            ("SOTIEM_DATA", data.path().display().to_string()),
            ("SOTIEM_DB_KEY", key_db.to_hex()),
            ("SOTIEM_UPDATE_PUBKEY", key.public.clone()),
        ],
    )
    .await;
    ui.wait_text("[data-testid=signed-in-user]", "signed in", |t| {
        t.contains("nv.mai")
    })
    .await;
    ui.open_account().await;
    ui.click("[data-testid=check-update]").await;
    ui.wait_text(
        "[data-testid=available-version]",
        "the server's release",
        |t| t == "9.9.0",
    )
    .await;
    ui.click("[data-testid=download-update]").await;
    ui.wait_text(
        "[data-testid=update-verified]",
        "its signature verifies",
        |t| t.contains("kiểm tra chữ ký"),
    )
    .await;
    ui.find("[data-testid=install-update]").await;
    ui.shot("21-update-verified").await;

    // A newer release whose package was changed on the server after it was signed.
    let tampered = publish("9.9.1").await;
    let stored = sotiem_server::releases::package_path(&lab.server.updates_dir, &tampered);
    let mut bytes = std::fs::read(&stored).expect("stored package");
    bytes[777] ^= 0x20;
    std::fs::write(&stored, bytes).expect("tampered");
    ui.click("[data-testid=check-update]").await;
    ui.wait_text(
        "[data-testid=available-version]",
        "the newer release",
        |t| t == "9.9.1",
    )
    .await;
    ui.click("[data-testid=download-update]").await;
    let refused = ui
        .wait_text(
            "[data-testid=update-card] [data-testid=error-box]",
            "the changed package",
            |t| t.contains("không đúng chữ ký"),
        )
        .await;
    assert!(refused.contains("không cài"), "{refused}");
    assert!(
        ui.client
            .find(Locator::Css("[data-testid=install-update]"))
            .await
            .is_err(),
        "nothing to install"
    );
    ui.shot("22-update-refused").await;
    ui.client.close().await.expect("session closed");
}

/// The end-of-day passport run, when the passport test starts this binary as a child for it
/// (see `sotiem_scenarios::passports`); nothing in a normal run.
#[tokio::test(flavor = "multi_thread")]
async fn issue_passports_in_a_child_process() {
    sotiem_scenarios::passports::issue_if_asked().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nurse_prints_a_vaccine_passport_and_checks_a_scanned_one() {
    let _one_window_at_a_time = one_at_a_time().await;
    let (lab, _tokens, token) = lab_with_a_signer().await;

    // Three people vaccinated this morning, matched with the population database; the head of
    // the facility signs their doses (a key file standing in for the USB token: the token in
    // this process is the passport signer's) and the run reaches the server.
    let mut g = Generator::new(515);
    let now = sync_protocol::person::now();
    let people = vaccinated_at(&mut g, 3, 2, now - time::Duration::hours(3));
    let (data, key, _otp) = prepared_station(&lab, &people, "bs.hung").await;
    let facility_key = token.files("rsa");
    let facility_cert = sotiem_token::CertificateInfo::from_der(
        b"rsa",
        &std::fs::read(&facility_key.der).expect("der"),
    )
    .expect("certificate");
    lab.register_certificates("bs.hung", &[&facility_cert])
        .await;
    let mut nurse_otp = {
        let st = station::Station::open_with_key(data.path(), Some(key.clone()))
            .await
            .expect("reopened");
        let client = st
            .connect(None, None, None)
            .await
            .expect("the connection is remembered");
        lab.sign_in(&st, &client, "bs.hung").await;
        let selection = station::SigningSelection {
            from: (now - time::Duration::days(1)).date().to_string(),
            to: now.date().to_string(),
            ..station::SigningSelection::default()
        };
        st.sign_selection(
            &selection,
            6,
            &sotiem_scenarios::pki::FileSigner::new(&facility_key),
        )
        .await
        .expect("signed");
        assert_eq!(st.sync(&client).await.expect("synced").batches_accepted, 1);
        st.sign_out(None).await.expect("signed out");
        let otp = lab.sign_in(&st, &client, "nv.mai").await;
        st.close().await;
        otp
    };

    // End of day on the server: passports signed with the key in the HSM (PS256).
    let db = lab.server.sqlite_path().expect("an SQLite server");
    let end_of_day = || {
        sotiem_scenarios::passports::end_of_day(
            "issue_passports_in_a_child_process",
            &db,
            &token,
            &token.rsa.id,
        )
    };
    assert!(end_of_day().contains("ISSUED 3 REISSUED 0"));

    let exports = tempfile::tempdir().expect("exports");
    let (_spawned, ui) = start_app(
        "passport",
        &[
            ("SOTIEM_DATA", data.path().display().to_string()),
            ("SOTIEM_DB_KEY", key.to_hex()),
            ("SOTIEM_EXPORT_DIR", exports.path().display().to_string()),
        ],
    )
    .await;
    ui.wait_text(
        "[data-testid=signed-in-user]",
        "the nurse's session resumes",
        |t| t.contains("nv.mai"),
    )
    .await;
    ui.click("[data-testid=sync-now]").await;
    ui.find("[data-testid=sync-message]").await;

    // Her record shows her passport; printing saves a PDF whose QR code reads back.
    let anh = &people[0];
    ui.type_into("#search-name", &anh.full_name).await;
    ui.type_into("#search-other", anh.phone.as_deref().expect("a phone"))
        .await;
    ui.click("[data-testid=search-submit]").await;
    ui.wait_text("[data-testid=search-results]", "she is found", |t| {
        t.contains(&anh.full_name)
    })
    .await;
    ui.click("[data-testid=search-results] button").await;
    ui.wait_text(
        "[data-testid=passport-summary]",
        "she has a passport",
        |t| t.contains("Đã có hộ chiếu"),
    )
    .await;
    let uvci = ui.text("[data-testid=passport-uvci]").await;
    assert!(uvci.starts_with("URN:UVCI:01:VN:"), "{uvci}");
    ui.click("[data-testid=print-passport]").await;
    let saved = ui
        .wait_text("[data-testid=passport-saved]", "the PDF is saved", |t| {
            t.contains(".pdf")
        })
        .await;
    ui.shot("13-passport-printed").await;
    let pdf = std::fs::read_dir(exports.path())
        .expect("exports")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "pdf"))
        .unwrap_or_else(|| panic!("no PDF in the export folder ({saved})"));
    let hc1 = sotiem_scenarios::passports::qr_in_pdf(&pdf);
    assert!(
        hc1.starts_with("HC1:"),
        "the printed QR holds the passport: {hc1:?}"
    );

    // "Kiểm tra hộ chiếu": the scanner types the code and Enter; offline verdict.
    ui.click("[data-testid=nav-passport]").await;
    ui.type_into("#passport-code", &hc1).await;
    ui.click("[data-testid=check-passport]").await;
    let verdict = ui
        .wait_text("[data-testid=passport-verdict]", "a valid passport", |t| {
            t.contains("Hợp lệ")
        })
        .await;
    assert!(verdict.contains(&anh.full_name), "{verdict}");
    assert!(verdict.contains(&uvci), "{verdict}");
    ui.shot("14-passport-valid").await;

    // The same code with its name changed by hand: refused as forged.
    let decoded = sotiem_passport::decode(&hc1).expect("decodes");
    let mut sign1 = decoded.sign1.clone();
    let mut changed = decoded.certificate.clone();
    changed.nam.given = Some("Văn Giả".into());
    let mut cwt = Vec::new();
    coset::cbor::ser::into_writer(
        &coset::cbor::value::Value::Map(vec![
            (4.into(), decoded.claims.expires_at.into()),
            (6.into(), decoded.claims.issued_at.into()),
            (1.into(), "VN".into()),
            (
                (-260).into(),
                coset::cbor::value::Value::Map(vec![(
                    1.into(),
                    coset::cbor::value::Value::serialized(&changed).expect("cbor"),
                )]),
            ),
        ]),
        &mut cwt,
    )
    .expect("cwt");
    sign1.payload = Some(cwt);
    let forged = {
        use coset::TaggedCborSerializable;
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&sign1.to_tagged_vec().expect("cose"))
            .expect("zlib");
        format!("HC1:{}", base45::encode(z.finish().expect("zlib")))
    };
    ui.type_into("#passport-code", &forged).await;
    ui.click("[data-testid=check-passport]").await;
    let verdict = ui
        .wait_text(
            "[data-testid=passport-verdict]",
            "a forged passport refused",
            |t| t.contains("Không hợp lệ"),
        )
        .await;
    assert!(verdict.contains("giả mạo"), "{verdict}");
    ui.shot("15-passport-forged").await;

    // Her second dose was a mistake: voiding a signed dose asks for a fresh code; the next
    // end-of-day run revokes her passport and issues one for dose 1; the old code then reads
    // as revoked.
    ui.click("[data-testid=nav-session]").await;
    ui.wait_text("[data-testid=person-name]", "her record again", |t| {
        t.contains(&anh.full_name)
    })
    .await;
    ui.click("[data-testid=dose-row]:last-child [data-testid=void-dose]")
        .await;
    ui.find("[data-testid=void-signed-notice]").await;
    ui.type_into("#void-reason", "Ghi nhầm: chị chỉ tiêm một mũi hôm nay")
        .await;
    ui.type_into("#void-otp", &nurse_otp.code().await).await;
    ui.shot("16-void-signed-dose").await;
    ui.click("[data-testid=void-submit]").await;
    ui.wait_text(
        "[data-testid=dose-row]:last-child",
        "the signed dose is voided",
        |t| t.contains("Đã huỷ"),
    )
    .await;
    ui.click("[data-testid=sync-now]").await;
    ui.wait_text("[data-testid=pending-count]", "the voiding is sent", |t| {
        t == "0"
    })
    .await;
    assert!(end_of_day().contains("ISSUED 0 REISSUED 1"));
    ui.click("[data-testid=sync-now]").await;
    ui.wait_text("[data-testid=passport-uvci]", "a new passport", |t| {
        t.starts_with("URN:UVCI:01:VN:") && t != uvci
    })
    .await;
    ui.shot("17-passport-reissued").await;
    ui.click("[data-testid=nav-passport]").await;
    ui.type_into("#passport-code", &hc1).await;
    ui.click("[data-testid=check-passport]").await;
    ui.wait_text(
        "[data-testid=passport-verdict]",
        "the old passport is revoked",
        |t| t.contains("Đã thu hồi"),
    )
    .await;
    ui.shot("18-passport-revoked").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nurse_answers_a_citizens_complaint_after_recording_the_missing_dose() {
    use sotiem_scenarios::complaints::{Citizen, card_photo_with_gps, code_of};
    let _one_window_at_a_time = one_at_a_time().await;
    let lab = Lab::start(Backend::Sqlite).await;

    // She had her first Comirnaty dose here six weeks ago; her second is not on the record.
    let mut g = Generator::new(1608);
    let now = sync_protocol::person::now();
    let mut people = vaccinated_at(&mut g, 1, 1, now - time::Duration::days(42));
    for d in people[0].doses.values_mut() {
        d.vaccine = "EU/1/20/1528".into();
    }
    let her = people[0].clone();
    let phone = her.phone.clone().expect("a phone");
    let (data, key, _otp) = prepared_station(&lab, &people, "nv.mai").await;

    // She files a complaint on the public page with a photo of her paper card.
    let citizen = Citizen::new(&lab.server.url);
    let fields = vec![
        ("full_name", her.full_name.clone()),
        ("birth_date", her.birth_date.to_string()),
        ("phone", phone.clone()),
        ("id_number", her.identity.number.clone().unwrap_or_default()),
        ("facility", "TYT-TANNHUT".to_string()),
        ("kind", "missing_dose".to_string()),
        ("vaccine", "Comirnaty".to_string()),
        ("vaccinated_on", String::new()),
        ("place", "Trạm Y tế xã Tân Nhựt".to_string()),
        (
            "description",
            "Tôi đã tiêm mũi 2 Comirnaty tại trạm nhưng tra cứu chỉ thấy mũi 1.".to_string(),
        ),
    ];
    let (status, page) = citizen
        .post(&fields, &[("phieu-tiem.jpg", card_photo_with_gps())], None)
        .await;
    assert_eq!(status, 201, "{page}");
    let code = code_of(&page);

    let (_spawned, ui) = start_app(
        "complaints",
        &[
            ("SOTIEM_DATA", data.path().display().to_string()),
            ("SOTIEM_DB_KEY", key.to_hex()),
        ],
    )
    .await;
    ui.wait_text(
        "[data-testid=signed-in-user]",
        "the nurse's session resumes",
        |t| t.contains("nv.mai"),
    )
    .await;
    ui.click("[data-testid=sync-now]").await;
    ui.find("[data-testid=sync-message]").await;

    // The header counts it; the inbox (Alt+8) holds it, within its deadline; opened, it shows
    // the photo and her record.
    ui.wait_text(
        "[data-testid=complaints-badge]",
        "the header counts the complaint",
        |t| t == "1",
    )
    .await;
    ui.click("[data-testid=nav-complaints]").await;
    let row = ui
        .wait_text(
            "[data-testid=complaint-row]",
            "the complaint arrives",
            |t| t.contains(&her.full_name),
        )
        .await;
    assert!(row.contains(&code), "{row}");
    let overdue = ui
        .find("[data-testid=complaint-row]")
        .await
        .attr("data-overdue")
        .await
        .expect("attr");
    assert_eq!(overdue.as_deref(), Some("false"));
    ui.shot("17-complaints-inbox").await;
    ui.click("[data-testid=complaint-row]").await;
    ui.wait_text(
        "[data-testid=complaint-phone]",
        "the complaint opens",
        |t| t == phone,
    )
    .await;
    ui.click("[data-testid=complaint-load-photos]").await;
    ui.find("[data-testid=complaint-photo]").await;
    ui.wait_text(
        "[data-testid=complaint-match]",
        "her record is found",
        |t| t.contains(&her.full_name),
    )
    .await;
    ui.shot("18-complaint-open").await;

    // From the complaint to her record: the missing second dose is recorded and synced.
    ui.click("[data-testid=complaint-open-match]").await;
    ui.wait_text("[data-testid=person-name]", "her record opens", |t| {
        t == her.full_name
    })
    .await;
    ui.find("#dose-vaccine")
        .await
        .select_by_value("EU/1/20/1528")
        .await
        .expect("vaccine");
    ui.type_into("#dose-lot", "FK8891").await;
    assert_eq!(ui.value("#dose-number").await, "2");
    ui.click("[data-testid=dose-submit]").await;
    ui.find("[data-testid=dose-message]").await;

    // Back to the complaint, still open on its screen: link her record and answer. The dose is
    // not synced yet: answering sends it first, then the answer.
    ui.click("[data-testid=nav-complaints]").await;
    ui.click("[data-testid=complaint-link]").await;
    ui.wait_text(
        "[data-testid=complaint-linked]",
        "her record is linked",
        |t| t.contains(&her.full_name),
    )
    .await;
    let answer = "Trạm đã bổ sung mũi 2 Comirnaty vào hồ sơ của chị. Cảm ơn chị đã phản ánh.";
    ui.type_into("#complaint-answer-text", answer).await;
    ui.click("[data-testid=complaint-send-answer]").await;
    ui.wait_text(
        "[data-testid=complaint-state]",
        "the answer reaches the server",
        |t| t.contains("Đã giải quyết"),
    )
    .await;
    ui.find("[data-testid=complaints-empty]").await;
    ui.wait_text("[data-testid=pending-count]", "the dose went first", |t| {
        t == "0"
    })
    .await;
    ui.shot("19-complaint-answered").await;

    // A second complaint belongs to Tân Túc: found by typing its name without diacritics in the
    // forwarding list, sent there with the reason.
    let (status, page) = citizen.post(&fields, &[], None).await;
    assert_eq!(status, 201, "{page}");
    let second = code_of(&page);
    ui.click("[data-testid=sync-now]").await;
    ui.wait_text("[data-testid=complaint-row]", "the second arrives", |t| {
        t.contains(&second)
    })
    .await;
    ui.click("[data-testid=complaint-row]").await;
    ui.type_into("#complaint-forward-search", "tan tuc").await;
    ui.find("#complaint-forward-to")
        .await
        .select_by_value("TYT-TANTUC")
        .await
        .expect("Tân Túc in the list");
    ui.type_into(
        "#complaint-forward-reason",
        "Chị tiêm mũi này tại Trạm Y tế xã Tân Túc.",
    )
    .await;
    ui.shot("20-complaint-forward").await;
    ui.click("[data-testid=complaint-send-forward]").await;
    ui.wait_text(
        "[data-testid=complaint-state]",
        "it leaves for Tân Túc",
        |t| t.contains("Đã chuyển cho TYT-TANTUC"),
    )
    .await;
    let (_, page) = citizen.lookup(&second, &phone).await;
    assert!(page.contains("Đã chuyển từ"), "{page}");

    // She looks it up with her code and phone: the answer is there; the server has both doses.
    let (status, page) = citizen.lookup(&code, &phone).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("data-status=\"resolved\"") && page.contains("bổ sung mũi 2 Comirnaty"),
        "{page}"
    );
    let on_server = lab.on_server(her.id).await;
    assert_eq!(
        on_server
            .doses
            .values()
            .filter(|d| d.voided.is_none())
            .count(),
        2
    );
}

/// Routine immunization (issue 29) on its screens: a newborn registered by her mother's name
/// and phone, her birth dose typed from the hospital's card as history, BCG given here, the
/// schedule drawn per antigen proposing the 5-in-1 due today, her place on the hamlet's due
/// list; today's session planned, its slips printed, its tally, closed with the two neighbours
/// who did not come as defaulters, one traced; the history reaches the server as nobody's dose.
#[tokio::test(flavor = "multi_thread")]
async fn a_nurse_registers_a_newborn_records_her_history_and_finds_her_on_the_due_list() {
    let _one_window_at_a_time = one_at_a_time().await;
    let lab = Lab::start(Backend::Sqlite).await;
    let today = sync_protocol::person::now().date();
    // Two children of Ấp 3 already on the station, due for doses: invited, they will not come.
    let mut g = Generator::new(2904);
    let neighbours: Vec<sync_protocol::Person> = (0..2)
        .map(|_| {
            let mut c = g.child(
                "TYT-TANNHUT",
                "nv.mai",
                today - time::Duration::days(100),
                1,
            );
            c.address.hamlet = Some("Ấp 3".into());
            c
        })
        .collect();
    let (data, key, _otp) = prepared_station(&lab, &neighbours, "nv.mai").await;
    let exports = tempfile::tempdir().expect("export dir");
    let (_spawned, ui) = start_app(
        "routine",
        &[
            ("SOTIEM_DATA", data.path().display().to_string()),
            ("SOTIEM_DB_KEY", key.to_hex()),
            ("SOTIEM_EXPORT_DIR", exports.path().display().to_string()),
        ],
    )
    .await;
    ui.wait_text("[data-testid=signed-in-user]", "the session resumes", |t| {
        t.contains("nv.mai")
    })
    .await;
    let birth = today - time::Duration::days(75);
    let vn = |d: time::Date| format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year());

    // No name yet: the mother's name and phone, the hamlet.
    ui.click("[data-testid=new-person]").await;
    ui.type_into("#reg-caregiver_name", "Phạm Thị Hoa").await;
    ui.type_into("#reg-caregiver_phone", "0912345678").await;
    ui.type_into("#reg-hamlet", "Ấp 3").await;
    ui.find("#reg-gender")
        .await
        .select_by_value("nu")
        .await
        .expect("gender");
    ui.type_into("#reg-birth_date", &vn(birth)).await;
    ui.shot("19-register-newborn").await;
    ui.click("[data-testid=register-submit]").await;
    ui.wait_text(
        "[data-testid=person-name]",
        "the newborn's record opens",
        |t| t == "Con bà Phạm Thị Hoa",
    )
    .await;

    // The birth dose from the hospital's card: history, with where and who gave it.
    ui.click("[data-testid=dose-elsewhere]").await;
    ui.find("#dose-vaccine")
        .await
        .select_by_value("hepb")
        .await
        .expect("vaccine");
    ui.type_into("#dose-given-at", &format!("{} 08:00", vn(birth)))
        .await;
    ui.find("#dose-source")
        .await
        .select_by_value("facility")
        .await
        .expect("source");
    ui.type_into("#dose-place", "Bệnh viện Hùng Vương").await;
    ui.type_into("#dose-vaccinator", "NHS Trần Thị Mỹ").await;
    ui.click("[data-testid=dose-submit]").await;
    ui.find("[data-testid=dose-message]").await;
    ui.wait_text("[data-testid=dose-table]", "the history row", |t| {
        t.contains("Tiêm nơi khác") && t.contains("Bệnh viện Hùng Vương")
    })
    .await;
    // BCG given here: the dose number follows the series.
    ui.find("#dose-vaccine")
        .await
        .select_by_value("bcg")
        .await
        .expect("vaccine");
    ui.type_into("#dose-lot", "BCG0324").await;
    assert_eq!(ui.value("#dose-number").await, "tự động");
    ui.click("[data-testid=dose-submit]").await;
    ui.wait_text(
        "[data-testid=series-bcg] [data-testid=series-status]",
        "BCG complete",
        |t| t == "Đủ mũi",
    )
    .await;
    ui.wait_text(
        "[data-testid=series-hepb_birth] [data-testid=series-status]",
        "the birth dose counts",
        |t| t == "Đủ mũi",
    )
    .await;
    // The 5-in-1 is due at 75 days: proposed in one click.
    ui.wait_text(
        "[data-testid=due-today]",
        "one proposal for the 5-in-1",
        |t| t.contains("5 trong 1") && t.contains("Bạch hầu") && t.contains("Hib"),
    )
    .await;
    ui.click("[data-testid=propose-dtp_hepb_hib]").await;
    assert_eq!(ui.value("#dose-vaccine").await, "dtp_hepb_hib");
    ui.shot("20-child-schedule").await;

    // The hamlet's due list for today has her, with her mother's phone.
    ui.click("[data-testid=nav-routine]").await;
    ui.type_into("#routine-hamlet", "Ấp 3").await;
    ui.click("[data-testid=routine-show]").await;
    let list = ui
        .wait_text("[data-testid=routine]", "she is on the due list", |t| {
            t.contains("Con bà Phạm Thị Hoa") && t.contains("Bạch hầu")
        })
        .await;
    assert!(list.contains("0912"), "{list}");
    let rows = ui
        .client
        .find_all(Locator::Css("[data-testid=due-row]"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 3, "one row per person, every antigen due in it");
    ui.shot("21-due-list").await;
    ui.type_into("#routine-hamlet", "Ấp 1").await;
    ui.click("[data-testid=routine-show]").await;
    ui.find("[data-testid=routine-empty]").await;

    // Today's session for Ấp 3: slips printed, the tally, closed: the two neighbours missed it.
    ui.type_into("#plan-hamlet", "Ấp 3").await;
    ui.type_into("#plan-place", "Nhà văn hoá ấp 3").await;
    ui.click("[data-testid=plan-submit]").await;
    ui.wait_text(
        "[data-testid=session-state]",
        "the session is planned",
        |t| t == "Chưa kết thúc",
    )
    .await;
    ui.click("[data-testid=session-slips]").await;
    let saved = ui
        .wait_text(
            "[data-testid=session-message]",
            "the slips are saved",
            |t| t.contains(".pdf"),
        )
        .await;
    let slips: Vec<PathBuf> = std::fs::read_dir(exports.path())
        .expect("export dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(slips.len(), 1, "{saved}");
    assert!(std::fs::read(&slips[0]).expect("pdf").starts_with(b"%PDF"));
    // Reminders: no SMS gateway configured here, so a file for the provider.
    ui.click("[data-testid=session-remind]").await;
    ui.wait_text(
        "[data-testid=session-message]",
        "the reminders are written",
        |t| t.contains("nhac-lich-") && t.contains("3 tin nhắn"),
    )
    .await;
    let reminders = std::fs::read_dir(exports.path())
        .expect("export dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "csv"))
        .expect("the reminders' file");
    let csv_text = std::fs::read_to_string(&reminders).expect("csv");
    assert!(csv_text.contains("Con ba Pham Thi Hoa"), "{csv_text}");
    // The list and tally sheet (the newborn, given BCG this morning, already ticked).
    ui.click("[data-testid=session-sheet]").await;
    ui.wait_text("[data-testid=session-message]", "the sheet is saved", |t| {
        t.contains("danh-sach-") && t.contains(".pdf")
    })
    .await;
    let sheet = std::fs::read_dir(exports.path())
        .expect("export dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("danh-sach-"))
        })
        .expect("the sheet's file");
    assert!(std::fs::read(&sheet).expect("pdf").starts_with(b"%PDF"));
    ui.click("[data-testid=session-tally]").await;
    ui.wait_text("[data-testid=tally]", "three invited, one came", |t| {
        t.contains("Được mời: 3") && t.contains("Đã đến tiêm: 1")
    })
    .await;
    ui.click("[data-testid=session-close]").await;
    ui.wait_text(
        "[data-testid=defaulters]",
        "the two neighbours missed it",
        |t| t.contains("(2)"),
    )
    .await;
    ui.find("[data-testid=defaulter-reason]")
        .await
        .select_by_value("sick")
        .await
        .expect("reason");
    ui.shot("22-session-defaulters").await;
    ui.wait_text(
        "[data-testid=session-state]",
        "closed with two defaulters",
        |t| t.contains("Đã kết thúc") && t.contains("2"),
    )
    .await;
    ui.click("[data-testid=session-defaulters]").await;
    ui.wait_text("[data-testid=defaulters]", "the tracing is kept", |_| true)
        .await;
    assert_eq!(
        ui.value("[data-testid=defaulter-reason]").await,
        "sick",
        "the reason was saved"
    );

    // Coverage of her birth month: her birth dose from the card and BCG given here count.
    let month = format!("{:02}/{}", u8::from(birth.month()), birth.year());
    let neighbour_birth = neighbours[0].birth_date.earliest_day();
    let same_month =
        (neighbour_birth.year(), neighbour_birth.month()) == (birth.year(), birth.month());
    ui.type_into("#coverage-cohort", "20x5").await;
    ui.click("[data-testid=coverage-show]").await;
    ui.wait_text(
        "[data-testid=coverage] [data-testid=error-box]",
        "a cohort typed wrong is refused",
        |t| t.contains("20x5") && t.contains("không hợp lệ"),
    )
    .await;
    ui.type_into("#coverage-cohort", &month).await;
    ui.click("[data-testid=coverage-show]").await;
    let children = if same_month { "3" } else { "1" };
    ui.wait_text(
        "[data-testid=coverage-children]",
        "the month's children",
        |t| t == children,
    )
    .await;
    if !same_month {
        // The birth dose within 24 hours is on time; BCG at 75 days counts but is late.
        for (row, cell, want) in [
            ("hepb_birth", "on-time", "1/1 (100,0 %)"),
            ("bcg", "reached", "1/1 (100,0 %)"),
            ("bcg", "on-time", "0/1 (0,0 %)"),
        ] {
            assert_eq!(
                ui.text(&format!(
                    "[data-testid=coverage-{row}] [data-testid={cell}]"
                ))
                .await,
                want,
                "{row} {cell}"
            );
        }
        assert_eq!(
            ui.text("[data-testid=coverage-measles1] [data-testid=by-12]")
                .await,
            "0/0",
            "nobody is 12 months old yet"
        );
    }
    ui.client
        .execute(
            "document.querySelector('[data-testid=coverage]').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scrolled to the coverage");
    ui.shot("23-coverage").await;

    // Synced: the server holds the birth dose as history, given by the hospital's nurse.
    ui.click("[data-testid=sync-now]").await;
    ui.wait_text("[data-testid=pending-count]", "everything synced", |t| {
        t == "0"
    })
    .await;
    let held: Vec<(String, String)> = sotiem_server::with_db!(&lab.server.db, pool => {
        sqlx::query_as(
            "SELECT d.facility, d.vaccinator FROM doses d JOIN documents p ON p.person_id = d.person_id
             WHERE p.full_name = 'Con bà Phạm Thị Hoa' AND d.vaccine = 'hepb'",
        )
            .fetch_all(pool)
            .await
            .expect("doses")
    });
    assert_eq!(held, vec![(String::new(), "NHS Trần Thị Mỹ".to_string())]);
}
