//! Accounts and sign-in rules both sides enforce (docs/design.md §1, §8): roles, the password policy,
//! time-based one-time codes (RFC 6238), and the JSON messages of the auth endpoints.

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Secret, Totp};

pub use crate::role::Role;

/// Seconds since the Unix epoch, the time one-time codes are checked against (0 if the clock is
/// before 1970).
pub fn unix_now() -> u64 {
    crate::clock::Clock::system().unix()
}

/// One rule of the password policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordRule {
    MinLength,
    MaxLength,
    Uppercase,
    Lowercase,
    Digit,
    Special,
}

impl PasswordRule {
    /// The machine name of the rule (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordRule::MinLength => "min_length",
            PasswordRule::MaxLength => "max_length",
            PasswordRule::Uppercase => "uppercase",
            PasswordRule::Lowercase => "lowercase",
            PasswordRule::Digit => "digit",
            PasswordRule::Special => "special",
        }
    }

    /// What the rule asks, in Vietnamese.
    pub fn message(self) -> &'static str {
        match self {
            PasswordRule::MinLength => "ít nhất 8 ký tự",
            PasswordRule::MaxLength => "nhiều nhất 128 ký tự",
            PasswordRule::Uppercase => "có chữ hoa",
            PasswordRule::Lowercase => "có chữ thường",
            PasswordRule::Digit => "có chữ số",
            PasswordRule::Special => "có ký tự đặc biệt (ví dụ ! @ # $ %)",
        }
    }
}

/// A password that breaks rules, with the rules it breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("mật khẩu chưa đạt: cần {}", .0.iter().map(|r| r.message()).collect::<Vec<_>>().join(", "))]
pub struct WeakPassword(pub Vec<PasswordRule>);

/// Checks the password policy: at least 8 characters with upper case, lower case, a digit and a
/// special character (and no more than 128).
pub fn check_password(password: &str) -> Result<(), WeakPassword> {
    let mut broken = Vec::new();
    let len = password.chars().count();
    if len < 8 {
        broken.push(PasswordRule::MinLength);
    }
    if len > 128 {
        broken.push(PasswordRule::MaxLength);
    }
    if !password.chars().any(char::is_uppercase) {
        broken.push(PasswordRule::Uppercase);
    }
    if !password.chars().any(char::is_lowercase) {
        broken.push(PasswordRule::Lowercase);
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        broken.push(PasswordRule::Digit);
    }
    if !password
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        broken.push(PasswordRule::Special);
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(WeakPassword(broken))
    }
}

/// The issuer shown in authenticator apps.
pub const OTP_ISSUER: &str = "So Tiem";
/// Seconds per code.
pub const OTP_STEP: u64 = 30;

/// Failed sign-in attempts allowed before a lock (on the server per address, on a laptop
/// offline): the same rule everywhere.
pub const FREE_ATTEMPTS: i64 = 5;

/// How long a lock lasts after `locks_before` earlier locks in a row: 30 s, doubling each
/// time, at most a day.
pub fn lock_seconds(locks_before: i64) -> i64 {
    let exp = u32::try_from(locks_before.max(0))
        .unwrap_or(u32::MAX)
        .min(12);
    (30i64 << exp).min(86_400)
}

/// Why a one-time code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OtpError {
    #[error("mã xác thực không đúng hoặc đã hết hạn")]
    Invalid,
    #[error("mã xác thực này đã được dùng; chờ mã mới (30 giây) rồi nhập lại")]
    Replayed,
    #[error("khoá mã xác thực hỏng")]
    BadSecret,
}

/// A fresh random TOTP secret (20 bytes, as RFC 4226 recommends).
pub fn new_otp_secret() -> Vec<u8> {
    Secret::generate().as_bytes().to_vec()
}

fn totp(secret: &[u8], account: &str) -> Result<Totp, OtpError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(OTP_STEP)
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(OTP_ISSUER))
        .build()
        .map_err(|_| OtpError::BadSecret)
}

/// The `otpauth://` URI an authenticator app enrolls from (shown as a QR code).
pub fn otp_uri(secret: &[u8], account: &str) -> Result<String, OtpError> {
    totp(secret, account)?
        .to_url()
        .map_err(|_| OtpError::BadSecret)
}

/// The secret in base32, for typing into an authenticator by hand.
pub fn otp_secret_base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

/// The code for a time (for tests and for showing the current code on enrollment checks).
pub fn otp_code(secret: &[u8], unix_time: u64) -> Result<String, OtpError> {
    Ok(totp(secret, "x")?.generate(unix_time).to_string())
}

/// Checks a code at `unix_time`, allowing one step of clock skew either way, and refuses a step
/// at or before `last_step` (a code is accepted once). Returns the step to remember.
pub fn verify_otp(
    secret: &[u8],
    code: &str,
    unix_time: u64,
    last_step: Option<u64>,
) -> Result<u64, OtpError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(OtpError::Invalid);
    }
    let step = totp(secret, "x")?
        .check(&code, unix_time)
        .ok_or(OtpError::Invalid)?;
    if last_step.is_some_and(|last| step <= last) {
        return Err(OtpError::Replayed);
    }
    Ok(step)
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The one-time code; absent only on a first login, before enrollment.
    pub otp: Option<String>,
    /// The station holds no copy of the authenticator secret it can open with this password
    /// (a laptop the user never signed in on, or a password changed elsewhere): send it, sealed
    /// in the answer. Honoured only for a registered device; every sending is in the login
    /// history.
    #[serde(default)]
    pub want_secret: bool,
}

/// What a login (or a step of the first-login flow) leads to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum LoginStep {
    /// Signed in.
    Session(Box<SessionGrant>),
    /// First login: scan this into an authenticator app, then confirm with a code.
    EnrollOtp {
        challenge: String,
        otp_uri: String,
        otp_secret_base32: String,
    },
    /// The password must be changed before anything else.
    ChangePassword { challenge: String },
}

/// A signed-in session and what the station keeps to sign the user in offline later.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionGrant {
    pub token: String,
    pub expires_at: String,
    pub account: AccountInfo,
    /// The TOTP secret, so the station can check codes while offline — only when a registered
    /// device enrols or asks for it ([`LoginRequest::want_secret`]), never in every sign-in.
    /// The station keeps it only encrypted under a key derived from the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_secret: Option<Vec<u8>>,
    /// How many days the station may sign this account in offline before an online sign-in.
    pub offline_lease_days: u32,
    /// Resets of this account's password or authenticator made by someone else lately: the
    /// holder is told at the next sign-in on every device (one they did not ask for is how a
    /// take-over shows).
    #[serde(default)]
    pub resets: Vec<ResetRecord>,
}

/// An account as shown to its holder and to administrators (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AccountInfo {
    pub username: String,
    pub facility: String,
    pub role: Role,
    pub full_name: String,
    pub gender: Option<String>,
    pub position: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub must_change_password: bool,
    /// The organisation certificates registered for signing (a signer's).
    pub certificates: Vec<RegisteredCertificate>,
}

/// A certificate registered on a signer's account: its serial together with its issuer, since
/// serials are unique only per certification authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RegisteredCertificate {
    /// The serial, hex (see [`crate::manifest::normalize_serial`]).
    pub serial: String,
    /// The issuer's name as people read it (`CN=…, O=…, C=VN`).
    pub issuer: String,
    /// [`issuer_key`] of the issuer's name: what is compared. Empty for serials registered
    /// before issuers were (they must be registered again).
    pub issuer_key: String,
}

impl RegisteredCertificate {
    /// Whether this registration is of the certificate with `serial` from the issuer `key`.
    pub fn is(&self, serial: &str, key: &str) -> bool {
        !self.issuer_key.is_empty()
            && self.issuer_key == key
            && crate::manifest::normalize_serial(&self.serial)
                == crate::manifest::normalize_serial(serial)
    }
}

/// The key an issuer is compared by: SHA-256 of the DER encoding of its name, hex.
pub fn issuer_key(issuer_name_der: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(issuer_name_der))
}

/// `POST /api/v1/auth/enroll`: confirms the authenticator with a first code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub challenge: String,
    pub otp: String,
}

/// `POST /api/v1/auth/certificates`: a signer registers the organisation certificate on their
/// USB token. `cms` is a detached CMS signature, made with that token, over
/// [`certificate_statement`] — proof that the signer holds the key, not just the certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterCertificateRequest {
    /// The certificate's serial, hexadecimal.
    pub serial: String,
    /// When the statement was made (RFC 3339); the server accepts it for 10 minutes.
    pub at: String,
    pub cms: Vec<u8>,
    /// A fresh one-time code.
    pub otp: String,
}

/// What a signer signs to register a certificate: who, which serial, when.
pub fn certificate_statement(username: &str, serial: &str, at: &str) -> Vec<u8> {
    format!("SOTIEM DANG KY CHUNG THU\nusername={username}\nserial={serial}\nat={at}\n")
        .into_bytes()
}

/// `POST /api/v1/auth/step-up`: a fresh one-time code for editing sensitive fields of people
/// another facility manages. The server checks the code and answers with a grant the edits
/// name; without it the server refuses them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepUpRequest {
    pub otp: String,
    pub person_ids: Vec<uuid::Uuid>,
    pub fields: Vec<crate::rules::SensitiveField>,
}

/// The most people one step-up grant may cover (a corrected list from the police).
pub const MAX_GRANT_PEOPLE: usize = 5000;

/// The server's answer to a [`StepUpRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepUpGrant {
    pub id: String,
    pub person_ids: Vec<uuid::Uuid>,
    pub fields: Vec<crate::rules::SensitiveField>,
    /// RFC 3339.
    pub expires_at: String,
}

/// `POST /api/v1/auth/change-password`: from a first-login challenge, or signed in (with the
/// old password and a code).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangePasswordRequest {
    pub challenge: Option<String>,
    pub old_password: Option<String>,
    pub otp: Option<String>,
    pub new_password: String,
}

/// `POST /api/v1/auth/account-status`: which of the accounts a station knows have been revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStatusRequest {
    pub usernames: Vec<String>,
}

/// The revoked ones among the accounts asked about (only those of the device's facility).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStatusResponse {
    pub revoked: Vec<String>,
    /// Accounts whose password or authenticator an administrator reset, and when: a copy kept
    /// for offline sign-in from before then must be forgotten (a lost phone must not keep
    /// opening the station).
    #[serde(default)]
    pub reset: Vec<CredentialReset>,
}

/// When an account's credentials were last reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialReset {
    pub username: String,
    pub at: String,
}

/// `POST /api/v1/admin/accounts/revoke` and `…/reset-authenticator`: the account acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRef {
    pub username: String,
}

/// `POST /api/v1/admin/accounts/reset-password`: a new initial password, to be changed at the
/// next sign-in (the authenticator stays: whoever sets the password still cannot sign in).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordReset {
    pub username: String,
    pub initial_password: String,
}

/// One of the two things that open an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum CredentialFactor {
    Password,
    Authenticator,
}

impl CredentialFactor {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialFactor::Password => "password",
            CredentialFactor::Authenticator => "authenticator",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<CredentialFactor> {
        match text {
            "password" => Some(CredentialFactor::Password),
            "authenticator" => Some(CredentialFactor::Authenticator),
            _ => None,
        }
    }

    /// The other factor.
    pub fn other(self) -> CredentialFactor {
        match self {
            CredentialFactor::Password => CredentialFactor::Authenticator,
            CredentialFactor::Authenticator => CredentialFactor::Password,
        }
    }

    /// The Vietnamese name.
    pub fn label(self) -> &'static str {
        match self {
            CredentialFactor::Password => "mật khẩu",
            CredentialFactor::Authenticator => "ứng dụng xác thực",
        }
    }
}

/// Where a reset of one factor stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ResetStatus {
    /// Done: the factor was reset.
    Applied,
    /// The other factor was reset too lately: a second person must approve this one.
    AwaitingApproval,
    /// Not approved in time (or replaced by a later request); nothing was changed.
    Expired,
}

/// A reset of one factor of an account, requested by an administrator (and, when it is the
/// second factor within a day, approved by a second person). No secret is in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ResetRecord {
    pub id: String,
    pub username: String,
    pub facility: String,
    pub factor: CredentialFactor,
    pub requested_by: String,
    /// RFC 3339.
    pub requested_at: String,
    pub status: ResetStatus,
    pub approved_by: Option<String>,
    pub applied_at: Option<String>,
    /// Whether the account's other factor had been reset shortly before: both factors in
    /// other hands, the take-over the second person guards against.
    pub both_factors: bool,
}

/// `POST /api/v1/admin/accounts/resets/approve`: a second person approves a reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproveReset {
    pub id: String,
}

/// One sign-in or sign-in attempt, as its owner and their administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignInEvent {
    pub username: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// The device (station) it came from, when known.
    pub device_id: Option<String>,
    /// Checked by the server (`true`) or by a station without network (`false`).
    pub online: bool,
    /// `success`, `failure`, `enrollment_started`, `password_change_required`, `sign_out`…
    pub outcome: String,
    /// Why it failed (`wrong_password`, `wrong_otp`, `locked`…), when it did.
    pub detail: Option<String>,
}

impl SignInEvent {
    /// What happened, in Vietnamese.
    pub fn outcome_label(&self) -> &'static str {
        match self.outcome.as_str() {
            "success" => "đăng nhập thành công",
            "failure" => "đăng nhập không thành công",
            "enrollment_started" => "bắt đầu đăng ký ứng dụng xác thực",
            "otp_enrolled" => "đã đăng ký ứng dụng xác thực",
            "password_change_required" => "cần đổi mật khẩu ban đầu",
            "password_changed" => "đã đổi mật khẩu",
            "sign_out" => "đăng xuất",
            _ => "khác",
        }
    }
}

/// `POST /api/v1/admin/accounts`: a new account (its initial password must be changed at first
/// login).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewAccount {
    pub username: String,
    pub facility: String,
    pub role: Role,
    pub full_name: String,
    pub gender: Option<String>,
    pub position: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub initial_password: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_name_every_rule_they_break() {
        assert_eq!(
            check_password("abc").unwrap_err().0,
            vec![
                PasswordRule::MinLength,
                PasswordRule::Uppercase,
                PasswordRule::Digit,
                PasswordRule::Special
            ]
        );
        assert_eq!(
            check_password("Matkhau123").unwrap_err().0,
            vec![PasswordRule::Special]
        );
        assert_eq!(
            check_password("MATKHAU@123").unwrap_err().0,
            vec![PasswordRule::Lowercase]
        );
        let e = check_password("matkhau@abc").unwrap_err();
        assert!(
            e.to_string().contains("có chữ hoa") && e.to_string().contains("có chữ số"),
            "{e}"
        );
        assert!(check_password("Tiêm@2021chủng").is_ok());
        assert!(check_password("Ab1!Ab1!").is_ok());
    }

    #[test]
    fn a_code_is_accepted_once_and_only_near_its_time() {
        let secret = new_otp_secret();
        let now = 1_760_000_000;
        let code = otp_code(&secret, now).unwrap();
        let step = verify_otp(&secret, &code, now, None).unwrap();
        assert_eq!(
            verify_otp(&secret, &code, now, Some(step)),
            Err(OtpError::Replayed)
        );
        // One step of skew is tolerated; two minutes later it has expired.
        assert!(verify_otp(&secret, &code, now + 30, None).is_ok());
        assert_eq!(
            verify_otp(&secret, &code, now + 120, None),
            Err(OtpError::Invalid)
        );
        assert_eq!(
            verify_otp(&secret, "12345", now, None),
            Err(OtpError::Invalid)
        );
        assert_eq!(
            verify_otp(&new_otp_secret(), &code, now, None),
            Err(OtpError::Invalid)
        );
        assert!(
            otp_uri(&secret, "nv.lan")
                .unwrap()
                .starts_with("otpauth://totp/")
        );
    }
}
