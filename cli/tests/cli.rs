//! The `sotiem` command line, run as a real process on a real encrypted store.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use support::*;

#[test]
fn a_nurse_registers_records_finds_and_shows_a_person() {
    let h = Harness::new();
    let cli = Cli::new(&h);
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
    let h = Harness::new();
    let cli = Cli::new(&h);
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
    // A newer card's extra fields and a trailing separator are read like the seven.
    let newer = cli.ok(&[
        "person",
        "add",
        "--qr",
        "079190123456||Nguyễn Thị Mai|17051990|Nữ|12 Nguyễn Trãi, Xã Tân Nhựt|01072021|A2|",
    ]);
    let (_, shown) = cli.json(&["person", "show", &newer]);
    assert_eq!(shown["person"]["full_name"], "Nguyễn Thị Mai");
    // A scanner on a US layout dropped the diacritics: refused as input, with what to do,
    // and nothing registered.
    let before = cli.counts();
    let stripped = cli.run(&[
        "person",
        "add",
        "--qr",
        "051085012345||Tran Van Hung|02031985|Nam|Thon 2, Xa Tinh Ky, Quang Ngai|15082021",
    ]);
    assert_eq!(stripped.status.code(), Some(2));
    let text = String::from_utf8_lossy(&stripped.stderr);
    assert!(
        text.contains("mất dấu") && text.contains("Unicode"),
        "{text}"
    );
    assert_eq!(cli.counts(), before);
}

#[test]
fn search_ignores_case_diacritics_and_d_stroke_but_needs_two_fields() {
    let h = Harness::new();
    let cli = Cli::new(&h);
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
    let h = Harness::new();
    let cli = Cli::new(&h);
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
    let h = Harness::new();
    let cli = Cli::new(&h);
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
    let h = Harness::new();
    let cli = Cli::new(&h);
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
    assert_eq!(d["voided"]["by"], cli.user.as_str());
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
    let h = Harness::new();
    let cli = Cli::new(&h);
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

#[test]
fn two_stations_sync_through_the_server_from_the_command_line() {
    let h = Harness::new();
    let a = Cli::new(&h);
    let b = Cli::new(&h);
    let id = add_an(&a);
    a.dose_today(&id);
    let out = a.run(&["sync"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Đã gửi: 2 thay đổi"));
    let (_, status) = a.json(&["sync", "status"]);
    assert_eq!(status["pending_changes"], 0);
    assert_eq!(status["server_url"], h.url.as_str());
    assert!(status["last_sync_at"].is_string());

    let wrong = b.run(&["sync", "--token", "stk_sai", "--attempts", "1"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("mã thiết bị không đúng"));
    let (code, report) = b.json(&["sync"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["bootstrapped"], 1);
    let (_, found) = b.json(&[
        "person",
        "find",
        "--name",
        "nguyen van an",
        "--phone",
        "0912345678",
    ]);
    assert_eq!(found[0]["id"], id.as_str());
    assert_eq!(found[0]["active_doses"], 1);
}

#[test]
fn a_station_that_never_synced_says_how_to_configure_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tram");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sotiem"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .env("SOTIEM_DB_KEY", "11".repeat(32))
            .output()
            .unwrap()
    };
    assert!(
        run(&["init", "--facility", "TYT-TANNHUT", "--name", "Trạm"])
            .status
            .success()
    );
    let out = run(&["login", "--user", "nv.lan"]);
    assert_ne!(out.status.code(), Some(0));
    let not_configured = run(&["sync"]);
    assert_ne!(not_configured.status.code(), Some(0));
    let text = String::from_utf8_lossy(&not_configured.stderr);
    assert!(
        text.contains("đăng nhập") || text.contains("sotiem sync --server"),
        "{text}"
    );
}

#[test]
fn signing_in_needs_password_and_a_fresh_code_and_signing_out_locks_the_data() {
    let h = Harness::new();
    let cli = Cli::new(&h);
    let (_, me) = cli.json(&["whoami"]);
    assert_eq!(me["account"]["username"], cli.user.as_str());
    assert_eq!(me["online"], true);
    cli.ok(&["logout"]);
    let (_, me) = cli.json(&["whoami"]);
    assert_eq!(me, Value::Null);
    let out = cli.run(&[
        "person",
        "find",
        "--name",
        "nguyen van an",
        "--phone",
        "0912345678",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chưa đăng nhập"));

    let wrong = cli.run_env(
        &["login", "--user", &cli.user],
        &[("SOTIEM_PASSWORD", PASSWORD), ("SOTIEM_OTP", "000000")],
    );
    assert_ne!(wrong.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("không đúng"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let code = cli.code();
    cli.run_env(
        &["login", "--user", &cli.user],
        &[("SOTIEM_PASSWORD", PASSWORD), ("SOTIEM_OTP", &code)],
    );
    let (_, me) = cli.json(&["whoami"]);
    assert_eq!(me["account"]["username"], cli.user.as_str());
    cli.ok(&["logout"]);
    // The same code again: refused, online and offline.
    let replay = cli.run_env(
        &["login", "--user", &cli.user],
        &[("SOTIEM_PASSWORD", PASSWORD), ("SOTIEM_OTP", &code)],
    );
    assert_ne!(replay.status.code(), Some(0));
    let replay = cli.run_env(
        &["login", "--offline", "--user", &cli.user],
        &[("SOTIEM_PASSWORD", PASSWORD), ("SOTIEM_OTP", &code)],
    );
    assert_ne!(replay.status.code(), Some(0));
    // Offline on the laptop alone, with a fresh code.
    let code = cli.code();
    let out = cli.run_env(
        &["login", "--offline", "--user", &cli.user],
        &[("SOTIEM_PASSWORD", PASSWORD), ("SOTIEM_OTP", &code)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, me) = cli.json(&["whoami"]);
    assert_eq!(me["online"], false);
    assert!(cli.ok(&["audit", "verify"]).contains("chuỗi băm khớp"));
}

#[test]
fn a_new_laptop_joins_its_facility_with_only_the_server_address_and_device_token() {
    let h = Harness::new();
    let token = h.account(
        "nv.moi",
        "TYT-TANTUC",
        sync_protocol::auth::Role::Vaccinator,
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tram");
    let join = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_sotiem"))
            .arg("--data")
            .arg(&data)
            .args(["--json", "join", "--server", &h.url, "--token", token])
            .env("SOTIEM_DB_KEY", "22".repeat(32))
            .output()
            .unwrap()
    };
    let refused = join("stk_khong_dung");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("mã thiết bị không đúng"),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    assert!(!data.join("station.db").exists(), "nothing created");

    let joined = join(&token);
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    let v: Value = serde_json::from_slice(&joined.stdout).unwrap();
    assert_eq!(v["facility"]["code"], "TYT-TANTUC");
    assert_eq!(v["facility"]["name"], "Trạm Y tế Xã Tân Túc");
    assert_eq!(v["facility"]["commune"], "Xã Tân Túc");
    let status = Command::new(env!("CARGO_BIN_EXE_sotiem"))
        .arg("--data")
        .arg(&data)
        .args(["--json", "sync", "status"])
        .env("SOTIEM_DB_KEY", "22".repeat(32))
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["server_url"],
        h.url.as_str(),
        "the server is remembered"
    );
    assert!(
        !join(&token).status.success(),
        "joining again never overwrites a station's data"
    );
}

#[test]
fn a_head_of_facility_signs_from_the_command_line_with_the_usb_token() {
    use sotiem_scenarios::softhsm::{MODULE, SoftToken};
    let h = Harness::new();
    let day = sign_the_day(&h, &Program::Native, MODULE, |token: &SoftToken| {
        token.conf.clone()
    });
    let (nurse, token, id) = (&day.nurse, &day.token, &day.id);

    // End of day: the server issues her passport; the nurse's station syncs, shows it, prints
    // it and checks a scanned one offline.
    let said = sotiem_scenarios::passports::end_of_day(
        "issue_passports_in_a_child_process",
        &h._dir.path().join("server.db"),
        token,
        &token.rsa.id,
    );
    assert!(said.contains("ISSUED 1 "), "{said}");
    nurse.ok(&["sync"]);
    let (code, status) = nurse.json(&["passport", "show", id]);
    assert_eq!(code, 0, "{status}");
    let hc1 = status["current"]["hc1"]
        .as_str()
        .expect("a valid passport")
        .to_string();
    let pdf = day.tokens.path().join("hộ chiếu.pdf");
    nurse.ok(&["passport", "print", id, "--out", &pdf.display().to_string()]);
    assert_eq!(sotiem_scenarios::passports::qr_in_pdf(&pdf), hc1);
    let (code, check) = nurse.json(&["passport", "verify", &hc1]);
    assert_eq!(code, 0, "{check}");
    assert_eq!(check["verdict"], "valid", "{check}");
    assert_eq!(check["accepted"], true);
    let (code, check) = nurse.json(&["passport", "verify", "HC1:6BFOXN*TS0BI$ZD4N9"]);
    assert_eq!(code, 3, "a refused passport exits 3: {check}");
    assert_eq!(check["accepted"], false, "{check}");
    let (code, none) = nurse.json(&[
        "passport",
        "print",
        "0190a000-0000-7000-8000-000000000000",
        "--out",
        "/tmp/x.pdf",
    ]);
    assert_ne!(code, 0, "{none}");
}

/// The end-of-day passport run, when a test starts this binary as a child for it (see
/// `sotiem_scenarios::passports`); nothing in a normal run.
#[test]
fn issue_passports_in_a_child_process() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(sotiem_scenarios::passports::issue_if_asked());
}

#[test]
fn the_cleaning_loop_runs_from_the_command_line() {
    let h = Harness::new();
    let nurse = Cli::new(&h);
    // Registered twice (the second time without the ID, from a paper form), and one person
    // with no ID at all.
    let an = add_an(&nurse);
    let twin = nurse.ok(&[
        "person",
        "add",
        "--name",
        "Nguyễn Văn An",
        "--gender",
        "nam",
        "--dob",
        "1985-03-02",
        "--phone",
        "0912345678",
    ]);
    let lan = nurse.ok(&[
        "person",
        "add",
        "--name",
        "Trần Thị Lan",
        "--gender",
        "nu",
        "--dob",
        "1990-07-15",
        "--phone",
        "0987654321",
    ]);
    let (_, page) = nurse.json(&["list", "show", "no_id"]);
    assert_eq!(page["total"], 2, "{page}");
    // Page by page: the second page of one row is the list's second row.
    let (_, second) = nurse.json(&["list", "show", "no_id", "--limit", "1", "--skip", "1"]);
    assert_eq!(
        (&second["offset"], &second["rows"][0]),
        (&1.into(), &page["rows"][1])
    );
    let text = nurse.run(&["list", "show", "no_id", "--limit", "1", "--skip", "1"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("2 dòng (hiện dòng 2–2)"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let bad = nurse.run(&["list", "show", "khong_co"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no_id"));
    // The whole list at once is an export: without a fresh code, nothing is printed.
    let dump = nurse.run(&["list", "show", "no_id", "--limit", "100000000", "--json"]);
    assert_ne!(dump.status.code(), Some(0));
    assert!(
        !String::from_utf8_lossy(&dump.stdout).contains("rows"),
        "{}",
        String::from_utf8_lossy(&dump.stdout)
    );
    let refused = nurse.run_env(
        &["list", "show", "no_id", "--limit", "100000000"],
        &[("SOTIEM_OTP", "000000")],
    );
    assert_ne!(refused.status.code(), Some(0));
    let (status, all) = nurse.json_env(
        &["list", "show", "no_id", "--limit", "100000000"],
        &[("SOTIEM_OTP", &nurse.code())],
    );
    assert_eq!((status, &all["total"]), (0, &2.into()), "{all}");

    // Export: a fresh code, a workbook, an audit entry.
    let dir = tempfile::tempdir().unwrap();
    let xlsx = dir.path().join("chua-co-cccd.xlsx");
    let xlsx_arg = xlsx.display().to_string();
    let refused = nurse.run_env(
        &["list", "export", "no_id", "--out", &xlsx_arg],
        &[("SOTIEM_OTP", "000000")],
    );
    assert_ne!(refused.status.code(), Some(0));
    assert!(!xlsx.exists());
    let code = nurse.code();
    let (status, summary) = nurse.json_env(
        &["list", "export", "no_id", "--out", &xlsx_arg],
        &[("SOTIEM_OTP", &code)],
    );
    assert_eq!(status, 0, "{summary}");
    assert_eq!(summary["rows"], 2);
    assert!(
        std::fs::read(&xlsx).unwrap().starts_with(b"PK"),
        "an .xlsx (zip) file"
    );

    // The police fill in Lan's CCCD; one row names a record this laptop does not hold.
    let csv = dir.path().join("da-sua.csv");
    std::fs::write(
        &csv,
        format!(
            "Mã hồ sơ (không sửa),Họ và tên,Số giấy tờ\n{lan},Trần Thị Lan,079190001234\n{},Người Lạ,079090001234\n",
            uuid::Uuid::now_v7()
        ),
    )
    .unwrap();
    let csv_arg = csv.display().to_string();
    let (_, preview) = nurse.json(&["import", "preview", &csv_arg]);
    assert_eq!(
        preview["changes"].as_array().map(Vec::len),
        Some(1),
        "{preview}"
    );
    assert_eq!(preview["problems"].as_array().map(Vec::len), Some(1));
    let code = nurse.code();
    let (status, done) = nurse.json_env(
        &["import", "apply", &csv_arg, "--expect", "1"],
        &[("SOTIEM_OTP", &code)],
    );
    assert_eq!(status, 0, "{done}");
    assert_eq!(done["changed"], 1);
    let (_, record) = nurse.json(&["person", "show", &lan]);
    assert_eq!(record["person"]["identity"]["number"], "079190001234");

    // The duplicate pair (same name, birth date and phone) is listed, then merged.
    let (_, pairs) = nurse.json(&["duplicates", "list"]);
    assert_eq!(pairs.as_array().map(Vec::len), Some(1), "{pairs}");
    assert_eq!(pairs[0]["rule"], "similar_name_birth_phone");
    let (status, kept) = nurse.json(&["duplicates", "merge", "--keep", &an, "--other", &twin]);
    assert_eq!(status, 0, "{kept}");
    let (_, pairs) = nurse.json(&["duplicates", "list"]);
    assert_eq!(pairs, serde_json::json!([]));
    assert!(nurse.ok(&["audit", "verify"]).contains("chuỗi băm khớp"));
}

#[test]
fn the_head_of_station_runs_the_stations_accounts_from_the_command_line() {
    use sync_protocol::auth::Role;
    let h = Harness::new();
    let head = Cli::of(&h, "TYT-TANNHUT", Role::FacilityAdmin);
    let made = head.run_env(
        &[
            "staff",
            "add",
            "--username",
            "nv.binh",
            "--full-name",
            "Trần Văn Bình",
            "--phone",
            "0987 654 321",
        ],
        &[("SOTIEM_INITIAL_PASSWORD", "Khoi@tao2025")],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(String::from_utf8_lossy(&made.stdout).contains("Đã tạo tài khoản nv.binh"));
    let list = head.ok(&["staff", "list"]);
    assert!(
        list.contains("nv.binh") && list.contains("Cán bộ tiêm chủng"),
        "{list}"
    );

    // A weak new password is refused naming its rules; a good one is taken.
    let weak = head.run_env(
        &["staff", "reset-password", "nv.binh"],
        &[("SOTIEM_INITIAL_PASSWORD", "binh1234")],
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("có chữ hoa"));
    let reset = head.run_env(
        &["staff", "reset-password", "nv.binh"],
        &[("SOTIEM_INITIAL_PASSWORD", "Dat@lai2025")],
    );
    assert!(reset.status.success());
    // The authenticator too, the same day: held for a second person (issue 26), who approves
    // it with the request's id from `staff resets`.
    let (code, held) = head.json(&["staff", "reset-authenticator", "nv.binh"]);
    assert_eq!(
        (code, held["status"].as_str()),
        (0, Some("awaiting_approval")),
        "{held}"
    );
    assert!(
        head.ok(&["staff", "resets"])
            .contains("chờ người thứ hai duyệt")
    );
    let id = held["id"].as_str().unwrap();
    let (code, err) = head.json(&["staff", "approve-reset", id]);
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (1, Some("second_person_required")),
        "{err}"
    );
    let deputy = Cli::of(&h, "TYT-TANNHUT", Role::FacilityAdmin);
    assert!(
        deputy
            .ok(&["staff", "approve-reset", id])
            .contains("Đã duyệt: ứng dụng xác thực của nv.binh")
    );
    // Another administrator's account is not the head's to read or reset.
    let (code, err) = head.json(&["staff", "sign-ins", &head.user]);
    assert_eq!(code, 1);
    assert_eq!(err["error"]["code"], "forbidden", "{err}");
    // The head's own sign-ins: the first login's steps, newest first.
    let (code, own) = head.json(&["sign-ins"]);
    assert_eq!(code, 0, "{own}");
    let outcomes: Vec<&str> = own
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes[0], "success", "{outcomes:?}");
    assert!(outcomes.contains(&"enrollment_started"), "{outcomes:?}");

    // A vaccinator runs no accounts.
    let nurse = Cli::new(&h);
    let (code, err) = nurse.json(&["staff", "list"]);
    assert_eq!(
        (code, err["error"]["code"].as_str()),
        (1, Some("forbidden"))
    );
    let log = h.rt.block_on(sotiem_server::admin_audit::entries(
        &h.db,
        Some("account/nv.binh"),
        10,
    ));
    let actions: Vec<(String, String)> = log
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| (e.action, e.actor))
        .collect();
    let by = |a: &str| (a.to_string(), head.user.clone());
    assert_eq!(
        actions,
        [
            by("account_create"),
            by("account_reset_password"),
            by("account_reset_password_failed"),
            by("account_reset_password"),
            by("account_reset_authenticator"),
        ]
    );
}

#[test]
fn the_demo_records_a_dozen_of_todays_doses_once_a_day() {
    let h = Harness::new();
    let cli = Cli::new(&h);
    let (code, seeded) = cli.json(&["demo", "seed", "--people", "300"]);
    assert_eq!(
        (code, seeded["people"].as_i64()),
        (0, Some(300)),
        "{seeded}"
    );
    let (_, doses_before, _) = cli.counts();

    let (code, today) = cli.json(&["demo", "today", "--doses", "12"]);
    assert_eq!(code, 0, "{today}");
    assert_eq!(today["doses_today"], 12, "{today}");
    // And a session day today for a hamlet with children due, so the routine screen has one.
    let hamlet = today["session"]["hamlet"]
        .as_str()
        .expect("a session planned")
        .to_string();
    assert!(hamlet.starts_with("Ấp "), "{today}");
    let (_, invited) = cli.json(&["session", "due", today["session"]["id"].as_str().unwrap()]);
    assert!(!invited.as_array().unwrap().is_empty(), "{invited}");
    let (_, doses_after, _) = cli.counts();
    assert_eq!(doses_after - doses_before, 12);

    // Run again the same day (scripts/run each time it starts): today already has its doses.
    let (code, again) = cli.json(&["demo", "today", "--doses", "12"]);
    assert_eq!(
        (code, again["doses_today"].as_i64()),
        (0, Some(0)),
        "{again}"
    );
    assert!(again["session"].is_null(), "one session a day: {again}");
    let (_, sessions) = cli.json(&["session", "list"]);
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    assert_eq!(cli.counts().1, doses_after);
}

#[test]
fn a_head_backs_the_station_up_and_a_new_laptop_is_restored_from_the_command_line() {
    use sync_protocol::auth::Role;
    let h = Harness::new();
    let nurse = Cli::new(&h);
    let id = add_an(&nurse);
    nurse.dose_today(&id);
    nurse.ok(&["sync"]);
    let head = Cli::of(&h, "TYT-TANNHUT", Role::Signer);
    head.ok(&["sync"]);
    let usb = tempfile::tempdir().unwrap();
    let usb_path = usb.path().to_str().unwrap();
    const PASS: &str = "Tủ thuốc tầng hai, ngăn trên";

    // Nothing can be written before the head sets the passphrase.
    let (code, err) = head.json(&["backup", "now", "--out", usb_path]);
    assert_eq!(code, 1);
    assert_eq!(err["error"]["code"], "backup_not_configured", "{err}");
    let weak = head.run_env(
        &["backup", "passphrase"],
        &[("SOTIEM_RECOVERY_PASSPHRASE", "ngắn")],
    );
    assert!(String::from_utf8_lossy(&weak.stderr).contains("ít nhất 12 ký tự"));
    head.set_recovery_passphrase(PASS);
    head.ok(&["backup", "folder", usb_path]);
    let (_, status) = head.json(&["backup", "status"]);
    assert_eq!(status["configured"], true);
    assert_eq!(status["due"], true, "{status}");
    let (code, written) = head.json(&["backup", "daily"]);
    assert_eq!(code, 0, "{written}");
    assert_eq!(written["people"], 1);
    let file = written["file"].as_str().unwrap().to_string();
    assert!(head.ok(&["backup", "daily"]).contains("Hôm nay đã sao lưu"));
    assert!(
        head.ok(&["backup", "show", &file])
            .contains("1 người, 1 mũi tiêm")
    );

    // The laptop is lost: the administrator replaces its device, the new laptop is restored.
    let token = replace_last_device(&h);
    let new_dir = tempfile::tempdir().unwrap();
    let restore =
        |pass: &str| Program::Native.restore(&h, &new_dir.path().join("tram"), &file, &token, pass);
    let wrong = restore("không đúng mật khẩu này");
    assert_eq!(wrong.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&wrong.stdout).unwrap();
    assert_eq!(err["error"]["code"], "wrong_recovery_passphrase", "{err}");
    assert!(!new_dir.path().join("tram").join("station.db").exists());
    let restored = restore(PASS);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stdout)
    );
    let v: Value = serde_json::from_slice(&restored.stdout).unwrap();
    assert_eq!(
        (v["persons"].as_i64(), v["doses"].as_i64()),
        (Some(1), Some(1))
    );
    // The old laptop's token is revoked.
    let old = head.run(&["sync", "--attempts", "1"]);
    assert!(!old.status.success());
}

#[test]
fn a_nurse_answers_a_citizens_complaint_from_the_command_line() {
    use sync_protocol::complaints::{ComplaintForm, ComplaintStatus, check_form};
    let h = Harness::new();
    let a = Cli::new(&h);
    let id = add_an(&a);
    a.ok(&["sync"]);
    // Nguyễn Văn An reports a missing dose (filed as the public page files it).
    let code = h.rt.block_on(async {
        let form = ComplaintForm {
            full_name: "Nguyễn Văn An".into(),
            birth_date: "02/03/1985".into(),
            phone: "0912 345 678".into(),
            id_number: "001085012345".into(),
            facility: "TYT-TANNHUT".into(),
            kind: "missing_dose".into(),
            vaccine: "pfizer".into(),
            description: "Tôi đã tiêm mũi 1 Pfizer nhưng tra cứu chưa thấy.".into(),
            ..ComplaintForm::default()
        };
        let now = sync_protocol::Clock::system().now();
        let checked = check_form(
            &form,
            now.to_offset(sync_protocol::clock::VIETNAM).date(),
            |c| c == "TYT-TANNHUT",
            &sync_protocol::vaccines::Catalogue::built_in(),
        )
        .expect("an honest form");
        h.state
            .complaints
            .file(&checked, &[], now, None)
            .await
            .expect("filed")
            .code
    });
    a.ok(&["sync"]);
    let (_, list) = a.json(&["complaint", "list"]);
    assert_eq!(list[0]["code"], code.as_str(), "{list}");
    assert_eq!(list[0]["state"], "open");
    let shown = a.ok(&["complaint", "show", &code.to_lowercase()]);
    assert!(
        shown.contains("Hồ sơ có thể là người này") && shown.contains(&id),
        "{shown}"
    );

    // Resolved needs the record: refused with the reason, nothing sent.
    let early = a.run(&[
        "complaint",
        "answer",
        &code,
        "--resolved",
        "--text",
        "Đã bổ sung mũi 1",
    ]);
    assert!(!early.status.success());
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("liên kết hồ sơ"),
        "{}",
        String::from_utf8_lossy(&early.stderr)
    );
    a.dose_today(&id);
    let answered = a.ok(&[
        "complaint",
        "answer",
        &code,
        "--resolved",
        "--person",
        &id,
        "--text",
        "Đã bổ sung mũi 1 Pfizer vào hồ sơ của anh.",
    ]);
    assert!(answered.contains("Đã giải quyết"), "{answered}");
    let status = h.rt.block_on(async {
        h.state
            .complaints
            .lookup(
                &code,
                "0912345678",
                None,
                sync_protocol::Clock::system().now(),
            )
            .await
            .expect("looked up")
            .expect("found")
    });
    assert_eq!(status.status, ComplaintStatus::Resolved);
    assert_eq!(
        status.answer.as_deref(),
        Some("Đã bổ sung mũi 1 Pfizer vào hồ sơ của anh.")
    );
    let (_, all) = a.json(&["complaint", "list", "--all"]);
    assert_eq!(all[0]["state"], "resolved");
    let (_, open) = a.json(&["complaint", "list"]);
    assert_eq!(open.as_array().map(Vec::len), Some(0));
}

#[test]
fn a_newborn_gets_history_a_schedule_and_a_place_on_the_due_list_from_the_command_line() {
    let h = Harness::new();
    let cli = Cli::new(&h);
    let (_, vaccines) = cli.json(&["vaccine", "list"]);
    let programme_of = |code: &str| {
        vaccines
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["code"] == code)
            .map(|v| v["programme"].clone())
    };
    assert_eq!(programme_of("dtp_hepb_hib"), Some(Value::from("tcmr")));
    assert_eq!(programme_of("EU/1/20/1528"), Some(Value::from("covid19")));

    let birth = sync_protocol::person::now().date() - time::Duration::days(75);
    let (code, child) = cli.json(&[
        "person",
        "add",
        "--gender",
        "nu",
        "--dob",
        &birth.to_string(),
        "--caregiver-name",
        "Nguyễn Thị Lan",
        "--caregiver-phone",
        "0912 345 678",
        "--hamlet",
        "Ấp 3",
    ]);
    assert_eq!(code, 0, "{child}");
    assert_eq!(child["full_name"], "Con bà Nguyễn Thị Lan");
    assert_eq!(child["caregiver"]["phone"], "0912345678");
    let id = child["id"].as_str().unwrap().to_string();

    // The birth dose from the hospital's card: history, typed by this user, naming who gave it.
    let (code, hepb) = cli.json(&[
        "dose",
        "add",
        "--person",
        &id,
        "--vaccine",
        "VGB sơ sinh",
        "--elsewhere",
        "facility",
        "--place",
        "Bệnh viện Hùng Vương",
        "--vaccinator",
        "NHS Trần Thị Mỹ",
        "--at",
        &format!("{birth}T08:00:00+07:00"),
    ]);
    assert_eq!(code, 0, "{hepb}");
    assert_eq!(hepb["vaccine"], "hepb");
    assert_eq!(hepb["facility"], "");
    assert_eq!(hepb["vaccinator"], "NHS Trần Thị Mỹ");
    assert_eq!(hepb["history"]["recorded_by"], cli.user.as_str());
    // History without where it was given: refused before anything is written.
    let out = cli.run(&[
        "dose",
        "add",
        "--person",
        &id,
        "--vaccine",
        "bcg",
        "--elsewhere",
        "card",
        "--at",
        &format!("{birth}T09:00:00+07:00"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--place"));
    let (code, bcg) = cli.json(&[
        "dose",
        "add",
        "--person",
        &id,
        "--vaccine",
        "BCG",
        "--lot",
        "bcg-0324",
    ]);
    assert_eq!(code, 0, "{bcg}");
    assert_eq!(bcg["facility"], "TYT-TANNHUT");

    let (code, schedule) = cli.json(&["schedule", "show", &id]);
    assert_eq!(code, 0, "{schedule}");
    let series = |s: &Value, id: &str| {
        s["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["series"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {s}"))
    };
    assert_eq!(series(&schedule, "hepb_birth")["status"], "complete");
    assert_eq!(series(&schedule, "bcg")["status"], "complete");
    let dtp = series(&schedule, "dtp");
    // Due from two months (day 60), not yet overdue at 75 days.
    assert_eq!(dtp["status"], "due", "{dtp}");
    assert_eq!(dtp["next_dose"], 1);
    let text = cli.ok(&["schedule", "show", &id]);
    assert!(
        text.contains("Bạch hầu - Ho gà - Uốn ván") && text.contains("đến hạn"),
        "{text}"
    );
    // On an earlier date the first 5-in-1 was not yet due.
    let early = birth + time::Duration::days(30);
    let (_, then) = cli.json(&["schedule", "show", &id, "--date", &early.to_string()]);
    assert_eq!(series(&then, "dtp")["status"], "not_yet");

    let (code, due) = cli.json(&["due", "--village", "Ấp 3"]);
    assert_eq!(code, 0, "{due}");
    let mine: Vec<&Value> = due
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["person_id"] == id.as_str())
        .collect();
    assert!(
        mine.iter()
            .any(|e| e["series"] == "dtp" && e["dose_number"] == 1 && e["status"] == "due"),
        "{due}"
    );
    assert!(mine.iter().all(|e| e["phone"] == "0912345678"));
    let (_, other_hamlet) = cli.json(&["due", "--village", "Ấp 1"]);
    assert_eq!(other_hamlet, Value::Array(Vec::new()));
    let bad = cli.run(&["due", "--date", "31/02/2026"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM-DD"));

    // Coverage of her birth month: the birth dose from the card counts, on time; BCG at 75
    // days counts, late; a cohort typed wrong is refused with the forms it takes.
    let month = format!("{}-{:02}", birth.year(), u8::from(birth.month()));
    let (code, coverage) = cli.json(&["coverage", "--cohort", &month]);
    assert_eq!(code, 0, "{coverage}");
    assert_eq!(coverage["coverage"]["children"], 1, "{coverage}");
    let indicator = |id: &str| {
        coverage["coverage"]["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["indicator"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            indicator("hepb_birth")["reached"].clone(),
            indicator("hepb_birth")["on_time"].clone()
        ),
        (Value::from(1), Value::from(1))
    );
    assert_eq!(
        (
            indicator("bcg")["reached"].clone(),
            indicator("bcg")["on_time"].clone()
        ),
        (Value::from(1), Value::from(0))
    );
    assert_eq!(indicator("dtp3")["reached"], 0);
    let text = cli.ok(&["coverage", "--cohort", &month]);
    assert!(
        text.contains("VGB sơ sinh trong 24 giờ") && text.contains("1/1 (100.0%)"),
        "{text}"
    );
    let bad = cli.run(&["coverage", "--cohort", "20x5"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("năm sinh (2025)"));

    let (_, found) = cli.json(&[
        "person",
        "find",
        "--name",
        "Nguyễn Thị Lan",
        "--phone",
        "0912345678",
    ]);
    assert_eq!(found[0]["id"], id.as_str());

    // Today's session for Ấp 3: she is invited (as the morning stood), got BCG, so she came.
    let today = sync_protocol::person::now().date().to_string();
    let (code, session) = cli.json(&[
        "session",
        "plan",
        "--date",
        &today,
        "--hamlet",
        "Ấp 3",
        "--place",
        "Nhà văn hoá ấp 3",
    ]);
    assert_eq!(code, 0, "{session}");
    let sid = session["id"].as_str().unwrap().to_string();
    let yesterday = (sync_protocol::person::now().date() - time::Duration::days(1)).to_string();
    let past = cli.run(&["session", "plan", "--date", &yesterday, "--hamlet", "Ấp 3"]);
    assert_eq!(past.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&past.stderr).contains("quá khứ"));
    let out_dir = tempfile::tempdir().unwrap();
    let slips = out_dir.path().join("giấy mời ấp 3.pdf");
    let (code, printed) = cli.json(&["session", "slips", &sid, "--out", &cli.path(&slips)]);
    assert_eq!(code, 0, "{printed}");
    assert_eq!(printed["slips"], 1);
    assert!(std::fs::read(&slips).unwrap().starts_with(b"%PDF"));
    let sheet = out_dir.path().join("danh sách ấp 3.pdf");
    let (code, printed) = cli.json(&["session", "sheet", &sid, "--out", &cli.path(&sheet)]);
    assert_eq!(code, 0, "{printed}");
    assert_eq!(printed["people"], 1);
    assert!(std::fs::read(&sheet).unwrap().starts_with(b"%PDF"));
    let reminders = out_dir.path().join("nhắc lịch.csv");
    let (code, sent) = cli.json(&["session", "remind", &sid, "--csv", &cli.path(&reminders)]);
    assert_eq!(code, 0, "{sent}");
    assert_eq!(sent["sent"][0][0]["phone"], "0912345678");
    assert_eq!(sent["sent"][0][1]["outcome"], "written");
    let csv_text = std::fs::read_to_string(&reminders).unwrap();
    assert!(
        csv_text.starts_with("phone,message,reference"),
        "{csv_text}"
    );
    assert!(csv_text.contains("Con ba Nguyen Thi Lan"), "{csv_text}");
    let (_, tally) = cli.json(&["session", "tally", &sid]);
    assert_eq!(
        (tally["invited"].clone(), tally["came"].clone()),
        (Value::from(1), Value::from(1))
    );
    let bcg = tally["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["series"] == "bcg")
        .cloned()
        .unwrap_or_else(|| panic!("{tally}"));
    assert_eq!(
        (bcg["due"].clone(), bcg["given"].clone()),
        (Value::from(1), Value::from(1))
    );
    let (code, defaulters) = cli.json(&["session", "close", &sid]);
    assert_eq!(code, 0, "{defaulters}");
    assert_eq!(defaulters, Value::Array(Vec::new()));
    let (_, listed) = cli.json(&["session", "list"]);
    assert_eq!(listed[0]["id"], sid.as_str());
    assert!(listed[0]["closed_at"].is_string());
    let again = cli.run(&["session", "close", &sid]);
    assert_eq!(again.status.code(), Some(2));
}
