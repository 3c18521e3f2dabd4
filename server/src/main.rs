//! `sotiem-server`: the central server and its administration commands.

use clap::{Parser, Subcommand};
use sotiem_server::admin::{self, FacilityRecord};
use sotiem_server::{Db, Server};
use std::net::SocketAddr;
use std::path::PathBuf;

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
    },
    /// Facilities: add, list.
    #[command(subcommand)]
    Facility(FacilityCommand),
    /// Devices allowed to sync: add (prints the token), list, revoke.
    #[command(subcommand)]
    Device(DeviceCommand),
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
        } => {
            let server = Server::start(db.clone()).await?;
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
            admin::add_facility(db, &f).await?;
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
            let d = admin::add_device(db, facility, name).await?;
            print(cli.json, &d, || {
                format!(
                    "Thiết bị {} của {}\nMã thiết bị (chỉ hiện một lần, nhập vào trạm bằng `sotiem sync --token`):\n{}",
                    d.device.id, d.device.facility, d.token
                )
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
        Command::Device(DeviceCommand::Revoke { id }) => {
            admin::revoke_device(db, id).await?;
            print(cli.json, &serde_json::json!({"revoked": id}), || {
                format!("Đã thu hồi thiết bị {id}")
            });
        }
    }
    Ok(())
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
