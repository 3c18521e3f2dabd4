//! Accounts and sign-in (docs/design.md §1, §8): argon2id password hashes, the password policy, a
//! one-time code on every login, lockout with a growing delay, first-login enrollment and password
//! change, sessions, revocation and the login history.

mod history;
mod login;
mod resets;
mod sessions;
mod signer_certificates;

pub use history::*;
pub use login::*;
pub use resets::*;
pub use sessions::*;
pub use signer_certificates::*;

use crate::db::Db;
use crate::with_db;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sync_protocol::auth::RegisteredCertificate;
use sync_protocol::auth::{
    AccountInfo, LoginRequest, LoginStep, NewAccount, OtpError, Role, SessionGrant, WeakPassword,
    check_password, new_otp_secret, otp_secret_base32, otp_uri, verify_otp,
};
use sync_protocol::manifest::normalize_serial;
use sync_protocol::person::{format_time, now, parse_time};
use sync_protocol::{Clock, Field, FieldError, Problem, validate};
use time::{Duration, OffsetDateTime};

/// Failed attempts from one address allowed before the account is locked for that address.
pub use sync_protocol::auth::FREE_ATTEMPTS;
use sync_protocol::auth::lock_seconds;

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

fn argon2() -> Argon2<'static> {
    // OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most this many argon2 hashes at once (19 MiB each): a burst of sign-ins waits its turn
/// instead of taking the server's memory and every core from sync.
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(1, 8))
    });
    &SLOTS
}

/// Runs one argon2 computation off the async threads, within [`hashing_slots`].
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _slot = hashing_slots().acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// Hashes a password (argon2id, PHC string), off the async threads.
pub async fn hash_password(password: &str) -> Result<String, AuthError> {
    let password = password.to_string();
    hashing(move || {
        let salt =
            SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|_| AuthError::Hash)?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| AuthError::Hash)
    })
    .await
    .ok_or(AuthError::Hash)?
}

async fn password_matches(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_string(), hash.to_string());
    hashing(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

fn token() -> String {
    format!("sts_{}", hex::encode(rand::random::<[u8; 32]>()))
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

fn limited(field: Field, value: &str, max: usize) -> Result<(), AuthError> {
    if value.chars().count() > max {
        return Err(FieldError::new(field, Problem::TooLong { max }).into());
    }
    Ok(())
}

const ACCOUNT_COLUMNS: &str =
    "username, facility, role, full_name, gender, position, email, phone, password_hash,
    otp_secret, otp_enrolled, last_otp_step, must_change_password, status,
    revoked_at, certificate_serials, certificates";

/// An account read from its row; a role this server does not know is an error, never a
/// default role.
fn account_from_row<R: Row>(r: &R) -> Result<Account, AuthError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<Vec<u8>>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let certificates = registered_certificates(r.get("certificates"), r.get("certificate_serials"));
    let username: String = r.get("username");
    let role_text: String = r.get("role");
    let role = Role::parse(&role_text).ok_or_else(|| AuthError::UnknownRole {
        username: username.clone(),
        role: role_text,
    })?;
    Ok(Account {
        info: AccountInfo {
            username,
            facility: r.get("facility"),
            role,
            full_name: r.get("full_name"),
            gender: r.get("gender"),
            position: r.get("position"),
            email: r.get("email"),
            phone: r.get("phone"),
            status: r.get("status"),
            must_change_password: r.get("must_change_password"),
            certificates,
        },
        password_hash: r.get("password_hash"),
        otp_secret: r.get("otp_secret"),
        otp_enrolled: r.get("otp_enrolled"),
        last_otp_step: r.get("last_otp_step"),
        revoked_at: r.get("revoked_at"),
    })
}

/// The certificates registered on an account: the JSON list, or serials registered before
/// issuers were (kept with no issuer: they match nothing until registered again).
fn registered_certificates(json: String, legacy: String) -> Vec<RegisteredCertificate> {
    let mut out: Vec<RegisteredCertificate> = serde_json::from_str(&json).unwrap_or_default();
    for serial in legacy.split(',').filter(|s| !s.is_empty()) {
        if !out.iter().any(|c| c.serial == normalize_serial(serial)) {
            out.push(RegisteredCertificate {
                serial: normalize_serial(serial),
                issuer: String::new(),
                issuer_key: String::new(),
            });
        }
    }
    out
}

/// An account by username.
pub async fn account(db: &Db, username: &str) -> Result<Option<Account>, AuthError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE username = $1");
    with_db!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(pool)
            .await?
            .map(|r| account_from_row(&r))
    })
    .transpose()
}

/// Every account, or those of one facility.
pub async fn accounts(db: &Db, facility: Option<&str>) -> Result<Vec<AccountInfo>, AuthError> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE $1 = '' OR facility = $1 ORDER BY username"
    );
    Ok(with_db!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(facility.unwrap_or(""))
            .fetch_all(pool)
            .await?
            .iter()
            // An unreadable account is left out of a listing (and logged), not shown wrong.
            .filter_map(|r| match account_from_row(r) {
                Ok(a) => Some(a.info),
                Err(e) => {
                    tracing::error!("{e}");
                    None
                }
            })
            .collect()
    }))
}

/// Creates an account whose initial password must be changed at first login.
pub async fn create_account(db: &Db, new: &NewAccount) -> Result<AccountInfo, AuthError> {
    let username = new.username.trim().to_lowercase();
    let ok_name = (3..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok_name {
        return Err(FieldError::new(Field::User, Problem::CodeFormat).into());
    }
    validate::check_full_name(&new.full_name)?;
    for (field, value) in [(Field::Place, &new.position), (Field::Address, &new.email)] {
        if let Some(v) = value {
            limited(field, v, 120)?;
        }
    }
    if let Some(phone) = &new.phone {
        sync_protocol::identity::normalize_phone(phone)?;
    }
    check_password(&new.initial_password)?;
    let Some(facility) = crate::admin::facility(db, &new.facility)
        .await
        .ok()
        .flatten()
    else {
        return Err(AuthError::NoSuchFacility(new.facility.clone()));
    };
    // An officer's facility says which area they follow (`console::Area::of_officer`).
    match new.role {
        Role::DistrictOfficer if facility.kind != "district_centre" => {
            return Err(AuthError::OfficerFacility(format!(
                "cán bộ tuyến huyện phải thuộc một trung tâm y tế huyện (district_centre); {} là {}",
                facility.code, facility.kind
            )));
        }
        Role::ProvinceOfficer if facility.province.is_none() => {
            return Err(AuthError::OfficerFacility(format!(
                "cán bộ tuyến tỉnh phải thuộc một cơ sở có ghi tỉnh/thành phố; {} chưa ghi",
                facility.code
            )));
        }
        _ => {}
    }
    if account(db, &username).await?.is_some() {
        return Err(AuthError::Exists(username));
    }
    let hash = hash_password(&new.initial_password).await?;
    let phone = new
        .phone
        .as_deref()
        .map(sync_protocol::identity::normalize_phone)
        .transpose()?;
    with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO accounts (username, facility, role, full_name, gender, position, email, phone,
                password_hash, otp_secret, otp_enrolled, last_otp_step, must_change_password, status,
                failed_attempts, locked_until, created_at, revoked_at, certificate_serials)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, FALSE, NULL, TRUE, 'active', 0, NULL, $10, NULL, '')",
        )
        .bind(&username)
        .bind(&new.facility)
        .bind(new.role.as_str())
        .bind(sync_protocol::text::clean(&new.full_name))
        .bind(&new.gender)
        .bind(&new.position)
        .bind(&new.email)
        .bind(&phone)
        .bind(&hash)
        .bind(format_time(now()))
        .execute(pool)
        .await
        .map(|_| ())
    })?;
    account(db, &username)
        .await?
        .map(|a| a.info)
        .ok_or(AuthError::NoSuchAccount(username))
}

/// Revokes an account: its sessions end at once and it cannot sign in again.
pub async fn revoke_account(db: &Db, username: &str) -> Result<(), AuthError> {
    let at = format_time(now());
    let n = with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let n = sqlx::query("UPDATE accounts SET status = 'revoked', revoked_at = $1 WHERE username = $2 AND status <> 'revoked'")
            .bind(&at)
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE sessions SET revoked = TRUE WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        n
    });
    if n == 0 {
        return Err(AuthError::NoSuchAccount(username.to_string()));
    }
    Ok(())
}

/// Gives an account a new initial password, to be changed at its next sign-in. The
/// authenticator stays, so whoever typed the new password still cannot sign in as its holder —
/// unless the authenticator is also in other hands, when a second person must approve
/// ([`request_reset`]). Open sessions end, and stations forget their copy for offline sign-in.
pub async fn reset_password(
    db: &Db,
    clock: &Clock,
    by: &ResetBy,
    username: &str,
    initial_password: &str,
) -> Result<sync_protocol::auth::ResetRecord, AuthError> {
    check_password(initial_password)?;
    let target = account(db, username)
        .await?
        .ok_or_else(|| AuthError::NoSuchAccount(username.to_string()))?;
    let hash = hash_password(initial_password).await?;
    let factor = sync_protocol::auth::CredentialFactor::Password;
    request_reset(db, clock, by, &target, factor, Some(hash)).await
}

/// Clears an account's authenticator (a lost or changed phone): its next sign-in with its
/// password enrols a new one (on a laptop of its facility, for an account that reads people's
/// data). Held for a second person when the password is also in other hands. Open sessions end,
/// and stations forget their copy for offline sign-in (which holds the old secret).
pub async fn reset_authenticator(
    db: &Db,
    clock: &Clock,
    by: &ResetBy,
    username: &str,
) -> Result<sync_protocol::auth::ResetRecord, AuthError> {
    let target = account(db, username)
        .await?
        .ok_or_else(|| AuthError::NoSuchAccount(username.to_string()))?;
    let factor = sync_protocol::auth::CredentialFactor::Authenticator;
    request_reset(db, clock, by, &target, factor, None).await
}

/// What one reset changes: a new password hash (to be changed at the next sign-in) and/or the
/// authenticator cleared.
pub(crate) struct Reset<'a> {
    pub password_hash: Option<&'a str>,
    pub clear_authenticator: bool,
}

/// How a reset enters the log of resets, in the same transaction.
enum Logged<'a> {
    New(&'a LogRow<'a>),
    Approved(&'a Approval<'a>),
    /// (An account's first password set by nobody else.)
    Nothing,
}

/// A reset of an active account, logged, with the failure counts and locks cleared and its
/// sessions ended, in one transaction.
async fn reset_credentials(
    db: &Db,
    clock: &Clock,
    username: &str,
    new: Reset<'_>,
    log: Option<&LogRow<'_>>,
) -> Result<(), AuthError> {
    let logged = log.map_or(Logged::Nothing, Logged::New);
    write_reset(db, clock, username, new, logged).await
}

/// A reset approved by a second person: applied, and its request closed (with any other
/// request for the same factor), in one transaction.
async fn reset_approved(
    db: &Db,
    clock: &Clock,
    username: &str,
    new: Reset<'_>,
    approval: &Approval<'_>,
) -> Result<(), AuthError> {
    write_reset(db, clock, username, new, Logged::Approved(approval)).await
}

async fn write_reset(
    db: &Db,
    clock: &Clock,
    username: &str,
    new: Reset<'_>,
    logged: Logged<'_>,
) -> Result<(), AuthError> {
    let at = format_time(clock.now());
    let sql = "UPDATE accounts SET
            password_hash = COALESCE($1, password_hash),
            must_change_password = CASE WHEN $1 IS NULL THEN must_change_password ELSE TRUE END,
            otp_secret = CASE WHEN $2 THEN NULL ELSE otp_secret END,
            otp_enrolled = CASE WHEN $2 THEN FALSE ELSE otp_enrolled END,
            last_otp_step = CASE WHEN $2 THEN NULL ELSE last_otp_step END,
            failed_attempts = 0, locked_until = NULL, credentials_reset_at = $3
         WHERE username = $4 AND status <> 'revoked'";
    let outcome: Result<u64, AuthError> = with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(sql)
            .bind(new.password_hash)
            .bind(new.clear_authenticator)
            .bind(&at)
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE sessions SET revoked = TRUE WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        let closed = match logged {
            Logged::New(log) => {
                resets::insert_log!(&mut *tx, log)?;
                true
            }
            Logged::Approved(a) => {
                let closed = sqlx::query(
                    "UPDATE credential_resets SET status = 'applied', approved_by = $1,
                        applied_at = $2, password_hash = NULL
                     WHERE id = $3 AND status = 'pending'",
                )
                .bind(a.approver)
                .bind(a.at)
                .bind(a.id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                sqlx::query(
                    "UPDATE credential_resets SET status = 'expired', password_hash = NULL
                     WHERE username = $1 AND status = 'pending' AND factor =
                        (SELECT factor FROM credential_resets WHERE id = $2)",
                )
                .bind(username)
                .bind(a.id)
                .execute(&mut *tx)
                .await?;
                closed
            }
            Logged::Nothing => true,
        };
        if n == 1 && closed {
            tx.commit().await?;
        }
        Ok(if closed { n } else { u64::MAX })
    });
    match outcome? {
        1 => Ok(()),
        u64::MAX => Err(AuthError::ResetClosed("đã được duyệt")),
        _ => Err(match account(db, username).await? {
            Some(_) => AuthError::Revoked,
            None => AuthError::NoSuchAccount(username.to_string()),
        }),
    }
}

/// The active accounts of `facility` whose credentials were ever reset, and when last.
pub async fn credential_resets(
    db: &Db,
    facility: &str,
) -> Result<Vec<sync_protocol::auth::CredentialReset>, AuthError> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT username, credentials_reset_at FROM accounts
             WHERE facility = $1 AND status <> 'revoked' AND credentials_reset_at IS NOT NULL",
        )
        .bind(facility)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| sync_protocol::auth::CredentialReset {
            username: r.get("username"),
            at: r.get("credentials_reset_at"),
        })
        .collect()
    }))
}
