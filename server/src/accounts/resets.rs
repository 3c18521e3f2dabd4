//! Resetting a password or an authenticator, and the second person (issue 26): whoever resets
//! both factors of an account that reads people's data holds that account — its new password
//! and the enrolment of its new authenticator. So the second factor reset while the first is
//! still in other hands (reset within a day, or not yet renewed by the holder) waits for another
//! person to approve it: another head of the facility, or the district that follows it. A
//! system administrator approves none. Every reset is logged; the holder is told at the next
//! sign-in on every device, and the district console lists the resets of both factors.

use super::passwords::hash_password;
use super::records::account;
use super::{Account, AuthError};
use crate::console::Area;
use crate::db::Db;
use crate::with_db;
use sqlx::Row;
use sync_protocol::Clock;
use sync_protocol::auth::check_password;
use sync_protocol::auth::{AccountInfo, CredentialFactor, ResetRecord, ResetStatus, Role};
use sync_protocol::person::{format_time, parse_time};
use time::{Duration, OffsetDateTime};

/// How long a reset awaits its second person, and how long an applied reset counts as
/// recent for the other factor.
pub const RESET_WINDOW_HOURS: i64 = 24;

/// How long the holder is told about a reset at sign-in.
pub const RESET_NOTICE_DAYS: i64 = 30;

/// Who asks for a reset.
#[derive(Debug, Clone)]
pub struct ResetBy {
    pub username: String,
    /// `None` for the server's operator at its console (`sotiem-server account …`), who holds
    /// the database anyway: logged, never held for approval.
    pub role: Option<Role>,
}

impl ResetBy {
    /// A signed-in administrator.
    pub fn account(a: &AccountInfo) -> ResetBy {
        ResetBy {
            username: a.username.clone(),
            role: Some(a.role),
        }
    }

    /// The server's operator.
    pub fn operator() -> ResetBy {
        ResetBy {
            username: "operator".into(),
            role: None,
        }
    }
}

const RESET_COLUMNS: &str = "id, username, facility, factor, requested_by, requested_at, status,
    both_factors, approved_by, applied_at";

fn record_from_row<R: Row>(r: &R) -> Option<ResetRecord>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let status = match r.get::<String, _>("status").as_str() {
        "applied" => ResetStatus::Applied,
        "pending" => ResetStatus::AwaitingApproval,
        _ => ResetStatus::Expired,
    };
    Some(ResetRecord {
        id: r.get("id"),
        username: r.get("username"),
        facility: r.get("facility"),
        factor: CredentialFactor::parse(&r.get::<String, _>("factor"))?,
        requested_by: r.get("requested_by"),
        requested_at: r.get("requested_at"),
        status,
        approved_by: r.get("approved_by"),
        applied_at: r.get("applied_at"),
        both_factors: r.get("both_factors"),
    })
}

/// A pending request past its window, as read now.
fn as_of(mut r: ResetRecord, clock: &Clock) -> ResetRecord {
    let stale = parse_time(&r.requested_at)
        .is_none_or(|t| t + Duration::hours(RESET_WINDOW_HOURS) < clock.now());
    if r.status == ResetStatus::AwaitingApproval && stale {
        r.status = ResetStatus::Expired;
    }
    r
}

/// The latest applied reset of `factor` of `username`.
async fn last_applied(
    db: &Db,
    username: &str,
    factor: CredentialFactor,
) -> Result<Option<ResetRecord>, AuthError> {
    let sql = format!(
        "SELECT {RESET_COLUMNS} FROM credential_resets
         WHERE username = $1 AND factor = $2 AND status = 'applied'
         ORDER BY applied_at DESC LIMIT 1"
    );
    Ok(with_db!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .bind(factor.as_str())
            .fetch_optional(pool)
            .await?
            .and_then(|r| record_from_row(&r))
    }))
}

/// Whether `target`'s other factor is still in other hands: reset within the window, or reset
/// and not yet renewed by its holder (the initial password not yet changed, the authenticator
/// not yet enrolled again).
async fn other_factor_in_other_hands(
    db: &Db,
    clock: &Clock,
    target: &Account,
    factor: CredentialFactor,
) -> Result<bool, AuthError> {
    let other = factor.other();
    let Some(last) = last_applied(db, &target.info.username, other).await? else {
        return Ok(false);
    };
    let recent = last
        .applied_at
        .as_deref()
        .and_then(parse_time)
        .is_some_and(|t| t + Duration::hours(RESET_WINDOW_HOURS) > clock.now());
    let not_renewed = match other {
        CredentialFactor::Password => target.info.must_change_password,
        CredentialFactor::Authenticator => !target.otp_enrolled,
    };
    Ok(recent || not_renewed)
}

/// Resets `factor` of `target` for `by` (who may run the account: checked by the caller), or,
/// when the other factor is still in other hands and the account reads people's data, records
/// the request for a second person. `password_hash` is the new initial password's hash, for a
/// password reset.
pub async fn request_reset(
    db: &Db,
    clock: &Clock,
    by: &ResetBy,
    target: &Account,
    factor: CredentialFactor,
    password_hash: Option<String>,
) -> Result<ResetRecord, AuthError> {
    let both = other_factor_in_other_hands(db, clock, target, factor).await?;
    let held = both && target.role().reads_people() && by.role.is_some();
    let now = format_time(clock.now());
    let record = ResetRecord {
        id: uuid::Uuid::now_v7().to_string(),
        username: target.info.username.clone(),
        facility: target.info.facility.clone(),
        factor,
        requested_by: by.username.clone(),
        requested_at: now.clone(),
        status: if held {
            ResetStatus::AwaitingApproval
        } else {
            ResetStatus::Applied
        },
        approved_by: None,
        applied_at: (!held).then(|| now.clone()),
        both_factors: both,
    };
    let log = LogRow {
        record: &record,
        role: by.role.map_or("operator", Role::as_str),
        password_hash: password_hash.as_deref(),
    };
    if held {
        with_db!(db, pool => { insert_log!(pool, &log) })?;
    } else {
        let new = Reset {
            password_hash: password_hash.as_deref(),
            clear_authenticator: factor == CredentialFactor::Authenticator,
        };
        reset_credentials(db, clock, &record.username, new, Some(&log)).await?;
    }
    Ok(record)
}

/// What a reset writes in the log beside the account.
pub(super) struct LogRow<'a> {
    pub record: &'a ResetRecord,
    pub role: &'a str,
    pub password_hash: Option<&'a str>,
}

/// The stored name of a reset's status.
pub(super) fn status_text(status: ResetStatus) -> &'static str {
    match status {
        ResetStatus::Applied => "applied",
        ResetStatus::AwaitingApproval => "pending",
        ResetStatus::Expired => "expired",
    }
}

/// Inserts a [`LogRow`] on a connection or transaction of either backend (a macro: sqlx's
/// executor traits do not name one future type for both).
macro_rules! insert_log {
    ($conn:expr, $log:expr) => {{
        let log: &LogRow<'_> = $log;
        let r = log.record;
        sqlx::query(
            "INSERT INTO credential_resets (id, username, facility, factor, requested_by,
                requested_by_role, requested_at, status, both_factors, password_hash, approved_by,
                applied_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11)",
        )
        .bind(r.id.as_str())
        .bind(r.username.as_str())
        .bind(r.facility.as_str())
        .bind(r.factor.as_str())
        .bind(r.requested_by.as_str())
        .bind(log.role)
        .bind(r.requested_at.as_str())
        .bind(status_text(r.status))
        .bind(r.both_factors)
        .bind(log.password_hash)
        .bind(r.applied_at.as_deref())
        .execute($conn)
        .await
        .map(|_| ())
    }};
}
pub(super) use insert_log;

/// Whether `approver` is a second person who may approve a reset of an account of `facility`:
/// another head (facility administrator) of that facility, or an officer of the district that
/// follows it — never a system administrator, the requester or the holder.
async fn may_approve(
    db: &Db,
    approver: &AccountInfo,
    reset: &ResetRecord,
) -> Result<bool, AuthError> {
    if approver.username == reset.requested_by || approver.username == reset.username {
        return Ok(false);
    }
    Ok(match approver.role {
        Role::FacilityAdmin => approver.facility == reset.facility,
        Role::DistrictOfficer => Area::district(db, &approver.facility)
            .await
            .is_ok_and(|area| area.contains(&reset.facility)),
        _ => false,
    })
}

/// A reset request by id.
async fn reset_by_id(
    db: &Db,
    id: &str,
) -> Result<Option<(ResetRecord, Option<String>)>, AuthError> {
    let sql = format!("SELECT {RESET_COLUMNS}, password_hash FROM credential_resets WHERE id = $1");
    Ok(with_db!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .and_then(|r| Some((record_from_row(&r)?, r.get::<Option<String>, _>("password_hash"))))
    }))
}

/// A second person approves a reset awaiting approval: the reset is applied at once.
pub async fn approve_reset(
    db: &Db,
    clock: &Clock,
    approver: &AccountInfo,
    id: &str,
) -> Result<ResetRecord, AuthError> {
    let Some((reset, password_hash)) = reset_by_id(db, id.trim()).await? else {
        return Err(AuthError::NoSuchReset(id.chars().take(64).collect()));
    };
    if !may_approve(db, approver, &reset).await? {
        return Err(AuthError::SecondPerson {
            facility: reset.facility.clone(),
        });
    }
    let reset = as_of(reset, clock);
    match reset.status {
        ResetStatus::AwaitingApproval => {}
        ResetStatus::Applied => return Err(AuthError::ResetClosed("đã được duyệt")),
        ResetStatus::Expired => {
            return Err(AuthError::ResetClosed(
                "đã quá 24 giờ: người yêu cầu phải đặt lại lần nữa",
            ));
        }
    }
    let now = format_time(clock.now());
    let approval = Approval {
        id: &reset.id,
        approver: &approver.username,
        at: &now,
    };
    let new = Reset {
        password_hash: password_hash.as_deref(),
        clear_authenticator: reset.factor == CredentialFactor::Authenticator,
    };
    reset_approved(db, clock, &reset.username, new, &approval).await?;
    Ok(ResetRecord {
        status: ResetStatus::Applied,
        approved_by: Some(approver.username.clone()),
        applied_at: Some(now),
        ..reset
    })
}

/// The approval of a pending reset, written with the reset itself.
pub(super) struct Approval<'a> {
    pub id: &'a str,
    pub approver: &'a str,
    pub at: &'a str,
}

/// The resets of accounts of these facilities since `since`, newest first.
pub async fn resets_of_facilities(
    db: &Db,
    clock: &Clock,
    facilities: &[String],
    since: OffsetDateTime,
) -> Result<Vec<ResetRecord>, AuthError> {
    if facilities.is_empty() {
        return Ok(Vec::new());
    }
    let rows = with_db!(db, pool => {
        let mut q = sqlx::QueryBuilder::new(format!(
            "SELECT {RESET_COLUMNS} FROM credential_resets WHERE requested_at >= "
        ));
        q.push_bind(format_time(since));
        q.push(" AND facility IN (");
        crate::db::in_list!(q, facilities);
        q.push(" ORDER BY requested_at DESC LIMIT 500");
        q.build()
            .fetch_all(pool)
            .await?
            .iter()
            .filter_map(record_from_row)
            .collect::<Vec<_>>()
    });
    Ok(rows.into_iter().map(|r| as_of(r, clock)).collect())
}

/// The resets of `username`'s account made by someone else within [`RESET_NOTICE_DAYS`], for
/// its holder, newest first.
pub async fn resets_told_to_holder(
    db: &Db,
    clock: &Clock,
    username: &str,
) -> Result<Vec<ResetRecord>, AuthError> {
    let since = format_time(clock.now() - Duration::days(RESET_NOTICE_DAYS));
    let sql = format!(
        "SELECT {RESET_COLUMNS} FROM credential_resets
         WHERE username = $1 AND status = 'applied' AND applied_at >= $2 AND requested_by <> $1
         ORDER BY applied_at DESC LIMIT 20"
    );
    Ok(with_db!(db, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .bind(since)
            .fetch_all(pool)
            .await?
            .iter()
            .filter_map(record_from_row)
            .collect()
    }))
}

// Writing a reset: the one transaction that changes the credential and logs it.

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
pub(super) async fn reset_credentials(
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
pub(super) async fn reset_approved(
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
                insert_log!(&mut *tx, log)?;
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
