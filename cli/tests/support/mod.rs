//! What the command line's scenarios share: a central server in the test process and a station
//! driven through the `sotiem` program, this build's or (for the Windows leg) the Windows
//! `sotiem.exe` under Wine.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A central server in this test process, on a runtime of its own.
pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub url: String,
    pub db: sotiem_server::Db,
    pub state: sotiem_server::AppState,
    pub _dir: tempfile::TempDir,
}

impl Harness {
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let path = dir.path().join("server.db");
        let (url, db, state) = rt.block_on(async move {
            let db = sotiem_server::Db::open_sqlite(&path, None).await.unwrap();
            for (code, commune) in [("TYT-TANNHUT", "Xã Tân Nhựt"), ("TYT-TANTUC", "Xã Tân Túc")]
            {
                sotiem_server::admin::add_facility(
                    &db,
                    &sotiem_server::admin::FacilityRecord {
                        code: code.into(),
                        name: format!("Trạm Y tế {commune}"),
                        kind: "commune_station".into(),
                        province: Some("TP Hồ Chí Minh".into()),
                        commune: Some(commune.into()),
                        parent: None,
                    },
                )
                .await
                .unwrap();
            }
            let server = sotiem_server::Server::start(db.clone()).await.unwrap();
            let state = server.state.clone();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(server.serve(listener, std::future::pending()));
            (url, db, state)
        });
        Harness {
            rt,
            url,
            db,
            state,
            _dir: dir,
        }
    }

    /// A new account (initial password [`INITIAL`]) and a device token for `facility`.
    pub fn account(
        &self,
        username: &str,
        facility: &str,
        role: sync_protocol::auth::Role,
    ) -> String {
        self.rt.block_on(async {
            sotiem_server::accounts::create_account(
                &self.db,
                &sync_protocol::auth::NewAccount {
                    username: username.into(),
                    facility: facility.into(),
                    role,
                    full_name: "Nguyễn Thị Lan".into(),
                    gender: None,
                    position: None,
                    email: None,
                    phone: None,
                    initial_password: INITIAL.into(),
                },
            )
            .await
            .unwrap();
            sotiem_server::admin::add_device(&self.db, facility, "Laptop")
                .await
                .unwrap()
                .token
        })
    }
}

pub const INITIAL: &str = "Khoi@tao2024";
pub const PASSWORD: &str = "Tiem@chung2024";

/// The `sotiem` program a scenario drives.
#[derive(Clone, Debug)]
pub enum Program {
    /// This build's own (`CARGO_BIN_EXE_sotiem`).
    Native,
    /// The Windows `sotiem.exe` run by `runner` (Wine), as `scripts/windows` names them.
    Windows { exe: PathBuf, runner: PathBuf },
}

impl Program {
    /// The Windows program from `SOTIEM_WINDOWS_SOTIEM` and `SOTIEM_WINDOWS_RUNNER`; a run of the
    /// Windows scenarios without them is a mistake, said loudly rather than passed.
    pub fn windows_from_env() -> Program {
        let var = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    panic!("{name} is not set: the Windows scenarios run from scripts/windows")
                })
        };
        Program::Windows {
            exe: var("SOTIEM_WINDOWS_SOTIEM"),
            runner: var("SOTIEM_WINDOWS_RUNNER"),
        }
    }

    /// A command that runs the program.
    pub fn command(&self) -> Command {
        match self {
            Program::Native => Command::new(env!("CARGO_BIN_EXE_sotiem")),
            Program::Windows { exe, runner } => {
                let mut c = Command::new(runner);
                c.arg(exe);
                c
            }
        }
    }

    /// A path of this machine as the program names it: under Wine, drive Z: is the Linux root.
    pub fn path(&self, path: &Path) -> String {
        match self {
            Program::Native => path.display().to_string(),
            Program::Windows { .. } => format!("Z:{}", path.display()).replace('/', "\\"),
        }
    }
}

/// A station driven through the program, signed in as one account.
pub struct Cli {
    pub program: Program,
    pub data: PathBuf,
    pub key: String,
    pub user: String,
    pub secret: Vec<u8>,
    pub last_step: std::cell::Cell<u64>,
    pub _dir: tempfile::TempDir,
}

/// The one-time code step of this moment.
fn current_step() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

static NEXT_USER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Cli {
    /// A path of this machine as the program names it.
    pub fn path(&self, path: &Path) -> String {
        self.program.path(path)
    }

    /// A station of TYT-TANNHUT, signed in from the command line as a new vaccinator through
    /// the whole first-login flow.
    pub fn new(h: &Harness) -> Cli {
        Cli::of(h, "TYT-TANNHUT", sync_protocol::auth::Role::Vaccinator)
    }

    /// A station of `facility` in `tram`, signed in as a new account of `role`.
    pub fn of(h: &Harness, facility: &str, role: sync_protocol::auth::Role) -> Cli {
        Cli::start(h, facility, role, Program::Native, "tram")
    }

    /// A station of `facility` in the directory `dir_name` (under a fresh temporary one), run
    /// by `program`, signed in as a new account of `role` through the whole first login.
    pub fn start(
        h: &Harness,
        facility: &str,
        role: sync_protocol::auth::Role,
        program: Program,
        dir_name: &str,
    ) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let key: String = (0..32)
            .map(|i| format!("{:02x}", (i * 37 + 11) % 256))
            .collect();
        let user = format!(
            "nv.{}",
            NEXT_USER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let mut cli = Cli {
            program,
            data: dir.path().join(dir_name),
            key,
            user: user.clone(),
            secret: Vec::new(),
            last_step: std::cell::Cell::new(0),
            _dir: dir,
        };
        let commune = if facility == "TYT-TANTUC" {
            "Xã Tân Túc"
        } else {
            "Xã Tân Nhựt"
        };
        let out = cli.run(&[
            "init",
            "--facility",
            facility,
            "--name",
            "Trạm Y tế",
            "--province",
            "TP Hồ Chí Minh",
            "--commune",
            commune,
        ]);
        assert!(
            out.status.success(),
            "init failed ({:?}): {} {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let token = h.account(&user, facility, role);
        let (_, step) = cli.json_env(
            &[
                "login", "--user", &user, "--server", &h.url, "--token", &token,
            ],
            &[("SOTIEM_PASSWORD", INITIAL)],
        );
        assert_eq!(step["next"], "enroll_otp", "{step}");
        cli.secret = totp_rs::Secret::try_from_base32(step["otp_secret_base32"].as_str().unwrap())
            .unwrap()
            .as_bytes()
            .to_vec();
        let code = cli.code();
        let (_, step) = cli.json_env(
            &["login", "--enroll", step["challenge"].as_str().unwrap()],
            &[("SOTIEM_OTP", &code), ("SOTIEM_PASSWORD", INITIAL)],
        );
        assert_eq!(step["next"], "change_password", "{step}");
        let (_, step) = cli.json_env(
            &[
                "login",
                "--change-password",
                step["challenge"].as_str().unwrap(),
            ],
            &[("SOTIEM_NEW_PASSWORD", PASSWORD)],
        );
        assert_eq!(step["next"], "done", "{step}");
        cli.session_opened();
        cli
    }

    /// A fresh one-time code (a code is accepted once; one step ahead is within the skew).
    pub fn code(&self) -> String {
        loop {
            let now = current_step();
            let step = now.max(self.last_step.get() + 1);
            if step <= now + 1 {
                self.last_step.set(step);
                return sync_protocol::auth::otp_code(&self.secret, step * 30).unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Runs the program on this station with `env` added.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.program
            .command()
            .arg("--data")
            .arg(self.program.path(&self.data))
            .args(args)
            .env("SOTIEM_DB_KEY", &self.key)
            .env_remove("SOTIEM_OTP")
            .env_remove("SOTIEM_PASSWORD")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Records a dose of Comirnaty (lot FF2588) given now to the person `id`.
    pub fn dose_today(&self, id: &str) -> String {
        self.ok(&[
            "dose",
            "add",
            "--person",
            id,
            "--vaccine",
            "pfizer",
            "--lot",
            "FF2588",
        ])
    }

    /// Sets the head of station's recovery passphrase, which backups need.
    pub fn set_recovery_passphrase(&self, pass: &str) {
        let set = self.run_env(
            &["backup", "passphrase"],
            &[("SOTIEM_RECOVERY_PASSPHRASE", pass)],
        );
        assert!(
            set.status.success(),
            "{}",
            String::from_utf8_lossy(&set.stderr)
        );
    }

    /// After a sign-in that opened a session: the station spends the step the session opened
    /// in as well as the code's (`open_online_session`), so the next code must come from a
    /// later step. A slow program (Windows under Wine) can open it a step after the code's.
    pub fn session_opened(&self) {
        self.last_step.set(self.last_step.get().max(current_step()));
    }

    pub fn json_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run_env(&all, env);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }

    /// Runs with `--json` and parses standard output.
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.code().unwrap_or(-1), v)
    }

    /// Runs and returns trimmed standard output, failing the test if the command failed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn counts(&self) -> (i64, i64, i64) {
        let (_, s) = self.json(&["status"]);
        (
            s["persons"].as_i64().unwrap(),
            s["doses"].as_i64().unwrap(),
            s["audit_entries"].as_i64().unwrap(),
        )
    }
}

/// Registers Nguyễn Văn An and returns his id.
pub fn add_an(cli: &Cli) -> String {
    cli.ok(&[
        "person",
        "add",
        "--name",
        "Nguyễn Văn An",
        "--gender",
        "nam",
        "--dob",
        "1985-03-02",
        "--cccd",
        "001085012345",
        "--phone",
        "+84 912 345 678",
        "--address",
        "Số 12 Ấp 3",
    ])
}

/// The population registry agrees with Nguyễn Văn An of [`add_an`]: the server's verification
/// pass marks him matched (it syncs down with the next sync).
pub fn registry_matches_an(h: &Harness) {
    let mut registry = sotiem_server::registry::RegistryFile::default();
    registry.add(sotiem_server::registry::RegistryRecord {
        id_number: "001085012345".into(),
        old_cmnd: None,
        full_name: "Nguyễn Văn An".into(),
        gender: sync_protocol::Gender::Male,
        birth_date: sync_protocol::BirthDate::parse("1985-03-02").unwrap(),
    });
    let pass =
        h.rt.block_on(sotiem_server::registry::verify_people(
            &h.state,
            &registry,
            sotiem_server::registry::PassScope::Unverified,
        ))
        .unwrap();
    assert_eq!(pass.by_status.get("matched"), Some(&1), "{pass:?}");
}

/// A head of station's signing of the day, on whichever program: a nurse records Nguyễn Văn
/// An's dose and syncs; the token (SoftHSM2, made on Linux) shows its certificates; the head
/// registers one with the token's signature and a fresh code, previews the day, is refused for a
/// certificate the token lacks and for a wrong PIN, signs with the right one; the server accepts
/// the run, and its exported files verify with openssl against the test CA.
pub struct SignedDay {
    pub nurse: Cli,
    pub head: Cli,
    /// Nguyễn Văn An's id.
    pub id: String,
    pub token: sotiem_scenarios::softhsm::SoftToken,
    /// The token's folder (CAs, certificates, the tokens themselves).
    pub tokens: tempfile::TempDir,
}

/// Runs [`SignedDay`] with `module` (as the program names it) and the SoftHSM2 configuration
/// `conf` gives for the token (a path of this machine).
pub fn sign_the_day(
    h: &Harness,
    program: &Program,
    module: &str,
    conf: impl Fn(&sotiem_scenarios::softhsm::SoftToken) -> PathBuf,
) -> SignedDay {
    use sotiem_scenarios::softhsm::{PIN, SoftToken};
    use sync_protocol::auth::Role;
    let nurse = Cli::start(
        h,
        "TYT-TANNHUT",
        Role::Vaccinator,
        program.clone(),
        "Trạm Y tế",
    );
    let id = add_an(&nurse);
    nurse.dose_today(&id);
    nurse.ok(&["sync"]);
    registry_matches_an(h);

    let tokens = tempfile::tempdir().unwrap();
    let token = SoftToken::create(tokens.path());
    let conf = conf(&token);
    h.state
        .trust
        .add(&std::fs::read(&token.ca_pem).unwrap())
        .unwrap();
    let head = Cli::start(
        h,
        "TYT-TANNHUT",
        Role::Signer,
        program.clone(),
        "Trưởng trạm",
    );
    let run = |args: &[&str], pin: &str, otp: Option<&str>| {
        let mut env = vec![
            ("SOFTHSM2_CONF", head.path(&conf)),
            ("SOTIEM_PKCS11_MODULE", module.to_string()),
            ("SOTIEM_PIN", pin.to_string()),
        ];
        if let Some(code) = otp {
            env.push(("SOTIEM_OTP", code.to_string()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        head.json_env(args, &env)
    };
    let (code, listing) = run(&["sign", "tokens"], "", None);
    assert_eq!(code, 0, "{listing}");
    assert_eq!(listing[0]["module"], module, "{listing}");
    let certs = listing[0]["certificates"].as_array().unwrap();
    let rsa = certs
        .iter()
        .find(|c| c["id"] == token.rsa.id.as_str())
        .unwrap_or_else(|| panic!("the RSA certificate in {listing}"));
    let serial = rsa["serial"].as_str().unwrap().to_string();
    // The head registers the certificate: the token signs, a fresh code is given.
    let otp = head.code();
    let (code, registered) = run(
        &["sign", "register", "--cert", &token.rsa.id],
        PIN,
        Some(&otp),
    );
    assert_eq!(code, 0, "{registered}");
    assert_eq!(
        registered[0]["serial"].as_str().map(str::to_lowercase),
        Some(serial.to_lowercase())
    );
    assert!(
        registered[0]["issuer"]
            .as_str()
            .is_some_and(|i| i.contains("SoTiemTestCA")),
        "registered with its issuer: {registered}"
    );
    let (code, report) = head.json(&["sync"]);
    assert_eq!(code, 0, "{report}");

    let today = time::OffsetDateTime::now_utc()
        .to_offset(sync_protocol::VIETNAM)
        .date()
        .to_string();
    let day = ["--from", today.as_str(), "--to", today.as_str()];
    let (code, preview) = run(&[&["sign", "preview"][..], &day].concat(), "", None);
    assert_eq!(code, 0, "{preview}");
    assert_eq!(
        preview["doses"].as_array().map(Vec::len),
        Some(1),
        "{preview}"
    );
    let signing = |cert: &str, pin: &str| {
        run(
            &[
                &["sign", "run"][..],
                &day,
                &["--cert", cert, "--expect", "1"],
            ]
            .concat(),
            pin,
            None,
        )
    };
    let (code, missing) = signing("ffff", PIN);
    assert_ne!(code, 0);
    assert_eq!(missing["error"]["code"], "token_certificate", "{missing}");
    let (code, wrong) = signing(&token.rsa.id, "0000");
    assert_ne!(code, 0);
    assert_eq!(wrong["error"]["code"], "pin_incorrect", "{wrong}");
    let (code, signed) = signing(&token.rsa.id, PIN);
    assert_eq!(code, 0, "{signed}");
    assert_eq!(signed["runs_planned"], 1, "{signed}");
    let batch = &signed["runs"][0];
    assert_eq!(batch["status"], "pending");
    let (code, report) = head.json(&["sync"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["batches_accepted"], 1,
        "the server verified it: {report}"
    );
    let (_, runs) = head.json(&["sign", "list"]);
    assert_eq!(runs[0]["status"], "accepted", "{runs}");
    // The run's files, in a folder named in Vietnamese, verify with openssl on this machine.
    let out = tokens.path().join("Lượt ký hôm nay");
    head.ok(&[
        "sign",
        "export",
        batch["batch_id"].as_str().unwrap(),
        "--out",
        &head.path(&out),
    ]);
    let files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    let find = |ext: &str| {
        files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap_or_else(|| panic!("a .{ext} file in {files:?}"))
    };
    assert!(sotiem_scenarios::softhsm::openssl_verifies(
        tokens.path(),
        &std::fs::read(find("p7s")).unwrap(),
        &std::fs::read(find("manifest")).unwrap(),
        &token.ca_pem
    ));
    SignedDay {
        nurse,
        head,
        id,
        token,
        tokens,
    }
}

/// Replaces the last device registered (a lost laptop) and returns the new device's token.
pub fn replace_last_device(h: &Harness) -> String {
    h.rt.block_on(async {
        let devices = sotiem_server::admin::devices(&h.db).await.unwrap();
        let old = devices.last().unwrap().id.clone();
        sotiem_server::admin::replace_device(&h.db, &old, "Laptop mới")
            .await
            .unwrap()
            .token
    })
}

impl Program {
    /// `sotiem restore` of `backup` into the empty directory `data`, joining the server with a
    /// replacement device `token`, the recovery passphrase `pass` given.
    pub fn restore(
        &self,
        h: &Harness,
        data: &Path,
        backup: &str,
        token: &str,
        pass: &str,
    ) -> Output {
        self.command()
            .arg("--data")
            .arg(self.path(data))
            .args([
                "--json", "restore", backup, "--server", &h.url, "--token", token,
            ])
            .env("SOTIEM_DB_KEY", "33".repeat(32))
            .env("SOTIEM_RECOVERY_PASSPHRASE", pass)
            .output()
            .unwrap()
    }
}
