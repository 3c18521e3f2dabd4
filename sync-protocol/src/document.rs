//! The Automerge document of one person: how each field is stored, typed reads, and writes that
//! touch only what changed so concurrent edits of different fields merge (DESIGN.md §3).
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

use crate::commit::CommitMeta;
use crate::error::SchemaError;
use crate::person::{
    Address, BirthDate, Dose, DoseKind, DoseSignature, Gender, Identity, IdentityKind, Person,
    Verification, VerificationStatus, VerifiedField, Voided, format_time, parse_time,
};
use automerge::hydrate::{Map as HMap, Value as HValue};
use automerge::transaction::{Transactable, Transaction};
use automerge::{
    ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
};
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// The first bytes of a zstd frame (Automerge documents start otherwise).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The largest document accepted when inflating a stored one.
const MAX_DOC_BYTES: u64 = 64 * 1024 * 1024;

thread_local! {
    // zstd contexts are costly to create (hundreds of KB each); keep one per thread.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(1).ok());
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
}

fn decompress(bytes: &[u8]) -> Result<Vec<u8>, SchemaError> {
    let size = zstd::zstd_safe::get_frame_content_size(bytes)
        .ok()
        .flatten()
        .filter(|s| *s <= MAX_DOC_BYTES)
        .ok_or_else(|| SchemaError::Automerge("tài liệu nén hỏng hoặc quá lớn".into()))?;
    DECOMPRESSOR
        .with(|d| {
            d.borrow_mut()
                .as_mut()
                .map(|d| d.decompress(bytes, size as usize))
        })
        .unwrap_or_else(|| zstd::decode_all(bytes))
        .map_err(|e| SchemaError::Automerge(e.to_string()))
}

/// Runs Automerge work on input from elsewhere: a panic inside the library on hostile input
/// becomes an error instead of taking the process down.
pub fn guarded<T>(work: impl FnOnce() -> Result<T, SchemaError>) -> Result<T, SchemaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(SchemaError::Automerge(
            "dữ liệu làm hỏng việc đọc tài liệu Automerge".into(),
        ))
    })
}

/// Reads a change from elsewhere. Unlike `Change::from_bytes` alone, a change whose checksum
/// does not match its content is refused: Automerge would take it, and every document saved
/// with it would then fail to load ("bad checksum").
pub fn decode_change(bytes: Vec<u8>) -> Result<Change, SchemaError> {
    let checksum: Option<[u8; 4]> = bytes.get(4..8).and_then(|b| b.try_into().ok());
    let change =
        guarded(|| Change::from_bytes(bytes).map_err(|e| SchemaError::Automerge(e.to_string())))?;
    let hash = change.hash().0;
    if checksum != Some([hash[0], hash[1], hash[2], hash[3]]) {
        return Err(SchemaError::Automerge(
            "mã kiểm tra (checksum) của thay đổi không khớp nội dung".into(),
        ));
    }
    Ok(change)
}

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

    /// Reads the whole person with their doses.
    pub fn read(&self) -> Result<Person, SchemaError> {
        read_root(root_map(&self.doc.hydrate(None))?)
    }

    /// Reads the person and lists what only a forged or wrongly built document has (see
    /// [`DocIssues`]) in one traversal.
    pub fn read_checked(&self) -> Result<(Person, DocIssues), SchemaError> {
        let hydrated = self.doc.hydrate(None);
        let root = root_map(&hydrated)?;
        Ok((
            read_root(root)?,
            DocIssues {
                conflicts: structural_in(root),
                unknown: unknown_in(root),
            },
        ))
    }

    /// The stored form ([`PersonDoc::save`]) and the size of the uncompressed save, which is
    /// what a station receives.
    pub fn save_sized(&self) -> (Vec<u8>, usize) {
        let raw = self.doc.save_nocompress();
        let size = raw.len();
        let saved = COMPRESSOR
            .with(|c| c.borrow_mut().as_mut().and_then(|c| c.compress(&raw).ok()))
            .unwrap_or_else(|| self.doc.save());
        (saved, size)
    }
    /// Brings the document to `new` by writing only the fields that differ from what it holds.
    /// Doses are never removed (they are voided). Returns the new change's hash, or `None` when
    /// nothing differed.
    pub fn update(
        &mut self,
        new: &Person,
        meta: &CommitMeta,
    ) -> Result<Option<ChangeHash>, SchemaError> {
        let old = self.read()?;
        if old.id != new.id {
            return Err(bad("id", "không được đổi mã người".into()));
        }
        if &old == new {
            return Ok(None);
        }
        if let Some(missing) = old.doses.keys().find(|k| !new.doses.contains_key(k)) {
            return Err(bad(
                &format!("doses.{missing}"),
                "mũi tiêm không được xoá, chỉ được huỷ".into(),
            ));
        }
        let doses_obj = match self.doc.get(ROOT, "doses")? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => return Err(SchemaError::Missing("doses".into())),
        };
        let mut tx = self.doc.transaction();
        if old.full_name != new.full_name {
            put_str(&mut tx, &ROOT, "full_name", &new.full_name)?;
        }
        if old.gender != new.gender {
            put_str(&mut tx, &ROOT, "gender", new.gender.as_str())?;
        }
        if old.birth_date != new.birth_date {
            put_str(&mut tx, &ROOT, "birth_date", &new.birth_date.to_string())?;
        }
        if old.identity != new.identity {
            put_identity(&mut tx, &new.identity)?;
        }
        if old.phone != new.phone {
            put_opt(&mut tx, &ROOT, "phone", new.phone.as_deref())?;
        }
        if old.address != new.address {
            put_address(&mut tx, &new.address)?;
        }
        if old.nationality != new.nationality {
            put_str(&mut tx, &ROOT, "nationality", &new.nationality)?;
        }
        if old.insurance_number != new.insurance_number {
            put_opt(
                &mut tx,
                &ROOT,
                "insurance_number",
                new.insurance_number.as_deref(),
            )?;
        }
        if old.managing_facility != new.managing_facility {
            put_str(&mut tx, &ROOT, "managing_facility", &new.managing_facility)?;
        }
        if old.created_by != new.created_by || old.created_at != new.created_at {
            return Err(bad(
                "created_by",
                "không được đổi người và thời điểm tạo".into(),
            ));
        }
        if old.verification != new.verification {
            put_verification(&mut tx, &new.verification)?;
        }
        if old.merged_into != new.merged_into {
            put_opt(
                &mut tx,
                &ROOT,
                "merged_into",
                new.merged_into.map(|u| u.to_string()).as_deref(),
            )?;
        }
        for (id, dose) in &new.doses {
            match old.doses.get(id) {
                None => put_new_dose(&mut tx, &doses_obj, dose)?,
                Some(prev) if prev != dose => update_dose(&mut tx, &doses_obj, prev, dose)?,
                Some(_) => {}
            }
        }
        Ok(tx.commit_with(meta.options()).0)
    }

    /// Keys whose concurrent values mean the document was forged or built wrongly rather than
    /// edited concurrently: two `doses` maps would hide one set of doses, two `id`s would mix two
    /// people. Returns the paths of such keys.
    pub fn structural_conflicts(&self) -> Result<Vec<String>, SchemaError> {
        Ok(structural_in(root_map(&self.doc.hydrate(None))?))
    }

    /// The person's date of birth alone.
    pub fn birth_date(&self) -> Result<BirthDate, SchemaError> {
        match self.doc.get(ROOT, "birth_date")? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(t) => {
                    BirthDate::parse(t).map_err(|e| bad("birth_date", e.to_string()))
                }
                _ => Err(SchemaError::WrongType {
                    path: "birth_date".into(),
                    expected: "chuỗi",
                }),
            },
            _ => Err(SchemaError::Missing("birth_date".into())),
        }
    }

    /// Reads some doses alone, without the rest of the document; a dose with a key outside the
    /// layout is an error.
    pub fn read_doses(&self, ids: &[Uuid]) -> Result<Vec<Dose>, SchemaError> {
        let doses = match self.doc.get(ROOT, "doses")? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => return Err(SchemaError::Missing("doses".into())),
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let path = format!("doses.{id}");
            let obj = match self.doc.get(&doses, id.to_string())? {
                Some((Value::Object(ObjType::Map), obj)) => obj,
                _ => return Err(SchemaError::Missing(path)),
            };
            let hydrated = ReadDoc::hydrate(&self.doc, &obj, None)?;
            let HValue::Map(map) = &hydrated else {
                return Err(SchemaError::WrongType {
                    path,
                    expected: "bảng (map)",
                });
            };
            let dose = read_dose(map, &path)?;
            if &dose.id != id {
                return Err(bad(&path, "mã mũi tiêm không khớp khoá".into()));
            }
            let mut unknown = Vec::new();
            unknown_in_dose(map, &path, &mut unknown);
            if let Some(key) = unknown.first() {
                return Err(bad(key, "trường lạ, không thuộc mũi tiêm".into()));
            }
            out.push(dose);
        }
        Ok(out)
    }

    /// Whether the document holds a dose with this id.
    pub fn has_dose(&self, id: &Uuid) -> bool {
        match self.doc.get(ROOT, "doses") {
            Ok(Some((Value::Object(ObjType::Map), doses))) => {
                matches!(self.doc.get(&doses, id.to_string()), Ok(Some(_)))
            }
            _ => false,
        }
    }

    /// Whether `changes`, applied on top of this document, do nothing but add doses it does not
    /// have: every operation either makes a new map under `doses` at a key absent here, or puts
    /// a fresh key in an object the same changes made. Such changes cannot touch the person's
    /// fields or an existing (perhaps signed) dose, which lets the server skip re-reading the
    /// document as it was before them.
    pub fn only_adds_doses(&self, changes: &[Change]) -> bool {
        self.added_doses(changes).is_some()
    }

    /// The ids of the doses `changes` add, if adding doses is all they do (see
    /// [`PersonDoc::only_adds_doses`]).
    pub fn added_doses(&self, changes: &[Change]) -> Option<Vec<Uuid>> {
        use automerge::legacy::{Key, ObjectId, OpId, OpType};
        let Ok(Some((Value::Object(ObjType::Map), doses))) = self.doc.get(ROOT, "doses") else {
            return None;
        };
        let automerge::ObjId::Id(doses_counter, doses_actor, _) = &doses else {
            return None;
        };
        let mut added = Vec::new();
        let mut made: std::collections::HashSet<(u64, ActorId)> = std::collections::HashSet::new();
        for change in changes {
            let expanded = change.decode();
            for (i, op) in expanded.operations.iter().enumerate() {
                if !op.pred.is_empty() || op.insert {
                    return None;
                }
                let Key::Map(key) = &op.key else { return None };
                let id = (
                    expanded.start_op.get() + i as u64,
                    expanded.actor_id.clone(),
                );
                match &op.obj {
                    ObjectId::Id(OpId(counter, actor))
                        if counter == doses_counter && actor == doses_actor =>
                    {
                        let new_key = matches!(self.doc.get(&doses, key.as_str()), Ok(None));
                        if !new_key || !matches!(op.action, OpType::Make(ObjType::Map)) {
                            return None;
                        }
                        made.insert(id);
                        added.push(Uuid::parse_str(key).ok()?);
                    }
                    ObjectId::Id(OpId(counter, actor))
                        if made.contains(&(*counter, actor.clone())) =>
                    {
                        match op.action {
                            OpType::Make(_) => {
                                made.insert(id);
                            }
                            OpType::Put(_) => {}
                            _ => return None,
                        }
                    }
                    _ => return None,
                }
            }
        }
        Some(added)
    }

    /// Sensitive fields that hold concurrent values after a merge.
    pub fn conflicts(&self) -> Result<Vec<FieldConflict>, SchemaError> {
        let mut out = Vec::new();
        for field in SENSITIVE {
            let all = self.doc.get_all(ROOT, field)?;
            if all.len() < 2 {
                continue;
            }
            let mut values = Vec::new();
            for (value, obj) in all {
                values.push(match value {
                    Value::Scalar(s) => scalar_text(&s),
                    Value::Object(_) => self.describe_object(&obj)?,
                });
            }
            out.push(FieldConflict { field, values });
        }
        Ok(out)
    }

    fn describe_object(&self, obj: &ObjId) -> Result<String, SchemaError> {
        let mut parts = Vec::new();
        for key in self.doc.keys(obj) {
            if let Some((Value::Scalar(s), _)) = self.doc.get(obj, key.as_str())?
                && !s.is_null()
            {
                parts.push(scalar_text(&s));
            }
        }
        Ok(parts.join(", "))
    }
}

/// The root map of a hydrated document.
fn root_map(hydrated: &HValue) -> Result<&HMap, SchemaError> {
    match hydrated {
        HValue::Map(root) => Ok(root),
        _ => Err(SchemaError::WrongType {
            path: String::new(),
            expected: "bảng (map)",
        }),
    }
}

/// Keys with concurrent values that only a forged or wrongly built document has.
fn structural_in(root: &HMap) -> Vec<String> {
    let conflicted = |m: &HMap, key: &str| {
        std::ops::Deref::deref(m)
            .get(key)
            .is_some_and(|v| v.conflict)
    };
    let mut out: Vec<String> = [
        "schema",
        "id",
        "doses",
        "created_by",
        "created_at",
        "managing_facility",
    ]
    .into_iter()
    .filter(|k| conflicted(root, k))
    .map(str::to_string)
    .collect();
    if let Some(HValue::Map(doses)) = root.get("doses") {
        let mut keys: Vec<&String> = doses.keys().filter(|k| conflicted(doses, k)).collect();
        keys.sort();
        out.extend(keys.into_iter().map(|k| format!("doses.{k}")));
    }
    out
}

/// What only a forged or wrongly built document has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocIssues {
    /// Keys with concurrent values that concurrent edits never make (two `id`s, two `doses`
    /// maps, two managing facilities written without seeing each other).
    pub conflicts: Vec<String>,
    /// Paths of keys the person document does not have.
    pub unknown: Vec<String>,
}

const ROOT_KEYS: [&str; 16] = [
    "schema",
    "id",
    "full_name",
    "gender",
    "birth_date",
    "identity",
    "phone",
    "address",
    "nationality",
    "insurance_number",
    "managing_facility",
    "created_by",
    "created_at",
    "verification",
    "merged_into",
    "doses",
];
const IDENTITY_KEYS: [&str; 2] = ["kind", "number"];
const ADDRESS_KEYS: [&str; 3] = ["province", "commune", "detail"];
const VERIFICATION_KEYS: [&str; 3] = ["status", "fields", "checked_at"];
const DOSE_KEYS: [&str; 12] = [
    "id",
    "vaccine",
    "lot",
    "dose_number",
    "kind",
    "given_at",
    "facility",
    "vaccinator",
    "place",
    "reaction_notes",
    "voided",
    "signature",
];
const VOIDED_KEYS: [&str; 3] = ["by", "at", "reason"];
const SIGNATURE_KEYS: [&str; 3] = ["batch_id", "signer", "signed_at"];

/// Paths of keys outside the layout (an unknown key could grow a document without bound and
/// travel to every station unseen).
fn unknown_in(root: &HMap) -> Vec<String> {
    let mut out = Vec::new();
    keys_outside(root, &ROOT_KEYS, "", &mut out);
    for (key, allowed) in [
        ("identity", &IDENTITY_KEYS[..]),
        ("address", &ADDRESS_KEYS[..]),
        ("verification", &VERIFICATION_KEYS[..]),
    ] {
        if let Some(HValue::Map(m)) = root.get(key) {
            keys_outside(m, allowed, key, &mut out);
        }
    }
    if let Some(HValue::Map(doses)) = root.get("doses") {
        for (id, dose) in doses.iter() {
            if let HValue::Map(d) = &dose.value {
                unknown_in_dose(d, &format!("doses.{id}"), &mut out);
            }
        }
    }
    out.sort();
    out
}

/// Adds the paths of `m`'s keys that are not `allowed`.
fn keys_outside(m: &HMap, allowed: &[&str], path: &str, out: &mut Vec<String>) {
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            out.push(if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            });
        }
    }
}

/// Adds the paths of a dose map's keys outside the layout.
fn unknown_in_dose(d: &HMap, path: &str, out: &mut Vec<String>) {
    keys_outside(d, &DOSE_KEYS, path, out);
    for (key, allowed) in [
        ("voided", &VOIDED_KEYS[..]),
        ("signature", &SIGNATURE_KEYS[..]),
    ] {
        if let Some(HValue::Map(m)) = d.get(key) {
            keys_outside(m, allowed, &format!("{path}.{key}"), out);
        }
    }
}

/// Reads a person from the root map of a hydrated document.
fn read_root(root: &HMap) -> Result<Person, SchemaError> {
    let version = get_int(root, "schema", "")?;
    if version > SCHEMA_VERSION {
        return Err(SchemaError::UnsupportedVersion {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let id = parse_uuid(&get_str(root, "id", "")?, "id")?;
    let gender_text = get_str(root, "gender", "")?;
    let gender = Gender::parse(&gender_text).map_err(|e| bad("gender", e.to_string()))?;
    let birth_text = get_str(root, "birth_date", "")?;
    let birth_date = BirthDate::parse(&birth_text).map_err(|e| bad("birth_date", e.to_string()))?;
    let identity_obj = get_map(root, "identity", "")?;
    let kind_text = get_str(identity_obj, "kind", "identity")?;
    let identity = Identity {
        kind: IdentityKind::parse(&kind_text)
            .ok_or_else(|| bad("identity.kind", kind_text.clone()))?,
        number: get_opt_str(identity_obj, "number", "identity")?,
    };
    let address_obj = get_map(root, "address", "")?;
    let address = Address {
        province: get_opt_str(address_obj, "province", "address")?,
        commune: get_opt_str(address_obj, "commune", "address")?,
        detail: get_opt_str(address_obj, "detail", "address")?,
    };
    let v_obj = get_map(root, "verification", "")?;
    let status_text = get_str(v_obj, "status", "verification")?;
    let fields_text = get_opt_str(v_obj, "fields", "verification")?.unwrap_or_default();
    let status = parse_status(&status_text, &fields_text)?;
    let checked_at = get_opt_time(v_obj, "checked_at", "verification")?;
    let merged_into = get_opt_str(root, "merged_into", "")?
        .map(|s| parse_uuid(&s, "merged_into"))
        .transpose()?;
    let doses_obj = get_map(root, "doses", "")?;
    let mut doses = BTreeMap::new();
    for key in doses_obj.keys() {
        let path = format!("doses.{key}");
        let obj = get_map(doses_obj, key.as_str(), "doses")?;
        let dose = read_dose(obj, &path)?;
        if &dose.id.to_string() != key {
            return Err(bad(&path, "mã mũi tiêm không khớp khoá".into()));
        }
        doses.insert(dose.id, dose);
    }
    Ok(Person {
        id,
        full_name: get_str(root, "full_name", "")?,
        gender,
        birth_date,
        identity,
        phone: get_opt_str(root, "phone", "")?,
        address,
        nationality: get_str(root, "nationality", "")?,
        insurance_number: get_opt_str(root, "insurance_number", "")?,
        managing_facility: get_str(root, "managing_facility", "")?,
        created_by: get_str(root, "created_by", "")?,
        created_at: get_time(root, "created_at", "")?,
        verification: Verification { status, checked_at },
        merged_into,
        doses,
    })
}

fn scalar_text(s: &ScalarValue) -> String {
    match s {
        ScalarValue::Str(t) => t.to_string(),
        ScalarValue::Int(i) => i.to_string(),
        ScalarValue::Null => String::new(),
        other => other.to_string(),
    }
}

fn bad(path: &str, reason: String) -> SchemaError {
    SchemaError::BadValue {
        path: path.to_string(),
        reason,
    }
}

fn parse_uuid(text: &str, path: &str) -> Result<Uuid, SchemaError> {
    Uuid::parse_str(text).map_err(|e| bad(path, e.to_string()))
}

fn parse_status(status: &str, fields: &str) -> Result<VerificationStatus, SchemaError> {
    Ok(match status {
        "unverified" => VerificationStatus::Unverified,
        "matched" => VerificationStatus::Matched,
        "mismatched" => VerificationStatus::Mismatched(
            fields
                .split(',')
                .filter(|f| !f.is_empty())
                .map(|f| {
                    VerifiedField::parse(f).ok_or_else(|| bad("verification.fields", f.to_string()))
                })
                .collect::<Result<_, _>>()?,
        ),
        "not_found" => VerificationStatus::NotFound,
        "no_id" => VerificationStatus::NoId,
        "invalid_id" => VerificationStatus::InvalidId,
        "not_applicable" => VerificationStatus::NotApplicable,
        other => return Err(bad("verification.status", other.to_string())),
    })
}

fn put_str(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    key: &str,
    value: &str,
) -> Result<(), SchemaError> {
    tx.put(obj, key, value)?;
    Ok(())
}

fn put_opt(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    key: &str,
    value: Option<&str>,
) -> Result<(), SchemaError> {
    match value {
        Some(v) => tx.put(obj, key, v)?,
        None => tx.put(obj, key, ScalarValue::Null)?,
    }
    Ok(())
}

fn put_identity(tx: &mut Transaction<'_>, identity: &Identity) -> Result<(), SchemaError> {
    let obj = tx.put_object(ROOT, "identity", ObjType::Map)?;
    put_str(tx, &obj, "kind", identity.kind.as_str())?;
    put_opt(tx, &obj, "number", identity.number.as_deref())
}

fn put_address(tx: &mut Transaction<'_>, address: &Address) -> Result<(), SchemaError> {
    let obj = tx.put_object(ROOT, "address", ObjType::Map)?;
    put_opt(tx, &obj, "province", address.province.as_deref())?;
    put_opt(tx, &obj, "commune", address.commune.as_deref())?;
    put_opt(tx, &obj, "detail", address.detail.as_deref())
}

fn put_verification(tx: &mut Transaction<'_>, v: &Verification) -> Result<(), SchemaError> {
    let obj = tx.put_object(ROOT, "verification", ObjType::Map)?;
    put_str(tx, &obj, "status", v.status.as_str())?;
    let fields = match &v.status {
        VerificationStatus::Mismatched(fields) => Some(
            fields
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    put_opt(tx, &obj, "fields", fields.as_deref())?;
    put_opt(
        tx,
        &obj,
        "checked_at",
        v.checked_at.map(format_time).as_deref(),
    )
}

fn put_new_dose(tx: &mut Transaction<'_>, doses: &ObjId, dose: &Dose) -> Result<(), SchemaError> {
    let obj = tx.put_object(doses, dose.id.to_string(), ObjType::Map)?;
    put_str(tx, &obj, "id", &dose.id.to_string())?;
    put_str(tx, &obj, "vaccine", &dose.vaccine)?;
    put_str(tx, &obj, "lot", &dose.lot)?;
    tx.put(&obj, "dose_number", i64::from(dose.dose_number))?;
    put_str(tx, &obj, "kind", dose.kind.as_str())?;
    put_str(tx, &obj, "given_at", &format_time(dose.given_at))?;
    put_str(tx, &obj, "facility", &dose.facility)?;
    put_str(tx, &obj, "vaccinator", &dose.vaccinator)?;
    put_opt(tx, &obj, "place", dose.place.as_deref())?;
    put_opt(tx, &obj, "reaction_notes", dose.reaction_notes.as_deref())?;
    put_voided(tx, &obj, dose.voided.as_ref())?;
    put_signature(tx, &obj, dose.signature.as_ref())
}

fn update_dose(
    tx: &mut Transaction<'_>,
    doses: &ObjId,
    old: &Dose,
    new: &Dose,
) -> Result<(), SchemaError> {
    let path = format!("doses.{}", new.id);
    let obj = match tx.get(doses, new.id.to_string())? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => return Err(SchemaError::Missing(path)),
    };
    if old.vaccine != new.vaccine {
        put_str(tx, &obj, "vaccine", &new.vaccine)?;
    }
    if old.lot != new.lot {
        put_str(tx, &obj, "lot", &new.lot)?;
    }
    if old.dose_number != new.dose_number {
        tx.put(&obj, "dose_number", i64::from(new.dose_number))?;
    }
    if old.kind != new.kind {
        put_str(tx, &obj, "kind", new.kind.as_str())?;
    }
    if old.given_at != new.given_at {
        put_str(tx, &obj, "given_at", &format_time(new.given_at))?;
    }
    if old.facility != new.facility {
        put_str(tx, &obj, "facility", &new.facility)?;
    }
    if old.vaccinator != new.vaccinator {
        put_str(tx, &obj, "vaccinator", &new.vaccinator)?;
    }
    if old.place != new.place {
        put_opt(tx, &obj, "place", new.place.as_deref())?;
    }
    if old.reaction_notes != new.reaction_notes {
        put_opt(tx, &obj, "reaction_notes", new.reaction_notes.as_deref())?;
    }
    if old.voided != new.voided {
        put_voided(tx, &obj, new.voided.as_ref())?;
    }
    if old.signature != new.signature {
        put_signature(tx, &obj, new.signature.as_ref())?;
    }
    Ok(())
}

fn put_voided(
    tx: &mut Transaction<'_>,
    dose: &ObjId,
    voided: Option<&Voided>,
) -> Result<(), SchemaError> {
    match voided {
        None => {
            tx.put(dose, "voided", ScalarValue::Null)?;
        }
        Some(v) => {
            let obj = tx.put_object(dose, "voided", ObjType::Map)?;
            put_str(tx, &obj, "by", &v.by)?;
            put_str(tx, &obj, "at", &format_time(v.at))?;
            put_str(tx, &obj, "reason", &v.reason)?;
        }
    }
    Ok(())
}

fn put_signature(
    tx: &mut Transaction<'_>,
    dose: &ObjId,
    sig: Option<&DoseSignature>,
) -> Result<(), SchemaError> {
    match sig {
        None => {
            tx.put(dose, "signature", ScalarValue::Null)?;
        }
        Some(s) => {
            let obj = tx.put_object(dose, "signature", ObjType::Map)?;
            put_str(tx, &obj, "batch_id", &s.batch_id.to_string())?;
            put_str(tx, &obj, "signer", &s.signer)?;
            put_str(tx, &obj, "signed_at", &format_time(s.signed_at))?;
        }
    }
    Ok(())
}

fn read_dose(obj: &HMap, path: &str) -> Result<Dose, SchemaError> {
    let p = |k: &str| format!("{path}.{k}");
    let voided_path = || format!("{path}.voided");
    let signature_path = || format!("{path}.signature");
    let number = get_int(obj, "dose_number", path)?;
    let kind_text = get_str(obj, "kind", path)?;
    let voided = match get_opt_map(obj, "voided", path)? {
        None => None,
        Some(v) => Some(Voided {
            by: get_str(v, "by", &voided_path())?,
            at: get_time(v, "at", &voided_path())?,
            reason: get_str(v, "reason", &voided_path())?,
        }),
    };
    let signature = match get_opt_map(obj, "signature", path)? {
        None => None,
        Some(s) => Some(DoseSignature {
            batch_id: Uuid::parse_str(&get_str(s, "batch_id", &signature_path())?)
                .map_err(|e| bad(&p("signature.batch_id"), e.to_string()))?,
            signer: get_str(s, "signer", &signature_path())?,
            signed_at: get_time(s, "signed_at", &signature_path())?,
        }),
    };
    Ok(Dose {
        id: Uuid::parse_str(&get_str(obj, "id", path)?)
            .map_err(|e| bad(&p("id"), e.to_string()))?,
        vaccine: get_str(obj, "vaccine", path)?,
        lot: get_str(obj, "lot", path)?,
        dose_number: u8::try_from(number)
            .map_err(|_| bad(&p("dose_number"), number.to_string()))?,
        kind: DoseKind::parse(&kind_text).map_err(|_| bad(&p("kind"), kind_text.clone()))?,
        given_at: get_time(obj, "given_at", path)?,
        facility: get_str(obj, "facility", path)?,
        vaccinator: get_str(obj, "vaccinator", path)?,
        place: get_opt_str(obj, "place", path)?,
        reaction_notes: get_opt_str(obj, "reaction_notes", path)?,
        voided,
        signature,
    })
}

/// The dotted path of `key` under `parent`, built only when an error needs it.
fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn get_value<'a>(m: &'a HMap, key: &str) -> Option<&'a HValue> {
    m.get(key)
}

fn get_opt_str(m: &HMap, key: &str, parent: &str) -> Result<Option<String>, SchemaError> {
    match get_value(m, key) {
        None | Some(HValue::Scalar(ScalarValue::Null)) => Ok(None),
        Some(HValue::Scalar(ScalarValue::Str(t))) => Ok(Some(t.to_string())),
        Some(_) => Err(SchemaError::WrongType {
            path: join(parent, key),
            expected: "chuỗi",
        }),
    }
}

fn get_str(m: &HMap, key: &str, parent: &str) -> Result<String, SchemaError> {
    get_opt_str(m, key, parent)?.ok_or_else(|| SchemaError::Missing(join(parent, key)))
}

fn get_int(m: &HMap, key: &str, parent: &str) -> Result<i64, SchemaError> {
    match get_value(m, key) {
        None => Err(SchemaError::Missing(join(parent, key))),
        Some(HValue::Scalar(ScalarValue::Int(i))) => Ok(*i),
        Some(HValue::Scalar(ScalarValue::Uint(u))) => {
            i64::try_from(*u).map_err(|_| bad(&join(parent, key), u.to_string()))
        }
        Some(_) => Err(SchemaError::WrongType {
            path: join(parent, key),
            expected: "số nguyên",
        }),
    }
}

fn get_opt_time(m: &HMap, key: &str, parent: &str) -> Result<Option<OffsetDateTime>, SchemaError> {
    get_opt_str(m, key, parent)?
        .map(|t| parse_time(&t).ok_or_else(|| bad(&join(parent, key), t)))
        .transpose()
}

fn get_time(m: &HMap, key: &str, parent: &str) -> Result<OffsetDateTime, SchemaError> {
    get_opt_time(m, key, parent)?.ok_or_else(|| SchemaError::Missing(join(parent, key)))
}

fn get_opt_map<'a>(m: &'a HMap, key: &str, parent: &str) -> Result<Option<&'a HMap>, SchemaError> {
    match get_value(m, key) {
        None | Some(HValue::Scalar(ScalarValue::Null)) => Ok(None),
        Some(HValue::Map(map)) => Ok(Some(map)),
        Some(_) => Err(SchemaError::WrongType {
            path: join(parent, key),
            expected: "bảng (map)",
        }),
    }
}

fn get_map<'a>(m: &'a HMap, key: &str, parent: &str) -> Result<&'a HMap, SchemaError> {
    get_opt_map(m, key, parent)?.ok_or_else(|| SchemaError::Missing(join(parent, key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::CommitAction;
    use crate::person::now;
    use time::macros::{date, datetime};

    fn actor(n: u8) -> ActorId {
        ActorId::from([n; 16].as_slice())
    }

    fn person() -> Person {
        Person {
            id: Uuid::now_v7(),
            full_name: "Nguyễn Văn An".into(),
            gender: Gender::Male,
            birth_date: BirthDate::Full(date!(1985 - 03 - 02)),
            identity: Identity {
                kind: IdentityKind::Cccd,
                number: Some("001085012345".into()),
            },
            phone: Some("0912345678".into()),
            address: Address {
                province: Some("Hà Nội".into()),
                commune: Some("Phường Ngọc Hà".into()),
                detail: Some("Số 12 ngõ 34 Kim Mã".into()),
            },
            nationality: "VN".into(),
            insurance_number: None,
            managing_facility: "TYT-NGOCHA".into(),
            created_by: "ytetramngocha".into(),
            created_at: datetime!(2025-03-10 08:00:00 +7),
            verification: Verification {
                status: VerificationStatus::Unverified,
                checked_at: None,
            },
            merged_into: None,
            doses: BTreeMap::new(),
        }
    }

    fn dose(number: u8) -> Dose {
        Dose {
            id: Uuid::now_v7(),
            vaccine: "EU/1/20/1528".into(),
            lot: "FF2588".into(),
            dose_number: number,
            kind: DoseKind::Primary,
            given_at: datetime!(2025-03-10 09:15:00 +7),
            facility: "TYT-NGOCHA".into(),
            vaccinator: "ytetramngocha".into(),
            place: None,
            reaction_notes: None,
            voided: None,
            signature: None,
        }
    }

    #[test]
    fn a_person_with_doses_round_trips_through_save_and_load() {
        let mut p = person();
        let mut d = dose(1);
        d.voided = Some(Voided {
            by: "ytetramngocha".into(),
            at: datetime!(2025-03-10 10:00:00 +7),
            reason: "Nhập nhầm người".into(),
        });
        let mut d2 = dose(2);
        d2.signature = Some(DoseSignature {
            batch_id: Uuid::now_v7(),
            signer: "truongtram".into(),
            signed_at: datetime!(2025-03-10 17:00:00 +7),
        });
        d2.place = Some("Điểm tiêm lưu động thôn 3".into());
        p.doses.insert(d.id, d);
        p.doses.insert(d2.id, d2);
        p.verification = Verification {
            status: VerificationStatus::Mismatched(vec![
                VerifiedField::FullName,
                VerifiedField::BirthDate,
            ]),
            checked_at: Some(datetime!(2025-03-11 07:00:00 +7)),
        };
        let doc = PersonDoc::create(
            actor(1),
            &p,
            &CommitMeta::new("ytetramngocha", CommitAction::Register),
        )
        .unwrap();
        let loaded = PersonDoc::load(&doc.save()).unwrap();
        assert_eq!(loaded.read().unwrap(), p);
        assert_eq!(loaded.heads(), doc.heads());
    }

    #[test]
    fn update_writes_only_the_fields_that_changed() {
        let p = person();
        let mut doc =
            PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
        let heads = doc.heads();
        let mut edited = p.clone();
        edited.phone = Some("0987654321".into());
        let hash = doc
            .update(&edited, &CommitMeta::new("a", CommitAction::Edit))
            .unwrap();
        assert!(hash.is_some());
        let changes = doc.changes_since(&heads);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].len(), 1, "one operation for one field");
        assert_eq!(
            doc.update(&edited, &CommitMeta::new("a", CommitAction::Edit))
                .unwrap(),
            None
        );
        assert_eq!(
            CommitMeta::from_change(&changes[0]).map(|m| (m.user, m.action)),
            Some(("a".to_string(), CommitAction::Edit))
        );
    }

    #[test]
    fn doses_cannot_be_removed_through_update() {
        let mut p = person();
        let d = dose(1);
        p.doses.insert(d.id, d);
        let mut doc =
            PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
        let mut removed = p.clone();
        removed.doses.clear();
        assert!(
            doc.update(&removed, &CommitMeta::new("a", CommitAction::Edit))
                .is_err()
        );
    }

    #[test]
    fn concurrent_edits_of_different_fields_and_doses_merge() {
        let p = person();
        let base =
            PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
        let mut left = PersonDoc::load_as(&base.save(), actor(2)).unwrap();
        let mut right = PersonDoc::load_as(&base.save(), actor(3)).unwrap();

        let mut l = left.read().unwrap();
        l.phone = Some("0987654321".into());
        let dl = dose(1);
        l.doses.insert(dl.id, dl.clone());
        left.update(&l, &CommitMeta::new("left", CommitAction::Dose))
            .unwrap();

        let mut r = right.read().unwrap();
        r.address.detail = Some("Thôn Đông, xã Yên Sở".into());
        let mut dr = dose(2);
        dr.given_at = now();
        r.doses.insert(dr.id, dr.clone());
        right
            .update(&r, &CommitMeta::new("right", CommitAction::Dose))
            .unwrap();

        left.apply_changes(right.changes_since(&base.heads()))
            .unwrap();
        right
            .apply_changes(left.changes_since(&base.heads()))
            .unwrap();
        let merged = left.read().unwrap();
        assert_eq!(merged, right.read().unwrap());
        assert_eq!(merged.doses.len(), 2);
        assert!(merged.doses.contains_key(&dl.id) && merged.doses.contains_key(&dr.id));
        assert_eq!(merged.phone.as_deref(), Some("0987654321"));
        assert_eq!(
            merged.address.detail.as_deref(),
            Some("Thôn Đông, xã Yên Sở")
        );
        assert!(left.conflicts().unwrap().is_empty());
    }

    #[test]
    fn concurrent_edits_of_the_same_sensitive_field_are_reported_as_conflicts() {
        let p = person();
        let base =
            PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
        let mut left = PersonDoc::load_as(&base.save(), actor(2)).unwrap();
        let mut right = PersonDoc::load_as(&base.save(), actor(3)).unwrap();
        let mut l = left.read().unwrap();
        l.full_name = "Nguyễn Văn Ân".into();
        left.update(&l, &CommitMeta::new("left", CommitAction::Edit))
            .unwrap();
        let mut r = right.read().unwrap();
        r.full_name = "Nguyễn Văn Anh".into();
        right
            .update(&r, &CommitMeta::new("right", CommitAction::Edit))
            .unwrap();
        left.apply_changes(right.changes_since(&base.heads()))
            .unwrap();
        right
            .apply_changes(left.changes_since(&base.heads()))
            .unwrap();
        assert_eq!(
            left.read().unwrap().full_name,
            right.read().unwrap().full_name
        );
        let conflicts = left.conflicts().unwrap();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].field, "full_name");
        let mut values = conflicts[0].values.clone();
        values.sort();
        assert_eq!(values, vec!["Nguyễn Văn Anh", "Nguyễn Văn Ân"]);
    }

    #[test]
    fn two_creations_of_the_same_person_merged_show_as_structural_conflicts() {
        let p = person();
        let mut one =
            PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
        let two =
            PersonDoc::create(actor(2), &p, &CommitMeta::new("b", CommitAction::Register)).unwrap();
        assert!(one.structural_conflicts().unwrap().is_empty());
        one.apply_changes(two.changes_since(&[])).unwrap();
        let conflicts = one.structural_conflicts().unwrap();
        assert!(
            conflicts.contains(&"doses".to_string()) && conflicts.contains(&"id".to_string()),
            "{conflicts:?}"
        );
        assert_eq!(one.read_checked().unwrap().1.conflicts, conflicts);
    }

    #[test]
    fn a_new_dose_is_recognised_as_a_pure_addition_and_an_edit_is_not() {
        let mut p = person();
        let d = dose(1);
        p.doses.insert(d.id, d.clone());
        let base =
            PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
        let mut doc = PersonDoc::load_as(&base.save(), actor(2)).unwrap();
        let mut added = p.clone();
        let d2 = dose(2);
        added.doses.insert(d2.id, d2);
        doc.update(&added, &CommitMeta::new("a", CommitAction::Dose))
            .unwrap();
        let new_dose = doc.changes_since(&base.heads());
        assert!(base.only_adds_doses(&new_dose));
        let heads = doc.heads();
        let mut voided = added.clone();
        voided.doses.get_mut(&d.id).unwrap().voided = Some(Voided {
            by: "a".into(),
            at: datetime!(2025-03-11 08:00:00 +7),
            reason: "Nhập nhầm".into(),
        });
        doc.update(&voided, &CommitMeta::new("a", CommitAction::Void))
            .unwrap();
        assert!(
            !base.only_adds_doses(&doc.changes_since(&heads)),
            "a void touches an existing dose"
        );
        let heads = doc.heads();
        let mut edited = voided.clone();
        edited.phone = Some("0987654321".into());
        doc.update(&edited, &CommitMeta::new("a", CommitAction::Edit))
            .unwrap();
        assert!(
            !base.only_adds_doses(&doc.changes_since(&heads)),
            "an edit touches the person"
        );
        // Re-adding a dose key the base already has is not an addition.
        let mut forged = PersonDoc::load_as(&base.save(), actor(3)).unwrap();
        let mut again = p.clone();
        again.doses.clear();
        let h = forged.heads();
        forged
            .doc
            .transact::<_, _, automerge::AutomergeError>(|tx| {
                let doses = match tx.get(ROOT, "doses")? {
                    Some((Value::Object(_), id)) => id,
                    _ => unreachable!(),
                };
                tx.put_object(&doses, d.id.to_string(), ObjType::Map)?;
                Ok(())
            })
            .unwrap();
        assert!(!base.only_adds_doses(&forged.changes_since(&h)));
    }

    #[test]
    fn a_document_missing_a_field_is_rejected_with_its_path() {
        let p = person();
        let mut doc =
            PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
        doc.doc
            .transact::<_, _, automerge::AutomergeError>(|tx| tx.delete(ROOT, "full_name"))
            .unwrap();
        assert_eq!(
            doc.read().unwrap_err(),
            SchemaError::Missing("full_name".into())
        );
    }

    #[test]
    fn a_document_from_a_newer_schema_is_refused() {
        let p = person();
        let mut doc =
            PersonDoc::create(actor(1), &p, &CommitMeta::new("a", CommitAction::Register)).unwrap();
        doc.doc
            .transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "schema", 2))
            .unwrap();
        assert!(matches!(
            doc.read(),
            Err(SchemaError::UnsupportedVersion { found: 2, .. })
        ));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::commit::CommitAction;
    use crate::person::{DoseSignature, Verification};
    use proptest::prelude::*;
    use time::{Date, Duration, Month};

    fn text_value() -> impl Strategy<Value = String> {
        "[a-zA-ZàáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđĐ ,./-]{1,40}"
    }

    fn dose() -> impl Strategy<Value = Dose> {
        (
            "[A-Z0-9-]{1,12}",
            1u8..=10,
            0i64..1500,
            proptest::option::of(text_value()),
            proptest::option::of(text_value()),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(lot, number, day, place, notes, voided, signed)| {
                let at = Date::from_calendar_date(2021, Month::March, 8)
                    .unwrap()
                    .midnight()
                    .assume_offset(crate::VIETNAM)
                    + Duration::days(day)
                    + Duration::hours(8);
                Dose {
                    id: Uuid::now_v7(),
                    vaccine: "EU/1/20/1528".into(),
                    lot,
                    dose_number: number,
                    kind: DoseKind::Booster,
                    given_at: at,
                    facility: "TYT-TANNHUT".into(),
                    vaccinator: "nv.lan".into(),
                    place,
                    reaction_notes: notes,
                    voided: voided.then(|| Voided {
                        by: "nv.lan".into(),
                        at,
                        reason: "Nhập nhầm".into(),
                    }),
                    signature: signed.then(|| DoseSignature {
                        batch_id: Uuid::now_v7(),
                        signer: "truongtram".into(),
                        signed_at: at + Duration::hours(9),
                    }),
                }
            })
    }

    fn person() -> impl Strategy<Value = Person> {
        (
            text_value(),
            any::<bool>(),
            1920i32..2020,
            proptest::option::of("[A-Z][0-9]{7}"),
            proptest::option::of("0[35789][0-9]{8}"),
            proptest::option::of(text_value()),
            proptest::collection::vec(dose(), 0..6),
        )
            .prop_map(
                |(name, male, year, passport, phone, detail, doses)| Person {
                    id: Uuid::now_v7(),
                    full_name: name,
                    gender: if male { Gender::Male } else { Gender::Female },
                    birth_date: BirthDate::Year(year),
                    identity: match passport {
                        Some(n) => Identity {
                            kind: IdentityKind::Passport,
                            number: Some(n),
                        },
                        None => Identity::none(),
                    },
                    phone,
                    address: Address {
                        province: None,
                        commune: Some("Xã Tân Nhựt".into()),
                        detail,
                    },
                    nationality: "VN".into(),
                    insurance_number: None,
                    managing_facility: "TYT-TANNHUT".into(),
                    created_by: "nv.lan".into(),
                    created_at: Date::from_calendar_date(2021, Month::March, 1)
                        .unwrap()
                        .midnight()
                        .assume_offset(crate::VIETNAM),
                    verification: Verification {
                        status: VerificationStatus::Unverified,
                        checked_at: None,
                    },
                    merged_into: None,
                    doses: doses.into_iter().map(|d| (d.id, d)).collect(),
                },
            )
    }

    proptest! {
        #[test]
        fn any_person_round_trips_through_a_saved_document(p in person()) {
            let doc = PersonDoc::create(ActorId::random(), &p, &CommitMeta::new("nv.lan", CommitAction::Register)).unwrap();
            let loaded = PersonDoc::load(&doc.save()).unwrap();
            prop_assert_eq!(loaded.read().unwrap(), p);
        }

        #[test]
        fn updating_to_any_other_person_state_reads_back_exactly(a in person(), b in person()) {
            let mut doc = PersonDoc::create(ActorId::random(), &a, &CommitMeta::new("nv.lan", CommitAction::Register)).unwrap();
            // Same identity and creation, every other field and dose from `b`, `a`'s doses kept.
            let mut target = b.clone();
            target.id = a.id;
            target.created_by = a.created_by.clone();
            target.created_at = a.created_at;
            target.doses.extend(a.doses.clone());
            doc.update(&target, &CommitMeta::new("nv.lan", CommitAction::Edit)).unwrap();
            let loaded = PersonDoc::load(&doc.save()).unwrap();
            prop_assert_eq!(loaded.read().unwrap(), target);
        }
    }
}
