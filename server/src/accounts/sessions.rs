//! Sessions and what a session may ask for: the signed-in user, sign-out, a fresh code, step-up
//! grants.

use super::history::record;
use super::login::codes::spend_code;
use super::login::throttle::{claim_account_attempt, fail};
use super::passwords::{token, token_hash};
use super::records::account;
use super::resets::resets_told_to_holder;
use super::{Account, AuthError, OFFLINE_LEASE_DAYS, SESSION_HOURS, SessionUser};
use crate::db::Db;
use crate::with_db;
use sqlx::Row;
use sync_protocol::Clock;
use sync_protocol::auth::{SessionGrant, verify_otp};
use sync_protocol::person::{format_time, parse_time};
use time::Duration;

/// Opens a session on `device`. The authenticator secret goes with it only when `send_secret`
/// (an enrolment, or a station that holds no copy it can open) and the request came from a
/// registered device: a login from anywhere else, or a sniffed one, never carries it.
pub(super) async fn open_session(
    db: &Db,
    clock: &Clock,
    acct: &Account,
    device: Option<&str>,
    send_secret: bool,
) -> Result<SessionGrant, AuthError> {
    let t = token();
    let created = clock.now();
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
        resets: resets_told_to_holder(db, clock, &acct.info.username).await?,
    })
}

/// The user of a session token, if it is valid and its account active.
pub async fn session_user(db: &Db, clock: &Clock, token: &str) -> Result<SessionUser, AuthError> {
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
    if revoked || parse_time(&expires).is_none_or(|t| t < clock.now()) {
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
pub async fn verify_fresh_otp(
    db: &Db,
    clock: &Clock,
    user: &SessionUser,
    otp: &str,
) -> Result<(), AuthError> {
    let acct = account(db, &user.account.username)
        .await?
        .ok_or(AuthError::SessionInvalid)?;
    let addr = user.address.as_deref();
    claim_account_attempt(db, clock, &acct, addr).await?;
    let last = acct.last_otp_step.and_then(|s| u64::try_from(s).ok());
    match verify_otp(
        acct.otp_secret.as_deref().unwrap_or_default(),
        otp,
        clock.unix(),
        last,
    ) {
        Ok(step) => spend_code(db, &acct.info.username, addr, step).await,
        Err(e) => {
            fail(db, clock, &acct, None, addr, "wrong_otp").await?;
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
    clock: &Clock,
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
    verify_fresh_otp(db, clock, user, &req.otp).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let issued = clock.now();
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
