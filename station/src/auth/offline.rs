//! The laptop's copy of accounts for signing in offline: the authenticator secret sealed under
//! the password, the lease, failures and lock-outs, the clock seen, and what the server says
//! of revoked or reset accounts.

use super::{CLOCK_SLACK, Credentials, derive, open, seal};
use crate::error::{Result, StationError};
use crate::service::Station;
use crate::session::Session;
use crate::store::MetaKey;
use sqlx::Row;
use sync_protocol::auth::{AccountInfo, FREE_ATTEMPTS, OtpError, lock_seconds, verify_otp};
use sync_protocol::person::{format_time, parse_time};
use time::Duration;

impl Station {
    /// The authenticator secret kept on this laptop for `username`, if `password` opens it.
    pub(super) async fn kept_secret(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT kdf_salt, verifier, secret_nonce, secret_box FROM local_accounts WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(self.store().pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let salt: Vec<u8> = row.get("kdf_salt");
        let password = password.to_string();
        let (key, verifier) = tokio::task::spawn_blocking(move || derive(&password, &salt))
            .await
            .map_err(|_| StationError::AuthFailed)??;
        if verifier != row.get::<Vec<u8>, _>("verifier") {
            return Ok(None);
        }
        Ok(open(
            &key,
            &row.get::<Vec<u8>, _>("secret_nonce"),
            &row.get::<Vec<u8>, _>("secret_box"),
        ))
    }

    /// Keeps what offline sign-in needs: the TOTP secret sealed under the password.
    pub(super) async fn remember_account(
        &self,
        account: &AccountInfo,
        secret: &[u8],
        password: &str,
        lease: Option<(time::OffsetDateTime, u64)>,
    ) -> Result<()> {
        let salt: [u8; 16] = rand::random();
        let password_owned = password.to_string();
        let (key, verifier) = tokio::task::spawn_blocking(move || derive(&password_owned, &salt))
            .await
            .map_err(|_| StationError::AuthFailed)??;
        let (nonce, sealed) = seal(&key, secret)?;
        let mut tx = self.store().begin_write().await?;
        let existing: Option<(String, Option<i64>)> =
            sqlx::query("SELECT lease_until, last_otp_step FROM local_accounts WHERE username = ?")
                .bind(&account.username)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| (r.get("lease_until"), r.get("last_otp_step")));
        let lease_until = match (lease, &existing) {
            (Some((l, _)), _) => format_time(l),
            (None, Some((l, _))) => l.clone(),
            (None, None) => format_time(self.clock().now()),
        };
        let step = match (lease, &existing) {
            (Some((_, s)), Some((_, Some(old)))) => Some((s as i64).max(*old)),
            (Some((_, s)), _) => Some(s as i64),
            (None, Some((_, old))) => *old,
            (None, None) => None,
        };
        sqlx::query(
            "INSERT INTO local_accounts (username, facility, role, full_name, info, kdf_salt, verifier,
                secret_nonce, secret_box, lease_until, status, last_otp_step, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)
             ON CONFLICT (username) DO UPDATE SET facility = excluded.facility, role = excluded.role,
                full_name = excluded.full_name, info = excluded.info, kdf_salt = excluded.kdf_salt,
                verifier = excluded.verifier, secret_nonce = excluded.secret_nonce,
                secret_box = excluded.secret_box, lease_until = excluded.lease_until,
                status = 'active', last_otp_step = excluded.last_otp_step, updated_at = excluded.updated_at,
                failed_attempts = 0, locked_until = NULL",
        )
        .bind(&account.username)
        .bind(&account.facility)
        .bind(account.role.as_str())
        .bind(&account.full_name)
        .bind(serde_json::to_string(account).unwrap_or_default())
        .bind(salt.to_vec())
        .bind(verifier)
        .bind(nonce)
        .bind(sealed)
        .bind(lease_until)
        .bind(step)
        .bind(format_time(self.clock().now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs in on the laptop alone: the password unseals the TOTP secret, the code is checked
    /// (and cannot be replayed), the lease must not have run out, and the account must not have
    /// been revoked at the last sync.
    pub async fn sign_in_offline(&self, creds: &Credentials) -> Result<Session> {
        let username = creds.username.trim().to_lowercase();
        let row = sqlx::query(
            "SELECT info, kdf_salt, verifier, secret_nonce, secret_box, lease_until, status, last_otp_step,
                    locked_until
             FROM local_accounts WHERE username = ?",
        )
        .bind(&username)
        .fetch_optional(self.store().pool())
        .await?;
        let Some(row) = row else {
            self.audit_login(&username, "failure", "offline_unknown_account")
                .await?;
            return Err(StationError::OfflineUnknownAccount);
        };
        if row.get::<String, _>("status") == "revoked" {
            self.audit_login(&username, "failure", "revoked").await?;
            return Err(StationError::AccountRevoked);
        }
        // A clock set back must not stretch the lease: the laptop's time may not lag the latest
        // time it is known to have reached (a sign-in, a sync).
        let current = self.clock().now();
        if let Some(seen) = self.clock_seen().await?
            && current + CLOCK_SLACK < seen
        {
            self.audit_login(&username, "failure", "clock_behind")
                .await?;
            return Err(StationError::ClockBehind {
                now: format_time(current),
                seen: format_time(seen),
            });
        }
        if let Some(until) = row
            .get::<Option<String>, _>("locked_until")
            .as_deref()
            .and_then(parse_time)
            .filter(|t| *t > current)
        {
            self.audit_login(&username, "failure", "locked").await?;
            return Err(StationError::OfflineLocked {
                until: format_time(until),
            });
        }
        let lease: String = row.get("lease_until");
        if parse_time(&lease).is_none_or(|l| l < self.clock().now()) {
            self.audit_login(&username, "failure", "lease_expired")
                .await?;
            return Err(StationError::LeaseExpired);
        }
        let Some(secret) = self.kept_secret(&username, &creds.password).await? else {
            self.offline_failure(&username).await?;
            self.audit_login(&username, "failure", "wrong_password")
                .await?;
            return Err(StationError::BadCredentials);
        };
        let last = row
            .get::<Option<i64>, _>("last_otp_step")
            .and_then(|s| u64::try_from(s).ok());
        let step = match verify_otp(&secret, &creds.otp, self.clock().unix(), last) {
            Ok(step) => step,
            Err(e) => {
                self.offline_failure(&username).await?;
                self.audit_login(
                    &username,
                    "failure",
                    if e == OtpError::Replayed {
                        "otp_replayed"
                    } else {
                        "wrong_otp"
                    },
                )
                .await?;
                return Err(if e == OtpError::Replayed {
                    StationError::Otp(e)
                } else {
                    StationError::BadCredentials
                });
            }
        };
        sqlx::query(
            "UPDATE local_accounts SET last_otp_step = ?, failed_attempts = 0, locked_until = NULL
             WHERE username = ?",
        )
        .bind(step as i64)
        .bind(&username)
        .execute(self.store().pool())
        .await?;
        let account: AccountInfo = serde_json::from_str(&row.get::<String, _>("info"))
            .map_err(|_| StationError::AuthFailed)?;
        self.open_session(account, secret, false, None).await
    }

    /// Counts a failed offline sign-in; the [`FREE_ATTEMPTS`]-th locks the account on this
    /// laptop, for 30 s doubling with each further failure (the server's rule).
    pub(super) async fn offline_failure(&self, username: &str) -> Result<()> {
        let failures: i64 = sqlx::query_scalar(
            "UPDATE local_accounts SET failed_attempts = failed_attempts + 1 WHERE username = ?
             RETURNING failed_attempts",
        )
        .bind(username)
        .fetch_one(self.store().pool())
        .await?;
        if failures >= FREE_ATTEMPTS {
            let until =
                self.clock().now() + Duration::seconds(lock_seconds(failures - FREE_ATTEMPTS));
            sqlx::query("UPDATE local_accounts SET locked_until = ? WHERE username = ?")
                .bind(format_time(until))
                .bind(username)
                .execute(self.store().pool())
                .await?;
        }
        Ok(())
    }

    /// The latest time this laptop is known to have reached: a sign-in or a sync.
    pub(super) async fn clock_seen(&self) -> Result<Option<time::OffsetDateTime>> {
        let mut latest = None;
        for key in [MetaKey::ClockSeen, MetaKey::LastSyncAt] {
            let seen = self.meta_value(key).await?;
            latest = latest.max(seen.as_deref().and_then(parse_time));
        }
        Ok(latest)
    }

    /// Moves the latest time seen up to now (never down).
    pub(super) async fn note_clock(&self) -> Result<()> {
        let current = self.clock().now();
        if self.clock_seen().await?.is_none_or(|seen| seen < current) {
            self.set_meta(MetaKey::ClockSeen, Some(&format_time(current)))
                .await?;
        }
        Ok(())
    }

    /// Whether this laptop keeps `username`'s account for signing in offline: they signed in
    /// here before, so their authenticator is enrolled and a sign-in needs its code.
    pub async fn has_offline_account(&self, username: &str) -> Result<bool> {
        let kept: i64 =
            sqlx::query_scalar("SELECT count(*) FROM local_accounts WHERE username = ?")
                .bind(username.trim().to_lowercase())
                .fetch_one(self.store().pool())
                .await?;
        Ok(kept > 0)
    }

    /// Records that the server revoked an account: it cannot sign in here any more.
    pub(crate) async fn mark_revoked(&self, username: &str) -> Result<()> {
        sqlx::query("UPDATE local_accounts SET status = 'revoked' WHERE username = ?")
            .bind(username.trim().to_lowercase())
            .execute(self.store().pool())
            .await?;
        self.end_session_of(username).await
    }

    /// Forgets the copy kept for offline sign-in of an account whose password or authenticator
    /// an administrator reset at `reset_at` (RFC 3339), if the copy is older: it holds the old
    /// secret, so a lost phone would keep opening this laptop. The next sign-in must be online.
    pub(crate) async fn forget_if_reset(&self, username: &str, reset_at: &str) -> Result<()> {
        let Some(reset_at) = parse_time(reset_at) else {
            return Ok(());
        };
        let username = username.trim().to_lowercase();
        let kept: Option<String> =
            sqlx::query_scalar("SELECT updated_at FROM local_accounts WHERE username = ?")
                .bind(&username)
                .fetch_optional(self.store().pool())
                .await?;
        // Times are whole seconds: a copy made in the second of the reset is forgotten too (the
        // safe side: at worst its holder signs in online once more).
        if kept
            .as_deref()
            .and_then(parse_time)
            .is_none_or(|t| t > reset_at)
        {
            return Ok(());
        }
        sqlx::query("DELETE FROM local_accounts WHERE username = ?")
            .bind(&username)
            .execute(self.store().pool())
            .await?;
        self.end_session_of(&username).await
    }

    /// Takes the server's newer view of the signed-in account (e.g. a certificate registered)
    /// into the session and the account kept for offline sign-in.
    pub(crate) async fn refresh_account(&self, account: AccountInfo) -> Result<()> {
        let Some(mut session) = self.session() else {
            return Err(StationError::NotSignedIn);
        };
        sqlx::query("UPDATE local_accounts SET info = ? WHERE username = ?")
            .bind(serde_json::to_string(&account).unwrap_or_default())
            .bind(&account.username)
            .execute(self.store().pool())
            .await?;
        session.account = account;
        self.set_session(Some(session));
        Ok(())
    }
}
