//! Encrypted backups of a station, and a station rebuilt from one on a new laptop.
//!
//! A laptop that dies before its next sync must not take the day's doses with it. A backup is
//! one file, written on demand or once a day to a folder (a USB stick):
//!
//! ```text
//! SOTIEM-BACKUP 1\n
//! {BackupHeader as JSON}\n      facility, time, counts, and the backup identity wrapped
//!                               under the recovery passphrase (age, scrypt)
//! age stream to that identity:  {BackupManifest as JSON}\n + the database copy
//! ```
//!
//! Why two layers: the laptop keeps only the identity's public half and the wrapped identity, so
//! daily backups need no passphrase typed and the laptop cannot open its own backups; the head of
//! station keeps the passphrase. The database copy is SQLCipher's export of the replica under a
//! fresh random key named in the manifest, so no plain copy touches the disk on either side.
//!
//! A restore never reuses the old Automerge actor: the old laptop may have synced changes after
//! the backup, and a second history under the same actor would corrupt every document it
//! touched. The restored station writes as a new actor and device; the old changes still waiting
//! in the backup's outbox are pushed as they were (the server stores each change once, by hash),
//! under the device the administrator registered as the old one's replacement.

use crate::audit::{self, AuditEntry, FieldChange};
use crate::error::{Result, StationError};
use crate::key::DbKey;
use crate::service::Station;
use crate::store::{Store, write_meta};
use crate::sync::{SyncError, SyncResult};
use age::secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use sync_protocol::auth::Role;
use sync_protocol::clock::VIETNAM;
use sync_protocol::person::{format_time, parse_time};

/// The first line of every backup file.
const MAGIC: &str = "SOTIEM-BACKUP 1";
/// The file name's extension.
pub const BACKUP_EXTENSION: &str = "sotiem-backup";
pub use crate::error::BackupError;
pub use sync_protocol::validate::MIN_RECOVERY_PASSPHRASE;
/// How many automatic backups a folder keeps per facility; older ones are removed.
pub const KEPT_BACKUPS: usize = 10;
/// The longest header line read before the passphrase is asked for.
const MAX_HEADER_LINE: u64 = 64 * 1024;

const META_RECIPIENT: &str = "backup_recipient";
const META_WRAPPED_IDENTITY: &str = "backup_identity";
const META_FOLDER: &str = "backup_folder";
const META_LAST_AT: &str = "backup_last_at";
const META_LAST_FILE: &str = "backup_last_file";
const META_LAST_ERROR: &str = "backup_last_error";

/// What a backup file says of itself before it is opened (nothing personal).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BackupHeader {
    pub facility_code: String,
    pub facility_name: String,
    pub created_at: String,
    pub people: i64,
    pub doses: i64,
    /// Changes recorded on the laptop and not yet on the server when the backup was written.
    pub pending_changes: i64,
    /// The backup identity, encrypted under the recovery passphrase (an age file, hex).
    #[cfg_attr(feature = "ts", ts(skip))]
    #[serde(default)]
    identity: String,
}

/// What only the passphrase opens: how to rebuild the station.
#[derive(Debug, Serialize, Deserialize)]
struct BackupManifest {
    /// The key of the database copy that follows (64 hex digits).
    copy_key: String,
    facility_code: String,
    device_id: String,
    server_url: Option<String>,
    /// The station's extra vaccines (`vaccines.json`), if it had any.
    vaccines_json: Option<String>,
}

/// How this station backs up, for the account screen and `sotiem backup status`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BackupSettings {
    /// A recovery passphrase has been set: backups can be written.
    pub configured: bool,
    pub folder: Option<String>,
    pub last_at: Option<String>,
    pub last_file: Option<String>,
    /// No backup yet today (Vietnam's date) though one could be written.
    pub due: bool,
    /// Why the last automatic backup failed (a USB stick not plugged in…), until one succeeds.
    pub last_error: Option<String>,
}

/// A backup just written.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BackupSummary {
    pub file: String,
    pub bytes: u64,
    pub people: i64,
    pub doses: i64,
    pub pending_changes: i64,
    pub created_at: String,
}

impl Station {
    /// Sets the recovery passphrase the head of station keeps: a new backup identity whose
    /// public half this laptop encrypts to and whose secret half only the passphrase opens.
    /// Backups written before keep the passphrase they were written under.
    pub async fn set_recovery_passphrase(&self, passphrase: &str) -> Result<()> {
        let session = self.session().ok_or(StationError::NotSignedIn)?;
        if !matches!(session.role(), Role::Signer | Role::FacilityAdmin) {
            return Err(BackupError::NotHead.into());
        }
        if passphrase.trim().chars().count() < MIN_RECOVERY_PASSPHRASE {
            return Err(BackupError::WeakPassphrase.into());
        }
        let passphrase = SecretString::from(passphrase.trim().to_string());
        // scrypt takes about a second here by design: off the async threads.
        let (recipient, wrapped) = tokio::task::spawn_blocking(move || new_identity(passphrase))
            .await
            .map_err(|e| StationError::KeyUnavailable(e.to_string()))??;
        let mut tx = self.store().begin_write().await?;
        write_meta(
            &mut tx,
            &[
                (META_RECIPIENT, Some(recipient)),
                (META_WRAPPED_IDENTITY, Some(wrapped)),
            ],
        )
        .await?;
        audit::append(
            &mut tx,
            &AuditEntry {
                at: audit::now_text(),
                user: session.username().to_string(),
                device: self.device_id().to_string(),
                action: "backup_passphrase".into(),
                entity: format!("facility/{}", self.facility().code),
                changes: Vec::new(),
                otp: false,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Chooses the folder daily backups go to (`None`: no automatic backups).
    pub async fn set_backup_folder(&self, folder: Option<&Path>) -> Result<()> {
        self.reader()?;
        if let Some(f) = folder
            && !f.is_dir()
        {
            return Err(BackupError::Write {
                path: f.to_path_buf(),
                reason: "thư mục không tồn tại (USB chưa cắm?)".into(),
            }
            .into());
        }
        let value = folder.map(|f| f.to_string_lossy().into_owned());
        let mut tx = self.store().begin_write().await?;
        write_meta(&mut tx, &[(META_FOLDER, value)]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How this station backs up.
    pub async fn backup_settings(&self) -> Result<BackupSettings> {
        let configured = self.store().meta(META_RECIPIENT).await?.is_some();
        let folder = self.store().meta(META_FOLDER).await?;
        let last_at = self.store().meta(META_LAST_AT).await?;
        let today = self.clock().now().to_offset(VIETNAM).date();
        let backed_up_today = last_at
            .as_deref()
            .and_then(parse_time)
            .is_some_and(|t| t.to_offset(VIETNAM).date() >= today);
        Ok(BackupSettings {
            configured,
            due: configured && folder.is_some() && !backed_up_today,
            folder,
            last_at,
            last_file: self.store().meta(META_LAST_FILE).await?,
            last_error: self.store().meta(META_LAST_ERROR).await?,
        })
    }

    /// Writes the daily backup if none was written today and a folder is chosen; `None` when
    /// nothing was due. Needs no one signed in: the backup is encrypted to the head's identity.
    pub async fn backup_if_due(&self) -> Result<Option<BackupSummary>> {
        let settings = self.backup_settings().await?;
        let Some(folder) = settings.folder.filter(|_| settings.due) else {
            return Ok(None);
        };
        match self.write_backup(Path::new(&folder), "tự động").await {
            Ok(summary) => {
                prune(Path::new(&folder), &self.facility().code);
                Ok(Some(summary))
            }
            Err(e) => {
                let mut tx = self.store().begin_write().await?;
                write_meta(&mut tx, &[(META_LAST_ERROR, Some(e.to_string()))]).await?;
                tx.commit().await?;
                Err(e)
            }
        }
    }

    /// Writes a backup into `folder` now, on the signed-in user's demand.
    pub async fn backup_now(&self, folder: Option<&Path>) -> Result<BackupSummary> {
        let session = self.reader()?;
        let folder = match folder {
            Some(f) => f.to_path_buf(),
            None => self
                .store()
                .meta(META_FOLDER)
                .await?
                .map(PathBuf::from)
                .ok_or(BackupError::NoFolder)?,
        };
        self.write_backup(&folder, session.username()).await
    }

    async fn write_backup(&self, folder: &Path, user: &str) -> Result<BackupSummary> {
        let recipient = self
            .store()
            .meta(META_RECIPIENT)
            .await?
            .ok_or(BackupError::NotConfigured)?;
        let recipient = age::x25519::Recipient::from_str(&recipient)
            .map_err(|e| StationError::KeyUnavailable(format!("khoá sao lưu hỏng: {e}")))?;
        let identity = self
            .store()
            .meta(META_WRAPPED_IDENTITY)
            .await?
            .ok_or(BackupError::NotConfigured)?;
        if !folder.is_dir() {
            return Err(BackupError::Write {
                path: folder.to_path_buf(),
                reason: "thư mục không tồn tại (USB chưa cắm?)".into(),
            }
            .into());
        }
        let status = self.status().await?;
        let facility = self.facility();
        let created = self.clock().now();
        let created_at = format_time(created);
        let header = BackupHeader {
            facility_code: facility.code.clone(),
            facility_name: facility.name.clone(),
            created_at: created_at.clone(),
            people: status.persons,
            doses: status.doses,
            pending_changes: status.pending_changes,
            identity,
        };
        let extra = self.store().dir().join("vaccines.json");
        let manifest = BackupManifest {
            copy_key: String::new(),
            facility_code: facility.code.clone(),
            device_id: self.device_id().to_string(),
            server_url: self.store().meta("sync_server_url").await?,
            vaccines_json: std::fs::read_to_string(&extra).ok(),
        };
        let stamp = created
            .to_offset(VIETNAM)
            .format(time::macros::format_description!(
                "[year][month][day]-[hour][minute][second]"
            ))
            .unwrap_or_default();
        let name = format!(
            "sotiem-{}-{stamp}.{BACKUP_EXTENSION}",
            safe_name(&facility.code)
        );
        let target = folder.join(&name);
        // The copy is encrypted under its own key; it lives beside the replica, never in the
        // backup folder, and is removed whatever happens.
        let copy = TempCopy(self.store().dir().join("backup-copy.db"));
        copy.remove();
        let copy_key = DbKey::generate();
        self.store().export_copy(&copy.0, &copy_key).await?;
        let manifest = BackupManifest {
            copy_key: copy_key.to_hex(),
            ..manifest
        };
        let (copy_path, target_path) = (copy.0.clone(), target.clone());
        let header_json = serde_json::to_string(&header).unwrap_or_default();
        let bytes = tokio::task::spawn_blocking(move || {
            write_file(
                &target_path,
                &header_json,
                &manifest,
                &recipient,
                &copy_path,
            )
        })
        .await
        .map_err(|e| StationError::KeyUnavailable(e.to_string()))?
        .map_err(|reason| BackupError::Write {
            path: target.clone(),
            reason,
        })?;
        drop(copy);
        let mut tx = self.store().begin_write().await?;
        write_meta(
            &mut tx,
            &[
                (META_LAST_AT, Some(created_at.clone())),
                (META_LAST_FILE, Some(target.to_string_lossy().into_owned())),
                (META_LAST_ERROR, None),
            ],
        )
        .await?;
        audit::append(
            &mut tx,
            &AuditEntry {
                at: audit::now_text(),
                user: user.to_string(),
                device: self.device_id().to_string(),
                action: "backup".into(),
                entity: format!("facility/{}", facility.code),
                changes: vec![FieldChange {
                    field: "file".into(),
                    before: None,
                    after: Some(target.to_string_lossy().into_owned()),
                }],
                otp: false,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(BackupSummary {
            file: target.to_string_lossy().into_owned(),
            bytes,
            people: status.persons,
            doses: status.doses,
            pending_changes: status.pending_changes,
            created_at,
        })
    }

    /// Rebuilds a station in `dir` from a backup on a new laptop: the server must accept
    /// `token` (the replacement device the administrator registered) for the backup's facility;
    /// the restored station keeps the backup's people, doses, audit log and unsynced changes,
    /// and writes from now on as a new device and actor. Sign in and sync next: the unsynced
    /// changes go up then, each stored once.
    pub async fn restore(
        file: &Path,
        passphrase: &str,
        dir: &Path,
        server: &str,
        token: &str,
        ca_pem: Option<&[u8]>,
    ) -> SyncResult<Station> {
        let local = SyncError::Station;
        crate::store::ensure_no_station(dir).map_err(local)?;
        let header = read_header(file).map_err(local)?;
        let passphrase = SecretString::from(passphrase.trim().to_string());
        let wrapped = header.identity.clone();
        let identity = tokio::task::spawn_blocking(move || unwrap_identity(&wrapped, passphrase))
            .await
            .map_err(|e| local(StationError::KeyUnavailable(e.to_string())))?
            .map_err(local)?;
        let client = crate::remote::SyncClient::new(server.trim(), token, ca_pem)?;
        let info = client.info().await?;
        let device_facility = info.facility_info.map(|f| f.code).unwrap_or_default();
        if device_facility != header.facility_code {
            return Err(local(
                BackupError::OtherFacility {
                    backup: header.facility_code,
                    device: device_facility,
                }
                .into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|source| {
            local(StationError::Io {
                path: dir.to_path_buf(),
                source,
            })
        })?;
        let copy = TempCopy(dir.join("restore-copy.db"));
        copy.remove();
        let (file_path, copy_path) = (file.to_path_buf(), copy.0.clone());
        let manifest =
            tokio::task::spawn_blocking(move || read_payload(&file_path, &identity, &copy_path))
                .await
                .map_err(|e| local(StationError::KeyUnavailable(e.to_string())))?
                .map_err(local)?;
        if manifest.facility_code != header.facility_code {
            return Err(local(
                BackupError::Damaged("cơ sở trong và ngoài tệp khác nhau".into()).into(),
            ));
        }
        let copy_key = DbKey::from_hex(&manifest.copy_key)
            .map_err(|_| local(BackupError::Damaged("khoá của bản sao hỏng".into()).into()))?;
        let store = Store::create_from_copy(dir, &copy.0, &copy_key, None)
            .await
            .map_err(local)?;
        drop(copy);
        if let Some(json) = &manifest.vaccines_json {
            let path = dir.join("vaccines.json");
            std::fs::write(&path, json)
                .map_err(|source| local(StationError::Io { path, source }))?;
        }
        // A new device and actor for this laptop (see the module's note); the old ones stay in
        // the audit log and in the documents' history.
        let device_id = uuid::Uuid::now_v7().to_string();
        let actor: [u8; 16] = rand::random();
        let mut tx = store.begin_write().await.map_err(local)?;
        write_meta(
            &mut tx,
            &[
                ("device_id", Some(device_id.clone())),
                ("actor_id", Some(hex::encode(actor))),
                (META_LAST_AT, None),
                (META_LAST_FILE, None),
                (META_LAST_ERROR, None),
                // The server keeps one audit chain per device: the new device sends the whole
                // restored log (a fork of the old laptop's at the backup) from its first entry.
                ("audit_synced_seq", None),
                ("audit_synced_hash", None),
            ],
        )
        .await
        .map_err(local)?;
        audit::append(
            &mut tx,
            &AuditEntry {
                at: audit::now_text(),
                user: "khôi phục".into(),
                device: device_id,
                action: "restore".into(),
                entity: format!("facility/{}", header.facility_code),
                changes: vec![
                    FieldChange {
                        field: "backup".into(),
                        before: None,
                        after: Some(header.created_at.clone()),
                    },
                    FieldChange {
                        field: "device".into(),
                        before: Some(manifest.device_id.clone()),
                        after: None,
                    },
                ],
                otp: false,
            },
        )
        .await
        .map_err(local)?;
        tx.commit().await.map_err(|e| local(e.into()))?;
        store.close().await;
        let station = Station::open(dir).await.map_err(local)?;
        station.connect(Some(server), Some(token), ca_pem).await?;
        Ok(station)
    }
}

/// Reads what a backup file says of itself (no passphrase needed).
pub fn read_header(file: &Path) -> Result<BackupHeader> {
    let f = std::fs::File::open(file).map_err(|source| StationError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(f);
    header_lines(&mut reader, file)
}

fn header_lines(reader: &mut impl BufRead, file: &Path) -> Result<BackupHeader> {
    let not_backup = || StationError::from(BackupError::NotABackup(file.to_path_buf()));
    let magic = bounded_line(reader).map_err(|_| not_backup())?;
    if magic != MAGIC {
        return Err(not_backup());
    }
    let json = bounded_line(reader).map_err(|_| not_backup())?;
    serde_json::from_str(&json).map_err(|_| not_backup())
}

/// One line of at most [`MAX_HEADER_LINE`] bytes, without its newline.
fn bounded_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    reader.take(MAX_HEADER_LINE).read_until(b'\n', &mut line)?;
    if line.pop() != Some(b'\n') {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    String::from_utf8(line).map_err(|_| std::io::ErrorKind::InvalidData.into())
}

/// A new backup identity: its public half, and the whole wrapped under the passphrase.
fn new_identity(passphrase: SecretString) -> Result<(String, String)> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let wrapped = age::Encryptor::with_user_passphrase(passphrase);
    let mut out = Vec::new();
    let mut writer = wrapped
        .wrap_output(&mut out)
        .map_err(|e| StationError::KeyUnavailable(e.to_string()))?;
    writer
        .write_all(identity.to_string().expose_secret().as_bytes())
        .and_then(|()| writer.finish().map(|_| ()))
        .map_err(|e| StationError::KeyUnavailable(e.to_string()))?;
    Ok((recipient, hex::encode(out)))
}

/// The backup identity, opened with the passphrase.
fn unwrap_identity(wrapped: &str, passphrase: SecretString) -> Result<age::x25519::Identity> {
    let damaged = |why: &str| StationError::from(BackupError::Damaged(why.into()));
    let bytes = hex::decode(wrapped).map_err(|_| damaged("khoá sao lưu không đọc được"))?;
    let decryptor = age::Decryptor::new_buffered(&bytes[..])
        .map_err(|_| damaged("khoá sao lưu không đọc được"))?;
    if !decryptor.is_scrypt() {
        return Err(damaged("khoá sao lưu không được bảo vệ bằng mật khẩu"));
    }
    let key = age::scrypt::Identity::new(passphrase);
    let mut reader = decryptor
        .decrypt(std::iter::once(&key as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                StationError::from(BackupError::WrongPassphrase)
            }
            other => damaged(&other.to_string()),
        })?;
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|_| damaged("khoá sao lưu không đọc được"))?;
    age::x25519::Identity::from_str(text.trim()).map_err(|_| damaged("khoá sao lưu không đọc được"))
}

/// Writes the backup file: to a `.part` file synced to disk, then renamed, so a file with the
/// backup's name is always whole. Returns its size.
fn write_file(
    target: &Path,
    header_json: &str,
    manifest: &BackupManifest,
    recipient: &age::x25519::Recipient,
    copy: &Path,
) -> std::result::Result<u64, String> {
    let part = target.with_extension(format!("{BACKUP_EXTENSION}.part"));
    let result = (|| -> std::io::Result<u64> {
        let file = std::fs::File::create(&part)?;
        let mut out = std::io::BufWriter::new(file);
        writeln!(out, "{MAGIC}")?;
        writeln!(out, "{header_json}")?;
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
                .map_err(std::io::Error::other)?;
        let mut stream = encryptor.wrap_output(&mut out)?;
        serde_json::to_writer(&mut stream, manifest)?;
        stream.write_all(b"\n")?;
        let mut db = std::fs::File::open(copy)?;
        std::io::copy(&mut db, &mut stream)?;
        stream.finish()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        std::fs::rename(&part, target)?;
        Ok(bytes)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&part);
        e.to_string()
    })
}

/// Decrypts the backup's payload: the manifest, and the database copy written to `copy`.
fn read_payload(
    file: &Path,
    identity: &age::x25519::Identity,
    copy: &Path,
) -> Result<BackupManifest> {
    let damaged = |why: String| StationError::from(BackupError::Damaged(why));
    let f = std::fs::File::open(file).map_err(|source| StationError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(f);
    header_lines(&mut reader, file)?;
    let decryptor = age::Decryptor::new_buffered(reader).map_err(|e| damaged(e.to_string()))?;
    let stream = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| damaged(e.to_string()))?;
    let mut stream = BufReader::new(stream);
    let manifest = bounded_line(&mut stream).map_err(|e| damaged(e.to_string()))?;
    let manifest: BackupManifest =
        serde_json::from_str(&manifest).map_err(|e| damaged(e.to_string()))?;
    let result = (|| -> std::io::Result<()> {
        let mut out = std::fs::File::create(copy)?;
        // The stream authenticates each 64 KiB chunk and the end: a changed or cut file fails
        // here, before anything is restored from it.
        std::io::copy(&mut stream, &mut out)?;
        out.sync_all()
    })();
    result.map_err(|e| damaged(e.to_string()))?;
    Ok(manifest)
}

/// Removes all but the newest [`KEPT_BACKUPS`] of a facility's backups in `folder`.
fn prune(folder: &Path, facility: &str) {
    let prefix = format!("sotiem-{}-", safe_name(facility));
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(&format!(".{BACKUP_EXTENSION}")))
        .collect();
    // The time stamp in the name sorts as text.
    names.sort();
    let excess = names.len().saturating_sub(KEPT_BACKUPS);
    for name in names.into_iter().take(excess) {
        if let Err(e) = std::fs::remove_file(folder.join(&name)) {
            tracing::warn!("old backup {name} not removed: {e}");
        }
    }
}

/// A facility code as part of a file name.
fn safe_name(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A database copy (and its SQLite side files) removed when dropped.
struct TempCopy(PathBuf);

impl TempCopy {
    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_identity_opens_only_with_its_passphrase() {
        let pass = || SecretString::from("Trạm Tân Nhựt giữ sổ 2026".to_string());
        let (recipient, wrapped) = new_identity(pass()).expect("identity");
        let identity = unwrap_identity(&wrapped, pass()).expect("opens");
        assert_eq!(identity.to_public().to_string(), recipient);
        let wrong = unwrap_identity(
            &wrapped,
            SecretString::from("mật khẩu khác hẳn".to_string()),
        );
        assert!(matches!(
            wrong,
            Err(StationError::Backup(BackupError::WrongPassphrase))
        ));
        assert!(matches!(
            unwrap_identity("không phải hex", pass()),
            Err(StationError::Backup(BackupError::Damaged(_)))
        ));
    }

    #[test]
    fn header_lines_refuse_other_files_and_endless_lines() {
        let path = Path::new("x");
        let mut plain = &b"PK\x03\x04 a zip file\n"[..];
        assert!(matches!(
            header_lines(&mut plain, path),
            Err(StationError::Backup(BackupError::NotABackup(_)))
        ));
        let long = format!("{MAGIC}\n{}", "a".repeat(200_000));
        assert!(header_lines(&mut long.as_bytes(), path).is_err());
    }

    #[test]
    fn pruning_keeps_the_newest_backups_of_the_facility_only() {
        let dir = tempfile::tempdir().expect("dir");
        for day in 1..=12 {
            let name = format!("sotiem-TYT-TANNHUT-202612{day:02}-080000.{BACKUP_EXTENSION}");
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        std::fs::write(
            dir.path().join(format!(
                "sotiem-TYT-TANTUC-20261201-080000.{BACKUP_EXTENSION}"
            )),
            b"x",
        )
        .expect("write");
        prune(dir.path(), "TYT-TANNHUT");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), KEPT_BACKUPS + 1);
        assert!(
            left[0].contains("20261203"),
            "the oldest two are gone: {left:?}"
        );
        assert!(left.iter().any(|n| n.contains("TANTUC")));
    }

    #[tokio::test]
    async fn a_backup_file_round_trips_the_database_and_refuses_a_changed_byte() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::create(&dir.path().join("old"), Some(DbKey::generate()))
            .await
            .expect("store");
        sqlx::query("INSERT INTO meta (key, value) VALUES ('sync_cursor', '42')")
            .execute(store.pool())
            .await
            .expect("insert");
        let copy = dir.path().join("copy.db");
        let copy_key = DbKey::generate();
        store.export_copy(&copy, &copy_key).await.expect("export");
        let raw = std::fs::read(&copy).expect("copy");
        assert!(
            raw.len() > 4096 && !raw.starts_with(b"SQLite format 3"),
            "the copy is encrypted"
        );
        let identity = age::x25519::Identity::generate();
        let manifest = BackupManifest {
            copy_key: copy_key.to_hex(),
            facility_code: "TYT-TANNHUT".into(),
            device_id: "máy cũ".into(),
            server_url: None,
            vaccines_json: None,
        };
        let file = dir.path().join(format!("b.{BACKUP_EXTENSION}"));
        let header = BackupHeader {
            facility_code: "TYT-TANNHUT".into(),
            facility_name: "Trạm Y tế xã Tân Nhựt".into(),
            created_at: "2026-12-02T08:00:00+07:00".into(),
            people: 0,
            doses: 0,
            pending_changes: 0,
            identity: String::new(),
        };
        let header = serde_json::to_string(&header).expect("json");
        write_file(&file, &header, &manifest, &identity.to_public(), &copy).expect("written");
        assert_eq!(
            read_header(&file).expect("header").facility_code,
            "TYT-TANNHUT"
        );
        std::fs::remove_file(&copy).expect("copy removed");

        let back = read_payload(&file, &identity, &copy).expect("read");
        assert_eq!(back.facility_code, "TYT-TANNHUT");
        let restored = Store::create_from_copy(
            &dir.path().join("new"),
            &copy,
            &DbKey::from_hex(&back.copy_key).expect("key"),
            Some(DbKey::generate()),
        )
        .await
        .expect("restored");
        assert_eq!(
            restored.meta("sync_cursor").await.expect("meta").as_deref(),
            Some("42")
        );

        // One changed byte deep in the encrypted part: the stream's authentication refuses it.
        let mut bytes = std::fs::read(&file).expect("read");
        let at = bytes.len() - 100;
        bytes[at] ^= 1;
        std::fs::write(&file, &bytes).expect("write");
        assert!(matches!(
            read_payload(&file, &identity, &copy),
            Err(StationError::Backup(BackupError::Damaged(_)))
        ));
        // Cut short: refused too.
        std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("write");
        assert!(matches!(
            read_payload(&file, &identity, &copy),
            Err(StationError::Backup(BackupError::Damaged(_)))
        ));
    }
}
