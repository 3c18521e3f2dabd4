//! The `sotiem` command line, run as a real process on a real encrypted store.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Cli {
    data: PathBuf,
    key: String,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let key: String = (0..32)
            .map(|i| format!("{:02x}", (i * 37 + 11) % 256))
            .collect();
        let cli = Cli {
            data: dir.path().join("tram"),
            key,
            _dir: dir,
        };
        let out = cli.run(&[
            "init",
            "--facility",
            "TYT-TANNHUT",
            "--name",
            "Trạm Y tế xã Tân Nhựt",
            "--province",
            "TP Hồ Chí Minh",
            "--commune",
            "Xã Tân Nhựt",
        ]);
        assert!(
            out.status.success(),
            "init failed ({:?}): {} {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cli
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sotiem"))
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env("SOTIEM_DB_KEY", &self.key)
            .env("SOTIEM_USER", "nv.lan")
            .output()
            .unwrap()
    }

    /// Runs with `--json` and parses standard output.
    fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.code().unwrap_or(-1), v)
    }

    /// Runs and returns trimmed standard output, failing the test if the command failed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn counts(&self) -> (i64, i64, i64) {
        let (_, s) = self.json(&["status"]);
        (
            s["persons"].as_i64().unwrap(),
            s["doses"].as_i64().unwrap(),
            s["audit_entries"].as_i64().unwrap(),
        )
    }
}

fn add_an(cli: &Cli) -> String {
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

#[test]
fn a_nurse_registers_records_finds_and_shows_a_person() {
    let cli = Cli::new();
    let id = add_an(&cli);
    assert_eq!(id.len(), 36, "prints the new id: {id}");
    let dose = cli.ok(&[
        "dose",
        "add",
        "--person",
        &id,
        "--vaccine",
        "EU/1/21/1529",
        "--lot",
        "a1234",
        "--dose",
        "1",
        "--at",
        "2021-09-20T08:30:00+07:00",
    ]);
    // The next dose number is proposed when not given.
    let (code, second) = cli.json(&[
        "dose",
        "add",
        "--person",
        &id,
        "--vaccine",
        "astrazeneca",
        "--lot",
        "A5678",
    ]);
    assert_eq!(code, 0);
    assert_eq!(second["dose_number"], 2);
    assert_eq!(second["kind"], "primary");

    let (_, found) = cli.json(&[
        "person",
        "find",
        "--name",
        "nguyen van an",
        "--phone",
        "0912345678",
    ]);
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["id"], id.as_str());
    assert_eq!(found[0]["active_doses"], 2);

    let (_, shown) = cli.json(&["person", "show", &id]);
    assert_eq!(shown["person"]["full_name"], "Nguyễn Văn An");
    assert_eq!(shown["person"]["phone"], "0912345678");
    assert_eq!(shown["person"]["doses"][&dose]["lot"], "A1234");
    assert_eq!(
        shown["person"]["doses"][&dose]["given_at"],
        "2021-09-20T08:30:00+07:00"
    );
    assert_eq!(shown["next_dose_number"], 3);
    let text = cli.ok(&["person", "show", &id]);
    assert!(text.contains("Ngày sinh:    02/03/1985"), "{text}");
    assert!(text.contains("Vaxzevria"), "{text}");
}

#[test]
fn a_cccd_qr_code_registers_the_card_holder() {
    let cli = Cli::new();
    let id = cli.ok(&[
        "person",
        "add",
        "--qr",
        "079303004321|025123456|Trần Thị Bích Ngọc|17112003|Nữ|Ấp 3, Xã Tân Nhựt, TP Hồ Chí Minh|01022022\r\n",
        "--phone",
        "0903 123 456",
    ]);
    let (_, shown) = cli.json(&["person", "show", &id]);
    let p = &shown["person"];
    assert_eq!(p["full_name"], "Trần Thị Bích Ngọc");
    assert_eq!(p["gender"], "female");
    assert_eq!(p["birth_date"], "2003-11-17");
    assert_eq!(p["identity"]["number"], "079303004321");
    assert_eq!(p["address"]["detail"], "Ấp 3, Xã Tân Nhựt, TP Hồ Chí Minh");
    // The six-field variant (no old ID) works too.
    let six = cli.ok(&[
        "person",
        "add",
        "--qr",
        "092099123456|Lê Hoàng Long|31121999|Nam|Phường Ninh Kiều, Cần Thơ|05052021",
    ]);
    assert_eq!(six.len(), 36);
}

#[test]
fn search_ignores_case_diacritics_and_d_stroke_but_needs_two_fields() {
    let cli = Cli::new();
    let id = cli.ok(&[
        "person",
        "add",
        "--name",
        "Đặng Thị Hường",
        "--gender",
        "nu",
        "--dob",
        "1962",
        "--cccd",
        "036162001234",
        "--phone",
        "0388123456",
    ]);
    for name in [
        "dang thi huong",
        "ĐẶNG THỊ HƯỜNG",
        "Dang  Thi Huong",
        "đặng thị hương",
    ] {
        let (_, found) = cli.json(&["person", "find", "--name", name, "--phone", "0388 123 456"]);
        assert_eq!(found[0]["id"], id.as_str(), "{name}");
        let (_, by_id) = cli.json(&["person", "find", "--name", name, "--id", "036162001234"]);
        assert_eq!(by_id[0]["id"], id.as_str(), "{name}");
    }
    let (_, other_phone) = cli.json(&[
        "person",
        "find",
        "--name",
        "dang thi huong",
        "--phone",
        "0388123457",
    ]);
    assert_eq!(other_phone.as_array().unwrap().len(), 0);
    let (_, other_name) = cli.json(&[
        "person",
        "find",
        "--name",
        "dang thi",
        "--phone",
        "0388123456",
    ]);
    assert_eq!(
        other_name.as_array().unwrap().len(),
        0,
        "the full name is required"
    );
    // A single field is refused before anything is looked up.
    let out = cli.run(&["person", "find", "--name", "dang thi huong"]);
    assert_eq!(out.status.code(), Some(2));
    let (code, err) = cli.json(&["person", "find", "--name", "  ", "--phone", "0388123456"]);
    assert_eq!(code, 2);
    assert_eq!(err["error"]["code"], "search_needs_two_fields");
}

#[test]
fn invalid_input_names_the_field_exits_2_and_writes_nothing() {
    let cli = Cli::new();
    let id = add_an(&cli);
    let before = cli.counts();
    let cases: &[(&[&str], &str, &str)] = &[
        // A man born in 1990 cannot have 1 (female, 1900s) as the fourth digit.
        (
            &[
                "person",
                "add",
                "--name",
                "Lê Văn Bình",
                "--gender",
                "nam",
                "--dob",
                "1990",
                "--cccd",
                "001190012345",
            ],
            "id_number",
            "cccd_gender_century",
        ),
        (
            &[
                "person",
                "add",
                "--name",
                "Lê Văn Bình",
                "--gender",
                "nam",
                "--dob",
                "1990",
                "--cccd",
                "001091012345",
            ],
            "id_number",
            "cccd_birth_year",
        ),
        (
            &[
                "person",
                "add",
                "--name",
                "Lê Văn Bình",
                "--gender",
                "nam",
                "--dob",
                "1990",
                "--cccd",
                "099090012345",
            ],
            "id_number",
            "cccd_province",
        ),
        (
            &[
                "person",
                "add",
                "--name",
                "Lê Văn Bình",
                "--gender",
                "nam",
                "--dob",
                "1990",
                "--cmnd",
                "12345",
            ],
            "id_number",
            "cmnd_length",
        ),
        (
            &[
                "person",
                "add",
                "--name",
                "Lê Văn Bình",
                "--gender",
                "nam",
                "--dob",
                "31/02/1990",
            ],
            "birth_date",
            "date_format",
        ),
        (
            &[
                "person",
                "add",
                "--name",
                "Lê Văn Bình",
                "--gender",
                "nam",
                "--dob",
                "2090",
            ],
            "birth_date",
            "in_future",
        ),
        (
            &[
                "person",
                "add",
                "--name",
                "Lê Văn Bình",
                "--gender",
                "nam",
                "--dob",
                "1990",
                "--phone",
                "12345",
            ],
            "phone",
            "phone_format",
        ),
        (
            &["person", "add", "--qr", "001085012345|Nguyễn Văn An"],
            "cccd_qr",
            "qr_field_count",
        ),
        (
            &[
                "dose",
                "add",
                "--person",
                &id,
                "--vaccine",
                "Vắc xin X",
                "--lot",
                "A1",
            ],
            "vaccine",
            "unknown_vaccine",
        ),
        (
            &[
                "dose",
                "add",
                "--person",
                &id,
                "--vaccine",
                "pfizer",
                "--lot",
                "lô 5",
            ],
            "lot",
            "lot_format",
        ),
        (
            &[
                "dose",
                "add",
                "--person",
                &id,
                "--vaccine",
                "pfizer",
                "--lot",
                "A1",
                "--at",
                "2099-01-01T08:00:00+07:00",
            ],
            "given_at",
            "in_future",
        ),
        (
            &[
                "dose",
                "add",
                "--person",
                &id,
                "--vaccine",
                "pfizer",
                "--lot",
                "A1",
                "--at",
                "1984-01-01T08:00:00+07:00",
            ],
            "given_at",
            "before_birth",
        ),
        (
            &[
                "dose",
                "add",
                "--person",
                &id,
                "--vaccine",
                "pfizer",
                "--lot",
                "A1",
                "--dose",
                "11",
            ],
            "dose_number",
            "dose_number_range",
        ),
        (
            &["person", "edit", &id, "--phone", "0123"],
            "phone",
            "phone_format",
        ),
        (
            &["person", "edit", &id, "--dob", "1986"],
            "id_number",
            "cccd_birth_year",
        ),
    ];
    for (args, field, problem) in cases {
        let (code, err) = cli.json(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        let fields = err["error"]["fields"].as_array().unwrap();
        assert!(
            fields
                .iter()
                .any(|f| f["field"] == *field && f["problem"] == *problem),
            "{args:?}: expected {field}/{problem}, got {err}"
        );
        let msg = fields[0]["message"].as_str().unwrap();
        assert!(!msg.is_empty() && msg.is_char_boundary(0), "{msg}");
    }
    // The human form names the field too, in Vietnamese.
    let out = cli.run(&[
        "person",
        "add",
        "--name",
        "Lê Văn Bình",
        "--gender",
        "nam",
        "--dob",
        "1990",
        "--phone",
        "12",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("trường `phone` (Số điện thoại)"),
        "{stderr}"
    );
    assert_eq!(cli.counts(), before, "nothing was written");
}

#[test]
fn the_same_id_number_cannot_be_registered_twice() {
    let cli = Cli::new();
    let first = add_an(&cli);
    let (code, err) = cli.json(&[
        "person",
        "add",
        "--name",
        "Nguyễn Văn An",
        "--gender",
        "nam",
        "--dob",
        "1985",
        "--cccd",
        "001 085 012 345",
    ]);
    assert_eq!(code, 2);
    assert_eq!(err["error"]["fields"][0]["problem"], "duplicate_id");
    assert!(err["error"]["message"].as_str().unwrap().contains(&first));
}

#[test]
fn a_dose_is_voided_with_a_reason_and_never_deleted() {
    let cli = Cli::new();
    let id = add_an(&cli);
    let dose = cli.ok(&[
        "dose",
        "add",
        "--person",
        &id,
        "--vaccine",
        "sinopharm",
        "--lot",
        "202108B1",
    ]);
    let (code, err) = cli.json(&["dose", "void", &dose, "--reason", "x"]);
    assert_eq!(
        (code, err["error"]["fields"][0]["field"].as_str()),
        (2, Some("void_reason"))
    );
    cli.ok(&["dose", "void", &dose, "--reason", "Nhập nhầm người"]);
    let (_, shown) = cli.json(&["person", "show", &id]);
    let d = &shown["person"]["doses"][&dose];
    assert_eq!(d["voided"]["reason"], "Nhập nhầm người");
    assert_eq!(d["voided"]["by"], "nv.lan");
    assert_eq!(shown["next_dose_number"], 1, "a voided dose does not count");
    let (code, err) = cli.json(&["dose", "void", &dose, "--reason", "Nhập nhầm lần hai"]);
    assert_eq!(
        (code, err["error"]["fields"][0]["problem"].as_str()),
        (2, Some("already_voided"))
    );
    // The same dose number can be entered again after a void.
    cli.ok(&[
        "dose",
        "add",
        "--person",
        &id,
        "--vaccine",
        "sinopharm",
        "--lot",
        "202108B1",
        "--dose",
        "1",
    ]);
    let (code, err) = cli.json(&[
        "dose",
        "add",
        "--person",
        &id,
        "--vaccine",
        "sinopharm",
        "--lot",
        "X1",
        "--dose",
        "1",
    ]);
    assert_eq!(
        (code, err["error"]["fields"][0]["problem"].as_str()),
        (2, Some("already_recorded"))
    );
    let checked = cli.ok(&["check"]);
    assert!(checked.contains("nguyên vẹn"), "{checked}");
    assert!(cli.ok(&["audit", "verify"]).contains("chuỗi băm khớp"));
}

#[test]
fn an_edit_of_a_matching_field_resets_verification_and_is_audited() {
    let cli = Cli::new();
    let id = add_an(&cli);
    let (_, before) = cli.json(&["status"]);
    let (_, edited) = cli.json(&[
        "person",
        "edit",
        &id,
        "--name",
        "nguyễn  văn  ân",
        "--phone",
        "",
    ]);
    assert_eq!(edited["full_name"], "nguyễn văn ân");
    assert_eq!(edited["phone"], Value::Null);
    assert_eq!(edited["verification"]["status"], "unverified");
    let (_, after) = cli.json(&["status"]);
    assert_eq!(
        after["audit_entries"].as_i64(),
        before["audit_entries"].as_i64().map(|n| n + 1)
    );
}

#[test]
fn commands_on_a_directory_without_a_station_say_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sotiem"))
        .args(["--data"])
        .arg(dir.path())
        .args(["person", "show", "01a20973-de73-7349-af78-c47f193d42df"])
        .env("SOTIEM_DB_KEY", "00".repeat(32))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("init --facility"));
    assert!(
        !Path::new(&dir.path().join("station.db")).exists(),
        "nothing was created"
    );
}

mod sync {
    use super::*;
    use sotiem_server::admin::{self, FacilityRecord};
    use sotiem_server::{Db, Server};

    /// A central server in this test process, serving on a free loopback port.
    async fn server(dir: &Path) -> (String, Db) {
        let db = Db::open_sqlite(&dir.join("server.db"), None).await.unwrap();
        admin::add_facility(
            &db,
            &FacilityRecord {
                code: "TYT-TANNHUT".into(),
                name: "Trạm Y tế xã Tân Nhựt".into(),
                kind: "commune_station".into(),
                province: Some("TP Hồ Chí Minh".into()),
                commune: Some("Xã Tân Nhựt".into()),
                parent: None,
            },
        )
        .await
        .unwrap();
        let server = Server::start(db.clone()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(server.serve(listener, std::future::pending()));
        (url, db)
    }

    async fn run(cli: &Cli, args: Vec<String>) -> Output {
        let cli_data = cli.data.clone();
        let key = cli.key.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_sotiem"))
                .arg("--data")
                .arg(cli_data)
                .args(args)
                .env("SOTIEM_DB_KEY", key)
                .env("SOTIEM_USER", "nv.lan")
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stations_sync_through_the_server_from_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let (url, db) = server(dir.path()).await;
        let t1 = admin::add_device(&db, "TYT-TANNHUT", "Laptop 1")
            .await
            .unwrap()
            .token;
        let t2 = admin::add_device(&db, "TYT-TANNHUT", "Laptop 2")
            .await
            .unwrap()
            .token;
        let (a, b) = tokio::task::spawn_blocking(|| (Cli::new(), Cli::new()))
            .await
            .unwrap();

        let not_configured = run(&a, strings(&["sync"])).await;
        assert_eq!(not_configured.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&not_configured.stderr).contains("sotiem sync --server"));

        let id = tokio::task::spawn_blocking({
            let a_data = a.data.clone();
            let key = a.key.clone();
            move || {
                let cli = Cli {
                    data: a_data,
                    key,
                    _dir: tempfile::tempdir().unwrap(),
                };
                let id = add_an(&cli);
                cli.ok(&[
                    "dose",
                    "add",
                    "--person",
                    &id,
                    "--vaccine",
                    "pfizer",
                    "--lot",
                    "FF2588",
                ]);
                id
            }
        })
        .await
        .unwrap();
        let out = run(&a, strings(&["sync", "--server", &url, "--token", &t1])).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("Đã gửi: 2 thay đổi"));
        let status = run(&a, strings(&["--json", "sync", "status"])).await;
        let status: Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(status["pending_changes"], 0);
        assert_eq!(status["server_url"], url.as_str());
        assert!(status["last_sync_at"].is_string());

        let wrong = run(
            &b,
            strings(&[
                "sync",
                "--server",
                &url,
                "--token",
                "stk_sai",
                "--attempts",
                "1",
            ]),
        )
        .await;
        assert_eq!(wrong.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&wrong.stderr).contains("mã thiết bị không đúng"));
        let out = run(
            &b,
            strings(&["--json", "sync", "--server", &url, "--token", &t2]),
        )
        .await;
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["bootstrapped"], 1);
        let found = run(
            &b,
            strings(&[
                "--json",
                "person",
                "find",
                "--name",
                "nguyen van an",
                "--phone",
                "0912345678",
            ]),
        )
        .await;
        let found: Value = serde_json::from_slice(&found.stdout).unwrap();
        assert_eq!(found[0]["id"], id.as_str());
        assert_eq!(found[0]["active_doses"], 1);
        db.close().await;
    }
}
