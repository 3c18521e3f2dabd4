//! Attempts counted before they are checked, and the locks they set: per name and address,
//! and per name everywhere (an account or not, so a lock never tells which names are accounts).

use crate::accounts::history::record;
use crate::accounts::{ACCOUNT_FREE_ATTEMPTS, Account, AuthError, FREE_ATTEMPTS};
use crate::db::Db;
use crate::with_db;
use sync_protocol::Clock;
use sync_protocol::auth::lock_seconds;
use sync_protocol::person::{format_time, parse_time};
use time::{Duration, OffsetDateTime};

/// Counts an attempt to prove `username`'s password or code (an account or not: the answers
/// must not tell which) from `addr`, *before* the check, so attempts sent in parallel cannot all
/// pass before the first failure is written. The [`FREE_ATTEMPTS`]-th locks the name for that
/// address, for 30 s doubling with each further attempt; a success clears the count
/// ([`spend_code`](super::codes::spend_code)). An attempt while locked is refused and not
/// counted.
pub(super) async fn claim_attempt(
    db: &Db,
    clock: &Clock,
    username: &str,
    addr: Option<&str>,
) -> Result<(), AuthError> {
    // An IPv6 client's whole /64 is one address here: else each of its addresses would be a
    // fresh set of five tries.
    let address = crate::net::lock_key(addr);
    let current = clock.now();
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
        .bind(&address)
        .bind(format_time(current))
        .bind(FREE_ATTEMPTS)
        .bind(format_time(current + Duration::days(1)))
        .fetch_optional(pool)
        .await
    })?;
    let Some(count) = count else {
        let until = address_lock(db, clock, username, addr)
            .await?
            .unwrap_or(current);
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
                .bind(&address)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    Ok(())
}

/// [`claim_attempt`] for an account, refused first if it is locked everywhere.
pub(in crate::accounts) async fn claim_account_attempt(
    db: &Db,
    clock: &Clock,
    acct: &Account,
    addr: Option<&str>,
) -> Result<(), AuthError> {
    claim_name_attempt(db, clock, &acct.info.username, addr).await
}

/// [`claim_attempt`] for a name (an account or not), refused first if the name is locked
/// everywhere.
pub(super) async fn claim_name_attempt(
    db: &Db,
    clock: &Clock,
    username: &str,
    addr: Option<&str>,
) -> Result<(), AuthError> {
    if let Some(until) = locked_everywhere(db, clock, username).await? {
        return Err(AuthError::Locked {
            until: format_time(until),
        });
    }
    claim_attempt(db, clock, username, addr).await
}

/// The address under which the failures of all addresses together are counted: no real
/// address is written so.
pub(super) const EVERYWHERE: &str = "*";

/// The key of `addr` in `sign_in_failures` ([`EVERYWHERE`] stays itself).
fn lock_address(addr: Option<&str>) -> String {
    match addr {
        Some(EVERYWHERE) => EVERYWHERE.to_string(),
        other => crate::net::lock_key(other),
    }
}

/// Until when `username` is locked for every address, if it is. Kept per name, account or not,
/// so the lock never tells which names are accounts.
pub(super) async fn locked_everywhere(
    db: &Db,
    clock: &Clock,
    username: &str,
) -> Result<Option<OffsetDateTime>, AuthError> {
    address_lock(db, clock, username, Some(EVERYWHERE)).await
}

/// Counts a failure of `username` from any address; the [`ACCOUNT_FREE_ATTEMPTS`]-th and each
/// later one lock the name everywhere, for 30 s doubling.
pub(super) async fn count_everywhere(
    db: &Db,
    clock: &Clock,
    username: &str,
) -> Result<(), AuthError> {
    let current = clock.now();
    let everywhere: i64 = with_db!(db, pool => {
        sqlx::query_scalar(
            "INSERT INTO sign_in_failures (username, address, failures, last_at) VALUES ($1, $2, 1, $3)
             ON CONFLICT (username, address) DO UPDATE SET
                 failures = sign_in_failures.failures + 1, last_at = $3
             RETURNING failures",
        )
        .bind(username)
        .bind(EVERYWHERE)
        .bind(format_time(current))
        .fetch_one(pool)
        .await
    })?;
    if everywhere >= ACCOUNT_FREE_ATTEMPTS {
        let until = format_time(
            current + Duration::seconds(lock_seconds(everywhere - ACCOUNT_FREE_ATTEMPTS)),
        );
        with_db!(db, pool => {
            sqlx::query("UPDATE sign_in_failures SET locked_until = $1 WHERE username = $2 AND address = $3")
                .bind(&until)
                .bind(username)
                .bind(EVERYWHERE)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    Ok(())
}

/// Until when `username` is locked for `addr`, if it is.
pub(super) async fn address_lock(
    db: &Db,
    clock: &Clock,
    username: &str,
    addr: Option<&str>,
) -> Result<Option<OffsetDateTime>, AuthError> {
    let until: Option<String> = with_db!(db, pool => {
        sqlx::query_scalar("SELECT locked_until FROM sign_in_failures WHERE username = $1 AND address = $2")
            .bind(username)
            .bind(lock_address(addr))
            .fetch_optional(pool)
            .await?
            .flatten()
    });
    Ok(until
        .as_deref()
        .and_then(parse_time)
        .filter(|t| *t > clock.now()))
}

/// Records a failed attempt (already counted for its address by [`claim_attempt`]); after
/// [`ACCOUNT_FREE_ATTEMPTS`] from all addresses together the account is locked everywhere.
pub(in crate::accounts) async fn fail(
    db: &Db,
    clock: &Clock,
    acct: &Account,
    dev: Option<&str>,
    addr: Option<&str>,
    why: &str,
) -> Result<(), AuthError> {
    let username = &acct.info.username;
    count_everywhere(db, clock, username).await?;
    record(db, username, dev, addr, "failure", Some(why)).await;
    Ok(())
}

/// Refuses a first-login step while the account is locked for this address or everywhere.
/// (Every check of a password or code goes through [`claim_account_attempt`] instead: the lock
/// holds for a signed-in password change and a step-up as for a login, else they would be a way
/// round it, and the password change an oracle for the password.)
pub(super) async fn refuse_if_locked(
    db: &Db,
    clock: &Clock,
    acct: &Account,
    addr: Option<&str>,
) -> Result<(), AuthError> {
    let here = address_lock(db, clock, &acct.info.username, addr).await?;
    match locked_everywhere(db, clock, &acct.info.username)
        .await?
        .max(here)
    {
        Some(until) => Err(AuthError::Locked {
            until: format_time(until),
        }),
        None => Ok(()),
    }
}
