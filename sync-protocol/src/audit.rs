//! Audit entries and their hash chain: each entry's hash is SHA-256 of the previous entry's hash
//! followed by the entry's JSON, so removing or altering an entry breaks every later link.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One field's value before and after a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// An entry as hashed (serialised as JSON in this field order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub user: String,
    pub device: String,
    pub action: String,
    pub entity: String,
    pub changes: Vec<FieldChange>,
    /// Whether a fresh one-time code was given for this write.
    pub otp: bool,
}

/// The hash before the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

impl AuditEntry {
    /// The hash of this entry chained to `prev`.
    pub fn chained_hash(&self, prev: &[u8]) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(prev);
        h.update(serde_json::to_vec(self).unwrap_or_default());
        h.finalize().to_vec()
    }
}

/// An entry with its place in a station's chain, as it syncs to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedEntry {
    pub seq: u64,
    pub entry: AuditEntry,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// `POST /api/v1/audit/push`: the next entries of the device's chain, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPush {
    pub entries: Vec<ChainedEntry>,
}

/// What the server holds of the device's chain afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPushResponse {
    pub stored_through: u64,
    pub last_hash: Vec<u8>,
}
