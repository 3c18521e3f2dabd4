//! Citizens' complaints (issue 16) on the server: filing from the public page (checked by the
//! shared rules of `sync_protocol::complaints`, photos re-encoded), the citizen's look-up with
//! code and phone, the facility's inbox its stations pull, answers and forwarding. Every read of
//! a complaint's personal data and every answer is written to `complaint_events`. No HTTP here.

pub mod photos;
pub mod pow;

use crate::db::{Db, in_list};
use crate::with_db;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::Arc;
use sync_protocol::complaints::{
    ComplaintKind, ComplaintRecord, ComplaintStatus, DEFAULT_WORKING_DAYS, WorkingCalendar,
};
use sync_protocol::person::format_time;
use time::OffsetDateTime;

/// What can go wrong with a complaint.
#[derive(Debug, thiserror::Error)]
pub enum ComplaintError {
    #[error("không có phản ánh này")]
    NotFound,
    #[error("phản ánh thuộc cơ sở khác: thiết bị của cơ sở {0} không xử lý được")]
    OtherFacility(String),
    #[error("phản ánh đã được trả lời, không sửa được")]
    AlreadyAnswered,
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Db(#[from] sqlx::Error),
}

/// What the citizen gets back when filing.
#[derive(Debug, Clone, Serialize)]
pub struct Filed {
    pub code: String,
    /// `yyyy-mm-dd`.
    pub deadline: String,
    pub facility_name: String,
}

/// What the tracking page shows to whoever has the code and the phone.
#[derive(Debug, Clone, Serialize)]
pub struct PublicStatus {
    pub code: String,
    pub full_name: String,
    pub kind: ComplaintKind,
    pub status: ComplaintStatus,
    pub facility_name: String,
    pub received_at: String,
    pub deadline: String,
    pub answer: Option<String>,
    pub answered_at: Option<String>,
    /// Forwarded: by which facility's name, and why.
    pub forwarded: Option<(String, String)>,
}

/// The complaints' tables, with the lock that orders their versions.
#[derive(Clone)]
pub struct ComplaintStore {
    db: Db,
    /// One write at a time: a version is the previous one plus one and is committed before the
    /// next is taken, so a station's pull never skips one.
    writer: Arc<tokio::sync::Mutex<()>>,
    calendar: Arc<WorkingCalendar>,
}

/// The columns `complaint_row!` reads (a literal, so queries stay static strings).
macro_rules! complaint_columns {
    () => {
        "id, code, facility, full_name, birth_date, phone, id_number, kind, vaccine,
         vaccinated_on, place, description, photos, received_at, deadline, status, answer,
         answered_at, answered_by, person_id, forwarded_from, forward_reason, version"
    };
}

/// A `ComplaintRecord` from a row of either backend (expanded inside `with_db!`); a value that
/// does not decode reads as empty rather than failing the page.
macro_rules! complaint_row {
    ($r:expr) => {{
        let r = $r;
        let text = |c: &str| r.try_get::<String, _>(c).unwrap_or_default();
        let opt = |c: &str| r.try_get::<Option<String>, _>(c).ok().flatten();
        let int = |c: &str| r.try_get::<i64, _>(c).unwrap_or(0);
        ComplaintRecord {
            id: text("id"),
            code: text("code"),
            facility: text("facility"),
            full_name: text("full_name"),
            birth_date: text("birth_date"),
            phone: text("phone"),
            id_number: opt("id_number"),
            kind: ComplaintKind::parse(&text("kind")).unwrap_or(ComplaintKind::Other),
            vaccine: opt("vaccine"),
            vaccinated_on: opt("vaccinated_on"),
            place: opt("place"),
            description: text("description"),
            photos: u32::try_from(int("photos")).unwrap_or(0),
            received_at: text("received_at"),
            deadline: text("deadline"),
            status: ComplaintStatus::parse(&text("status")).unwrap_or(ComplaintStatus::Open),
            answer: opt("answer"),
            answered_at: opt("answered_at"),
            answered_by: opt("answered_by"),
            person_id: opt("person_id"),
            forwarded_from: opt("forwarded_from"),
            forward_reason: opt("forward_reason"),
            version: int("version"),
        }
    }};
}

// Declared after the macros above, which they use.
mod inbox;
mod intake;

/// The version the next change of a complaint takes: the counter row stays locked until the
/// transaction ends (migration 0015), whichever process writes.
const NEXT_VERSION: &str =
    "UPDATE complaint_version SET version = version + 1 WHERE id = 1 RETURNING version";
/// One line of `complaint_events`.
const INSERT_EVENT: &str = "INSERT INTO complaint_events (complaint_id, at, actor, action, detail)
     VALUES ($1, $2, $3, $4, $5)";

/// Open and overdue complaints per facility of `facilities` on `today` (for the console).
pub async fn open_counts(
    db: &Db,
    facilities: &[&str],
    today: time::Date,
) -> Result<BTreeMap<String, (i64, i64)>, sqlx::Error> {
    let today = today.to_string();
    let rows: Vec<(String, i64, i64)> = with_db!(db, pool => {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT facility, count(*) AS open,
                    sum(CASE WHEN deadline < ",
        );
        q.push_bind(today.clone());
        q.push(" THEN 1 ELSE 0 END) AS overdue FROM complaints WHERE status = 'open' AND facility IN (");
        in_list!(q, facilities);
        q.push(" GROUP BY facility");
        q.build()
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| (r.get("facility"), r.get("open"), r.get::<Option<i64>, _>("overdue").unwrap_or(0)))
            .collect()
    });
    Ok(rows.into_iter().map(|(f, o, d)| (f, (o, d))).collect())
}

impl ComplaintStore {
    /// The store over `db`, counting deadlines with the built-in calendar.
    pub fn new(db: Db) -> ComplaintStore {
        ComplaintStore {
            db,
            writer: Arc::default(),
            calendar: Arc::new(WorkingCalendar::built_in()),
        }
    }

    /// The working days a facility's province gives (the default when it set none).
    async fn working_days(&self, facility: &str) -> Result<u32, sqlx::Error> {
        let days: Option<i64> = with_db!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT d.working_days FROM complaint_deadlines d
                 JOIN facilities f ON f.province = d.province WHERE f.code = $1",
            )
            .bind(facility)
            .fetch_optional(pool)
            .await?
        });
        Ok(days
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| (1..=30).contains(d))
            .unwrap_or(DEFAULT_WORKING_DAYS))
    }

    /// Sets the working days the facilities of `province` have to answer.
    pub async fn set_working_days(&self, province: &str, days: u32) -> Result<(), sqlx::Error> {
        with_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO complaint_deadlines (province, working_days) VALUES ($1, $2)
                 ON CONFLICT (province) DO UPDATE SET working_days = excluded.working_days",
            )
            .bind(province)
            .bind(i64::from(days))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn event(
        &self,
        id: &str,
        actor: &str,
        action: &str,
        detail: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        with_db!(&self.db, pool => {
            sqlx::query(INSERT_EVENT)
                .bind(id)
                .bind(format_time(now))
                .bind(actor)
                .bind(action)
                .bind(detail)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn by_id(&self, id: &str) -> Result<Option<ComplaintRecord>, sqlx::Error> {
        Ok(with_db!(&self.db, pool => {
            sqlx::query(concat!("SELECT ", complaint_columns!(), " FROM complaints WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|r| complaint_row!(&r))
        }))
    }

    /// The events of one complaint, oldest first (for the command line's `complaint show`).
    pub async fn events(&self, id: &str) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        Ok(with_db!(&self.db, pool => {
            sqlx::query("SELECT at, actor, action FROM complaint_events WHERE complaint_id = $1 ORDER BY at")
                .bind(id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| (r.get("at"), r.get("actor"), r.get("action")))
                .collect()
        }))
    }
}
