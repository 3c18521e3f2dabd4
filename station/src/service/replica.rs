//! The local replica: loading, changing and persisting documents (one transaction with their
//! columns, outbox and audit entry), and applying what the server sends.

use super::Station;
use super::outbox::outbox_insert;
use crate::audit::{self, AuditEntry};
use crate::error::{Result, StationError};
use crate::intent::Intent;
use crate::store::MetaKey;
use automerge::{ActorId, Change};
use sqlx::SqliteConnection;
use std::collections::BTreeMap;
use sync_protocol::columns::{DoseColumns, PersonColumns};
use sync_protocol::person::format_time;
use sync_protocol::rules::Writer;
use sync_protocol::{CommitMeta, Person, PersonDoc};
use uuid::Uuid;

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

impl Station {
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
        let meta = intent.check(Some(&before), &after, writer, self.clock().now())?;
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
    pub(super) async fn persist(
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
        let updated = format_time(self.clock().now());
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
                    id_kind, id_number, phone, province, commune, hamlet, caregiver_name,
                    caregiver_phone, caregiver_key, nationality, managing_facility, verification,
                    merged_into, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, heads = excluded.heads,
                    full_name = excluded.full_name, name_key = excluded.name_key, gender = excluded.gender,
                    birth_date = excluded.birth_date, birth_year = excluded.birth_year,
                    id_kind = excluded.id_kind, id_number = excluded.id_number, phone = excluded.phone,
                    province = excluded.province, commune = excluded.commune,
                    hamlet = excluded.hamlet, caregiver_name = excluded.caregiver_name,
                    caregiver_phone = excluded.caregiver_phone,
                    caregiver_key = excluded.caregiver_key,
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
            .bind(c.hamlet)
            .bind(c.caregiver_name)
            .bind(c.caregiver_phone)
            .bind(c.caregiver_key)
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
}

/// People written per transaction while applying a page, so recording never waits long.
const APPLY_CHUNK: usize = 200;

/// One person's share of a pulled page.
#[derive(Default)]
pub(crate) struct RemoteBatch {
    pub(crate) changes: Vec<Change>,
    pub(crate) snapshots: Vec<PersonDoc>,
    /// Something the server sent for this person could not be read: fetch the whole document
    /// again (the repair) rather than stop the sync.
    pub(crate) damaged: bool,
}

impl Station {
    /// Writes remote changes and snapshots, a few hundred people per transaction; `meta` is
    /// written with the last of them. Returns the people whose documents still miss
    /// dependencies or could not be read (flagged for repair; their local copy is kept as it
    /// was).
    pub(crate) async fn apply_remote_batch(
        &self,
        batch: BTreeMap<Uuid, RemoteBatch>,
        meta: &[(MetaKey, Option<String>)],
    ) -> crate::Result<Vec<Uuid>> {
        let mut items: Vec<(Uuid, RemoteBatch)> = batch.into_iter().collect();
        let mut flagged = Vec::new();
        if items.is_empty() {
            let mut tx = self.store().begin_write().await?;
            crate::store::write_meta(&mut tx, meta).await?;
            tx.commit().await?;
            return Ok(flagged);
        }
        let chunks = items.len().div_ceil(APPLY_CHUNK);
        for (i, chunk) in items.chunks_mut(APPLY_CHUNK).enumerate() {
            let mut tx = self.store().begin_write().await?;
            for (person_id, remote) in chunk.iter_mut() {
                let existing: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT doc FROM persons WHERE id = ?")
                        .bind(person_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                let before = match &existing {
                    Some(bytes) => Some(PersonDoc::load_as(bytes, self.actor().clone()).map_err(
                        |source| StationError::Corrupt {
                            id: person_id.to_string(),
                            source,
                        },
                    )?),
                    None => None,
                };
                let before_person = before.as_ref().and_then(|d| d.read().ok());
                let merged = sync_protocol::document::guarded(|| {
                    let mut doc = match before {
                        Some(d) => d,
                        None => match remote.snapshots.pop() {
                            Some(d) => d,
                            None => PersonDoc::empty(),
                        },
                    };
                    doc.set_actor(self.actor().clone());
                    for snapshot in remote.snapshots.iter_mut() {
                        doc.merge(snapshot)?;
                    }
                    doc.apply_changes(std::mem::take(&mut remote.changes))?;
                    Ok(doc)
                });
                let doc = match merged {
                    Ok(doc) => doc,
                    Err(e) => {
                        tracing::warn!(%person_id, "remote data not applied, repaired later: {e}");
                        self.flag_for_repair(&mut tx, *person_id).await?;
                        flagged.push(*person_id);
                        continue;
                    }
                };
                if remote.damaged || !doc.missing_deps().is_empty() {
                    self.flag_for_repair(&mut tx, *person_id).await?;
                    flagged.push(*person_id);
                }
                let after = match doc.read() {
                    Ok(p) => p,
                    // Not readable yet (its first change is among the missing): repaired below.
                    Err(_) => continue,
                };
                self.persist_remote(&mut tx, &doc, before_person.as_ref(), &after)
                    .await?;
            }
            if i + 1 == chunks {
                crate::store::write_meta(&mut tx, meta).await?;
            }
            tx.commit().await?;
        }
        Ok(flagged)
    }

    pub(crate) async fn flag_for_repair(
        &self,
        tx: &mut sqlx::SqliteConnection,
        person: Uuid,
    ) -> crate::Result<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO NOTHING")
            .bind(crate::store::repair_key(person))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Clears the repair flag of `person`: their document reads whole again.
    pub(crate) async fn unflag_repair(
        &self,
        tx: &mut sqlx::SqliteConnection,
        person: Uuid,
    ) -> crate::Result<()> {
        sqlx::query("DELETE FROM meta WHERE key = ?")
            .bind(crate::store::repair_key(person))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}
