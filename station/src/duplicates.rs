//! People registered twice (offline at two stations, or with a typo): found by a rule the user
//! sees — the same ID number, or the same birth date and phone with nearly the same folded name —
//! and merged only when a user reviews a pair and asks for it. A merge moves the doses to the
//! record kept and marks the other `merged_into`, in one audited transaction that syncs. Doses
//! are never deleted, so "moved" means: recorded again on the kept record (same vaccine, lot,
//! time, vaccinator, place) and voided on the other with the reason — each dose counts once.

use crate::error::{Result, StationError};
use crate::intent::Intent;
use crate::service::Station;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;
use sync_protocol::CommitAction;
use uuid::Uuid;

/// Why two records look like the same person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DuplicateRule {
    /// Both carry the same CCCD/CMND/passport number.
    SameIdNumber,
    /// Same birth date and phone, names equal or one or two letters apart once folded.
    SimilarNameBirthPhone,
}

impl DuplicateRule {
    /// The rule in Vietnamese, as the reviewer sees it.
    pub fn describe(self) -> &'static str {
        match self {
            DuplicateRule::SameIdNumber => "Trùng số giấy tờ",
            DuplicateRule::SimilarNameBirthPhone => {
                "Cùng ngày sinh và số điện thoại, họ tên gần giống (khác tối đa 2 chữ cái, không dấu)"
            }
        }
    }
}

/// One record of a pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DuplicateSide {
    pub person_id: Uuid,
    pub full_name: String,
    pub gender: String,
    pub birth_date: String,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub commune: Option<String>,
    pub managing_facility: String,
    pub verification: sync_protocol::VerificationKind,
    pub active_doses: i64,
    pub signed_doses: i64,
}

/// Two records that may be one person, and the rule that paired them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DuplicatePair {
    pub rule: DuplicateRule,
    pub rule_text: String,
    pub a: DuplicateSide,
    pub b: DuplicateSide,
}

/// How many letters two names differ by (edits to turn one into the other).
fn name_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

const SIDE_COLUMNS: &str = "p.id, p.full_name, p.name_key, p.gender, p.birth_date, p.id_number,
    p.phone, p.commune, p.managing_facility, p.verification,
    (SELECT count(*) FROM doses d WHERE d.person_id = p.id AND d.voided = 0) AS active_doses,
    (SELECT count(*) FROM doses d WHERE d.person_id = p.id AND d.signed_batch IS NOT NULL) AS signed_doses";

fn side(r: &sqlx::sqlite::SqliteRow) -> Option<(DuplicateSide, String)> {
    Some((
        DuplicateSide {
            person_id: Uuid::parse_str(r.get("id")).ok()?,
            full_name: r.get("full_name"),
            gender: r.get("gender"),
            birth_date: r.get("birth_date"),
            id_number: r.get("id_number"),
            phone: r.get("phone"),
            commune: r.get("commune"),
            managing_facility: r.get("managing_facility"),
            verification: crate::service::verification_kind(r.get("verification")),
            active_doses: r.get("active_doses"),
            signed_doses: r.get("signed_doses"),
        },
        r.get("name_key"),
    ))
}

impl Station {
    /// Pairs of records that look like one person, by the two rules, for review.
    pub async fn duplicate_candidates(&self) -> Result<Vec<DuplicatePair>> {
        self.reader()?;
        let pool = self.store().pool();
        let mut pairs = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut push = |rule: DuplicateRule, a: DuplicateSide, b: DuplicateSide| {
            let key = if a.person_id < b.person_id {
                (a.person_id, b.person_id)
            } else {
                (b.person_id, a.person_id)
            };
            if seen.insert(key) {
                pairs.push(DuplicatePair {
                    rule,
                    rule_text: rule.describe().into(),
                    a,
                    b,
                });
            }
        };
        let same_id = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SIDE_COLUMNS} FROM persons p
             WHERE p.merged_into IS NULL AND p.id_number IS NOT NULL AND p.id_number IN (
                 SELECT id_number FROM persons WHERE merged_into IS NULL AND id_number IS NOT NULL
                 GROUP BY id_number HAVING count(*) > 1)
             ORDER BY p.id_number, p.id"
        )))
        .fetch_all(pool)
        .await?;
        let mut groups: BTreeMap<String, Vec<DuplicateSide>> = BTreeMap::new();
        for r in &same_id {
            if let Some((s, _)) = side(r) {
                groups
                    .entry(s.id_number.clone().unwrap_or_default())
                    .or_default()
                    .push(s);
            }
        }
        for group in groups.values() {
            for (i, a) in group.iter().enumerate() {
                for b in &group[i + 1..] {
                    push(DuplicateRule::SameIdNumber, a.clone(), b.clone());
                }
            }
        }
        let similar = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SIDE_COLUMNS} FROM persons p
             WHERE p.merged_into IS NULL AND p.phone IS NOT NULL AND (p.birth_date, p.phone) IN (
                 SELECT birth_date, phone FROM persons WHERE merged_into IS NULL AND phone IS NOT NULL
                 GROUP BY birth_date, phone HAVING count(*) > 1)
             ORDER BY p.birth_date, p.phone, p.id"
        )))
        .fetch_all(pool)
        .await?;
        let mut groups: BTreeMap<(String, String), Vec<(DuplicateSide, String)>> = BTreeMap::new();
        for r in &similar {
            if let Some((s, key)) = side(r) {
                groups
                    .entry((s.birth_date.clone(), s.phone.clone().unwrap_or_default()))
                    .or_default()
                    .push((s, key));
            }
        }
        for group in groups.values() {
            for (i, (a, ka)) in group.iter().enumerate() {
                for (b, kb) in &group[i + 1..] {
                    if name_distance(ka, kb) <= 2 {
                        push(DuplicateRule::SimilarNameBirthPhone, a.clone(), b.clone());
                    }
                }
            }
        }
        Ok(pairs)
    }

    /// Merges `other` into `keep` after a user reviewed the pair: `other`'s doses move to `keep`
    /// and `other` is marked merged into it — both in one transaction, audited, and synced like
    /// any edit. Signed doses cannot move (their signature covers the record they were signed
    /// on), so the record with signed doses must be the one kept.
    pub async fn merge_people(&self, keep: Uuid, other: Uuid) -> Result<sync_protocol::Person> {
        let user = self.writer()?;
        if keep == other {
            return Err(StationError::MergeRefused(
                "hai hồ sơ phải khác nhau".into(),
            ));
        }
        let kept = self.show(keep).await?.person;
        let gone = self.show(other).await?.person;
        if kept.merged_into.is_some() || gone.merged_into.is_some() {
            return Err(StationError::MergeRefused(
                "một trong hai hồ sơ đã được gộp trước đó".into(),
            ));
        }
        if gone.doses.values().any(|d| d.signature.is_some()) {
            return Err(StationError::MergeRefused(format!(
                "hồ sơ {} có mũi tiêm đã ký số, không chuyển được: hãy giữ hồ sơ đó làm hồ sơ chính",
                gone.full_name
            )));
        }
        let at = self.clock().now();
        let moved: Vec<sync_protocol::Dose> = gone
            .doses
            .values()
            .filter(|d| d.voided.is_none())
            .map(|d| sync_protocol::Dose {
                id: Uuid::now_v7(),
                ..d.clone()
            })
            .collect();
        let reason = format!("Gộp hồ sơ: chuyển sang hồ sơ {keep}");
        let session = self.reader()?;
        let writer = self.rule_writer(&session).await?;
        let merge = Intent::new(CommitAction::Merge);
        let mut tx = self.store().begin_write().await?;
        let (_, merged) = self
            .modify_in(&mut tx, other, &writer, &merge, |p| {
                for d in p.doses.values_mut().filter(|d| d.voided.is_none()) {
                    d.voided = Some(sync_protocol::Voided {
                        by: user.clone(),
                        at,
                        reason: reason.clone(),
                    });
                }
                p.merged_into = Some(keep);
                Ok(())
            })
            .await?;
        // The kept record's new doses are copies of the other's, which the rules check against
        // the other as merged into it.
        let receive = merge.clone().merging_from(merged);
        let (_, after) = self
            .modify_in(&mut tx, keep, &writer, &receive, |p| {
                for d in &moved {
                    p.doses.insert(d.id, d.clone());
                }
                Ok(())
            })
            .await?;
        tx.commit().await?;
        Ok(after)
    }
}
