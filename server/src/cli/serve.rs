//! `serve`: its options, and the server started with them.

use super::passports::{PassportSignerArgs, open_issuer};
use super::{Cli, updates_dir};
use clap::Args;
use sotiem_server::{Db, Server};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The options of `serve` (its help text is the `Serve` command's).
#[derive(Args)]
pub(crate) struct ServeArgs {
    #[arg(long, env = "SOTIEM_SERVER_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// PEM certificate chain, for HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key, for HTTPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The address stations reach this server at (for the update links it gives), when it
    /// is not the one in their requests (a reverse proxy).
    #[arg(long, env = "SOTIEM_PUBLIC_URL", value_parser = sotiem_server::http::parse_public_url)]
    public_url: Option<String>,
    /// A folder of extra trusted root certificates (.crt/.pem/.cer) for facility signatures,
    /// besides Vietnam's public roots built in.
    #[arg(long, env = "SOTIEM_TRUST_DIR")]
    trust_dir: Option<PathBuf>,
    /// A folder of the certification authorities' revocation lists (.crl/.pem/.der) that the
    /// administrator keeps current: read at every check, so a replaced CRL counts at once.
    /// Without it, revocation is not checked.
    #[arg(long, env = "SOTIEM_CRL_DIR")]
    crl_dir: Option<PathBuf>,
    /// The population registry file supplied by the police (CSV or .xlsx: Số định danh,
    /// Số CMND cũ, Họ và tên, Giới tính, Ngày sinh). People are verified against it; it is
    /// read again when replaced.
    #[arg(long, env = "SOTIEM_REGISTRY_FILE")]
    registry: Option<PathBuf>,
    /// Seconds between verification passes over newly registered or edited people.
    #[arg(long, env = "SOTIEM_VERIFY_EVERY", default_value_t = 60)]
    verify_every: u64,
    /// Serve plain HTTP on an address other than loopback (a lab only: passwords, codes and
    /// device tokens then cross the network in clear).
    #[arg(long, env = "SOTIEM_INSECURE_HTTP")]
    insecure_http: bool,
    /// Sign-in requests one address may send at once before it is slowed down.
    #[arg(long, env = "SOTIEM_SIGN_IN_BURST", default_value_t = 30)]
    sign_in_burst: u32,
    /// Milliseconds after which one more sign-in request is allowed to an address.
    #[arg(long, env = "SOTIEM_SIGN_IN_EVERY_MS", default_value_t = 1000)]
    sign_in_every_ms: u64,
    /// A reverse proxy in front of the server whose X-Forwarded-For names the client (its
    /// address; repeat, or comma-separated). None is trusted by default.
    #[arg(
        long = "trusted-proxy",
        env = "SOTIEM_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Zero bits the public complaint form's proof of work asks for (each one doubles the
    /// work: 20 takes a phone's browser about a second).
    #[arg(
        long,
        env = "SOTIEM_COMPLAINT_POW_BITS",
        default_value_t = sotiem_server::complaints::pow::DEFAULT_DIFFICULTY,
        value_parser = clap::value_parser!(u32).range(8..=26)
    )]
    complaint_pow_bits: u32,
    #[command(flatten)]
    passport_signer: PassportSignerArgs,
    /// When the end-of-day passport issuance runs (Vietnam time, HH:MM), with a signer.
    #[arg(long, env = "SOTIEM_PASSPORT_TIME", default_value = "22:00")]
    passport_time: String,
}

/// Starts the server with `args` and serves until interrupted.
pub(crate) async fn run(cli: &Cli, db: &Db, args: &ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listen,
        tls_cert,
        tls_key,
        public_url,
        trust_dir,
        crl_dir,
        registry,
        verify_every,
        insecure_http,
        sign_in_burst,
        sign_in_every_ms,
        trusted_proxies,
        complaint_pow_bits,
        passport_signer,
        passport_time,
    } = args;
    let tls = tls_cert.is_some() && tls_key.is_some();
    if let Err(refusal) =
        sotiem_server::http::throttle::check_transport(*listen, tls, *insecure_http)
    {
        anyhow::bail!(refusal);
    }
    let mut server = Server::start(db.clone()).await?;
    server.state.sign_in_limit = sotiem_server::http::throttle::SignInLimit {
        burst: (*sign_in_burst).max(1),
        every: std::time::Duration::from_millis((*sign_in_every_ms).max(1)),
    };
    server.state.trusted_proxies =
        sotiem_server::http::throttle::TrustedProxies::new(trusted_proxies.clone());
    server.state.updates_dir = updates_dir(cli);
    server.state.public_url = public_url.clone();
    server.state.pow = server.state.pow.with_difficulty(*complaint_pow_bits);
    server.state.https = tls;
    if let Some(path) = registry {
        tokio::spawn(sotiem_server::registry::watch(
            server.state.clone(),
            path.clone(),
            std::time::Duration::from_secs((*verify_every).max(1)),
        ));
    }
    if let Some(dir) = trust_dir {
        let n = server
            .state
            .trust
            .add_dir(dir)
            .map_err(anyhow::Error::msg)?;
        tracing::info!("{n} extra trusted roots from {}", dir.display());
    }
    match crl_dir {
        Some(dir) => {
            let n = server
                .state
                .trust
                .set_crl_dir(Some(dir))
                .map_err(anyhow::Error::msg)?;
            tracing::info!(
                "revocation checked against the CRLs of {} ({n} now)",
                dir.display()
            );
        }
        None => {
            tracing::warn!("no --crl-dir: revoked signer certificates are not detected")
        }
    }
    let at = time::Time::parse(
        passport_time.trim(),
        time::macros::format_description!("[hour]:[minute]"),
    )
    .map_err(|_| anyhow::anyhow!("--passport-time phải có dạng HH:MM, ví dụ 22:00"))?;
    match open_issuer(passport_signer)? {
        Some(issuer) => {
            sotiem_server::passports::publish_trust_list(db, &issuer, server.state.clock.now())
                .await?;
            tracing::info!("passports issued daily at {passport_time} by {:?}", issuer);
            tokio::spawn(sotiem_server::audit_anchors::daily(
                db.clone(),
                issuer.clone(),
                server.state.server_id.clone(),
                server.state.clock.clone(),
                at,
            ));
            tokio::spawn(sotiem_server::passports::daily(
                db.clone(),
                issuer,
                sync_protocol::vaccines::Catalogue::built_in(),
                server.state.clock.clone(),
                at,
            ));
        }
        None => tracing::warn!(
            "no passport signer (--passport-module …): vaccine passports are not issued"
        ),
    }
    tracing::info!("sotiem-server on {listen} ({} storage)", db.backend());
    match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => {
            let listener = std::net::TcpListener::bind(listen)?;
            println!("listening on https://{}", listener.local_addr()?);
            server.serve_tls(listener, cert, key).await?
        }
        _ => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            // Print the bound address (port 0 picks a free one) for scripts and tests.
            println!("listening on http://{}", listener.local_addr()?);
            server
                .serve(listener, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
        }
    }
    Ok(())
}
