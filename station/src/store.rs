//! The encrypted SQLite file of a station and the low-level reads and writes on it.
//!
//! Layout of a data directory: `station.db` (SQLCipher; with `-wal`/`-shm` while open) and
//! `store.json`, which holds only the store's random id and where its key lives.

use crate::error::{Result, StationError};
use crate::key::{DbKey, KeySource};
use serde::{Deserialize, Serialize};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::{Path, PathBuf};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "station.db";
/// The descriptor file's name inside the data directory.
pub const STORE_FILE: &str = "store.json";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What `store.json` holds: nothing secret, nothing personal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreDescriptor {
    pub store_id: String,
    pub key_source: KeySource,
}

/// An open station database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    dir: PathBuf,
    descriptor: StoreDescriptor,
}

impl Store {
    /// Creates a new encrypted store in `dir`. The key is `explicit` when given, else the one in
    /// `SOTIEM_DB_KEY`, else a fresh key kept in the OS credential store.
    pub async fn create(dir: &Path, explicit: Option<DbKey>) -> Result<Store> {
        let (store_id, key, key_source) = begin_new(dir, explicit)?;
        Store::finish(dir, &key, true, store_id, key_source).await
    }

    /// Opens the store in `dir` with the `explicit` key when given, else the one in
    /// `SOTIEM_DB_KEY`, else from where the store says its key lives.
    pub async fn open(dir: &Path, explicit: Option<DbKey>) -> Result<Store> {
        let store_file = dir.join(STORE_FILE);
        let text = match std::fs::read_to_string(&store_file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StationError::NotInitialized(dir.to_path_buf()));
            }
            Err(source) => {
                return Err(StationError::Io {
                    path: store_file,
                    source,
                });
            }
        };
        let descriptor: StoreDescriptor =
            serde_json::from_str(&text).map_err(|e| StationError::Io {
                path: store_file.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?;
        let explicit = match explicit {
            Some(k) => Some(k),
            None => DbKey::from_env()?,
        };
        let key = match (explicit, descriptor.key_source) {
            (Some(k), _) => k,
            (None, KeySource::Keyring) => DbKey::load_from_keyring(&descriptor.store_id)?,
            (None, KeySource::Environment) => {
                return Err(StationError::KeyUnavailable(format!(
                    "dữ liệu này được tạo với khoá trong biến môi trường {}; hãy đặt lại biến đó",
                    crate::key::KEY_ENV
                )));
            }
        };
        if !dir.join(DB_FILE).exists() {
            return Err(StationError::NotInitialized(dir.to_path_buf()));
        }
        let pool = connect(dir, &key, false).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store {
            pool,
            dir: dir.to_path_buf(),
            descriptor,
        })
    }

    /// Creates a store in `dir` from a database copy (a backup's) under `copy_key`: the copy is
    /// exported into the new store under a new key (explicit, `SOTIEM_DB_KEY` or a fresh one in
    /// the OS credential store), then brought up to this version's schema.
    pub async fn create_from_copy(
        dir: &Path,
        copy: &Path,
        copy_key: &DbKey,
        explicit: Option<DbKey>,
    ) -> Result<Store> {
        let (store_id, key, key_source) = begin_new(dir, explicit)?;
        let config = sotiem_sqlite::PoolConfig {
            key_hex: Some(copy_key.to_hex()),
            create: false,
            max_connections: 1,
        };
        let source = sotiem_sqlite::open(copy, &config)
            .await
            .map_err(|e| match e {
                sotiem_sqlite::OpenError::WrongKey => StationError::WrongKey,
                sotiem_sqlite::OpenError::Sqlx(e) => StationError::Database(e),
            })?;
        let exported = export(&source, &dir.join(DB_FILE), &key).await;
        source.close().await;
        exported?;
        Store::finish(dir, &key, false, store_id, key_source).await
    }

    /// Opens a new store's database, brings it to this version's schema and writes its
    /// descriptor last: a directory without one was never fully created.
    async fn finish(
        dir: &Path,
        key: &DbKey,
        create: bool,
        store_id: String,
        key_source: KeySource,
    ) -> Result<Store> {
        let descriptor = StoreDescriptor {
            store_id,
            key_source,
        };
        let pool = connect(dir, key, create).await?;
        MIGRATOR.run(&pool).await?;
        write_descriptor(&dir.join(STORE_FILE), &descriptor)?;
        Ok(Store {
            pool,
            dir: dir.to_path_buf(),
            descriptor,
        })
    }

    /// Copies the whole database, as one consistent snapshot, into a new file at `path`
    /// encrypted under `key` (SQLCipher's export: no plain copy is ever written).
    pub async fn export_copy(&self, path: &Path, key: &DbKey) -> Result<()> {
        export(&self.pool, path, key).await
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What `store.json` says.
    pub fn descriptor(&self) -> &StoreDescriptor {
        &self.descriptor
    }

    /// Starts a write transaction that holds the write lock from its first statement, so a
    /// read-modify-write of a document cannot interleave with another writer's.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Reads a value from the meta table.
    pub(crate) async fn meta(&self, key: MetaKey) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Writes (or with `None` removes) a value of the meta table, in its own transaction.
    pub(crate) async fn set_meta(&self, key: MetaKey, value: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        write_meta(&mut tx, &[(key, value.map(str::to_string))]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The people flagged for repair ([`repair_key`]); a key that names no person is skipped.
    pub(crate) async fn flagged_for_repair(&self) -> Result<Vec<uuid::Uuid>> {
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM meta WHERE key LIKE ?")
            .bind(format!("{REPAIR_PREFIX}%"))
            .fetch_all(&self.pool)
            .await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix(REPAIR_PREFIX))
            .filter_map(|p| uuid::Uuid::parse_str(p).ok())
            .collect())
    }

    /// Closes the pool, checkpointing the WAL into the main file.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Refuses a directory that already holds a station (nothing is overwritten).
pub(crate) fn ensure_no_station(dir: &Path) -> Result<()> {
    if dir.join(STORE_FILE).exists() || dir.join(DB_FILE).exists() {
        return Err(StationError::AlreadyInitialized(dir.to_path_buf()));
    }
    Ok(())
}

/// The first steps of a new store in `dir`: no station there yet, the directory made, a new id
/// and its key.
fn begin_new(dir: &Path, explicit: Option<DbKey>) -> Result<(String, DbKey, KeySource)> {
    ensure_no_station(dir)?;
    std::fs::create_dir_all(dir).map_err(|source| StationError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let store_id = uuid::Uuid::now_v7().to_string();
    let (key, key_source) = new_key(&store_id, explicit)?;
    Ok((store_id, key, key_source))
}

/// The key of a new store: `explicit` when given, else the one in `SOTIEM_DB_KEY`, else a fresh
/// key kept in the OS credential store.
fn new_key(store_id: &str, explicit: Option<DbKey>) -> Result<(DbKey, KeySource)> {
    let explicit = match explicit {
        Some(k) => Some(k),
        None => DbKey::from_env()?,
    };
    Ok(match explicit {
        Some(k) => (k, KeySource::Environment),
        None => {
            let k = DbKey::generate();
            k.save_to_keyring(store_id)?;
            (k, KeySource::Keyring)
        }
    })
}

async fn connect(dir: &Path, key: &DbKey, create: bool) -> Result<SqlitePool> {
    let config = sotiem_sqlite::PoolConfig {
        key_hex: Some(key.to_hex()),
        create,
        max_connections: 4,
    };
    sotiem_sqlite::open(&dir.join(DB_FILE), &config)
        .await
        .map_err(|e| match e {
            sotiem_sqlite::OpenError::WrongKey => StationError::WrongKey,
            sotiem_sqlite::OpenError::Sqlx(e) => StationError::Database(e),
        })
}

/// SQLCipher's `sqlcipher_export` of `pool`'s database into a new encrypted file, inside one
/// read transaction so writers on other connections do not tear the copy.
async fn export(pool: &SqlitePool, path: &Path, key: &DbKey) -> Result<()> {
    // An empty file is an empty database to SQLite; ATTACH would not create one on a
    // connection opened without the create flag.
    std::fs::File::create_new(path).map_err(|source| StationError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut conn = pool.acquire().await?;
    sqlx::query("ATTACH DATABASE ? AS export_target KEY ?")
        .bind(path.to_string_lossy().into_owned())
        .bind(format!("x'{}'", key.to_hex()))
        .execute(&mut *conn)
        .await?;
    let copied = async {
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        let r = sqlx::query("SELECT sqlcipher_export('export_target')")
            .execute(&mut *conn)
            .await;
        let end = if r.is_ok() { "COMMIT" } else { "ROLLBACK" };
        sqlx::query(end).execute(&mut *conn).await?;
        r.map(|_| ())
    }
    .await;
    // Detach whatever happened: the connection goes back to the pool.
    let detached = sqlx::query("DETACH DATABASE export_target")
        .execute(&mut *conn)
        .await;
    copied?;
    detached?;
    Ok(())
}

fn write_descriptor(path: &Path, d: &StoreDescriptor) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(d).unwrap_or_default();
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| StationError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes (or with `None` removes) values of the meta table inside `tx`.
pub(crate) async fn write_meta(
    tx: &mut sqlx::SqliteConnection,
    meta: &[(MetaKey, Option<String>)],
) -> crate::Result<()> {
    for (key, value) in meta {
        match value {
            Some(v) => {
                sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                    .bind(key.as_str())
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query("DELETE FROM meta WHERE key = ?")
                    .bind(key.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    Ok(())
}

/// A key of the meta table: each value the station keeps there has its own, and `as_str` is
/// the text stored in the `key` column (never change one: existing databases hold it). The
/// per-person repair flags (`repair/<person id>`) are the one family of keys outside this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetaKey {
    /// The station's own facility code, written when the station is set up.
    FacilityCode,
    /// This installation's device id.
    DeviceId,
    /// This device's Automerge actor id (hex).
    ActorId,
    /// The area this station's unit signs for (a JSON list of facility codes).
    SigningArea,
    /// The account resets this laptop has shown their holders (a JSON list of ids).
    ResetNoticesSeen,
    /// The latest time a sign-in on this laptop saw (a clock set back is refused).
    ClockSeen,
    /// When the last sync succeeded.
    LastSyncAt,
    /// Why the last sync failed (removed by a sync that succeeds).
    LastSyncError,
    /// The server's address.
    SyncServerUrl,
    /// The server the cursors belong to (pointed at another server, they are forgotten).
    SyncServerId,
    /// Where the pull stands in the server's sequence.
    SyncCursor,
    /// The last person a bootstrap under way received.
    BootstrapAfter,
    /// The server's sequence when the bootstrap under way began.
    BootstrapHighWater,
    /// The last audit entry the server holds.
    AuditSyncedSeq,
    /// The hash of that entry (a removed or edited tail shows).
    AuditSyncedHash,
    /// The version of the last complaint pulled.
    ComplaintCursor,
    /// The facilities a complaint can be forwarded to, as last fetched (JSON).
    ComplaintDestinations,
    /// The passport pull's cursor: the last version received.
    PassportCursorSince,
    /// The passport pull's cursor: the last passport of that version received.
    PassportCursorAfter,
    /// The public half of the backup identity backups are encrypted to.
    BackupRecipient,
    /// The backup identity, wrapped under the recovery passphrase.
    BackupIdentity,
    /// The folder daily backups go to.
    BackupFolder,
    /// When the last backup was written.
    BackupLastAt,
    /// The file the last backup was written to.
    BackupLastFile,
    /// Why the last daily backup failed.
    BackupLastError,
}

impl MetaKey {
    /// The text of the key in the meta table.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MetaKey::FacilityCode => "facility_code",
            MetaKey::DeviceId => "device_id",
            MetaKey::ActorId => "actor_id",
            MetaKey::SigningArea => "signing_area",
            MetaKey::ResetNoticesSeen => "reset_notices_seen",
            MetaKey::ClockSeen => "clock_seen",
            MetaKey::LastSyncAt => "last_sync_at",
            MetaKey::LastSyncError => "last_sync_error",
            MetaKey::SyncServerUrl => "sync_server_url",
            MetaKey::SyncServerId => "sync_server_id",
            MetaKey::SyncCursor => "sync_cursor",
            MetaKey::BootstrapAfter => "bootstrap_after",
            MetaKey::BootstrapHighWater => "bootstrap_high_water",
            MetaKey::AuditSyncedSeq => "audit_synced_seq",
            MetaKey::AuditSyncedHash => "audit_synced_hash",
            MetaKey::ComplaintCursor => "complaint_cursor",
            MetaKey::ComplaintDestinations => "complaint_destinations",
            MetaKey::PassportCursorSince => "passport_cursor_since",
            MetaKey::PassportCursorAfter => "passport_cursor_after",
            MetaKey::BackupRecipient => "backup_recipient",
            MetaKey::BackupIdentity => "backup_identity",
            MetaKey::BackupFolder => "backup_folder",
            MetaKey::BackupLastAt => "backup_last_at",
            MetaKey::BackupLastFile => "backup_last_file",
            MetaKey::BackupLastError => "backup_last_error",
        }
    }
}

/// The prefix of the per-person repair flags in the meta table.
const REPAIR_PREFIX: &str = "repair/";

/// The meta key flagging `person` for repair: their document misses changes or could not be
/// read, and is fetched whole at the next sync.
pub(crate) fn repair_key(person: uuid::Uuid) -> String {
    format!("{REPAIR_PREFIX}{person}")
}
