//! One-time codes spent once, the authenticator secret set at enrolment, and the challenges that
//! carry a first login from one step to the next.

use super::throttle::{EVERYWHERE, refuse_if_locked};
use crate::accounts::passwords::{token, token_hash};
use crate::accounts::records::account;
use crate::accounts::{Account, AuthError, CHALLENGE_MINUTES};
use crate::db::Db;
use crate::with_db;
use sqlx::Row;
use sync_protocol::Clock;
use sync_protocol::auth::OtpError;
use sync_protocol::person::{format_time, parse_time};
use time::Duration;

/// Spends a code's time step: one atomic compare-and-set of the account's last accepted step,
/// so of two requests carrying the same code (a login, a step-up, a password change, in any mix
/// and at the same instant) exactly one wins and the other is refused as replayed. A success
/// clears the failure count and any lock.
pub(in crate::accounts) async fn spend_code(
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
        sqlx::query("DELETE FROM sign_in_failures WHERE username = $1 AND address IN ($2, $3)")
            .bind(username)
            .bind(crate::net::lock_key(addr))
            .bind(EVERYWHERE)
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    Ok(())
}

pub(super) async fn set_secret(db: &Db, username: &str, secret: &[u8]) -> Result<(), AuthError> {
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

pub(super) async fn new_challenge(
    db: &Db,
    clock: &Clock,
    username: &str,
    kind: &str,
) -> Result<String, AuthError> {
    let t = token();
    let expires = format_time(clock.now() + Duration::minutes(CHALLENGE_MINUTES));
    with_db!(db, pool => {
        // Challenges left unfinished are cleared once they expire (times compare as text).
        sqlx::query("DELETE FROM auth_challenges WHERE expires_at < $1")
            .bind(format_time(clock.now()))
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
pub(super) async fn challenge_account(
    db: &Db,
    clock: &Clock,
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
    if parse_time(&expires).is_none_or(|t| t < clock.now()) {
        return Err(AuthError::ChallengeExpired);
    }
    let acct = account(db, &username)
        .await?
        .ok_or(AuthError::ChallengeExpired)?;
    if acct.info.status == "revoked" {
        return Err(AuthError::Revoked);
    }
    refuse_if_locked(db, clock, &acct, addr).await?;
    Ok(acct)
}

/// Uses a challenge up; only one of two concurrent requests gets it.
pub(super) async fn spend_challenge(db: &Db, challenge: &str) -> Result<(), AuthError> {
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
