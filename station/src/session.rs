//! Who is signed in on the station: the session the gates check (`Station::reader`/`writer`)
//! and the rules see. Sign-in itself is in `auth`.

use serde::Serialize;
use sync_protocol::auth::{AccountInfo, Role};

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
    pub(crate) otp_secret: Vec<u8>,
    /// Until when a fresh code lets this user read lists past one screen (see
    /// [`crate::lists::list_needs_code`]).
    #[serde(skip)]
    pub(crate) lists_unlocked_until: Option<time::OffsetDateTime>,
    /// Resets of this account's password or authenticator, made by someone else, that this
    /// laptop has not shown its holder yet (told at the first online sign-in after them).
    pub reset_notices: Vec<sync_protocol::auth::ResetRecord>,
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
