//! What changes do to a document, as the server judges a push: whether they only add doses, which
//! ones, and the sensitive fields left with concurrent values.

use super::read::scalar_text;
use super::{FieldConflict, PersonDoc, SENSITIVE};
use crate::error::SchemaError;
use automerge::{ActorId, Change, ObjId, ObjType, ROOT, ReadDoc, Value};
use uuid::Uuid;

impl PersonDoc {
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

    /// The paths (`doses.<id>`) of these doses that hold more than one value: two changes made
    /// without seeing each other both created the dose. The quick check of new doses runs this
    /// where the full check reads the whole document ([`PersonDoc::read_checked`]): it is the
    /// only structural conflict changes that only add doses can make.
    pub fn dose_conflicts(&self, ids: &[Uuid]) -> Vec<String> {
        let Ok(Some((Value::Object(ObjType::Map), doses))) = self.doc.get(ROOT, "doses") else {
            return Vec::new();
        };
        let mut out: Vec<String> = ids
            .iter()
            .filter(|id| {
                self.doc
                    .get_all(&doses, id.to_string())
                    .is_ok_and(|all| all.len() > 1)
            })
            .map(|id| format!("doses.{id}"))
            .collect();
        out.sort();
        out.dedup();
        out
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

/// The ids of the doses a change may create: the keys of the maps it makes that read as dose
/// ids. A superset of what it adds to the `doses` map (any map made at a key shaped like a
/// dose id counts), read without any document, so the server can look up who already holds
/// those ids before it checks the change.
pub fn dose_ids_made(change: &Change) -> Vec<Uuid> {
    use automerge::legacy::{Key, OpType};
    change
        .decode()
        .operations
        .iter()
        .filter(|op| matches!(op.action, OpType::Make(ObjType::Map)))
        .filter_map(|op| match &op.key {
            Key::Map(key) => Uuid::parse_str(key).ok(),
            _ => None,
        })
        .collect()
}
