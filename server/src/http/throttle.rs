//! What the network may do to the server: per-address limits on the routes anyone may call
//! without a session (sign-in: each costs an argon2 hash, so a flood from one address must not
//! starve the server or guess passwords at line speed; governor's GCRA through `tower_governor`
//! keeps one small cell per address), and plain HTTP only on loopback.

use super::error::ApiError;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;

/// How many sign-in requests one address may send: a burst, then one per `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimit {
    pub burst: u32,
    pub every: Duration,
}

impl Default for SignInLimit {
    /// A station's staff behind one address sign in at the start of a shift (a burst of 30); a
    /// guesser gets one try a second after that.
    fn default() -> Self {
        SignInLimit {
            burst: 30,
            every: Duration::from_secs(1),
        }
    }
}

/// The peer's address as the connection shows it (an IPv6 client's /64: `net::limit_key`).
/// Never a header: `x-forwarded-for` is whatever the client writes. Requests without connection
/// info (in-process callers) share one key.
#[derive(Debug, Clone, Copy)]
struct PeerAddress;

impl KeyExtractor for PeerAddress {
    type Key = Option<IpAddr>;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, tower_governor::GovernorError> {
        Ok(peer_address(req.extensions()).map(crate::net::limit_key))
    }
}

/// Reverse proxies in front of the server (nginx, a province's gateway): for a connection from
/// one of them, the client is the right-most address of `X-Forwarded-For` that is not a proxy.
/// Without this, every client behind a proxy would share its address: one limit and one lock
/// for all. No proxy is trusted unless configured (`serve --trusted-proxy`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Arc<Vec<IpAddr>>);

impl TrustedProxies {
    /// These addresses.
    pub fn new(addresses: Vec<IpAddr>) -> TrustedProxies {
        TrustedProxies(Arc::new(addresses))
    }

    /// The client a proxied request comes from, or none when the header is missing or
    /// unreadable (the proxy's own address then stands).
    fn client(&self, headers: &axum::http::HeaderMap) -> Option<IpAddr> {
        // Each proxy appends the address it saw; what lies further left is the client's claim.
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            for hop in value.to_str().ok()?.split(',') {
                hops.push(hop.trim().parse::<IpAddr>().ok()?);
            }
        }
        hops.into_iter().rev().find(|ip| !self.0.contains(ip))
    }
}

/// Replaces the connection's peer with the client a trusted proxy names, so that the sign-in
/// limits, the per-address locks and the login history see the client.
pub async fn client_behind_proxy(
    axum::extract::State(proxies): axum::extract::State<TrustedProxies>,
    mut req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
        && proxies.0.contains(&peer.ip())
        && let Some(client) = proxies.client(req.headers())
    {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
    }
    next.run(req).await
}

/// The peer address of a request whose server was started with connection info.
pub fn peer_address(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// `routes` limited per address (refused in the API's JSON shape); quiet addresses are
/// forgotten once a minute.
pub fn limit_per_address<S: Clone + Send + Sync + 'static>(
    routes: axum::Router<S>,
    limit: SignInLimit,
) -> axum::Router<S> {
    limit_per_address_with(routes, limit, too_many)
}

/// Like [`limit_per_address`], refused with `refusal(seconds to wait)` (a page for a browser).
pub fn limit_per_address_with<S: Clone + Send + Sync + 'static>(
    routes: axum::Router<S>,
    limit: SignInLimit,
    refusal: fn(u64) -> Response,
) -> axum::Router<S> {
    // Both values are above zero, so the builder always yields a configuration.
    let config = Arc::new(
        GovernorConfigBuilder::default()
            .key_extractor(PeerAddress)
            .period(limit.every.max(Duration::from_millis(1)))
            .burst_size(limit.burst.max(1))
            .finish()
            .unwrap_or_else(|| unreachable!("a burst and a period above zero are valid")),
    );
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let weak = Arc::downgrade(&config);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(config) = weak.upgrade() else { break };
                config.limiter().retain_recent();
            }
        });
    }
    routes.layer(GovernorLayer::new(config).error_handler(
        move |error: tower_governor::GovernorError| {
            let wait = match &error {
                tower_governor::GovernorError::TooManyRequests { wait_time, .. } => *wait_time,
                _ => 1,
            }
            .max(1);
            let mut response = refusal(wait);
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        },
    ))
}

/// A refusal in the API's own error shape.
fn too_many(wait: u64) -> Response {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!("quá nhiều yêu cầu từ địa chỉ này; thử lại sau {wait} giây"),
    )
    .into_response()
}

/// Plain HTTP is for loopback (a station and its server on one machine, a reverse proxy on the
/// same host); on any other address passwords, codes and device tokens would cross the network
/// in clear, so the server refuses to start unless TLS is configured or `insecure` is asked for.
pub fn check_transport(listen: SocketAddr, tls: bool, insecure: bool) -> Result<(), String> {
    if tls || insecure || listen.ip().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "refusing to serve plain HTTP on {listen}: give --tls-cert and --tls-key (or, in a lab \
         only, --insecure-http); plain HTTP is served on loopback addresses only"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_right_most_address_no_proxy_added() {
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        let proxies = TrustedProxies::new(vec![proxy]);
        let headers = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
            h
        };
        let client = |v: &str| proxies.client(&headers(v)).map(|ip| ip.to_string());
        assert_eq!(client("203.0.113.7").as_deref(), Some("203.0.113.7"));
        // What the client wrote itself stays to the left of what the proxy saw.
        assert_eq!(
            client("198.51.100.1, 203.0.113.7").as_deref(),
            Some("203.0.113.7")
        );
        // A chain of trusted proxies is walked back to the client.
        assert_eq!(
            client("203.0.113.7, 10.0.0.5").as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(client("not an address"), None);
        assert_eq!(client("10.0.0.5"), None);
    }

    #[test]
    fn plain_http_is_served_on_loopback_only_unless_asked() {
        let public: SocketAddr = "0.0.0.0:8787".parse().expect("addr");
        let lan: SocketAddr = "192.168.1.10:8787".parse().expect("addr");
        let loopback: SocketAddr = "127.0.0.1:8787".parse().expect("addr");
        let loopback6: SocketAddr = "[::1]:8787".parse().expect("addr");
        assert!(check_transport(public, false, false).is_err());
        assert!(check_transport(lan, false, false).is_err());
        assert!(check_transport(loopback, false, false).is_ok());
        assert!(check_transport(loopback6, false, false).is_ok());
        assert!(check_transport(public, true, false).is_ok(), "with TLS");
        assert!(check_transport(lan, false, true).is_ok(), "--insecure-http");
    }
}
