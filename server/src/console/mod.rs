//! What district and province officers see (docs/design.md §8, issue 17): counts for the facilities
//! of their area — stations and their devices, doses, verification, signing, passports — and
//! the daily report. Never a person: every query here groups or counts, and none selects a name,
//! an ID number or a phone. The counts come from tables the ingest keeps in step (migration
//! 0013), so a province's view reads a few thousand rows.

pub mod coverage;
pub mod report;

use crate::admin::FacilityRecord;
use crate::db::{Db, in_list};
use crate::scope::Facilities;
use crate::stations::StationContact;
use crate::with_db;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::auth::AccountInfo;
use sync_protocol::role::Role;
use sync_protocol::text::admin_unit_key;
use sync_protocol::verification::VerificationKind;
use time::{Date, OffsetDateTime};

/// Why a console request cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("tài khoản {0} không phải cán bộ theo dõi tuyến huyện/tỉnh")]
    NotOfficer(String),
    #[error("không có cơ sở {0}")]
    NoSuchUnit(String),
    #[error("cơ sở {0} chưa ghi tỉnh/thành phố: không xác định được địa bàn")]
    NoProvince(String),
    #[error("địa bàn {0} không có cơ sở nào")]
    EmptyArea(String),
    #[error("ngày {0} không hợp lệ: nhập dạng yyyy-mm-dd")]
    BadDay(String),
    #[error("không đọc được cơ sở: {0}")]
    Lookup(String),
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    BadCohort(#[from] sync_protocol::schedule::coverage::CohortError),
    #[error("lịch tiêm chủng: {0}")]
    Schedule(String),
    #[error("không ghi được báo cáo: {0}")]
    Write(String),
}

/// The facilities an officer follows.
#[derive(Debug, Clone, Serialize)]
pub struct Area {
    /// Shown in headings: "Trung tâm Y tế Quận 7" or "Tỉnh Đồng Nai".
    pub label: String,
    /// The facilities, by code.
    pub facilities: Vec<FacilityRecord>,
}

impl Area {
    /// A district: the unit (a district centre), the facilities under it (their `parent`), and
    /// the facilities the province designated it to sign for, each with its mobile teams.
    pub async fn district(db: &Db, unit: &str) -> Result<Area, ConsoleError> {
        let all = crate::admin::facilities(db).await?;
        let Some(centre) = all.iter().find(|f| f.code == unit).cloned() else {
            return Err(ConsoleError::NoSuchUnit(unit.to_string()));
        };
        // The list just read, with the signing areas: not the facilities read a second time.
        let index = Facilities::new(all.clone()).with_areas(crate::scope::signing_areas(db).await?);
        let mut codes: BTreeSet<String> = index.area_of(unit).into_iter().collect();
        codes.extend(index.family(unit));
        for f in all.iter().filter(|f| f.parent.as_deref() == Some(unit)) {
            codes.extend(index.family(&f.code));
        }
        Ok(Area {
            label: centre.name.clone(),
            facilities: all
                .into_iter()
                .filter(|f| codes.contains(&f.code))
                .collect(),
        })
    }

    /// A province: every facility whose province is `name` (spelt any of the usual ways).
    pub async fn province(db: &Db, name: &str) -> Result<Area, ConsoleError> {
        let key = admin_unit_key(name);
        let facilities: Vec<FacilityRecord> = crate::admin::facilities(db)
            .await?
            .into_iter()
            .filter(|f| f.province.as_deref().map(admin_unit_key) == Some(key.clone()))
            .collect();
        if facilities.is_empty() {
            return Err(ConsoleError::EmptyArea(name.to_string()));
        }
        let label = facilities
            .iter()
            .find_map(|f| f.province.clone())
            .unwrap_or_else(|| name.to_string());
        Ok(Area { label, facilities })
    }

    /// The area of an officer's account: a district officer's facility is the district centre,
    /// a province officer's any facility of the province (the CDC, the Department).
    pub async fn of_officer(db: &Db, account: &AccountInfo) -> Result<Area, ConsoleError> {
        match account.role {
            Role::DistrictOfficer => Area::district(db, &account.facility).await,
            Role::ProvinceOfficer => {
                let Some(own) = crate::admin::facility(db, &account.facility)
                    .await
                    .map_err(|e| ConsoleError::Lookup(e.to_string()))?
                else {
                    return Err(ConsoleError::NoSuchUnit(account.facility.clone()));
                };
                let Some(province) = own.province else {
                    return Err(ConsoleError::NoProvince(own.code));
                };
                Area::province(db, &province).await
            }
            _ => Err(ConsoleError::NotOfficer(account.username.clone())),
        }
    }

    /// Whether `code` is one of the area's facilities.
    pub fn contains(&self, code: &str) -> bool {
        self.facilities.iter().any(|f| f.code == code)
    }

    fn codes(&self) -> Vec<&str> {
        self.facilities.iter().map(|f| f.code.as_str()).collect()
    }

    /// The commune whose people a facility's count with: its own, a mobile team's parent's, or
    /// the facility's name when no commune is recorded.
    pub fn commune_of(&self, code: &str) -> String {
        let facility = |code: &str| self.facilities.iter().find(|f| f.code == code);
        let owner = facility(code)
            .and_then(|f| {
                (f.kind == "mobile_team")
                    .then(|| f.parent.clone())
                    .flatten()
            })
            .unwrap_or_else(|| code.to_string());
        facility(&owner)
            .and_then(|f| f.commune.clone())
            .unwrap_or_else(|| self.name_of(&owner))
    }

    /// The area's facilities grouped by commune (mobile teams with their parent's), by key.
    pub fn communes(&self) -> BTreeMap<String, (String, Vec<String>)> {
        let mut out: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for f in self.facilities.iter().filter(|f| f.kind != "mobile_team") {
            let commune = self.commune_of(&f.code);
            out.entry(admin_unit_key(&commune))
                .or_insert_with(|| (commune, Vec::new()))
                .1
                .push(f.name.clone());
        }
        out
    }

    /// A facility's name, or its code when the area does not hold it.
    pub fn name_of(&self, code: &str) -> String {
        self.facilities
            .iter()
            .find(|f| f.code == code)
            .map_or_else(|| code.to_string(), |f| f.name.clone())
    }
}

/// One facility of the overview: its devices and its doses.
#[derive(Debug, Clone, Serialize)]
pub struct FacilityActivity {
    pub facility: String,
    pub name: String,
    pub commune: Option<String>,
    /// Its devices (none: the facility has never been set up), silent ones first.
    pub devices: Vec<StationContact>,
    /// Active doses given today / since Monday (Vietnam time).
    pub doses_today: i64,
    pub doses_week: i64,
    /// Some device silent past the threshold, or none registered.
    pub silent: bool,
    /// Citizens' complaints waiting for an answer, and of them those past their deadline.
    pub complaints_open: i64,
    pub complaints_overdue: i64,
}

/// The stations of an area at `now`: devices, last contact, what waits on them, doses today and
/// this week; silent facilities first.
pub async fn overview(
    db: &Db,
    area: &Area,
    now: OffsetDateTime,
    silent_after_days: i64,
) -> Result<Vec<FacilityActivity>, ConsoleError> {
    let today = now.to_offset(sync_protocol::clock::VIETNAM).date();
    let monday = today - time::Duration::days(i64::from(today.weekday().number_days_from_monday()));
    let doses = dose_days(db, area, monday, today).await?;
    let complaints = crate::complaints::open_counts(db, &area.codes(), today).await?;
    let mut devices: BTreeMap<String, Vec<StationContact>> = BTreeMap::new();
    for c in crate::stations::contacts(db, now, silent_after_days, None).await? {
        if area.contains(&c.facility) {
            devices.entry(c.facility.clone()).or_default().push(c);
        }
    }
    let mut out: Vec<FacilityActivity> = area
        .facilities
        .iter()
        .map(|f| {
            let devices = devices.remove(&f.code).unwrap_or_default();
            let (complaints_open, complaints_overdue) =
                complaints.get(&f.code).copied().unwrap_or((0, 0));
            let days = doses.get(&f.code);
            let sum = |from: Date| {
                days.map_or(0, |d| {
                    d.iter()
                        .filter(|(day, _)| *day >= from && *day <= today)
                        .map(|(_, n)| n)
                        .sum()
                })
            };
            FacilityActivity {
                facility: f.code.clone(),
                name: f.name.clone(),
                commune: f.commune.clone(),
                silent: devices.iter().any(|d| d.silent) || devices.is_empty(),
                devices,
                doses_today: sum(today),
                doses_week: sum(monday),
                complaints_open,
                complaints_overdue,
            }
        })
        .collect();
    out.sort_by(|a, b| (!a.silent, &a.facility).cmp(&(!b.silent, &b.facility)));
    Ok(out)
}

/// Active doses per facility and day between two days (inclusive).
async fn dose_days(
    db: &Db,
    area: &Area,
    from: Date,
    until: Date,
) -> Result<BTreeMap<String, Vec<(Date, i64)>>, sqlx::Error> {
    let codes = area.codes();
    let rows: Vec<(String, String, i64)> = with_db!(db, pool => {
        let mut q = sqlx::QueryBuilder::new("SELECT facility, day, active FROM dose_counts WHERE day >= ");
        q.push_bind(from.to_string());
        q.push(" AND day <= ");
        q.push_bind(until.to_string());
        q.push(" AND facility IN (");
        in_list!(q, codes);
        q.build()
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.get("facility"), r.get("day"), r.get("active")))
            .collect()
    });
    let mut out: BTreeMap<String, Vec<(Date, i64)>> = BTreeMap::new();
    for (facility, day, n) in rows {
        if let Some(day) = parse_day(&day) {
            out.entry(facility).or_default().push((day, n));
        }
    }
    Ok(out)
}

/// A day typed as `yyyy-mm-dd`.
pub fn parse_day(text: &str) -> Option<Date> {
    Date::parse(
        text.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// Verification of the people a commune's facilities manage.
#[derive(Debug, Clone, Serialize)]
pub struct CommuneVerification {
    /// The commune (or the facility's name when it has none).
    pub commune: String,
    pub facilities: Vec<String>,
    /// People per outcome, in [`VERIFICATION_COLUMNS`] order.
    pub counts: Vec<i64>,
    pub total: i64,
}

/// The outcomes the verification view shows, in order (each its own column).
pub const VERIFICATION_COLUMNS: [VerificationKind; 7] = [
    VerificationKind::Matched,
    VerificationKind::Mismatched,
    VerificationKind::NotFound,
    VerificationKind::NoId,
    VerificationKind::InvalidId,
    VerificationKind::NotApplicable,
    VerificationKind::Unverified,
];

/// Verification progress per commune of the area.
pub async fn verification(db: &Db, area: &Area) -> Result<Vec<CommuneVerification>, ConsoleError> {
    let codes = area.codes();
    let rows: Vec<(String, String, i64)> = with_db!(db, pool => {
        let mut q = sqlx::QueryBuilder::new("SELECT facility, verification, people FROM person_counts WHERE people <> 0 AND facility IN (");
        in_list!(q, codes);
        q.build()
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.get("facility"), r.get("verification"), r.get("people")))
            .collect()
    });
    let mut out: BTreeMap<String, CommuneVerification> = area
        .communes()
        .into_iter()
        .map(|(key, (commune, facilities))| {
            let row = CommuneVerification {
                commune,
                facilities,
                counts: vec![0; VERIFICATION_COLUMNS.len()],
                total: 0,
            };
            (key, row)
        })
        .collect();
    for (facility, kind, n) in rows {
        let Some(entry) = out.get_mut(&admin_unit_key(&area.commune_of(&facility))) else {
            continue;
        };
        let column = VerificationKind::parse(&kind)
            .and_then(|k| VERIFICATION_COLUMNS.iter().position(|c| *c == k))
            .unwrap_or(VERIFICATION_COLUMNS.len() - 1);
        entry.counts[column] += n;
        entry.total += n;
    }
    Ok(out.into_values().collect())
}

/// Signing and passports of one facility.
#[derive(Debug, Clone, Serialize)]
pub struct FacilitySigning {
    pub facility: String,
    pub name: String,
    /// Active doses, and of them signed by an accepted run.
    pub doses: i64,
    pub signed: i64,
    /// The oldest day with an active dose not yet signed.
    pub oldest_unsigned_day: Option<String>,
    /// Valid passports of the people the facility manages, as the last passport run left them.
    pub passports: i64,
}

/// Signing progress and passports per facility of the area (a mobile team's with its own row).
pub async fn signing(db: &Db, area: &Area) -> Result<Vec<FacilitySigning>, ConsoleError> {
    let codes = area.codes();
    // (facility, active doses, signed, oldest unsigned day) and (facility, valid passports).
    type Signed = (String, i64, i64, Option<String>);
    let (doses, passports): (Vec<Signed>, Vec<(String, i64)>) = with_db!(db, pool => {
        let mut q = sqlx::QueryBuilder::new(
            // PostgreSQL sums BIGINTs as NUMERIC: back to BIGINT for both backends.
            "SELECT facility, CAST(sum(active) AS BIGINT) AS doses, CAST(sum(signed) AS BIGINT) AS signed,
                    min(CASE WHEN active > signed THEN day END) AS oldest
             FROM dose_counts WHERE facility IN (",
        );
        in_list!(q, codes);
        q.push(" GROUP BY facility");
        let doses = q.build()
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.get("facility"), r.get::<Option<i64>, _>("doses").unwrap_or(0), r.get::<Option<i64>, _>("signed").unwrap_or(0), r.get("oldest")))
            .collect();
        let mut q = sqlx::QueryBuilder::new("SELECT facility, valid FROM passport_counts WHERE facility IN (");
        in_list!(q, codes);
        let passports = q.build()
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| (r.get("facility"), r.get("valid")))
            .collect();
        (doses, passports)
    });
    let passports: BTreeMap<String, i64> = passports.into_iter().collect();
    let doses: BTreeMap<String, (i64, i64, Option<String>)> = doses
        .into_iter()
        .map(|(f, d, s, o)| (f, (d, s, o)))
        .collect();
    Ok(area
        .facilities
        .iter()
        .map(|f| {
            let (d, s, oldest) = doses.get(&f.code).cloned().unwrap_or((0, 0, None));
            FacilitySigning {
                facility: f.code.clone(),
                name: f.name.clone(),
                doses: d,
                signed: s,
                oldest_unsigned_day: oldest,
                passports: passports.get(&f.code).copied().unwrap_or(0),
            }
        })
        .collect())
}

/// Fills the emptied `passport_counts`: valid passports per managing facility (also at the end
/// of each passport run).
pub(crate) const COUNT_PASSPORTS: &str = "INSERT INTO passport_counts (facility, valid)
     SELECT d.managing_facility, count(*)
     FROM passports p JOIN documents d ON d.person_id = p.person_id
     WHERE p.revoked_at IS NULL GROUP BY d.managing_facility";

/// Counts every stored dose, document and valid passport again into the console's tables (what
/// migration 0013 did once): after rows were written around the ingest (a restore, a bulk load).
pub async fn rebuild_counts(db: &Db) -> Result<(), ConsoleError> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for sql in [
            "DELETE FROM dose_counts",
            "INSERT INTO dose_counts (facility, day, recorded, active, signed, first_doses)
             SELECT facility, substr(given_at, 1, 10), count(*),
                    sum(CASE WHEN voided THEN 0 ELSE 1 END),
                    sum(CASE WHEN NOT voided AND signed_batch IS NOT NULL THEN 1 ELSE 0 END),
                    sum(CASE WHEN NOT voided AND dose_number = 1 THEN 1 ELSE 0 END)
             FROM doses GROUP BY facility, substr(given_at, 1, 10)",
            "DELETE FROM person_counts",
            "INSERT INTO person_counts (facility, verification, people)
             SELECT managing_facility, verification, count(*)
             FROM documents WHERE merged_into IS NULL GROUP BY managing_facility, verification",
            "DELETE FROM passport_counts",
            COUNT_PASSPORTS,
        ] {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}
