//! A real central server on loopback for scenarios, on SQLite or PostgreSQL.

use sotiem_server::admin::{self, FacilityRecord};
use sotiem_server::{Db, Server};
use sqlx::postgres::PgConnectOptions;
use std::net::SocketAddr;
use std::str::FromStr;
use tokio::sync::oneshot;

/// Which storage the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL the tests use: `SOTIEM_TEST_PG_URL`, or the local one of these machines.
pub fn postgres_url() -> String {
    std::env::var("SOTIEM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres:sotiem@127.0.0.1:5432/test".into())
}

/// The proof of work the scenarios' complaint forms ask: each citizen's post solves one, and
/// the default (20 bits) takes a debug build a second or more. The work itself is proven by
/// `pow`'s unit tests, and the page's script at the default in the Chromium test.
pub const SCENARIO_POW_BITS: u32 = 12;

/// A server listening on a free loopback port.
pub struct TestServer {
    pub db: Db,
    /// The roots facility signatures must chain to (add a test CA here).
    pub trust: sotiem_server::certificates::TrustStore,
    /// The running server's state (for jobs the server runs itself, such as verification).
    pub state: sotiem_server::AppState,
    /// The server's clock, which a test moves forward (shared with the lab's stations).
    pub clock: sync_protocol::Clock,
    /// Where the server keeps published app packages.
    pub updates_dir: std::path::PathBuf,
    pub addr: SocketAddr,
    pub url: String,
    schema: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with a fresh, empty store. PostgreSQL gets a schema of its own; if it
    /// cannot be reached the test fails (it is never skipped).
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with_pow(backend, SCENARIO_POW_BITS).await
    }

    /// [`TestServer::start`] whose public complaint form asks `bits` of proof of work.
    pub async fn start_with_pow(backend: Backend, bits: u32) -> TestServer {
        TestServer::start_configured(backend, |state| {
            state.pow = state.pow.clone().with_difficulty(bits);
        })
        .await
    }

    /// A server whose state `configure` sets before it serves (trusted proxies, the public
    /// address, the complaint form's proof of work); the rest as the server's defaults.
    pub async fn start_configured(
        backend: Backend,
        configure: impl FnOnce(&mut sotiem_server::AppState),
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (db, schema) = match backend {
            Backend::Sqlite => (
                Db::open_sqlite(&dir.path().join("server.db"), None)
                    .await
                    .expect("sqlite opens"),
                None,
            ),
            Backend::Postgres => {
                let url = postgres_url();
                let admin = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {url} is required by this test and is unreachable: {e}")
                });
                drop_stale_schemas(&admin).await;
                let schema = format!(
                    "sotiem_t_{}_{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                    hex::encode(rand::random::<[u8; 4]>())
                );
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await
                    .expect("create schema");
                admin.close().await;
                let options = PgConnectOptions::from_str(&url)
                    .expect("url")
                    .options([("search_path", schema.as_str())]);
                (
                    Db::open_postgres(options).await.expect("postgres opens"),
                    Some(schema),
                )
            }
        };
        let clock = sync_protocol::Clock::movable();
        let mut server = Server::start_with_clock(db.clone(), clock.clone())
            .await
            .expect("server starts");
        let updates_dir = dir.path().join("updates");
        server.state.updates_dir = updates_dir.clone();
        configure(&mut server.state);
        let trust = server.state.trust.clone();
        let state = server.state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel();
        tokio::spawn(server.serve(listener, async {
            let _ = rx.await;
        }));
        TestServer {
            db,
            trust,
            state,
            clock,
            updates_dir,
            addr,
            url: format!("http://{addr}"),
            schema,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    /// The SQLite file of an SQLite-backed server (unencrypted in tests), for a second process
    /// that works on the same store, as `sotiem-server` commands do beside a running server.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self.schema
            .is_none()
            .then(|| self._dir.path().join("server.db"))
    }

    /// Adds a facility, named as the organisation certificates of the test PKI name it.
    pub async fn facility(
        &self,
        code: &str,
        kind: &str,
        commune: Option<&str>,
        parent: Option<&str>,
    ) {
        admin::add_facility(
            &self.db,
            &FacilityRecord {
                code: code.into(),
                name: match code {
                    "TYT-TANNHUT" => "Trạm Y tế xã Tân Nhựt".into(),
                    "TYT-TANTUC" => "Trạm Y tế xã Tân Túc".into(),
                    "TYT-TANNHUT-LD" => "Đội tiêm lưu động xã Tân Nhựt".into(),
                    "TTYT-BINHCHANH" => "Trung tâm Y tế huyện Bình Chánh".into(),
                    _ => format!("Cơ sở {code}"),
                },
                kind: kind.into(),
                province: Some("TP Hồ Chí Minh".into()),
                commune: commune.map(str::to_string),
                parent: parent.map(str::to_string),
            },
        )
        .await
        .expect("facility added");
    }

    /// Puts a facility under another (a commune station under its district centre).
    pub async fn set_parent(&self, code: &str, parent: &str) {
        sotiem_server::with_db!(&self.db, pool => {
            sqlx::query("UPDATE facilities SET parent = $1 WHERE code = $2")
                .bind(parent)
                .bind(code)
                .execute(pool)
                .await
                .map(|_| ())
                .expect("parent set")
        });
    }

    /// Registers a device and returns its token.
    pub async fn device(&self, facility: &str) -> String {
        admin::add_device(&self.db, facility, &format!("Máy của {facility}"))
            .await
            .expect("device added")
            .token
    }

    /// Counts rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        sotiem_server::with_db!(&self.db, pool => {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.expect("count")
        })
    }

    /// Stops serving and drops the PostgreSQL schema.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.db.close().await;
        if let Some(schema) = &self.schema
            && let Ok(admin) = sqlx::PgPool::connect(&postgres_url()).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }
}

/// Schemas left by tests that failed more than an hour ago.
async fn drop_stale_schemas(admin: &sqlx::PgPool) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'sotiem_t_%'",
    )
    .fetch_all(admin)
    .await
    .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for name in names {
        let created: u64 = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if created + 3600 < now {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
                .execute(admin)
                .await;
        }
    }
}

/// Runs a scenario on both backends: `both_backends!(name);` defines `name_on_sqlite` and
/// `name_on_postgres`, each calling `name(Backend::…)`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        ::paste::paste! {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn [<$name _on_sqlite>]() {
                $name($crate::server::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn [<$name _on_postgres>]() {
                $name($crate::server::Backend::Postgres).await
            }
        }
    };
}
