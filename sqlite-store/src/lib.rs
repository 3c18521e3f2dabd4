//! SQLCipher-encrypted SQLite connection pools, shared by the station and the server.
//!
//! SQLCipher is SQLite with page-level encryption: with a key, nothing in the file (or its WAL)
//! is readable without it. The key is a raw 256-bit key (no passphrase derivation); who keeps it
//! is the caller's business.

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, Once};
use std::time::Duration;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The key does not decrypt the file (SQLite error 26, "file is not a database").
    #[error("the key does not decrypt the database")]
    WrongKey,
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

/// How to open a database.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// A 256-bit key as 64 hex digits, or none for a plain (unencrypted) file.
    pub key_hex: Option<String>,
    pub create: bool,
    pub max_connections: u32,
}

/// Opens (or creates) the database at `path` in WAL mode with every commit fsynced, foreign
/// keys on and temporary data kept in memory. A wrong key is reported as [`OpenError::WrongKey`].
pub async fn open(path: &Path, config: &PoolConfig) -> Result<SqlitePool, OpenError> {
    // Before SQLCipher first touches libcrypto: initialised this way, OpenSSL registers no
    // `atexit` cleanup. Otherwise, when the first pool opened is a plain one (the server's),
    // OpenSSL's cleanup would be registered after our exit handler and run before it, freeing
    // what connections still closing use.
    openssl_sys::init();
    let mut options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(path)
        .create_if_missing(config.create);
    if let Some(key) = &config.key_hex {
        options = options.pragma("key", format!("\"x'{key}'\""));
    }
    let options = options
        .journal_mode(SqliteJournalMode::Wal)
        // A recorded dose must survive a power cut: fsync on every commit.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // Sorts and temporary indexes stay in memory, never in plaintext temp files.
        .pragma("temp_store", "MEMORY")
        // Named so the exit handler can wait for connections still closing (see below).
        .thread_name(|id| format!("{WORKER_PREFIX}{id}"));
    let pool = SqlitePoolOptions::new()
        .max_connections(config.max_connections)
        .connect_with(options)
        .await
        .map_err(map_open_error)?;
    // SQLCipher only notices a wrong key when a page is first read.
    sqlx::query("SELECT count(*) FROM sqlite_master")
        .execute(&pool)
        .await
        .map_err(map_open_error)?;
    close_at_exit(&pool);
    Ok(pool)
}

fn map_open_error(e: sqlx::Error) -> OpenError {
    if let sqlx::Error::Database(db) = &e
        && (db.code().as_deref() == Some("26") || db.message().contains("file is not a database"))
    {
        return OpenError::WrongKey;
    }
    OpenError::Sqlx(e)
}

/// Pools not yet closed, closed at process exit.
static OPEN_POOLS: Mutex<Vec<SqlitePool>> = Mutex::new(Vec::new());
static EXIT_HOOK: Once = Once::new();

/// Prefix of the name of each connection's worker thread (Linux keeps 15 bytes of a name).
pub const WORKER_PREFIX: &str = "sotiem-sql-";

/// How long the exit handler waits for connections to close before letting the process go.
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// SQLCipher frees its private heap and crypto provider in an `atexit` handler. sqlx runs each
/// SQLite connection on a worker thread and, when a connection is dropped rather than closed
/// (a pool dropped, a task cancelled when its runtime shuts down), closes it on that thread
/// later. A process that exits meanwhile (a CLI command, a test binary, the app window
/// closing) crashes with a double free when that close runs after SQLCipher's handler. So we
/// keep every pool until it is closed, and our own `atexit` handler, registered after
/// SQLCipher's so it runs before it, closes the rest and waits for every worker to finish.
fn close_at_exit(pool: &SqlitePool) {
    if let Ok(mut pools) = OPEN_POOLS.lock() {
        pools.retain(|p| !p.is_closed());
        pools.push(pool.clone());
    }
    EXIT_HOOK.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn()` with the C runtime; it takes no arguments
        // and touches only Rust statics.
        unsafe {
            libc::atexit(close_open_pools);
        }
    });
}

extern "C" fn close_open_pools() {
    let pools = match OPEN_POOLS.lock() {
        Ok(mut p) => std::mem::take(&mut *p),
        Err(_) => Vec::new(),
    };
    let deadline = std::time::Instant::now() + EXIT_WAIT;
    if !pools.iter().all(SqlitePool::is_closed) {
        // On a thread of its own: this thread's runtime context may already be torn down.
        let closer = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    for pool in pools {
                        let _ = tokio::time::timeout_at(deadline.into(), pool.close()).await;
                    }
                });
            }
        });
        let _ = closer.join();
    }
    while live_workers() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many connection worker threads are still running (still able to touch SQLCipher).
#[cfg(target_os = "linux")]
pub fn live_workers() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with(WORKER_PREFIX))
        })
        .count()
}

/// How many connection worker threads are still running. Only Linux lets a process list its
/// threads by name; elsewhere the app closes its station before it exits.
#[cfg(not(target_os = "linux"))]
pub fn live_workers() -> usize {
    0
}
