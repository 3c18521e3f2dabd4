//! Signing in: the login state machine (password, code, first-login enrolment and password
//! change). Attempts are counted before they are checked, with locks per address and per account
//! (`throttle`); codes are spent once, and challenges carry the first-login steps (`codes`).
//!
//! Its unit tests prove the lock rule by moving a clock.

pub(super) mod codes;
pub(super) mod throttle;

use super::history::record;
use super::passwords::{hash_password, password_matches};
use super::records::account;
use super::sessions::open_session;
use super::{Account, AuthError, SessionUser};
use codes::{challenge_account, new_challenge, set_secret, spend_challenge, spend_code};
use throttle::{claim_account_attempt, claim_name_attempt, count_everywhere, fail};

use crate::db::Db;
use crate::with_db;
use sync_protocol::Clock;
use sync_protocol::auth::{
    LoginRequest, LoginStep, OtpError, SessionGrant, check_password, new_otp_secret,
    otp_secret_base32, otp_uri, verify_otp,
};

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
    use super::throttle::address_lock;
    use super::*;
    use crate::accounts::{FREE_ATTEMPTS, create_account};
    use crate::admin::{self, FacilityRecord};
    use sync_protocol::auth::{NewAccount, Role};
    use time::Duration;

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
