//! `sotiem`: the command-line face of a Sổ Tiêm station, over the `station` library.
//!
//! Exit status: 0 done, 2 bad input (nothing was written), 1 anything else.
//!
//! Longer than most files on purpose: the clap tree of every command with its help text and the
//! dispatch to `station`; the longer commands live beside it (`login`, `sign`, `cleaning`,
//! `staff`, `render`) and no rule lives here.

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use station::{
    DoseInput, FacilityKind, NewStation, PersonEdit, PersonInput, SearchQuery, Station,
    StationError, StepUp,
};
use std::path::PathBuf;
use std::process::ExitCode;
use sync_protocol::{IdentityKind, Person};
use uuid::Uuid;

mod backup;
mod cleaning;
mod complaint;
mod login;
mod passport;
mod render;
mod sign;
mod staff;

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
    /// Sets up a new station from the central server: the device token from the administrator
    /// says which facility this laptop belongs to.
    Join(Connection),
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
    /// Signs in (online against the server when it answers, else offline on this laptop).
    /// Password and code are asked for, or read from SOTIEM_PASSWORD and SOTIEM_OTP.
    Login(LoginArgs),
    /// Signs out.
    Logout,
    /// Who is signed in.
    Whoami,
    /// Changes the signed-in user's password (online). Old password, code and new password are
    /// asked for, or read from SOTIEM_PASSWORD, SOTIEM_OTP and SOTIEM_NEW_PASSWORD.
    Password(Connection),
    /// Syncs with the central server (or `sync status`).
    Sync(SyncArgs),
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
    Demo(DemoCommand),
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

/// How to reach the central server.
#[derive(Args, Clone)]
struct Connection {
    /// The server's address, e.g. https://tiemchung.soyte.example (remembered).
    #[arg(long, env = "SOTIEM_SERVER")]
    server: Option<String>,
    /// The device token from the server administrator (kept in the OS credential store).
    #[arg(long, env = "SOTIEM_DEVICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// An extra trusted root certificate (PEM), for a server with a private CA.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
}

impl Connection {
    /// The server and device token earlier runs remembered.
    fn remembered() -> Connection {
        Connection {
            server: None,
            token: None,
            ca_cert: None,
        }
    }
}

#[derive(Args)]
struct LoginArgs {
    /// The account's username.
    #[arg(long, env = "SOTIEM_USER")]
    user: Option<String>,
    /// Confirm a first login's authenticator (the challenge the first step printed).
    #[arg(long, conflicts_with = "change_password")]
    enroll: Option<String>,
    /// Set a first login's new password (the challenge the previous step printed).
    #[arg(long)]
    change_password: Option<String>,
    /// Sign in on this laptop only, without trying the server.
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SyncArgs {
    #[command(subcommand)]
    command: Option<SyncCommand>,
    #[command(flatten)]
    connection: Connection,
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
    /// Records today's work for the demo: the next dose of people due for one, given now by the
    /// signed-in nurse, until today has `--doses` doses (none when it already has them).
    Today {
        #[arg(long, default_value_t = 12)]
        doses: usize,
    },
    /// Writes a synthetic police registry file (CSV) for the people `demo seed` makes with the
    /// same --people and --seed: most agree, some differ in a field, some are missing — for
    /// `sotiem-server serve --registry`.
    Registry {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 300)]
        people: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// The people `demo seed` registers (the same for the same count and seed).
fn demo_people(facility: &str, user: &str, people: usize, seed: u64) -> Vec<Person> {
    let mut g = sotiem_fixtures::Generator::new(seed);
    (0..people)
        .map(|_| {
            let doses = g.range(0..4);
            g.person(facility, user, doses)
        })
        .collect()
}

/// Gives people due for a dose their next one now (the vaccine and lot of their last), until
/// today has `doses` doses. Returns how many were recorded.
async fn demo_today(station: &Station, doses: usize) -> anyhow::Result<usize> {
    let today = sync_protocol::person::now().date();
    let done = usize::try_from(station.daily_report(today).await?.doses).unwrap_or(0);
    let wanted = doses.saturating_sub(done);
    if wanted == 0 {
        return Ok(0);
    }
    let due = station
        .data_list(
            &station::ListQuery {
                list: station::DataList::DueNextDose,
                commune: None,
                facility: None,
                due_by: None,
            },
            0,
            station::SCREEN_ROWS,
        )
        .await?;
    let mut recorded = 0;
    for row in &due.rows {
        if recorded == wanted {
            break;
        }
        let Some(last) = &row.dose else { continue };
        let input = station::DoseInput {
            vaccine: last.vaccine.clone(),
            lot: last.lot.clone(),
            dose_number: None,
            kind: None,
            given_at: None,
            place: None,
            reaction_notes: None,
        };
        match station.record_dose(row.person_id, input).await {
            Ok(_) => recorded += 1,
            // A series already complete, an interval not yet over: the next person.
            Err(e) if e.is_bad_input() || matches!(e, station::StationError::Rule(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(recorded)
}

/// A registry file for the demo people: every 12th has another spelling of the name, every
/// 20th is not in it; 500 other citizens of the commune fill it out.
fn write_demo_registry(path: &std::path::Path, people: usize, seed: u64) -> anyhow::Result<usize> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all("Số định danh,Số CMND cũ,Họ và tên,Giới tính,Ngày sinh\n".as_bytes())?;
    let mut line = |p: &Person, name: &str| -> std::io::Result<()> {
        let Some(id) = p
            .identity
            .number
            .as_deref()
            .filter(|_| p.identity.kind == IdentityKind::Cccd)
        else {
            return Ok(());
        };
        let gender = if p.gender == sync_protocol::Gender::Male {
            "Nam"
        } else {
            "Nữ"
        };
        writeln!(f, "{id},,{name},{gender},{}", p.birth_date)
    };
    let mut rows = 0;
    for (i, p) in demo_people("X", "demo", people, seed).iter().enumerate() {
        if i % 20 == 19 {
            continue;
        }
        let name = if i % 12 == 5 {
            format!("{} Thị", p.full_name)
        } else {
            p.full_name.clone()
        };
        line(p, &name)?;
        rows += 1;
    }
    for p in demo_people("X", "demo", 500, seed.wrapping_add(1_000)) {
        line(&p, &p.full_name)?;
        rows += 1;
    }
    f.flush()?;
    Ok(rows)
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
    /// Hands a person this facility manages over to another facility (its code).
    Transfer {
        id: Uuid,
        /// The code of the facility that manages the person from now on.
        #[arg(long)]
        to: String,
    },
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
    /// A fresh one-time code: needed to change the name, date of birth, ID number or address of
    /// a person another facility manages.
    #[arg(long, env = "SOTIEM_OTP", hide_env_values = true)]
    otp: Option<String>,
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
    /// Voids a dose entered by mistake (doses are never deleted). A signed dose needs a fresh
    /// one-time code (its passport is revoked at the next end-of-day run).
    Void {
        id: Uuid,
        #[arg(long)]
        reason: String,
        #[arg(long, env = "SOTIEM_OTP", hide_env_values = true)]
        otp: Option<String>,
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
    station::allow_insecure_http(cli.insecure_http);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
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
        out.facility(&station.facility(), station.store().descriptor());
        station.close().await;
        return Ok(());
    }
    if let Command::Demo(DemoCommand::Registry {
        out: path,
        people,
        seed,
    }) = &cli.command
    {
        let rows = write_demo_registry(path, *people, *seed)?;
        out.message(&format!(
            "Đã ghi {rows} dòng dữ liệu dân cư mẫu vào {}",
            path.display()
        ));
        return Ok(());
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
        let (Some(server), Some(token)) = (&c.server, &c.token) else {
            anyhow::bail!(
                "cần --server (địa chỉ máy chủ) và --token (mã thiết bị) để thiết lập trạm"
            );
        };
        let ca = login::read_ca(c)?;
        let station = Station::join(&cli.data, server, token, ca.as_deref()).await?;
        out.facility(&station.facility(), station.store().descriptor());
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
        Command::Init { .. } | Command::Join(_) | Command::Restore { .. } => {}
        Command::Backup(cmd) => backup::backup(station, cmd, out).await?,
        Command::Passport(cmd) => passport::passport(station, cmd, out).await?,
        Command::Complaint(cmd) => complaint::complaint(station, cmd, out).await?,
        Command::Person(cmd) => person(station, cmd, out).await?,
        Command::Sign(cmd) => sign::sign(station, cmd, out).await?,
        Command::List(cmd) => cleaning::list(station, cmd, out).await?,
        Command::Import(cmd) => cleaning::import(station, cmd, out).await?,
        Command::Duplicates(cmd) => cleaning::duplicates(station, cmd, out).await?,
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
            DoseCommand::Void { id, reason, otp } => {
                let client = match otp {
                    Some(_) => login::remembered_client(station).await,
                    None => None,
                };
                let step_up = otp.as_deref().map(|otp| StepUp {
                    otp,
                    server: client.as_ref(),
                });
                let d = station.void_dose_with(*id, reason, step_up).await?;
                out.created(&d.id, &d);
            }
        },
        Command::Vaccine(VaccineCommand::List) => out.vaccines(station.catalogue()),
        Command::Audit(AuditCommand::Verify) => {
            // Against the server's copy when it answers; else this laptop's alone, said so.
            let check = match login::remembered_client(station).await {
                Some(client) => match station.verify_audit_with_server(&client).await {
                    Ok(check) => check,
                    Err(e) if e.is_retryable() => {
                        out.message(&format!(
                            "Không hỏi được máy chủ ({e}): chỉ kiểm tra được bản trên máy này."
                        ));
                        station.verify_audit().await?
                    }
                    Err(e) => return Err(e.into()),
                },
                None => station.verify_audit().await?,
            };
            out.audit(&check);
            if let Some(b) = &check.problem {
                anyhow::bail!(
                    "nhật ký kiểm tra bị sửa hoặc xoá tại mục {} ({})",
                    b.seq,
                    b.reason
                );
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
            let facility = station.facility().code;
            let user = station
                .session()
                .map_or_else(|| "demo".to_string(), |s| s.username().to_string());
            let list = demo_people(&facility, &user, *people, *seed);
            let n = station.import_people(&list).await?;
            out.seeded(n);
        }
        Command::Demo(DemoCommand::Today { doses }) => {
            let n = demo_today(station, *doses).await?;
            out.recorded_today(n);
        }
        Command::Demo(DemoCommand::Registry { .. }) => {}
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
            // The server checks the code of an edit that needs one (another facility's person).
            let client = match &e.otp {
                Some(_) => login::remembered_client(station).await,
                None => None,
            };
            let step_up = e.otp.as_deref().map(|otp| StepUp {
                otp,
                server: client.as_ref(),
            });
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
                    step_up,
                )
                .await?;
            out.created(&p.id, &p);
        }
        PersonCommand::Transfer { id, to } => {
            let p = station.transfer_person(*id, to).await?;
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
    let client = login::client(station, &args.connection).await?;
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
