//! The shell's state: the one open station, the client for its server, and what the bars show
//! about the link. Opening, connecting and the background sync live here.

use crate::error::UiError;
use crate::updates::UpdateView;
use station::{SigningProgress, Station, SyncClient, SyncError, SyncProgress, SyncReport};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tauri::Emitter;
use tokio::sync::RwLock;

/// How the app was started (environment, see docs/operations.md, "Configuration").
#[derive(Debug, Clone)]
pub struct Config {
    /// The station's data directory (`SOTIEM_DATA`, else the app's data directory).
    pub data_dir: PathBuf,
    /// The server offered on the setup screen (`SOTIEM_SERVER`).
    pub default_server: Option<String>,
    /// An extra trusted root certificate, PEM (`SOTIEM_CA_CERT`, a path).
    pub ca_pem: Option<Vec<u8>>,
    /// Seconds between background syncs; 0 turns them off (`SOTIEM_AUTO_SYNC_SECS`, 300).
    pub auto_sync_secs: u64,
    /// Where exported lists are written (`SOTIEM_EXPORT_DIR`, else `Sổ Tiêm` in Documents).
    pub export_dir: PathBuf,
    /// The province's SMS gateway for session reminders (`SOTIEM_SMS_GATEWAY`); without it
    /// reminders are written as a file for the SMS provider.
    pub sms_gateway: Option<String>,
}

impl Config {
    /// Reads the environment; `default_data` is the platform's app data directory, `documents`
    /// the user's documents folder.
    pub fn from_env(default_data: PathBuf, documents: Option<PathBuf>) -> Config {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        // A lab's plain-http server elsewhere than this machine: only when asked for.
        station::allow_insecure_http(var("SOTIEM_INSECURE_HTTP").is_some_and(|v| v == "1"));
        let data_dir = var("SOTIEM_DATA").map_or(default_data, PathBuf::from);
        let export_dir = var("SOTIEM_EXPORT_DIR").map_or_else(
            || documents.map_or_else(|| data_dir.join("exports"), |d| d.join("Sổ Tiêm")),
            PathBuf::from,
        );
        Config {
            export_dir,
            sms_gateway: var("SOTIEM_SMS_GATEWAY"),
            data_dir,
            default_server: var("SOTIEM_SERVER"),
            ca_pem: var("SOTIEM_CA_CERT").and_then(|p| match std::fs::read(&p) {
                Ok(pem) => Some(pem),
                Err(e) => {
                    tracing::error!("SOTIEM_CA_CERT {p}: {e}");
                    None
                }
            }),
            auto_sync_secs: var("SOTIEM_AUTO_SYNC_SECS")
                .and_then(|s| s.parse().ok())
                .unwrap_or(300),
        }
    }
}

/// The event that carries a [`SyncProgress`] to the window each time it changes.
pub const SYNC_PROGRESS_EVENT: &str = "sync-progress";
/// The event that carries a [`SigningProgress`] to the window each time it changes.
pub const SIGNING_PROGRESS_EVENT: &str = "signing-progress";

/// Shared by every command.
pub struct AppState {
    pub config: Config,
    station: RwLock<Option<Arc<Station>>>,
    client: Mutex<Option<Arc<SyncClient>>>,
    fatal: Mutex<Option<UiError>>,
    online: Mutex<Option<bool>>,
    last_report: Mutex<Option<SyncReport>>,
    /// The USB token's PKCS#11 module, loaded once (C_Initialize / C_Finalize are per process).
    token: Mutex<Option<Arc<sotiem_token::Module>>>,
    /// Spreadsheets chosen for import, between preview and apply: in memory only.
    uploads: Mutex<HashMap<String, Upload>>,
    /// The window's app, to which the station's progress is pushed as events.
    events: std::sync::OnceLock<tauri::AppHandle>,
    /// The newer release the server offers, and its package once downloaded and verified.
    update: tokio::sync::Mutex<UpdateSlot>,
}

/// A release found on the server, and its verified package.
#[derive(Default)]
struct UpdateSlot {
    found: Option<tauri_plugin_updater::Update>,
    package: Option<Vec<u8>>,
}

/// A spreadsheet chosen for import, kept in memory (never on disk, where a list of people
/// would lie in plain text outside the encrypted database).
#[derive(Clone)]
pub struct Upload {
    /// The file's name as chosen (its extension says .xlsx or CSV).
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
    at: Instant,
}

/// Seconds between the background's looks for a newer release.
const UPDATE_CHECK_EVERY_SECS: u64 = 6 * 3600;

/// How long a previewed upload waits for its apply.
const UPLOAD_KEPT: Duration = Duration::from_secs(3600);
/// How many previewed uploads are kept at once (up to 50 MB each).
const UPLOADS_KEPT: usize = 4;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AppState {
    /// Nothing open yet; call [`AppState::open`].
    pub fn new(config: Config) -> AppState {
        AppState {
            config,
            station: RwLock::new(None),
            client: Mutex::new(None),
            fatal: Mutex::new(None),
            online: Mutex::new(None),
            last_report: Mutex::new(None),
            token: Mutex::new(None),
            uploads: Mutex::new(HashMap::new()),
            events: std::sync::OnceLock::new(),
            update: tokio::sync::Mutex::new(UpdateSlot::default()),
        }
    }

    /// What the UI shows of updates.
    pub async fn update_view(&self) -> UpdateView {
        let slot = self.update.lock().await;
        UpdateView {
            current: env!("CARGO_PKG_VERSION").into(),
            available: slot.found.as_ref().map(|u| u.version.clone()),
            notes: slot.found.as_ref().and_then(|u| u.body.clone()),
            verified: slot.package.is_some(),
            unavailable: crate::updates::release_key()
                .is_none()
                .then(|| crate::updates::NO_KEY.to_string()),
        }
    }

    /// Asks the station's server for a newer release.
    pub async fn check_update(&self) -> Result<UpdateView, UiError> {
        let app = self
            .events
            .get()
            .ok_or_else(|| UiError::new("update_unavailable", "ứng dụng chưa sẵn sàng"))?;
        let client = self.require_client()?;
        let found = crate::updates::check(app, &client, self.config.ca_pem.as_deref()).await?;
        {
            let mut slot = self.update.lock().await;
            let same =
                matches!((&slot.found, &found), (Some(a), Some(b)) if a.version == b.version);
            if !same {
                slot.package = None;
            }
            slot.found = found;
        }
        Ok(self.update_view().await)
    }

    /// Downloads the release found and verifies its signature; a package that does not verify
    /// is dropped and reported.
    pub async fn download_update(&self) -> Result<UpdateView, UiError> {
        {
            let mut slot = self.update.lock().await;
            let update = slot.found.as_ref().ok_or_else(|| {
                UiError::new("no_update", "chưa tìm thấy bản cập nhật: hãy kiểm tra lại")
            })?;
            let bytes = update
                .download(|_, _| {}, || {})
                .await
                .map_err(crate::updates::update_error)?;
            slot.package = Some(bytes);
        }
        Ok(self.update_view().await)
    }

    /// Installs the verified package and restarts, when the station allows it (nothing waiting
    /// to be synced, no sync or signing under way).
    pub async fn install_update(&self) -> Result<(), UiError> {
        self.station().await?.ready_for_update().await?;
        let slot = self.update.lock().await;
        let (Some(update), Some(bytes)) = (&slot.found, &slot.package) else {
            return Err(UiError::new(
                "no_update",
                "chưa tải và kiểm tra bản cập nhật: bấm Tải về trước",
            ));
        };
        update
            .install(bytes)
            .map_err(crate::updates::update_error)?;
        if let Some(app) = self.events.get() {
            app.restart();
        }
        Ok(())
    }

    /// Pushes the progress of syncs and signing to `app`'s window as the events
    /// [`SYNC_PROGRESS_EVENT`] and [`SIGNING_PROGRESS_EVENT`] (set before [`AppState::open`]).
    pub fn push_progress_to(&self, app: tauri::AppHandle) {
        let _ = self.events.set(app);
    }

    /// Opens the station in the data directory (if there is one), picks up the session kept in
    /// the credential store and connects to the remembered server. Never fails: what goes
    /// wrong is shown by the UI.
    pub async fn open(&self) {
        // Earlier versions staged uploads in DATA/imports, in plain text: none may remain.
        let _ = std::fs::remove_dir_all(self.config.data_dir.join("imports"));
        if !self.config.data_dir.join("store.json").exists() {
            return;
        }
        match Station::open(&self.config.data_dir).await {
            Ok(station) => {
                if let Err(e) = station.resume_session().await {
                    tracing::warn!("no session resumed: {e}");
                }
                self.adopt(station).await;
            }
            Err(e) => {
                tracing::error!("station did not open: {e}");
                *lock(&self.fatal) = Some(e.into());
            }
        }
    }

    async fn adopt(&self, station: Station) {
        match station
            .connect(None, None, self.config.ca_pem.as_deref())
            .await
        {
            Ok(client) => *lock(&self.client) = Some(Arc::new(client)),
            Err(SyncError::NotConfigured) => {}
            Err(e) => {
                tracing::warn!("no server client: {e}");
                // Shown on the sync bar (e.g. a remembered http:// address now refused).
                let _ = station.record_sync_failure(&e.to_string()).await;
            }
        }
        if let Some(app) = self.events.get() {
            let to = app.clone();
            station.watch_sync(Arc::new(move |p: &SyncProgress| {
                let _ = to.emit(SYNC_PROGRESS_EVENT, p);
            }));
            let to = app.clone();
            station.watch_signing(Arc::new(move |p: &SigningProgress| {
                let _ = to.emit(SIGNING_PROGRESS_EVENT, p);
            }));
        }
        *self.station.write().await = Some(Arc::new(station));
    }

    /// The first-run setup: the server gives the facility of the device token.
    pub async fn set_up(&self, server: &str, token: &str) -> Result<(), UiError> {
        if self.station.read().await.is_some() {
            return Err(UiError::new(
                "already_initialized",
                "máy này đã có dữ liệu trạm; không thiết lập lại để khỏi mất dữ liệu",
            ));
        }
        let station = Station::join(
            &self.config.data_dir,
            server,
            token,
            self.config.ca_pem.as_deref(),
        )
        .await?;
        *lock(&self.online) = Some(true);
        self.adopt(station).await;
        Ok(())
    }

    /// First run on a new laptop: the station rebuilt from a backup (see `station::backup`).
    pub async fn restore(&self, request: &crate::views::RestoreRequest) -> Result<(), UiError> {
        if self.station.read().await.is_some() {
            return Err(UiError::new(
                "already_initialized",
                "máy này đã có dữ liệu trạm; không khôi phục đè lên để khỏi mất dữ liệu",
            ));
        }
        let station = Station::restore(
            std::path::Path::new(request.backup_file.trim()),
            &request.passphrase,
            &self.config.data_dir,
            &request.server_url,
            &request.device_token,
            self.config.ca_pem.as_deref(),
        )
        .await?;
        *lock(&self.online) = Some(true);
        self.adopt(station).await;
        Ok(())
    }

    /// The open station, or a clear error when there is none.
    pub async fn station(&self) -> Result<Arc<Station>, UiError> {
        if let Some(e) = lock(&self.fatal).clone() {
            return Err(e);
        }
        self.station.read().await.clone().ok_or_else(|| {
            UiError::new(
                "setup_needed",
                "máy này chưa được thiết lập: nhập địa chỉ máy chủ và mã thiết bị do quản trị viên cấp",
            )
        })
    }

    /// The station if open (for the status bars).
    pub async fn station_if_open(&self) -> Option<Arc<Station>> {
        self.station.read().await.clone()
    }

    /// Keeps a chosen spreadsheet until its apply (or an hour); returns its id.
    pub fn keep_upload(&self, name: String, bytes: Vec<u8>) -> String {
        let mut uploads = lock(&self.uploads);
        uploads.retain(|_, u| u.at.elapsed() < UPLOAD_KEPT);
        while uploads.len() >= UPLOADS_KEPT {
            let oldest = uploads
                .iter()
                .min_by_key(|(_, u)| u.at)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => uploads.remove(&id),
                None => break,
            };
        }
        let id = uuid::Uuid::now_v7().to_string();
        uploads.insert(
            id.clone(),
            Upload {
                name,
                bytes: Arc::new(bytes),
                at: Instant::now(),
            },
        );
        id
    }

    /// A kept upload, if it has not been applied or forgotten.
    pub fn upload(&self, id: &str) -> Option<Upload> {
        lock(&self.uploads)
            .get(id)
            .filter(|u| u.at.elapsed() < UPLOAD_KEPT)
            .cloned()
    }

    /// Forgets an upload (applied).
    pub fn forget_upload(&self, id: &str) {
        lock(&self.uploads).remove(id);
    }

    /// The client for the server, if one is configured.
    pub fn client(&self) -> Option<Arc<SyncClient>> {
        lock(&self.client).clone()
    }

    /// The client, or a clear error.
    pub fn require_client(&self) -> Result<Arc<SyncClient>, UiError> {
        self.client().ok_or_else(|| SyncError::NotConfigured.into())
    }

    /// The fatal error, if the station could not be opened.
    pub fn fatal(&self) -> Option<UiError> {
        lock(&self.fatal).clone()
    }

    /// Whether the server answered lately.
    pub fn online(&self) -> Option<bool> {
        *lock(&self.online)
    }

    /// Records how the last contact with the server went.
    pub fn set_online(&self, online: bool) {
        *lock(&self.online) = Some(online);
    }

    /// The PKCS#11 module: `SOTIEM_PKCS11_MODULE`, else the first known one present, with the
    /// CA certificates of `SOTIEM_SIGNER_CHAIN_DIR`; loaded at the first use and kept.
    pub fn token_module(&self) -> Result<Arc<sotiem_token::Module>, UiError> {
        let mut slot = lock(&self.token);
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let configured = std::env::var_os("SOTIEM_PKCS11_MODULE").map(PathBuf::from);
        let token_error = |e| UiError::from(station::StationError::from(e));
        let mut module =
            sotiem_token::Module::open_first(&sotiem_token::find_modules(configured.as_deref()))
                .map_err(token_error)?;
        // CA certificates the token lacks, configured for the signer's chain.
        if let Some(dir) = std::env::var_os("SOTIEM_SIGNER_CHAIN_DIR") {
            module
                .add_authorities_from(&PathBuf::from(dir))
                .map_err(token_error)?;
        }
        let module = Arc::new(module);
        *slot = Some(module.clone());
        Ok(module)
    }

    /// The report of the last sync that finished.
    pub fn last_report(&self) -> Option<SyncReport> {
        lock(&self.last_report).clone()
    }

    /// Syncs now as the signed-in user; the link's state follows the outcome.
    pub async fn sync(&self) -> Result<SyncReport, UiError> {
        let station = self.station().await?;
        let client = self.require_client()?;
        let result = station.sync(&client).await;
        match &result {
            Ok(report) => {
                self.set_online(true);
                *lock(&self.last_report) = Some(report.clone());
            }
            Err(SyncError::Network(_)) => self.set_online(false),
            Err(SyncError::Cancelled) => {}
            Err(_) => self.set_online(true),
        }
        Ok(result?)
    }

    /// Runs for the life of the app: checks the link every half minute and syncs in the
    /// background every `auto_sync_secs` while an online session is open. Recording never
    /// waits for it.
    pub async fn background(self: Arc<Self>) {
        let mut since_sync = 0u64;
        let mut since_update_check = UPDATE_CHECK_EVERY_SECS - 60;
        loop {
            tokio::time::sleep(Duration::from_secs(30)).await;
            since_sync += 30;
            // A newer release on the server: looked for a minute after start, then every 6 hours.
            since_update_check += 30;
            if since_update_check >= UPDATE_CHECK_EVERY_SECS && self.client().is_some() {
                since_update_check = 0;
                if crate::updates::release_key().is_some()
                    && let Err(e) = self.check_update().await
                {
                    tracing::info!("update check: {}", e.message);
                }
            }
            // The daily backup, whoever is signed in (it is encrypted to the head's key).
            if let Some(station) = self.station_if_open().await
                && let Err(e) = station.backup_if_due().await
            {
                tracing::info!("daily backup: {e}");
            }
            let (Some(station), Some(client)) = (self.station_if_open().await, self.client())
            else {
                continue;
            };
            let online_session = station.session().is_some_and(|s| s.online);
            if self.config.auto_sync_secs > 0
                && since_sync >= self.config.auto_sync_secs
                && online_session
                && !station.sync_progress().running
            {
                since_sync = 0;
                if let Err(e) = self.sync().await {
                    tracing::info!("background sync: {}", e.message);
                }
            } else if !station.sync_progress().running {
                self.set_online(client.info().await.is_ok());
            }
        }
    }
}
