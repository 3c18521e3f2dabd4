//! Signing in: the login state machine (password, code, first-login enrolment and password
//! change), attempts counted before they are checked, locks per address and per account, codes
//! spent once.
//!
//! Just over 600 lines with its unit tests, which prove the lock rule here by moving a clock.

use super::*;

/// Where a login comes from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub device_id: Option<String>,
    pub address: Option<String>,
    /// The facilities whose accounts the device serves: its own and the one whose scope it
    /// works in (a mobile team's parent). Empty without a registered device (a browser).
    pub device_serves: Vec<String>,
}

impl Origin {
    /// Whether the login comes from a device registered to `facility` (or to one of its
    /// mobile teams): the same rule that lets an account read people's data on a device.
    pub fn serves(&self, facility: &str) -> bool {
        self.device_serves.iter().any(|f| f == facility)
    }
}

/// Signs in with password and one-time code (or starts the first-login steps).
pub async fn login(
    db: &Db,
    clock: &Clock,
    req: &LoginRequest,
    origin: &Origin,
) -> Result<LoginStep, AuthError> {
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
    // same time (a hash), the same lock after five tries from one address, and the same lock
    // everywhere after twenty from all addresses.
    let Some(acct) = account(db, &username).await? else {
        if let Err(locked) = claim_name_attempt(db, clock, &username, addr).await {
            record(db, &username, dev, addr, "failure", Some("locked")).await;
            return Err(locked);
        }
        let _ = password_matches(&req.password, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
        count_everywhere(db, clock, &username).await?;
        record(db, &username, dev, addr, "failure", Some("unknown_account")).await;
        return Err(AuthError::InvalidCredentials);
    };
    if let Err(locked) = claim_account_attempt(db, clock, &acct, addr).await {
        record(db, &username, dev, addr, "failure", Some("locked")).await;
        return Err(locked);
    }
    if !password_matches(&req.password, &acct.password_hash).await {
        fail(db, clock, &acct, dev, addr, "wrong_password").await?;
        return Err(AuthError::InvalidCredentials);
    }
    // Revocation is told only to whoever knows the password: not a way to list accounts.
    if acct.info.status == "revoked" {
        record(db, &username, dev, addr, "failure", Some("revoked")).await;
        return Err(AuthError::Revoked);
    }
    if !acct.otp_enrolled {
        // An account that reads people's data gets its authenticator only on a laptop of its
        // facility, so whoever set its initial password (a system administrator creating a
        // head of station, say) cannot finish the account as their own from elsewhere.
        if acct.role().reads_people() && !origin.serves(&acct.info.facility) {
            record(
                db,
                &username,
                dev,
                addr,
                "failure",
                Some("enrol_wrong_device"),
            )
            .await;
            return Err(AuthError::EnrolOnFacilityDevice {
                facility: acct.info.facility.clone(),
            });
        }
        // First login: the password was right; enrol an authenticator before anything else.
        let secret = new_otp_secret();
        set_secret(db, &username, &secret).await?;
        let challenge = new_challenge(db, clock, &username, "enroll").await?;
        record(db, &username, dev, addr, "enrollment_started", None).await;
        return Ok(LoginStep::EnrollOtp {
            challenge,
            otp_uri: otp_uri(&secret, &username)?,
            otp_secret_base32: otp_secret_base32(&secret),
        });
    }
    // The authenticator secret goes only to a device of the account's own facility: a password
    // and a code seen over a shoulder must not become the permanent secret on another laptop.
    // (Without a device token no secret is ever sent: see `open_session`.)
    if req.want_secret && dev.is_some() && !origin.serves(&acct.info.facility) {
        record(
            db,
            &username,
            dev,
            addr,
            "failure",
            Some("secret_wrong_facility"),
        )
        .await;
        return Err(AuthError::DeviceOfOtherFacility {
            account: acct.info.facility.clone(),
        });
    }
    let secret = acct.otp_secret.clone().unwrap_or_default();
    let last = acct.last_otp_step.and_then(|s| u64::try_from(s).ok());
    let step = match req
        .otp
        .as_deref()
        .map(|code| verify_otp(&secret, code, clock.unix(), last))
    {
        Some(Ok(step)) => step,
        Some(Err(OtpError::Replayed)) => {
            fail(db, clock, &acct, dev, addr, "otp_replayed").await?;
            return Err(AuthError::Otp(OtpError::Replayed));
        }
        _ => {
            fail(db, clock, &acct, dev, addr, "wrong_otp").await?;
            return Err(AuthError::InvalidCredentials);
        }
    };
    if let Err(e) = spend_code(db, &username, addr, step).await {
        // Another request spent this code first: a replay, counted like any failure.
        fail(db, clock, &acct, dev, addr, "otp_replayed").await?;
        return Err(e);
    }
    if acct.info.must_change_password {
        let challenge = new_challenge(db, clock, &username, "change_password").await?;
        record(db, &username, dev, addr, "password_change_required", None).await;
        return Ok(LoginStep::ChangePassword { challenge });
    }
    let grant = open_session(db, clock, &acct, dev, req.want_secret).await?;
    record(db, &username, dev, addr, "success", None).await;
    Ok(LoginStep::Session(Box::new(grant)))
}

/// Counts an attempt to prove `username`'s password or code (an account or not: the answers
/// must not tell which) from `addr`, *before* the check, so attempts sent in parallel cannot all
/// pass before the first failure is written. The [`FREE_ATTEMPTS`]-th locks the name for that
/// address, for 30 s doubling with each further attempt; a success clears the count
/// ([`spend_code`]). An attempt while locked is refused and not counted.
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
pub(super) async fn claim_account_attempt(
    db: &Db,
    clock: &Clock,
    acct: &Account,
    addr: Option<&str>,
) -> Result<(), AuthError> {
    claim_name_attempt(db, clock, &acct.info.username, addr).await
}

/// [`claim_attempt`] for a name (an account or not), refused first if the name is locked
/// everywhere.
async fn claim_name_attempt(
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
const EVERYWHERE: &str = "*";

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
pub(super) async fn fail(
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

/// Spends a code's time step: one atomic compare-and-set of the account's last accepted step,
/// so of two requests carrying the same code (a login, a step-up, a password change, in any mix
/// and at the same instant) exactly one wins and the other is refused as replayed. A success
/// clears the failure count and any lock.
pub(super) async fn spend_code(
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

/// Confirms a first-login enrollment with a code from the authenticator.
pub async fn enroll(
    db: &Db,
    clock: &Clock,
    challenge: &str,
    otp: &str,
    origin: &Origin,
) -> Result<LoginStep, AuthError> {
    let acct = challenge_account(db, clock, challenge, "enroll", origin.address.as_deref()).await?;
    claim_account_attempt(db, clock, &acct, origin.address.as_deref()).await?;
    let secret = acct.otp_secret.clone().unwrap_or_default();
    let step = match verify_otp(&secret, otp, clock.unix(), None) {
        Ok(step) => step,
        Err(e) => {
            // Counts towards the lockout like any wrong code.
            fail(
                db,
                clock,
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
            challenge: new_challenge(db, clock, &acct.info.username, "change_password").await?,
        });
    }
    // The first-login steps: the enrolling device keeps the secret the user just scanned (if it
    // is a device of the account's facility).
    let keep = origin.serves(&acct.info.facility);
    let grant = open_session(db, clock, &acct, origin.device_id.as_deref(), keep).await?;
    Ok(LoginStep::Session(Box::new(grant)))
}

/// Changes the password after a first-login challenge, returning a session.
pub async fn change_password_with_challenge(
    db: &Db,
    clock: &Clock,
    challenge: &str,
    new_password: &str,
    origin: &Origin,
) -> Result<SessionGrant, AuthError> {
    let acct = challenge_account(
        db,
        clock,
        challenge,
        "change_password",
        origin.address.as_deref(),
    )
    .await?;
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
    // The first-login steps: the enrolling device keeps the secret the user just scanned (if it
    // is a device of the account's facility).
    let keep = origin.serves(&acct.info.facility);
    let grant = open_session(db, clock, &acct, origin.device_id.as_deref(), keep).await?;
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
    clock: &Clock,
    user: &SessionUser,
    old: &str,
    otp: &str,
    new_password: &str,
) -> Result<(), AuthError> {
    let acct = account(db, &user.account.username)
        .await?
        .ok_or(AuthError::SessionInvalid)?;
    let addr = user.address.as_deref();
    claim_account_attempt(db, clock, &acct, addr).await?;
    if !password_matches(old, &acct.password_hash).await {
        fail(db, clock, &acct, None, addr, "wrong_password").await?;
        return Err(AuthError::InvalidCredentials);
    }
    check_new_password(&acct, new_password).await?;
    let last = acct.last_otp_step.and_then(|s| u64::try_from(s).ok());
    let step = match verify_otp(
        acct.otp_secret.as_deref().unwrap_or_default(),
        otp,
        clock.unix(),
        last,
    ) {
        Ok(step) => step,
        Err(e) => {
            fail(db, clock, &acct, None, addr, "wrong_otp").await?;
            return Err(e.into());
        }
    };
    spend_code(db, &acct.info.username, addr, step).await?;
    set_password(db, &acct, new_password).await
}

/// Refuses a new password that breaks the policy or repeats the current one.
pub(super) async fn check_new_password(
    acct: &Account,
    new_password: &str,
) -> Result<(), AuthError> {
    check_password(new_password)?;
    if password_matches(new_password, &acct.password_hash).await {
        return Err(AuthError::SamePassword);
    }
    Ok(())
}

/// Stores a new password (already checked) and ends the must-change state.
pub(super) async fn set_password(
    db: &Db,
    acct: &Account,
    new_password: &str,
) -> Result<(), AuthError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{self, FacilityRecord};
    use sync_protocol::auth::NewAccount;

    const ADDRESS: &str = "10.0.0.7";

    async fn server_with_a_nurse() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open_sqlite(&dir.path().join("server.db"), None)
            .await
            .expect("database");
        admin::add_facility(
            &db,
            &FacilityRecord {
                code: "TYT-TANNHUT".into(),
                name: "Trạm Y tế xã Tân Nhựt".into(),
                kind: "commune_station".into(),
                province: Some("TP Hồ Chí Minh".into()),
                commune: Some("Xã Tân Nhựt".into()),
                parent: None,
            },
        )
        .await
        .expect("facility");
        create_account(
            &db,
            &NewAccount {
                username: "nv.lan".into(),
                facility: "TYT-TANNHUT".into(),
                role: Role::Vaccinator,
                full_name: "Nguyễn Thị Lan".into(),
                gender: None,
                position: None,
                email: None,
                phone: Some("0912345678".into()),
                initial_password: "Khoi@tao2026".into(),
            },
        )
        .await
        .expect("account");
        (dir, db)
    }

    fn wrong_password() -> LoginRequest {
        LoginRequest {
            username: "nv.lan".into(),
            password: "Sai@matkhau1".into(),
            otp: None,
            want_secret: false,
        }
    }

    async fn locked_for(db: &Db, clock: &Clock) -> Option<i64> {
        address_lock(db, clock, "nv.lan", Some(ADDRESS))
            .await
            .expect("lock read")
            .map(|until| (until - clock.now()).whole_seconds())
    }

    #[tokio::test]
    async fn a_lock_runs_out_as_the_clock_moves_and_the_next_one_lasts_twice_as_long() {
        let (_dir, db) = server_with_a_nurse().await;
        let clock = Clock::movable();
        let origin = Origin {
            device_id: None,
            address: Some(ADDRESS.into()),
            device_serves: Vec::new(),
        };
        for attempt in 1..=FREE_ATTEMPTS {
            let err = login(&db, &clock, &wrong_password(), &origin)
                .await
                .expect_err("wrong password");
            assert_eq!(err.code(), "invalid_credentials", "attempt {attempt}");
        }
        let secs = locked_for(&db, &clock).await.expect("locked after five");
        assert!((25..=30).contains(&secs), "{secs}");
        let err = login(&db, &clock, &wrong_password(), &origin)
            .await
            .expect_err("locked");
        assert_eq!(err.code(), "locked");

        // Nobody edits a row: the clock moves past the 30 s.
        clock.advance(Duration::seconds(31));
        assert_eq!(locked_for(&db, &clock).await, None);
        let err = login(&db, &clock, &wrong_password(), &origin)
            .await
            .expect_err("wrong password");
        assert_eq!(err.code(), "invalid_credentials");
        let secs = locked_for(&db, &clock).await.expect("locked again");
        assert!((55..=60).contains(&secs), "{secs}");

        // Another address was never locked.
        let elsewhere = Origin {
            device_id: None,
            address: Some("10.0.0.8".into()),
            device_serves: Vec::new(),
        };
        let err = login(&db, &clock, &wrong_password(), &elsewhere)
            .await
            .expect_err("wrong password");
        assert_eq!(err.code(), "invalid_credentials");
    }
}
