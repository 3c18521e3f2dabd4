//! Which stations have gone quiet (issue 17's first view): every facility of an area with its
//! devices and when each last reached the server, those silent for more than N days first. Names
//! facilities and devices only, never a person. `sotiem-server stations --silent-days 3`.

use crate::db::Db;
use crate::with_db;
use serde::Serialize;
use sqlx::Row;
use sync_protocol::person::parse_time;
use time::OffsetDateTime;

/// A device of a facility (or a facility with none), and how long it has been silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationContact {
    pub facility: String,
    pub facility_name: String,
    pub province: Option<String>,
    pub commune: Option<String>,
    /// `None`: the facility has no device registered.
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    /// When the device last reached the server; `None`: never.
    pub last_seen_at: Option<String>,
    /// Whole days since then; `None` when never seen.
    pub silent_days: Option<i64>,
    /// Silent for more than the threshold, never seen, or no device at all.
    pub silent: bool,
    /// What the device said at the end of its last sync: changes still waiting to go up, and
    /// changes the server refused (quarantined); `None` before its first report.
    pub waiting_changes: Option<i64>,
    pub quarantined: Option<i64>,
    pub app_version: Option<String>,
    pub reported_at: Option<String>,
}

/// The facilities of `province` (all when `None`) and their unrevoked devices at `now`, the
/// silent ones first (longest silence first), then by facility.
pub async fn contacts(
    db: &Db,
    now: OffsetDateTime,
    silent_after_days: i64,
    province: Option<&str>,
) -> Result<Vec<StationContact>, sqlx::Error> {
    let province = province.map(str::trim).filter(|p| !p.is_empty());
    let mut rows: Vec<StationContact> = with_db!(db, pool => {
        sqlx::query(
            "SELECT f.code, f.name, f.province, f.commune, d.id, d.name AS device_name, d.last_seen_at,
                    d.reported_waiting, d.reported_quarantined, d.reported_version, d.reported_at
             FROM facilities f
             LEFT JOIN devices d ON d.facility = f.code AND d.revoked_at IS NULL
             WHERE ($1 IS NULL OR f.province = $1)
             ORDER BY f.code, d.created_at",
        )
        .bind(province)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| {
            let device_id: Option<String> = r.get("id");
            let last_seen_at: Option<String> = r.get("last_seen_at");
            let silent_days = last_seen_at
                .as_deref()
                .and_then(parse_time)
                .map(|seen| (now - seen).whole_days().max(0));
            StationContact {
                facility: r.get("code"),
                facility_name: r.get("name"),
                province: r.get("province"),
                commune: r.get("commune"),
                silent: device_id.is_none() || silent_days.is_none_or(|d| d > silent_after_days),
                device_id,
                device_name: r.get("device_name"),
                last_seen_at,
                silent_days,
                waiting_changes: r.get("reported_waiting"),
                quarantined: r.get("reported_quarantined"),
                app_version: r.get("reported_version"),
                reported_at: r.get("reported_at"),
            }
        })
        .collect()
    });
    rows.sort_by_key(|c| {
        (
            !c.silent,
            std::cmp::Reverse(c.silent_days.unwrap_or(i64::MAX)),
            c.facility.clone(),
        )
    });
    Ok(rows)
}

/// Records what a device reported at the end of a sync (`POST devices/report`).
pub async fn record_report(
    db: &Db,
    device: &str,
    report: &sync_protocol::wire::DeviceReport,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    // A version is a short dotted string; anything else is kept cut to size, not trusted.
    let version: String = report.app_version.chars().take(40).collect();
    with_db!(db, pool => {
        sqlx::query(
            "UPDATE devices SET reported_waiting = $1, reported_quarantined = $2,
                reported_version = $3, reported_at = $4 WHERE id = $5",
        )
        .bind(n(report.waiting_changes))
        .bind(n(report.quarantined))
        .bind(version)
        .bind(sync_protocol::person::format_time(at))
        .bind(device)
        .execute(pool)
        .await?;
    });
    Ok(())
}
