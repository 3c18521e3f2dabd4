//! The station's operations on people and doses. Every write is one transaction holding the
//! document, its materialised columns, the outbox entries and the audit entry.

mod access;
mod integrity;
mod outbox;
mod people;
mod replica;
mod search;

pub use outbox::*;
pub use people::*;
pub(crate) use replica::{Audit, RemoteBatch};
pub use search::*;

use crate::audit::{self, AuditEntry};
use crate::error::{Result, StationError};
use crate::facility::{Facility, FacilityKind};
use crate::key::DbKey;
use crate::progress::{SigningControl, SyncControl};
use crate::session::Session;
use crate::store::{MetaKey, Store, StoreDescriptor, write_meta};
use automerge::{ActorId, Change};
use serde::Serialize;
use sqlx::Row;
use std::path::Path;
use sync_protocol::validate::{self, MAX_TEXT};
use sync_protocol::{Catalogue, CommitMeta, Field, Problem, text};
use uuid::Uuid;

/// Counts that tell how a station stands.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StationStatus {
    pub facility: Facility,
    pub device_id: String,
    pub persons: i64,
    pub doses: i64,
    pub pending_changes: i64,
    pub audit_entries: i64,
}

/// The station: an open store, this device, its facility and who is working on it.
pub struct Station {
    store: Store,
    device_id: String,
    actor: ActorId,
    catalogue: Catalogue,
    /// The routine immunization schedule (every rule set, chosen by date).
    schedule: sync_protocol::Schedule,
    // Interior mutability so that one `Arc<Station>` serves the UI while a sync runs: reads and
    // writes of people never wait for the network.
    facility: std::sync::RwLock<Facility>,
    session: std::sync::RwLock<Option<Session>>,
    pub(crate) sync_control: SyncControl,
    pub(crate) signing_control: SigningControl,
    /// One sender of complaint answers at a time (the background sync and a nurse's answer).
    pub(crate) complaint_sender: tokio::sync::Mutex<()>,
    /// The time sessions, leases, locks and one-time codes are checked against.
    clock: sync_protocol::Clock,
}

/// Facts of a new station.
#[derive(Debug, Clone)]
pub struct NewStation {
    pub facility_code: String,
    pub facility_name: String,
    pub kind: FacilityKind,
    pub province: Option<String>,
    pub commune: Option<String>,
}

impl Station {
    /// Creates the encrypted store of a new station in `dir`, its key in the OS credential store
    /// (or `SOTIEM_DB_KEY`).
    pub async fn init(dir: &Path, new: NewStation) -> Result<Station> {
        Station::init_with_key(dir, new, None).await
    }

    /// Like [`Station::init`] with an explicit key (servers, tests).
    pub async fn init_with_key(dir: &Path, new: NewStation, key: Option<DbKey>) -> Result<Station> {
        validate::check_code(Field::Facility, &new.facility_code)?;
        let name = text::clean(&new.facility_name);
        if name.is_empty() {
            return Err(StationError::invalid(
                Field::FacilityName,
                Problem::Required,
            ));
        }
        validate::check_text(Field::FacilityName, Some(&name), MAX_TEXT)?;
        let store = Store::create(dir, key).await?;
        let device_id = Uuid::now_v7().to_string();
        let actor: [u8; 16] = rand::random();
        let mut tx = store.begin_write().await?;
        write_meta(
            &mut tx,
            &[
                (MetaKey::FacilityCode, Some(new.facility_code.clone())),
                (MetaKey::DeviceId, Some(device_id)),
                (MetaKey::ActorId, Some(hex::encode(actor))),
            ],
        )
        .await?;
        sqlx::query(
            "INSERT INTO facilities (code, name, kind, province, commune, parent) VALUES (?, ?, ?, ?, ?, NULL)",
        )
        .bind(&new.facility_code)
        .bind(&name)
        .bind(new.kind.as_str())
        .bind(clean_opt(new.province.as_deref()))
        .bind(clean_opt(new.commune.as_deref()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Station::from_store(store).await
    }

    /// Opens the station whose data is in `dir`.
    pub async fn open(dir: &Path) -> Result<Station> {
        Station::open_with_key(dir, None).await
    }

    /// Like [`Station::open`] with an explicit key.
    pub async fn open_with_key(dir: &Path, key: Option<DbKey>) -> Result<Station> {
        let store = Store::open(dir, key).await?;
        Station::from_store(store).await
    }

    async fn from_store(store: Store) -> Result<Station> {
        let missing = || StationError::NotInitialized(store.dir().to_path_buf());
        let code = store
            .meta(MetaKey::FacilityCode)
            .await?
            .ok_or_else(missing)?;
        let device_id = store.meta(MetaKey::DeviceId).await?.ok_or_else(missing)?;
        let actor_hex = store.meta(MetaKey::ActorId).await?.ok_or_else(missing)?;
        let actor = ActorId::from(hex::decode(&actor_hex).map_err(|_| missing())?);
        let row = sqlx::query(
            "SELECT code, name, kind, province, commune, parent FROM facilities WHERE code = ?",
        )
        .bind(&code)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(missing)?;
        let facility = Facility {
            code: row.get("code"),
            name: row.get("name"),
            kind: FacilityKind::parse(row.get::<&str, _>("kind"))?,
            province: row.get("province"),
            commune: row.get("commune"),
            parent: row.get("parent"),
        };
        let mut catalogue = Catalogue::built_in();
        let extra = store.dir().join("vaccines.json");
        if extra.exists() {
            let json = std::fs::read_to_string(&extra).map_err(|source| StationError::Io {
                path: extra,
                source,
            })?;
            catalogue.extend_from_json(&json)?;
        }
        let station = Station {
            store,
            device_id,
            actor,
            catalogue,
            schedule: sync_protocol::Schedule::current()?,
            facility: std::sync::RwLock::new(facility),
            session: std::sync::RwLock::new(None),
            sync_control: SyncControl::default(),
            signing_control: SigningControl::default(),
            complaint_sender: tokio::sync::Mutex::new(()),
            clock: sync_protocol::Clock::system(),
        };
        station.fill_outbox_authors().await?;
        Ok(station)
    }

    /// Names the author of pending changes written before the outbox kept it.
    async fn fill_outbox_authors(&self) -> Result<()> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT change_hash, change FROM outbox WHERE author IS NULL")
                .fetch_all(self.store.pool())
                .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.store.begin_write().await?;
        for (hash, bytes) in rows {
            let author = Change::from_bytes(bytes)
                .ok()
                .and_then(|c| CommitMeta::from_change(&c))
                .map(|m| m.user);
            sqlx::query("UPDATE outbox SET author = ? WHERE change_hash = ?")
                .bind(author)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the facility whose scope this station works in (a mobile team's parent), as the
    /// server says.
    pub(crate) async fn adopt_parent(&self, parent: Option<&str>) -> Result<()> {
        let facility = self.facility();
        if facility.parent.as_deref() == parent {
            return Ok(());
        }
        sqlx::query("UPDATE facilities SET parent = ? WHERE code = ?")
            .bind(parent)
            .bind(&facility.code)
            .execute(self.store.pool())
            .await?;
        self.facility
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .parent = parent.map(str::to_string);
        Ok(())
    }

    /// Records the mobile teams that work under this facility (their doses may be signed here).
    pub(crate) async fn adopt_mobile_teams(&self, codes: &[String]) -> Result<()> {
        let own = self.facility().code;
        let mut tx = self.store.pool().begin().await?;
        sqlx::query("DELETE FROM facilities WHERE kind = 'mobile_team' AND parent = ?")
            .bind(&own)
            .execute(&mut *tx)
            .await?;
        for code in codes.iter().filter(|c| **c != own) {
            sqlx::query(
                "INSERT INTO facilities (code, name, kind, province, commune, parent)
                 VALUES (?, ?, 'mobile_team', NULL, NULL, ?)
                 ON CONFLICT (code) DO UPDATE SET kind = 'mobile_team', parent = excluded.parent",
            )
            .bind(code)
            .bind(code)
            .bind(&own)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the area this station's unit signs for (the server's word). Returns whether it
    /// grew: the people of a newly added facility are then fetched afresh with the next bootstrap.
    pub(crate) async fn adopt_area(&self, codes: &[String]) -> Result<bool> {
        let mut codes = codes.to_vec();
        codes.sort();
        codes.dedup();
        let before: Vec<String> = self
            .store
            .meta(MetaKey::SigningArea)
            .await?
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default();
        if before == codes {
            return Ok(false);
        }
        let grew = codes.iter().any(|c| !before.contains(c));
        // A list of strings always serialises.
        let json = serde_json::to_string(&codes).unwrap_or_else(|_| "[]".into());
        self.set_meta(MetaKey::SigningArea, Some(&json)).await?;
        Ok(grew)
    }

    /// The facilities of the area this station's unit signs for (empty for most stations).
    pub async fn signing_area(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .meta(MetaKey::SigningArea)
            .await?
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default())
    }

    /// An entry of this device's audit chain by `user`, dated now.
    pub(crate) fn audit_entry(
        &self,
        user: &str,
        action: &str,
        entity: String,
        changes: Vec<audit::FieldChange>,
    ) -> AuditEntry {
        AuditEntry {
            at: audit::now_text(self.clock()),
            user: user.to_string(),
            device: self.device_id().to_string(),
            action: action.into(),
            entity,
            changes,
            otp: false,
        }
    }

    /// Appends one entry to the audit chain on its own (a view or a print: nothing else written).
    pub(crate) async fn audit_action(
        &self,
        user: &str,
        action: &str,
        entity: String,
        changes: Vec<audit::FieldChange>,
    ) -> Result<()> {
        let mut tx = self.store().begin_write().await?;
        audit::append(&mut tx, &self.audit_entry(user, action, entity, changes)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes the database cleanly. Call before the process exits: SQLite connections live on
    /// worker threads, and a process that exits while they are still open can crash in the
    /// crypto library's exit handlers.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The station's own facility.
    pub fn facility(&self) -> Facility {
        self.facility
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// This installation's device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The routine immunization schedule in use.
    pub fn schedule(&self) -> &sync_protocol::Schedule {
        &self.schedule
    }

    /// The vaccine catalogue in use.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The underlying store (its pool and meta table stay inside this crate: callers outside
    /// ask the station).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// What the station's `store.json` says: its store id and where its key lives.
    pub fn descriptor(&self) -> &StoreDescriptor {
        self.store.descriptor()
    }

    /// The database itself, for tests that inspect or tamper with it as someone holding the
    /// disk and its key could. Only with the `test-support` feature: release builds have no
    /// such door.
    #[cfg(any(test, feature = "test-support"))]
    pub fn database_for_tests(&self) -> &sqlx::SqlitePool {
        self.store.pool()
    }

    /// How many people, doses, pending changes and audit entries the station holds.
    pub async fn status(&self) -> Result<StationStatus> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM persons WHERE merged_into IS NULL) AS persons,
                    (SELECT count(*) FROM doses WHERE voided = 0) AS doses,
                    (SELECT count(*) FROM outbox) AS pending,
                    (SELECT count(*) FROM audit_log) AS audit",
        )
        .fetch_one(self.store.pool())
        .await?;
        Ok(StationStatus {
            facility: self.facility(),
            device_id: self.device_id.clone(),
            persons: row.get("persons"),
            doses: row.get("doses"),
            pending_changes: row.get("pending"),
            audit_entries: row.get("audit"),
        })
    }
}
