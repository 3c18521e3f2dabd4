//! The station's operations on people and doses. Every write is one transaction holding the
//! document, its materialised columns, the outbox entries and the audit entry.

use crate::audit::{self, AuditEntry};
use crate::error::{Result, StationError};
use crate::facility::{Facility, FacilityKind};
use crate::key::DbKey;
use crate::rulebook::{Intent, StepUp};
use crate::store::Store;
use automerge::{ActorId, Change, ReadDoc};
use serde::{Deserialize, Serialize};
use sqlx::{Row, SqliteConnection};
use std::collections::BTreeMap;
use std::path::Path;
use sync_protocol::columns::{DoseColumns, PersonColumns};
use sync_protocol::identity::{self, normalize_identity, normalize_phone};
use sync_protocol::person::{format_time, now, parse_time};
use sync_protocol::rules::{CLOCK_SKEW, Writer};
use sync_protocol::validate::{self, MAX_NOTES, MAX_TEXT};
use sync_protocol::{
    Address, BirthDate, Catalogue, CommitAction, CommitMeta, Dose, DoseKind, Field, FieldConflict,
    FieldError, Gender, IdentityKind, Person, PersonDoc, Problem, Verification, VerificationStatus,
    Voided, text,
};
use uuid::Uuid;

/// Where the station keeps the area its unit signs for (a JSON list of facility codes).
pub(crate) const AREA_META: &str = "signing_area";

const SEARCH_BY_PHONE: &str = "SELECT p.id, p.full_name, p.gender, p.birth_date, p.id_kind,
        p.id_number, p.phone, p.managing_facility, p.verification,
        (SELECT count(*) FROM doses d WHERE d.person_id = p.id AND d.voided = 0) AS active_doses
    FROM persons p WHERE p.phone = ? AND p.name_key = ? AND p.merged_into IS NULL
    ORDER BY p.full_name LIMIT 50";

const SEARCH_BY_ID_NUMBER: &str = "SELECT p.id, p.full_name, p.gender, p.birth_date, p.id_kind,
        p.id_number, p.phone, p.managing_facility, p.verification,
        (SELECT count(*) FROM doses d WHERE d.person_id = p.id AND d.voided = 0) AS active_doses
    FROM persons p WHERE p.id_number = ? AND p.name_key = ? AND p.merged_into IS NULL
    ORDER BY p.full_name LIMIT 50";

/// A person's details as typed (in the UI or on the command line), before checking.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PersonInput {
    pub full_name: String,
    /// `nam`/`nu` (or male/female).
    pub gender: String,
    /// `yyyy-mm-dd`, `dd/mm/yyyy` or `yyyy`.
    pub birth_date: String,
    pub id_kind: Option<IdentityKind>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub address_detail: Option<String>,
    /// ISO 3166 alpha-2; Vietnamese when absent.
    pub nationality: Option<String>,
    pub insurance_number: Option<String>,
}

/// Changes to a person's details: `None` leaves a field alone, an empty string clears an
/// optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PersonEdit {
    pub full_name: Option<String>,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub id_kind: Option<IdentityKind>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub address_detail: Option<String>,
    pub nationality: Option<String>,
    pub insurance_number: Option<String>,
}

/// A dose as typed; what is left out gets the sensible default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DoseInput {
    /// Catalogue code or alias.
    pub vaccine: String,
    pub lot: String,
    /// Defaults to the next dose number of the person.
    pub dose_number: Option<u8>,
    /// Defaults from the vaccine's primary series length.
    pub kind: Option<String>,
    /// RFC 3339 or `dd/mm/yyyy hh:mm`; defaults to now.
    pub given_at: Option<String>,
    pub place: Option<String>,
    pub reaction_notes: Option<String>,
}

/// A search: full name with a phone or an ID number, never one field alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SearchQuery {
    pub full_name: String,
    pub phone: Option<String>,
    pub id_number: Option<String>,
}

/// One row of search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PersonSummary {
    pub id: Uuid,
    pub full_name: String,
    pub gender: Gender,
    pub birth_date: String,
    pub id_kind: IdentityKind,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub managing_facility: String,
    pub verification: String,
    pub active_doses: i64,
}

/// Something about a record that a nurse should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

/// A person with what the record screen shows besides the fields.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PersonRecord {
    pub person: Person,
    pub conflicts: Vec<FieldConflict>,
    pub warnings: Vec<Warning>,
    pub next_dose_number: u8,
}

/// A local change waiting to be acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub change_hash: Vec<u8>,
    pub person_id: Uuid,
    pub change: Vec<u8>,
    /// The account that made it (only that account's session may send it).
    pub author: Option<String>,
}

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
    // Interior mutability so that one `Arc<Station>` serves the UI while a sync runs: reads and
    // writes of people never wait for the network.
    facility: std::sync::RwLock<Facility>,
    session: std::sync::RwLock<Option<crate::auth::Session>>,
    pub(crate) sync_control: crate::sync::SyncControl,
    pub(crate) signing_control: crate::signing::SigningControl,
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
        for (k, v) in [
            ("facility_code", new.facility_code.as_str()),
            ("device_id", device_id.as_str()),
            ("actor_id", &hex::encode(actor)),
        ] {
            sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)")
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await?;
        }
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
        let code = store.meta("facility_code").await?.ok_or_else(missing)?;
        let device_id = store.meta("device_id").await?.ok_or_else(missing)?;
        let actor_hex = store.meta("actor_id").await?.ok_or_else(missing)?;
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
            facility: std::sync::RwLock::new(facility),
            session: std::sync::RwLock::new(None),
            sync_control: crate::sync::SyncControl::default(),
            signing_control: crate::signing::SigningControl::default(),
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
            .meta(AREA_META)
            .await?
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default();
        if before == codes {
            return Ok(false);
        }
        let grew = codes.iter().any(|c| !before.contains(c));
        // A list of strings always serialises.
        let json = serde_json::to_string(&codes).unwrap_or_else(|_| "[]".into());
        self.set_meta(AREA_META, Some(&json)).await?;
        Ok(grew)
    }

    /// The facilities of the area this station's unit signs for (empty for most stations).
    pub async fn signing_area(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .meta(AREA_META)
            .await?
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default())
    }

    /// Who is signed in, if anyone.
    pub fn session(&self) -> Option<crate::auth::Session> {
        self.session
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_session(&self, session: Option<crate::auth::Session>) {
        *self
            .session
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = session;
    }

    /// The signed-in user, if their role may read people's data (a system administrator may not).
    pub(crate) fn reader(&self) -> Result<crate::auth::Session> {
        let s = self.session().ok_or(StationError::NotSignedIn)?;
        if !s.role().reads_people() {
            return Err(StationError::Forbidden(
                "tài khoản quản trị hệ thống không được xem hay sửa dữ liệu người tiêm",
            ));
        }
        Ok(s)
    }

    /// The signed-in user's name, if their role may write people's data (vaccinators only).
    pub(crate) fn writer(&self) -> Result<String> {
        let s = self.reader()?;
        if !s.role().writes_people() {
            return Err(StationError::Forbidden(
                "chỉ cán bộ tiêm chủng / nhập liệu được đăng ký, sửa hồ sơ và ghi mũi tiêm",
            ));
        }
        Ok(s.username().to_string())
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

    /// The vaccine catalogue in use.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Registers a person from typed details and returns them.
    pub async fn register_person(&self, input: PersonInput) -> Result<Person> {
        let user = self.writer()?;
        let person = self.person_from_input(input, &user)?;
        self.insert_new_person(person, CommitAction::Register).await
    }

    /// Registers a person from the text of a CCCD QR code (scanned or typed) plus a phone.
    pub async fn register_from_qr(&self, qr: &str, phone: Option<&str>) -> Result<Person> {
        let input = PersonInput {
            phone: phone.map(str::to_string),
            ..Station::person_input_from_qr(qr)?
        };
        self.register_person(input).await
    }

    /// The registration form filled from the text of a CCCD QR code, for the nurse to check
    /// and complete (phone) before registering.
    pub fn person_input_from_qr(qr: &str) -> Result<PersonInput> {
        let q = identity::parse_cccd_qr(qr)?;
        Ok(PersonInput {
            full_name: q.full_name,
            gender: q.gender.as_str().into(),
            birth_date: q.birth_date.to_string(),
            id_kind: Some(IdentityKind::Cccd),
            id_number: Some(q.cccd),
            address_detail: Some(q.address).filter(|a| !a.is_empty()),
            ..PersonInput::default()
        })
    }

    fn person_from_input(&self, input: PersonInput, user: &str) -> Result<Person> {
        let mut errors = Vec::new();
        let full_name = text::clean(&input.full_name);
        collect(&mut errors, validate::check_full_name(&full_name));
        let gender = collect(&mut errors, Gender::parse(&input.gender));
        let today = now().date();
        let birth = collect(
            &mut errors,
            BirthDate::parse(&input.birth_date).and_then(|b| b.check(today).map(|()| b)),
        );
        let phone = opt_text(input.phone.as_deref())
            .map(|p| collect(&mut errors, normalize_phone(&p)))
            .unwrap_or(None);
        let nationality = opt_text(input.nationality.as_deref())
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_else(|| "VN".into());
        collect(&mut errors, validate::check_nationality(&nationality));
        let insurance = opt_text(input.insurance_number.as_deref()).map(|n| n.to_ascii_uppercase());
        if let Some(n) = &insurance {
            collect(&mut errors, validate::check_insurance_number(n));
        }
        let address = Address {
            province: clean_opt(input.province.as_deref()),
            commune: clean_opt(input.commune.as_deref()),
            detail: clean_opt(input.address_detail.as_deref()),
        };
        for part in [&address.province, &address.commune, &address.detail] {
            collect(
                &mut errors,
                validate::check_text(Field::Address, part.as_deref(), MAX_TEXT),
            );
        }
        let kind = input
            .id_kind
            .unwrap_or(if opt_text(input.id_number.as_deref()).is_some() {
                IdentityKind::Cccd
            } else {
                IdentityKind::None
            });
        let identity = match (gender, birth) {
            (Some(g), Some(b)) => collect(
                &mut errors,
                normalize_identity(kind, input.id_number.as_deref(), g, b),
            ),
            _ => None,
        };
        let (Some(gender), Some(birth_date), Some(identity), true) =
            (gender, birth, identity, errors.is_empty())
        else {
            return Err(many(errors));
        };
        let status = sync_protocol::rules::initial_status(&nationality, identity.kind);
        Ok(Person {
            id: Uuid::now_v7(),
            full_name,
            gender,
            birth_date,
            identity,
            phone,
            address,
            nationality,
            insurance_number: insurance,
            managing_facility: self.facility().code,
            created_by: user.to_string(),
            created_at: now(),
            verification: Verification {
                status,
                checked_at: None,
            },
            merged_into: None,
            doses: BTreeMap::new(),
        })
    }

    async fn insert_new_person(&self, person: Person, action: CommitAction) -> Result<Person> {
        self.writer()?;
        let session = self.reader()?;
        let writer = self.rule_writer(&session).await?;
        let meta = Intent::new(action).check(None, &person, &writer)?;
        let doc = PersonDoc::create(self.actor.clone(), &person, &meta).map_err(|source| {
            StationError::Corrupt {
                id: person.id.to_string(),
                source,
            }
        })?;
        let mut tx = self.store.begin_write().await?;
        if let Some(number) = &person.identity.number {
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT id FROM persons WHERE id_number = ? AND id_kind = ? AND merged_into IS NULL LIMIT 1",
            )
            .bind(number)
            .bind(person.identity.kind.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(person_id) = existing {
                return Err(StationError::invalid(
                    Field::IdNumber,
                    Problem::DuplicateId { person_id },
                ));
            }
        }
        let changes = doc.changes_since(&[]);
        self.persist(
            &mut tx,
            &doc,
            None,
            &person,
            changes,
            Some(Audit::of(&meta, false)),
        )
        .await?;
        tx.commit().await?;
        Ok(person)
    }

    /// Registers many people (with their doses) at once, e.g. a list prepared with the commune
    /// police or demo data: each is checked like a typed registration, and each batch of up to
    /// 1,000 is one transaction. Returns how many were written.
    pub async fn import_people(&self, people: &[Person]) -> Result<usize> {
        self.writer()?;
        let session = self.reader()?;
        let writer = self.rule_writer(&session).await?;
        let intent = Intent::new(CommitAction::Import);
        for chunk in people.chunks(1000) {
            let mut tx = self.store.begin_write().await?;
            for person in chunk {
                let meta = intent.check(None, person, &writer)?;
                let doc =
                    PersonDoc::create(self.actor.clone(), person, &meta).map_err(|source| {
                        StationError::Corrupt {
                            id: person.id.to_string(),
                            source,
                        }
                    })?;
                let changes = doc.changes_since(&[]);
                self.persist(
                    &mut tx,
                    &doc,
                    None,
                    person,
                    changes,
                    Some(Audit::of(&meta, false)),
                )
                .await?;
            }
            tx.commit().await?;
        }
        Ok(people.len())
    }

    /// Stores documents received whole from elsewhere (as a first sync does), merged into any
    /// copy this station already has, without outbox entries.
    pub async fn import_documents(&self, docs: Vec<PersonDoc>) -> Result<usize> {
        let n = docs.len();
        let mut batch: BTreeMap<Uuid, crate::sync::RemoteBatch> = BTreeMap::new();
        for doc in docs {
            let person = doc.read().map_err(|source| StationError::Corrupt {
                id: "?".into(),
                source,
            })?;
            batch.entry(person.id).or_default().snapshots.push(doc);
        }
        self.apply_remote_batch(batch, &[]).await?;
        Ok(n)
    }

    /// This device's Automerge actor.
    pub(crate) fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Writes a document received from elsewhere (no outbox entry, no audit entry: it is
    /// audited where it was made).
    pub(crate) async fn persist_remote(
        &self,
        conn: &mut SqliteConnection,
        doc: &PersonDoc,
        before: Option<&Person>,
        after: &Person,
    ) -> Result<()> {
        self.persist(conn, doc, before, after, Vec::new(), None)
            .await
    }

    /// Writes a document rebuilt after the server refused some of this device's changes.
    pub(crate) async fn persist_reset(
        &self,
        conn: &mut SqliteConnection,
        doc: &PersonDoc,
        before: Option<&Person>,
        after: &Person,
    ) -> Result<()> {
        let audit = Audit {
            user: "sync",
            action: "reset_after_rejection",
            otp: false,
        };
        self.persist(conn, doc, before, after, Vec::new(), Some(audit))
            .await
    }

    /// Removes a person this station holds only through refused changes (kept in quarantine).
    pub(crate) async fn remove_local_person(
        &self,
        conn: &mut SqliteConnection,
        id: Uuid,
    ) -> Result<()> {
        sqlx::query("DELETE FROM doses WHERE person_id = ?")
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM persons WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Changes a person's details; only the fields given are touched. Changing the name, date
    /// of birth, ID number or address of a person another facility manages needs a fresh
    /// one-time code, checked by the server (`step_up`), which grants the edit.
    pub async fn edit_person(
        &self,
        id: Uuid,
        edit: PersonEdit,
        step_up: Option<StepUp<'_>>,
    ) -> Result<Person> {
        let session = self.reader()?;
        self.writer()?;
        let current = self.show(id).await?.person;
        let mut edited = current.clone();
        apply_edit(&mut edited, &edit)?;
        let fields = sync_protocol::rules::sensitive_changes(&current, &edited);
        let writer = self.rule_writer(&session).await?;
        let mut intent = Intent::new(CommitAction::Edit);
        if !fields.is_empty() && !writer.manages(&current.managing_facility) {
            let step_up = step_up
                .filter(|s| !s.otp.trim().is_empty())
                .ok_or(StationError::StepUpRequired(
                    "sửa họ tên, ngày sinh, số giấy tờ hoặc địa chỉ của người do cơ sở khác quản lý",
                ))?;
            let mut grants = self.step_up_grants(step_up, &[id], &fields).await?;
            intent = intent.with_code().with_grant(grants.remove(&id));
        }
        self.modify(id, intent, |p| apply_edit(p, &edit))
            .await
            .map(|(_, p)| p)
    }

    /// Hands a person this facility manages over to another facility (`to`, a facility code the
    /// server knows): from then on that facility manages them and edits their sensitive fields
    /// without a code. Changes nothing else.
    pub async fn transfer_person(&self, id: Uuid, to: &str) -> Result<Person> {
        self.writer()?;
        let to = to.trim().to_string();
        validate::check_code(Field::Facility, &to)?;
        self.modify(id, Intent::new(CommitAction::Transfer), |p| {
            p.managing_facility = to;
            Ok(())
        })
        .await
        .map(|(_, p)| p)
    }

    /// Records a dose given to a person now (or at the time given) and returns it.
    pub async fn record_dose(&self, person_id: Uuid, input: DoseInput) -> Result<Dose> {
        let user = self.writer()?;
        let vaccine = self.catalogue.resolve(&input.vaccine)?.clone();
        let lot = input.lot.trim().to_ascii_uppercase();
        validate::check_lot(&lot)?;
        let given_at = match opt_text(input.given_at.as_deref()) {
            Some(t) => parse_time(&t)
                .ok_or_else(|| StationError::invalid(Field::GivenAt, Problem::DateTimeFormat))?,
            None => now(),
        };
        if given_at > now() + CLOCK_SKEW {
            return Err(StationError::invalid(Field::GivenAt, Problem::InFuture));
        }
        let place = clean_opt(input.place.as_deref());
        validate::check_text(Field::Place, place.as_deref(), MAX_TEXT)?;
        let notes = clean_opt(input.reaction_notes.as_deref());
        validate::check_text(Field::ReactionNotes, notes.as_deref(), MAX_NOTES)?;
        let explicit_kind = opt_text(input.kind.as_deref())
            .map(|k| DoseKind::parse(&k))
            .transpose()?;
        if let Some(n) = input.dose_number
            && !(1..=validate::MAX_DOSE_NUMBER).contains(&n)
        {
            return Err(StationError::invalid(
                Field::DoseNumber,
                Problem::DoseNumberRange,
            ));
        }
        let dose_id = Uuid::now_v7();
        let facility = self.facility().code;
        let (_, person) = self
            .modify(person_id, Intent::new(CommitAction::Dose), |p| {
                let number = input.dose_number.unwrap_or_else(|| p.next_dose_number());
                if let Some(existing) = p
                    .doses
                    .values()
                    .find(|d| d.is_active() && d.dose_number == number)
                {
                    return Err(StationError::invalid(
                        Field::DoseNumber,
                        Problem::AlreadyRecorded {
                            dose_number: number,
                            given_on: sync_protocol::BirthDate::Full(existing.given_at.date())
                                .display_vn(),
                        },
                    ));
                }
                p.doses.insert(
                    dose_id,
                    Dose {
                        id: dose_id,
                        vaccine: vaccine.code.clone(),
                        lot,
                        dose_number: number,
                        kind: explicit_kind
                            .unwrap_or_else(|| Catalogue::default_kind(&vaccine, number)),
                        given_at,
                        facility,
                        vaccinator: user,
                        place,
                        reaction_notes: notes,
                        voided: None,
                        signature: None,
                    },
                );
                Ok(())
            })
            .await?;
        person
            .doses
            .get(&dose_id)
            .cloned()
            .ok_or_else(|| StationError::NotFound {
                what: "mũi tiêm",
                id: dose_id.to_string(),
            })
    }

    /// Voids a dose (doses are never deleted) with the reason, and returns it.
    pub async fn void_dose(&self, dose_id: Uuid, reason: &str) -> Result<Dose> {
        let user = self.writer()?;
        let reason = text::clean(reason);
        if reason.chars().count() < validate::MIN_VOID_REASON {
            return Err(StationError::invalid(
                Field::VoidReason,
                Problem::TooShort {
                    min: validate::MIN_VOID_REASON,
                },
            ));
        }
        validate::check_text(Field::VoidReason, Some(&reason), MAX_TEXT)?;
        let person_id: String = sqlx::query_scalar("SELECT person_id FROM doses WHERE id = ?")
            .bind(dose_id.to_string())
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| StationError::NotFound {
                what: "mũi tiêm",
                id: dose_id.to_string(),
            })?;
        let person_id = Uuid::parse_str(&person_id).map_err(|_| StationError::NotFound {
            what: "người",
            id: person_id,
        })?;
        let (_, person) = self
            .modify(person_id, Intent::new(CommitAction::Void), |p| {
                let dose = p
                    .doses
                    .get_mut(&dose_id)
                    .ok_or_else(|| StationError::NotFound {
                        what: "mũi tiêm",
                        id: dose_id.to_string(),
                    })?;
                if dose.voided.is_some() {
                    return Err(StationError::invalid(Field::DoseId, Problem::AlreadyVoided));
                }
                dose.voided = Some(Voided {
                    by: user,
                    at: now(),
                    reason,
                });
                Ok(())
            })
            .await?;
        person
            .doses
            .get(&dose_id)
            .cloned()
            .ok_or_else(|| StationError::NotFound {
                what: "mũi tiêm",
                id: dose_id.to_string(),
            })
    }

    /// Finds people by full name together with a phone or an ID number.
    pub async fn find(&self, q: &SearchQuery) -> Result<Vec<PersonSummary>> {
        self.reader()?;
        let name_key = text::fold(&q.full_name);
        let phone = opt_text(q.phone.as_deref());
        let id_number = opt_text(q.id_number.as_deref());
        if name_key.is_empty() || (phone.is_none() && id_number.is_none()) {
            return Err(StationError::SearchNeedsTwoFields);
        }
        let mut out = Vec::new();
        if let Some(p) = phone {
            let p = normalize_phone(&p)?;
            out = self.summaries(SEARCH_BY_PHONE, &p, &name_key).await?;
        }
        if let Some(n) = id_number {
            let n: String = n
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
                .collect::<String>()
                .to_ascii_uppercase();
            for s in self.summaries(SEARCH_BY_ID_NUMBER, &n, &name_key).await? {
                if !out.iter().any(|o: &PersonSummary| o.id == s.id) {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    async fn summaries(
        &self,
        sql: &'static str,
        key: &str,
        name_key: &str,
    ) -> Result<Vec<PersonSummary>> {
        let rows = sqlx::query(sql)
            .bind(key)
            .bind(name_key)
            .fetch_all(self.store.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.get("id");
                Ok(PersonSummary {
                    id: Uuid::parse_str(&id).map_err(|_| StationError::NotFound {
                        what: "người",
                        id: id.clone(),
                    })?,
                    full_name: r.get("full_name"),
                    gender: Gender::parse(r.get::<&str, _>("gender"))?,
                    birth_date: r.get("birth_date"),
                    id_kind: IdentityKind::parse(r.get::<&str, _>("id_kind"))
                        .unwrap_or(IdentityKind::None),
                    id_number: r.get("id_number"),
                    phone: r.get("phone"),
                    managing_facility: r.get("managing_facility"),
                    verification: r.get("verification"),
                    active_doses: r.get("active_doses"),
                })
            })
            .collect()
    }

    /// A person's whole record: fields, doses, conflicts to review and data-quality warnings.
    pub async fn show(&self, id: Uuid) -> Result<PersonRecord> {
        self.reader()?;
        let doc = self.load_doc(id).await?;
        let person = doc.read().map_err(|source| StationError::Corrupt {
            id: id.to_string(),
            source,
        })?;
        let conflicts = doc.conflicts().map_err(|source| StationError::Corrupt {
            id: id.to_string(),
            source,
        })?;
        let warnings = self.warnings(&person, &conflicts);
        Ok(PersonRecord {
            next_dose_number: person.next_dose_number(),
            person,
            conflicts,
            warnings,
        })
    }

    /// Loads a person's document.
    pub async fn load_doc(&self, id: Uuid) -> Result<PersonDoc> {
        self.reader()?;
        let bytes: Vec<u8> = sqlx::query_scalar("SELECT doc FROM persons WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| StationError::NotFound {
                what: "người",
                id: id.to_string(),
            })?;
        PersonDoc::load_as(&bytes, self.actor.clone()).map_err(|source| StationError::Corrupt {
            id: id.to_string(),
            source,
        })
    }

    /// Applies changes received from elsewhere (the server, another device) to a person's
    /// document, creating it if this station did not have it. They do not go to the outbox.
    pub async fn apply_remote_changes(
        &self,
        person_id: Uuid,
        changes: Vec<Vec<u8>>,
    ) -> Result<Person> {
        let decoded = changes
            .into_iter()
            .map(sync_protocol::document::decode_change)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|source| StationError::Corrupt {
                id: person_id.to_string(),
                source,
            })?;
        let corrupt = |source| StationError::Corrupt {
            id: person_id.to_string(),
            source,
        };
        let mut tx = self.store.begin_write().await?;
        let existing: Option<Vec<u8>> = sqlx::query_scalar("SELECT doc FROM persons WHERE id = ?")
            .bind(person_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let (mut doc, before) = match existing {
            Some(bytes) => {
                let d = PersonDoc::load_as(&bytes, self.actor.clone()).map_err(corrupt)?;
                let p = d.read().map_err(corrupt)?;
                (d, Some(p))
            }
            None => (PersonDoc::from_changes(Vec::new()).map_err(corrupt)?, None),
        };
        for change in &decoded {
            sync_protocol::rules::check_counters(change)
                .map_err(|v| corrupt(sync_protocol::SchemaError::Automerge(v.to_string())))?;
        }
        let mut doc = sync_protocol::document::guarded(move || {
            doc.apply_changes(decoded)?;
            Ok(doc)
        })
        .map_err(corrupt)?;
        doc.set_actor(self.actor.clone());
        let after = doc.read().map_err(corrupt)?;
        if after.id != person_id {
            return Err(corrupt(sync_protocol::SchemaError::BadValue {
                path: "id".into(),
                reason: "mã người trong tài liệu khác mã được gửi".into(),
            }));
        }
        self.persist(&mut tx, &doc, before.as_ref(), &after, Vec::new(), None)
            .await?;
        tx.commit().await?;
        Ok(after)
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

    /// Checks that every document agrees with its columns, dose rows and outbox entries, that the
    /// audit chain holds and that SQLite finds the file sound. Returns the problems found.
    pub async fn check_integrity(&self) -> Result<Vec<String>> {
        self.reader()?;
        let mut problems = Vec::new();
        let mut conn = self.store.pool().acquire().await?;
        let sqlite: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut *conn)
            .await?;
        if sqlite != ["ok"] {
            problems.extend(sqlite.into_iter().map(|m| format!("sqlite: {m}")));
        }
        let rows = sqlx::query(
            "SELECT id, doc, heads, full_name, name_key, phone, id_number, verification, managing_facility
             FROM persons",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut docs = BTreeMap::new();
        for r in &rows {
            let id: String = r.get("id");
            let doc = match PersonDoc::load(&r.get::<Vec<u8>, _>("doc")) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(format!("{id}: tài liệu không đọc được: {e}"));
                    continue;
                }
            };
            let p = match doc.read() {
                Ok(p) => p,
                Err(e) => {
                    problems.push(format!("{id}: {e}"));
                    continue;
                }
            };
            let heads: Vec<u8> = doc.heads().iter().flat_map(|h| h.0).collect();
            if r.get::<Vec<u8>, _>("heads") != heads {
                problems.push(format!("{id}: cột heads khác tài liệu"));
            }
            let columns_match = r.get::<String, _>("full_name") == p.full_name
                && r.get::<String, _>("name_key") == text::fold(&p.full_name)
                && r.get::<Option<String>, _>("phone") == p.phone
                && r.get::<Option<String>, _>("id_number") == p.identity.number
                && r.get::<String, _>("verification") == p.verification.status.as_str()
                && r.get::<String, _>("managing_facility") == p.managing_facility;
            if !columns_match || p.id.to_string() != id {
                problems.push(format!("{id}: cột tìm kiếm khác tài liệu"));
            }
            docs.insert(id, (doc, p));
        }
        let dose_rows =
            sqlx::query("SELECT id, person_id, dose_number, voided, given_at FROM doses")
                .fetch_all(&mut *conn)
                .await?;
        let mut seen_doses = 0usize;
        for r in &dose_rows {
            let id: String = r.get("id");
            let person_id: String = r.get("person_id");
            let matches = docs.get(&person_id).and_then(|(_, p)| {
                let d = p.doses.values().find(|d| d.id.to_string() == id)?;
                Some(
                    i64::from(d.dose_number) == r.get::<i64, _>("dose_number")
                        && d.voided.is_some() == r.get::<bool, _>("voided")
                        && format_time(d.given_at) == r.get::<String, _>("given_at"),
                )
            });
            match matches {
                Some(true) => seen_doses += 1,
                Some(false) => problems.push(format!("mũi {id}: cột khác tài liệu")),
                None => problems.push(format!(
                    "mũi {id}: không có trong tài liệu của người {person_id}"
                )),
            }
        }
        let doc_doses: usize = docs.values().map(|(_, p)| p.doses.len()).sum();
        if doc_doses != seen_doses {
            problems.push(format!(
                "tài liệu có {doc_doses} mũi nhưng bảng doses có {seen_doses} mũi khớp"
            ));
        }
        let outbox = sqlx::query("SELECT change_hash, person_id, change FROM outbox")
            .fetch_all(&mut *conn)
            .await?;
        for r in &outbox {
            let person_id: String = r.get("person_id");
            let bytes: Vec<u8> = r.get("change");
            let stored_hash: Vec<u8> = r.get("change_hash");
            let ok = match (Change::from_bytes(bytes), docs.get(&person_id)) {
                (Ok(c), Some((doc, _))) => {
                    c.hash().0.as_slice() == stored_hash.as_slice()
                        && doc.automerge().get_change_by_hash(&c.hash()).is_some()
                }
                _ => false,
            };
            if !ok {
                problems.push(format!(
                    "thay đổi chờ gửi của người {person_id} không khớp tài liệu"
                ));
            }
        }
        if let Err(b) = audit::verify(&mut conn).await? {
            problems.push(format!(
                "nhật ký kiểm tra hỏng tại mục {} ({})",
                b.seq, b.reason
            ));
        }
        Ok(problems)
    }

    /// The oldest local changes not yet acknowledged, in the order they were made.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT seq, change_hash, person_id, change, author FROM outbox ORDER BY seq LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let person: String = r.get("person_id");
                Ok(OutboxEntry {
                    seq: r.get("seq"),
                    change_hash: r.get("change_hash"),
                    person_id: Uuid::parse_str(&person).map_err(|_| StationError::NotFound {
                        what: "người",
                        id: person,
                    })?,
                    change: r.get("change"),
                    author: r.get("author"),
                })
            })
            .collect()
    }

    /// Removes acknowledged changes from the outbox.
    pub async fn acknowledge(&self, change_hashes: &[Vec<u8>]) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        for h in change_hashes {
            sqlx::query("DELETE FROM outbox WHERE change_hash = ?")
                .bind(h)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The number of local changes not yet acknowledged by the server.
    pub async fn pending_changes(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(self.store.pool())
            .await?)
    }

    /// Reads, changes and writes back one person's document under the write lock, as the
    /// signed-in user.
    pub(crate) async fn modify<F>(
        &self,
        id: Uuid,
        intent: Intent,
        change: F,
    ) -> Result<(Person, Person)>
    where
        F: FnOnce(&mut Person) -> Result<()>,
    {
        let session = self.reader()?;
        let writer = self.rule_writer(&session).await?;
        let mut tx = self.store.begin_write().await?;
        let result = self
            .modify_in(&mut tx, id, &writer, &intent, change)
            .await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Changes one person's document inside the caller's transaction, as `writer`: the
    /// rulebook is checked (the same rules the server re-checks), the change goes to the outbox
    /// and the audit log.
    pub(crate) async fn modify_in<F>(
        &self,
        tx: &mut SqliteConnection,
        id: Uuid,
        writer: &Writer,
        intent: &Intent,
        change: F,
    ) -> Result<(Person, Person)>
    where
        F: FnOnce(&mut Person) -> Result<()>,
    {
        let corrupt = |source| StationError::Corrupt {
            id: id.to_string(),
            source,
        };
        let bytes: Vec<u8> = sqlx::query_scalar("SELECT doc FROM persons WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StationError::NotFound {
                what: "người",
                id: id.to_string(),
            })?;
        let mut doc = PersonDoc::load_as(&bytes, self.actor.clone()).map_err(corrupt)?;
        let before = doc.read().map_err(corrupt)?;
        let mut after = before.clone();
        change(&mut after)?;
        let meta = intent.check(Some(&before), &after, writer)?;
        let heads = doc.heads();
        doc.update(&after, &meta).map_err(corrupt)?;
        let changes = doc.changes_since(&heads);
        self.persist(
            tx,
            &doc,
            Some(&before),
            &after,
            changes,
            Some(Audit::of(&meta, intent.otp)),
        )
        .await?;
        Ok((before, after))
    }

    /// Writes a document with its columns, dose rows, outbox entries and (for this station's own
    /// writes) its audit entry.
    async fn persist(
        &self,
        conn: &mut SqliteConnection,
        doc: &PersonDoc,
        before: Option<&Person>,
        p: &Person,
        changes: Vec<Change>,
        audited: Option<Audit<'_>>,
    ) -> Result<()> {
        let id = p.id.to_string();
        let (saved, size) = doc.save_sized();
        // This station's own changes keep the document within what the server takes.
        if !changes.is_empty() && size > sync_protocol::rules::MAX_DOCUMENT_BYTES {
            return Err(sync_protocol::rules::Violation::DocumentTooLarge {
                bytes: size,
                max: sync_protocol::rules::MAX_DOCUMENT_BYTES,
            }
            .into());
        }
        let heads: Vec<u8> = doc.heads().iter().flat_map(|h| h.0).collect();
        let updated = format_time(now());
        let same_columns = before.is_some_and(|b| PersonColumns::of(b) == PersonColumns::of(p));
        if same_columns {
            // A new dose or a void changes the document only; skip rewriting the indexed columns.
            sqlx::query("UPDATE persons SET doc = ?, heads = ?, updated_at = ? WHERE id = ?")
                .bind(&saved)
                .bind(heads)
                .bind(&updated)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
        } else {
            let c = PersonColumns::of(p);
            sqlx::query(
                "INSERT INTO persons (id, doc, heads, full_name, name_key, gender, birth_date, birth_year,
                    id_kind, id_number, phone, province, commune, nationality, managing_facility,
                    verification, merged_into, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, heads = excluded.heads,
                    full_name = excluded.full_name, name_key = excluded.name_key, gender = excluded.gender,
                    birth_date = excluded.birth_date, birth_year = excluded.birth_year,
                    id_kind = excluded.id_kind, id_number = excluded.id_number, phone = excluded.phone,
                    province = excluded.province, commune = excluded.commune,
                    nationality = excluded.nationality, managing_facility = excluded.managing_facility,
                    verification = excluded.verification, merged_into = excluded.merged_into,
                    updated_at = excluded.updated_at",
            )
            .bind(&id)
            .bind(&saved)
            .bind(heads)
            .bind(c.full_name)
            .bind(c.name_key)
            .bind(c.gender)
            .bind(c.birth_date)
            .bind(c.birth_year)
            .bind(c.id_kind)
            .bind(c.id_number)
            .bind(c.phone)
            .bind(c.province)
            .bind(c.commune)
            .bind(c.nationality)
            .bind(c.managing_facility)
            .bind(c.verification)
            .bind(c.merged_into)
            .bind(&updated)
            .execute(&mut *conn)
            .await?;
        }
        for d in p.doses.values() {
            if before.and_then(|b| b.doses.get(&d.id)) == Some(d) {
                continue;
            }
            let c = DoseColumns::of(d);
            sqlx::query(
                "INSERT INTO doses (id, person_id, vaccine, lot, dose_number, kind, given_at, facility,
                    vaccinator, voided, signed_batch)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET vaccine = excluded.vaccine, lot = excluded.lot,
                    dose_number = excluded.dose_number, kind = excluded.kind, given_at = excluded.given_at,
                    facility = excluded.facility, vaccinator = excluded.vaccinator,
                    voided = excluded.voided, signed_batch = excluded.signed_batch",
            )
            .bind(c.id)
            .bind(&id)
            .bind(c.vaccine)
            .bind(c.lot)
            .bind(c.dose_number)
            .bind(c.kind)
            .bind(c.given_at)
            .bind(c.facility)
            .bind(c.vaccinator)
            .bind(c.voided)
            .bind(c.signed_batch)
            .execute(&mut *conn)
            .await?;
        }
        for c in &changes {
            outbox_insert(conn, c, &id, &updated).await?;
        }
        // Changes made elsewhere are audited where they were made (and that log syncs to the
        // server); here only this station's own writes are.
        let Some(by) = audited else {
            return Ok(());
        };
        audit::append(
            conn,
            &AuditEntry {
                at: updated,
                user: by.user.to_string(),
                device: self.device_id.clone(),
                action: by.action.to_string(),
                entity: format!("person/{id}"),
                changes: audit::diff(before, p),
                otp: by.otp,
            },
        )
        .await
    }

    fn warnings(&self, p: &Person, conflicts: &[FieldConflict]) -> Vec<Warning> {
        let mut w = Vec::new();
        let mut push = |code, message: String| w.push(Warning { code, message });
        match &p.verification.status {
            VerificationStatus::NoId if p.nationality == "VN" => push(
                "no_id",
                "Chưa có số CCCD/CMND: cần bổ sung để xác thực với CSDLQG về dân cư".into(),
            ),
            VerificationStatus::InvalidId => {
                push("invalid_id", "Số giấy tờ sai định dạng: cần sửa".into())
            }
            VerificationStatus::Mismatched(fields) => push(
                "mismatched",
                format!(
                    "Sai lệch với CSDLQG ở: {}",
                    fields
                        .iter()
                        .map(|f| match f {
                            sync_protocol::VerifiedField::FullName => "họ tên",
                            sync_protocol::VerifiedField::Gender => "giới tính",
                            sync_protocol::VerifiedField::BirthDate => "ngày sinh",
                            sync_protocol::VerifiedField::IdNumber => "số giấy tờ",
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            VerificationStatus::NotFound => {
                push("not_found", "Không tìm thấy trong CSDLQG về dân cư".into())
            }
            _ => {}
        }
        let active = p.active_doses();
        let mut seen = BTreeMap::new();
        for d in &active {
            *seen.entry(d.dose_number).or_insert(0) += 1;
        }
        for (n, count) in seen {
            if count > 1 {
                push(
                    "duplicate_dose_number",
                    format!("Mũi {n} được ghi {count} lần: kiểm tra và huỷ bản ghi thừa"),
                );
            }
        }
        for pair in active.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.dose_number < a.dose_number {
                push(
                    "dose_order",
                    format!(
                        "Mũi {} tiêm trước mũi {}: kiểm tra số mũi",
                        a.dose_number, b.dose_number
                    ),
                );
            } else if let Some(v) = self.catalogue.find(&a.vaccine)
                && b.dose_number <= v.primary_series_doses
                && (b.given_at - a.given_at).whole_days() < i64::from(v.dose_interval_days)
            {
                push(
                    "short_interval",
                    format!(
                        "Mũi {} cách mũi {} chỉ {} ngày, ít hơn {} ngày theo hướng dẫn của {}",
                        b.dose_number,
                        a.dose_number,
                        (b.given_at - a.given_at).whole_days(),
                        v.dose_interval_days,
                        v.name
                    ),
                );
            }
        }
        for c in conflicts {
            push(
                "conflict",
                format!(
                    "Trường {} được sửa đồng thời ở hai nơi: {}; cần xem lại",
                    c.field,
                    c.values.join(" / ")
                ),
            );
        }
        w
    }
}

pub(crate) fn apply_edit(p: &mut Person, e: &PersonEdit) -> Result<()> {
    let mut errors = Vec::new();
    let verified_before = (
        p.full_name.clone(),
        p.gender,
        p.birth_date,
        p.identity.clone(),
    );
    if let Some(name) = &e.full_name {
        let name = text::clean(name);
        if collect(&mut errors, validate::check_full_name(&name)).is_some() {
            p.full_name = name;
        }
    }
    if let Some(g) = &e.gender
        && let Some(g) = collect(&mut errors, Gender::parse(g))
    {
        p.gender = g;
    }
    if let Some(b) = &e.birth_date
        && let Some(b) = collect(
            &mut errors,
            BirthDate::parse(b).and_then(|b| b.check(now().date()).map(|()| b)),
        )
    {
        p.birth_date = b;
    }
    if let Some(phone) = &e.phone {
        p.phone = match opt_text(Some(phone)) {
            None => None,
            Some(t) => collect(&mut errors, normalize_phone(&t)),
        };
    }
    if let Some(n) = &e.nationality {
        let n = n.trim().to_ascii_uppercase();
        if collect(&mut errors, validate::check_nationality(&n)).is_some() {
            p.nationality = n;
        }
    }
    if let Some(n) = &e.insurance_number {
        p.insurance_number = match opt_text(Some(n)).map(|n| n.to_ascii_uppercase()) {
            None => None,
            Some(n) => collect(
                &mut errors,
                validate::check_insurance_number(&n).map(|()| n),
            ),
        };
    }
    if let Some(v) = &e.province {
        p.address.province = clean_opt(Some(v));
    }
    if let Some(v) = &e.commune {
        p.address.commune = clean_opt(Some(v));
    }
    if let Some(v) = &e.address_detail {
        p.address.detail = clean_opt(Some(v));
    }
    if e.id_kind.is_some() || e.id_number.is_some() || e.gender.is_some() || e.birth_date.is_some()
    {
        let kind = e.id_kind.unwrap_or(p.identity.kind);
        let number = match &e.id_number {
            Some(n) => Some(n.clone()),
            None => p.identity.number.clone(),
        };
        if let Some(id) = collect(
            &mut errors,
            normalize_identity(kind, number.as_deref(), p.gender, p.birth_date),
        ) {
            p.identity = id;
        }
    }
    if !errors.is_empty() {
        return Err(many(errors));
    }
    // Changed matching fields have not been checked against the population database.
    if verified_before
        != (
            p.full_name.clone(),
            p.gender,
            p.birth_date,
            p.identity.clone(),
        )
    {
        p.verification = Verification {
            status: sync_protocol::rules::initial_status(&p.nationality, p.identity.kind),
            checked_at: None,
        };
    }
    Ok(())
}

/// Puts a change of this station in the outbox, with its author.
pub(crate) async fn outbox_insert(
    conn: &mut SqliteConnection,
    change: &Change,
    person_id: &str,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (change_hash, person_id, change, created_at, author) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (change_hash) DO NOTHING",
    )
    .bind(change.hash().0.to_vec())
    .bind(person_id)
    .bind(change.raw_bytes().to_vec())
    .bind(at)
    .bind(CommitMeta::from_change(change).map(|m| m.user))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Who an audit entry of a write names, for what, and whether a fresh code was given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Audit<'a> {
    pub user: &'a str,
    pub action: &'a str,
    pub otp: bool,
}

impl<'a> Audit<'a> {
    /// The entry of a change with `meta`.
    pub fn of(meta: &'a CommitMeta, otp: bool) -> Audit<'a> {
        Audit {
            user: &meta.user,
            action: meta.action.as_str(),
            otp,
        }
    }
}

fn collect<T>(errors: &mut Vec<FieldError>, r: std::result::Result<T, FieldError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

fn many(mut errors: Vec<FieldError>) -> StationError {
    if errors.len() == 1 {
        StationError::Invalid(errors.remove(0))
    } else {
        StationError::InvalidInput(errors)
    }
}

fn opt_text(t: Option<&str>) -> Option<String> {
    t.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn clean_opt(t: Option<&str>) -> Option<String> {
    t.map(text::clean).filter(|s| !s.is_empty())
}
