//! The sync client (DESIGN.md §5): push the outbox, bootstrap a new device from snapshots, pull
//! to the cursor. Every step is idempotent and commits its progress (acknowledgements, cursor)
//! as it goes, so a connection that drops anywhere loses nothing and repeats nothing; the next
//! attempt carries on. A change the server refuses is kept in quarantine with the reason, and
//! the person's document is reset to the server's state plus this device's other changes.

use crate::error::StationError;
use crate::service::{OutboxEntry, Station};
use automerge::{Change, ChangeHash};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use sync_protocol::PersonDoc;
use sync_protocol::person::{format_time, now};
use sync_protocol::wire::{
    self, BootstrapRequest, BootstrapResponse, DocumentRequest, DocumentResponse, ErrorBody,
    PullRequest, PullResponse, PulledItem, PushRequest, PushResponse, PushResult, PushedChange,
    ServerInfo,
};
use uuid::Uuid;

/// Why a sync attempt stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The network failed (no route, timeout, connection cut): try again later.
    #[error("mất kết nối với máy chủ ({0}); dữ liệu vẫn an toàn trên máy, sẽ đồng bộ lại sau")]
    Network(String),
    /// The server answered with an error.
    #[error("máy chủ từ chối ({code}): {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    #[error(
        "phần mềm trên máy này quá cũ để đồng bộ: máy chủ cần giao thức {server_min}–{server_max}, máy này dùng {ours}. Hãy cập nhật Sổ Tiêm; dữ liệu trên máy vẫn còn nguyên"
    )]
    ProtocolTooOld {
        ours: u16,
        server_min: u16,
        server_max: u16,
    },
    #[error(
        "thiết bị được đăng ký cho cơ sở {server} nhưng dữ liệu trên máy là của cơ sở {local}: kiểm tra lại mã thiết bị"
    )]
    FacilityMismatch { server: String, local: String },
    #[error(
        "chưa có địa chỉ máy chủ hoặc mã thiết bị: chạy `sotiem sync --server URL --token MÃ` lần đầu"
    )]
    NotConfigured,
    #[error("câu trả lời của máy chủ không đọc được: {0}")]
    BadResponse(String),
    /// Plain http:// to a host other than this machine: the password, codes and device token
    /// would cross the network in clear.
    #[error(
        "máy chủ {host} phải dùng địa chỉ https:// (http:// không mã hoá: mật khẩu, mã xác thực và mã thiết bị sẽ bị lộ trên mạng); hỏi quản trị viên địa chỉ https"
    )]
    InsecureTransport { host: String },
    #[error("địa chỉ máy chủ \"{0}\" không hợp lệ: cần dạng https://ten-may-chu[:cổng]")]
    BadAddress(String),
    #[error(
        "đã dừng đồng bộ theo yêu cầu; phần đã gửi và nhận được giữ lại, lần đồng bộ sau sẽ làm tiếp"
    )]
    Cancelled,
    #[error(transparent)]
    Station(#[from] StationError),
}

impl SyncError {
    /// Whether trying again later can succeed without anyone doing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            SyncError::Network(_) | SyncError::BadResponse(_) => true,
            SyncError::Server { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            SyncError::Station(StationError::Database(_)) => true,
            _ => false,
        }
    }

    /// A stable machine name.
    pub fn code(&self) -> &str {
        match self {
            SyncError::Network(_) => "network",
            SyncError::Server { code, .. } => code,
            SyncError::ProtocolTooOld { .. } => "protocol_too_old",
            SyncError::FacilityMismatch { .. } => "facility_mismatch",
            SyncError::NotConfigured => "not_configured",
            SyncError::BadResponse(_) => "bad_response",
            SyncError::InsecureTransport { .. } => "insecure_transport",
            SyncError::BadAddress(_) => "bad_address",
            SyncError::Cancelled => "cancelled",
            SyncError::Station(e) => e.code(),
        }
    }
}

/// The result of a request to the server.
pub type SyncResult<T> = std::result::Result<T, SyncError>;

/// Whether clients may use plain http:// to hosts other than loopback (a lab only).
static INSECURE_HTTP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets this process's clients use plain http:// to any host (`--insecure-http`, for a lab).
pub fn allow_insecure_http(allow: bool) {
    INSECURE_HTTP.store(allow, Ordering::Relaxed);
}

/// Checks a server address: https:// anywhere; http:// only to this machine (loopback) unless
/// [`allow_insecure_http`] was asked for.
pub fn check_server_address(base_url: &str) -> SyncResult<()> {
    let bad = || SyncError::BadAddress(base_url.trim().chars().take(200).collect());
    let url = reqwest::Url::parse(base_url.trim()).map_err(|_| bad())?;
    let host = url.host_str().ok_or_else(bad)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback || INSECURE_HTTP.load(Ordering::Relaxed) => Ok(()),
        "http" => Err(SyncError::InsecureTransport { host: host.into() }),
        _ => Err(bad()),
    }
}

/// An HTTP client for one server, authenticated as one device.
pub struct SyncClient {
    http: reqwest::Client,
    base: String,
    token: String,
    /// The signed-in user's server session, sent with every request.
    session: std::sync::Mutex<Option<String>>,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

impl SyncClient {
    /// A client for `base_url` (http or https) with the device token; `extra_root_pem` adds a
    /// trusted root certificate (a province's own CA) to the system's.
    pub fn new(
        base_url: &str,
        token: &str,
        extra_root_pem: Option<&[u8]>,
    ) -> SyncResult<SyncClient> {
        check_server_address(base_url)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            // A redirect is not followed: it would carry the device token and session elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("sotiem/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_root_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| SyncError::BadResponse(format!("chứng thư CA: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| SyncError::Network(e.to_string()))?;
        Ok(SyncClient {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            session: std::sync::Mutex::new(None),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        })
    }

    /// Sets the user session sent with requests (none: device only).
    pub fn set_session(&self, token: Option<String>) {
        if let Ok(mut s) = self.session.lock() {
            *s = token;
        }
    }

    fn session_header(&self) -> Option<String> {
        self.session.lock().ok().and_then(|s| s.clone())
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(
                method,
                format!("{}{}", self.base, sync_protocol::endpoints::full(path)),
            )
            .bearer_auth(&self.token);
        if let Some(session) = self.session_header() {
            r = r.header(sync_protocol::endpoints::SESSION_HEADER, session);
        }
        r
    }

    /// Sends a JSON request (the auth endpoints) and decodes the JSON answer.
    pub async fn json<Q: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        request: &Q,
    ) -> SyncResult<R> {
        let body =
            serde_json::to_vec(request).map_err(|e| SyncError::BadResponse(e.to_string()))?;
        let http = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let bytes = self.exchange(http, body).await?;
        if bytes.is_empty() {
            return serde_json::from_slice(b"null")
                .map_err(|e| SyncError::BadResponse(e.to_string()));
        }
        serde_json::from_slice(&bytes).map_err(|e| SyncError::BadResponse(e.to_string()))
    }

    /// `GET /api/v1/{path}?{query}` and decodes the JSON answer.
    pub async fn get_json<R: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> SyncResult<R> {
        // The query string encoded by the URL parser (reqwest's own `query` is an optional
        // feature this build does without).
        let mut url = reqwest::Url::parse("http://localhost/")
            .map_err(|e| SyncError::BadResponse(e.to_string()))?;
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        let path = match url.query() {
            Some(q) if !q.is_empty() => format!("{path}?{q}"),
            _ => path.to_string(),
        };
        let http = self.request(reqwest::Method::GET, &path);
        let bytes = self.exchange(http, Vec::new()).await?;
        serde_json::from_slice(&bytes).map_err(|e| SyncError::BadResponse(e.to_string()))
    }

    /// `POST auth/login`.
    pub async fn login(
        &self,
        req: &sync_protocol::auth::LoginRequest,
    ) -> SyncResult<sync_protocol::auth::LoginStep> {
        self.json(sync_protocol::endpoints::LOGIN, req).await
    }

    /// `POST auth/enroll`.
    pub async fn enroll(
        &self,
        req: &sync_protocol::auth::EnrollRequest,
    ) -> SyncResult<sync_protocol::auth::LoginStep> {
        self.json(sync_protocol::endpoints::ENROLL, req).await
    }

    /// `POST auth/change-password`.
    pub async fn change_password(
        &self,
        req: &sync_protocol::auth::ChangePasswordRequest,
    ) -> SyncResult<Option<sync_protocol::auth::LoginStep>> {
        self.json(sync_protocol::endpoints::CHANGE_PASSWORD, req)
            .await
    }

    /// `POST auth/logout`.
    pub async fn logout(&self) -> SyncResult<()> {
        let _: Option<()> = self.json(sync_protocol::endpoints::LOGOUT, &()).await?;
        Ok(())
    }

    /// Bytes of request and response bodies so far.
    pub fn traffic(&self) -> (u64, u64) {
        (
            self.bytes_sent.load(Ordering::Relaxed),
            self.bytes_received.load(Ordering::Relaxed),
        )
    }

    /// The server's info and who this device is to it.
    pub async fn info(&self) -> SyncResult<ServerInfo> {
        let body = self
            .exchange(
                self.request(reqwest::Method::GET, sync_protocol::endpoints::INFO),
                Vec::new(),
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| SyncError::BadResponse(e.to_string()))
    }

    /// Sends one wire message to `/api/v1/{path}` and decodes the answer.
    pub async fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        request: &Q,
    ) -> SyncResult<R> {
        let body = wire::encode(request);
        let http = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, wire::CONTENT_TYPE);
        let bytes = self.exchange(http, body).await?;
        wire::decode(&bytes).map_err(|e| SyncError::BadResponse(e.to_string()))
    }

    /// Sends `body` (none when empty) and returns the answer's body, counting the bytes both
    /// ways; an error status becomes the server's error.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        body: Vec<u8>,
    ) -> SyncResult<bytes::Bytes> {
        self.bytes_sent
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let request = if body.is_empty() {
            request
        } else {
            request.body(body)
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(network)?;
        self.bytes_received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if !status.is_success() {
            return Err(server_error(status.as_u16(), &bytes));
        }
        Ok(bytes)
    }
}

fn network(e: reqwest::Error) -> SyncError {
    SyncError::Network(e.to_string())
}

fn server_error(status: u16, body: &[u8]) -> SyncError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) if b.error.code == "protocol_too_old" => SyncError::ProtocolTooOld {
            ours: wire::PROTOCOL_VERSION,
            server_min: wire::PROTOCOL_VERSION + 1,
            server_max: wire::PROTOCOL_VERSION + 1,
        },
        Ok(b) => SyncError::Server {
            status,
            code: b.error.code,
            message: b.error.message,
        },
        Err(_) => SyncError::Server {
            status,
            code: format!("http_{status}"),
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        },
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncReport {
    pub pushed: u64,
    pub already_on_server: u64,
    pub quarantined: u64,
    pub waiting_for_dependencies: u64,
    /// Changes of other users of this laptop, kept until they sign in online and sync.
    pub waiting_for_author: u64,
    /// Changes the server could not take now (kept, sent again at the next sync).
    pub deferred: u64,
    pub bootstrapped: u64,
    pub pulled_changes: u64,
    pub pulled_snapshots: u64,
    pub repaired: u64,
    pub audit_entries_sent: u64,
    /// Accounts the server has revoked since the last sync: locked out on this station now.
    pub accounts_revoked: Vec<String>,
    /// Signing runs the server verified, and those it refused (the reason is kept on the run).
    pub batches_accepted: u64,
    pub batches_refused: u64,
    pub cursor: u64,
    pub attempts: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// A change the server refused, kept on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QuarantinedChange {
    pub change_hash: String,
    pub person_id: Uuid,
    pub full_name: Option<String>,
    pub reason: String,
    pub message: String,
    pub quarantined_at: String,
}

/// How sync stands, for the status bar and `sotiem sync status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    pub server_url: Option<String>,
    pub last_sync_at: Option<String>,
    pub last_error: Option<String>,
    pub pending_changes: i64,
    /// Pending changes of users other than the signed-in one: each user's go up when that user
    /// signs in online and syncs.
    pub waiting_for_author: Vec<AuthorWaiting>,
    pub cursor: Option<u64>,
    pub quarantined: Vec<QuarantinedChange>,
}

/// Pending changes of one user who is not the one signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuthorWaiting {
    pub user: String,
    pub changes: i64,
}

/// How far the running sync has got, for a progress bar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncProgress {
    pub running: bool,
    /// `connect`, `push`, `bootstrap`, `pull` or `audit`.
    pub phase: String,
    pub pushed: u64,
    pub to_push: u64,
    /// Snapshots and changes received so far.
    pub received: u64,
}

/// The running sync's progress and the user's request to stop it.
#[derive(Default)]
pub(crate) struct SyncControl {
    cancel: std::sync::atomic::AtomicBool,
    progress: std::sync::Mutex<SyncProgress>,
    /// One sync at a time: a second caller waits for the first.
    running: tokio::sync::Mutex<()>,
}

impl SyncControl {
    fn update(&self, f: impl FnOnce(&mut SyncProgress)) {
        f(&mut self
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// Stops between steps: what is committed stays, nothing is half written.
    fn check(&self) -> SyncResult<()> {
        if self.cancel.load(Ordering::SeqCst) {
            Err(SyncError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

const PUSH_BATCH_CHANGES: usize = 500;
const PUSH_BATCH_BYTES: usize = 512 * 1024;
const PULL_MAX_BYTES: u32 = 1024 * 1024;
const BOOTSTRAP_MAX_BYTES: u32 = 2 * 1024 * 1024;
/// People written per transaction while applying a page, so recording never waits long.
const APPLY_CHUNK: usize = 200;

/// One person's share of a pulled page.
#[derive(Default)]
pub(crate) struct RemoteBatch {
    pub(crate) changes: Vec<Change>,
    pub(crate) snapshots: Vec<PersonDoc>,
    /// Something the server sent for this person could not be read: fetch the whole document
    /// again (the repair) rather than stop the sync.
    pub(crate) damaged: bool,
}

/// Reads a document the server sent; a document Automerge cannot read (or panics on) is `None`.
fn received_doc(person: Uuid, bytes: &[u8]) -> Option<PersonDoc> {
    match sync_protocol::document::guarded(|| PersonDoc::load(bytes)) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(%person, "unreadable document from the server, repaired later: {e}");
            None
        }
    }
}

/// Reads a change the server sent; one that is unreadable or has counters past any real
/// document's is `None`.
fn received_change(person: Uuid, bytes: Vec<u8>) -> Option<Change> {
    let change = sync_protocol::document::decode_change(bytes).ok()?;
    match sync_protocol::rules::check_counters(&change) {
        Ok(()) => Some(change),
        Err(e) => {
            tracing::warn!(%person, "change from the server refused: {e}");
            None
        }
    }
}

impl Station {
    /// Syncs, retrying with growing delays after a network failure; each attempt resumes where
    /// the previous one stopped.
    pub async fn sync_with_retry(
        &self,
        client: &SyncClient,
        policy: &RetryPolicy,
    ) -> SyncResult<SyncReport> {
        let mut delay = policy.first_delay;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.sync(client).await {
                Ok(mut report) => {
                    report.attempts = attempt;
                    return Ok(report);
                }
                Err(e) if e.is_retryable() && attempt < policy.attempts => {
                    tracing::warn!("sync attempt {attempt} failed: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(policy.max_delay);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One sync as the signed-in user: check the server, push, bootstrap if this device never
    /// synced, pull, push the audit log. An account the server has revoked is locked out here.
    pub async fn sync(&self, client: &SyncClient) -> SyncResult<SyncReport> {
        let session = self.reader().map_err(SyncError::Station)?;
        let _one_at_a_time = self.sync_control.running.lock().await;
        self.sync_control.cancel.store(false, Ordering::SeqCst);
        self.sync_control.update(|p| {
            *p = SyncProgress {
                running: true,
                phase: "connect".into(),
                ..SyncProgress::default()
            }
        });
        // Cleared however the sync ends, even when its task is dropped half way.
        struct Finished<'a>(&'a SyncControl);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                self.0.update(|p| p.running = false);
            }
        }
        let _finished = Finished(&self.sync_control);
        self.sync_signed_in(client, &session).await
    }

    /// How far the running sync has got (`running` false when none is).
    pub fn sync_progress(&self) -> SyncProgress {
        self.sync_control
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Asks the running sync to stop at its next step; it ends with [`SyncError::Cancelled`].
    pub fn cancel_sync(&self) {
        self.sync_control.cancel.store(true, Ordering::SeqCst);
    }

    async fn sync_signed_in(
        &self,
        client: &SyncClient,
        session: &crate::auth::Session,
    ) -> SyncResult<SyncReport> {
        let Some(token) = session.server_token.clone() else {
            return Err(SyncError::Station(StationError::ServerUnavailable(
                "phiên đăng nhập ngoại tuyến: hãy đăng nhập trực tuyến để đồng bộ".into(),
            )));
        };
        client.set_session(Some(token));
        let (sent0, received0) = client.traffic();
        let result = self.sync_inner(client).await;
        if let Err(e) = &result {
            match e.code() {
                "account_revoked" => self.mark_revoked(session.username()).await?,
                "session_invalid" => {
                    let _ = self.sign_out(None).await;
                }
                _ => {}
            }
        }
        let (sent1, received1) = client.traffic();
        match result {
            Ok(mut report) => {
                report.bytes_sent = sent1 - sent0;
                report.bytes_received = received1 - received0;
                self.set_meta("last_sync_at", Some(&format_time(now())))
                    .await?;
                self.set_meta("last_sync_error", None).await?;
                Ok(report)
            }
            Err(e) => {
                let _ = self.set_meta("last_sync_error", Some(&e.to_string())).await;
                Err(e)
            }
        }
    }

    async fn sync_inner(&self, client: &SyncClient) -> SyncResult<SyncReport> {
        let info = client.info().await?;
        if info.protocol_min > wire::PROTOCOL_VERSION {
            return Err(SyncError::ProtocolTooOld {
                ours: wire::PROTOCOL_VERSION,
                server_min: info.protocol_min,
                server_max: info.protocol_max,
            });
        }
        if let Some(f) = &info.facility
            && f != &self.facility().code
        {
            return Err(SyncError::FacilityMismatch {
                server: f.clone(),
                local: self.facility().code.clone(),
            });
        }
        self.adopt_parent(info.facility_parent.as_deref()).await?;
        self.adopt_mobile_teams(&info.mobile_teams).await?;
        // Pointed at another server: what we know of the old one's sequence means nothing there.
        if self.meta_value("sync_server_id").await?.as_deref() != Some(info.server_id.as_str()) {
            self.set_meta("sync_cursor", None).await?;
            self.set_meta("bootstrap_after", None).await?;
            self.set_meta("bootstrap_high_water", None).await?;
            self.set_meta("sync_server_id", Some(&info.server_id))
                .await?;
        }
        // A unit whose signing area grew fetches its scope afresh: the people of the added
        // facilities are older than its cursor.
        if self.adopt_area(&info.area).await? {
            self.set_meta("sync_cursor", None).await?;
            self.set_meta("bootstrap_after", None).await?;
            self.set_meta("bootstrap_high_water", None).await?;
        }
        let mut report = SyncReport::default();
        self.sync_control.update(|p| p.phase = "push".into());
        // A refusal can replay later edits as new changes: push those in the same sync.
        for _ in 0..3 {
            if !self.push_outbox(client, &mut report).await? {
                break;
            }
        }
        // After the doses they sign are on the server; the signatures written into the documents
        // of accepted runs go up at once.
        self.push_signing_batches(client, &mut report).await?;
        if report.batches_accepted > 0 {
            self.push_outbox(client, &mut report).await?;
        }
        if self.meta_value("sync_cursor").await?.is_none() {
            self.sync_control.update(|p| p.phase = "bootstrap".into());
            self.bootstrap(client, &mut report).await?;
        }
        self.sync_control.update(|p| p.phase = "pull".into());
        self.pull(client, &mut report).await?;
        self.sync_control.update(|p| p.phase = "audit".into());
        report.audit_entries_sent = self.push_audit(client).await?;
        report.accounts_revoked = self.refresh_accounts(client).await?;
        report.cursor = self.cursor().await?.unwrap_or(0);
        Ok(report)
    }

    /// Sends the signed-in signer's pending signing runs for the server to verify.
    async fn push_signing_batches(
        &self,
        client: &SyncClient,
        report: &mut SyncReport,
    ) -> SyncResult<()> {
        let Some(user) = self.session().map(|s| s.username().to_string()) else {
            return Ok(());
        };
        let rows = sqlx::query(
            "SELECT id, manifest, cms FROM signing_batches WHERE status = 'pending' AND signer = ?
             ORDER BY created_at",
        )
        .bind(&user)
        .fetch_all(self.store().pool())
        .await
        .map_err(StationError::from)?;
        for r in rows {
            self.sync_control.check()?;
            let id: String = r.get("id");
            let Ok(batch_id) = Uuid::parse_str(&id) else {
                continue;
            };
            let outcome: wire::SigningBatchOutcome = client
                .call(
                    sync_protocol::endpoints::SIGNING_BATCH,
                    &wire::SigningBatchUpload {
                        batch_id,
                        manifest: r.get("manifest"),
                        cms: r.get("cms"),
                    },
                )
                .await?;
            let (status, message) = match outcome {
                wire::SigningBatchOutcome::Accepted { .. } => {
                    self.mark_signed(batch_id).await?;
                    report.batches_accepted += 1;
                    ("accepted", None)
                }
                wire::SigningBatchOutcome::Refused { code, message } => {
                    report.batches_refused += 1;
                    ("refused", Some(format!("{message} ({code})")))
                }
                wire::SigningBatchOutcome::Later { message } => ("pending", Some(message)),
            };
            sqlx::query("UPDATE signing_batches SET status = ?, message = ? WHERE id = ?")
                .bind(status)
                .bind(message)
                .bind(&id)
                .execute(self.store().pool())
                .await
                .map_err(StationError::from)?;
        }
        Ok(())
    }

    async fn cursor(&self) -> SyncResult<Option<u64>> {
        Ok(self
            .meta_value("sync_cursor")
            .await?
            .and_then(|c| c.parse().ok()))
    }

    /// Pushes the whole outbox; returns whether a refusal reset any person's copy.
    async fn push_outbox(&self, client: &SyncClient, report: &mut SyncReport) -> SyncResult<bool> {
        // The server takes a change only from its author's session: the signed-in user's go
        // now, other users' wait in the outbox for their own sign-in.
        let user = self.session().map(|s| s.username().to_string());
        let (entries, others): (Vec<OutboxEntry>, Vec<OutboxEntry>) = self
            .outbox(i64::MAX)
            .await?
            .into_iter()
            .partition(|e| e.author.is_none() || e.author == user);
        report.waiting_for_author = others.len() as u64;
        self.sync_control
            .update(|p| p.to_push = p.pushed + entries.len() as u64);
        let mut rejected: BTreeMap<Uuid, Vec<(OutboxEntry, String, String)>> = BTreeMap::new();
        let mut waiting = Vec::new();
        let mut start = 0;
        while start < entries.len() {
            self.sync_control.check()?;
            let mut end = start;
            let mut size = 0;
            while end < entries.len()
                && end - start < PUSH_BATCH_CHANGES
                && (size < PUSH_BATCH_BYTES || end == start)
            {
                size += entries[end].change.len();
                end += 1;
            }
            let batch = &entries[start..end];
            let request = PushRequest {
                changes: batch
                    .iter()
                    .map(|e| PushedChange {
                        person_id: e.person_id,
                        bytes: e.change.clone(),
                    })
                    .collect(),
            };
            let response: PushResponse = client
                .call(sync_protocol::endpoints::PUSH, &request)
                .await?;
            if response.results.len() != batch.len() {
                return Err(SyncError::BadResponse(
                    "số kết quả khác số thay đổi đã gửi".into(),
                ));
            }
            let mut acked = Vec::new();
            for (entry, result) in batch.iter().zip(response.results) {
                match result {
                    PushResult::Accepted { .. } => {
                        report.pushed += 1;
                        acked.push(entry.change_hash.clone());
                    }
                    PushResult::Duplicate => {
                        report.already_on_server += 1;
                        acked.push(entry.change_hash.clone());
                    }
                    // Built on a refused change: replayed when the copy is reset, not refused itself.
                    PushResult::Rejected {
                        reason: wire::RejectReason::DependsOnRejected,
                        ..
                    } => {
                        rejected.entry(entry.person_id).or_default();
                    }
                    PushResult::Rejected { reason, message } => {
                        rejected.entry(entry.person_id).or_default().push((
                            entry.clone(),
                            reason.code().to_string(),
                            message,
                        ));
                    }
                    PushResult::MissingDependencies => waiting.push(entry.clone()),
                    PushResult::Deferred { message } => {
                        tracing::warn!("change deferred by the server: {message}");
                        report.deferred += 1;
                    }
                }
            }
            self.acknowledge(&acked).await?;
            let pushed = report.pushed + report.already_on_server;
            self.sync_control.update(|p| p.pushed = pushed);
            start = end;
        }
        // A change waiting for a dependency that was refused earlier is replayed the same way.
        let quarantined = self.quarantined_hashes().await?;
        for entry in waiting {
            let depends_on_rejected = Change::from_bytes(entry.change.clone())
                .map(|c| {
                    c.deps()
                        .iter()
                        .any(|d| quarantined.contains(d.0.as_slice()))
                })
                .unwrap_or(true);
            if depends_on_rejected {
                rejected.entry(entry.person_id).or_default();
            } else {
                report.waiting_for_dependencies += 1;
            }
        }
        let reset = !rejected.is_empty();
        for (person, items) in rejected {
            report.quarantined += self.quarantine_and_reset(client, person, items).await?;
        }
        Ok(reset)
    }

    async fn quarantined_hashes(&self) -> SyncResult<HashSet<Vec<u8>>> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT change_hash FROM quarantine")
            .fetch_all(self.store().pool())
            .await
            .map_err(StationError::from)?;
        Ok(rows.into_iter().collect())
    }

    /// Keeps refused changes in quarantine and rebuilds the person's document from the server's
    /// copy plus this device's remaining changes. Returns how many changes were quarantined.
    async fn quarantine_and_reset(
        &self,
        client: &SyncClient,
        person_id: Uuid,
        refused: Vec<(OutboxEntry, String, String)>,
    ) -> SyncResult<u64> {
        let server: DocumentResponse = client
            .call(
                sync_protocol::endpoints::DOCUMENT,
                &DocumentRequest { person_id },
            )
            .await?;
        let at = format_time(now());
        let mut tx = self.store().begin_write().await?;
        let mut count = 0;
        let mut refused_hashes: HashSet<Vec<u8>> = HashSet::new();
        for (entry, reason, message) in &refused {
            quarantine_one(&mut tx, entry, reason, message, &at).await?;
            refused_hashes.insert(entry.change_hash.clone());
            count += 1;
        }
        let remaining: Vec<(Vec<u8>, Vec<u8>)> =
            sqlx::query("SELECT change_hash, change FROM outbox WHERE person_id = ? ORDER BY seq")
                .bind(person_id.to_string())
                .fetch_all(&mut *tx)
                .await
                .map_err(StationError::from)?
                .iter()
                .map(|r| (r.get("change_hash"), r.get("change")))
                .collect();
        let corrupt = |source| StationError::Corrupt {
            id: person_id.to_string(),
            source,
        };
        let local_bytes: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT doc FROM persons WHERE id = ?")
                .bind(person_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(StationError::from)?;
        let local = local_bytes
            .as_deref()
            .map(PersonDoc::load)
            .transpose()
            .map_err(corrupt)?;
        let before = local.as_ref().and_then(|d| d.read().ok());
        let mut doc = match &server.doc {
            Some(bytes) => {
                sync_protocol::document::guarded(|| PersonDoc::load_as(bytes, self.actor().clone()))
                    .map_err(corrupt)?
            }
            None => PersonDoc::empty(),
        };
        let writer = match self.session() {
            Some(session) => Some(self.rule_writer(&session).await?),
            None => None,
        };
        for (hash, bytes) in &remaining {
            let Ok(change) = Change::from_bytes(bytes.clone()) else {
                continue;
            };
            let _ = doc.apply_changes(vec![change.clone()]);
            if ChangeHash::try_from(hash.as_slice()).is_ok_and(|h| doc.has_change(&h)) {
                continue;
            }
            // It builds on a refused change: replay what it did on top of the server's version.
            let entry = OutboxEntry {
                seq: 0,
                change_hash: hash.clone(),
                person_id,
                change: bytes.clone(),
                author: None,
            };
            match self.replay_change(local.as_ref(), &change, &mut doc, writer.as_ref()) {
                Some(new_change) => {
                    sqlx::query("DELETE FROM outbox WHERE change_hash = ?")
                        .bind(hash)
                        .execute(&mut *tx)
                        .await
                        .map_err(StationError::from)?;
                    crate::service::outbox_insert(
                        &mut tx,
                        &new_change,
                        &person_id.to_string(),
                        &at,
                    )
                    .await?;
                }
                None => {
                    quarantine_one(
                        &mut tx,
                        &entry,
                        "depends_on_rejected",
                        "thay đổi dựa trên một thay đổi đã bị máy chủ từ chối và không áp dụng lại được",
                        &at,
                    )
                    .await?;
                    count += 1;
                }
            }
        }
        match doc.read() {
            Ok(after) => {
                self.persist_reset(&mut tx, &doc, before.as_ref(), &after)
                    .await?
            }
            // Neither the server nor this device holds an accepted version: the person was only
            // ever in refused changes, which stay in quarantine.
            Err(_) => self.remove_local_person(&mut tx, person_id).await?,
        }
        tx.commit().await.map_err(StationError::from)?;
        Ok(count)
    }

    /// Re-applies what `change` did (read from the old local copy) on top of `doc` as a new
    /// change of this device in the same author's name, if the result keeps the rules (all of
    /// them when the author is the signed-in user `writer`; the server checks the others' when
    /// they sync). Returns the new change.
    fn replay_change(
        &self,
        local: Option<&PersonDoc>,
        change: &Change,
        doc: &mut PersonDoc,
        writer: Option<&sync_protocol::rules::Writer>,
    ) -> Option<Change> {
        let local = local?;
        let meta = sync_protocol::CommitMeta::from_change(change)?;
        let prev = local.fork_at(change.deps()).ok()?.read().ok()?;
        let next = local.fork_at(&[change.hash()]).ok()?.read().ok()?;
        let base = doc.read().ok()?;
        let replayed = base.replay(&prev, &next);
        match writer.filter(|w| w.user == meta.user) {
            Some(w) => crate::rulebook::Intent::new(meta.action)
                .check(Some(&base), &replayed, w)
                .ok()?,
            None => {
                sync_protocol::validate::check_person(&replayed, now().date()).ok()?;
                meta.clone()
            }
        };
        let heads = doc.heads();
        doc.update(&replayed, &meta).ok()??;
        doc.changes_since(&heads).pop()
    }

    async fn bootstrap(&self, client: &SyncClient, report: &mut SyncReport) -> SyncResult<()> {
        let mut after: Option<Uuid> = self
            .meta_value("bootstrap_after")
            .await?
            .and_then(|a| Uuid::parse_str(&a).ok());
        let mut high_water: Option<u64> = self
            .meta_value("bootstrap_high_water")
            .await?
            .and_then(|h| h.parse().ok());
        let fetch = |after: Option<Uuid>, high_water: Option<u64>| async move {
            let request = BootstrapRequest {
                after,
                high_water,
                max_bytes: BOOTSTRAP_MAX_BYTES,
            };
            client
                .call::<_, BootstrapResponse>(sync_protocol::endpoints::BOOTSTRAP, &request)
                .await
        };
        let mut page = fetch(after, high_water).await?;
        loop {
            self.sync_control.check()?;
            let hw = *high_water.get_or_insert(page.high_water);
            let mut batch: BTreeMap<Uuid, RemoteBatch> = BTreeMap::new();
            for s in std::mem::take(&mut page.docs) {
                let entry = batch.entry(s.person_id).or_default();
                match received_doc(s.person_id, &s.doc) {
                    Some(doc) => entry.snapshots.push(doc),
                    None => entry.damaged = true,
                }
                report.bootstrapped += 1;
            }
            after = page.next_after.or(after);
            let meta = if page.more {
                vec![
                    ("bootstrap_high_water", Some(hw.to_string())),
                    ("bootstrap_after", after.map(|a| a.to_string())),
                ]
            } else {
                vec![
                    ("sync_cursor", Some(hw.to_string())),
                    ("bootstrap_after", None),
                    ("bootstrap_high_water", None),
                ]
            };
            // Fetch the next page while this one is written: the link and the disk work at once.
            let more = page.more;
            let next = async {
                if more {
                    Some(fetch(after, high_water).await)
                } else {
                    None
                }
            };
            let (applied, next) = tokio::join!(self.apply_remote_batch(batch, &meta), next);
            report.repaired += applied?.len() as u64;
            let received = report.bootstrapped;
            self.sync_control.update(|p| p.received = received);
            match next {
                Some(next) => page = next?,
                None => return Ok(()),
            }
        }
    }

    async fn pull(&self, client: &SyncClient, report: &mut SyncReport) -> SyncResult<()> {
        loop {
            self.sync_control.check()?;
            let cursor = self.cursor().await?.unwrap_or(0);
            let page: PullResponse = client
                .call(
                    sync_protocol::endpoints::PULL,
                    &PullRequest {
                        cursor,
                        max_bytes: PULL_MAX_BYTES,
                    },
                )
                .await?;
            let mut batch: BTreeMap<Uuid, RemoteBatch> = BTreeMap::new();
            for item in page.items {
                match item {
                    PulledItem::Change {
                        person_id, bytes, ..
                    } => {
                        let entry = batch.entry(person_id).or_default();
                        match received_change(person_id, bytes) {
                            Some(c) => entry.changes.push(c),
                            None => entry.damaged = true,
                        }
                        report.pulled_changes += 1;
                    }
                    PulledItem::Snapshot { person_id, doc, .. } => {
                        let entry = batch.entry(person_id).or_default();
                        match received_doc(person_id, &doc) {
                            Some(d) => entry.snapshots.push(d),
                            None => entry.damaged = true,
                        }
                        report.pulled_snapshots += 1;
                    }
                }
            }
            let missing = self
                .apply_remote_batch(
                    batch,
                    &[(
                        "sync_cursor",
                        Some(page.next_cursor.max(cursor).to_string()),
                    )],
                )
                .await?
                .len() as u64;
            report.repaired += missing;
            let received = report.bootstrapped + report.pulled_changes + report.pulled_snapshots;
            self.sync_control.update(|p| p.received = received);
            if missing > 0 {
                self.repair_missing(client).await?;
            }
            if !page.more {
                return Ok(());
            }
        }
    }

    /// Writes remote changes and snapshots, a few hundred people per transaction; `meta` is
    /// written with the last of them. Returns the people whose documents still miss
    /// dependencies or could not be read (flagged for repair; their local copy is kept as it
    /// was).
    pub(crate) async fn apply_remote_batch(
        &self,
        batch: BTreeMap<Uuid, RemoteBatch>,
        meta: &[(&str, Option<String>)],
    ) -> crate::Result<Vec<Uuid>> {
        let mut items: Vec<(Uuid, RemoteBatch)> = batch.into_iter().collect();
        let mut flagged = Vec::new();
        if items.is_empty() {
            let mut tx = self.store().begin_write().await?;
            write_meta(&mut tx, meta).await?;
            tx.commit().await?;
            return Ok(flagged);
        }
        let chunks = items.len().div_ceil(APPLY_CHUNK);
        for (i, chunk) in items.chunks_mut(APPLY_CHUNK).enumerate() {
            let mut tx = self.store().begin_write().await?;
            for (person_id, remote) in chunk.iter_mut() {
                let existing: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT doc FROM persons WHERE id = ?")
                        .bind(person_id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                let before = match &existing {
                    Some(bytes) => Some(PersonDoc::load_as(bytes, self.actor().clone()).map_err(
                        |source| StationError::Corrupt {
                            id: person_id.to_string(),
                            source,
                        },
                    )?),
                    None => None,
                };
                let before_person = before.as_ref().and_then(|d| d.read().ok());
                let merged = sync_protocol::document::guarded(|| {
                    let mut doc = match before {
                        Some(d) => d,
                        None => match remote.snapshots.pop() {
                            Some(d) => d,
                            None => PersonDoc::empty(),
                        },
                    };
                    doc.set_actor(self.actor().clone());
                    for snapshot in remote.snapshots.iter_mut() {
                        doc.merge(snapshot)?;
                    }
                    doc.apply_changes(std::mem::take(&mut remote.changes))?;
                    Ok(doc)
                });
                let doc = match merged {
                    Ok(doc) => doc,
                    Err(e) => {
                        tracing::warn!(%person_id, "remote data not applied, repaired later: {e}");
                        self.flag_for_repair(&mut tx, *person_id).await?;
                        flagged.push(*person_id);
                        continue;
                    }
                };
                if remote.damaged || !doc.missing_deps().is_empty() {
                    self.flag_for_repair(&mut tx, *person_id).await?;
                    flagged.push(*person_id);
                }
                let after = match doc.read() {
                    Ok(p) => p,
                    // Not readable yet (its first change is among the missing): repaired below.
                    Err(_) => continue,
                };
                self.persist_remote(&mut tx, &doc, before_person.as_ref(), &after)
                    .await?;
            }
            if i + 1 == chunks {
                write_meta(&mut tx, meta).await?;
            }
            tx.commit().await?;
        }
        Ok(flagged)
    }

    async fn flag_for_repair(
        &self,
        tx: &mut sqlx::SqliteConnection,
        person: Uuid,
    ) -> crate::Result<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO NOTHING")
            .bind(format!("repair/{person}"))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Fetches whole documents for people whose copy misses changes, and merges them.
    async fn repair_missing(&self, client: &SyncClient) -> SyncResult<()> {
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT key FROM meta WHERE key LIKE 'repair/%'")
                .fetch_all(self.store().pool())
                .await
                .map_err(StationError::from)?;
        for key in keys {
            let Some(person_id) = key
                .strip_prefix("repair/")
                .and_then(|p| Uuid::parse_str(p).ok())
            else {
                continue;
            };
            let response: DocumentResponse = client
                .call(
                    sync_protocol::endpoints::DOCUMENT,
                    &DocumentRequest { person_id },
                )
                .await?;
            let mut batch = BTreeMap::new();
            if let Some(bytes) = response.doc {
                let remote = match received_doc(person_id, &bytes) {
                    Some(doc) => RemoteBatch {
                        snapshots: vec![doc],
                        ..RemoteBatch::default()
                    },
                    None => RemoteBatch {
                        damaged: true,
                        ..RemoteBatch::default()
                    },
                };
                batch.insert(person_id, remote);
            }
            // The flag stays while the person still cannot be read whole.
            let still = self.apply_remote_batch(batch, &[]).await?;
            if !still.contains(&person_id) {
                let mut tx = self.store().begin_write().await?;
                write_meta(&mut tx, &[(key.as_str(), None)]).await?;
                tx.commit().await.map_err(StationError::from)?;
            }
        }
        Ok(())
    }

    /// Sends the audit entries the server does not have yet; the server checks that they
    /// continue its copy of this device's chain.
    /// Asks the server which of the accounts kept here for offline sign-in it has revoked, and
    /// locks those out.
    async fn refresh_accounts(&self, client: &SyncClient) -> SyncResult<Vec<String>> {
        let usernames: Vec<String> =
            sqlx::query_scalar("SELECT username FROM local_accounts WHERE status <> 'revoked'")
                .fetch_all(self.store().pool())
                .await
                .map_err(StationError::from)?;
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let answer: sync_protocol::auth::AccountStatusResponse = client
            .json(
                sync_protocol::endpoints::ACCOUNT_STATUS,
                &sync_protocol::auth::AccountStatusRequest { usernames },
            )
            .await?;
        for username in &answer.revoked {
            self.mark_revoked(username).await?;
        }
        for reset in &answer.reset {
            self.forget_if_reset(&reset.username, &reset.at).await?;
        }
        Ok(answer.revoked)
    }

    async fn push_audit(&self, client: &SyncClient) -> SyncResult<u64> {
        let mut sent = 0;
        loop {
            let from: i64 = self
                .meta_value("audit_synced_seq")
                .await?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let batch = crate::audit::entries_after(self.store().pool(), from, 500).await?;
            if batch.is_empty() {
                return Ok(sent);
            }
            let response: sync_protocol::audit::AuditPushResponse = client
                .call(
                    sync_protocol::endpoints::AUDIT_PUSH,
                    &sync_protocol::audit::AuditPush {
                        entries: batch.clone(),
                    },
                )
                .await?;
            sent += batch.len() as u64;
            let mut tx = self.store().begin_write().await?;
            write_meta(
                &mut tx,
                &[
                    (
                        "audit_synced_seq",
                        Some(response.stored_through.to_string()),
                    ),
                    ("audit_synced_hash", Some(hex::encode(&response.last_hash))),
                ],
            )
            .await?;
            tx.commit().await.map_err(StationError::from)?;
            if batch.len() < 500 {
                return Ok(sent);
            }
        }
    }

    /// Sets up a new station in `dir` from the server: the device token tells which facility
    /// this laptop belongs to, so only the server's address and the token are typed. Nothing is
    /// created unless the server accepts the token.
    pub async fn join(
        dir: &std::path::Path,
        server: &str,
        token: &str,
        ca_pem: Option<&[u8]>,
    ) -> SyncResult<Station> {
        let client = SyncClient::new(server.trim(), token, ca_pem)?;
        let info = client.info().await?;
        let facility = info.facility_info.ok_or_else(|| {
            SyncError::BadResponse("máy chủ không cho biết cơ sở của thiết bị này".into())
        })?;
        let station = Station::init(
            dir,
            crate::service::NewStation {
                kind: crate::facility::FacilityKind::parse(&facility.kind)
                    .map_err(|e| SyncError::Station(e.into()))?,
                facility_code: facility.code,
                facility_name: facility.name,
                province: facility.province,
                commune: facility.commune,
            },
        )
        .await?;
        station.connect(Some(server), Some(token), ca_pem).await?;
        Ok(station)
    }

    /// A client for the server: `server` and `token` when given, else those remembered from an
    /// earlier connection. What was given is remembered only once the server has accepted it,
    /// so a mistyped token never replaces a working one; an unreachable server is used for now
    /// and remembered at the next connection that answers.
    pub async fn connect(
        &self,
        server: Option<&str>,
        token: Option<&str>,
        ca_pem: Option<&[u8]>,
    ) -> SyncResult<SyncClient> {
        let store_id = self.store().descriptor().store_id.clone();
        let url = match server {
            Some(s) => s.trim().to_string(),
            None => self
                .meta_value("sync_server_url")
                .await
                .map_err(SyncError::Station)?
                .ok_or(SyncError::NotConfigured)?,
        };
        let device_token = match token {
            Some(t) => t.trim().to_string(),
            None => crate::key::load_secret(&store_id, "device-token")
                .ok()
                .flatten()
                .ok_or(SyncError::NotConfigured)?,
        };
        let client = SyncClient::new(&url, &device_token, ca_pem)?;
        if server.is_some() || token.is_some() {
            match client.info().await {
                Ok(_) => {
                    if server.is_some() {
                        self.set_meta("sync_server_url", Some(&url))
                            .await
                            .map_err(SyncError::Station)?;
                    }
                    if token.is_some()
                        && let Err(e) =
                            crate::key::save_secret(&store_id, "device-token", &device_token)
                    {
                        // Without a credential store the token must be given each time.
                        tracing::warn!("device token not kept in the credential store: {e}");
                    }
                }
                Err(e) if e.is_retryable() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(client)
    }

    /// How sync stands.
    pub async fn sync_status(&self) -> crate::Result<SyncStatus> {
        let rows = sqlx::query(
            "SELECT q.change_hash, q.person_id, q.reason, q.message, q.quarantined_at, p.full_name
             FROM quarantine q LEFT JOIN persons p ON p.id = q.person_id ORDER BY q.quarantined_at DESC",
        )
        .fetch_all(self.store().pool())
        .await?;
        let quarantined = rows
            .iter()
            .filter_map(|r| {
                Some(QuarantinedChange {
                    change_hash: hex::encode(r.get::<Vec<u8>, _>("change_hash")),
                    person_id: Uuid::parse_str(r.get::<&str, _>("person_id")).ok()?,
                    full_name: r.get("full_name"),
                    reason: r.get("reason"),
                    message: r.get("message"),
                    quarantined_at: r.get("quarantined_at"),
                })
            })
            .collect();
        let user = self.session().map(|s| s.username().to_string());
        let waiting_for_author = sqlx::query_as::<_, (String, i64)>(
            "SELECT author, count(*) FROM outbox WHERE author IS NOT NULL AND author IS NOT ?
             GROUP BY author ORDER BY author",
        )
        .bind(user)
        .fetch_all(self.store().pool())
        .await?
        .into_iter()
        .map(|(user, changes)| AuthorWaiting { user, changes })
        .collect();
        Ok(SyncStatus {
            waiting_for_author,
            server_url: self.meta_value("sync_server_url").await?,
            last_sync_at: self.meta_value("last_sync_at").await?,
            last_error: self.meta_value("last_sync_error").await?,
            pending_changes: self.pending_changes().await?,
            cursor: self
                .meta_value("sync_cursor")
                .await?
                .and_then(|c| c.parse().ok()),
            quarantined,
        })
    }

    /// Reads a value of the meta table.
    pub(crate) async fn meta_value(&self, key: &str) -> crate::Result<Option<String>> {
        self.store().meta(key).await
    }

    /// Writes (or with `None` removes) a value of the meta table.
    pub async fn set_meta(&self, key: &str, value: Option<&str>) -> crate::Result<()> {
        let mut tx = self.store().begin_write().await?;
        write_meta(&mut tx, &[(key, value.map(str::to_string))]).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn write_meta(
    tx: &mut sqlx::SqliteConnection,
    meta: &[(&str, Option<String>)],
) -> crate::Result<()> {
    for (key, value) in meta {
        match value {
            Some(v) => {
                sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                    .bind(key)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query("DELETE FROM meta WHERE key = ?")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn quarantine_one(
    tx: &mut sqlx::SqliteConnection,
    entry: &OutboxEntry,
    reason: &str,
    message: &str,
    at: &str,
) -> crate::Result<()> {
    sqlx::query(
        "INSERT INTO quarantine (change_hash, person_id, change, reason, message, quarantined_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (change_hash) DO NOTHING",
    )
    .bind(&entry.change_hash)
    .bind(entry.person_id.to_string())
    .bind(&entry.change)
    .bind(reason)
    .bind(message)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM outbox WHERE change_hash = ?")
        .bind(&entry.change_hash)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod transport_tests {
    use super::*;

    #[test]
    fn plain_http_reaches_only_this_machine_unless_a_lab_asks() {
        for ok in [
            "https://tiemchung.hcm.gov.vn",
            "https://10.0.0.5:8787/",
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "http://[::1]:8787",
        ] {
            assert!(check_server_address(ok).is_ok(), "{ok}");
        }
        for (refused, code) in [
            ("http://10.0.0.5:8787", "insecure_transport"),
            ("http://tiemchung.hcm.gov.vn", "insecure_transport"),
            ("ftp://10.0.0.5", "bad_address"),
            ("may-chu-huyen:8787", "bad_address"),
            ("", "bad_address"),
        ] {
            let err = check_server_address(refused).expect_err(refused);
            assert_eq!(err.code(), code, "{refused}");
        }
        let err = check_server_address("http://10.0.0.5:8787").expect_err("clear");
        assert!(err.to_string().contains("https://"), "{err}");
        allow_insecure_http(true);
        let lab = check_server_address("http://10.0.0.5:8787");
        allow_insecure_http(false);
        assert!(lab.is_ok(), "--insecure-http");
    }
}
