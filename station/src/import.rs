//! Import of a corrected list returned by the commune police (.xlsx or CSV): each row is matched
//! to one person — by the record code of an exported list, or by an ID number only one person
//! holds — never guessed; a preview shows exactly what will change; the changes are applied as
//! ordinary audited edits. Spreadsheets typed in the legacy TCVN3 (ABC) or VNI encodings are
//! recognised and refused with what to do (see `sotiem-sheets`), instead of storing garbled
//! names.

use crate::error::{Result, StationError};
use crate::intent::{Intent, StepUp};
use crate::service::{PersonEdit, Station};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use sync_protocol::{CommitAction, Gender, IdentityKind, Person};
use uuid::Uuid;

/// One field a row changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportFieldChange {
    /// `full_name`, `gender`, `birth_date`, `id_number` or `phone`.
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A row that will change a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportChange {
    /// The row in the file (the header is row 1).
    pub row: usize,
    pub person_id: Uuid,
    pub full_name: String,
    pub changes: Vec<ImportFieldChange>,
}

/// A row that changes nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportProblem {
    pub row: usize,
    /// What the row says, to find it in the file.
    pub full_name: String,
    pub id_number: Option<String>,
    /// In Vietnamese: not matched (and why), or which field is wrong.
    pub reason: String,
}

/// What importing a file would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportPreview {
    pub rows: usize,
    pub changes: Vec<ImportChange>,
    /// Matched rows that agree with the record already.
    pub unchanged: usize,
    /// Rows matched to nobody, or whose values are invalid: nothing is changed for them.
    pub problems: Vec<ImportProblem>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportSummary {
    pub changed: usize,
    pub problems: Vec<ImportProblem>,
}

/// A file that cannot be imported at all.
/// A list file's bytes (a file that cannot be read is refused as unreadable, naming it).
fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        sotiem_sheets::SheetError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
        .into()
    })
}

fn refused(path: &Path, reason: impl Into<String>) -> StationError {
    StationError::ImportRefused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Where each known column is.
#[derive(Default)]
struct Columns {
    record: Option<usize>,
    name: Option<usize>,
    gender: Option<usize>,
    birth: Option<usize>,
    birth_year: Option<usize>,
    id: Option<usize>,
    phone: Option<usize>,
}

impl Columns {
    fn from_header(header: &[String]) -> Columns {
        let folded: Vec<String> = header
            .iter()
            .map(|h| sync_protocol::text::fold(h))
            .collect();
        let find = |names: &[&str]| {
            folded.iter().position(|h| {
                names
                    .iter()
                    .any(|n| h == n || h.starts_with(&format!("{n} (")))
            })
        };
        Columns {
            record: find(&["ma ho so"]),
            name: find(&["ho va ten", "ho ten"]),
            gender: find(&["gioi tinh"]),
            birth: find(&["ngay sinh", "ngay thang nam sinh"]),
            birth_year: find(&["nam sinh"]),
            id: find(&[
                "so giay to",
                "so dinh danh",
                "so cccd",
                "so cccd/cmnd",
                "cccd",
            ]),
            phone: find(&["dien thoai", "so dien thoai"]),
        }
    }
}

fn id_kind_of(number: &str) -> IdentityKind {
    if number.len() == 9 {
        IdentityKind::Cmnd
    } else {
        IdentityKind::Cccd
    }
}

fn gender_text(g: Gender) -> &'static str {
    match g {
        Gender::Male => "Nam",
        Gender::Female => "Nữ",
    }
}

impl Station {
    /// What importing `path` would change, row by row, without changing anything.
    pub async fn import_preview(&self, path: &Path) -> Result<ImportPreview> {
        self.import_preview_of(path, &read_file(path)?).await
    }

    /// [`Station::import_preview`] of a file's content held in memory: an upload in the app is
    /// never written to disk, where it would lie in plain text outside the encrypted database.
    pub async fn import_preview_of(&self, name: &Path, bytes: &[u8]) -> Result<ImportPreview> {
        let path = name;
        self.reader()?;
        let table = sotiem_sheets::read_table_from(path, bytes)?;
        let Some((header, rows)) = table.split_first() else {
            return Err(refused(path, "tệp trống"));
        };
        let cols = Columns::from_header(header);
        if cols.record.is_none() && cols.id.is_none() {
            return Err(refused(
                path,
                "không có cột \"Mã hồ sơ\" hoặc \"Số giấy tờ\"/\"Số định danh\" để tìm đúng người",
            ));
        }
        let today = self.clock().now().date();
        let mut preview = ImportPreview {
            rows: 0,
            changes: Vec::new(),
            unchanged: 0,
            problems: Vec::new(),
        };
        for (i, cells) in rows.iter().enumerate() {
            let row = i + 2;
            let cell = |c: Option<usize>| {
                c.and_then(|c| cells.get(c))
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            if sotiem_sheets::is_blank(cells) {
                continue;
            }
            preview.rows += 1;
            let problem = |reason: String| ImportProblem {
                row,
                full_name: cell(cols.name).unwrap_or_default(),
                id_number: cell(cols.id),
                reason,
            };
            let person = match self
                .match_row(
                    cell(cols.record),
                    cell(cols.id).map(|n| sotiem_sheets::id_number(&n)),
                )
                .await?
            {
                Ok(p) => p,
                Err(reason) => {
                    preview.problems.push(problem(reason));
                    continue;
                }
            };
            let birth = cell(cols.birth).or_else(|| cell(cols.birth_year));
            let id_number = cell(cols.id).map(|n| sotiem_sheets::id_number(&n));
            let edit = PersonEdit {
                full_name: cell(cols.name),
                gender: cell(cols.gender),
                birth_date: birth,
                id_kind: id_number.as_deref().map(id_kind_of),
                id_number,
                phone: cell(cols.phone),
                ..PersonEdit::default()
            };
            let mut edited = person.clone();
            if let Err(e) = crate::service::apply_edit(&mut edited, &edit, today) {
                preview
                    .problems
                    .push(problem(format!("dữ liệu không hợp lệ, không sửa: {e}")));
                continue;
            }
            let changes = field_changes(&person, &edited);
            if changes.is_empty() {
                preview.unchanged += 1;
            } else {
                preview.changes.push(ImportChange {
                    row,
                    person_id: person.id,
                    full_name: person.full_name.clone(),
                    changes,
                });
            }
        }
        Ok(preview)
    }

    /// The one person a row is about, or why there is none.
    async fn match_row(
        &self,
        record: Option<String>,
        id_number: Option<String>,
    ) -> Result<std::result::Result<Person, String>> {
        if let Some(code) = record {
            let Ok(id) = Uuid::parse_str(&code) else {
                return Ok(Err(format!("mã hồ sơ \"{code}\" không đúng dạng")));
            };
            return match self.show(id).await {
                Ok(r) if r.person.merged_into.is_none() => Ok(Ok(r.person)),
                Ok(_) => Ok(Err("hồ sơ đã được gộp vào hồ sơ khác".into())),
                Err(StationError::NotFound { .. }) => {
                    Ok(Err(format!("không có hồ sơ mã {code} trên máy này")))
                }
                Err(e) => Err(e),
            };
        }
        let Some(number) = id_number else {
            return Ok(Err("không có mã hồ sơ hay số giấy tờ để tìm người".into()));
        };
        let ids: Vec<String> = sqlx::query(
            "SELECT id FROM persons WHERE id_number = ? AND merged_into IS NULL LIMIT 2",
        )
        .bind(&number)
        .fetch_all(self.store().pool())
        .await?
        .iter()
        .map(|r| r.get("id"))
        .collect();
        match ids.as_slice() {
            [] => Ok(Err(format!(
                "không có ai mang số giấy tờ {number} trên máy này"
            ))),
            [one] => match Uuid::parse_str(one) {
                Ok(id) => Ok(Ok(self.show(id).await?.person)),
                Err(_) => Ok(Err("hồ sơ hỏng".into())),
            },
            _ => Ok(Err(format!(
                "nhiều hồ sơ mang số giấy tờ {number}: cần gộp hồ sơ trùng trước, không đoán"
            ))),
        }
    }

    /// Applies exactly the changes of [`Station::import_preview`] (`expected_changes` of them,
    /// as shown), each as an ordinary audited edit. Needs a fresh one-time code: a list from
    /// outside rewrites people's identities. When it changes the name, birth date, ID or
    /// address of people another facility manages, the server checks the code and grants those
    /// edits (so `step_up.server` is needed); otherwise the code is checked here.
    pub async fn import_apply(
        &self,
        path: &Path,
        expected_changes: usize,
        step_up: StepUp<'_>,
    ) -> Result<ImportSummary> {
        self.import_apply_of(path, &read_file(path)?, expected_changes, step_up)
            .await
    }

    /// [`Station::import_apply`] of a file's content held in memory.
    pub async fn import_apply_of(
        &self,
        name: &Path,
        bytes: &[u8],
        expected_changes: usize,
        step_up: StepUp<'_>,
    ) -> Result<ImportSummary> {
        let path = name;
        let preview = self.import_preview_of(path, bytes).await?;
        if preview.changes.len() != expected_changes {
            return Err(StationError::ImportChanged);
        }
        if step_up.otp.trim().is_empty() {
            return Err(StationError::StepUpRequired("nhập danh sách đã sửa"));
        }
        let session = self.reader()?;
        let writer = self.rule_writer(&session).await?;
        let today = self.clock().now().date();
        let mut others = Vec::new();
        let mut fields = BTreeSet::new();
        for change in &preview.changes {
            let current = self.show(change.person_id).await?.person;
            let mut edited = current.clone();
            crate::service::apply_edit(&mut edited, &edit_of(&change.changes), today)?;
            let sensitive = sync_protocol::rules::sensitive_changes(&current, &edited);
            if !sensitive.is_empty() && !writer.manages(&current.managing_facility) {
                others.push(change.person_id);
                fields.extend(sensitive);
            }
        }
        let mut grants = if others.is_empty() {
            self.verify_step_up(step_up.otp.trim()).await?;
            BTreeMap::new()
        } else {
            self.step_up_grants(step_up, &others, &fields).await?
        };
        let mut changed = 0;
        for change in &preview.changes {
            let edit = edit_of(&change.changes);
            let intent = Intent::new(CommitAction::ImportCorrection)
                .with_code()
                .with_grant(grants.remove(&change.person_id));
            self.modify(change.person_id, intent, |p| {
                crate::service::apply_edit(p, &edit, today)
            })
            .await?;
            changed += 1;
        }
        Ok(ImportSummary {
            changed,
            problems: preview.problems,
        })
    }
}

fn field_changes(before: &Person, after: &Person) -> Vec<ImportFieldChange> {
    let mut out = Vec::new();
    let mut push = |field: &str, b: Option<String>, a: Option<String>| {
        if b != a {
            out.push(ImportFieldChange {
                field: field.into(),
                before: b,
                after: a,
            });
        }
    };
    push(
        "full_name",
        Some(before.full_name.clone()),
        Some(after.full_name.clone()),
    );
    push(
        "gender",
        Some(gender_text(before.gender).into()),
        Some(gender_text(after.gender).into()),
    );
    push(
        "birth_date",
        Some(before.birth_date.to_string()),
        Some(after.birth_date.to_string()),
    );
    push(
        "id_number",
        before.identity.number.clone(),
        after.identity.number.clone(),
    );
    push("phone", before.phone.clone(), after.phone.clone());
    out
}

/// The edit that makes exactly these changes.
fn edit_of(changes: &[ImportFieldChange]) -> PersonEdit {
    let mut edit = PersonEdit::default();
    for c in changes {
        let v = c.after.clone();
        match c.field.as_str() {
            "full_name" => edit.full_name = v,
            "gender" => edit.gender = v,
            "birth_date" => edit.birth_date = v,
            "id_number" => {
                edit.id_kind = v.as_deref().map(id_kind_of);
                edit.id_number = v;
            }
            "phone" => edit.phone = v.or(Some(String::new())),
            _ => {}
        }
    }
    edit
}
