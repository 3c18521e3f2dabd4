//! `sotiem dose …`: record a dose, void one entered by mistake.

use crate::login;
use crate::render::Output;
use clap::Subcommand;
use station::{DoseInput, Station, StepUp};
use uuid::Uuid;

#[derive(Subcommand)]
pub enum DoseCommand {
    /// Records a dose; prints the new dose id.
    Add {
        #[arg(long)]
        person: Uuid,
        /// Product code or name: a routine programme product (bcg, 5in1, mr…) or a COVID-19
        /// vaccine (see `sotiem vaccine list`).
        #[arg(long)]
        vaccine: String,
        #[arg(long, default_value = "")]
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
        /// A dose given elsewhere, recorded as history (never this station's, never signed):
        /// where the record comes from — card, facility, private or abroad. Needs --place and
        /// --at; --lot may be empty.
        #[arg(long, requires_all = ["place", "at"])]
        elsewhere: Option<String>,
        /// Who gave a dose given elsewhere ("không rõ" when not given).
        #[arg(long, requires = "elsewhere")]
        vaccinator: Option<String>,
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

/// Runs a `sotiem dose` command.
pub async fn dose(station: &Station, cmd: &DoseCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        DoseCommand::Add {
            person,
            vaccine,
            lot,
            dose,
            kind,
            at,
            place,
            notes,
            elsewhere,
            vaccinator,
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
                        elsewhere: elsewhere.clone(),
                        vaccinator: vaccinator.clone(),
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
    }
    Ok(())
}
