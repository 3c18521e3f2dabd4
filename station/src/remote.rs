//! The HTTP client of one server as one device (and, once signed in, one user): addresses it
//! may use, requests, answers and errors.

use crate::error::StationError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use sync_protocol::wire::{self, ErrorBody, ServerInfo};

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

/// The station's HTTP client settings, for the server and any other service it calls (the SMS
/// gateway): a redirect is never followed (it would carry the device token, a session or the
/// families' phones elsewhere), ten seconds to connect, `timeout` for a whole request.
pub(crate) fn http_client(timeout: Duration) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .user_agent(concat!("sotiem/", env!("CARGO_PKG_VERSION")))
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
        let mut builder = http_client(Duration::from_secs(120));
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

    /// The server's address, as checked when the client was made.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The `Authorization` value that names this device to the server (for the app's updater,
    /// which asks the same server with its own HTTP client).
    pub fn device_authorization(&self) -> String {
        format!("Bearer {}", self.token)
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

    /// `GET /api/v1/{path}` and the answer's bytes as they are (a signed trust list).
    pub async fn get_bytes(&self, path: &str) -> SyncResult<Vec<u8>> {
        let http = self.request(reqwest::Method::GET, path);
        Ok(self.exchange(http, Vec::new()).await?.to_vec())
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

/// A failed call to the server as the station reports it: refused with the server's reason,
/// or the server out of reach.
pub(crate) fn network_or(e: SyncError) -> StationError {
    match e {
        SyncError::Station(s) => s,
        SyncError::Server { code, message, .. } => StationError::AuthRefused { code, message },
        other => StationError::ServerUnavailable(other.to_string()),
    }
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
