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

mod format;
mod restore;
mod write;

pub use format::read_header;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    use super::format::{header_lines, new_identity, read_payload, unwrap_identity, write_file};
    use super::write::prune;
    use super::*;
    use crate::error::StationError;
    use crate::key::DbKey;
    use crate::store::{MetaKey, Store};
    use age::secrecy::SecretString;
    use std::path::Path;

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
            restored
                .meta(MetaKey::SyncCursor)
                .await
                .expect("meta")
                .as_deref(),
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
