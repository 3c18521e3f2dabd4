//! Finding people (name with a phone or an ID number) and showing a record with its warnings.

use super::Station;
use super::people::opt_text;
use crate::error::{Result, StationError};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;
use sync_protocol::identity::normalize_phone;
use sync_protocol::{
    FieldConflict, Gender, IdentityKind, Person, VerificationKind, VerificationStatus, text,
};
use uuid::Uuid;

pub(super) const SEARCH_BY_PHONE: &str =
    "SELECT p.id, p.full_name, p.gender, p.birth_date, p.id_kind,
        p.id_number, p.phone, p.managing_facility, p.verification,
        (SELECT count(*) FROM doses d WHERE d.person_id = p.id AND d.voided = 0) AS active_doses
    FROM persons p WHERE p.merged_into IS NULL AND ((p.phone = ?1 AND p.name_key = ?2)
        OR (p.caregiver_phone = ?1 AND (p.name_key = ?2 OR p.caregiver_key = ?2)))
    ORDER BY p.full_name LIMIT 50";

pub(super) const SEARCH_BY_ID_NUMBER: &str =
    "SELECT p.id, p.full_name, p.gender, p.birth_date, p.id_kind,
        p.id_number, p.phone, p.managing_facility, p.verification,
        (SELECT count(*) FROM doses d WHERE d.person_id = p.id AND d.voided = 0) AS active_doses
    FROM persons p WHERE p.id_number = ?1 AND p.name_key = ?2 AND p.merged_into IS NULL
    ORDER BY p.full_name LIMIT 50";

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
    pub verification: VerificationKind,
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

impl Station {
    /// Finds people by full name together with a phone or an ID number. A child is also found
    /// by the caregiver's phone with the child's or the caregiver's name.
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

    pub(super) async fn summaries(
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
                    verification: verification_kind(r.get("verification")),
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
            next_dose_number: person.next_dose_number(self.catalogue()),
            person,
            conflicts,
            warnings,
        })
    }

    pub(super) fn warnings(&self, p: &Person, conflicts: &[FieldConflict]) -> Vec<Warning> {
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

/// The kind in a `verification` column (written by this station from the document; anything
/// else reads as not verified, the cautious answer).
pub(crate) fn verification_kind(stored: &str) -> VerificationKind {
    VerificationKind::parse(stored).unwrap_or(VerificationKind::Unverified)
}
