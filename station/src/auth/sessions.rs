//! Open sessions: opening one after a sign-in, keeping it in the OS credential store between
//! processes, resuming, ending, and the step-up code checked within one.

use super::{KeptSession, SESSION_HOURS, open, seal};
use crate::error::{Result, StationError};
use crate::key;
use crate::remote::SyncClient;
use crate::service::Station;
use crate::session::Session;
use sqlx::Row;
use sync_protocol::auth::{AccountInfo, verify_otp};
use sync_protocol::person::{format_time, parse_time};
use time::Duration;
use uuid::Uuid;

impl Station {
    pub(super) async fn open_session(
        &self,
        account: AccountInfo,
        secret: Vec<u8>,
        online: bool,
        server_token: Option<String>,
    ) -> Result<Session> {
        let id = Uuid::now_v7().to_string();
        let session_key: [u8; 32] = rand::random();
        let (nonce, sealed) = seal(&session_key, &secret)?;
        let started = self.clock().now();
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
            reset_notices: Vec::new(),
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
        if parse_time(&expires).is_none_or(|e| e < self.clock().now())
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
            reset_notices: Vec::new(),
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

    pub(super) async fn end_session(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE local_sessions SET ended_at = ? WHERE id = ?")
            .bind(format_time(self.clock().now()))
            .bind(id)
            .execute(self.store().pool())
            .await?;
        let _ = key::delete_secret(&self.store().descriptor().store_id, "session");
        Ok(())
    }

    /// Ends `username`'s session if it is the one open here.
    pub(super) async fn end_session_of(&self, username: &str) -> Result<()> {
        if let Some(session) = self.session().filter(|s| s.username() == username) {
            self.end_session(&session.id).await?;
            self.set_session(None);
        }
        Ok(())
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
            self.clock().unix(),
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
}
