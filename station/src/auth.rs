//! Signing in on the station (DESIGN.md §1): online against the server with password and
//! one-time code, or offline on the laptop within a lease, where the laptop keeps the account's
//! TOTP secret only encrypted under a key derived from the password. Sessions survive between
//! processes through the OS credential store; a step-up code guards sensitive edits and exports.

use crate::error::{Result, StationError};
use crate::key;
use crate::service::Station;
use crate::sync::{SyncClient, SyncError};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sync_protocol::auth::{
    AccountInfo, ChangePasswordRequest, EnrollRequest, FREE_ATTEMPTS, LoginRequest, LoginStep,
    OtpError, Role, SessionGrant, lock_seconds, unix_now, verify_otp,
};
use sync_protocol::person::{format_time, now, parse_time};
use time::Duration;
use uuid::Uuid;

/// How long a session lasts on the station (a working day).
pub const SESSION_HOURS: i64 = 12;

/// How far the laptop's clock may lag the latest time it has shown (a clock corrected by a
/// few minutes is not a rollback).
const CLOCK_SLACK: Duration = Duration::minutes(10);

/// Who is signed in.
#[derive(Clone, Serialize)]
pub struct Session {
    pub id: String,
    pub account: AccountInfo,
    pub expires_at: String,
    /// Signed in against the server (not offline on the laptop).
    pub online: bool,
    #[serde(skip)]
    pub(crate) server_token: Option<String>,
    #[serde(skip)]
    otp_secret: Vec<u8>,
    /// Until when a fresh code lets this user read lists past one screen (see
    /// [`crate::lists::list_needs_code`]).
    #[serde(skip)]
    pub(crate) lists_unlocked_until: Option<time::OffsetDateTime>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.account.username)
            .field("online", &self.online)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The account's username.
    pub fn username(&self) -> &str {
        &self.account.username
    }

    /// The account's role.
    pub fn role(&self) -> Role {
        self.account.role
    }

    /// The server's token of this session (none when signed in offline).
    pub fn server_token(&self) -> Option<&str> {
        self.server_token.as_deref()
    }
}

/// What a user types to sign in.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub otp: String,
}

/// Where a sign-in attempt got to.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "next", rename_all = "snake_case")]
pub enum SignIn {
    /// Signed in.
    Done { session: Box<Session> },
    /// First login: enrol an authenticator from this URI (as a QR code), confirm with a code.
    EnrollOtp {
        challenge: String,
        otp_uri: String,
        otp_secret_base32: String,
    },
    /// The initial password must be changed now.
    ChangePassword { challenge: String },
}

/// What the keyring keeps of an open session.
#[derive(Serialize, Deserialize)]
struct KeptSession {
    id: String,
    key: String,
    server_token: Option<String>,
}

/// 64 bytes from the password: the first half encrypts the TOTP secret, the hash of the second
/// half is the stored verifier.
fn derive(password: &str, salt: &[u8]) -> Result<([u8; 32], Vec<u8>)> {
    let params = Params::new(19 * 1024, 2, 1, Some(64)).map_err(|_| StationError::AuthFailed)?;
    let mut out = [0u8; 64];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, &mut out)
        .map_err(|_| StationError::AuthFailed)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&out[..32]);
    Ok((key, Sha256::digest(&out[32..]).to_vec()))
}

fn seal(key: &[u8; 32], plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let nonce: [u8; 12] = rand::random();
    let sealed = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt(Nonce::from_slice(&nonce), plain)
        .map_err(|_| StationError::AuthFailed)?;
    Ok((nonce.to_vec(), sealed))
}

fn open(key: &[u8], nonce: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if key.len() != 32 || nonce.len() != 12 {
        return None;
    }
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(Nonce::from_slice(nonce), sealed)
        .ok()
}

pub(crate) fn network_or(e: SyncError) -> StationError {
    match e {
        SyncError::Station(s) => s,
        SyncError::Server { code, message, .. } => StationError::AuthRefused { code, message },
        other => StationError::ServerUnavailable(other.to_string()),
    }
}

impl Station {
    /// Signs in: online when `client` is given and the server answers, else offline on the
    /// laptop (within the account's lease).
    pub async fn sign_in(
        &self,
        creds: &Credentials,
        client: Option<&SyncClient>,
    ) -> Result<SignIn> {
        if let Some(client) = client {
            let username = creds.username.trim().to_lowercase();
            // The server sends the authenticator secret only to a station that lacks it.
            let kept = self.kept_secret(&username, &creds.password).await?;
            let want_secret = kept.is_none();
            match client
                .login(&LoginRequest {
                    username,
                    password: creds.password.clone(),
                    otp: Some(creds.otp.clone()),
                    want_secret,
                })
                .await
            {
                Ok(step) => {
                    return self
                        .after_login_step(step, &creds.password, Some(&creds.otp), client, kept)
                        .await;
                }
                Err(SyncError::Network(_)) => {}
                Err(e) => {
                    // The server's answer is final (wrong code, revoked…); mirror a revocation.
                    if e.code() == "account_revoked" {
                        self.mark_revoked(&creds.username).await?;
                    }
                    return Err(network_or(e));
                }
            }
        }
        self.sign_in_offline(creds)
            .await
            .map(|session| SignIn::Done {
                session: Box::new(session),
            })
    }

    /// Confirms the authenticator of a first login with a code.
    pub async fn complete_enrollment(
        &self,
        client: &SyncClient,
        challenge: &str,
        otp: &str,
        password: &str,
    ) -> Result<SignIn> {
        let step = client
            .enroll(&EnrollRequest {
                challenge: challenge.to_string(),
                otp: otp.to_string(),
            })
            .await
            .map_err(network_or)?;
        self.after_login_step(step, password, Some(otp), client, None)
            .await
    }

    /// Sets the new password of a first login (the policy is checked here and on the server).
    pub async fn change_initial_password(
        &self,
        client: &SyncClient,
        challenge: &str,
        new_password: &str,
    ) -> Result<SignIn> {
        sync_protocol::auth::check_password(new_password).map_err(StationError::WeakPassword)?;
        let step = client
            .change_password(&ChangePasswordRequest {
                challenge: Some(challenge.to_string()),
                old_password: None,
                otp: None,
                new_password: new_password.to_string(),
            })
            .await
            .map_err(network_or)?
            .ok_or_else(|| StationError::ServerUnavailable("máy chủ không mở phiên".into()))?;
        self.after_login_step(step, new_password, None, client, None)
            .await
    }

    /// Changes the signed-in user's password (online: the server holds it).
    pub async fn change_password(
        &self,
        client: &SyncClient,
        old: &str,
        otp: &str,
        new_password: &str,
    ) -> Result<()> {
        sync_protocol::auth::check_password(new_password).map_err(StationError::WeakPassword)?;
        let session = self.session().ok_or(StationError::NotSignedIn)?;
        client.set_session(session.server_token.clone());
        client
            .change_password(&ChangePasswordRequest {
                challenge: None,
                old_password: Some(old.to_string()),
                otp: Some(otp.to_string()),
                new_password: new_password.to_string(),
            })
            .await
            .map_err(network_or)?;
        // Re-wrap the TOTP secret under the new password for offline sign-in.
        self.remember_account(&session.account, &session.otp_secret, new_password, None)
            .await
    }

    /// `kept`: the secret this laptop already opened with `password`, if the caller has it.
    async fn after_login_step(
        &self,
        step: LoginStep,
        password: &str,
        otp_used: Option<&str>,
        client: &SyncClient,
        kept: Option<Vec<u8>>,
    ) -> Result<SignIn> {
        match step {
            LoginStep::EnrollOtp {
                challenge,
                otp_uri,
                otp_secret_base32,
            } => Ok(SignIn::EnrollOtp {
                challenge,
                otp_uri,
                otp_secret_base32,
            }),
            LoginStep::ChangePassword { challenge } => Ok(SignIn::ChangePassword { challenge }),
            LoginStep::Session(grant) => {
                if grant.account.facility != self.facility().code {
                    // Perhaps a mobile team's station whose parent facility is not known yet.
                    if let Ok(info) = client.info().await {
                        self.adopt_parent(info.facility_parent.as_deref()).await?;
                    }
                }
                let station = self.facility();
                if grant.account.facility != station.code
                    && Some(grant.account.facility.as_str()) != station.parent.as_deref()
                {
                    return Err(StationError::WrongFacility {
                        account: grant.account.facility.clone(),
                        station: station.code,
                    });
                }
                let session = self
                    .open_online_session(&grant, password, otp_used, kept)
                    .await?;
                Ok(SignIn::Done {
                    session: Box::new(session),
                })
            }
        }
    }

    async fn open_online_session(
        &self,
        grant: &SessionGrant,
        password: &str,
        otp_used: Option<&str>,
        kept: Option<Vec<u8>>,
    ) -> Result<Session> {
        // The secret comes with the grant only when this laptop asked for it (it had none it
        // could open); otherwise the copy kept here under the password is used (already opened
        // by the caller when it has it: one argon2 derivation, not two).
        let secret = match (&grant.otp_secret, kept) {
            (Some(secret), _) => secret.clone(),
            (None, Some(kept)) => kept,
            (None, None) => self
                .kept_secret(&grant.account.username, password)
                .await?
                .ok_or(StationError::SecretMissing)?,
        };
        // The code just used is spent: remember its step so it cannot be replayed offline.
        let now_step = unix_now() / sync_protocol::auth::OTP_STEP;
        let step = otp_used
            .and_then(|code| verify_otp(&secret, code, unix_now(), None).ok())
            .map_or(now_step, |s| s.max(now_step));
        let lease = now() + Duration::days(i64::from(grant.offline_lease_days));
        self.remember_account(&grant.account, &secret, password, Some((lease, step)))
            .await?;
        self.open_session(
            grant.account.clone(),
            secret,
            true,
            Some(grant.token.clone()),
        )
        .await
    }

    /// The authenticator secret kept on this laptop for `username`, if `password` opens it.
    async fn kept_secret(&self, username: &str, password: &str) -> Result<Option<Vec<u8>>> {
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
    async fn remember_account(
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
            (None, None) => format_time(now()),
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
        .bind(format_time(now()))
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
        let current = now();
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
        if parse_time(&lease).is_none_or(|l| l < now()) {
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
        let step = match verify_otp(&secret, &creds.otp, unix_now(), last) {
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
    async fn offline_failure(&self, username: &str) -> Result<()> {
        let failures: i64 = sqlx::query_scalar(
            "UPDATE local_accounts SET failed_attempts = failed_attempts + 1 WHERE username = ?
             RETURNING failed_attempts",
        )
        .bind(username)
        .fetch_one(self.store().pool())
        .await?;
        if failures >= FREE_ATTEMPTS {
            let until = now() + Duration::seconds(lock_seconds(failures - FREE_ATTEMPTS));
            sqlx::query("UPDATE local_accounts SET locked_until = ? WHERE username = ?")
                .bind(format_time(until))
                .bind(username)
                .execute(self.store().pool())
                .await?;
        }
        Ok(())
    }

    /// The latest time this laptop is known to have reached: a sign-in or a sync.
    async fn clock_seen(&self) -> Result<Option<time::OffsetDateTime>> {
        let mut latest = None;
        for key in ["clock_seen", "last_sync_at"] {
            let seen = self.meta_value(key).await?;
            latest = latest.max(seen.as_deref().and_then(parse_time));
        }
        Ok(latest)
    }

    /// Moves the latest time seen up to now (never down).
    async fn note_clock(&self) -> Result<()> {
        let current = now();
        if self.clock_seen().await?.is_none_or(|seen| seen < current) {
            self.set_meta("clock_seen", Some(&format_time(current)))
                .await?;
        }
        Ok(())
    }

    async fn open_session(
        &self,
        account: AccountInfo,
        secret: Vec<u8>,
        online: bool,
        server_token: Option<String>,
    ) -> Result<Session> {
        let id = Uuid::now_v7().to_string();
        let session_key: [u8; 32] = rand::random();
        let (nonce, sealed) = seal(&session_key, &secret)?;
        let started = now();
        let expires = format_time(started + Duration::hours(SESSION_HOURS));
        sqlx::query(
            "INSERT INTO local_sessions (id, username, started_at, expires_at, online, secret_nonce, secret_box, ended_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(&id)
        .bind(&account.username)
        .bind(format_time(started))
        .bind(&expires)
        .bind(online)
        .bind(nonce)
        .bind(sealed)
        .execute(self.store().pool())
        .await?;
        let kept = KeptSession {
            id: id.clone(),
            key: hex::encode(session_key),
            server_token: server_token.clone(),
        };
        // The session key and server token live in the OS credential store; without one (a
        // headless server), the session lasts only as long as this process.
        if let Err(e) = key::save_secret(
            &self.store().descriptor().store_id,
            "session",
            &serde_json::to_string(&kept).unwrap_or_default(),
        ) {
            tracing::warn!("session not kept in the credential store: {e}");
        }
        let session = Session {
            id,
            account,
            expires_at: expires,
            online,
            server_token,
            otp_secret: secret,
            lists_unlocked_until: None,
        };
        self.audit_login(
            session.username(),
            "success",
            if online { "online" } else { "offline" },
        )
        .await?;
        self.note_clock().await?;
        self.set_session(Some(session.clone()));
        Ok(session)
    }

    /// Picks up the session a previous process opened (kept in the OS credential store).
    pub async fn resume_session(&self) -> Result<Option<Session>> {
        let Some(text) =
            key::load_secret(&self.store().descriptor().store_id, "session").unwrap_or(None)
        else {
            return Ok(None);
        };
        let Ok(kept) = serde_json::from_str::<KeptSession>(&text) else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT s.username, s.expires_at, s.online, s.secret_nonce, s.secret_box, a.info, a.status
             FROM local_sessions s JOIN local_accounts a ON a.username = s.username
             WHERE s.id = ? AND s.ended_at IS NULL",
        )
        .bind(&kept.id)
        .fetch_optional(self.store().pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires: String = row.get("expires_at");
        if parse_time(&expires).is_none_or(|e| e < now())
            || row.get::<String, _>("status") == "revoked"
        {
            self.end_session(&kept.id).await?;
            return Ok(None);
        }
        let key = hex::decode(&kept.key).unwrap_or_default();
        let Some(secret) = open(
            &key,
            &row.get::<Vec<u8>, _>("secret_nonce"),
            &row.get::<Vec<u8>, _>("secret_box"),
        ) else {
            return Ok(None);
        };
        let account: AccountInfo = serde_json::from_str(&row.get::<String, _>("info"))
            .map_err(|_| StationError::AuthFailed)?;
        let session = Session {
            id: kept.id,
            account,
            expires_at: expires,
            online: row.get("online"),
            server_token: kept.server_token,
            otp_secret: secret,
            lists_unlocked_until: None,
        };
        self.set_session(Some(session.clone()));
        Ok(Some(session))
    }

    /// Signs out: the session ends here and (best effort) on the server.
    pub async fn sign_out(&self, client: Option<&SyncClient>) -> Result<()> {
        if let Some(session) = self.session() {
            if let (Some(client), Some(token)) = (client, &session.server_token) {
                client.set_session(Some(token.clone()));
                let _ = client.logout().await;
            }
            self.end_session(&session.id).await?;
            self.audit_login(session.username(), "sign_out", "").await?;
        }
        self.set_session(None);
        Ok(())
    }

    async fn end_session(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE local_sessions SET ended_at = ? WHERE id = ?")
            .bind(format_time(now()))
            .bind(id)
            .execute(self.store().pool())
            .await?;
        let _ = key::delete_secret(&self.store().descriptor().store_id, "session");
        Ok(())
    }

    /// Ends `username`'s session if it is the one open here.
    async fn end_session_of(&self, username: &str) -> Result<()> {
        if let Some(session) = self.session().filter(|s| s.username() == username) {
            self.end_session(&session.id).await?;
            self.set_session(None);
        }
        Ok(())
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

    /// Checks a fresh one-time code of the signed-in user (step-up before a sensitive change
    /// or an export); a code is accepted once.
    pub async fn verify_step_up(&self, otp: &str) -> Result<()> {
        let session = self.session().ok_or(StationError::NotSignedIn)?;
        let last: Option<i64> =
            sqlx::query_scalar("SELECT last_otp_step FROM local_accounts WHERE username = ?")
                .bind(session.username())
                .fetch_optional(self.store().pool())
                .await?
                .flatten();
        let step = verify_otp(
            &session.otp_secret,
            otp,
            unix_now(),
            last.and_then(|s| u64::try_from(s).ok()),
        )
        .map_err(StationError::Otp)?;
        sqlx::query("UPDATE local_accounts SET last_otp_step = ? WHERE username = ?")
            .bind(step as i64)
            .bind(session.username())
            .execute(self.store().pool())
            .await?;
        Ok(())
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

    /// Sign-ins and sign-outs go to the audit log (and with it to the server).
    async fn audit_login(&self, username: &str, outcome: &str, detail: &str) -> Result<()> {
        let mut tx = self.store().begin_write().await?;
        crate::audit::append(
            &mut tx,
            &crate::audit::AuditEntry {
                at: crate::audit::now_text(),
                user: username.to_string(),
                device: self.device_id().to_string(),
                action: format!("login_{outcome}"),
                entity: format!("account/{username}"),
                changes: if detail.is_empty() {
                    Vec::new()
                } else {
                    vec![crate::audit::FieldChange {
                        field: "detail".into(),
                        before: None,
                        after: Some(detail.to_string()),
                    }]
                },
                otp: outcome == "success",
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
