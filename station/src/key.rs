//! The key that encrypts the local database: kept in the OS credential store (Windows Credential
//! Manager, Secret Service, Keychain), or given explicitly through `SOTIEM_DB_KEY` on servers and
//! in CI. Never written to a file.

use crate::error::{Result, StationError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The environment variable that gives the key explicitly: 64 hex digits (32 bytes).
pub const KEY_ENV: &str = "SOTIEM_DB_KEY";

/// The credential-store service name under which keys are kept.
pub const KEYRING_SERVICE: &str = "vn.sotiem.station";

/// Where a store's key lives, recorded beside the database so opening knows where to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// The OS credential store.
    Keyring,
    /// The `SOTIEM_DB_KEY` environment variable.
    Environment,
}

/// A 256-bit database key.
#[derive(Clone, PartialEq, Eq)]
pub struct DbKey([u8; 32]);

impl fmt::Debug for DbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DbKey(…)")
    }
}

impl DbKey {
    /// A fresh random key.
    pub fn generate() -> DbKey {
        DbKey(rand::random())
    }

    /// Reads 64 hex digits.
    pub fn from_hex(text: &str) -> Result<DbKey> {
        let bytes = hex::decode(text.trim()).map_err(|_| bad_env())?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| bad_env())?;
        Ok(DbKey(arr))
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The key from `SOTIEM_DB_KEY`, if it is set.
    pub fn from_env() -> Result<Option<DbKey>> {
        match std::env::var(KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => DbKey::from_hex(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// Stores the key in the OS credential store under the store's id.
    pub fn save_to_keyring(&self, store_id: &str) -> Result<()> {
        save_secret(store_id, "db-key", &self.to_hex())?;
        // Read it back: some stores accept a write they cannot serve later.
        match DbKey::load_from_keyring(store_id) {
            Ok(k) if &k == self => Ok(()),
            Ok(_) => Err(StationError::KeyUnavailable(
                "kho khoá trả về khoá khác với khoá vừa lưu".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Reads the key of a store from the OS credential store.
    pub fn load_from_keyring(store_id: &str) -> Result<DbKey> {
        let hex = load_secret(store_id, "db-key")?.ok_or_else(|| {
            StationError::KeyUnavailable(keyring_message(&keyring::Error::NoEntry))
        })?;
        DbKey::from_hex(&hex).map_err(|_| {
            StationError::KeyUnavailable("khoá trong kho khoá của hệ điều hành bị hỏng".into())
        })
    }

    /// Removes a store's key from the OS credential store.
    pub fn delete_from_keyring(store_id: &str) -> Result<()> {
        delete_secret(store_id, "db-key")
    }
}

/// Keeps a secret of a store (`name`: db-key, device-token, …) in the OS credential store.
pub fn save_secret(store_id: &str, name: &str, value: &str) -> Result<()> {
    keyring_entry(store_id, name)?
        .set_password(value)
        .map_err(|e| StationError::KeyUnavailable(keyring_message(&e)))
}

/// Reads a secret of a store from the OS credential store; `None` when there is none.
pub fn load_secret(store_id: &str, name: &str) -> Result<Option<String>> {
    match keyring_entry(store_id, name)?.get_password() {
        Ok(v) => Ok(Some(v)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(StationError::KeyUnavailable(keyring_message(&e))),
    }
}

/// Removes a secret of a store from the OS credential store.
pub fn delete_secret(store_id: &str, name: &str) -> Result<()> {
    match keyring_entry(store_id, name)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(StationError::KeyUnavailable(keyring_message(&e))),
    }
}

fn bad_env() -> StationError {
    StationError::KeyUnavailable(format!("{KEY_ENV} phải gồm đúng 64 chữ số thập lục phân"))
}

fn keyring_entry(store_id: &str, name: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, &format!("{name}/{store_id}"))
        .map_err(|e| StationError::KeyUnavailable(keyring_message(&e)))
}

fn keyring_message(e: &keyring::Error) -> String {
    match e {
        keyring::Error::NoEntry => {
            "kho khoá của hệ điều hành không có khoá của dữ liệu này (dữ liệu được tạo trên máy khác hoặc bởi người dùng khác?)".into()
        }
        keyring::Error::NoDefaultStore | keyring::Error::NoStorageAccess(_) | keyring::Error::PlatformFailure(_) => format!(
            "không truy cập được kho khoá của hệ điều hành ({e}); trên máy chủ hoặc CI hãy đặt {KEY_ENV}"
        ),
        // Windows' Credential Manager holds at most 2,560 bytes of secret (UTF-16: 1,280
        // characters); said plainly rather than cut.
        keyring::Error::TooLong(what, limit) => format!(
            "kho khoá của hệ điều hành không giữ được {what}: dài quá giới hạn {limit} byte"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under Windows (Wine in the Windows leg): the Credential Manager keeps the station's key
    /// and the largest secret it holds (1,280 UTF-16 units), and refuses a longer one with its
    /// limit named, keeping the secret it had.
    #[cfg(windows)]
    #[test]
    fn the_credential_manager_keeps_the_key_and_refuses_a_secret_past_its_limit() {
        let store = format!("kiem-tra-{}", uuid::Uuid::now_v7());
        let key = DbKey::generate();
        key.save_to_keyring(&store).expect("the key saved");
        assert_eq!(DbKey::load_from_keyring(&store).expect("read back"), key);
        let largest = "ệ".repeat(1280);
        save_secret(&store, "session", &largest).expect("the largest secret it holds");
        assert_eq!(
            load_secret(&store, "session").expect("read"),
            Some(largest.clone())
        );
        let err = save_secret(&store, "session", &"ệ".repeat(1281)).expect_err("too long");
        assert!(err.to_string().contains("2560"), "{err}");
        assert_eq!(load_secret(&store, "session").expect("read"), Some(largest));
        DbKey::delete_from_keyring(&store).expect("deleted");
        delete_secret(&store, "session").expect("deleted");
        assert_eq!(load_secret(&store, "session").expect("read"), None);
    }

    #[test]
    fn keys_round_trip_through_hex_and_reject_bad_lengths() {
        let k = DbKey::generate();
        assert_eq!(DbKey::from_hex(&k.to_hex()).unwrap(), k);
        assert!(DbKey::from_hex("abcd").is_err());
        assert!(DbKey::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(format!("{k:?}"), "DbKey(…)");
    }
}
