//! The API's paths and its session header: one list that the server's router and the station's
//! client both use, so the two cannot drift apart. A path here is relative to [`PREFIX`].

/// Where every path below is served.
pub const PREFIX: &str = "/api/v1/";
/// The header that carries a user's session token (the device's token is in `Authorization`).
pub const SESSION_HEADER: &str = "x-sotiem-session";

/// The full path of `path` as the router serves it.
pub fn full(path: &str) -> String {
    format!("{PREFIX}{path}")
}

/// `GET`: the server's identity and who the device is to it.
pub const INFO: &str = "info";

/// `POST`, wire: changes from a station.
pub const PUSH: &str = "sync/push";
/// `POST`, wire: changes for a station since its cursor.
pub const PULL: &str = "sync/pull";
/// `POST`, wire: a new station's first copy of its scope.
pub const BOOTSTRAP: &str = "sync/bootstrap";
/// `POST`, wire: one person's whole document (repair).
pub const DOCUMENT: &str = "sync/document";
/// `POST`, wire: a signing run for the server to verify.
pub const SIGNING_BATCH: &str = "sync/signing-batch";

/// `POST`, JSON: password and code (or the first-login steps).
pub const LOGIN: &str = "auth/login";
/// `POST`, JSON: confirms a new authenticator.
pub const ENROLL: &str = "auth/enroll";
/// `POST`, JSON: an initial or a signed-in password change.
pub const CHANGE_PASSWORD: &str = "auth/change-password";
/// `POST`: ends the session.
pub const LOGOUT: &str = "auth/logout";
/// `POST`, JSON: a server grant for a sensitive edit of another facility's person.
pub const STEP_UP: &str = "auth/step-up";
/// `POST`, JSON: registers a signer's certificate.
pub const CERTIFICATES: &str = "auth/certificates";
/// `GET`: the signed-in account.
pub const ME: &str = "auth/me";
/// `POST`, JSON: which accounts a station keeps are revoked or reset.
pub const ACCOUNT_STATUS: &str = "auth/account-status";
/// `GET`: the signed-in user's own sign-ins.
pub const OWN_SIGN_INS: &str = "auth/sign-ins";

/// `GET` (list) and `POST` (create), JSON: the accounts an administrator runs.
pub const ACCOUNTS: &str = "admin/accounts";
/// `POST`, JSON: revokes an account.
pub const REVOKE_ACCOUNT: &str = "admin/accounts/revoke";
/// `POST`, JSON: a new initial password.
pub const RESET_PASSWORD: &str = "admin/accounts/reset-password";
/// `POST`, JSON: clears an authenticator.
pub const RESET_AUTHENTICATOR: &str = "admin/accounts/reset-authenticator";
/// `GET`: the resets of the accounts the caller runs or follows (a head: their facility's; a
/// district officer: their area's), newest first.
pub const RESETS: &str = "admin/accounts/resets";
/// `POST`: a second person approves a reset awaiting approval.
pub const APPROVE_RESET: &str = "admin/accounts/resets/approve";
/// `GET`: the raw login history (administrators).
pub const LOGIN_EVENTS: &str = "admin/login-events";
/// `GET`: the sign-ins of an account the administrator runs.
pub const STAFF_SIGN_INS: &str = "admin/sign-ins";

/// `GET`: the newest app release for the device's platform if newer than `current_version`
/// (the updater fills the three in), else `204 No Content`.
pub const UPDATE_CHECK: &str = "updates/{target}/{arch}/{current_version}";
/// `GET`: a release's package (`{id}` from the check's answer).
pub const UPDATE_PACKAGE: &str = "updates/package/{id}";

/// `GET`: the newest signed passport trust list (COSE bytes: document signers and revoked
/// UVCIs), for verifying passports offline.
pub const PASSPORT_TRUST_LIST: &str = "passports/trust-list";
/// `GET`, JSON ([`crate::wire::PassportPage`]): the passports of the facility's people issued
/// or revoked after `?since=` (a run number).
pub const PASSPORTS_CHANGED: &str = "passports/changes";
/// `GET`, JSON: one person's passports, newest first.
pub const PASSPORTS_OF_PERSON: &str = "passports/person/{id}";

/// `GET`, JSON ([`crate::complaints::ComplaintPage`]): the complaints of the device's facility
/// (and those it forwarded away) changed after `?since=` (a version).
pub const COMPLAINTS_CHANGED: &str = "complaints/changes";
/// `GET`: photo `{n}` of complaint `{id}` (JPEG, re-encoded by the server).
pub const COMPLAINT_PHOTO: &str = "complaints/{id}/photos/{n}";
/// `POST`, JSON ([`crate::complaints::ComplaintAnswer`]): resolved or rejected, with the text.
pub const COMPLAINT_ANSWER: &str = "complaints/{id}/answer";
/// `POST`, JSON ([`crate::complaints::ComplaintForward`]): to another facility, with the reason.
pub const COMPLAINT_FORWARD: &str = "complaints/{id}/forward";
/// `GET`, JSON ([`crate::complaints::FacilityChoice`] list): the facilities a complaint can be
/// forwarded to (every one but the device's own), by province, commune and name.
pub const COMPLAINT_DESTINATIONS: &str = "complaints/destinations";

/// `POST`, JSON ([`crate::wire::DeviceReport`]): what waits on the device after a sync, for the
/// district's view of its stations. Device token only: counts, no person.
pub const DEVICE_REPORT: &str = "devices/report";

/// The URL Tauri's updater asks on a station of `server`: [`UPDATE_CHECK`] with the updater's
/// own `{{…}}` placeholders.
pub fn updater_endpoint(server: &str) -> String {
    format!(
        "{}{}",
        server.trim().trim_end_matches('/'),
        full(UPDATE_CHECK).replace('{', "{{").replace('}', "}}")
    )
}

/// `POST`, wire: the next entries of a device's audit chain.
pub const AUDIT_PUSH: &str = "audit/push";
/// `POST`, wire: where the server's copy of the device's audit chain ends.
pub const AUDIT_TAIL: &str = "audit/tail";
