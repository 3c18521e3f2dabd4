//! Verification against the National Population Database (docs/design.md §1, §7). The four fields —
//! full name, gender, date of birth, CCCD/CMND number — are compared with what the registry
//! holds. [`PopulationRegistry`] is the interface; [`RegistryFile`] implements it over a file the
//! police supply (CSV or .xlsx). A real connection to the national database would be another
//! implementation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use sync_protocol::identity::check_identity;
use sync_protocol::{BirthDate, Gender, IdentityKind, Person, VerificationStatus, VerifiedField};
use unicode_normalization::UnicodeNormalization;

/// One citizen as the registry knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRecord {
    /// The 12-digit personal identification number (CCCD).
    pub id_number: String,
    /// The 9-digit identity card number the citizen had before, if any.
    pub old_cmnd: Option<String>,
    pub full_name: String,
    pub gender: Gender,
    pub birth_date: BirthDate,
}

/// A registry that cannot be read or asked.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("không đọc được tệp dữ liệu dân cư {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "tệp dữ liệu dân cư {path} thiếu cột {column} (cần các cột: Số định danh, Họ và tên, Giới tính, Ngày sinh; tuỳ chọn: Số CMND cũ)"
    )]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error("tệp dữ liệu dân cư {path}, dòng {line}: {reason}")]
    BadRow {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// What a population registry answers: the citizen holding an ID number, if any.
pub trait PopulationRegistry: Send + Sync {
    /// The citizen whose CCCD (or former CMND) is `number`.
    fn lookup(&self, number: &str) -> Option<&RegistryRecord>;
}

/// The registry file supplied by the police, held in memory and indexed by number.
#[derive(Debug, Default)]
pub struct RegistryFile {
    records: Vec<RegistryRecord>,
    by_number: HashMap<String, u32>,
}

impl PopulationRegistry for RegistryFile {
    fn lookup(&self, number: &str) -> Option<&RegistryRecord> {
        self.by_number
            .get(number)
            .and_then(|&i| self.records.get(i as usize))
    }
}

/// The name as compared: NFC, one space between words, lower case. Diacritics count: a name
/// written without them is a mismatch the station must correct.
fn name_key(name: &str) -> String {
    name.nfc()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn parse_gender(text: &str) -> Option<Gender> {
    match sync_protocol::text::fold(text).as_str() {
        "nam" | "male" | "m" | "1" => Some(Gender::Male),
        "nu" | "female" | "f" | "2" | "0" => Some(Gender::Female),
        _ => None,
    }
}

/// Which column holds what, from the header row (names folded, so "SỐ ĐỊNH DANH", "so dinh danh"
/// and "Số CCCD" all work).
struct Columns {
    id: usize,
    cmnd: Option<usize>,
    name: usize,
    gender: usize,
    birth: usize,
}

impl Columns {
    fn from_header(header: &[String], path: &Path) -> Result<Columns, RegistryError> {
        let folded: Vec<String> = header
            .iter()
            .map(|h| sync_protocol::text::fold(h))
            .collect();
        let find = |names: &[&str]| folded.iter().position(|h| names.contains(&h.as_str()));
        let need = |names: &[&str], column: &'static str| {
            find(names).ok_or_else(|| RegistryError::MissingColumn {
                path: path.to_path_buf(),
                column,
            })
        };
        Ok(Columns {
            id: need(
                &[
                    "so dinh danh",
                    "so dinh danh ca nhan",
                    "so cccd",
                    "cccd",
                    "id_number",
                ],
                "Số định danh",
            )?,
            cmnd: find(&["so cmnd cu", "so cmnd", "cmnd", "old_cmnd"]),
            name: need(&["ho va ten", "ho ten", "full_name"], "Họ và tên")?,
            gender: need(&["gioi tinh", "gender"], "Giới tính")?,
            birth: need(
                &["ngay sinh", "ngay thang nam sinh", "birth_date"],
                "Ngày sinh",
            )?,
        })
    }

    fn record(
        &self,
        cells: &[String],
        path: &Path,
        line: usize,
    ) -> Result<RegistryRecord, RegistryError> {
        let bad = |reason: String| RegistryError::BadRow {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let cell = |i: usize| cells.get(i).map(|c| c.trim()).unwrap_or("");
        let id_number = sotiem_sheets::id_number(cell(self.id));
        if id_number.len() != 12 || !id_number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!(
                "số định danh \"{id_number}\" không phải 12 chữ số"
            )));
        }
        let gender = parse_gender(cell(self.gender))
            .ok_or_else(|| bad(format!("giới tính \"{}\" không rõ", cell(self.gender))))?;
        let birth_date = BirthDate::parse(cell(self.birth))
            .map_err(|_| bad(format!("ngày sinh \"{}\" không đọc được", cell(self.birth))))?;
        let full_name = cell(self.name).to_string();
        if full_name.is_empty() {
            return Err(bad("thiếu họ và tên".into()));
        }
        Ok(RegistryRecord {
            id_number,
            old_cmnd: self
                .cmnd
                .map(cell)
                .filter(|c| !c.is_empty())
                .map(sotiem_sheets::id_number),
            full_name,
            gender,
            birth_date,
        })
    }
}

impl RegistryFile {
    /// Reads a registry file: `.xlsx` (first sheet) or CSV (UTF-8, comma or semicolon), with a
    /// header row. A row that cannot be read stops the load with its line number: a registry
    /// read in part would report real citizens as not found.
    pub fn load(path: &Path) -> Result<RegistryFile, RegistryError> {
        let table = sotiem_sheets::read_table(path).map_err(|e| RegistryError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut rows = table.iter();
        let header = rows.next().cloned().unwrap_or_default();
        let columns = Columns::from_header(&header, path)?;
        let mut file = RegistryFile::default();
        for (i, cells) in rows.enumerate() {
            if sotiem_sheets::is_blank(cells) {
                continue;
            }
            file.add(columns.record(cells, path, i + 2)?);
        }
        Ok(file)
    }

    /// Adds a citizen (later rows win for the same number).
    pub fn add(&mut self, record: RegistryRecord) {
        let index = u32::try_from(self.records.len()).unwrap_or(u32::MAX);
        self.by_number.insert(record.id_number.clone(), index);
        if let Some(cmnd) = &record.old_cmnd {
            self.by_number.entry(cmnd.clone()).or_insert(index);
        }
        self.records.push(record);
    }

    /// How many citizens the file holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the file holds nobody.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The status of `person` against `registry`: not applicable to foreigners, `no_id` /
/// `invalid_id` when there is nothing sound to look up, `not_found`, or matched / mismatched
/// with the fields that differ.
pub fn verify(person: &Person, registry: &dyn PopulationRegistry) -> VerificationStatus {
    if person.nationality != "VN" {
        return VerificationStatus::NotApplicable;
    }
    let number = match (&person.identity.kind, &person.identity.number) {
        (IdentityKind::None, _) | (_, None) => return VerificationStatus::NoId,
        (IdentityKind::Passport, Some(_)) => return VerificationStatus::NotApplicable,
        (_, Some(n)) => n,
    };
    if check_identity(&person.identity, person.gender, person.birth_date).is_err() {
        return VerificationStatus::InvalidId;
    }
    let Some(found) = registry.lookup(number) else {
        return VerificationStatus::NotFound;
    };
    let mut fields = Vec::new();
    if name_key(&person.full_name) != name_key(&found.full_name) {
        fields.push(VerifiedField::FullName);
    }
    if person.gender != found.gender {
        fields.push(VerifiedField::Gender);
    }
    // A year alone cannot be confirmed: the station must record the full date.
    if person.birth_date != found.birth_date {
        fields.push(VerifiedField::BirthDate);
    }
    // Found by the old CMND: the person now holds a CCCD the record should carry.
    if number != &found.id_number {
        fields.push(VerifiedField::IdNumber);
    }
    if fields.is_empty() {
        VerificationStatus::Matched
    } else {
        VerificationStatus::Mismatched(fields)
    }
}

/// What one verification pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerificationPass {
    /// People compared with the registry.
    pub checked: usize,
    /// People whose status changed (a change written into their document).
    pub changed: usize,
    /// Changes the ingest refused (the document moved on meanwhile; the next pass retries).
    pub refused: usize,
    /// How many people ended in each status.
    pub by_status: std::collections::BTreeMap<String, usize>,
}

/// Which people a pass looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassScope {
    /// Only people never checked or edited since (`unverified`): the regular pass.
    Unverified,
    /// Everyone a registry can say something about: after a new registry file arrives.
    Everyone,
}

/// A pass that could not run.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("lỗi cơ sở dữ liệu của máy chủ: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
}

/// Compares people with `registry` and writes every changed status (with the time of the
/// check) into their documents as the server's own change, which syncs down to the stations
/// whose scope holds the person. Goes through the ingest writer like any push, so sequence
/// numbers stay in order and a document edited meanwhile is never overwritten.
pub async fn verify_people(
    state: &crate::AppState,
    registry: &dyn PopulationRegistry,
    scope: PassScope,
) -> Result<VerificationPass, PassError> {
    use crate::with_db;
    use sqlx::Row;
    let mut pass = VerificationPass::default();
    let actor = sync_protocol::automerge::ActorId::random();
    let meta = sync_protocol::CommitMeta::new(
        crate::ingest::SYSTEM_USER,
        sync_protocol::CommitAction::Verify,
    );
    let statuses: &[&str] = match scope {
        PassScope::Unverified => &["unverified"],
        PassScope::Everyone => &[
            "unverified",
            "matched",
            "mismatched",
            "not_found",
            "no_id",
            "invalid_id",
        ],
    };
    let mut after = String::new();
    loop {
        let rows: Vec<(String, Vec<u8>)> = with_db!(&state.db, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT person_id, doc FROM documents WHERE merged_into IS NULL AND person_id > ");
            q.push_bind(after.clone());
            q.push(" AND verification IN (");
            let mut list = q.separated(", ");
            for s in statuses {
                list.push_bind(*s);
            }
            q.push(") ORDER BY person_id LIMIT 500");
            q.build().fetch_all(pool).await?.iter().map(|r| (r.get("person_id"), r.get("doc"))).collect()
        });
        let Some(last) = rows.last() else { break };
        after = last.0.clone();
        let mut changes = Vec::new();
        for (id, bytes) in rows {
            let (Ok(person_id), Ok(mut doc)) = (
                uuid::Uuid::parse_str(&id),
                sync_protocol::PersonDoc::load_as(&bytes, actor.clone()),
            ) else {
                continue;
            };
            let Ok(mut person) = doc.read() else { continue };
            pass.checked += 1;
            let status = verify(&person, registry);
            *pass
                .by_status
                .entry(status.as_str().to_string())
                .or_default() += 1;
            if status == person.verification.status {
                continue;
            }
            let heads = doc.heads();
            person.verification = sync_protocol::Verification {
                status,
                checked_at: Some(sync_protocol::person::now()),
            };
            if doc.update(&person, &meta).is_err() {
                continue;
            }
            changes.extend(doc.changes_since(&heads).into_iter().map(|c| {
                sync_protocol::wire::PushedChange {
                    person_id,
                    bytes: c.raw_bytes().to_vec(),
                }
            }));
        }
        if !changes.is_empty() {
            let results = state
                .ingest
                .push(crate::ingest::Pusher::System, changes)
                .await?;
            for r in results {
                match r {
                    sync_protocol::wire::PushResult::Accepted { .. } => pass.changed += 1,
                    sync_protocol::wire::PushResult::Duplicate => {}
                    _ => pass.refused += 1,
                }
            }
        }
    }
    Ok(pass)
}

/// Keeps people verified while the server runs: a full pass when the registry file is first
/// read or replaced (the police send an updated file), then every `every` a pass over people
/// registered or edited since. A file that cannot be read is reported and the last good one
/// kept.
pub async fn watch(state: crate::AppState, path: PathBuf, every: std::time::Duration) {
    let mut registry: Option<(std::time::SystemTime, std::sync::Arc<RegistryFile>)> = None;
    loop {
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut scope = PassScope::Unverified;
        if modified.is_some() && modified != registry.as_ref().map(|(m, _)| *m) {
            let load_path = path.clone();
            match tokio::task::spawn_blocking(move || RegistryFile::load(&load_path)).await {
                Ok(Ok(file)) => {
                    tracing::info!(citizens = file.len(), path = %path.display(), "registry file loaded");
                    registry = modified.map(|m| (m, std::sync::Arc::new(file)));
                    scope = PassScope::Everyone;
                }
                Ok(Err(e)) => tracing::error!("{e}"),
                Err(e) => tracing::error!("registry load stopped: {e}"),
            }
        }
        if let Some((_, file)) = &registry {
            match verify_people(&state, file.as_ref(), scope).await {
                Ok(pass) if pass.changed > 0 || pass.refused > 0 => {
                    tracing::info!(?pass, "verification pass")
                }
                Ok(_) => {}
                Err(e) => tracing::error!("verification pass failed: {e}"),
            }
        }
        tokio::time::sleep(every).await;
    }
}
