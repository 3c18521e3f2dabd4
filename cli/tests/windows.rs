//! The Windows `sotiem.exe` (built for x86_64-pc-windows-gnu by `scripts/windows`) run under
//! Wine against a Linux central server in this process: a nurse's Windows laptop through a day.
//!
//! These tests need the Windows program, which a Linux build does not have: they are ignored in
//! the Linux run (with that reason) and `scripts/windows` runs them with `--ignored`, naming the
//! program in `SOTIEM_WINDOWS_SOTIEM` and Wine in `SOTIEM_WINDOWS_RUNNER`. Run without them, they
//! fail loudly instead of passing.

mod support;

use serde_json::Value;
use std::path::Path;
use support::*;
use sync_protocol::auth::Role;

/// The doses the server holds for a person, by id.
fn doses_on_server(h: &Harness, person: &str) -> Vec<String> {
    let sotiem_server::Db::Sqlite(pool) = &h.db else {
        panic!("the harness's server runs on SQLite")
    };
    h.rt.block_on(
        sqlx::query_scalar::<_, String>("SELECT id FROM doses WHERE person_id = ? ORDER BY id")
            .bind(person)
            .fetch_all(pool),
    )
    .expect("doses read")
}

/// Every row of the first sheet as text, read by an independent reader (Python's openpyxl).
fn workbook_rows(path: &Path) -> Vec<Vec<String>> {
    let read = sotiem_scenarios::sheets::read_openpyxl(path);
    read["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("cells")
                .iter()
                .map(|cell| match &cell[1] {
                    serde_json::Value::String(text) => text.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

#[test]
#[ignore = "runs the Windows sotiem.exe under Wine: scripts/windows"]
fn a_windows_laptop_records_offline_syncs_each_dose_once_exports_and_restores() {
    let h = Harness::new();
    let windows = Program::windows_from_env();
    // A data directory named as a nurse would: Vietnamese letters and spaces.
    let nurse = Cli::start(
        &h,
        "TYT-TANNHUT",
        Role::Vaccinator,
        windows.clone(),
        "Trạm Y tế xã Tân Nhựt",
    );
    assert!(
        nurse.data.join("station.db").exists(),
        "the store is where it was asked to be: {}",
        nurse.data.display()
    );

    // The day's work, with no sync: a person and two doses, kept on the laptop.
    let id = add_an(&nurse);
    assert_eq!(id.len(), 36, "{id}");
    for (at, lot) in [
        ("2021-09-20T08:30:00+07:00", "FF2588"),
        ("2021-10-11T09:15:00+07:00", "FF3318"),
    ] {
        nurse.ok(&[
            "dose",
            "add",
            "--person",
            &id,
            "--vaccine",
            "pfizer",
            "--lot",
            lot,
            "--at",
            at,
        ]);
    }
    let (_, status) = nurse.json(&["status"]);
    assert_eq!(
        (status["persons"].as_i64(), status["doses"].as_i64()),
        (Some(1), Some(2))
    );
    assert!(status["pending_changes"].as_i64() > Some(0), "{status}");
    assert!(
        doses_on_server(&h, &id).is_empty(),
        "nothing left the laptop yet"
    );

    // Back online: every dose reaches the server once, and a second sync sends nothing again.
    let (code, report) = nurse.json(&["sync"]);
    assert_eq!(code, 0, "{report}");
    let (_, shown) = nurse.json(&["person", "show", &id]);
    let mut recorded: Vec<String> = shown["person"]["doses"]
        .as_object()
        .expect("doses shown")
        .keys()
        .cloned()
        .collect();
    recorded.sort();
    assert_eq!(recorded.len(), 2, "{shown}");
    assert_eq!(doses_on_server(&h, &id), recorded);
    let (code, again) = nurse.json(&["sync"]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["pushed"], 0, "{again}");
    assert_eq!(doses_on_server(&h, &id), recorded);
    let (_, status) = nurse.json(&["status"]);
    assert_eq!(status["pending_changes"], 0, "{status}");

    // The unsigned doses exported to a workbook in a folder named in Vietnamese; read on Linux.
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("Danh sách xuất");
    std::fs::create_dir(&folder).unwrap();
    let xlsx = folder.join("Mũi tiêm chưa ký.xlsx");
    let (code, summary) = nurse.json_env(
        &[
            "list",
            "export",
            "unsigned_doses",
            "--out",
            &nurse.path(&xlsx),
        ],
        &[("SOTIEM_OTP", &nurse.code())],
    );
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["rows"], 2, "{summary}");
    let rows = workbook_rows(&xlsx);
    let an_rows = rows
        .iter()
        .filter(|r| r.iter().any(|c| c == "Nguyễn Văn An"))
        .count();
    assert_eq!(an_rows, 2, "{rows:?}");
    for lot in ["FF2588", "FF3318"] {
        assert!(rows.iter().flatten().any(|c| c == lot), "{lot} in {rows:?}");
    }

    // The head backs the station up to a USB folder; a new laptop is restored from it.
    let head = Cli::start(
        &h,
        "TYT-TANNHUT",
        Role::Signer,
        windows.clone(),
        "Sổ Tiêm của trưởng trạm",
    );
    head.ok(&["sync"]);
    const PASS: &str = "Tủ thuốc tầng hai, ngăn trên";
    head.set_recovery_passphrase(PASS);
    let usb = tempfile::tempdir().unwrap();
    let usb_folder = usb.path().join("USB sao lưu");
    std::fs::create_dir(&usb_folder).unwrap();
    head.ok(&["backup", "folder", &head.path(&usb_folder)]);
    let (code, written) = head.json(&["backup", "daily"]);
    assert_eq!(code, 0, "{written}");
    assert_eq!(
        (written["people"].as_i64(), written["doses"].as_i64()),
        (Some(1), Some(2))
    );
    let file = written["file"].as_str().expect("backup file").to_string();
    let token = replace_last_device(&h);
    let new_laptop = tempfile::tempdir().unwrap();
    let restored_dir = new_laptop.path().join("Trạm Y tế (máy mới)");
    let restored = windows.restore(&h, &restored_dir, &file, &token, PASS);
    assert!(
        restored.status.success(),
        "{} {}",
        String::from_utf8_lossy(&restored.stdout),
        String::from_utf8_lossy(&restored.stderr)
    );
    let v: Value = serde_json::from_slice(&restored.stdout).unwrap();
    assert_eq!(
        (v["persons"].as_i64(), v["doses"].as_i64()),
        (Some(1), Some(2)),
        "{v}"
    );
}

#[test]
#[ignore = "runs the Windows sotiem.exe under Wine: scripts/windows"]
fn without_an_explicit_key_the_windows_station_keeps_it_in_the_credential_manager() {
    let windows = Program::windows_from_env();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("Trạm không có khoá ngoài");
    let run = |args: &[&str]| {
        windows
            .command()
            .arg("--data")
            .arg(windows.path(&data))
            .args(args)
            .env_remove("SOTIEM_DB_KEY")
            .output()
            .unwrap()
    };
    let init = run(&[
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
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    // A later process opens the store with the key the Credential Manager gives back.
    let status = run(&["--json", "status"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["facility"]["code"], "TYT-TANNHUT", "{v}");
    // The key is not in any file beside the store.
    for entry in std::fs::read_dir(&data).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(!bytes.windows(6).any(|w| w == b"db-key"), "no key file");
    }
    // A wrong explicit key is refused with its reason, and the store is left as it was.
    let wrong = windows
        .command()
        .arg("--data")
        .arg(windows.path(&data))
        .args(["status"])
        .env("SOTIEM_DB_KEY", "44".repeat(32))
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let again = run(&["--json", "status"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
#[ignore = "runs the Windows sotiem.exe under Wine: scripts/windows"]
fn a_windows_laptop_left_in_another_time_zone_records_vietnams_time() {
    // A laptop its vendor left on UTC−5: a dose given now is dated in Vietnam's time.
    let h = Harness::new();
    let nurse = Cli::start(
        &h,
        "TYT-TANNHUT",
        Role::Vaccinator,
        Program::windows_from_env(),
        "tram",
    );
    let id = add_an(&nurse);
    let today = || {
        time::OffsetDateTime::now_utc()
            .to_offset(sync_protocol::VIETNAM)
            .date()
            .to_string()
    };
    let before = today();
    let elsewhere = [("TZ", "America/New_York")];
    let (code, dose) = nurse.json_env(
        &[
            "dose",
            "add",
            "--person",
            &id,
            "--vaccine",
            "pfizer",
            "--lot",
            "FF2588",
        ],
        &elsewhere,
    );
    assert_eq!(code, 0, "{dose}");
    let after = today();
    let (_, shown) = nurse.json_env(&["person", "show", &id], &elsewhere);
    let given = shown["person"]["doses"]
        .as_object()
        .and_then(|d| d.values().next())
        .and_then(|d| d["given_at"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(given.ends_with("+07:00"), "{shown}");
    assert!(
        given.starts_with(&before) || given.starts_with(&after),
        "{given} is Vietnam's {before}"
    );
}

/// The user's profile folder in the Wine prefix `scripts/windows` uses.
fn wine_profile() -> std::path::PathBuf {
    let prefix = std::env::var_os("WINEPREFIX").expect("WINEPREFIX is set by scripts/windows");
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    Path::new(&prefix).join("drive_c").join("users").join(user)
}

#[test]
#[ignore = "runs the Windows installer under Wine: scripts/windows (full leg)"]
fn the_installer_installs_for_the_user_alone_and_its_uninstaller_keeps_the_stations_data() {
    let installer = std::env::var_os("SOTIEM_WINDOWS_INSTALLER")
        .map(std::path::PathBuf::from)
        .expect("SOTIEM_WINDOWS_INSTALLER: the full leg of scripts/windows names the installer");
    let Program::Windows { runner, .. } = Program::windows_from_env() else {
        unreachable!("windows_from_env gives the Windows program")
    };
    let profile = wine_profile();
    let programs = profile.join("AppData/Local/Programs/SoTiem");
    let shortcut =
        profile.join("AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Sổ Tiêm.lnk");
    let data = profile.join("AppData/Local/vn.sotiem.desktop");
    let user_reg = || {
        let prefix = std::env::var_os("WINEPREFIX").expect("WINEPREFIX");
        std::fs::read_to_string(Path::new(&prefix).join("user.reg")).unwrap_or_default()
    };
    let wait_for_wine = || {
        // Wine writes its registry and ends the processes it started when its server stops.
        let _ = std::process::Command::new("/usr/lib/wine/wineserver")
            .arg("-w")
            .status();
    };
    // A station's data already on this laptop: never touched by installing or uninstalling.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("giữ nguyên.txt"), "dữ liệu của trạm").unwrap();

    // Silently, as a standard user would be asked nothing (the WebView2 notice answers itself).
    let installed = std::process::Command::new(&runner)
        .arg(&installer)
        .arg("/S")
        .status()
        .unwrap();
    wait_for_wine();
    assert!(installed.success(), "{installed:?}");
    assert!(
        programs.join("sotiem-desktop.exe").is_file(),
        "{}",
        programs.display()
    );
    assert!(programs.join("uninstall.exe").is_file());
    assert!(
        shortcut.is_file(),
        "the Start-menu entry, named in Vietnamese"
    );
    let reg = user_reg();
    assert!(
        reg.contains("Uninstall\\\\vn.sotiem.desktop"),
        "the uninstall entry is the user's own (HKCU)"
    );

    // An update run as the app's updater runs it keeps the shortcut and installs in place.
    let updated = std::process::Command::new(&runner)
        .arg(&installer)
        .args(["/S", "/UPDATE"])
        .status()
        .unwrap();
    wait_for_wine();
    assert!(updated.success(), "{updated:?}");
    assert!(programs.join("sotiem-desktop.exe").is_file());
    assert!(shortcut.is_file());

    let removed = std::process::Command::new(&runner)
        .arg(programs.join("uninstall.exe"))
        .arg("/S")
        .status()
        .unwrap();
    wait_for_wine();
    // The uninstaller copies itself out and runs from there: wait for its files to go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while programs.join("sotiem-desktop.exe").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(250));
        wait_for_wine();
    }
    assert!(removed.success(), "{removed:?}");
    assert!(
        !programs.join("sotiem-desktop.exe").exists(),
        "the program is gone"
    );
    assert!(!shortcut.exists(), "the Start-menu entry is gone");
    assert!(!user_reg().contains("Uninstall\\\\vn.sotiem.desktop"));
    assert_eq!(
        std::fs::read_to_string(data.join("giữ nguyên.txt")).unwrap(),
        "dữ liệu của trạm",
        "the station's data stays"
    );
    std::fs::remove_dir_all(&data).ok();

    // The installer is the update package too: signed with the release key as every package
    // is (the Tauri CLI's signer), and a server with the public key publishes it.
    let h = Harness::new();
    let keys = tempfile::tempdir().unwrap();
    let key = sotiem_scenarios::release::ReleaseKey::generate(keys.path(), "phat-hanh");
    let package = keys.path().join("SoTiem-setup.exe");
    std::fs::copy(&installer, &package).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let signature = key.sign(&package, version);
    // Changed after signing: refused.
    let tampered = keys.path().join("SoTiem-setup-sửa.exe");
    let mut bytes = std::fs::read(&package).unwrap();
    bytes.push(0);
    std::fs::write(&tampered, bytes).unwrap();
    let publish = |package: &Path, folder: &str| {
        h.rt.block_on(sotiem_server::releases::publish(
            &h.db,
            &keys.path().join(folder),
            &sotiem_server::releases::NewRelease {
                version,
                platform: "windows-x86_64",
                package,
                signature: &signature,
                notes: Some("Bản cho Windows"),
            },
            Some(&key.public),
        ))
    };
    let refused = publish(&tampered, "updates-2");
    assert!(
        matches!(
            refused,
            Err(sotiem_server::releases::ReleaseError::SignatureMismatch)
        ),
        "a package changed after signing is refused: {refused:?}"
    );
    let published = publish(&package, "updates");
    assert!(published.is_ok(), "{published:?}");
}

#[test]
#[ignore = "runs the Windows sotiem.exe under Wine: scripts/windows"]
fn a_head_signs_the_days_doses_on_windows_with_a_pkcs11_module_built_for_windows() {
    let h = Harness::new();
    let windows = Program::windows_from_env();
    let module = std::env::var_os("SOTIEM_WINDOWS_PKCS11")
        .map(std::path::PathBuf::from)
        .expect("SOTIEM_WINDOWS_PKCS11: scripts/windows builds SoftHSM2 for Windows");
    // The token is made on Linux (softhsm2-util, openssl, pkcs11-tool); the Windows module reads
    // it through a configuration naming its folder as Windows does.
    sign_the_day(&h, &windows, &windows.path(&module), |token| {
        let conf = token.dir.join("softhsm2-windows.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                windows.path(&token.dir.join("tokens"))
            ),
        )
        .unwrap();
        conf
    });
}
