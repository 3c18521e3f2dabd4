//! Typed reads of a person document: the whole person in one traversal, or a field or doses
//! alone; every error names the path of what was wrong.

use super::layout::{DocIssues, root_map, structural_in, unknown_in, unknown_in_dose};
use super::{PersonDoc, SCHEMA_VERSION};
use crate::error::SchemaError;
use crate::person::{
    Address, BirthDate, Caregiver, Dose, DoseHistory, DoseKind, DoseSignature, Gender,
    HistorySource, Identity, IdentityKind, Person, Verification, VerificationStatus, VerifiedField,
    Voided, parse_time,
};
use crate::verification::VerificationKind;
use automerge::hydrate::{Map as HMap, Value as HValue};
use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

impl PersonDoc {
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
}

/// Reads a person from the root map of a hydrated document.
pub(super) fn read_root(root: &HMap) -> Result<Person, SchemaError> {
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
        hamlet: get_opt_str(address_obj, "hamlet", "address")?,
        detail: get_opt_str(address_obj, "detail", "address")?,
    };
    let caregiver = match get_opt_map(root, "caregiver", "")? {
        None => None,
        Some(c) => Some(Caregiver {
            name: get_str(c, "name", "caregiver")?,
            phone: get_opt_str(c, "phone", "caregiver")?,
            relation: get_opt_str(c, "relation", "caregiver")?,
        }),
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
        caregiver,
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

pub(super) fn scalar_text(s: &ScalarValue) -> String {
    match s {
        ScalarValue::Str(t) => t.to_string(),
        ScalarValue::Int(i) => i.to_string(),
        ScalarValue::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn bad(path: &str, reason: String) -> SchemaError {
    SchemaError::BadValue {
        path: path.to_string(),
        reason,
    }
}

pub(super) fn parse_uuid(text: &str, path: &str) -> Result<Uuid, SchemaError> {
    Uuid::parse_str(text).map_err(|e| bad(path, e.to_string()))
}

pub(super) fn parse_status(status: &str, fields: &str) -> Result<VerificationStatus, SchemaError> {
    let kind = VerificationKind::parse(status)
        .ok_or_else(|| bad("verification.status", status.to_string()))?;
    Ok(match kind {
        VerificationKind::Unverified => VerificationStatus::Unverified,
        VerificationKind::Matched => VerificationStatus::Matched,
        VerificationKind::Mismatched => VerificationStatus::Mismatched(
            fields
                .split(',')
                .filter(|f| !f.is_empty())
                .map(|f| {
                    VerifiedField::parse(f).ok_or_else(|| bad("verification.fields", f.to_string()))
                })
                .collect::<Result<_, _>>()?,
        ),
        VerificationKind::NotFound => VerificationStatus::NotFound,
        VerificationKind::NoId => VerificationStatus::NoId,
        VerificationKind::InvalidId => VerificationStatus::InvalidId,
        VerificationKind::NotApplicable => VerificationStatus::NotApplicable,
    })
}

pub(super) fn read_dose(obj: &HMap, path: &str) -> Result<Dose, SchemaError> {
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
    let history_path = || format!("{path}.history");
    let history = match get_opt_map(obj, "history", path)? {
        None => None,
        Some(h) => {
            let source = get_str(h, "source", &history_path())?;
            Some(DoseHistory {
                source: HistorySource::parse(&source)
                    .map_err(|_| bad(&p("history.source"), source.clone()))?,
                recorded_by: get_str(h, "recorded_by", &history_path())?,
            })
        }
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
        history,
    })
}

/// The dotted path of `key` under `parent`, built only when an error needs it.
pub(super) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

pub(super) fn get_value<'a>(m: &'a HMap, key: &str) -> Option<&'a HValue> {
    m.get(key)
}

pub(super) fn get_opt_str(
    m: &HMap,
    key: &str,
    parent: &str,
) -> Result<Option<String>, SchemaError> {
    match get_value(m, key) {
        None | Some(HValue::Scalar(ScalarValue::Null)) => Ok(None),
        Some(HValue::Scalar(ScalarValue::Str(t))) => Ok(Some(t.to_string())),
        Some(_) => Err(SchemaError::WrongType {
            path: join(parent, key),
            expected: "chuỗi",
        }),
    }
}

pub(super) fn get_str(m: &HMap, key: &str, parent: &str) -> Result<String, SchemaError> {
    get_opt_str(m, key, parent)?.ok_or_else(|| SchemaError::Missing(join(parent, key)))
}

pub(super) fn get_int(m: &HMap, key: &str, parent: &str) -> Result<i64, SchemaError> {
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

pub(super) fn get_opt_time(
    m: &HMap,
    key: &str,
    parent: &str,
) -> Result<Option<OffsetDateTime>, SchemaError> {
    get_opt_str(m, key, parent)?
        .map(|t| parse_time(&t).ok_or_else(|| bad(&join(parent, key), t)))
        .transpose()
}

pub(super) fn get_time(m: &HMap, key: &str, parent: &str) -> Result<OffsetDateTime, SchemaError> {
    get_opt_time(m, key, parent)?.ok_or_else(|| SchemaError::Missing(join(parent, key)))
}

pub(super) fn get_opt_map<'a>(
    m: &'a HMap,
    key: &str,
    parent: &str,
) -> Result<Option<&'a HMap>, SchemaError> {
    match get_value(m, key) {
        None | Some(HValue::Scalar(ScalarValue::Null)) => Ok(None),
        Some(HValue::Map(map)) => Ok(Some(map)),
        Some(_) => Err(SchemaError::WrongType {
            path: join(parent, key),
            expected: "bảng (map)",
        }),
    }
}

pub(super) fn get_map<'a>(m: &'a HMap, key: &str, parent: &str) -> Result<&'a HMap, SchemaError> {
    get_opt_map(m, key, parent)?.ok_or_else(|| SchemaError::Missing(join(parent, key)))
}
