//! Data-cleaning lists (docs/design.md §1): people with no ID, an ID in a wrong format, a mismatch
//! with the population database, doses not yet signed, people due for their next dose — shown
//! in the app and exported to .xlsx for the commune police, each export behind a fresh OTP and
//! audited.

mod sheet;

use sheet::ListSheet;

use crate::audit::{AuditEntry, FieldChange};
use crate::error::{Result, StationError};
use crate::service::Station;
use futures_util::TryStreamExt;
use rust_xlsxwriter::XlsxError;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::path::Path;
use sync_protocol::person::parse_time;
use sync_protocol::{Catalogue, VIETNAM};
use time::{Date, Duration};
use uuid::Uuid;

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DataList {
    /// Vietnamese citizens with no CCCD/CMND recorded.
    NoId,
    /// An ID number in a wrong format (legacy records flagged `invalid_id`).
    InvalidId,
    /// The population database disagrees on some of the four fields.
    Mismatched,
    /// Active doses not signed yet (one row per dose).
    UnsignedDoses,
    /// People whose next dose (primary series or first booster) is due by a day.
    DueNextDose,
}

impl DataList {
    /// Every list, in the order the app shows them.
    pub const ALL: [DataList; 5] = [
        DataList::NoId,
        DataList::InvalidId,
        DataList::Mismatched,
        DataList::UnsignedDoses,
        DataList::DueNextDose,
    ];

    /// The stable name (CLI argument, audit entries, file names).
    pub fn name(self) -> &'static str {
        match self {
            DataList::NoId => "no_id",
            DataList::InvalidId => "invalid_id",
            DataList::Mismatched => "mismatched",
            DataList::UnsignedDoses => "unsigned_doses",
            DataList::DueNextDose => "due_next_dose",
        }
    }

    /// Parses [`DataList::name`].
    pub fn from_name(name: &str) -> Option<DataList> {
        DataList::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The Vietnamese title (sheet name and heading).
    pub fn title(self) -> &'static str {
        match self {
            DataList::NoId => "Chưa có CCCD",
            DataList::InvalidId => "Giấy tờ sai định dạng",
            DataList::Mismatched => "Sai lệch CSDLQG",
            DataList::UnsignedDoses => "Mũi chưa ký số",
            DataList::DueNextDose => "Đến hạn mũi tiếp",
        }
    }
}

/// Which list, narrowed to an area or a facility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListQuery {
    pub list: DataList,
    /// Only people living in this commune (as written in their address; case and diacritics
    /// are ignored).
    #[serde(default)]
    pub commune: Option<String>,
    /// Only people managed by (or, for doses, doses given at) this facility.
    #[serde(default)]
    pub facility: Option<String>,
    /// For `due_next_dose`: due on or before this day (`dd/mm/yyyy` or `yyyy-mm-dd`; today when
    /// empty).
    #[serde(default)]
    pub due_by: Option<String>,
}

/// One row of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListRow {
    pub person_id: Uuid,
    pub full_name: String,
    pub gender: String,
    /// `yyyy-mm-dd`, or `yyyy` when only the year is known.
    pub birth_date: String,
    pub id_kind: String,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub nationality: String,
    pub managing_facility: String,
    pub verification: String,
    /// What is wrong or due, in Vietnamese (mismatched fields, the next dose).
    pub note: String,
    /// The dose of the row (`unsigned_doses`) or the last dose (`due_next_dose`).
    pub dose: Option<ListDose>,
    /// `due_next_dose`: the day the next dose is due, `yyyy-mm-dd`.
    pub due_on: Option<String>,
}

/// The dose a row is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListDose {
    pub vaccine: String,
    pub lot: String,
    pub dose_number: u8,
    /// RFC 3339 at +07:00.
    pub given_at: String,
    pub facility: String,
}

/// One page of a list and how many rows there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListPage {
    pub rows: Vec<ListRow>,
    pub total: usize,
    /// Position (from 0) in the whole list of the first row shown.
    pub offset: usize,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExportSummary {
    pub path: String,
    pub rows: usize,
}

/// Rows one screen of a list shows (the app pages by this many).
pub const SCREEN_ROWS: usize = 200;
/// Rows of a list that may be paged through without a fresh code.
pub const BROWSE_ROWS: usize = 1000;
/// How long a fresh code lets a user read lists past [`BROWSE_ROWS`] (or more than a screen).
pub const BROWSE_UNLOCK_MINUTES: i64 = 15;

/// Whether reading `limit` rows from `offset` is more than browsing: more than a screen at
/// once, or past the first [`BROWSE_ROWS`]. Such a read needs a fresh code and is audited,
/// like an export (else `--limit 100000000 --json` would be an export without its rules).
pub fn list_needs_code(offset: usize, limit: usize) -> bool {
    limit > SCREEN_ROWS || offset.saturating_add(limit) > BROWSE_ROWS
}

const PERSON_COLUMNS: &str = "p.id, p.full_name, p.gender, p.birth_date, p.id_kind, p.id_number,
    p.phone, p.province, p.commune, p.nationality, p.managing_facility, p.verification";

fn parse_day(text: &str) -> Result<Date> {
    sync_protocol::person::parse_day(text).ok_or_else(|| {
        StationError::invalid(
            sync_protocol::Field::GivenAt,
            sync_protocol::Problem::DateFormat,
        )
    })
}

fn gender_label(g: &str) -> &'static str {
    match g {
        "male" => "Nam",
        "female" => "Nữ",
        _ => "Khác",
    }
}

fn id_kind_label(k: &str) -> &'static str {
    match k {
        "cccd" => "CCCD",
        "cmnd" => "CMND",
        "passport" => "Hộ chiếu",
        _ => "Không có",
    }
}

fn verification_label(v: &str) -> &'static str {
    sync_protocol::VerificationKind::parse(v)
        .unwrap_or(sync_protocol::VerificationKind::Unverified)
        .label()
}

impl Station {
    /// The SQL and binds of `query`; rows come out in a stable order.
    fn list_sql(query: &ListQuery) -> (String, Vec<String>) {
        let facility = query
            .facility
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string);
        let (sql, facility_column) = match query.list {
            DataList::NoId | DataList::InvalidId | DataList::Mismatched => (
                format!(
                    "SELECT {PERSON_COLUMNS}, NULL AS vaccine, NULL AS lot, NULL AS dose_number,
                            NULL AS given_at, NULL AS dose_facility, 0 AS active
                     FROM persons p
                     WHERE p.merged_into IS NULL AND p.verification = '{}'",
                    query.list.name()
                ),
                "p.managing_facility",
            ),
            DataList::UnsignedDoses => (
                format!(
                    "SELECT {PERSON_COLUMNS}, d.vaccine, d.lot, d.dose_number, d.given_at,
                            d.facility AS dose_facility, 0 AS active
                     FROM doses d JOIN persons p ON p.id = d.person_id
                     WHERE p.merged_into IS NULL AND d.voided = 0 AND d.signed_batch IS NULL
                       AND d.facility <> ''"
                ),
                // (Doses given elsewhere have no facility: history, never signed here.)
                "d.facility",
            ),
            DataList::DueNextDose => (
                // The last active dose of each person and how many they have.
                format!(
                    "SELECT {PERSON_COLUMNS}, d.vaccine, d.lot, d.dose_number, d.given_at,
                            d.facility AS dose_facility,
                            (SELECT count(*) FROM doses a WHERE a.person_id = p.id AND a.voided = 0) AS active
                     FROM persons p JOIN doses d ON d.id = (
                         SELECT l.id FROM doses l WHERE l.person_id = p.id AND l.voided = 0
                         ORDER BY l.given_at DESC, l.id DESC LIMIT 1)
                     WHERE p.merged_into IS NULL"
                ),
                "p.managing_facility",
            ),
        };
        let mut sql = sql;
        let mut binds = Vec::new();
        if let Some(f) = facility {
            sql.push_str(&format!(" AND {facility_column} = ?"));
            binds.push(f);
        }
        sql.push_str(match query.list {
            DataList::UnsignedDoses => " ORDER BY d.given_at, d.id",
            _ => " ORDER BY p.name_key, p.birth_date, p.id",
        });
        (sql, binds)
    }

    /// Streams every row of `query` to `each`, in order, without holding the list in memory.
    async fn for_each_list_row(
        &self,
        query: &ListQuery,
        mut each: impl FnMut(ListRow) -> Result<()>,
    ) -> Result<usize> {
        self.reader()?;
        let due_by = match query.due_by.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => parse_day(d)?,
            _ => self.clock().now().to_offset(VIETNAM).date(),
        };
        let catalogue = self.catalogue();
        let (sql, binds) = Station::list_sql(query);
        // Communes are written by hand: compared through the folded key.
        let commune = query
            .commune
            .as_deref()
            .map(sync_protocol::text::fold)
            .filter(|c| !c.is_empty());
        let mut conn = self.store().pool().acquire().await?;
        // The SQL is built from constants only; values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b);
        }
        let mut rows = q.fetch(&mut *conn);
        let mut count = 0;
        // Mismatched fields live in the document only: read it for that (short) list.
        let mut mismatched_docs = Vec::new();
        while let Some(r) = rows.try_next().await? {
            let Ok(person_id) = Uuid::parse_str(r.get("id")) else {
                continue;
            };
            let dose = r
                .get::<Option<String>, _>("vaccine")
                .map(|vaccine| ListDose {
                    vaccine,
                    lot: r.get("lot"),
                    dose_number: u8::try_from(r.get::<i64, _>("dose_number")).unwrap_or(0),
                    given_at: r.get("given_at"),
                    facility: r.get("dose_facility"),
                });
            let mut row = ListRow {
                person_id,
                full_name: r.get("full_name"),
                gender: r.get("gender"),
                birth_date: r.get("birth_date"),
                id_kind: r.get("id_kind"),
                id_number: r.get("id_number"),
                phone: r.get("phone"),
                province: r.get("province"),
                commune: r.get("commune"),
                nationality: r.get("nationality"),
                managing_facility: r.get("managing_facility"),
                verification: r.get("verification"),
                note: String::new(),
                dose,
                due_on: None,
            };
            if let Some(c) = &commune
                && row
                    .commune
                    .as_deref()
                    .map(sync_protocol::text::fold)
                    .as_ref()
                    != Some(c)
            {
                continue;
            }
            match query.list {
                DataList::NoId => {
                    if row.nationality != "VN" {
                        continue;
                    }
                    row.note = "Cần bổ sung số CCCD/CMND".into();
                }
                DataList::InvalidId => row.note = "Số giấy tờ sai định dạng: cần sửa".into(),
                DataList::Mismatched => {
                    mismatched_docs.push(row);
                    continue;
                }
                DataList::UnsignedDoses => row.note = "Chưa ký số".into(),
                DataList::DueNextDose => {
                    let active = u8::try_from(r.get::<i64, _>("active")).unwrap_or(u8::MAX);
                    let Some(due) = next_due(catalogue, row.dose.as_ref(), active) else {
                        continue;
                    };
                    if due.0 > due_by {
                        continue;
                    }
                    row.note = format!("Mũi {} đến hạn", due.1);
                    row.due_on = Some(due.0.to_string());
                }
            }
            count += 1;
            each(row)?;
        }
        drop(rows);
        drop(conn);
        for mut row in mismatched_docs {
            let fields = match self.show(row.person_id).await {
                Ok(rec) => match rec.person.verification.status {
                    sync_protocol::VerificationStatus::Mismatched(f) => f,
                    _ => Vec::new(),
                },
                Err(_) => Vec::new(),
            };
            row.note = format!(
                "Sai lệch ở: {}",
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
            );
            count += 1;
            each(row)?;
        }
        Ok(count)
    }

    /// Up to `limit` rows of a list from position `offset` (from 0), and its total. An offset
    /// past the end gives no rows (the list may have shrunk since the last page was shown).
    /// More than a screen at once, or paging past [`BROWSE_ROWS`], is an export in all but
    /// name: it needs [`Station::unlock_lists`] (a fresh code) and each such page is audited.
    pub async fn data_list(
        &self,
        query: &ListQuery,
        offset: usize,
        limit: usize,
    ) -> Result<ListPage> {
        let session = self.reader()?;
        let beyond = list_needs_code(offset, limit);
        if beyond
            && session
                .lists_unlocked_until
                .is_none_or(|until| until < self.clock().now())
        {
            return Err(StationError::StepUpRequired(
                "xem quá 1.000 dòng của một danh sách hoặc quá 200 dòng một lần",
            ));
        }
        let mut rows = Vec::new();
        let mut seen = 0usize;
        let total = self
            .for_each_list_row(query, |row| {
                if seen >= offset && rows.len() < limit {
                    rows.push(row);
                }
                seen += 1;
                Ok(())
            })
            .await?;
        if beyond {
            let read = [
                ("offset", offset.to_string()),
                ("rows", rows.len().to_string()),
            ];
            let changes = read
                .into_iter()
                .map(|(field, value)| FieldChange {
                    field: field.into(),
                    before: None,
                    after: Some(value),
                })
                .collect();
            self.audit_list_access(&session, "list_read", query, changes)
                .await?;
        }
        Ok(ListPage {
            rows,
            total,
            offset,
        })
    }

    /// A fresh code lets the signed-in user read lists past one screen for
    /// [`BROWSE_UNLOCK_MINUTES`] minutes (each such page still audited).
    pub async fn unlock_lists(&self, otp: &str) -> Result<()> {
        let mut session = self.reader()?;
        if otp.trim().is_empty() {
            return Err(StationError::StepUpRequired(
                "xem quá 1.000 dòng của một danh sách hoặc quá 200 dòng một lần",
            ));
        }
        self.verify_step_up(otp.trim()).await?;
        session.lists_unlocked_until =
            Some(self.clock().now() + Duration::minutes(BROWSE_UNLOCK_MINUTES));
        self.set_session(Some(session));
        Ok(())
    }

    /// Writes a list to an .xlsx file at `path` (Vietnamese headers, real dates, frozen header,
    /// autofilter; rows streamed to disk so memory stays flat). Needs a fresh one-time code of
    /// the signed-in user, and leaves an audit entry: who, which list, how many rows.
    pub async fn export_list(
        &self,
        query: &ListQuery,
        path: &Path,
        otp: &str,
    ) -> Result<ExportSummary> {
        let session = self.reader()?;
        if otp.trim().is_empty() {
            return Err(StationError::StepUpRequired("xuất danh sách ra Excel"));
        }
        self.verify_step_up(otp.trim()).await?;
        let io = |e: XlsxError| StationError::Export {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        // Written beside the target and renamed at the end: a failed export leaves no half file,
        // and no partial copy of people's data either (removed on every failure).
        let partial = path.with_extension("xlsx.tmp");
        let written = async {
            let mut sheet = ListSheet::new(query.list).map_err(io)?;
            let rows = self
                .for_each_list_row(query, |row| sheet.push(&row).map_err(io))
                .await?;
            sheet.finish(&partial).map_err(io)?;
            std::fs::rename(&partial, path).map_err(|e| StationError::writing(path, e))?;
            Ok::<usize, StationError>(rows)
        }
        .await;
        let rows = match written {
            Ok(rows) => rows,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        let mut changes = vec![
            FieldChange {
                field: "list".into(),
                before: None,
                after: Some(query.list.name().into()),
            },
            FieldChange {
                field: "rows".into(),
                before: None,
                after: Some(rows.to_string()),
            },
            FieldChange {
                field: "file".into(),
                before: None,
                after: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            },
        ];
        for (field, value) in [("commune", &query.commune), ("facility", &query.facility)] {
            if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                changes.push(FieldChange {
                    field: field.into(),
                    before: None,
                    after: Some(v.to_string()),
                });
            }
        }
        self.audit_list_access(&session, "export", query, changes)
            .await?;
        Ok(ExportSummary {
            path: path.display().to_string(),
            rows,
        })
    }

    /// One audit entry for a list read like an export (a fresh code was given).
    async fn audit_list_access(
        &self,
        session: &crate::session::Session,
        action: &str,
        query: &ListQuery,
        changes: Vec<FieldChange>,
    ) -> Result<()> {
        let mut tx = self.store().begin_write().await?;
        crate::audit::append(
            &mut tx,
            &AuditEntry {
                at: crate::audit::now_text(self.clock()),
                user: session.username().to_string(),
                device: self.device_id().to_string(),
                action: action.into(),
                entity: format!("list/{}", query.list.name()),
                changes,
                otp: true,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// When the next dose after `last` is due, and its number: the rest of the primary series after
/// the product's interval, then one booster after the catalogue's booster interval.
fn next_due(catalogue: &Catalogue, last: Option<&ListDose>, active: u8) -> Option<(Date, u8)> {
    let last = last?;
    let vaccine = catalogue.vaccines.iter().find(|v| v.code == last.vaccine)?;
    let given = parse_time(&last.given_at)?.to_offset(VIETNAM).date();
    let days = if active < vaccine.primary_series_doses {
        vaccine.dose_interval_days
    } else if active == vaccine.primary_series_doses {
        catalogue.booster_interval_days
    } else {
        return None;
    };
    Some((
        given.checked_add(Duration::days(i64::from(days)))?,
        active.saturating_add(1),
    ))
}
