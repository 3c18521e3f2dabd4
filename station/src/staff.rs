//! Accounts a facility runs by itself (issue 14) and sign-in histories: the head of station's
//! requests to the server, which alone decides who may run which account
//! ([`sync_protocol::auth::Role::may_manage`]) and keeps the administrators' audit log.
//! All of it needs the network and a signed-in session on the client.

use crate::error::StationError;
use crate::remote::{SyncClient, SyncError, SyncResult};
use crate::session::Session;
use sync_protocol::auth::{
    AccountInfo, AccountRef, ApproveReset, NewAccount, PasswordReset, ResetRecord, SignInEvent,
};

/// How many sign-ins a history shows.
pub const HISTORY_ROWS: u32 = 100;

/// The server, as the signed-in user: refused for a session opened offline (the server does
/// not know it).
pub fn as_user<'a>(
    session: Option<&Session>,
    client: &'a SyncClient,
) -> SyncResult<&'a SyncClient> {
    let session = session.ok_or(SyncError::Station(StationError::NotSignedIn))?;
    let token = session
        .server_token()
        .ok_or(SyncError::Station(StationError::NeedsOnlineSession))?;
    client.set_session(Some(token.to_string()));
    Ok(client)
}

/// The accounts the signed-in administrator runs (a head of station: their facility's).
pub async fn accounts(client: &SyncClient) -> SyncResult<Vec<AccountInfo>> {
    client
        .get_json(sync_protocol::endpoints::ACCOUNTS, &[])
        .await
}

/// Creates a vaccinator's or signer's account; its holder changes the initial password and
/// enrols an authenticator at first sign-in.
pub async fn create(client: &SyncClient, new: &NewAccount) -> SyncResult<AccountInfo> {
    client.json(sync_protocol::endpoints::ACCOUNTS, new).await
}

/// Revokes an account: its sessions end, stations lock it out at their next sync.
pub async fn revoke(client: &SyncClient, username: &str) -> SyncResult<()> {
    let _: Option<()> = client
        .json(
            sync_protocol::endpoints::REVOKE_ACCOUNT,
            &account_ref(username),
        )
        .await?;
    Ok(())
}

/// Gives an account a new initial password, changed at its next sign-in. When the account's
/// authenticator was also reset lately, the server holds the reset for a second person
/// ([`ResetRecord::status`]).
pub async fn reset_password(
    client: &SyncClient,
    username: &str,
    initial_password: &str,
) -> SyncResult<ResetRecord> {
    client
        .json(
            sync_protocol::endpoints::RESET_PASSWORD,
            &PasswordReset {
                username: username.trim().to_lowercase(),
                initial_password: initial_password.to_string(),
            },
        )
        .await
}

/// Clears an account's authenticator (a lost phone): its next sign-in enrols one (held for a
/// second person when the password was also reset lately).
pub async fn reset_authenticator(client: &SyncClient, username: &str) -> SyncResult<ResetRecord> {
    client
        .json(
            sync_protocol::endpoints::RESET_AUTHENTICATOR,
            &account_ref(username),
        )
        .await
}

/// The last 30 days' resets of the facility's accounts (those awaiting a second person first
/// in what a screen shows).
pub async fn resets(client: &SyncClient) -> SyncResult<Vec<ResetRecord>> {
    client.get_json(sync_protocol::endpoints::RESETS, &[]).await
}

/// Approves, as the second person, a reset another administrator asked for.
pub async fn approve_reset(client: &SyncClient, id: &str) -> SyncResult<ResetRecord> {
    client
        .json(
            sync_protocol::endpoints::APPROVE_RESET,
            &ApproveReset {
                id: id.trim().to_string(),
            },
        )
        .await
}

/// The signed-in user's own sign-ins, online and offline, newest first.
pub async fn own_sign_ins(client: &SyncClient) -> SyncResult<Vec<SignInEvent>> {
    client
        .get_json(
            sync_protocol::endpoints::OWN_SIGN_INS,
            &[("limit", HISTORY_ROWS.to_string())],
        )
        .await
}

/// The sign-ins of an account the signed-in administrator runs, newest first.
pub async fn sign_ins_of(client: &SyncClient, username: &str) -> SyncResult<Vec<SignInEvent>> {
    client
        .get_json(
            sync_protocol::endpoints::STAFF_SIGN_INS,
            &[
                ("username", username.trim().to_lowercase()),
                ("limit", HISTORY_ROWS.to_string()),
            ],
        )
        .await
}

fn account_ref(username: &str) -> AccountRef {
    AccountRef {
        username: username.trim().to_lowercase(),
    }
}
