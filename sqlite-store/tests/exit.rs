//! A process that exits while a connection is still busy or closing (its task cancelled with
//! its runtime) must wait for it: SQLCipher's own exit handler frees memory that connection
//! still uses, and the process dies with a double free.

use sotiem_sqlite::{PoolConfig, live_workers, open};
use std::process::Command;
use std::time::Duration;

const CHILD_DIR: &str = "SOTIEM_SQLITE_EXIT_CHILD";
const TEST_NAME: &str = "exit_waits_for_a_connection_cancelled_mid_query";

#[test]
fn exit_waits_for_a_connection_cancelled_mid_query() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        cancel_a_query_then_exit(std::path::Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .output()
        .expect("child runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child process failed at exit: {:?}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("connection workers left after exit handlers: 0"),
        "{stderr}"
    );
}

/// Runs in the child: starts a long query, drops the runtime under it, and returns so the
/// test harness exits at once.
fn cancel_a_query_then_exit(dir: &std::path::Path) {
    // Registered before any database is opened, so it runs after every other exit handler
    // (ours and SQLCipher's): no worker may be left by then.
    // SAFETY: registers a plain `extern "C" fn()` that only reads /proc and writes stderr.
    unsafe {
        libc::atexit(report_workers);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // A plain database first, as the server's store comes before a station's in the
        // scenarios: libcrypto is first used only later, by the encrypted one.
        let plain = PoolConfig {
            key_hex: None,
            create: true,
            max_connections: 1,
        };
        let _server = open(&dir.join("plain.db"), &plain).await.expect("opens");
        let config = PoolConfig {
            key_hex: Some("7f".repeat(32)),
            create: true,
            max_connections: 2,
        };
        let pool = open(&dir.join("exit.db"), &config).await.expect("opens");
        tokio::spawn(async move {
            // Seconds of work inside one sqlite3_step: the worker cannot notice the cancel.
            let _ = sqlx::query(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000)
                 SELECT count(*) FROM c",
            )
            .execute(&pool)
            .await;
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(live_workers() >= 1, "the query is running on its worker");
    });
    rt.shutdown_background();
}

extern "C" fn report_workers() {
    let left = live_workers();
    eprintln!("connection workers left after exit handlers: {left}");
    if left > 0 {
        // SAFETY: ends the process at once with a failure status; nothing else runs after.
        unsafe { libc::_exit(3) };
    }
}
