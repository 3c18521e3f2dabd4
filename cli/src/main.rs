//! `sotiem`: the command-line face of a Sổ Tiêm station, over the `station` library.
//!
//! Exit status: 0 done, 2 bad input (nothing was written), 1 anything else.
//!
//! Here: the clap tree of every command with its help text, and the dispatch to the module of
//! its noun (`person`, `dose`, `sync`, `demo`, `login`, `sign`, `cleaning`, `staff`, …), which
//! calls `station`; `render` prints. No rule lives here.

use clap::{Parser, Subcommand};
use login::Connection;
use serde::Serialize;
use station::{Station, StationError};
use std::path::PathBuf;
use std::process::ExitCode;

mod audit;
mod backup;
mod cleaning;
mod complaint;
mod demo;
mod dose;
mod login;
mod passport;
mod person;
mod programme;
mod render;
mod session;
mod setup;
mod sign;
mod staff;
mod sync;

#[derive(Parser)]
#[command(
    name = "sotiem",
    version,
    about = "Sổ Tiêm — ghi và tra cứu tiêm chủng tại trạm y tế, kể cả khi mất mạng"
)]
struct Cli {
    /// The station's data directory.
    #[arg(
        long,
        env = "SOTIEM_DATA",
        global = true,
        default_value = "./sotiem-data"
    )]
    data: PathBuf,
    /// Print results (and errors) as JSON on standard output.
    #[arg(long, global = true)]
    json: bool,
    /// Allow a plain http:// server address other than this machine (a lab only: passwords,
    /// codes and the device token would cross the network in clear).
    #[arg(long, global = true, env = "SOTIEM_INSECURE_HTTP")]
    insecure_http: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the encrypted data of a new station.
    Init(setup::InitArgs),
    /// Sets up a new station from the central server: the device token from the administrator
    /// says which facility this laptop belongs to.
    Join(Connection),
    /// People: register, edit, find, show.
    #[command(subcommand)]
    Person(person::PersonCommand),
    /// Doses: record, void.
    #[command(subcommand)]
    Dose(dose::DoseCommand),
    /// The products that can be recorded: the routine programme's (TCMR) and COVID-19's.
    #[command(subcommand)]
    Vaccine(VaccineCommand),
    /// The routine immunization schedule of a person: `schedule show PERSON [--date D]`.
    #[command(subcommand)]
    Schedule(programme::ScheduleCommand),
    /// Session days of the routine programme: `session plan --date D [--hamlet H] [--place P]`,
    /// `session list`, `session due ID`, `session slips ID --out FILE.pdf`, `session tally ID`,
    /// `session close ID`, `session defaulters [ID]`, `session trace ID --person P …`.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Who is due or overdue for a routine dose, by hamlet, with a phone to call.
    Due {
        /// The day of the session (YYYY-MM-DD or DD/MM/YYYY); today when not given.
        #[arg(long, value_parser = programme::parse_date)]
        date: Option<time::Date>,
        /// Only this hamlet / village (thôn, ấp, tổ dân phố), as registered.
        #[arg(long, alias = "hamlet")]
        village: Option<String>,
    },
    /// Coverage of a birth cohort among the children this station manages: per indicator
    /// (BCG, DPT-VGB-Hib 3, measles, fully immunized…) reached, on time, by 12 and 24 months.
    Coverage {
        /// The cohort: a year of birth (2025) or a month (2025-06, 06/2025).
        #[arg(long, value_parser = programme::parse_cohort)]
        cohort: sync_protocol::schedule::coverage::Cohort,
        /// The day to count on (YYYY-MM-DD or DD/MM/YYYY); today when not given.
        #[arg(long, value_parser = programme::parse_date)]
        date: Option<time::Date>,
    },
    /// The audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// What this station holds and what waits to be synced.
    Status,
    /// Checks that the local data is whole and consistent.
    Check,
    /// Signs in (online against the server when it answers, else offline on this laptop).
    /// Password and code are asked for, or read from SOTIEM_PASSWORD and SOTIEM_OTP.
    Login(login::LoginArgs),
    /// Signs out.
    Logout,
    /// Who is signed in.
    Whoami,
    /// Changes the signed-in user's password (online). Old password, code and new password are
    /// asked for, or read from SOTIEM_PASSWORD, SOTIEM_OTP and SOTIEM_NEW_PASSWORD.
    Password(Connection),
    /// Syncs with the central server (or `sync status`).
    Sync(sync::SyncArgs),
    /// Signing with the facility's USB token (heads of facility): `sign tokens`, `sign preview`,
    /// `sign run` (PIN from SOTIEM_PIN or asked), `sign list`, `sign export`.
    #[command(subcommand)]
    Sign(sign::SignCommand),
    /// Data-cleaning lists: `list show LIST`, `list export LIST --out FILE.xlsx` (fresh code
    /// from SOTIEM_OTP or asked). LIST: no_id, invalid_id, mismatched, unsigned_doses,
    /// due_next_dose.
    #[command(subcommand)]
    List(cleaning::ListCommand),
    /// The corrected list back from the police: `import preview FILE`, `import apply FILE
    /// --expect N` (fresh code from SOTIEM_OTP or asked).
    #[command(subcommand)]
    Import(cleaning::ImportCommand),
    /// People registered twice: `duplicates list`, `duplicates merge --keep ID --other ID`.
    #[command(subcommand)]
    Duplicates(cleaning::DuplicatesCommand),
    /// Demo data: synthetic (not real) people and doses for trying the software.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
    /// The station's accounts, run by its head (online): `staff list`, `staff add`, `staff
    /// revoke`, `staff reset-password`, `staff reset-authenticator`, `staff sign-ins USER`.
    #[command(subcommand)]
    Staff(staff::StaffCommand),
    /// The signed-in user's own sign-ins (online and offline, as the server knows them).
    SignIns,
    /// Encrypted backups: `backup passphrase` (head of facility), `backup folder DIR`, `backup
    /// now`, `backup daily`, `backup status`, `backup show FILE`.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Vaccine passports: `passport show PERSON`, `passport print PERSON --out FILE.pdf`,
    /// `passport verify HC1:…` (offline, with the trust list of the last sync).
    #[command(subcommand)]
    Passport(passport::PassportCommand),
    /// Citizens' complaints routed to this facility: `complaint list [--all]`, `complaint show
    /// ID|PA-…`, `complaint answer ID --resolved|--rejected --text … [--person ID]`, `complaint
    /// forward ID --to FACILITY --reason …`.
    #[command(subcommand)]
    Complaint(complaint::ComplaintCommand),
    /// Rebuilds this station from a backup on a new laptop (into an empty --data directory):
    /// the recovery passphrase (SOTIEM_RECOVERY_PASSPHRASE or asked) and the replacement device
    /// token from the administrator.
    Restore {
        file: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Subcommand)]
enum VaccineCommand {
    /// Lists the products that can be recorded today.
    List,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    station::allow_insecure_http(cli.insecure_http);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // The check was printed: a refused passport is a result, told apart by its status.
        Err(e) if e.downcast_ref::<passport::Refused>().is_some() => ExitCode::from(3),
        Err(e) => {
            let input = e
                .downcast_ref::<StationError>()
                .is_some_and(StationError::is_bad_input)
                || matches!(
                    e.downcast_ref::<station::SyncError>(),
                    Some(station::SyncError::NotConfigured)
                );
            render::error(&e, json);
            ExitCode::from(if input { 2 } else { 1 })
        }
    }
}

async fn open(cli: &Cli) -> anyhow::Result<Station> {
    let station = Station::open(&cli.data).await?;
    // The session a previous `sotiem login` opened, if it is still valid.
    station.resume_session().await?;
    Ok(station)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = render::Output { json: cli.json };
    if let Command::Init(args) = &cli.command {
        return setup::init(&cli.data, args, &out).await;
    }
    if let Command::Demo(demo::DemoCommand::Registry {
        out: path,
        people,
        seed,
    }) = &cli.command
    {
        return demo::registry(path, *people, *seed, &out);
    }
    if let Command::Restore { file, connection } = &cli.command {
        return backup::restore(&cli.data, file, connection, &out).await;
    }
    if let Command::Backup(backup::BackupCommand::Show { file }) = &cli.command {
        let header = station::backup::read_header(file)?;
        out.value(&header, backup::describe_header);
        return Ok(());
    }
    if let Command::Join(c) = &cli.command {
        return setup::join(&cli.data, c, &out).await;
    }
    let station = open(&cli).await?;
    let result = command(&cli, &station, &out).await;
    station.close().await;
    result
}

async fn command(cli: &Cli, station: &Station, out: &render::Output) -> anyhow::Result<()> {
    match &cli.command {
        Command::Login(args) => login::login(station, args, out).await?,
        Command::Logout => {
            let client = login::remembered_client(station).await;
            station.sign_out(client.as_ref()).await?;
            out.message("Đã đăng xuất.");
        }
        Command::Whoami => out.whoami(station.session().as_ref()),
        Command::Staff(cmd) => staff::staff(station, cmd, out).await?,
        Command::SignIns => staff::own_sign_ins(station, out).await?,
        Command::Password(connection) => login::change_password(station, connection, out).await?,
        // Handled in `run`, before a store exists.
        Command::Init(_) | Command::Join(_) | Command::Restore { .. } => {}
        Command::Backup(cmd) => backup::backup(station, cmd, out).await?,
        Command::Passport(cmd) => passport::passport(station, cmd, out).await?,
        Command::Complaint(cmd) => complaint::complaint(station, cmd, out).await?,
        Command::Person(cmd) => person::person(station, cmd, out).await?,
        Command::Sign(cmd) => sign::sign(station, cmd, out).await?,
        Command::List(cmd) => cleaning::list(station, cmd, out).await?,
        Command::Import(cmd) => cleaning::import(station, cmd, out).await?,
        Command::Duplicates(cmd) => cleaning::duplicates(station, cmd, out).await?,
        Command::Dose(cmd) => dose::dose(station, cmd, out).await?,
        Command::Vaccine(VaccineCommand::List) => {
            programme::vaccines(&station.vaccines(station.clock().now().date()), out)
        }
        Command::Schedule(cmd) => programme::schedule(station, cmd, out).await?,
        Command::Session(cmd) => session::session(station, cmd, out).await?,
        Command::Due { date, village } => {
            programme::due(station, *date, village.as_deref(), out).await?
        }
        Command::Coverage { cohort, date } => {
            programme::coverage(station, *cohort, *date, out).await?
        }
        Command::Audit(cmd) => audit::audit(station, cmd, out).await?,
        Command::Check => audit::check(station, out).await?,
        Command::Status => out.status(&station.status().await?),
        Command::Sync(args) => sync::sync(station, args, out).await?,
        Command::Demo(cmd) => demo::demo(station, cmd, out).await?,
    }
    Ok(())
}

/// Prints a value as pretty JSON.
fn print_json<T: Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("lỗi: {e}"),
    }
}
