//! The Automerge document of one person: how each field is stored, typed reads, and writes that
//! touch only what changed so concurrent edits of different fields merge (docs/design.md §3).
//!
//! Layout (root map):
//! `schema` int, `id`, `full_name`, `gender`, `birth_date` ("yyyy-mm-dd" or "yyyy"),
//! `identity` {kind, number}, `phone`, `address` {province, commune, detail}, `nationality`,
//! `insurance_number`, `managing_facility`, `created_by`, `created_at`,
//! `verification` {status, fields, checked_at}, `merged_into`, `doses` {dose id → dose map}.
//! A dose map: `id`, `vaccine`, `lot`, `dose_number` int, `kind`, `given_at`, `facility`,
//! `vaccinator`, `place`, `reaction_notes`, `voided` {by, at, reason} | null,
//! `signature` {batch_id, signer, signed_at} | null.
//! Absent optional values are stored as null. Objects whose parts only make sense together
//! (identity, address, verification, voided, signature) are replaced whole, so a concurrent
//! edit never mixes the kind of one document with the number of another.
//!
//! Split by job: `codec` (compression, guarded decoding), `read` (typed reads), `layout` (what
//! only a forged document has), `write` (writes of what changed), `analysis` (what changes do:
//! added doses, conflicts).

use crate::commit::CommitMeta;
use crate::error::SchemaError;
use crate::person::{Person, format_time};
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType, ROOT, ReadDoc};
use serde::Serialize;

mod analysis;
mod codec;
mod layout;
#[cfg(test)]
mod properties;
mod read;
#[cfg(test)]
mod tests;
mod write;

pub use analysis::dose_ids_made;
use codec::{ZSTD_MAGIC, decompress};
pub use codec::{decode_change, guarded};
pub use layout::DocIssues;
use write::{
    put_address, put_caregiver, put_identity, put_new_dose, put_opt, put_str, put_verification,
};

/// The version of the document layout this code writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// Two or more concurrent values of a sensitive field, kept by Automerge after a merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldConflict {
    pub field: &'static str,
    pub values: Vec<String>,
}

/// A person's Automerge document.
#[derive(Debug, Clone)]
pub struct PersonDoc {
    doc: Automerge,
}

/// The fields that, edited concurrently on two devices, are shown for review.
const SENSITIVE: [&str; 5] = ["full_name", "birth_date", "gender", "identity", "address"];

impl PersonDoc {
    /// Creates the document of a new person (with any doses) in one change, the whole shape
    /// included, so no two devices ever create the same object twice.
    pub fn create(
        actor: ActorId,
        person: &Person,
        meta: &CommitMeta,
    ) -> Result<PersonDoc, SchemaError> {
        let mut doc = Automerge::new().with_actor(actor);
        let mut tx = doc.transaction();
        tx.put(ROOT, "schema", SCHEMA_VERSION)?;
        tx.put(ROOT, "id", person.id.to_string())?;
        put_str(&mut tx, &ROOT, "full_name", &person.full_name)?;
        put_str(&mut tx, &ROOT, "gender", person.gender.as_str())?;
        put_str(&mut tx, &ROOT, "birth_date", &person.birth_date.to_string())?;
        put_identity(&mut tx, &person.identity)?;
        put_opt(&mut tx, &ROOT, "phone", person.phone.as_deref())?;
        put_address(&mut tx, &person.address)?;
        if person.caregiver.is_some() {
            put_caregiver(&mut tx, person.caregiver.as_ref())?;
        }
        put_str(&mut tx, &ROOT, "nationality", &person.nationality)?;
        put_opt(
            &mut tx,
            &ROOT,
            "insurance_number",
            person.insurance_number.as_deref(),
        )?;
        put_str(
            &mut tx,
            &ROOT,
            "managing_facility",
            &person.managing_facility,
        )?;
        put_str(&mut tx, &ROOT, "created_by", &person.created_by)?;
        put_str(
            &mut tx,
            &ROOT,
            "created_at",
            &format_time(person.created_at),
        )?;
        put_verification(&mut tx, &person.verification)?;
        put_opt(
            &mut tx,
            &ROOT,
            "merged_into",
            person.merged_into.map(|u| u.to_string()).as_deref(),
        )?;
        let doses = tx.put_object(ROOT, "doses", ObjType::Map)?;
        for dose in person.doses.values() {
            put_new_dose(&mut tx, &doses, dose)?;
        }
        tx.commit_with(meta.options());
        Ok(PersonDoc { doc })
    }

    /// Loads a document saved by [`PersonDoc::save`] or by Automerge itself.
    pub fn load(bytes: &[u8]) -> Result<PersonDoc, SchemaError> {
        let doc = if bytes.starts_with(&ZSTD_MAGIC) {
            Automerge::load(&decompress(bytes)?)?
        } else {
            Automerge::load(bytes)?
        };
        Ok(PersonDoc { doc })
    }

    /// The uncompressed Automerge save of a document stored by [`PersonDoc::save`] (what
    /// travels in sync pages), without loading it.
    pub fn uncompressed(stored: &[u8]) -> Result<Vec<u8>, SchemaError> {
        if stored.starts_with(&ZSTD_MAGIC) {
            decompress(stored)
        } else {
            Ok(stored.to_vec())
        }
    }

    /// Loads a saved document that this device will write to as `actor`.
    pub fn load_as(bytes: &[u8], actor: ActorId) -> Result<PersonDoc, SchemaError> {
        let mut doc = PersonDoc::load(bytes)?;
        doc.doc.set_actor(actor);
        Ok(doc)
    }

    /// An empty document, for a person this side does not hold yet.
    pub fn empty() -> PersonDoc {
        PersonDoc {
            doc: Automerge::new(),
        }
    }

    /// Builds a document from changes alone (a new device receiving a person it never had).
    pub fn from_changes(changes: Vec<Change>) -> Result<PersonDoc, SchemaError> {
        let mut doc = Automerge::new();
        doc.apply_changes(changes)?;
        Ok(PersonDoc { doc })
    }

    /// Sets the actor this device writes as.
    pub fn set_actor(&mut self, actor: ActorId) {
        self.doc.set_actor(actor);
    }

    /// The underlying Automerge document.
    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }

    /// The compact form stored in databases: Automerge's uncompressed save, compressed with
    /// zstd. As small as Automerge's own compressed save and about ten times faster to make.
    pub fn save(&self) -> Vec<u8> {
        self.save_sized().0
    }

    /// The current heads.
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The changes made after `heads` (every change when `heads` is empty).
    pub fn changes_since(&self, heads: &[ChangeHash]) -> Vec<Change> {
        self.doc.get_changes(heads)
    }

    /// Applies changes from another device (idempotent: known changes are ignored).
    pub fn apply_changes(&mut self, changes: Vec<Change>) -> Result<(), SchemaError> {
        self.doc.apply_changes(changes)?;
        Ok(())
    }

    /// Whether the document holds the change with this hash (a change whose dependencies are
    /// missing is queued by Automerge, not held).
    pub fn has_change(&self, hash: &ChangeHash) -> bool {
        self.doc.get_change_by_hash(hash).is_some()
    }

    /// The saved form without Automerge's own compression, for sending in pages that are
    /// compressed as a whole.
    pub fn save_nocompress(&self) -> Vec<u8> {
        self.doc.save_nocompress()
    }

    /// The document as it was at `heads`.
    pub fn fork_at(&self, heads: &[ChangeHash]) -> Result<PersonDoc, SchemaError> {
        Ok(PersonDoc {
            doc: self.doc.fork_at(heads)?,
        })
    }

    /// Merges another copy of the same document into this one.
    pub fn merge(&mut self, other: &mut PersonDoc) -> Result<(), SchemaError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// The hashes of changes this document depends on but does not have.
    pub fn missing_deps(&self) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(&[])
    }
}
