//! Accounts and sign-in (DESIGN.md §1, §8): argon2id password hashes, the password policy, a
//! one-time code on every login, lockout with a growing delay, first-login enrollment and password
//! change, sessions, revocation and the login history.

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
    check_password, new_otp_secret, otp_secret_base32, otp_uri, unix_now, verify_otp,
};
use sync_protocol::manifest::normalize_serial;
use sync_protocol::person::{format_time, now, parse_time};
use sync_protocol::{Field, FieldError, Problem, validate};
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
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Db(#[from] sqlx::Error),
    #[error("lỗi băm mật khẩu")]
    Hash,
    #[error("tài khoản {username} có vai trò \"{role}\" không xác định: quản trị viên cần sửa lại")]
    UnknownRole { username: String, role: String },
    #[error("mã xác nhận phải dành cho 1 đến {max} người và ít nhất một trường")]
    GrantSize { max: usize },
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
    locked_until: Option<String>,
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
    otp_secret, otp_enrolled, last_otp_step, must_change_password, status, locked_until,
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
        locked_until: r.get("locked_until"),
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
    if crate::admin::facility(db, &new.facility)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        return Err(AuthError::NoSuchFacility(new.facility.clone()));
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
/// authenticator stays, so whoever typed the new password still cannot sign in as its holder.
/// Open sessions end, and stations forget their copy for offline sign-in.
pub async fn reset_password(
    db: &Db,
    username: &str,
    initial_password: &str,
) -> Result<(), AuthError> {
    check_password(initial_password)?;
    let hash = hash_password(initial_password).await?;
    reset_credentials(db, username, Some(&hash), false).await
}

/// Clears an account's authenticator (a lost or changed phone): its next sign-in with its
/// password enrols a new one. Open sessions end, and stations forget their copy for offline
/// sign-in (which holds the old secret).
pub async fn reset_authenticator(db: &Db, username: &str) -> Result<(), AuthError> {
    reset_credentials(db, username, None, true).await
}

/// One reset: a new password hash (to be changed at the next sign-in) and/or the authenticator
/// cleared, on an active account, with the failure count and locks cleared and its sessions
/// ended, in one transaction.
async fn reset_credentials(
    db: &Db,
    username: &str,
    password_hash: Option<&str>,
    clear_authenticator: bool,
) -> Result<(), AuthError> {
    let at = format_time(now());
    let sql = "UPDATE accounts SET
            password_hash = COALESCE($1, password_hash),
            must_change_password = CASE WHEN $1 IS NULL THEN must_change_password ELSE TRUE END,
            otp_secret = CASE WHEN $2 THEN NULL ELSE otp_secret END,
            otp_enrolled = CASE WHEN $2 THEN FALSE ELSE otp_enrolled END,
            last_otp_step = CASE WHEN $2 THEN NULL ELSE last_otp_step END,
            failed_attempts = 0, locked_until = NULL, credentials_reset_at = $3
         WHERE username = $4 AND status <> 'revoked'";
    let n = with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(sql)
            .bind(password_hash)
            .bind(clear_authenticator)
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
        if n == 1 {
            tx.commit().await?;
        }
        n
    });
    if n == 0 {
        return Err(match account(db, username).await? {
            Some(_) => AuthError::Revoked,
            None => AuthError::NoSuchAccount(username.to_string()),
        });
    }
    Ok(())
}

/// When each of these accounts' credentials were last reset (those never reset are left out).
pub async fn credential_resets(
    db: &Db,
    usernames: &[String],
) -> Result<Vec<sync_protocol::auth::CredentialReset>, AuthError> {
    let mut out = Vec::new();
    for username in usernames {
        let at: Option<String> = with_db!(db, pool => {
            sqlx::query_scalar("SELECT credentials_reset_at FROM accounts WHERE username = $1")
                .bind(username)
                .fetch_optional(pool)
                .await?
                .flatten()
        });
        if let Some(at) = at {
            out.push(sync_protocol::auth::CredentialReset {
                username: username.clone(),
                at,
            });
        }
    }
    Ok(out)
}

/// An account's sign-ins, newest first: those the server checked, and those stations checked
/// offline as their audit logs reported them (a station records its offline sign-ins and
/// failures; its online ones are the server's own events).
pub async fn sign_in_history(
    db: &Db,
    username: &str,
    limit: i64,
) -> Result<Vec<sync_protocol::auth::SignInEvent>, AuthError> {
    use sync_protocol::auth::SignInEvent;
    let mut out: Vec<SignInEvent> = login_events(db, Some(username), limit)
        .await?
        .into_iter()
        .filter(|e| e.outcome != "otp_secret_sent")
        .map(|e| SignInEvent {
            username: e.username,
            at: e.at,
            device_id: e.device_id,
            online: true,
            outcome: e.outcome,
            detail: e.detail,
        })
        .collect();
    let offline = with_db!(db, pool => {
        sqlx::query(
            "SELECT at, device_id, action, changes FROM audit_entries
             WHERE user_name = $1 AND action IN ('login_success', 'login_failure', 'login_sign_out')
             ORDER BY at DESC LIMIT $2",
        )
        .bind(username)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            (
                r.get::<String, _>("at"),
                r.get::<String, _>("device_id"),
                r.get::<String, _>("action"),
                r.get::<String, _>("changes"),
            )
        })
        .collect::<Vec<_>>()
    });
    for (at, device_id, action, changes) in offline {
        let changes: Vec<sync_protocol::audit::FieldChange> =
            serde_json::from_str(&changes).unwrap_or_default();
        let detail = changes
            .into_iter()
            .find(|c| c.field == "detail")
            .and_then(|c| c.after);
        // The station's note of an online sign-in repeats the server's own event.
        if detail.as_deref() == Some("online") {
            continue;
        }
        out.push(SignInEvent {
            username: username.to_string(),
            at,
            device_id: Some(device_id),
            online: false,
            outcome: action.trim_start_matches("login_").to_string(),
            detail: detail.filter(|d| d != "offline"),
        });
    }
    out.sort_by(|a, b| b.at.cmp(&a.at));
    out.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(out)
}

/// Records a login attempt.
async fn record(
    db: &Db,
    username: &str,
    device: Option<&str>,
    address: Option<&str>,
    outcome: &str,
    detail: Option<&str>,
) {
    let at = format_time(now());
    let _ = with_db!(db, pool => {
        sqlx::query("INSERT INTO login_events (username, at, device_id, address, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(username)
            .bind(&at)
            .bind(device)
            .bind(address)
            .bind(outcome)
            .bind(detail)
            .execute(pool)
            .await
            .map(|_| ())
    });
}

/// One row of the login history.
#[derive(Debug, Clone, Serialize)]
pub struct LoginEvent {
    pub username: String,
    pub at: String,
    pub device_id: Option<String>,
    pub address: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// The login history, newest first (of one account when given).
pub async fn login_events(
    db: &Db,
    username: Option<&str>,
    limit: i64,
) -> Result<Vec<LoginEvent>, AuthError> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT username, at, device_id, address, outcome, detail FROM login_events
             WHERE $1 = '' OR username = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(username.unwrap_or(""))
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| LoginEvent {
            username: r.get("username"),
            at: r.get("at"),
            device_id: r.get("device_id"),
            address: r.get("address"),
            outcome: r.get("outcome"),
            detail: r.get("detail"),
        })
        .collect()
    }))
}

/// Where a login comes from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub device_id: Option<String>,
    pub address: Option<String>,
}

/// Signs in with password and one-time code (or starts the first-login steps).
pub async fn login(db: &Db, req: &LoginRequest, origin: &Origin) -> Result<LoginStep, AuthError> {
    let username = req.username.trim().to_lowercase();
    let dev = origin.device_id.as_deref();
    let addr = origin.address.as_deref();
    if username.is_empty()
        || username.len() > 64
        || req.password.len() > 256
        || req.otp.as_ref().is_some_and(|o| o.len() > 16)
    {
        record(
            db,
            &username.chars().take(64).collect::<String>(),
            dev,
            addr,
            "failure",
            Some("malformed"),
        )
        .await;
        return Err(AuthError::InvalidCredentials);
    }
    // A name that is no account answers exactly as an account would: the same refusal, the
    // same time (a hash), and the same lock after five tries from one address.
    let Some(acct) = account(db, &username).await? else {
        if let Err(locked) = claim_attempt(db, &username, addr).await {
            record(db, &username, dev, addr, "failure", Some("locked")).await;
            return Err(locked);
        }
        let _ = password_matches(&req.password, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
        record(db, &username, dev, addr, "failure", Some("unknown_account")).await;
        return Err(AuthError::InvalidCredentials);
    };
    if let Err(locked) = claim_account_attempt(db, &acct, addr).await {
        record(db, &username, dev, addr, "failure", Some("locked")).await;
        return Err(locked);
    }
    if !password_matches(&req.password, &acct.password_hash).await {
        fail(db, &acct, dev, addr, "wrong_password").await?;
        return Err(AuthError::InvalidCredentials);
    }
    // Revocation is told only to whoever knows the password: not a way to list accounts.
    if acct.info.status == "revoked" {
        record(db, &username, dev, addr, "failure", Some("revoked")).await;
        return Err(AuthError::Revoked);
    }
    if !acct.otp_enrolled {
        // First login: the password was right; enrol an authenticator before anything else.
        let secret = new_otp_secret();
        set_secret(db, &username, &secret).await?;
        let challenge = new_challenge(db, &username, "enroll").await?;
        record(db, &username, dev, addr, "enrollment_started", None).await;
        return Ok(LoginStep::EnrollOtp {
            challenge,
            otp_uri: otp_uri(&secret, &username)?,
            otp_secret_base32: otp_secret_base32(&secret),
        });
    }
    let secret = acct.otp_secret.clone().unwrap_or_default();
    let last = acct.last_otp_step.and_then(|s| u64::try_from(s).ok());
    let step = match req
        .otp
        .as_deref()
        .map(|code| verify_otp(&secret, code, unix_now(), last))
    {
        Some(Ok(step)) => step,
        Some(Err(OtpError::Replayed)) => {
            fail(db, &acct, dev, addr, "otp_replayed").await?;
            return Err(AuthError::Otp(OtpError::Replayed));
        }
        _ => {
            fail(db, &acct, dev, addr, "wrong_otp").await?;
            return Err(AuthError::InvalidCredentials);
        }
    };
    if let Err(e) = spend_code(db, &username, addr, step).await {
        // Another request spent this code first: a replay, counted like any failure.
        fail(db, &acct, dev, addr, "otp_replayed").await?;
        return Err(e);
    }
    if acct.info.must_change_password {
        let challenge = new_challenge(db, &username, "change_password").await?;
        record(db, &username, dev, addr, "password_change_required", None).await;
        return Ok(LoginStep::ChangePassword { challenge });
    }
    let grant = open_session(db, &acct, dev, req.want_secret).await?;
    record(db, &username, dev, addr, "success", None).await;
    Ok(LoginStep::Session(Box::new(grant)))
}

/// Counts an attempt to prove `username`'s password or code (an account or not: the answers
/// must not tell which) from `addr`, *before* the check, so attempts sent in parallel cannot all
/// pass before the first failure is written. The [`FREE_ATTEMPTS`]-th locks the name for that
/// address, for 30 s doubling with each further attempt; a success clears the count
/// ([`spend_code`]). An attempt while locked is refused and not counted.
async fn claim_attempt(db: &Db, username: &str, addr: Option<&str>) -> Result<(), AuthError> {
    let address = addr.unwrap_or_default();
    let current = now();
    let count: Option<i64> = with_db!(db, pool => {
        // Counts idle for a day are forgotten (a name typed once by mistake leaves no trace);
        // a lock still running is never idle.
        sqlx::query("DELETE FROM sign_in_failures WHERE last_at < $1 AND (locked_until IS NULL OR locked_until < $2)")
            .bind(format_time(current - Duration::days(1)))
            .bind(format_time(current))
            .execute(pool)
            .await?;
        // One statement: concurrent attempts each get their own number, and the attempt that
        // reaches the limit locks at once (for a day, shortened just below), so no attempt sent
        // alongside slips through before the lock is written. Times compare as text.
        sqlx::query_scalar(
            "INSERT INTO sign_in_failures (username, address, failures, last_at) VALUES ($1, $2, 1, $3)
             ON CONFLICT (username, address) DO UPDATE SET
                 failures = sign_in_failures.failures + 1,
                 last_at = $3,
                 locked_until = CASE WHEN sign_in_failures.failures + 1 >= $4 THEN $5
                                     ELSE sign_in_failures.locked_until END
             WHERE sign_in_failures.locked_until IS NULL OR sign_in_failures.locked_until < $3
             RETURNING failures",
        )
        .bind(username)
        .bind(address)
        .bind(format_time(current))
        .bind(FREE_ATTEMPTS)
        .bind(format_time(current + Duration::days(1)))
        .fetch_optional(pool)
        .await
    })?;
    let Some(count) = count else {
        let until = address_lock(db, username, addr).await?.unwrap_or(current);
        return Err(AuthError::Locked {
            until: format_time(until),
        });
    };
    if count >= FREE_ATTEMPTS {
        let until = format_time(current + Duration::seconds(lock_seconds(count - FREE_ATTEMPTS)));
        with_db!(db, pool => {
            sqlx::query("UPDATE sign_in_failures SET locked_until = $1 WHERE username = $2 AND address = $3")
                .bind(&until)
                .bind(username)
                .bind(address)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    Ok(())
}

/// [`claim_attempt`] for an account, refused first if it is locked everywhere.
async fn claim_account_attempt(
    db: &Db,
    acct: &Account,
    addr: Option<&str>,
) -> Result<(), AuthError> {
    if let Some(until) = locked_everywhere(acct) {
        return Err(AuthError::Locked {
            until: format_time(until),
        });
    }
    claim_attempt(db, &acct.info.username, addr).await
}

/// Until when the account is locked for every address, if it is.
fn locked_everywhere(acct: &Account) -> Option<OffsetDateTime> {
    acct.locked_until
        .as_deref()
        .and_then(parse_time)
        .filter(|t| *t > now())
}

/// Until when `username` is locked for `addr`, if it is.
async fn address_lock(
    db: &Db,
    username: &str,
    addr: Option<&str>,
) -> Result<Option<OffsetDateTime>, AuthError> {
    let until: Option<String> = with_db!(db, pool => {
        sqlx::query_scalar("SELECT locked_until FROM sign_in_failures WHERE username = $1 AND address = $2")
            .bind(username)
            .bind(addr.unwrap_or_default())
            .fetch_optional(pool)
            .await?
            .flatten()
    });
    Ok(until.as_deref().and_then(parse_time).filter(|t| *t > now()))
}

/// Records a failed attempt (already counted for its address by [`claim_attempt`]); after
/// [`ACCOUNT_FREE_ATTEMPTS`] from all addresses together the account is locked everywhere.
async fn fail(
    db: &Db,
    acct: &Account,
    dev: Option<&str>,
    addr: Option<&str>,
    why: &str,
) -> Result<(), AuthError> {
    let username = &acct.info.username;
    let everywhere: i64 = with_db!(db, pool => {
        sqlx::query_scalar("UPDATE accounts SET failed_attempts = failed_attempts + 1 WHERE username = $1 RETURNING failed_attempts")
            .bind(username)
            .fetch_one(pool)
            .await
    })?;
    if everywhere >= ACCOUNT_FREE_ATTEMPTS {
        let until = format_time(
            now() + Duration::seconds(lock_seconds(everywhere - ACCOUNT_FREE_ATTEMPTS)),
        );
        with_db!(db, pool => {
            sqlx::query("UPDATE accounts SET locked_until = $1 WHERE username = $2")
                .bind(&until)
                .bind(username)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    record(db, username, dev, addr, "failure", Some(why)).await;
    Ok(())
}

/// Spends a code's time step: one atomic compare-and-set of the account's last accepted step,
/// so of two requests carrying the same code (a login, a step-up, a password change, in any mix
/// and at the same instant) exactly one wins and the other is refused as replayed. A success
/// clears the failure count and any lock.
async fn spend_code(
    db: &Db,
    username: &str,
    addr: Option<&str>,
    step: u64,
) -> Result<(), AuthError> {
    let step = i64::try_from(step).map_err(|_| AuthError::Otp(OtpError::Replayed))?;
    let spent = with_db!(db, pool => {
        sqlx::query(
            "UPDATE accounts SET failed_attempts = 0, locked_until = NULL, last_otp_step = $1
             WHERE username = $2 AND (last_otp_step IS NULL OR last_otp_step < $1)",
        )
        .bind(step)
        .bind(username)
        .execute(pool)
        .await?
        .rows_affected()
    });
    if spent != 1 {
        return Err(AuthError::Otp(OtpError::Replayed));
    }
    with_db!(db, pool => {
        sqlx::query("DELETE FROM sign_in_failures WHERE username = $1 AND address = $2")
            .bind(username)
            .bind(addr.unwrap_or_default())
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    Ok(())
}

/// Refuses a first-login step while the account is locked for this address or everywhere.
/// (Every check of a password or code goes through [`claim_account_attempt`] instead: the lock
/// holds for a signed-in password change and a step-up as for a login, else they would be a way
/// round it, and the password change an oracle for the password.)
async fn refuse_if_locked(db: &Db, acct: &Account, addr: Option<&str>) -> Result<(), AuthError> {
    let here = address_lock(db, &acct.info.username, addr).await?;
    match locked_everywhere(acct).max(here) {
        Some(until) => Err(AuthError::Locked {
            until: format_time(until),
        }),
        None => Ok(()),
    }
}

async fn set_secret(db: &Db, username: &str, secret: &[u8]) -> Result<(), AuthError> {
    with_db!(db, pool => {
        sqlx::query("UPDATE accounts SET otp_secret = $1 WHERE username = $2")
            .bind(secret)
            .bind(username)
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    Ok(())
}

async fn new_challenge(db: &Db, username: &str, kind: &str) -> Result<String, AuthError> {
    let t = token();
    let expires = format_time(now() + Duration::minutes(CHALLENGE_MINUTES));
    with_db!(db, pool => {
        // Challenges left unfinished are cleared once they expire (times compare as text).
        sqlx::query("DELETE FROM auth_challenges WHERE expires_at < $1")
            .bind(format_time(now()))
            .execute(pool)
            .await?;
        sqlx::query("INSERT INTO auth_challenges (token_hash, username, kind, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash(&t))
            .bind(username)
            .bind(kind)
            .bind(&expires)
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    Ok(t)
}

/// The account of a live challenge of `kind` (left in place: a mistyped code or a weak new
/// password does not send the user back to the start).
async fn challenge_account(
    db: &Db,
    challenge: &str,
    kind: &str,
    addr: Option<&str>,
) -> Result<Account, AuthError> {
    let row: Option<(String, String)> = with_db!(db, pool => {
        sqlx::query("SELECT username, expires_at FROM auth_challenges WHERE token_hash = $1 AND kind = $2")
            .bind(token_hash(challenge))
            .bind(kind)
            .fetch_optional(pool)
            .await?
            .map(|r| (r.get("username"), r.get("expires_at")))
    });
    let Some((username, expires)) = row else {
        return Err(AuthError::ChallengeExpired);
    };
    if parse_time(&expires).is_none_or(|t| t < now()) {
        return Err(AuthError::ChallengeExpired);
    }
    let acct = account(db, &username)
        .await?
        .ok_or(AuthError::ChallengeExpired)?;
    if acct.info.status == "revoked" {
        return Err(AuthError::Revoked);
    }
    refuse_if_locked(db, &acct, addr).await?;
    Ok(acct)
}

/// Uses a challenge up; only one of two concurrent requests gets it.
async fn spend_challenge(db: &Db, challenge: &str) -> Result<(), AuthError> {
    let spent = with_db!(db, pool => {
        sqlx::query("DELETE FROM auth_challenges WHERE token_hash = $1")
            .bind(token_hash(challenge))
            .execute(pool)
            .await?
            .rows_affected()
    });
    if spent == 1 {
        Ok(())
    } else {
        Err(AuthError::ChallengeExpired)
    }
}

/// Confirms a first-login enrollment with a code from the authenticator.
pub async fn enroll(
    db: &Db,
    challenge: &str,
    otp: &str,
    origin: &Origin,
) -> Result<LoginStep, AuthError> {
    let acct = challenge_account(db, challenge, "enroll", origin.address.as_deref()).await?;
    claim_account_attempt(db, &acct, origin.address.as_deref()).await?;
    let secret = acct.otp_secret.clone().unwrap_or_default();
    let step = match verify_otp(&secret, otp, unix_now(), None) {
        Ok(step) => step,
        Err(e) => {
            // Counts towards the lockout like any wrong code.
            fail(
                db,
                &acct,
                origin.device_id.as_deref(),
                origin.address.as_deref(),
                "enroll_wrong_otp",
            )
            .await?;
            return Err(e.into());
        }
    };
    // The code first: a refused one leaves the challenge for the next code.
    spend_code(db, &acct.info.username, origin.address.as_deref(), step).await?;
    spend_challenge(db, challenge).await?;
    with_db!(db, pool => {
        sqlx::query("UPDATE accounts SET otp_enrolled = TRUE WHERE username = $1")
            .bind(&acct.info.username)
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    record(
        db,
        &acct.info.username,
        origin.device_id.as_deref(),
        origin.address.as_deref(),
        "otp_enrolled",
        None,
    )
    .await;
    if acct.info.must_change_password {
        return Ok(LoginStep::ChangePassword {
            challenge: new_challenge(db, &acct.info.username, "change_password").await?,
        });
    }
    // The first-login steps: the enrolling device keeps the secret the user just scanned.
    let grant = open_session(db, &acct, origin.device_id.as_deref(), true).await?;
    Ok(LoginStep::Session(Box::new(grant)))
}

/// Changes the password after a first-login challenge, returning a session.
pub async fn change_password_with_challenge(
    db: &Db,
    challenge: &str,
    new_password: &str,
    origin: &Origin,
) -> Result<SessionGrant, AuthError> {
    let acct =
        challenge_account(db, challenge, "change_password", origin.address.as_deref()).await?;
    check_new_password(&acct, new_password).await?;
    spend_challenge(db, challenge).await?;
    set_password(db, &acct, new_password).await?;
    record(
        db,
        &acct.info.username,
        origin.device_id.as_deref(),
        origin.address.as_deref(),
        "password_changed",
        None,
    )
    .await;
    let acct = account(db, &acct.info.username)
        .await?
        .ok_or(AuthError::SessionInvalid)?;
    // The first-login steps: the enrolling device keeps the secret the user just scanned.
    let grant = open_session(db, &acct, origin.device_id.as_deref(), true).await?;
    record(
        db,
        &acct.info.username,
        origin.device_id.as_deref(),
        origin.address.as_deref(),
        "success",
        None,
    )
    .await;
    Ok(grant)
}

/// Changes the password of a signed-in user, who gives the old one and a fresh code.
pub async fn change_password(
    db: &Db,
    user: &SessionUser,
    old: &str,
    otp: &str,
    new_password: &str,
) -> Result<(), AuthError> {
    let acct = account(db, &user.account.username)
        .await?
        .ok_or(AuthError::SessionInvalid)?;
    let addr = user.address.as_deref();
    claim_account_attempt(db, &acct, addr).await?;
    if !password_matches(old, &acct.password_hash).await {
        fail(db, &acct, None, addr, "wrong_password").await?;
        return Err(AuthError::InvalidCredentials);
    }
    check_new_password(&acct, new_password).await?;
    let last = acct.last_otp_step.and_then(|s| u64::try_from(s).ok());
    let step = match verify_otp(
        acct.otp_secret.as_deref().unwrap_or_default(),
        otp,
        unix_now(),
        last,
    ) {
        Ok(step) => step,
        Err(e) => {
            fail(db, &acct, None, addr, "wrong_otp").await?;
            return Err(e.into());
        }
    };
    spend_code(db, &acct.info.username, addr, step).await?;
    set_password(db, &acct, new_password).await
}

/// Refuses a new password that breaks the policy or repeats the current one.
async fn check_new_password(acct: &Account, new_password: &str) -> Result<(), AuthError> {
    check_password(new_password)?;
    if password_matches(new_password, &acct.password_hash).await {
        return Err(AuthError::SamePassword);
    }
    Ok(())
}

/// Stores a new password (already checked) and ends the must-change state.
async fn set_password(db: &Db, acct: &Account, new_password: &str) -> Result<(), AuthError> {
    let hash = hash_password(new_password).await?;
    with_db!(db, pool => {
        sqlx::query("UPDATE accounts SET password_hash = $1, must_change_password = FALSE WHERE username = $2")
            .bind(&hash)
            .bind(&acct.info.username)
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    Ok(())
}

/// Opens a session on `device`. The authenticator secret goes with it only when `send_secret`
/// (an enrolment, or a station that holds no copy it can open) and the request came from a
/// registered device: a login from anywhere else, or a sniffed one, never carries it.
async fn open_session(
    db: &Db,
    acct: &Account,
    device: Option<&str>,
    send_secret: bool,
) -> Result<SessionGrant, AuthError> {
    let t = token();
    let created = now();
    let expires = format_time(created + Duration::hours(SESSION_HOURS));
    with_db!(db, pool => {
        sqlx::query("INSERT INTO sessions (token_hash, username, device_id, created_at, expires_at, revoked) VALUES ($1, $2, $3, $4, $5, FALSE)")
            .bind(token_hash(&t))
            .bind(&acct.info.username)
            .bind(device)
            .bind(format_time(created))
            .bind(&expires)
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    let mut info = acct.info.clone();
    info.must_change_password = false;
    Ok(SessionGrant {
        token: t,
        expires_at: expires,
        account: info,
        otp_secret: if send_secret && device.is_some() {
            record(
                db,
                &acct.info.username,
                device,
                None,
                "otp_secret_sent",
                None,
            )
            .await;
            acct.otp_secret.clone()
        } else {
            None
        },
        offline_lease_days: OFFLINE_LEASE_DAYS,
    })
}

/// The user of a session token, if it is valid and its account active.
pub async fn session_user(db: &Db, token: &str) -> Result<SessionUser, AuthError> {
    if token.len() > 200 {
        return Err(AuthError::SessionInvalid);
    }
    let row: Option<(String, String, bool)> = with_db!(db, pool => {
        sqlx::query("SELECT username, expires_at, revoked FROM sessions WHERE token_hash = $1")
            .bind(token_hash(token))
            .fetch_optional(pool)
            .await?
            .map(|r| (r.get("username"), r.get("expires_at"), r.get("revoked")))
    });
    let Some((username, expires, revoked)) = row else {
        return Err(AuthError::SessionInvalid);
    };
    let acct = account(db, &username)
        .await?
        .ok_or(AuthError::SessionInvalid)?;
    if acct.info.status == "revoked" {
        return Err(AuthError::Revoked);
    }
    if revoked || parse_time(&expires).is_none_or(|t| t < now()) {
        return Err(AuthError::SessionInvalid);
    }
    Ok(SessionUser {
        account: acct.info,
        address: None,
    })
}

/// Ends a session.
pub async fn logout(db: &Db, token: &str) -> Result<(), AuthError> {
    with_db!(db, pool => {
        sqlx::query("UPDATE sessions SET revoked = TRUE WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    Ok(())
}

/// Checks a fresh one-time code of a signed-in user (a code is accepted once; failures count
/// towards the lock like a failed login).
pub async fn verify_fresh_otp(db: &Db, user: &SessionUser, otp: &str) -> Result<(), AuthError> {
    let acct = account(db, &user.account.username)
        .await?
        .ok_or(AuthError::SessionInvalid)?;
    let addr = user.address.as_deref();
    claim_account_attempt(db, &acct, addr).await?;
    let last = acct.last_otp_step.and_then(|s| u64::try_from(s).ok());
    match verify_otp(
        acct.otp_secret.as_deref().unwrap_or_default(),
        otp,
        unix_now(),
        last,
    ) {
        Ok(step) => spend_code(db, &acct.info.username, addr, step).await,
        Err(e) => {
            fail(db, &acct, None, addr, "wrong_otp").await?;
            Err(e.into())
        }
    }
}

/// Issues a step-up grant: `user` gave a fresh code (checked here, once) for these sensitive
/// fields of these people, on `device`. The grant is usable for [`rules::GRANT_LIFETIME`].
///
/// [`rules::GRANT_LIFETIME`]: sync_protocol::rules::GRANT_LIFETIME
pub async fn step_up_grant(
    db: &Db,
    user: &SessionUser,
    device: &str,
    req: &sync_protocol::auth::StepUpRequest,
) -> Result<sync_protocol::auth::StepUpGrant, AuthError> {
    use sync_protocol::auth::MAX_GRANT_PEOPLE;
    if !user.account.role.writes_people() {
        return Err(AuthError::Forbidden {
            role: user.account.role.label(),
        });
    }
    let people: std::collections::BTreeSet<uuid::Uuid> = req.person_ids.iter().copied().collect();
    let fields: std::collections::BTreeSet<sync_protocol::rules::SensitiveField> =
        req.fields.iter().copied().collect();
    if people.is_empty() || people.len() > MAX_GRANT_PEOPLE || fields.is_empty() {
        return Err(AuthError::GrantSize {
            max: MAX_GRANT_PEOPLE,
        });
    }
    verify_fresh_otp(db, user, &req.otp).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let issued = now();
    let expires_at = format_time(issued + sync_protocol::rules::GRANT_LIFETIME);
    let field_text = fields
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let issued_text = format_time(issued);
    let people: Vec<uuid::Uuid> = people.into_iter().collect();
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for chunk in people.chunks(500) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO step_up_grants (id, person_id, username, fields, device_id, issued_at, expires_at) ",
            );
            q.push_values(chunk, |mut b, p| {
                b.push_bind(id.clone())
                    .push_bind(p.to_string())
                    .push_bind(user.account.username.clone())
                    .push_bind(field_text.clone())
                    .push_bind(device.to_string())
                    .push_bind(issued_text.clone())
                    .push_bind(expires_at.clone());
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await
    })?;
    Ok(sync_protocol::auth::StepUpGrant {
        id,
        person_ids: people,
        fields: fields.into_iter().collect(),
        expires_at,
    })
}

/// Registers a certificate (issuer and serial) on a signer's account, once; returns the account.
pub async fn add_certificate(
    db: &Db,
    username: &str,
    cert: RegisteredCertificate,
) -> Result<AccountInfo, AuthError> {
    let acct = account(db, username)
        .await?
        .ok_or_else(|| AuthError::NoSuchAccount(username.to_string()))?;
    let mut certificates: Vec<RegisteredCertificate> = acct
        .info
        .certificates
        .iter()
        .filter(|c| !c.issuer_key.is_empty())
        .cloned()
        .collect();
    if !certificates
        .iter()
        .any(|c| c.is(&cert.serial, &cert.issuer_key))
    {
        certificates.push(cert);
    }
    set_certificates(db, username, &certificates).await?;
    let mut info = acct.info;
    info.certificates = certificates;
    Ok(info)
}

/// Sets the organisation certificates a signer may sign with (replaces the registered ones).
pub async fn set_certificates(
    db: &Db,
    username: &str,
    certificates: &[RegisteredCertificate],
) -> Result<(), AuthError> {
    let json = serde_json::to_string(certificates).unwrap_or_else(|_| "[]".into());
    let done = with_db!(db, pool => {
        sqlx::query("UPDATE accounts SET certificates = $1, certificate_serials = '' WHERE username = $2")
            .bind(&json)
            .bind(username)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    if done == 0 {
        return Err(AuthError::NoSuchAccount(username.to_string()));
    }
    Ok(())
}
