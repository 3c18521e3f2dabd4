//! `sotiem-server`: the central server and its administration commands.
//!
//! Longer than most files on purpose: it is the clap tree of every command with its help text,
//! and one match that hands each to the library (`admin`, `accounts`, `admin_audit`, `registry`,
//! `Server`) in a few lines; no rule lives here.

use clap::{Parser, Subcommand};
use sotiem_server::admin::{self, FacilityRecord};
use sotiem_server::admin_audit::{Actor, ChainCheck, Refused};
use sotiem_server::{Db, Server};
use std::net::SocketAddr;
use std::path::PathBuf;
use sync_protocol::audit::FieldChange;

// Validation allocates heavily across threads; mimalloc keeps ingest fast (see BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sotiem-server",
    version,
    about = "Máy chủ trung tâm Sổ Tiêm: đồng bộ dữ liệu tiêm chủng của các trạm"
)]
struct Cli {
    /// Storage: a path or sqlite://PATH for the embedded SQLite file (the default), or a
    /// postgres:// URL.
    #[arg(
        long,
        env = "SOTIEM_SERVER_DB",
        global = true,
        default_value = "sotiem-server.db"
    )]
    db: String,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Where published app packages are kept (default: beside an SQLite file, `FILE.updates`;
    /// `sotiem-updates` for PostgreSQL).
    #[arg(long, env = "SOTIEM_UPDATES_DIR", global = true)]
    updates_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the API.
    Serve {
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
    },
    /// Vaccine passports: issue now, list, show a person's, revoke, runs, the trust list.
    #[command(subcommand)]
    Passports(PassportCommand),
    /// Which stations have gone quiet: every facility (of a province) with its devices and when
    /// each last reached the server, those silent longer than --silent-days first.
    Stations {
        #[arg(long, default_value_t = 3)]
        silent_days: i64,
        #[arg(long)]
        province: Option<String>,
    },
    /// Reports for a district or a province: the daily report as .xlsx.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Citizens' complaints: the working days a province's facilities have to answer.
    #[command(subcommand)]
    Complaints(ComplaintsCommand),
    /// Facilities: add, list.
    #[command(subcommand)]
    Facility(FacilityCommand),
    /// Devices allowed to sync: add (prints the token), list, revoke, replace.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Updates of the desktop app the stations install from this server: publish, list,
    /// withdraw.
    #[command(subcommand)]
    Update(UpdateCommand),
    /// Accounts: add (with an initial password to change at first login), list, revoke, reset
    /// a password or an authenticator.
    #[command(subcommand)]
    Account(AccountCommand),
    /// The area a designated unit's signer signs for: add, remove, list.
    #[command(subcommand)]
    SignerScope(SignerScopeCommand),
    /// The login history (who, when, from which device, outcome).
    LoginEvents {
        #[arg(long)]
        username: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// The administrators' audit log: verify its hash chain, list its entries.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recomputes the whole chain and checks its daily anchors (signed by the document signer's
    /// key); exits with 2 and names the first broken entry or anchor if any was removed,
    /// inserted, edited or rewritten.
    Verify {
        /// The root certificate the anchors' signer must chain to (the passports' country
        /// signing CA), PEM or DER.
        #[arg(long, env = "SOTIEM_PASSPORT_ROOT")]
        passport_root: Option<PathBuf>,
    },
    /// Anchors the chain's head now with the document signer's key (the server does it daily at
    /// --passport-time when it has a signer).
    Anchor {
        #[command(flatten)]
        signer: PassportSignerArgs,
    },
    /// The daily anchors, oldest first (copy them off the server with --json).
    Anchors,
    /// The latest entries, newest first.
    List {
        /// Only those about one account (`account/nv.lan`) or facility (`facility/TYT-X`).
        #[arg(long)]
        entity: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        facility: String,
        /// vaccinator, signer, facility_admin, system_admin, district_officer (facility: a
        /// district centre), province_officer (facility: any of the province).
        #[arg(long)]
        role: String,
        #[arg(long)]
        full_name: String,
        #[arg(long)]
        gender: Option<String>,
        #[arg(long)]
        position: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// The initial password (must meet the policy; changed at first login). From the
        /// environment variable SOTIEM_INITIAL_PASSWORD when not given.
        #[arg(long, env = "SOTIEM_INITIAL_PASSWORD", hide_env_values = true)]
        password: String,
    },
    List {
        #[arg(long)]
        facility: Option<String>,
    },
    Revoke {
        username: String,
    },
    /// Gives an account a new initial password, changed at its next sign-in (the
    /// authenticator stays). Its sessions end; stations forget its offline copy.
    ResetPassword {
        username: String,
        /// From the environment variable SOTIEM_INITIAL_PASSWORD when not given.
        #[arg(long, env = "SOTIEM_INITIAL_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Clears an account's authenticator (a lost phone): its next sign-in enrols a new one.
    ResetAuthenticator {
        username: String,
    },
    /// Registers the organisation certificates a signer may sign with, issuer and serial read
    /// from the certificate files (replaces the registered ones; none clears them).
    Certificates {
        username: String,
        /// Certificate files (PEM or DER), one `--cert` each.
        #[arg(long = "cert")]
        certs: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SignerScopeCommand {
    /// Lets a signer of a unit the province designates (district health centre, CDC) sign the
    /// doses of these facilities too; the unit's stations then replicate those facilities' people.
    Add {
        username: String,
        #[arg(long = "facility", required = true)]
        facilities: Vec<String>,
    },
    /// Stops a signer signing for these facilities (the unit is sent their people no more).
    Remove {
        username: String,
        #[arg(long = "facility", required = true)]
        facilities: Vec<String>,
    },
    /// The facilities a signer signs for besides their own.
    List { username: String },
}

#[derive(Subcommand)]
enum FacilityCommand {
    Add {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "commune_station")]
        kind: String,
        #[arg(long)]
        province: Option<String>,
        #[arg(long)]
        commune: Option<String>,
        /// The facility a mobile team belongs to.
        #[arg(long)]
        parent: Option<String>,
    },
    List,
}

/// The document signer of vaccine passports: a key in an HSM (PKCS#11), never a key file. The
/// token's PIN comes from SOTIEM_PASSPORT_PIN only.
#[derive(clap::Args, Clone, Debug)]
struct PassportSignerArgs {
    /// The HSM's PKCS#11 module.
    #[arg(long, env = "SOTIEM_PASSPORT_MODULE")]
    passport_module: Option<PathBuf>,
    /// The label of the token holding the document signer's key.
    #[arg(long, env = "SOTIEM_PASSPORT_TOKEN")]
    passport_token: Option<String>,
    /// The object id (hex) of the key and its certificate on the token.
    #[arg(long, env = "SOTIEM_PASSPORT_KEY_ID")]
    passport_key_id: Option<String>,
    /// The root (country signing CA) certificate that issued the signer's, PEM or DER.
    #[arg(long, env = "SOTIEM_PASSPORT_ROOT")]
    passport_root: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ComplaintsCommand {
    /// Sets how many working days the facilities of a province have to answer a complaint
    /// (default 2; weekends and public holidays do not count).
    Deadline {
        #[arg(long)]
        province: String,
        #[arg(long)]
        days: u32,
    },
    /// Files a complaint received by phone or on paper: the public form's fields as a JSON
    /// object (full_name, birth_date, phone, id_number, facility, kind, vaccine,
    /// vaccinated_on, place, description), checked as the public form checks them. Prints the
    /// tracking code for the citizen.
    File {
        /// The JSON file (`-` reads standard input).
        form: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// The daily report of an area (doses, first doses, people, voided, signed per facility,
    /// and by vaccine) for one day: printed, and written as .xlsx with --out.
    Daily {
        /// A district centre's code (the facilities it signs for) or a province's name.
        #[arg(long)]
        area: String,
        /// The day, yyyy-mm-dd (Vietnam time); today when not given.
        #[arg(long)]
        day: Option<String>,
        /// The .xlsx file to write.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PassportCommand {
    /// Runs the end-of-day issuance now: issues, re-issues and revokes, then signs a new
    /// trust list.
    Issue {
        #[command(flatten)]
        signer: PassportSignerArgs,
    },
    /// The latest passports issued or revoked.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// A person's passports (by person id), newest first.
    Show { person_id: String },
    /// Revokes a passport by hand (its UVCI), with the reason; re-signs the trust list when a
    /// signer is configured (else the next run does).
    Revoke {
        uvci: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        signer: PassportSignerArgs,
    },
    /// The latest end-of-day runs.
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Writes the newest signed trust list (COSE) to a file, for verifiers outside the network.
    TrustList {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum UpdateCommand {
    /// Publishes a package built and signed with the release key (`tauri signer sign
    /// --app-version VERSION FILE` writes FILE.sig).
    Publish {
        #[arg(long)]
        version: String,
        /// linux-x86_64, windows-x86_64, …
        #[arg(long)]
        platform: String,
        #[arg(long)]
        file: PathBuf,
        /// The signature file (default: FILE.sig).
        #[arg(long)]
        signature: Option<PathBuf>,
        /// What changed, shown to the nurse before installing.
        #[arg(long)]
        notes: Option<String>,
        /// The app's release public key (as in the app's build): the package is refused unless
        /// its signature verifies with it.
        #[arg(long, env = "SOTIEM_UPDATE_PUBKEY")]
        pubkey: Option<String>,
    },
    /// The published releases, newest first.
    List,
    /// Stops offering a release.
    Withdraw {
        #[arg(long)]
        version: String,
        #[arg(long)]
        platform: String,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    Add {
        #[arg(long)]
        facility: String,
        #[arg(long)]
        name: String,
    },
    List,
    Revoke {
        id: String,
    },
    /// Registers a new laptop as the replacement of a lost or broken one (rebuilt from its
    /// backup with `sotiem restore`): it may push what the old one left unsynced; the old
    /// device's token stops working.
    Replace {
        /// The old device's id (`device list`).
        id: String,
        #[arg(long)]
        name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let db = Db::open(&cli.db).await?;
    let result = run(&cli, &db).await;
    db.close().await;
    result
}

async fn run(cli: &Cli, db: &Db) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve {
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
        } => {
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
                    sotiem_server::passports::publish_trust_list(
                        db,
                        &issuer,
                        server.state.clock.now(),
                    )
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
        }
        Command::Passports(command) => passports(cli, db, command).await?,
        Command::Stations {
            silent_days,
            province,
        } => {
            let list = sotiem_server::stations::contacts(
                db,
                time::OffsetDateTime::now_utc(),
                *silent_days,
                province.as_deref(),
            )
            .await?;
            print(cli.json, &list, || {
                let silent = list.iter().filter(|c| c.silent).count();
                let mut lines = vec![format!(
                    "{silent} trong {} thiết bị/cơ sở im lặng quá {silent_days} ngày (hoặc chưa từng đồng bộ)",
                    list.len()
                )];
                lines.extend(list.iter().map(|c| {
                    format!(
                        "{}\t{} — {}\t{}\t{}\t{}",
                        if c.silent { "IM LẶNG" } else { "ổn" },
                        c.facility,
                        c.facility_name,
                        c.device_name.as_deref().unwrap_or("(chưa có thiết bị)"),
                        match (&c.last_seen_at, c.silent_days) {
                            (Some(at), Some(d)) => format!("lần cuối {at} ({d} ngày)"),
                            _ => "chưa từng đồng bộ".into(),
                        },
                        match c.waiting_changes {
                            Some(n) => format!("{n} thay đổi chờ gửi"),
                            None => "chưa báo số chờ gửi".into(),
                        }
                    )
                }));
                lines.join("\n")
            });
        }
        Command::Complaints(ComplaintsCommand::Deadline { province, days }) => {
            if !(1..=30).contains(days) {
                anyhow::bail!("số ngày làm việc phải từ 1 đến 30");
            }
            sotiem_server::complaints::ComplaintStore::new(db.clone())
                .set_working_days(province, *days)
                .await?;
            sotiem_server::admin_audit::append(
                db,
                &Actor::command_line(),
                "complaint_deadline",
                province,
                vec![sotiem_server::admin_audit::change(
                    "working_days",
                    None,
                    Some(&days.to_string()),
                )],
            )
            .await?;
            println!("Phản ánh ở {province}: trả lời trong {days} ngày làm việc");
        }
        Command::Complaints(ComplaintsCommand::File { form }) => {
            let text = if form.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                s
            } else {
                std::fs::read_to_string(form)
                    .map_err(|e| anyhow::anyhow!("không đọc được {}: {e}", form.display()))?
            };
            let form: sync_protocol::complaints::ComplaintForm = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("tệp phản ánh không phải JSON của biểu mẫu: {e}"))?;
            let facilities = sotiem_server::scope::Facilities::load(db).await?;
            let now = sync_protocol::Clock::system().now();
            let checked = sync_protocol::complaints::check_form(
                &form,
                now.to_offset(sync_protocol::clock::VIETNAM).date(),
                |code| facilities.contains(code),
                &sync_protocol::vaccines::Catalogue::built_in(),
            )
            .map_err(|problems| {
                anyhow::anyhow!(
                    "phản ánh chưa hợp lệ: {}",
                    problems
                        .iter()
                        .map(|p| format!("{}: {}", p.field, p.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
            let filed = sotiem_server::complaints::ComplaintStore::new(db.clone())
                .file(&checked, &[], now, Some("command line"))
                .await?;
            println!(
                "Đã nhận phản ánh {} cho {}; hạn trả lời {}",
                filed.code, filed.facility_name, filed.deadline
            );
        }
        Command::Report(ReportCommand::Daily { area, day, out }) => {
            use sotiem_server::console::{self, Area, report};
            let area = match admin::facility(db, area).await? {
                Some(unit) => Area::district(db, &unit.code).await?,
                None => Area::province(db, area).await?,
            };
            let day = match day.as_deref() {
                Some(text) => console::parse_day(text)
                    .ok_or_else(|| console::ConsoleError::BadDay(text.to_string()))?,
                None => sync_protocol::Clock::system()
                    .now()
                    .to_offset(sync_protocol::clock::VIETNAM)
                    .date(),
            };
            let r = report::daily(db, &area, day).await?;
            if let Some(out) = out {
                let bytes = report::xlsx(&r)?;
                // Written whole beside the target, then moved: no half-written report.
                let partial = out.with_extension("xlsx.partial");
                std::fs::write(&partial, &bytes)?;
                std::fs::rename(&partial, out)?;
            }
            sotiem_server::admin_audit::append(
                db,
                &Actor::command_line(),
                "console_daily_report_download",
                &format!("{} {}", r.area, r.day),
                Vec::new(),
            )
            .await?;
            print(cli.json, &r, || {
                let mut lines = vec![format!(
                    "Báo cáo ngày {} — {}: {} mũi ({} mũi 1), {} người, {} mũi đã huỷ, {} mũi đã ký",
                    report::day_vn(&r.day),
                    r.area,
                    r.totals.doses,
                    r.totals.first_doses,
                    r.totals.people,
                    r.totals.voided,
                    r.totals.signed
                )];
                lines.extend(r.rows.iter().map(|row| {
                    format!(
                        "{}\t{}\t{} mũi\t{} người\t{} đã ký",
                        row.facility, row.name, row.doses, row.people, row.signed
                    )
                }));
                if let Some(out) = out {
                    lines.push(format!("Đã ghi {}", out.display()));
                }
                lines.join("\n")
            });
        }
        Command::Facility(FacilityCommand::Add {
            code,
            name,
            kind,
            province,
            commune,
            parent,
        }) => {
            let f = FacilityRecord {
                code: code.clone(),
                name: name.clone(),
                kind: kind.clone(),
                province: province.clone(),
                commune: commune.clone(),
                parent: parent.clone(),
            };
            audited(
                db,
                "facility_add",
                &format!("facility/{code}"),
                vec![change("name", None, Some(name))],
                admin::add_facility(db, &f),
            )
            .await?;
            print(cli.json, &f, || {
                format!("Đã thêm cơ sở {} — {}", f.code, f.name)
            });
        }
        Command::Facility(FacilityCommand::List) => {
            let list = admin::facilities(db).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|f| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            f.code,
                            f.kind,
                            f.name,
                            f.commune.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Device(DeviceCommand::Add { facility, name }) => {
            let d = audited(
                db,
                "device_add",
                &format!("facility/{facility}"),
                vec![change("device_name", None, Some(name))],
                admin::add_device(db, facility, name),
            )
            .await?;
            print(cli.json, &d, || {
                format!(
                    "Thiết bị {} của {}\nMã thiết bị (chỉ hiện một lần, nhập vào trạm bằng `sotiem sync --token`):\n{}",
                    d.device.id, d.device.facility, d.token
                )
            });
        }
        Command::Device(DeviceCommand::Replace { id, name }) => {
            let d = audited(
                db,
                "device_replace",
                &format!("device/{id}"),
                vec![change("device_name", None, Some(name))],
                admin::replace_device(db, id, name),
            )
            .await?;
            print(cli.json, &d, || {
                format!(
                    "Thiết bị {} của {} thay cho thiết bị {id} (đã thu hồi)\nMã thiết bị mới (chỉ hiện một lần, nhập vào `sotiem restore --token` trên máy mới):\n{}",
                    d.device.id, d.device.facility, d.token
                )
            });
        }
        Command::Update(UpdateCommand::Publish {
            version,
            platform,
            file,
            signature,
            notes,
            pubkey,
        }) => {
            let sig_path = signature.clone().unwrap_or_else(|| {
                let mut p = file.clone().into_os_string();
                p.push(".sig");
                PathBuf::from(p)
            });
            let sig = std::fs::read_to_string(&sig_path).map_err(|e| {
                anyhow::anyhow!("không đọc được chữ ký {}: {e}", sig_path.display())
            })?;
            if pubkey.is_none() {
                eprintln!(
                    "cảnh báo: không có --pubkey (SOTIEM_UPDATE_PUBKEY): chữ ký chỉ được kiểm tra trên máy trạm"
                );
            }
            let r = audited(
                db,
                "update_publish",
                &format!("release/{platform}/{version}"),
                vec![change("file", None, Some(&file.display().to_string()))],
                sotiem_server::releases::publish(
                    db,
                    &updates_dir(cli),
                    &sotiem_server::releases::NewRelease {
                        version,
                        platform,
                        package: file,
                        signature: &sig,
                        notes: notes.as_deref(),
                    },
                    pubkey.as_deref(),
                ),
            )
            .await?;
            print(cli.json, &r, || {
                format!(
                    "Đã phát hành {} cho {} ({} KB); các trạm sẽ được mời cập nhật",
                    r.version,
                    r.platform,
                    r.size / 1024
                )
            });
        }
        Command::Update(UpdateCommand::List) => {
            let list = sotiem_server::releases::list(db).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|r| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            r.version,
                            r.platform,
                            r.published_at,
                            if r.withdrawn_at.is_some() {
                                "đã rút"
                            } else {
                                "đang phát hành"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Update(UpdateCommand::Withdraw { version, platform }) => {
            audited(
                db,
                "update_withdraw",
                &format!("release/{platform}/{version}"),
                Vec::new(),
                sotiem_server::releases::withdraw(db, version, platform),
            )
            .await?;
            print(cli.json, &serde_json::json!({"withdrawn": version}), || {
                format!("Đã rút bản {version} cho {platform}")
            });
        }
        Command::Device(DeviceCommand::List) => {
            let list = admin::devices(db).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|d| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            d.id,
                            d.facility,
                            d.name,
                            if d.revoked_at.is_some() {
                                "đã thu hồi"
                            } else {
                                "đang dùng"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Account(AccountCommand::Add {
            username,
            facility,
            role,
            full_name,
            gender,
            position,
            email,
            phone,
            password,
        }) => {
            let role = sync_protocol::auth::Role::parse(role).ok_or_else(|| {
                anyhow::anyhow!(
                    "vai trò phải là vaccinator, signer, facility_admin hoặc system_admin"
                )
            })?;
            let info = audited(
                db,
                "account_create",
                &format!("account/{}", username.trim().to_lowercase()),
                vec![
                    change("facility", None, Some(facility)),
                    change("role", None, Some(role.as_str())),
                ],
                sotiem_server::accounts::create_account(
                    db,
                    &sync_protocol::auth::NewAccount {
                        username: username.clone(),
                        facility: facility.clone(),
                        role,
                        full_name: full_name.clone(),
                        gender: gender.clone(),
                        position: position.clone(),
                        email: email.clone(),
                        phone: phone.clone(),
                        initial_password: password.clone(),
                    },
                ),
            )
            .await?;
            print(cli.json, &info, || {
                format!(
                    "Đã tạo tài khoản {} ({}) tại {}. Lần đăng nhập đầu: quét mã xác thực và đổi mật khẩu.",
                    info.username,
                    info.role.label(),
                    info.facility
                )
            });
        }
        Command::Account(AccountCommand::List { facility }) => {
            let list = sotiem_server::accounts::accounts(db, facility.as_deref()).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|a| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}",
                            a.username, a.facility, a.role, a.status, a.full_name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Account(AccountCommand::Revoke { username }) => {
            audited(
                db,
                "account_revoke",
                &format!("account/{username}"),
                Vec::new(),
                sotiem_server::accounts::revoke_account(db, username),
            )
            .await?;
            print(cli.json, &serde_json::json!({"revoked": username}), || {
                format!("Đã thu hồi tài khoản {username}")
            });
        }
        Command::Account(AccountCommand::Certificates { username, certs }) => {
            let mut registered = Vec::new();
            for path in certs {
                let bytes = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("không đọc được {}: {e}", path.display()))?;
                let der = sotiem_server::certificates::der_of(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let facts = sotiem_server::certificates::facts(&der)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                registered.push(facts.registration());
            }
            let serials: Vec<&str> = registered.iter().map(|c| c.serial.as_str()).collect();
            audited(
                db,
                "account_certificates",
                &format!("account/{username}"),
                vec![change("serials", None, Some(&serials.join(",")))],
                sotiem_server::accounts::set_certificates(db, username, &registered),
            )
            .await?;
            print(cli.json, &registered, || {
                registered
                    .iter()
                    .map(|c| format!("{}\t{}", c.serial, c.issuer))
                    .chain(std::iter::once(format!(
                        "Đã đăng ký {} chứng thư cho {username}",
                        registered.len()
                    )))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::SignerScope(SignerScopeCommand::Add {
            username,
            facilities,
        }) => {
            audited(
                db,
                "signer_scope_add",
                &format!("account/{username}"),
                vec![change("facilities", None, Some(&facilities.join(",")))],
                sotiem_server::signing::add_signer_scope(db, username, facilities),
            )
            .await?;
            let scope = sotiem_server::signing::signer_scope(db, username).await?;
            print(cli.json, &scope, || {
                format!("{username} ký được cho: {}", scope.join(", "))
            });
        }
        Command::SignerScope(SignerScopeCommand::Remove {
            username,
            facilities,
        }) => {
            audited(
                db,
                "signer_scope_remove",
                &format!("account/{username}"),
                vec![change("facilities", Some(&facilities.join(",")), None)],
                sotiem_server::signing::remove_signer_scope(db, username, facilities),
            )
            .await?;
            let scope = sotiem_server::signing::signer_scope(db, username).await?;
            print(cli.json, &scope, || {
                format!("{username} ký được cho: {}", scope.join(", "))
            });
        }
        Command::SignerScope(SignerScopeCommand::List { username }) => {
            let scope = sotiem_server::signing::signer_scope(db, username).await?;
            print(cli.json, &scope, || scope.join("\n"));
        }
        Command::LoginEvents { username, limit } => {
            let events =
                sotiem_server::accounts::login_events(db, username.as_deref(), *limit).await?;
            print(cli.json, &events, || {
                events
                    .iter()
                    .map(|e| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}",
                            e.at,
                            e.username,
                            e.outcome,
                            e.detail.as_deref().unwrap_or(""),
                            e.device_id.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Account(AccountCommand::ResetPassword { username, password }) => {
            audited(
                db,
                "account_reset_password",
                &format!("account/{username}"),
                Vec::new(),
                sotiem_server::accounts::reset_password(
                    db,
                    &sync_protocol::Clock::system(),
                    &sotiem_server::accounts::ResetBy::operator(),
                    username,
                    password,
                ),
            )
            .await?;
            print(
                cli.json,
                &serde_json::json!({"reset_password": username}),
                || {
                    format!(
                        "Đã đặt lại mật khẩu của {username}: lần đăng nhập tới phải đổi mật khẩu."
                    )
                },
            );
        }
        Command::Account(AccountCommand::ResetAuthenticator { username }) => {
            audited(
                db,
                "account_reset_authenticator",
                &format!("account/{username}"),
                Vec::new(),
                sotiem_server::accounts::reset_authenticator(
                    db,
                    &sync_protocol::Clock::system(),
                    &sotiem_server::accounts::ResetBy::operator(),
                    username,
                ),
            )
            .await?;
            print(
                cli.json,
                &serde_json::json!({"reset_authenticator": username}),
                || {
                    format!(
                        "Đã huỷ ứng dụng xác thực của {username}: lần đăng nhập tới sẽ đăng ký ứng dụng mới."
                    )
                },
            );
        }
        Command::Audit(AuditCommand::Verify { passport_root }) => {
            use sotiem_server::audit_anchors::AnchorCheck;
            let check = sotiem_server::admin_audit::verify(db).await?;
            let root = match passport_root {
                Some(path) => Some(sotiem_server::certificates::der_of(&std::fs::read(path)?)?),
                None => None,
            };
            let server_id = admin::server_id(db).await?;
            let anchors =
                sotiem_server::audit_anchors::verify(db, &server_id, root.as_deref()).await?;
            let both = serde_json::json!({ "chain": &check, "anchors": &anchors });
            print(cli.json, &both, || {
                let chain = match &check {
                    ChainCheck::Intact { entries } => {
                        format!("Nhật ký quản trị nguyên vẹn: {entries} mục.")
                    }
                    ChainCheck::Broken { seq, reason } => {
                        format!("Nhật ký quản trị bị phá tại mục {seq}: {reason}")
                    }
                };
                let anchored = match &anchors {
                    AnchorCheck::Intact {
                        anchors: 0,
                        last_day: _,
                    } => {
                        "Chưa có mốc ngày nào (máy chủ cần thiết bị ký hộ chiếu để ký mốc).".into()
                    }
                    AnchorCheck::Intact { anchors, last_day } => format!(
                        "{anchors} mốc ngày đúng chữ ký và khớp nhật ký (mốc cuối: {}).",
                        last_day.as_deref().unwrap_or("")
                    ),
                    AnchorCheck::Broken { day, reason } => {
                        format!("Mốc ngày {day} không khớp: {reason}")
                    }
                };
                format!("{chain}\n{anchored}")
            });
            if matches!(check, ChainCheck::Broken { .. })
                || matches!(anchors, AnchorCheck::Broken { .. })
            {
                std::process::exit(2);
            }
        }
        Command::Audit(AuditCommand::Anchor { signer }) => {
            let issuer = open_issuer(signer)?.ok_or_else(|| {
                anyhow::anyhow!("cần thiết bị ký hộ chiếu (--passport-module …) để ký mốc")
            })?;
            let server_id = admin::server_id(db).await?;
            let anchor = sotiem_server::audit_anchors::anchor(
                db,
                &issuer,
                &server_id,
                time::OffsetDateTime::now_utc(),
            )
            .await?;
            print(cli.json, &anchor, || {
                format!(
                    "Mốc ngày {}: mục {} (băm {}) đã được ký.",
                    anchor.day, anchor.seq, anchor.hash
                )
            });
        }
        Command::Audit(AuditCommand::Anchors) => {
            let list = sotiem_server::audit_anchors::anchors(db).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|a| format!("{}\t{}\t{}\t{}", a.day, a.seq, a.hash, a.signed_at))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Audit(AuditCommand::List { entity, limit }) => {
            let list = sotiem_server::admin_audit::entries(db, entity.as_deref(), *limit).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|e| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            e.seq, e.at, e.actor, e.origin, e.action, e.entity
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Device(DeviceCommand::Revoke { id }) => {
            audited(
                db,
                "device_revoke",
                &format!("device/{id}"),
                Vec::new(),
                admin::revoke_device(db, id),
            )
            .await?;
            print(cli.json, &serde_json::json!({"revoked": id}), || {
                format!("Đã thu hồi thiết bị {id}")
            });
        }
    }
    Ok(())
}

/// A field's change, for an audit entry.
/// Where published packages are kept: as configured, else beside an SQLite file.
fn updates_dir(cli: &Cli) -> PathBuf {
    if let Some(dir) = &cli.updates_dir {
        return dir.clone();
    }
    let db = cli.db.trim_start_matches("sqlite://");
    if cli.db.starts_with("postgres") {
        PathBuf::from("sotiem-updates")
    } else {
        let mut p = PathBuf::from(db).into_os_string();
        p.push(".updates");
        PathBuf::from(p)
    }
}

fn change(field: &str, before: Option<&str>, after: Option<&str>) -> FieldChange {
    sotiem_server::admin_audit::change(field, before, after)
}

/// Runs one administrative command with its entries in the administrators' log.
/// The passport signer configured by `args` and SOTIEM_PASSPORT_PIN, opened; `None` when no
/// module is named.
fn open_issuer(
    args: &PassportSignerArgs,
) -> anyhow::Result<Option<std::sync::Arc<sotiem_server::passports::Issuer>>> {
    let Some(module) = &args.passport_module else {
        return Ok(None);
    };
    let missing = |what: &str| anyhow::anyhow!("thiếu {what} cho thiết bị ký hộ chiếu");
    let config = sotiem_server::passports::SignerConfig {
        module: module.clone(),
        token_label: args
            .passport_token
            .clone()
            .ok_or_else(|| missing("--passport-token"))?,
        key_id: args
            .passport_key_id
            .clone()
            .ok_or_else(|| missing("--passport-key-id"))?,
        root: args
            .passport_root
            .clone()
            .ok_or_else(|| missing("--passport-root"))?,
        pin: std::env::var("SOTIEM_PASSPORT_PIN")
            .map_err(|_| missing("mã PIN (biến môi trường SOTIEM_PASSPORT_PIN)"))?,
    };
    let issuer = sotiem_server::passports::Issuer::open(&config, time::OffsetDateTime::now_utc())?;
    Ok(Some(std::sync::Arc::new(issuer)))
}

async fn passports(cli: &Cli, db: &Db, command: &PassportCommand) -> anyhow::Result<()> {
    use sotiem_server::passports as p;
    let now = time::OffsetDateTime::now_utc();
    match command {
        PassportCommand::Issue { signer } => {
            let issuer = open_issuer(signer)?.ok_or_else(|| {
                anyhow::anyhow!("cần thiết bị ký hộ chiếu: --passport-module, --passport-token, --passport-key-id, --passport-root")
            })?;
            let catalogue = sync_protocol::vaccines::Catalogue::built_in();
            let r = audited(
                db,
                "passports_issue",
                "passports",
                Vec::new(),
                p::run(db, &issuer, &catalogue, now),
            )
            .await?;
            print(cli.json, &r, || {
                format!(
                    "Lần cấp {} ngày {}: cấp mới {}, cấp lại {}, thu hồi {}, giữ nguyên {}",
                    r.id, r.day, r.issued, r.reissued, r.revoked, r.unchanged
                )
            });
        }
        PassportCommand::List { limit } => {
            let list = p::list(db, *limit).await?;
            print(cli.json, &list, || passport_lines(&list));
        }
        PassportCommand::Show { person_id } => {
            let list = p::of_person(db, person_id).await?;
            print(cli.json, &list, || {
                if list.is_empty() {
                    "Người này chưa có hộ chiếu vắc xin".into()
                } else {
                    passport_lines(&list)
                }
            });
        }
        PassportCommand::Revoke {
            uvci,
            reason,
            signer,
        } => {
            if reason.trim().chars().count() < 10 {
                anyhow::bail!("lý do thu hồi cần ít nhất 10 ký tự");
            }
            let record = audited(
                db,
                "passport_revoke",
                &format!("passport/{uvci}"),
                vec![change("revoked_reason", None, Some(reason))],
                p::revoke(db, uvci, reason.trim(), now),
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("không có hộ chiếu còn hiệu lực mang mã {uvci}"))?;
            match open_issuer(signer)? {
                Some(issuer) => {
                    p::publish_trust_list(db, &issuer, now).await?;
                }
                None => eprintln!(
                    "chưa cấu hình thiết bị ký: danh sách thu hồi sẽ được ký lại ở lần cấp tới"
                ),
            }
            print(cli.json, &record, || format!("Đã thu hồi {}", record.uvci));
        }
        PassportCommand::Runs { limit } => {
            let runs = p::runs(db, *limit).await?;
            print(cli.json, &runs, || {
                runs.iter()
                    .map(|r| {
                        format!(
                            "{}\t{}\t{}\tcấp mới {}\tcấp lại {}\tthu hồi {}\tgiữ nguyên {}",
                            r.id,
                            r.day,
                            r.finished_at.as_deref().unwrap_or("đang chạy"),
                            r.issued,
                            r.reissued,
                            r.revoked,
                            r.unchanged
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        PassportCommand::TrustList { out } => {
            let bytes = p::trust_list(db).await?;
            std::fs::write(out, &bytes)
                .map_err(|e| anyhow::anyhow!("không ghi được {}: {e}", out.display()))?;
            println!(
                "Đã ghi danh sách tin cậy ({} byte) vào {}",
                bytes.len(),
                out.display()
            );
        }
    }
    Ok(())
}

fn passport_lines(list: &[sync_protocol::wire::PassportRecord]) -> String {
    list.iter()
        .map(|r| {
            format!(
                "{}\t{}\t{}\t{}",
                r.uvci,
                r.person_id,
                r.issued_at,
                match &r.revoked_at {
                    Some(at) => format!(
                        "thu hồi {at} ({})",
                        r.revoked_reason.as_deref().unwrap_or("")
                    ),
                    None => format!("hiệu lực đến {}", r.expires_at),
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn audited<T, E>(
    db: &Db,
    action: &str,
    entity: &str,
    changes: Vec<FieldChange>,
    run: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let who = Actor::command_line();
    let why = |e: &E| e.to_string();
    sotiem_server::admin_audit::audited(db, &who, action, entity, changes, why, run)
        .await
        .map_err(|r| match r {
            Refused::Log(e) => anyhow::Error::from(e),
            Refused::Action(e) => anyhow::Error::from(e),
        })
}

fn print<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}
