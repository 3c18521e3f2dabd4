//! Accounts and sign-in (docs/design.md §1, §8): argon2id password hashes, the password policy, a
//! one-time code on every login, lockout with a growing delay, first-login enrollment and password
//! change, sessions, revocation and the login history.

mod history;
mod login;
mod passwords;
mod records;
mod resets;
mod sessions;
mod signer_certificates;

pub use history::*;
pub use login::*;
pub use resets::*;
pub use sessions::*;
pub use signer_certificates::*;

pub use passwords::hash_password;
pub use records::{account, accounts, create_account, revoke_account};

use sync_protocol::FieldError;
use sync_protocol::auth::{AccountInfo, OtpError, Role, WeakPassword};
use sync_protocol::person::parse_time;
use time::OffsetDateTime;

/// Failed attempts from one address allowed before the account is locked for that address.
pub use sync_protocol::auth::FREE_ATTEMPTS;

/// Failed attempts from all addresses together allowed before the account is locked everywhere:
/// one address alone reaches 5, then one more each time its lock runs out (17 in a day), so only
/// guessing from several addresses locks the owner out.
pub const ACCOUNT_FREE_ATTEMPTS: i64 = 20;

/// How long a session lasts (a working day).
pub const SESSION_HOURS: i64 = 12;

/// How long a station may sign an account in offline after an online sign-in.
pub const OFFLINE_LEASE_DAYS: u32 = 7;

/// How long a first-login step may wait.
const CHALLENGE_MINUTES: i64 = 15;

/// Why an account operation failed. Messages are for the user, in Vietnamese.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Deliberately vague: never says which of the three was wrong.
    #[error("tên đăng nhập, mật khẩu hoặc mã xác thực không đúng")]
    InvalidCredentials,
    #[error("tài khoản tạm khoá do nhập sai nhiều lần; thử lại sau {until}")]
    Locked { until: String },
    #[error("tài khoản đã bị thu hồi; liên hệ quản trị viên")]
    Revoked,
    #[error("{0}")]
    Otp(#[from] OtpError),
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    #[error("mật khẩu mới phải khác mật khẩu cũ")]
    SamePassword,
    #[error("bước đăng nhập đã hết hạn; đăng nhập lại từ đầu")]
    ChallengeExpired,
    #[error("phiên đăng nhập hết hạn hoặc không hợp lệ; đăng nhập lại")]
    SessionInvalid,
    #[error("tài khoản {role} không được làm việc này")]
    Forbidden { role: &'static str },
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("đã có tài khoản {0}")]
    Exists(String),
    #[error("không có tài khoản {0}")]
    NoSuchAccount(String),
    #[error("không có cơ sở mã {0}")]
    NoSuchFacility(String),
    #[error("{0}")]
    OfficerFacility(String),
    #[error(
        "mã xác thực của tài khoản thuộc cơ sở {account} chỉ được cài trên máy đã đăng ký của cơ sở đó"
    )]
    DeviceOfOtherFacility { account: String },
    #[error(
        "tài khoản này đọc dữ liệu người tiêm: lần đăng nhập đầu (cài ứng dụng xác thực) phải làm trên máy đã đăng ký của cơ sở {facility}, do chính người giữ tài khoản"
    )]
    EnrolOnFacilityDevice { facility: String },
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Db(#[from] sqlx::Error),
    #[error("lỗi băm mật khẩu")]
    Hash,
    #[error("tài khoản {username} có vai trò \"{role}\" không xác định: quản trị viên cần sửa lại")]
    UnknownRole { username: String, role: String },
    #[error("mã xác nhận phải dành cho 1 đến {max} người và ít nhất một trường")]
    GrantSize { max: usize },
    #[error("không có yêu cầu đặt lại {0}")]
    NoSuchReset(String),
    #[error(
        "yêu cầu đặt lại này cần người thứ hai duyệt: một thủ trưởng hay quản trị khác của cơ sở {facility}, hoặc cán bộ tuyến huyện phụ trách — không phải người yêu cầu, người giữ tài khoản hay quản trị hệ thống"
    )]
    SecondPerson { facility: String },
    #[error("yêu cầu đặt lại {0}")]
    ResetClosed(&'static str),
}

impl AuthError {
    /// A stable machine name.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::Locked { .. } => "locked",
            AuthError::Revoked => "account_revoked",
            AuthError::Otp(OtpError::Replayed) => "otp_replayed",
            AuthError::Otp(_) => "otp_invalid",
            AuthError::WeakPassword(_) => "weak_password",
            AuthError::SamePassword => "same_password",
            AuthError::ChallengeExpired => "challenge_expired",
            AuthError::SessionInvalid => "session_invalid",
            AuthError::Forbidden { .. } => "forbidden",
            AuthError::Invalid(_) => "invalid",
            AuthError::Exists(_) => "exists",
            AuthError::NoSuchAccount(_) => "no_such_account",
            AuthError::UnknownRole { .. } => "unknown_role",
            AuthError::GrantSize { .. } => "grant_size",
            AuthError::NoSuchFacility(_) => "no_such_facility",
            AuthError::OfficerFacility(_) => "officer_facility",
            AuthError::DeviceOfOtherFacility { .. } => "wrong_facility",
            AuthError::NoSuchReset(_) => "no_such_reset",
            AuthError::SecondPerson { .. } => "second_person_required",
            AuthError::ResetClosed(_) => "reset_closed",
            AuthError::EnrolOnFacilityDevice { .. } => "enrol_on_facility_device",
            AuthError::Db(_) | AuthError::Hash => "internal",
        }
    }
}

/// An account as stored.
#[derive(Debug, Clone)]
pub struct Account {
    pub info: AccountInfo,
    password_hash: String,
    otp_secret: Option<Vec<u8>>,
    otp_enrolled: bool,
    last_otp_step: Option<i64>,
    revoked_at: Option<String>,
}

impl Account {
    /// The account's role.
    pub fn role(&self) -> Role {
        self.info.role
    }

    /// When it was revoked, if it was.
    pub fn revoked_at(&self) -> Option<OffsetDateTime> {
        self.revoked_at.as_deref().and_then(parse_time)
    }
}

/// A signed-in user, as a request presents.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub account: AccountInfo,
    /// The address the request came from (failures with a fresh code count against it).
    pub address: Option<String>,
}
