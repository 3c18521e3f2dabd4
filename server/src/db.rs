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

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("không mở được cơ sở dữ liệu: khoá SOTIEM_SERVER_DB_KEY không đúng")]
    WrongKey,
    #[error("SOTIEM_SERVER_DB_KEY phải gồm đúng 64 chữ số thập lục phân")]
    BadKey,
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("lỗi nâng cấp cơ sở dữ liệu: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The environment variable with an optional SQLCipher key for the server's SQLite file.
pub const SERVER_KEY_ENV: &str = "SOTIEM_SERVER_DB_KEY";

impl Db {
    /// Opens the database named by `url` (`postgres://…`, `sqlite://PATH` or a plain path) and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            Db::open_postgres(options).await
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let key = match std::env::var(SERVER_KEY_ENV) {
                Ok(k) if !k.trim().is_empty() => {
                    let k = k.trim().to_string();
                    if k.len() != 64 || !k.chars().all(|c| c.is_ascii_hexdigit()) {
                        return Err(DbError::BadKey);
                    }
                    Some(k)
                }
                _ => None,
            };
            Db::open_sqlite(Path::new(path), key).await
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
                sotiem_sqlite::OpenError::WrongKey => DbError::WrongKey,
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
