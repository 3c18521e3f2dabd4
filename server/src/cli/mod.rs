//! The server's command line: `Cli`, the top `Command`, and `run`, which hands each to its noun.

use clap::{Parser, Subcommand};
use sotiem_server::Db;
use std::path::PathBuf;

mod accounts;
mod audit;
mod complaints;
mod devices;
mod facilities;
mod output;
mod passports;
mod reports;
mod serve;
mod updates;

use accounts::{AccountCommand, SignerScopeCommand};
use audit::AuditCommand;
use complaints::ComplaintsCommand;
use devices::DeviceCommand;
use facilities::FacilityCommand;
use passports::PassportCommand;
use reports::ReportCommand;
use serve::ServeArgs;
use updates::UpdateCommand;

// The `sotiem-server` command line (a `//` comment: a doc comment here would be clap's help).
#[derive(Parser)]
#[command(
    name = "sotiem-server",
    version,
    about = "Máy chủ trung tâm Sổ Tiêm: đồng bộ dữ liệu tiêm chủng của các trạm"
)]
pub(crate) struct Cli {
    /// Storage: a path or sqlite://PATH for the embedded SQLite file (the default), or a
    /// postgres:// URL.
    #[arg(
        long,
        env = "SOTIEM_SERVER_DB",
        global = true,
        default_value = "sotiem-server.db"
    )]
    pub(crate) db: String,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Where published app packages are kept (default: beside an SQLite file, `FILE.updates`;
    /// `sotiem-updates` for PostgreSQL).
    #[arg(long, env = "SOTIEM_UPDATES_DIR", global = true)]
    pub(crate) updates_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the API.
    Serve(ServeArgs),
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

/// Runs the parsed command against the opened storage.
pub(crate) async fn run(cli: &Cli, db: &Db) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => serve::run(cli, db, args).await,
        Command::Passports(command) => passports::run(cli, db, command).await,
        Command::Stations {
            silent_days,
            province,
        } => devices::stations(cli, db, silent_days, province).await,
        Command::Report(command) => reports::run(cli, db, command).await,
        Command::Complaints(command) => complaints::run(db, command).await,
        Command::Facility(command) => facilities::run(cli, db, command).await,
        Command::Device(command) => devices::run(cli, db, command).await,
        Command::Update(command) => updates::run(cli, db, command).await,
        Command::Account(command) => accounts::run(cli, db, command).await,
        Command::SignerScope(command) => accounts::signer_scope(cli, db, command).await,
        Command::LoginEvents { username, limit } => {
            accounts::login_events(cli, db, username, limit).await
        }
        Command::Audit(command) => audit::run(cli, db, command).await,
    }
}

/// Where published packages are kept: as configured, else beside an SQLite file.
pub(crate) fn updates_dir(cli: &Cli) -> PathBuf {
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
