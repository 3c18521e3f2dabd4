//! `sotiem`: the command-line face of a Sổ Tiêm station, over the `station` library.
//!
//! Exit status: 0 done, 2 bad input (nothing was written), 1 anything else.

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use station::{
    DoseInput, FacilityKind, NewStation, PersonEdit, PersonInput, SearchQuery, Station,
    StationError,
};
use std::path::PathBuf;
use std::process::ExitCode;
use sync_protocol::{IdentityKind, Person};
use uuid::Uuid;

mod render;

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
    /// The user recorded as making the changes (until accounts and sign-in exist).
    #[arg(long, env = "SOTIEM_USER", global = true)]
    user: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the encrypted data of a new station.
    Init {
        /// Facility code, e.g. TYT-TANNHUT.
        #[arg(long)]
        facility: String,
        /// Facility name, e.g. "Trạm Y tế xã Tân Nhựt".
        #[arg(long)]
        name: String,
        /// commune_station, hospital, private, mobile_team, district_centre, cdc.
        #[arg(long, default_value = "commune_station")]
        kind: String,
        #[arg(long)]
        province: Option<String>,
        #[arg(long)]
        commune: Option<String>,
    },
    /// People: register, edit, find, show.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Doses: record, void.
    #[command(subcommand)]
    Dose(DoseCommand),
    /// The vaccine catalogue.
    #[command(subcommand)]
    Vaccine(VaccineCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// What this station holds and what waits to be synced.
    Status,
    /// Checks that the local data is whole and consistent.
    Check,
    /// Syncs with the central server (or `sync status`).
    Sync(SyncArgs),
    /// Demo data: synthetic (not real) people and doses for trying the software.
    #[command(subcommand)]
    Demo(DemoCommand),
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SyncArgs {
    #[command(subcommand)]
    command: Option<SyncCommand>,
    /// The server's address, e.g. https://tiemchung.soyte.example (remembered after a sync).
    #[arg(long, env = "SOTIEM_SERVER")]
    server: Option<String>,
    /// The device token from the server administrator (kept in the OS credential store).
    #[arg(long, env = "SOTIEM_DEVICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// An extra trusted root certificate (PEM), for a server with a private CA.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Attempts before giving up while the connection keeps failing.
    #[arg(long, default_value_t = 6)]
    attempts: u32,
    /// Seconds before the first retry (doubling after each failure).
    #[arg(long, default_value_t = 1.0)]
    retry_delay: f64,
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Last sync, pending changes, quarantined changes with their reasons.
    Status,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Registers synthetic people with 0–3 doses each at this station.
    Seed {
        #[arg(long, default_value_t = 300)]
        people: usize,
        /// The same seed gives the same people.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum PersonCommand {
    /// Registers a person from typed details or from a CCCD QR code; prints the new id.
    Add(PersonAdd),
    /// Changes a person's details (only the options given).
    Edit(PersonEditArgs),
    /// Finds people by full name with a phone or an ID number.
    Find {
        #[arg(long)]
        name: String,
        #[arg(long, required_unless_present = "id")]
        phone: Option<String>,
        /// CCCD, CMND or passport number.
        #[arg(long)]
        id: Option<String>,
    },
    /// Shows a person's record with doses, conflicts and warnings.
    Show { id: Uuid },
}

#[derive(Args)]
struct IdentityArgs {
    /// Citizen identity card number (12 digits).
    #[arg(long, group = "identity")]
    cccd: Option<String>,
    /// Old identity card number (9 or 12 digits).
    #[arg(long, group = "identity")]
    cmnd: Option<String>,
    /// Passport number.
    #[arg(long, group = "identity")]
    passport: Option<String>,
}

impl IdentityArgs {
    fn kind_and_number(&self) -> (Option<IdentityKind>, Option<String>) {
        match (&self.cccd, &self.cmnd, &self.passport) {
            (Some(n), _, _) => (Some(IdentityKind::Cccd), Some(n.clone())),
            (_, Some(n), _) => (Some(IdentityKind::Cmnd), Some(n.clone())),
            (_, _, Some(n)) => (Some(IdentityKind::Passport), Some(n.clone())),
            _ => (None, None),
        }
    }
}

#[derive(Args)]
struct PersonAdd {
    /// The text of a CCCD QR code (`id|old_id|name|ddmmyyyy|gender|address|ddmmyyyy`).
    #[arg(long, conflicts_with_all = ["name", "gender", "dob", "cccd", "cmnd", "passport", "address"])]
    qr: Option<String>,
    /// Full name.
    #[arg(long, required_unless_present = "qr")]
    name: Option<String>,
    /// nam or nu.
    #[arg(long, required_unless_present = "qr")]
    gender: Option<String>,
    /// Date of birth: YYYY-MM-DD, DD/MM/YYYY or just YYYY.
    #[arg(long, required_unless_present = "qr")]
    dob: Option<String>,
    #[command(flatten)]
    identity: IdentityArgs,
    #[arg(long)]
    phone: Option<String>,
    /// Street address (house, hamlet).
    #[arg(long)]
    address: Option<String>,
    #[arg(long)]
    province: Option<String>,
    #[arg(long)]
    commune: Option<String>,
    /// ISO 3166 code; VN when not given.
    #[arg(long)]
    nationality: Option<String>,
    /// Health-insurance number.
    #[arg(long)]
    insurance: Option<String>,
}

#[derive(Args)]
struct PersonEditArgs {
    id: Uuid,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    gender: Option<String>,
    #[arg(long)]
    dob: Option<String>,
    #[command(flatten)]
    identity: IdentityArgs,
    /// Remove the identity document (the person has none).
    #[arg(long, group = "identity")]
    no_id: bool,
    /// New phone; an empty value removes it.
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    address: Option<String>,
    #[arg(long)]
    province: Option<String>,
    #[arg(long)]
    commune: Option<String>,
    #[arg(long)]
    nationality: Option<String>,
    #[arg(long)]
    insurance: Option<String>,
}

#[derive(Subcommand)]
enum DoseCommand {
    /// Records a dose; prints the new dose id.
    Add {
        #[arg(long)]
        person: Uuid,
        /// Catalogue code or name (see `sotiem vaccine list`).
        #[arg(long)]
        vaccine: String,
        #[arg(long)]
        lot: String,
        /// Dose number; the next one when not given.
        #[arg(long)]
        dose: Option<u8>,
        /// primary, booster or additional; from the vaccine's series when not given.
        #[arg(long)]
        kind: Option<String>,
        /// When it was given (RFC 3339, or "dd/mm/yyyy hh:mm" at +07:00); now when not given.
        #[arg(long)]
        at: Option<String>,
        /// Where (for mobile teams).
        #[arg(long)]
        place: Option<String>,
        /// Reactions after vaccination.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Voids a dose entered by mistake (doses are never deleted).
    Void {
        id: Uuid,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum VaccineCommand {
    /// Lists the vaccines of the catalogue.
    List,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Re-computes the hash chain of the audit log and reports the first break.
    Verify,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let input = matches!(
                e.downcast_ref::<StationError>(),
                Some(
                    StationError::Invalid(_)
                        | StationError::InvalidInput(_)
                        | StationError::SearchNeedsTwoFields
                )
            ) || matches!(
                e.downcast_ref::<station::SyncError>(),
                Some(station::SyncError::NotConfigured)
            );
            render::error(&e, json);
            ExitCode::from(if input { 2 } else { 1 })
        }
    }
}

async fn open(cli: &Cli) -> anyhow::Result<Station> {
    let mut station = Station::open(&cli.data).await?;
    let user = cli
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .unwrap_or_else(|| "local".into());
    station.set_operator(&user)?;
    Ok(station)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = render::Output { json: cli.json };
    if let Command::Init {
        facility,
        name,
        kind,
        province,
        commune,
    } = &cli.command
    {
        let kind = FacilityKind::parse(kind).map_err(StationError::from)?;
        let station = Station::init(
            &cli.data,
            NewStation {
                facility_code: facility.clone(),
                facility_name: name.clone(),
                kind,
                province: province.clone(),
                commune: commune.clone(),
            },
        )
        .await?;
        out.facility(station.facility(), station.store().descriptor());
        station.close().await;
        return Ok(());
    }
    let station = open(&cli).await?;
    let result = command(&cli, &station, &out).await;
    station.close().await;
    result
}

async fn command(cli: &Cli, station: &Station, out: &render::Output) -> anyhow::Result<()> {
    match &cli.command {
        // Handled in `run`, before a store exists.
        Command::Init { .. } => {}
        Command::Person(cmd) => person(station, cmd, out).await?,
        Command::Dose(cmd) => match cmd {
            DoseCommand::Add {
                person,
                vaccine,
                lot,
                dose,
                kind,
                at,
                place,
                notes,
            } => {
                let d = station
                    .record_dose(
                        *person,
                        DoseInput {
                            vaccine: vaccine.clone(),
                            lot: lot.clone(),
                            dose_number: *dose,
                            kind: kind.clone(),
                            given_at: at.clone(),
                            place: place.clone(),
                            reaction_notes: notes.clone(),
                        },
                    )
                    .await?;
                out.created(&d.id, &d);
            }
            DoseCommand::Void { id, reason } => {
                let d = station.void_dose(*id, reason).await?;
                out.created(&d.id, &d);
            }
        },
        Command::Vaccine(VaccineCommand::List) => out.vaccines(station.catalogue()),
        Command::Audit(AuditCommand::Verify) => {
            let mut conn = station.store().pool().acquire().await?;
            match station::audit::verify(&mut conn).await? {
                Ok(n) => out.audit_ok(n),
                Err(b) => {
                    out.audit_broken(&b);
                    anyhow::bail!(
                        "nhật ký kiểm tra bị sửa hoặc xoá tại mục {} ({})",
                        b.seq,
                        b.reason
                    );
                }
            }
        }
        Command::Check => {
            let problems = station.check_integrity().await?;
            out.check(&problems);
            if !problems.is_empty() {
                anyhow::bail!("dữ liệu của trạm có {} lỗi", problems.len());
            }
        }
        Command::Status => out.status(&station.status().await?),
        Command::Sync(args) => match args.command {
            Some(SyncCommand::Status) => out.sync_status(&station.sync_status().await?),
            None => sync(station, args, out).await?,
        },
        Command::Demo(DemoCommand::Seed { people, seed }) => {
            let mut g = sotiem_fixtures::Generator::new(*seed);
            let facility = station.facility().code.clone();
            let user = station.operator_name().unwrap_or("demo").to_string();
            let list: Vec<Person> = (0..*people)
                .map(|_| {
                    let doses = g.range(0..4);
                    g.person(&facility, &user, doses)
                })
                .collect();
            let n = station.import_people(&list).await?;
            out.seeded(n);
        }
    }
    Ok(())
}

async fn person(
    station: &Station,
    cmd: &PersonCommand,
    out: &render::Output,
) -> anyhow::Result<()> {
    match cmd {
        PersonCommand::Add(a) => {
            let p: Person = match &a.qr {
                Some(qr) => station.register_from_qr(qr, a.phone.as_deref()).await?,
                None => {
                    let (id_kind, id_number) = a.identity.kind_and_number();
                    station
                        .register_person(PersonInput {
                            full_name: a.name.clone().unwrap_or_default(),
                            gender: a.gender.clone().unwrap_or_default(),
                            birth_date: a.dob.clone().unwrap_or_default(),
                            id_kind,
                            id_number,
                            phone: a.phone.clone(),
                            province: a.province.clone(),
                            commune: a.commune.clone(),
                            address_detail: a.address.clone(),
                            nationality: a.nationality.clone(),
                            insurance_number: a.insurance.clone(),
                        })
                        .await?
                }
            };
            out.created(&p.id, &p);
        }
        PersonCommand::Edit(e) => {
            let (mut id_kind, id_number) = e.identity.kind_and_number();
            if e.no_id {
                id_kind = Some(IdentityKind::None);
            }
            let p = station
                .edit_person(
                    e.id,
                    PersonEdit {
                        full_name: e.name.clone(),
                        gender: e.gender.clone(),
                        birth_date: e.dob.clone(),
                        id_kind,
                        id_number,
                        phone: e.phone.clone(),
                        province: e.province.clone(),
                        commune: e.commune.clone(),
                        address_detail: e.address.clone(),
                        nationality: e.nationality.clone(),
                        insurance_number: e.insurance.clone(),
                    },
                )
                .await?;
            out.created(&p.id, &p);
        }
        PersonCommand::Find { name, phone, id } => {
            let found = station
                .find(&SearchQuery {
                    full_name: name.clone(),
                    phone: phone.clone(),
                    id_number: id.clone(),
                })
                .await?;
            out.found(&found);
        }
        PersonCommand::Show { id } => {
            let record = station.show(*id).await?;
            out.record(&record, station.catalogue());
        }
    }
    Ok(())
}

async fn sync(station: &Station, args: &SyncArgs, out: &render::Output) -> anyhow::Result<()> {
    use station::key::{self, KeySource};
    let store_id = station.store().descriptor().store_id.clone();
    let uses_keyring = station.store().descriptor().key_source == KeySource::Keyring;
    let server = match &args.server {
        Some(s) => s.clone(),
        None => station
            .sync_status()
            .await?
            .server_url
            .ok_or(station::SyncError::NotConfigured)?,
    };
    let token = match &args.token {
        Some(t) => {
            if uses_keyring && let Err(e) = key::save_secret(&store_id, "device-token", t) {
                eprintln!("Cảnh báo: không lưu được mã thiết bị vào kho khoá: {e}");
            }
            t.clone()
        }
        None if uses_keyring => {
            key::load_secret(&store_id, "device-token")?.ok_or(station::SyncError::NotConfigured)?
        }
        None => return Err(station::SyncError::NotConfigured.into()),
    };
    let ca = match &args.ca_cert {
        Some(p) => Some(
            std::fs::read(p).map_err(|e| anyhow::anyhow!("không đọc được {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let client = station::SyncClient::new(&server, &token, ca.as_deref())?;
    station.set_meta("sync_server_url", Some(&server)).await?;
    let policy = station::RetryPolicy {
        attempts: args.attempts.max(1),
        first_delay: std::time::Duration::from_secs_f64(args.retry_delay.max(0.0)),
        max_delay: std::time::Duration::from_secs(60),
    };
    let report = station.sync_with_retry(&client, &policy).await?;
    out.sync_report(&report);
    Ok(())
}

/// Prints a value as pretty JSON.
fn print_json<T: Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("lỗi: {e}"),
    }
}
