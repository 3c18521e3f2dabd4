//! Resetting an account's password or authenticator, and the one transaction that writes a
//! reset with its log (who may reset, and the second person, are in `resets`).

use super::AuthError;
use super::passwords::hash_password;
use super::records::account;
use super::resets::{self, Approval, LogRow, ResetBy, request_reset, status_text};
use crate::db::Db;
use crate::with_db;
use sqlx::Row;
use sync_protocol::Clock;
use sync_protocol::auth::check_password;
use sync_protocol::person::format_time;

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
