//! Writing a backup: the recovery passphrase and the folder it is written to, the daily backup
//! when one is due or one on demand, and the old backups pruned.

use super::format::{new_identity, write_file};
use super::{
    BACKUP_EXTENSION, BackupHeader, BackupManifest, BackupSettings, BackupSummary, KEPT_BACKUPS,
    MIN_RECOVERY_PASSPHRASE, TempCopy,
};
use crate::audit::{self, AuditEntry, FieldChange};
use crate::error::{BackupError, Result, StationError};
use crate::key::DbKey;
use crate::service::Station;
use crate::store::{MetaKey, write_meta};
use age::secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use sync_protocol::auth::Role;
use sync_protocol::clock::VIETNAM;
use sync_protocol::person::{format_time, parse_time};

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
                (MetaKey::BackupRecipient, Some(recipient)),
                (MetaKey::BackupIdentity, Some(wrapped)),
            ],
        )
        .await?;
        audit::append(
            &mut tx,
            &AuditEntry {
                at: audit::now_text(self.clock()),
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
        write_meta(&mut tx, &[(MetaKey::BackupFolder, value)]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How this station backs up.
    pub async fn backup_settings(&self) -> Result<BackupSettings> {
        let configured = self.store().meta(MetaKey::BackupRecipient).await?.is_some();
        let folder = self.store().meta(MetaKey::BackupFolder).await?;
        let last_at = self.store().meta(MetaKey::BackupLastAt).await?;
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
            last_file: self.store().meta(MetaKey::BackupLastFile).await?,
            last_error: self.store().meta(MetaKey::BackupLastError).await?,
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
                write_meta(&mut tx, &[(MetaKey::BackupLastError, Some(e.to_string()))]).await?;
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
                .meta(MetaKey::BackupFolder)
                .await?
                .map(PathBuf::from)
                .ok_or(BackupError::NoFolder)?,
        };
        self.write_backup(&folder, session.username()).await
    }

    async fn write_backup(&self, folder: &Path, user: &str) -> Result<BackupSummary> {
        let recipient = self
            .store()
            .meta(MetaKey::BackupRecipient)
            .await?
            .ok_or(BackupError::NotConfigured)?;
        let recipient = age::x25519::Recipient::from_str(&recipient)
            .map_err(|e| StationError::KeyUnavailable(format!("khoá sao lưu hỏng: {e}")))?;
        let identity = self
            .store()
            .meta(MetaKey::BackupIdentity)
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
            server_url: self.store().meta(MetaKey::SyncServerUrl).await?,
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
                (MetaKey::BackupLastAt, Some(created_at.clone())),
                (
                    MetaKey::BackupLastFile,
                    Some(target.to_string_lossy().into_owned()),
                ),
                (MetaKey::BackupLastError, None),
            ],
        )
        .await?;
        audit::append(
            &mut tx,
            &AuditEntry {
                at: audit::now_text(self.clock()),
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
}

/// Removes all but the newest [`KEPT_BACKUPS`] of a facility's backups in `folder`.
pub(super) fn prune(folder: &Path, facility: &str) {
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
