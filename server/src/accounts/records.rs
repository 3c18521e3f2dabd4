//! Accounts as stored: read from their rows, listed, created with an initial password, revoked.

use super::passwords::hash_password;
use super::{Account, AuthError};
use crate::db::Db;
use crate::with_db;
use sqlx::Row;
use sync_protocol::auth::{AccountInfo, NewAccount, RegisteredCertificate, Role, check_password};
use sync_protocol::manifest::normalize_serial;
use sync_protocol::person::{format_time, now};
use sync_protocol::{Field, FieldError, Problem, validate};

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
