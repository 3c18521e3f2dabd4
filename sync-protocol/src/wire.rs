//! Sync wire messages and their encoding (docs/design.md §5).
//!
//! A message body is `MAGIC` (4 bytes), the protocol version (u16, big-endian), then the message
//! encoded with postcard and compressed with zstd. Documents travel uncompressed by Automerge
//! (`save_nocompress`) so that zstd, seeing a whole page of them, can use what they share.
//! Errors are plain JSON (`ErrorBody`) so that any version of a client can read why it was
//! refused, including "your protocol is too old".
//!
//! Endpoints (all under `/api/v1`): `GET info`, `POST sync/push`, `POST sync/pull`,
//! `POST sync/bootstrap`, `POST sync/document`.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::io::Read;
use uuid::Uuid;

/// The first bytes of every message body.
pub const MAGIC: &[u8; 4] = b"SOTS";
/// The protocol this code speaks. Version 2: the server re-checks every rule for the pushing
/// session's user and says which rule a change broke ([`RejectReason::Rule`]).
pub const PROTOCOL_VERSION: u16 = 2;
/// The oldest protocol this code still accepts: stations of version 1 pushed changes of other
/// users under one session, which the server no longer takes.
pub const MIN_PROTOCOL_VERSION: u16 = 2;
/// The content type of message bodies.
pub const CONTENT_TYPE: &str = "application/vnd.sotiem.sync";
/// The largest single change a server accepts.
pub const MAX_CHANGE_BYTES: usize = 64 * 1024;
/// The largest request body a server accepts (compressed).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The largest a message may grow to when decompressed.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("không phải thông điệp đồng bộ của Sổ Tiêm")]
    NotAMessage,
    #[error("giao thức đồng bộ phiên bản {found} không được hỗ trợ (hỗ trợ {min}–{max})")]
    UnsupportedVersion { found: u16, min: u16, max: u16 },
    #[error("thông điệp quá lớn")]
    TooLarge,
    #[error("thông điệp hỏng: {0}")]
    Corrupt(String),
}

/// Encodes a message for the wire.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let body = postcard::to_stdvec(message).unwrap_or_default();
    let compressed = zstd::bulk::compress(&body, 6).unwrap_or_default();
    let mut out = Vec::with_capacity(6 + compressed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out.extend_from_slice(&compressed);
    out
}

/// Reads a message's protocol version without decoding it.
pub fn version_of(bytes: &[u8]) -> Result<u16, WireError> {
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(WireError::NotAMessage);
    }
    Ok(u16::from_be_bytes([bytes[4], bytes[5]]))
}

/// Decodes a message, refusing unsupported versions and bodies that inflate past the limit.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let version = version_of(bytes)?;
    if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) {
        return Err(WireError::UnsupportedVersion {
            found: version,
            min: MIN_PROTOCOL_VERSION,
            max: PROTOCOL_VERSION,
        });
    }
    // Inflate incrementally and stop one byte past the limit: a small body that inflates to
    // gigabytes is refused without allocating them.
    let decoder = zstd::stream::read::Decoder::new(&bytes[6..])
        .map_err(|e| WireError::Corrupt(e.to_string()))?;
    let mut body = Vec::new();
    decoder
        .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| WireError::Corrupt(e.to_string()))?;
    if body.len() > MAX_DECOMPRESSED_BYTES {
        return Err(WireError::TooLarge);
    }
    postcard::from_bytes(&body).map_err(|e| WireError::Corrupt(e.to_string()))
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A machine-readable code and a message for the user, in Vietnamese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// Machine names of what exactly failed (the password rules broken, for instance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// What a device reports at the end of each sync (JSON): how much of its work has not reached
/// the server, so a district sees a station whose doses pile up unsent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReport {
    /// Changes still in the outbox (any author's).
    pub waiting_changes: u64,
    /// Changes the server refused, kept in quarantine until someone looks.
    pub quarantined: u64,
    /// The app's version.
    pub app_version: String,
}

/// `GET /api/v1/info`: what the server speaks and who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub server_id: String,
    pub protocol_min: u16,
    pub protocol_max: u16,
    /// The facility of the authenticated device, when a token was given.
    pub facility: Option<String>,
    /// The facility whose scope the device works in, when not its own (a mobile team's parent).
    #[serde(default)]
    pub facility_parent: Option<String>,
    pub device_id: Option<String>,
    pub server_time: String,
    /// The authenticated device's facility in full, so a new station needs only the token.
    #[serde(default)]
    pub facility_info: Option<FacilityInfo>,
    /// The codes of the mobile teams that work under the device's facility.
    #[serde(default)]
    pub mobile_teams: Vec<String>,
    /// The facilities (with their mobile teams) whose doses the device's unit signs for the
    /// province, and whose people it therefore replicates; empty for most stations.
    #[serde(default)]
    pub area: Vec<String>,
}

/// A facility as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacilityInfo {
    pub code: String,
    pub name: String,
    /// `commune_station`, `mobile_team`, …
    pub kind: String,
    pub province: Option<String>,
    pub commune: Option<String>,
}

/// One local change pushed by a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedChange {
    pub person_id: Uuid,
    /// The Automerge change, as `Change::raw_bytes`.
    pub bytes: Vec<u8>,
}

/// `POST sync/push`: a batch of changes, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    pub changes: Vec<PushedChange>,
}

/// Why the server refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// Not an Automerge change, or not one of this person's document.
    Malformed,
    Oversized,
    /// The document it produces has an invalid value.
    Invalid,
    /// The person is outside the device's facility scope.
    OutOfScope,
    /// Its actor belongs to another device.
    ForeignActor,
    /// It builds on a change that was rejected.
    DependsOnRejected,
    /// The device may not make this change at all (the server's own writer's changes).
    Forbidden,
    /// It breaks a rule of the rulebook (`sync_protocol::rules`).
    Rule(crate::rules::Rule),
}

impl RejectReason {
    /// The stable machine name (a rule's own name for [`RejectReason::Rule`]).
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::Oversized => "oversized",
            RejectReason::Invalid => "invalid",
            RejectReason::OutOfScope => "out_of_scope",
            RejectReason::ForeignActor => "foreign_actor",
            RejectReason::DependsOnRejected => "depends_on_rejected",
            RejectReason::Forbidden => "forbidden",
            RejectReason::Rule(rule) => rule.code(),
        }
    }
}

impl From<&crate::rules::Violation> for RejectReason {
    fn from(v: &crate::rules::Violation) -> Self {
        v.rule().map_or(RejectReason::Invalid, RejectReason::Rule)
    }
}

/// What became of one pushed change, in the order they were pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PushResult {
    /// Stored with this sequence number.
    Accepted { seq: u64 },
    /// The server already had it.
    Duplicate,
    /// Refused for good; `message` says why, in Vietnamese.
    Rejected {
        reason: RejectReason,
        message: String,
    },
    /// It depends on changes the server does not have yet: push them, then this again.
    MissingDependencies,
    /// The server cannot take it now (`message` says why); the device keeps it and sends it
    /// again at a later sync.
    Deferred { message: String },
}

/// The answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    pub results: Vec<PushResult>,
}

/// `POST sync/pull`: what happened in the device's scope after `cursor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub cursor: u64,
    /// A soft bound on the response size; at least one item is always sent.
    pub max_bytes: u32,
}

/// One item of a pull, in sequence order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PulledItem {
    /// A change to a person already in the device's scope.
    Change {
        seq: u64,
        person_id: Uuid,
        bytes: Vec<u8>,
    },
    /// A person who came into the device's scope at `seq`: the whole document.
    Snapshot {
        seq: u64,
        person_id: Uuid,
        doc: Vec<u8>,
    },
}

/// The answer to a pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullResponse {
    pub items: Vec<PulledItem>,
    /// The cursor to store once the items are applied.
    pub next_cursor: u64,
    /// Whether more items follow.
    pub more: bool,
}

/// `POST sync/bootstrap`: a page of whole documents for a new device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapRequest {
    /// The last person of the previous page (none for the first page).
    pub after: Option<Uuid>,
    /// The high-water mark the first page returned (none for the first page).
    pub high_water: Option<u64>,
    pub max_bytes: u32,
}

/// A whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub person_id: Uuid,
    pub doc: Vec<u8>,
}

/// A page of a bootstrap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapResponse {
    pub docs: Vec<Snapshot>,
    /// Every change up to this sequence number is in the snapshots; pull from here afterwards.
    pub high_water: u64,
    /// Pass as `after` for the next page.
    pub next_after: Option<Uuid>,
    pub more: bool,
}

/// `POST sync/document`: the server's current document of one person (to reset a device's
/// copy after a rejected change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRequest {
    pub person_id: Uuid,
}

/// The server's document, if it has one the device may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentResponse {
    pub doc: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_carry_their_version() {
        let msg = PushRequest {
            changes: vec![PushedChange {
                person_id: Uuid::now_v7(),
                bytes: vec![1, 2, 3, 4, 5],
            }],
        };
        let bytes = encode(&msg);
        assert_eq!(&bytes[..4], MAGIC);
        assert_eq!(version_of(&bytes), Ok(PROTOCOL_VERSION));
        assert_eq!(decode::<PushRequest>(&bytes), Ok(msg));
    }

    #[test]
    fn a_message_of_an_unsupported_version_is_refused_by_version() {
        let mut bytes = encode(&PullRequest {
            cursor: 5,
            max_bytes: 1000,
        });
        bytes[4..6].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(
            decode::<PullRequest>(&bytes),
            Err(WireError::UnsupportedVersion {
                found: 0,
                min: MIN_PROTOCOL_VERSION,
                max: PROTOCOL_VERSION
            })
        );
    }

    #[test]
    fn garbage_and_bombs_are_refused_without_panicking() {
        assert_eq!(decode::<PullRequest>(b"hello"), Err(WireError::NotAMessage));
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        bad.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert!(matches!(
            decode::<PullRequest>(&bad),
            Err(WireError::Corrupt(_))
        ));
        // 100 MB of zeros compresses to a few KB but must not be inflated.
        let zeros = vec![0u8; 100 * 1024 * 1024];
        let mut bomb = MAGIC.to_vec();
        bomb.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        bomb.extend_from_slice(&zstd::bulk::compress(&zeros, 1).unwrap());
        assert!(bomb.len() < 100_000);
        assert_eq!(decode::<PushRequest>(&bomb), Err(WireError::TooLarge));
    }
}

/// `POST sync/signing-batch`: a signing run made on the station, for the server to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningBatchUpload {
    pub batch_id: Uuid,
    /// The manifest's bytes ([`crate::manifest::Manifest::to_bytes`]).
    pub manifest: Vec<u8>,
    /// The detached CMS SignedData over the manifest, DER.
    pub cms: Vec<u8>,
}

/// What the server made of a signing run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningBatchOutcome {
    /// Verified: its doses are signed on the server.
    Accepted { doses: u32 },
    /// Refused for good, with the reason (`untrusted_certificate`, `dose_changed`, …).
    Refused { code: String, message: String },
    /// Some doses are not on the server yet: send the run again after they are pushed.
    Later { message: String },
}

/// A vaccine passport as the server issued it (and, once replaced, revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassportRecord {
    pub uvci: String,
    pub person_id: String,
    /// The dose it certifies (the person's latest).
    pub dose_id: String,
    /// The document signer's `kid`, hex.
    pub kid: String,
    pub issued_at: String,
    pub expires_at: String,
    /// The certificate's text (`HC1:…`), what the QR code holds.
    pub hc1: String,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
    /// The end-of-day run that last changed it.
    pub version: i64,
}

/// Where a station is in the passports' changes: after run `since`'s passport `after` (UVCI
/// order; empty: from the start of the run after `since`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassportCursor {
    #[serde(default)]
    pub since: i64,
    #[serde(default)]
    pub after: String,
}

/// Passports changed after a station's cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassportPage {
    pub passports: Vec<PassportRecord>,
    /// The cursor to ask from next.
    pub next: PassportCursor,
    /// Whether more remain.
    pub more: bool,
}
