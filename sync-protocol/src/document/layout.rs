//! The document's layout as data: the keys each map may have, and what only a forged or wrongly
//! built document holds (unknown keys, structural conflicts).

use super::PersonDoc;
use crate::error::SchemaError;
use automerge::hydrate::{Map as HMap, Value as HValue};

impl PersonDoc {
    /// Keys whose concurrent values mean the document was forged or built wrongly rather than
    /// edited concurrently: two `doses` maps would hide one set of doses, two `id`s would mix two
    /// people. Returns the paths of such keys.
    pub fn structural_conflicts(&self) -> Result<Vec<String>, SchemaError> {
        Ok(structural_in(root_map(&self.doc.hydrate(None))?))
    }
}

/// Keys with concurrent values that only a forged or wrongly built document has.
pub(super) fn structural_in(root: &HMap) -> Vec<String> {
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

pub(super) const ROOT_KEYS: [&str; 17] = [
    "schema",
    "id",
    "full_name",
    "gender",
    "birth_date",
    "identity",
    "phone",
    "address",
    "caregiver",
    "nationality",
    "insurance_number",
    "managing_facility",
    "created_by",
    "created_at",
    "verification",
    "merged_into",
    "doses",
];
pub(super) const IDENTITY_KEYS: [&str; 2] = ["kind", "number"];
pub(super) const ADDRESS_KEYS: [&str; 4] = ["province", "commune", "hamlet", "detail"];
pub(super) const CAREGIVER_KEYS: [&str; 3] = ["name", "phone", "relation"];
pub(super) const VERIFICATION_KEYS: [&str; 3] = ["status", "fields", "checked_at"];
pub(super) const DOSE_KEYS: [&str; 13] = [
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
    "history",
];
pub(super) const VOIDED_KEYS: [&str; 3] = ["by", "at", "reason"];
pub(super) const SIGNATURE_KEYS: [&str; 3] = ["batch_id", "signer", "signed_at"];
pub(super) const HISTORY_KEYS: [&str; 2] = ["source", "recorded_by"];

/// Paths of keys outside the layout (an unknown key could grow a document without bound and
/// travel to every station unseen).
pub(super) fn unknown_in(root: &HMap) -> Vec<String> {
    let mut out = Vec::new();
    keys_outside(root, &ROOT_KEYS, "", &mut out);
    for (key, allowed) in [
        ("identity", &IDENTITY_KEYS[..]),
        ("address", &ADDRESS_KEYS[..]),
        ("caregiver", &CAREGIVER_KEYS[..]),
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
pub(super) fn keys_outside(m: &HMap, allowed: &[&str], path: &str, out: &mut Vec<String>) {
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
pub(super) fn unknown_in_dose(d: &HMap, path: &str, out: &mut Vec<String>) {
    keys_outside(d, &DOSE_KEYS, path, out);
    for (key, allowed) in [
        ("voided", &VOIDED_KEYS[..]),
        ("signature", &SIGNATURE_KEYS[..]),
        ("history", &HISTORY_KEYS[..]),
    ] {
        if let Some(HValue::Map(m)) = d.get(key) {
            keys_outside(m, allowed, &format!("{path}.{key}"), out);
        }
    }
}

/// The root map of a hydrated document.
pub(super) fn root_map(hydrated: &HValue) -> Result<&HMap, SchemaError> {
    match hydrated {
        HValue::Map(root) => Ok(root),
        _ => Err(SchemaError::WrongType {
            path: String::new(),
            expected: "bảng (map)",
        }),
    }
}
