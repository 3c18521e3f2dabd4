//! Facilities and devices: what a district or province administrator sets up before stations
//! can sync.

use crate::db::Db;
use crate::with_db;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sync_protocol::person::{format_time, now};
use sync_protocol::{Field, Problem, validate};

/// An error of an administrative operation.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Invalid(#[from] sync_protocol::FieldError),
    #[error("không có cơ sở mã {0}")]
    UnknownFacility(String),
    #[error("cơ sở mã {0} đã có")]
    FacilityExists(String),
    #[error("không có thiết bị mã {0}")]
    UnknownDevice(String),
    #[error(
        "thiết bị {old} đã được thay bằng thiết bị {by}; nếu máy đó cũng hỏng, hãy thay thiết bị {by}"
    )]
    AlreadyReplaced { old: String, by: String },
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Db(#[from] sqlx::Error),
}

/// The kinds of facility (docs/design.md §3).
pub const FACILITY_KINDS: [&str; 6] = [
    "commune_station",
    "hospital",
    "private",
    "mobile_team",
    "district_centre",
    "cdc",
];

/// A facility known to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacilityRecord {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub province: Option<String>,
    pub commune: Option<String>,
    pub parent: Option<String>,
}

/// Adds a facility.
pub async fn add_facility(db: &Db, f: &FacilityRecord) -> Result<(), AdminError> {
    validate::check_code(Field::Facility, &f.code)?;
    if f.name.trim().is_empty() {
        return Err(sync_protocol::FieldError::new(Field::FacilityName, Problem::Required).into());
    }
    if !FACILITY_KINDS.contains(&f.kind.as_str()) {
        return Err(sync_protocol::FieldError::new(
            Field::Facility,
            Problem::Choice {
                allowed: "commune_station, hospital, private, mobile_team, district_centre, cdc",
            },
        )
        .into());
    }
    if let Some(parent) = &f.parent
        && facility(db, parent).await?.is_none()
    {
        return Err(AdminError::UnknownFacility(parent.clone()));
    }
    if facility(db, &f.code).await?.is_some() {
        return Err(AdminError::FacilityExists(f.code.clone()));
    }
    with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO facilities (code, name, kind, province, commune, parent) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&f.code)
        .bind(f.name.trim())
        .bind(&f.kind)
        .bind(&f.province)
        .bind(&f.commune)
        .bind(&f.parent)
        .execute(pool)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// A facility by code.
pub async fn facility(db: &Db, code: &str) -> Result<Option<FacilityRecord>, AdminError> {
    let row = with_db!(db, pool => {
        sqlx::query("SELECT code, name, kind, province, commune, parent FROM facilities WHERE code = $1")
            .bind(code)
            .fetch_optional(pool)
            .await?
            .map(|r| facility_from_row(&r))
    });
    Ok(row)
}

/// Every facility.
pub async fn facilities(db: &Db) -> Result<Vec<FacilityRecord>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query("SELECT code, name, kind, province, commune, parent FROM facilities ORDER BY code")
            .fetch_all(pool)
            .await?
            .iter()
            .map(facility_from_row)
            .collect()
    }))
}

fn facility_from_row<R: Row>(r: &R) -> FacilityRecord
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    FacilityRecord {
        code: r.get("code"),
        name: r.get("name"),
        kind: r.get("kind"),
        province: r.get("province"),
        commune: r.get("commune"),
        parent: r.get("parent"),
    }
}

/// A device registered to a facility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceRecord {
    pub id: String,
    pub facility: String,
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub last_seen_at: Option<String>,
    /// The device this one replaces (a laptop rebuilt from a backup).
    pub replaces: Option<String>,
}

/// A new device and the token it authenticates with (shown once, stored only as a hash).
#[derive(Debug, Clone, Serialize)]
pub struct NewDevice {
    pub device: DeviceRecord,
    pub token: String,
}

/// The hash under which a token is stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// A device as its token finds it, revoked or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDevice {
    pub id: String,
    pub facility: String,
    pub revoked_at: Option<String>,
}

/// The device whose token is `token` (revoked ones too), looked up by the token's hash.
pub async fn device_by_token(db: &Db, token: &str) -> Result<Option<TokenDevice>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query("SELECT id, facility, revoked_at FROM devices WHERE token_hash = $1")
            .bind(token_hash(token))
            .fetch_optional(pool)
            .await?
            .map(|r| TokenDevice {
                id: r.get("id"),
                facility: r.get("facility"),
                revoked_at: r.get("revoked_at"),
            })
    }))
}

/// Records `at` as when the device `id` was last seen.
pub async fn record_last_seen(db: &Db, id: &str, at: &str) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query("UPDATE devices SET last_seen_at = $1 WHERE id = $2").bind(at).bind(id).execute(pool).await.map(|_| ())
    })
}

/// Registers a device for a facility and returns its one-time token.
pub async fn add_device(db: &Db, facility_code: &str, name: &str) -> Result<NewDevice, AdminError> {
    if facility(db, facility_code).await?.is_none() {
        return Err(AdminError::UnknownFacility(facility_code.to_string()));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let token = format!("stk_{}", hex::encode(rand::random::<[u8; 32]>()));
    let created_at = format_time(now());
    with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO devices (id, facility, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(facility_code)
        .bind(name.trim())
        .bind(token_hash(&token))
        .bind(&created_at)
        .execute(pool)
        .await
        .map(|_| ())
    })?;
    Ok(NewDevice {
        device: DeviceRecord {
            id,
            facility: facility_code.to_string(),
            name: name.trim().to_string(),
            created_at,
            revoked_at: None,
            last_seen_at: None,
            replaces: None,
        },
        token,
    })
}

/// Registers a new device as the replacement of `old_id` (a laptop rebuilt from a backup of the
/// old one): same facility; it may push the old device's Automerge actors, so the changes still
/// waiting in the backup reach the server; the old device's token stops working at once.
pub async fn replace_device(db: &Db, old_id: &str, name: &str) -> Result<NewDevice, AdminError> {
    let list = devices(db).await?;
    let old = list
        .iter()
        .find(|d| d.id == old_id)
        .ok_or_else(|| AdminError::UnknownDevice(old_id.to_string()))?;
    if let Some(by) = list.iter().find(|d| d.replaces.as_deref() == Some(old_id)) {
        return Err(AdminError::AlreadyReplaced {
            old: old_id.to_string(),
            by: by.id.clone(),
        });
    }
    let id = uuid::Uuid::now_v7().to_string();
    let token = format!("stk_{}", hex::encode(rand::random::<[u8; 32]>()));
    let created_at = format_time(now());
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO devices (id, facility, name, token_hash, created_at, replaces) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(&old.facility)
        .bind(name.trim())
        .bind(token_hash(&token))
        .bind(&created_at)
        .bind(old_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(&created_at)
            .bind(old_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })?;
    Ok(NewDevice {
        device: DeviceRecord {
            id,
            facility: old.facility.clone(),
            name: name.trim().to_string(),
            created_at,
            revoked_at: None,
            last_seen_at: None,
            replaces: Some(old_id.to_string()),
        },
        token,
    })
}

/// Revokes a device: its token stops working at once.
pub async fn revoke_device(db: &Db, id: &str) -> Result<(), AdminError> {
    let done = with_db!(db, pool => {
        sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(format_time(now()))
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if done == 0 {
        return Err(AdminError::UnknownDevice(id.to_string()));
    }
    Ok(())
}

/// Every device.
pub async fn devices(db: &Db) -> Result<Vec<DeviceRecord>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT id, facility, name, created_at, revoked_at, last_seen_at, replaces FROM devices ORDER BY created_at",
        )
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| DeviceRecord {
            id: r.get("id"),
            facility: r.get("facility"),
            name: r.get("name"),
            created_at: r.get("created_at"),
            revoked_at: r.get("revoked_at"),
            last_seen_at: r.get("last_seen_at"),
            replaces: r.get("replaces"),
        })
        .collect()
    }))
}

/// The server's own random id, created on first use.
pub async fn server_id(db: &Db) -> Result<String, sqlx::Error> {
    let candidate = uuid::Uuid::now_v7().to_string();
    with_db!(db, pool => {
        sqlx::query("INSERT INTO server_meta (key, value) VALUES ('server_id', $1) ON CONFLICT (key) DO NOTHING")
            .bind(&candidate)
            .execute(pool)
            .await?;
        sqlx::query_scalar("SELECT value FROM server_meta WHERE key = 'server_id'")
            .fetch_one(pool)
            .await
    })
}
