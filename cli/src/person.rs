//! `sotiem person …`: register (typed, or from a CCCD QR code), edit, find, show, transfer.

use crate::login;
use crate::render::Output;
use clap::{Args, Subcommand};
use station::{PersonEdit, PersonInput, SearchQuery, Station, StepUp};
use sync_protocol::{IdentityKind, Person};
use uuid::Uuid;

#[derive(Subcommand)]
pub enum PersonCommand {
    /// Registers a person from typed details or from a CCCD QR code; prints the new id.
    Add(Box<PersonAdd>),
    /// Changes a person's details (only the options given).
    Edit(Box<PersonEditArgs>),
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
pub struct IdentityArgs {
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
pub struct PersonAdd {
    /// The text of a CCCD QR code (`id|old_id|name|ddmmyyyy|gender|address|ddmmyyyy`).
    #[arg(long, conflicts_with_all = ["name", "gender", "dob", "cccd", "cmnd", "passport", "address"])]
    qr: Option<String>,
    /// Full name. A newborn without a name yet: leave it out and give --caregiver-name (the
    /// child is registered as "Con bà …").
    #[arg(long, required_unless_present_any = ["qr", "caregiver_name"])]
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
    #[command(flatten)]
    child: ChildArgs,
}

/// Where a child lives and who looks after them.
#[derive(Args)]
pub struct ChildArgs {
    /// Thôn / ấp / bản / tổ dân phố (what session days and due lists go by).
    #[arg(long)]
    hamlet: Option<String>,
    /// The mother's or caregiver's full name.
    #[arg(long)]
    caregiver_name: Option<String>,
    /// The caregiver's phone (a child is found by it with the child's or caregiver's name).
    #[arg(long)]
    caregiver_phone: Option<String>,
    /// mẹ, bố, bà…
    #[arg(long)]
    caregiver_relation: Option<String>,
}

#[derive(Args)]
pub struct PersonEditArgs {
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
    /// Changes to the hamlet and caregiver (an empty --caregiver-name removes the caregiver).
    #[command(flatten)]
    child: ChildArgs,
    /// A fresh one-time code: needed to change the name, date of birth, ID number or address of
    /// a person another facility manages.
    #[arg(long, env = "SOTIEM_OTP", hide_env_values = true)]
    otp: Option<String>,
}

/// Runs a `sotiem person` command.
pub async fn person(station: &Station, cmd: &PersonCommand, out: &Output) -> anyhow::Result<()> {
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
                            hamlet: a.child.hamlet.clone(),
                            caregiver_name: a.child.caregiver_name.clone(),
                            caregiver_phone: a.child.caregiver_phone.clone(),
                            caregiver_relation: a.child.caregiver_relation.clone(),
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
                        hamlet: e.child.hamlet.clone(),
                        caregiver_name: e.child.caregiver_name.clone(),
                        caregiver_phone: e.child.caregiver_phone.clone(),
                        caregiver_relation: e.child.caregiver_relation.clone(),
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
