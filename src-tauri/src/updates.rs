//! Updates of the app from the station's own central server (many stations reach only the
//! province's server), with Tauri's updater: the package's signature is checked against the
//! release key built into the app before anything is installed, and a package signed for another
//! version is refused. Whether an update may run now (nothing waiting to sync, no sync or signing
//! under way) is the station's rule (`Station::ready_for_update`).

use crate::error::UiError;
use serde::Serialize;
use station::SyncClient;
use tauri::AppHandle;
use tauri_plugin_updater::{Update, UpdaterExt};
use ts_rs::TS;

/// What the UI shows of updates.
#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct UpdateView {
    /// The version running now.
    pub current: String,
    /// A newer release on the server, if one was found.
    pub available: Option<String>,
    pub notes: Option<String>,
    /// Its package was downloaded and its signature verified: it can be installed.
    pub verified: bool,
    /// Why updates cannot be checked in this build, if they cannot.
    pub unavailable: Option<String>,
}

/// The release public key: the one built in (`SOTIEM_UPDATE_PUBKEY` when the app is built);
/// a debug build also takes it from the environment at run time, for tests.
pub fn release_key() -> Option<String> {
    #[cfg(debug_assertions)]
    if let Ok(key) = std::env::var("SOTIEM_UPDATE_PUBKEY")
        && !key.trim().is_empty()
    {
        return Some(key.trim().to_string());
    }
    option_env!("SOTIEM_UPDATE_PUBKEY")
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
}

/// Why this build cannot update, in Vietnamese.
pub const NO_KEY: &str = "bản dựng này không có khoá kiểm tra cập nhật (SOTIEM_UPDATE_PUBKEY lúc dựng): hãy cài bản phát hành chính thức";

/// Asks the station's server for a newer release (with the device's token, like every call).
pub async fn check(
    app: &AppHandle,
    client: &SyncClient,
    ca_pem: Option<&[u8]>,
) -> Result<Option<Update>, UiError> {
    let key = release_key().ok_or_else(|| UiError::new("update_unavailable", NO_KEY))?;
    let endpoint = sync_protocol::endpoints::updater_endpoint(client.base_url())
        .parse()
        .map_err(|_| {
            UiError::new(
                "update_unavailable",
                "địa chỉ máy chủ không dùng được để cập nhật",
            )
        })?;
    let root = ca_pem.and_then(|pem| reqwest::Certificate::from_pem(pem).ok());
    let updater = app
        .updater_builder()
        .pubkey(key)
        .endpoints(vec![endpoint])
        .and_then(|b| b.header("authorization", client.device_authorization()))
        .map(|b| {
            b.configure_client(move |c| match &root {
                Some(cert) => c.add_root_certificate(cert.clone()),
                None => c,
            })
        })
        .and_then(|b| b.build())
        .map_err(update_error)?;
    updater.check().await.map_err(update_error)
}

/// The updater's errors as the nurse reads them.
pub fn update_error(e: tauri_plugin_updater::Error) -> UiError {
    use tauri_plugin_updater::Error as E;
    match e {
        E::Minisign(_)
        | E::Base64(_)
        | E::SignatureUtf8(_)
        | E::SignedVersionMismatch { .. }
        | E::MissingSignedVersion => UiError::new(
            "update_signature",
            "gói cập nhật không đúng chữ ký của nhà phát hành (bị sửa hoặc không phải bản chính thức): không cài. Hãy báo quản trị viên tuyến huyện/tỉnh.",
        ),
        E::Reqwest(_) | E::Network(_) => {
            let mut ui = UiError::new(
                "network",
                format!("không tải được bản cập nhật từ máy chủ ({e}); thử lại khi có mạng"),
            );
            ui.retryable = true;
            ui
        }
        other => UiError::new("update_failed", format!("không cập nhật được: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_package_is_reported_as_a_bad_signature_not_a_network_fault() {
        let e = update_error(tauri_plugin_updater::Error::MissingSignedVersion);
        assert_eq!(e.code, "update_signature");
        assert!(!e.retryable);
        let e = update_error(tauri_plugin_updater::Error::Network("cut".into()));
        assert!(e.retryable);
    }
}
