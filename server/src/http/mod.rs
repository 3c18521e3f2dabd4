//! The HTTP layer, and the only place axum is used: the shared state, the routes and their
//! handlers, extractors, the mapping of domain errors to answers, the limits on what the network
//! may do, and serving. The domain modules beside it (accounts, ingest, signing, …) return their
//! own errors and know nothing of HTTP.

pub mod api;
pub mod auth_api;
mod codec;
mod complaint_pages;
mod complaints;
mod console;
mod console_pages;
mod error;
mod extract;
mod page_headers;
mod passports;
mod routes;
mod state;
pub mod throttle;
mod updates;

pub use codec::JsonBody;
pub use error::ApiError;
pub use extract::{AuthedDevice, DataUser, User};
pub use routes::router;
pub use state::{AppState, PHOTO_SLOTS, parse_public_url};

use crate::{Db, Ingest, admin};

/// A server ready to serve: its database, ingest writer and router.
pub struct Server {
    pub state: AppState,
}

impl Server {
    /// Opens storage and starts the ingest writer, on the system's clock.
    pub async fn start(db: Db) -> anyhow::Result<Server> {
        Server::start_with_clock(db, sync_protocol::Clock::system()).await
    }

    /// Like [`Server::start`], reading time from `clock` (tests move it forward).
    pub async fn start_with_clock(db: Db, clock: sync_protocol::Clock) -> anyhow::Result<Server> {
        let server_id = admin::server_id(&db).await?;
        let ingest = Ingest::start(db.clone(), clock.clone()).await?;
        let mut state = AppState::new(db, ingest, server_id);
        state.clock = clock;
        Ok(Server { state })
    }

    /// The HTTP router.
    pub fn router(&self) -> axum::Router {
        router(self.state.clone())
    }

    /// Serves plain HTTP on `listener` until the future `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // With the peer's address: sign-in limits and the login history use it.
        let app = self
            .router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Serves HTTPS on `listener` with a PEM certificate chain and key.
    pub async fn serve_tls(
        self,
        listener: std::net::TcpListener,
        cert_pem: &std::path::Path,
        key_pem: &std::path::Path,
    ) -> anyhow::Result<()> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config =
            axum_server::tls_rustls::RustlsConfig::from_pem_file(cert_pem, key_pem).await?;
        listener.set_nonblocking(true)?;
        axum_server::from_tcp_rustls(listener, config)?
            .serve(
                self.router()
                    .into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await?;
        Ok(())
    }
}
