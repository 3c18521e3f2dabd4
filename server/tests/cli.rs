//! `sotiem-server` as an administrator runs it: facilities, devices, serving.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn server(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sotiem-server"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

/// `sotiem-server serve` with `args`, and the first line it prints (where it listens).
fn serve(db: &std::path::Path, args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sotiem-server"))
        .arg("--db")
        .arg(db)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

#[test]
fn an_administrator_sets_up_facilities_and_devices_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("huyen.db");
    let out = server(
        &db,
        &[
            "facility",
            "add",
            "--code",
            "TYT-TANNHUT",
            "--name",
            "Trạm Y tế xã Tân Nhựt",
            "--province",
            "TP Hồ Chí Minh",
            "--commune",
            "Xã Tân Nhựt",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server(
        &db,
        &[
            "facility",
            "add",
            "--code",
            "LD-1",
            "--name",
            "Đội lưu động 1",
            "--kind",
            "mobile_team",
            "--parent",
            "KHONG-CO",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("không có cơ sở mã KHONG-CO"));
    let out = server(&db, &["facility", "add", "--code", "X", "--name", "Sai mã"]);
    assert!(!out.status.success(), "a one-letter code is refused");

    let out = server(
        &db,
        &[
            "--json",
            "device",
            "add",
            "--facility",
            "TYT-TANNHUT",
            "--name",
            "Laptop trạm",
        ],
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = added["token"].as_str().unwrap().to_string();
    let id = added["device"]["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("stk_") && token.len() > 60);
    let listed = String::from_utf8(server(&db, &["device", "list"]).stdout).unwrap();
    assert!(
        listed.contains(&id) && listed.contains("đang dùng") && !listed.contains(&token),
        "{listed}"
    );

    let (mut child, line) = serve(&db, &["--listen", "127.0.0.1:0"]);
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let info = Command::new("curl")
        .args([
            "-sf",
            "-H",
            &format!("Authorization: Bearer {token}"),
            &format!("{url}/api/v1/info"),
        ])
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["facility"], "TYT-TANNHUT");
    assert_eq!(info["protocol_max"], sync_protocol::wire::PROTOCOL_VERSION);
    let out = server(&db, &["device", "revoke", &id]);
    assert!(out.status.success());
    let revoked = Command::new("curl")
        .args([
            "-s",
            "-H",
            &format!("Authorization: Bearer {token}"),
            &format!("{url}/api/v1/info"),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("device_revoked"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn an_administrator_manages_accounts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("huyen.db");
    let out = server(
        &db,
        &[
            "facility",
            "add",
            "--code",
            "TYT-TANTUC",
            "--name",
            "Trạm Y tế xã Tân Túc",
        ],
    );
    assert!(out.status.success());
    let add = |password: &str, role: &str| {
        Command::new(env!("CARGO_BIN_EXE_sotiem-server"))
            .arg("--db")
            .arg(&db)
            .args([
                "account",
                "add",
                "--username",
                "nv.thao",
                "--facility",
                "TYT-TANTUC",
                "--role",
                role,
                "--full-name",
                "Phạm Thị Thảo",
                "--phone",
                "0903 456 789",
            ])
            .env("SOTIEM_INITIAL_PASSWORD", password)
            .output()
            .unwrap()
    };
    let weak = add("thao1234", "vaccinator");
    assert!(!weak.status.success());
    let text = String::from_utf8_lossy(&weak.stderr);
    assert!(
        text.contains("có chữ hoa") && text.contains("ký tự đặc biệt"),
        "{text}"
    );
    let bad_role = add("Thao@2024", "truong_tram");
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("vai trò"));
    let ok = add("Thao@2024", "vaccinator");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("đổi mật khẩu"));
    let again = add("Thao@2024", "vaccinator");
    assert!(String::from_utf8_lossy(&again.stderr).contains("đã có tài khoản nv.thao"));

    let list: Value =
        serde_json::from_slice(&server(&db, &["--json", "account", "list"]).stdout).unwrap();
    assert_eq!(list[0]["username"], "nv.thao");
    assert_eq!(list[0]["phone"], "0903456789");
    assert_eq!(list[0]["must_change_password"], true);
    assert!(
        !String::from_utf8_lossy(&server(&db, &["--json", "account", "list"]).stdout)
            .contains("argon2"),
        "no password hash in the listing"
    );
    assert!(
        server(&db, &["account", "revoke", "nv.thao"])
            .status
            .success()
    );
    let list: Value =
        serde_json::from_slice(&server(&db, &["--json", "account", "list"]).stdout).unwrap();
    assert_eq!(list[0]["status"], "revoked");
    let missing = server(&db, &["account", "revoke", "nv.khong.co"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("không có tài khoản"));

    // Every action above is in the administrators' audit log, the refused ones too, and the
    // chain verifies.
    let log: Value =
        serde_json::from_slice(&server(&db, &["--json", "audit", "list"]).stdout).unwrap();
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "facility_add",
            "account_create",
            "account_create_failed",
            "account_create",
            "account_create",
            "account_create_failed",
            "account_revoke",
            "account_revoke",
            "account_revoke_failed",
        ]
    );
    assert!(log[0]["actor"].as_str().unwrap().starts_with("cli:"));
    let verify = server(&db, &["audit", "verify"]);
    assert!(verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("nguyên vẹn: 9 mục"));
}

#[test]
fn a_reset_and_a_tampered_audit_log_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("huyen.db");
    assert!(
        server(
            &db,
            &[
                "facility",
                "add",
                "--code",
                "TYT-TANTUC",
                "--name",
                "Trạm Y tế xã Tân Túc"
            ]
        )
        .status
        .success()
    );
    let add = Command::new(env!("CARGO_BIN_EXE_sotiem-server"))
        .arg("--db")
        .arg(&db)
        .args([
            "account",
            "add",
            "--username",
            "nv.thao",
            "--facility",
            "TYT-TANTUC",
            "--role",
            "vaccinator",
            "--full-name",
            "Phạm Thị Thảo",
        ])
        .env("SOTIEM_INITIAL_PASSWORD", "Thao@2024")
        .output()
        .unwrap();
    assert!(add.status.success());
    let reset = Command::new(env!("CARGO_BIN_EXE_sotiem-server"))
        .arg("--db")
        .arg(&db)
        .args(["account", "reset-password", "nv.thao"])
        .env("SOTIEM_INITIAL_PASSWORD", "Moi@2025thao")
        .output()
        .unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert!(String::from_utf8_lossy(&reset.stdout).contains("phải đổi mật khẩu"));
    let reset = server(&db, &["account", "reset-authenticator", "nv.thao"]);
    assert!(reset.status.success());
    assert!(String::from_utf8_lossy(&reset.stdout).contains("ứng dụng xác thực"));
    assert!(server(&db, &["audit", "verify"]).status.success());

    // Someone with the file (and its key) erases the trace of a reset: verify names it.
    let key = std::fs::read_to_string(dir.path().join("huyen.db.key")).unwrap();
    let sql = "DELETE FROM admin_audit WHERE action = 'account_reset_password';";
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sotiem_sqlite::open(
            &db,
            &sotiem_sqlite::PoolConfig {
                key_hex: Some(key.trim().to_string()),
                create: false,
                max_connections: 1,
            },
        )
        .await
        .unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    });
    let verify = server(&db, &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(2));
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(
        text.contains("bị phá tại mục 4") && text.contains("thiếu mục 3"),
        "{text}"
    );
}

#[test]
fn a_new_database_is_encrypted_with_a_key_only_its_owner_reads() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tinh.db");
    let out = server(
        &db,
        &[
            "facility",
            "add",
            "--code",
            "TYT-TANNHUT",
            "--name",
            "Trạm Y tế xã Tân Nhựt",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_file = dir.path().join("tinh.db.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let bytes = std::fs::read(&db).unwrap();
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "the file is encrypted"
    );
    assert!(
        !bytes.windows(7).any(|w| w == b"TANNHUT"),
        "no facility code in clear"
    );
    assert!(server(&db, &["facility", "list"]).status.success());

    // A key file others can read is refused, naming the fix.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = server(&db, &["facility", "list"]);
    assert!(!open.status.success());
    assert!(String::from_utf8_lossy(&open.stderr).contains("chmod 600"));
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Without its key the file does not open, and says which key file it needs.
    std::fs::rename(&key_file, dir.path().join("elsewhere.key")).unwrap();
    let open = server(&db, &["facility", "list"]);
    assert!(!open.status.success());
    assert!(String::from_utf8_lossy(&open.stderr).contains("tinh.db.key"));
    // With the key named by SOTIEM_SERVER_DB_KEY_FILE it does.
    let open = Command::new(env!("CARGO_BIN_EXE_sotiem-server"))
        .arg("--db")
        .arg(&db)
        .args(["facility", "list"])
        .env(
            "SOTIEM_SERVER_DB_KEY_FILE",
            dir.path().join("elsewhere.key"),
        )
        .output()
        .unwrap();
    assert!(
        open.status.success(),
        "{}",
        String::from_utf8_lossy(&open.stderr)
    );
    assert!(String::from_utf8_lossy(&open.stdout).contains("TYT-TANNHUT"));
}

#[test]
fn plain_http_off_loopback_is_refused_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("huyen.db");
    // Every address of this machine: passwords would cross the network in clear.
    let out = server(&db, &["serve", "--listen", "0.0.0.0:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-cert") && err.contains("--insecure-http"),
        "{err}"
    );

    // A lab may ask for it explicitly.
    let (mut child, line) = serve(&db, &["--listen", "0.0.0.0:0", "--insecure-http"]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(line.starts_with("listening on http://0.0.0.0:"), "{line}");
}

#[test]
fn a_public_url_that_is_not_a_whole_https_address_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tinh.db");
    // Stations send their device token to this address for updates: no host, plain http over
    // the network, or a user name in it are refused before anything listens.
    for bad in [
        "sotiem.soyte.gov.vn",
        "http://sotiem.soyte.gov.vn",
        "https://quantri:matkhau@sotiem.soyte.gov.vn",
    ] {
        let out = server(
            &db,
            &["serve", "--listen", "127.0.0.1:0", "--public-url", bad],
        );
        assert!(!out.status.success(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--public-url") && err.contains("https"),
            "{bad}: {err}"
        );
    }
    let (mut child, line) = serve(
        &db,
        &[
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "https://sotiem.soyte.gov.vn/",
        ],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
}
