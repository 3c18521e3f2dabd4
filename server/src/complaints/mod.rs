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
    CheckedComplaint, ComplaintKind, ComplaintRecord, ComplaintStatus, DEFAULT_WORKING_DAYS,
    WorkingCalendar, tracking_code,
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

    /// Files a checked complaint with its re-encoded photos; one transaction, so a complaint is
    /// stored whole or not at all.
    pub async fn file(
        &self,
        c: &CheckedComplaint,
        photos: &[Vec<u8>],
        now: OffsetDateTime,
        address: Option<&str>,
    ) -> Result<Filed, ComplaintError> {
        let now = now.to_offset(sync_protocol::clock::VIETNAM);
        let days = self.working_days(&c.facility).await?;
        let deadline = self.calendar.deadline(now.date(), days).to_string();
        let facility_name = crate::admin::facility(&self.db, &c.facility)
            .await
            .ok()
            .flatten()
            .map_or_else(|| c.facility.clone(), |f| f.name);
        let id = uuid::Uuid::now_v7().to_string();
        let received_at = format_time(now);
        let _one_at_a_time = self.writer.lock().await;
        let code = loop {
            let code = tracking_code(rand::random());
            let taken: Option<String> = with_db!(&self.db, pool => {
                sqlx::query_scalar("SELECT id FROM complaints WHERE code = $1")
                    .bind(&code)
                    .fetch_optional(pool)
                    .await?
            });
            if taken.is_none() {
                break code;
            }
        };
        let actor = format!("citizen {}", address.unwrap_or("?"));
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let version: i64 = sqlx::query_scalar(NEXT_VERSION).fetch_one(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO complaints (id, code, facility, full_name, birth_date, phone, id_number,
                    kind, vaccine, vaccinated_on, place, description, photos, received_at, deadline,
                    status, answer, answered_at, answered_by, person_id, forwarded_from,
                    forward_reason, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'open',
                    NULL, NULL, NULL, NULL, NULL, NULL, $16)",
            )
            .bind(&id)
            .bind(&code)
            .bind(&c.facility)
            .bind(&c.full_name)
            .bind(&c.birth_date)
            .bind(&c.phone)
            .bind(&c.id_number)
            .bind(c.kind.as_str())
            .bind(&c.vaccine)
            .bind(&c.vaccinated_on)
            .bind(&c.place)
            .bind(&c.description)
            .bind(photos.len() as i64)
            .bind(&received_at)
            .bind(&deadline)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            for (n, jpeg) in photos.iter().enumerate() {
                sqlx::query("INSERT INTO complaint_photos (complaint_id, n, jpeg) VALUES ($1, $2, $3)")
                    .bind(&id)
                    .bind(n as i64)
                    .bind(jpeg.as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(INSERT_EVENT)
                .bind(&id)
                .bind(&received_at)
                .bind(&actor)
                .bind("filed")
                .bind(&c.facility)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(Filed {
            code,
            deadline,
            facility_name,
        })
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

    /// The citizen's look-up: the complaint of `code` if `phone` is the one it was filed with.
    /// A wrong phone answers exactly as an unknown code does.
    pub async fn lookup(
        &self,
        code: &str,
        phone: &str,
        address: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<PublicStatus>, ComplaintError> {
        let (Some(code), Ok(phone)) = (
            sync_protocol::complaints::normalize_tracking_code(code),
            sync_protocol::identity::normalize_phone(phone.trim()),
        ) else {
            return Ok(None);
        };
        let found = with_db!(&self.db, pool => {
            sqlx::query(concat!(
                "SELECT ",
                complaint_columns!(),
                " FROM complaints WHERE code = $1 AND phone = $2"
            ))
            .bind(&code)
            .bind(&phone)
            .fetch_optional(pool)
            .await?
            .map(|r| complaint_row!(&r))
        });
        let Some(c) = found else {
            return Ok(None);
        };
        self.event(
            &c.id,
            &format!("citizen {}", address.unwrap_or("?")),
            "citizen_lookup",
            None,
            now,
        )
        .await?;
        let name = |code: &str| {
            let code = code.to_string();
            let db = self.db.clone();
            async move {
                crate::admin::facility(&db, &code)
                    .await
                    .ok()
                    .flatten()
                    .map_or(code, |f| f.name)
            }
        };
        let forwarded = match (&c.forwarded_from, &c.forward_reason) {
            (Some(from), Some(reason)) => Some((name(from).await, reason.clone())),
            _ => None,
        };
        Ok(Some(PublicStatus {
            code: c.code,
            full_name: c.full_name,
            kind: c.kind,
            status: c.status,
            facility_name: name(&c.facility).await,
            received_at: c.received_at,
            deadline: c.deadline,
            answer: c.answer,
            answered_at: c.answered_at,
            forwarded,
        }))
    }

    /// The complaints of `facilities` (a facility and its mobile teams), and those they
    /// forwarded away, changed after `since`: at most `limit`, oldest change first.
    pub async fn changed_since(
        &self,
        facilities: &[String],
        since: i64,
        limit: i64,
    ) -> Result<(Vec<ComplaintRecord>, bool), sqlx::Error> {
        let mut rows: Vec<ComplaintRecord> = with_db!(&self.db, pool => {
            let mut q = sqlx::QueryBuilder::new(concat!(
                "SELECT ",
                complaint_columns!(),
                " FROM complaints WHERE version > "
            ));
            q.push_bind(since);
            q.push(" AND (facility IN (");
            in_list!(q, facilities);
            q.push(" OR forwarded_from IN (");
            in_list!(q, facilities);
            q.push(") ORDER BY version LIMIT ");
            q.push_bind(limit + 1);
            q.build().fetch_all(pool).await?.iter().map(|r| complaint_row!(r)).collect()
        });
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        Ok((rows, more))
    }

    /// Records that `actor` of a device of `facility` received these complaints (their personal
    /// data crossed to the station).
    pub async fn record_sent(
        &self,
        complaints: &[ComplaintRecord],
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        for c in complaints {
            self.event(&c.id, actor, "sent_to_station", None, now)
                .await?;
        }
        Ok(())
    }

    /// One of a complaint's photos, for a station of the facility it belongs to.
    pub async fn photo(
        &self,
        id: &str,
        n: i64,
        facilities: &[String],
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, ComplaintError> {
        self.ours(id, facilities).await?;
        let jpeg: Option<Vec<u8>> = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT jpeg FROM complaint_photos WHERE complaint_id = $1 AND n = $2")
                .bind(id)
                .bind(n)
                .fetch_optional(pool)
                .await?
        });
        let jpeg = jpeg.ok_or(ComplaintError::NotFound)?;
        self.event(id, actor, "photo_viewed", Some(&n.to_string()), now)
            .await?;
        Ok(jpeg)
    }

    /// Whether one of `facilities` replicates the person `person_id`.
    async fn in_scope(
        &self,
        person_id: &str,
        facilities: &[String],
    ) -> Result<bool, ComplaintError> {
        let found: i64 = with_db!(&self.db, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM person_scope WHERE person_id = ");
            q.push_bind(person_id);
            q.push(" AND facility IN (");
            crate::db::in_list!(q, facilities);
            q.build_query_scalar().fetch_one(pool).await?
        });
        Ok(found > 0)
    }

    /// The complaint `id` if it belongs to `facilities`.
    async fn ours(
        &self,
        id: &str,
        facilities: &[String],
    ) -> Result<ComplaintRecord, ComplaintError> {
        let c = self.by_id(id).await?.ok_or(ComplaintError::NotFound)?;
        if !facilities.contains(&c.facility) {
            return Err(ComplaintError::OtherFacility(
                facilities.first().cloned().unwrap_or_default(),
            ));
        }
        Ok(c)
    }

    /// The complaint `id` if it belongs to `facilities` and still waits for an answer.
    async fn open_of(
        &self,
        id: &str,
        facilities: &[String],
    ) -> Result<ComplaintRecord, ComplaintError> {
        let c = self.ours(id, facilities).await?;
        if c.status != ComplaintStatus::Open {
            return Err(ComplaintError::AlreadyAnswered);
        }
        Ok(c)
    }

    /// Answers a complaint of `facilities` as `user`: resolved or rejected, with the text the
    /// citizen will read. An answered complaint stays answered.
    pub async fn answer(
        &self,
        id: &str,
        facilities: &[String],
        user: &str,
        answer: &sync_protocol::complaints::ComplaintAnswer,
        now: OffsetDateTime,
    ) -> Result<ComplaintRecord, ComplaintError> {
        let text =
            sync_protocol::complaints::check_reply("answer", &answer.answer).map_err(|p| {
                ComplaintError::Invalid {
                    field: p.field,
                    message: p.message,
                }
            })?;
        if answer.status == ComplaintStatus::Open {
            return Err(ComplaintError::Invalid {
                field: "status",
                message: "trả lời là đã giải quyết hoặc không chấp nhận".into(),
            });
        }
        if let Some(p) = &answer.person_id
            && uuid::Uuid::parse_str(p).is_err()
        {
            return Err(ComplaintError::Invalid {
                field: "person_id",
                message: "mã người tiêm không hợp lệ".into(),
            });
        }
        // The record linked must be one the facility replicates: a station cannot close a
        // complaint on a person it does not hold (or one that does not exist).
        if let Some(p) = &answer.person_id
            && !self.in_scope(p, facilities).await?
        {
            return Err(ComplaintError::Invalid {
                field: "person_id",
                message: "không có người tiêm này trong phạm vi của cơ sở".into(),
            });
        }
        let _one_at_a_time = self.writer.lock().await;
        let open = self.open_of(id, facilities).await?;
        let linked = answer.person_id.is_some() || open.person_id.is_some();
        sync_protocol::complaints::check_resolution(answer.status, open.kind, linked).map_err(
            |p| ComplaintError::Invalid {
                field: p.field,
                message: p.message,
            },
        )?;
        let at = format_time(now.to_offset(sync_protocol::clock::VIETNAM));
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let version: i64 = sqlx::query_scalar(NEXT_VERSION).fetch_one(&mut *tx).await?;
            sqlx::query(
                "UPDATE complaints SET status = $1, answer = $2, answered_at = $3, answered_by = $4,
                    person_id = COALESCE($5, person_id), version = $6 WHERE id = $7",
            )
            .bind(answer.status.as_str())
            .bind(&text)
            .bind(&at)
            .bind(user)
            .bind(&answer.person_id)
            .bind(version)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(INSERT_EVENT)
                .bind(id)
                .bind(&at)
                .bind(user)
                .bind(answer.status.as_str())
                .bind(&text)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.by_id(id).await?.ok_or(ComplaintError::NotFound)
    }

    /// Forwards an open complaint of `facilities` to facility `to`, with the reason; the
    /// deadline starts again there.
    pub async fn forward(
        &self,
        id: &str,
        facilities: &[String],
        user: &str,
        forward: &sync_protocol::complaints::ComplaintForward,
        now: OffsetDateTime,
    ) -> Result<ComplaintRecord, ComplaintError> {
        let reason =
            sync_protocol::complaints::check_reply("reason", &forward.reason).map_err(|p| {
                ComplaintError::Invalid {
                    field: p.field,
                    message: p.message,
                }
            })?;
        let to = forward.to.trim();
        if crate::admin::facility(&self.db, to)
            .await
            .ok()
            .flatten()
            .is_none()
        {
            return Err(ComplaintError::Invalid {
                field: "to",
                message: format!("không có cơ sở {to}"),
            });
        }
        if facilities.iter().any(|f| f == to) {
            return Err(ComplaintError::Invalid {
                field: "to",
                message: "chọn một cơ sở khác cơ sở của mình".into(),
            });
        }
        let days = self.working_days(to).await?;
        let now = now.to_offset(sync_protocol::clock::VIETNAM);
        let deadline = self.calendar.deadline(now.date(), days).to_string();
        let _one_at_a_time = self.writer.lock().await;
        let c = self.open_of(id, facilities).await?;
        let at = format_time(now);
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let version: i64 = sqlx::query_scalar(NEXT_VERSION).fetch_one(&mut *tx).await?;
            sqlx::query(
                "UPDATE complaints SET facility = $1, forwarded_from = $2, forward_reason = $3,
                    deadline = $4, version = $5 WHERE id = $6",
            )
            .bind(to)
            .bind(&c.facility)
            .bind(&reason)
            .bind(&deadline)
            .bind(version)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(INSERT_EVENT)
                .bind(id)
                .bind(&at)
                .bind(user)
                .bind("forwarded")
                .bind(format!("{} → {to}: {reason}", c.facility))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.by_id(id).await?.ok_or(ComplaintError::NotFound)
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
