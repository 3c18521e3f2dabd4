//! Restoring: a station rebuilt from a backup on a new laptop, as a new device and actor.

use super::TempCopy;
use super::format::{read_header, read_payload, unwrap_identity};
use crate::audit::{self, AuditEntry, FieldChange};
use crate::error::{BackupError, StationError};
use crate::key::DbKey;
use crate::service::Station;
use crate::store::{MetaKey, Store, write_meta};
use crate::sync::{SyncError, SyncResult};
use age::secrecy::SecretString;
use std::path::Path;

impl Station {
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
        // A new device and actor for this laptop (see the note of `backup`); the old ones stay
        // in the audit log and in the documents' history.
        let device_id = uuid::Uuid::now_v7().to_string();
        let actor: [u8; 16] = rand::random();
        let mut tx = store.begin_write().await.map_err(local)?;
        write_meta(
            &mut tx,
            &[
                (MetaKey::DeviceId, Some(device_id.clone())),
                (MetaKey::ActorId, Some(hex::encode(actor))),
                (MetaKey::BackupLastAt, None),
                (MetaKey::BackupLastFile, None),
                (MetaKey::BackupLastError, None),
                // The server keeps one audit chain per device: the new device sends the whole
                // restored log (a fork of the old laptop's at the backup) from its first entry.
                (MetaKey::AuditSyncedSeq, None),
                (MetaKey::AuditSyncedHash, None),
            ],
        )
        .await
        .map_err(local)?;
        audit::append(
            &mut tx,
            &AuditEntry {
                // No station is open yet: the system's clock, the one the station opened below
                // reads.
                at: audit::now_text(&sync_protocol::Clock::system()),
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
