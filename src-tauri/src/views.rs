//! What the shell sends the UI besides the station's own types: the app's state at a glance and
//! the steps of signing in. Secrets (session tokens, the TOTP secret once enrolled) never cross.

use serde::{Deserialize, Serialize};
use station::{Facility, SyncProgress, SyncReport, SyncStatus};
use sync_protocol::auth::Role;
use ts_rs::TS;

use crate::error::UiError;

/// The signed-in user as the UI shows them.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SessionView {
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub facility: String,
    /// Signed in against the server (else offline on the laptop, no sync until online again).
    pub online: bool,
    /// RFC 3339 at +07:00.
    pub expires_at: String,
    /// Whether the role may register people and record doses.
    pub writes_people: bool,
    /// Whether the role may see people's data at all (a system administrator may not).
    pub reads_people: bool,
    /// Resets of this account made by someone else that this laptop has not shown yet.
    pub reset_notices: Vec<sync_protocol::auth::ResetRecord>,
}

impl From<&station::Session> for SessionView {
    fn from(s: &station::Session) -> SessionView {
        SessionView {
            username: s.account.username.clone(),
            full_name: s.account.full_name.clone(),
            role: s.account.role,
            facility: s.account.facility.clone(),
            online: s.online,
            expires_at: s.expires_at.clone(),
            writes_people: s.role().writes_people(),
            reads_people: s.role().reads_people(),
            reset_notices: s.reset_notices.clone(),
        }
    }
}

/// Everything the always-visible bars need, polled by the UI.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AppStatus {
    pub version: String,
    /// No station on this laptop yet: show the first-run setup.
    pub setup_needed: bool,
    /// The station could not be opened (a wrong key, a damaged disk): nothing else works.
    pub fatal: Option<UiError>,
    /// The server address offered on the setup screen.
    pub default_server: Option<String>,
    pub facility: Option<Facility>,
    pub session: Option<SessionView>,
    /// Whether the server answered lately (`null`: not known yet or no server configured).
    pub online: Option<bool>,
    pub sync: Option<SyncStatus>,
    pub progress: SyncProgress,
    pub last_report: Option<SyncReport>,
    /// A newer version of the app the server offers (see the Account screen).
    pub update_available: Option<String>,
    /// Citizens' complaints waiting for an answer here (when the user reads people's data).
    pub complaints: Option<station::ComplaintCounts>,
}

/// The first-run form: the server's address and the device token from the administrator.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct SetupRequest {
    pub server_url: String,
    pub device_token: String,
}

/// First run on a new laptop from a backup of the old one: the file, its recovery passphrase,
/// and the server with the replacement device's token.
#[derive(Clone, Deserialize, TS)]
pub struct RestoreRequest {
    pub backup_file: String,
    pub passphrase: String,
    pub server_url: String,
    pub device_token: String,
}

/// The sign-in form.
#[derive(Clone, Deserialize, TS)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
    /// The 6-digit code (empty at a first login, before an authenticator is enrolled).
    pub otp: String,
}

/// Where a sign-in got to.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum SignInStep {
    Done {
        session: SessionView,
    },
    /// First login: scan the QR code into an authenticator app, then type its code.
    EnrollOtp {
        challenge: String,
        /// The `otpauth://` URI as an SVG QR code.
        qr_svg: String,
        /// The secret, for typing into an app by hand.
        secret: String,
    },
    /// The initial password must be changed now.
    ChangePassword {
        challenge: String,
    },
}

impl From<station::SignIn> for SignInStep {
    fn from(step: station::SignIn) -> SignInStep {
        match step {
            station::SignIn::Done { session } => SignInStep::Done {
                session: SessionView::from(session.as_ref()),
            },
            station::SignIn::EnrollOtp {
                challenge,
                otp_uri,
                otp_secret_base32,
            } => SignInStep::EnrollOtp {
                challenge,
                qr_svg: qr_svg(&otp_uri),
                secret: otp_secret_base32,
            },
            station::SignIn::ChangePassword { challenge } => {
                SignInStep::ChangePassword { challenge }
            }
        }
    }
}

/// A QR code as SVG (empty when the text cannot be encoded, which an otpauth URI always can).
pub fn qr_svg(text: &str) -> String {
    qrcode::QrCode::new(text.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default()
}

/// The first-login steps' forms.
#[derive(Clone, Deserialize, TS)]
pub struct EnrollRequest {
    pub challenge: String,
    pub otp: String,
    pub password: String,
}

/// The new password of a first login.
#[derive(Clone, Deserialize, TS)]
pub struct InitialPasswordRequest {
    pub challenge: String,
    pub new_password: String,
}

/// Changing one's password.
#[derive(Clone, Deserialize, TS)]
pub struct ChangePasswordRequest {
    pub old_password: String,
    pub otp: String,
    pub new_password: String,
}

/// An edit of a person, with a fresh code when the change needs step-up.
#[derive(Clone, Deserialize, TS)]
pub struct EditRequest {
    pub person_id: String,
    pub edit: station::PersonEdit,
    pub otp: Option<String>,
}

/// A dose to record for a person.
#[derive(Clone, Deserialize, TS)]
pub struct RecordDoseRequest {
    pub person_id: String,
    pub dose: station::DoseInput,
}

/// A dose to void, and why.
#[derive(Clone, Deserialize, TS)]
pub struct VoidDoseRequest {
    pub person_id: String,
    pub dose_id: String,
    pub reason: String,
    /// A fresh one-time code: voiding a signed dose needs one.
    pub otp: Option<String>,
}

/// A certificate on the token, as the signer chooses it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct CertificateView {
    pub id: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    /// RFC 3339 at +07:00.
    pub not_before: String,
    pub not_after: String,
    /// Its serial is registered on the signed-in account.
    pub registered: bool,
    /// Valid today.
    pub valid_now: bool,
}

/// A token and its certificates.
#[derive(Debug, Clone, Serialize, TS)]
pub struct TokenView {
    #[ts(type = "number")]
    pub slot: u64,
    pub label: String,
    pub module: String,
    pub certificates: Vec<CertificateView>,
}

/// Signing the previewed doses with a certificate and the PIN.
#[derive(Clone, Deserialize, TS)]
pub struct SignRunRequest {
    pub selection: station::SigningSelection,
    /// How many doses the preview showed.
    pub expected_doses: u32,
    #[ts(type = "number")]
    pub slot: u64,
    pub certificate_id: String,
    pub pin: String,
}

/// Registering a certificate of the token on the signer's account.
#[derive(Clone, Deserialize, TS)]
pub struct RegisterCertificateView {
    #[ts(type = "number")]
    pub slot: u64,
    pub certificate_id: String,
    pub pin: String,
    pub otp: String,
}

/// Exporting a list: which, and a fresh one-time code.
#[derive(Clone, Deserialize, TS)]
pub struct ExportListRequest {
    pub query: station::ListQuery,
    pub otp: String,
}

/// A spreadsheet chosen in the file picker, as its bytes.
#[derive(Clone, Deserialize, TS)]
pub struct ImportFileRequest {
    /// The file's name (its extension says CSV or .xlsx).
    pub name: String,
    pub content: Vec<u8>,
}

/// What importing a chosen file would change; `upload_id` names it for the apply step.
#[derive(Clone, Serialize, TS)]
pub struct ImportPreviewView {
    pub upload_id: String,
    pub preview: station::ImportPreview,
}

/// Applying a previewed import.
#[derive(Clone, Deserialize, TS)]
pub struct ImportApplyRequest {
    pub upload_id: String,
    /// How many changes the preview showed.
    pub expected_changes: u32,
    pub otp: String,
}

/// Merging a reviewed pair: `other` into `keep`.
#[derive(Clone, Deserialize, TS)]
pub struct MergeRequest {
    pub keep: String,
    pub other: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enrolment_qr_code_is_an_svg_image() {
        let svg = qr_svg("otpauth://totp/S%E1%BB%95%20Ti%C3%AAm:nv.lan?secret=JBSWY3DPEHPK3PXP");
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    }
}

/// A new account of the station, made by its head (the facility is the head's own).
#[derive(Clone, Deserialize, TS)]
pub struct NewStaffRequest {
    pub username: String,
    /// `vaccinator` or `signer`.
    pub role: Role,
    pub full_name: String,
    pub gender: Option<String>,
    pub position: Option<String>,
    pub phone: Option<String>,
    pub initial_password: String,
}

/// A new initial password for one of the station's accounts.
#[derive(Clone, Deserialize, TS)]
pub struct StaffPasswordRequest {
    pub username: String,
    pub initial_password: String,
}

/// The bounds the UI's forms check before anything is sent, taken from the rules themselves
/// (`sync-protocol`, `station`) so the two never differ; written to `ui/src/bindings/currentLimits.ts`.
#[derive(Clone, Serialize, TS)]
pub struct Limits {
    /// The shortest reason a void may give.
    pub void_reason_min: usize,
    /// The highest dose number.
    pub dose_number_max: u8,
    /// The longest full name.
    pub full_name_max: usize,
    /// Rows of a list on one screen.
    pub screen_rows: usize,
    /// Rows of a list that may be paged through without a fresh code.
    pub browse_rows: usize,
    /// The fewest characters of a recovery passphrase.
    pub recovery_passphrase_min: usize,
}

impl Limits {
    /// The limits in force.
    pub fn current() -> Limits {
        Limits {
            void_reason_min: sync_protocol::validate::MIN_VOID_REASON,
            dose_number_max: sync_protocol::validate::MAX_DOSE_NUMBER,
            full_name_max: sync_protocol::validate::MAX_NAME,
            screen_rows: station::lists::SCREEN_ROWS,
            browse_rows: station::lists::BROWSE_ROWS,
            recovery_passphrase_min: station::backup::MIN_RECOVERY_PASSPHRASE,
        }
    }
}

/// Where a printed page (a passport, invitation slips) was saved.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct PrintedFile {
    pub path: String,
    pub bytes: u64,
}

/// Reminders sent for a session: the file written for the SMS provider, or the gateway's
/// answers.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RemindView {
    /// The CSV file written, when there is no gateway.
    pub path: Option<String>,
    pub report: station::programme::ReminderReport,
}

/// A session day to plan, as the form gives it.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct PlanSessionRequest {
    /// `dd/mm/yyyy` or `yyyy-mm-dd`.
    pub date: String,
    pub hamlet: Option<String>,
    pub place: Option<String>,
}

/// What tracing a defaulter found; codes as `station::programme::MissReason` and
/// `TraceOutcome` store them.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct TraceRequest {
    pub session_id: String,
    pub person_id: String,
    pub located: Option<bool>,
    pub reason: Option<String>,
    pub outcome: Option<String>,
}
