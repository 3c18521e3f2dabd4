//! Storage: an embedded SQLite file by default, PostgreSQL when given a `postgres://` URL. The
//! same SQL runs on both (`$n` placeholders, used in ascending order); `with_db!` expands a body
//! once per backend so each is type-checked against its own driver.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, SqlitePool};
use std::path::Path;
use std::str::FromStr;

/// The server's database.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool.
#[macro_export]
macro_rules! with_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Ends a query builder's text with the `…)` of an `IN (` over `$codes` (any slice of strings),
/// each one bound.
macro_rules! in_list {
    ($q:expr, $codes:expr) => {{
        let mut list = $q.separated(", ");
        for c in $codes.iter() {
            list.push_bind(::std::convert::AsRef::<str>::as_ref(c));
        }
        list.push_unseparated(")");
    }};
}
pub(crate) use in_list;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "không mở được cơ sở dữ liệu: khoá không đúng, hoặc tệp khoá {0} bị mất (khoá lấy từ SOTIEM_SERVER_DB_KEY, nếu không thì từ tệp khoá)"
    )]
    WrongKey(String),
    #[error("khoá của cơ sở dữ liệu phải gồm đúng 64 chữ số thập lục phân ({0})")]
    BadKey(String),
    #[error(
        "tệp khoá {0} đọc được bởi người khác ngoài chủ của nó: chạy `chmod 600 {0}` rồi thử lại"
    )]
    KeyFileOpenToOthers(String),
    #[error("không đọc/ghi được tệp khoá {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("lỗi nâng cấp cơ sở dữ liệu: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The environment variable with the SQLCipher key of the server's SQLite file (else a key file).
pub const SERVER_KEY_ENV: &str = "SOTIEM_SERVER_DB_KEY";
/// The environment variable naming the key file (else `<database>.key` beside the file).
pub const SERVER_KEY_FILE_ENV: &str = "SOTIEM_SERVER_DB_KEY_FILE";

/// The key file of an SQLite file kept beside it: `sotiem-server.db` → `sotiem-server.db.key`.
pub fn key_file_beside(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".key");
    std::path::PathBuf::from(name)
}

/// The key of the server's SQLite file at `path`: `SOTIEM_SERVER_DB_KEY`, else the key file
/// (`SOTIEM_SERVER_DB_KEY_FILE`, else beside the database), which a new database gets made for
/// it (random, readable by its owner only). An existing file with no key anywhere is one made
/// before encryption became the default: it opens unencrypted, with a warning.
pub fn sqlite_key(path: &Path) -> Result<Option<String>, DbError> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(k) = var(SERVER_KEY_ENV) {
        return checked_key(k.trim(), SERVER_KEY_ENV).map(Some);
    }
    let key_file = var(SERVER_KEY_FILE_ENV).map_or_else(|| key_file_beside(path), Into::into);
    let shown = key_file.display().to_string();
    let io = |source| DbError::KeyFile {
        path: shown.clone(),
        source,
    };
    if key_file.exists() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_file)
                .map_err(io)?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(DbError::KeyFileOpenToOthers(shown));
            }
        }
        let text = std::fs::read_to_string(&key_file).map_err(io)?;
        return checked_key(text.trim(), &shown).map(Some);
    }
    if path.exists() {
        tracing::warn!(
            "{} is not encrypted (made before encryption was the default, or with no key given): \
             copy its data into a new, encrypted file to protect it",
            path.display()
        );
        return Ok(None);
    }
    let key: String = rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let Some(parent) = key_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&key_file).map_err(io)?;
    std::io::Write::write_all(&mut file, format!("{key}\n").as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    tracing::info!("new database encrypted; its key is in {shown} (keep a copy apart from it)");
    Ok(Some(key))
}

fn checked_key(key: &str, from: &str) -> Result<String, DbError> {
    if key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(DbError::BadKey(from.to_string()));
    }
    Ok(key.to_string())
}

impl Db {
    /// Opens the database named by `url` (`postgres://…`, `sqlite://PATH` or a plain path) and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            Db::open_postgres(options).await
        } else {
            let path = Path::new(url.strip_prefix("sqlite://").unwrap_or(url));
            let key = sqlite_key(path)?;
            Db::open_sqlite(path, key).await
        }
    }

    /// Opens (creating if needed) an SQLite file, encrypted when a key is given.
    pub async fn open_sqlite(path: &Path, key_hex: Option<String>) -> Result<Db, DbError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Sqlx(sqlx::Error::Io(e)))?;
        }
        let config = sotiem_sqlite::PoolConfig {
            key_hex,
            create: true,
            max_connections: 8,
        };
        let pool = sotiem_sqlite::open(path, &config)
            .await
            .map_err(|e| match e {
                sotiem_sqlite::OpenError::WrongKey => {
                    DbError::WrongKey(key_file_beside(path).display().to_string())
                }
                sotiem_sqlite::OpenError::Sqlx(e) => DbError::Sqlx(e),
            })?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Db::Sqlite(pool))
    }

    /// Opens PostgreSQL with the given options.
    pub async fn open_postgres(options: PgConnectOptions) -> Result<Db, DbError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Db::Postgres(pool))
    }

    /// "sqlite" or "postgres".
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        with_db!(self, pool => pool.close().await)
    }
}
