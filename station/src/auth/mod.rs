//! Signing in on the station (docs/design.md §1): online against the server with password and
//! one-time code, or offline on the laptop within a lease, where the laptop keeps the account's
//! TOTP secret only encrypted under a key derived from the password. Sessions survive between
//! processes through the OS credential store; a step-up code guards sensitive edits and exports.

mod offline;
mod sessions;

use crate::error::{Result, StationError};
use crate::remote::{SyncClient, SyncError, network_or};
use crate::service::Station;
use crate::session::Session;
use crate::store::MetaKey;
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sync_protocol::auth::{
    ChangePasswordRequest, EnrollRequest, LoginRequest, LoginStep, SessionGrant, verify_otp,
};
use time::Duration;

/// How long a session lasts on the station (a working day).
pub const SESSION_HOURS: i64 = 12;

/// How far the laptop's clock may lag the latest time it has shown (a clock corrected by a
/// few minutes is not a rollback).
const CLOCK_SLACK: Duration = Duration::minutes(10);

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

/// How many shown resets are remembered (a holder is told of 30 days' resets at most).
const RESET_NOTICES_KEPT: usize = 200;

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
        let now_step = self.clock().unix() / sync_protocol::auth::OTP_STEP;
        let step = otp_used
            .and_then(|code| verify_otp(&secret, code, self.clock().unix(), None).ok())
            .map_or(now_step, |s| s.max(now_step));
        let lease = self.clock().now() + Duration::days(i64::from(grant.offline_lease_days));
        self.remember_account(&grant.account, &secret, password, Some((lease, step)))
            .await?;
        let mut session = self
            .open_session(
                grant.account.clone(),
                secret,
                true,
                Some(grant.token.clone()),
            )
            .await?;
        let seen = self.reset_notices_seen().await?;
        session.reset_notices = grant
            .resets
            .iter()
            .filter(|r| !seen.contains(&r.id))
            .cloned()
            .collect();
        self.set_session(Some(session.clone()));
        Ok(session)
    }

    /// The resets this laptop has shown (by id, the latest kept).
    async fn reset_notices_seen(&self) -> Result<Vec<String>> {
        Ok(self
            .meta_value(MetaKey::ResetNoticesSeen)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    /// The holder has read the resets shown at sign-in: this laptop shows them no more.
    pub async fn acknowledge_reset_notices(&self) -> Result<()> {
        let session = self.reader()?;
        if session.reset_notices.is_empty() {
            return Ok(());
        }
        let mut seen = self.reset_notices_seen().await?;
        seen.extend(session.reset_notices.iter().map(|r| r.id.clone()));
        let keep = seen.len().saturating_sub(RESET_NOTICES_KEPT);
        seen.drain(..keep);
        let text = serde_json::to_string(&seen).unwrap_or_default();
        self.set_meta(MetaKey::ResetNoticesSeen, Some(&text))
            .await?;
        let mut session = session;
        session.reset_notices.clear();
        self.set_session(Some(session));
        Ok(())
    }

    /// Sign-ins and sign-outs go to the audit log (and with it to the server).
    async fn audit_login(&self, username: &str, outcome: &str, detail: &str) -> Result<()> {
        let mut tx = self.store().begin_write().await?;
        crate::audit::append(
            &mut tx,
            &crate::audit::AuditEntry {
                at: crate::audit::now_text(self.clock()),
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
