//! The facility's side: the inbox its stations pull, a complaint's photos, and the answer or
//! the forwarding to another facility.

use super::{ComplaintError, ComplaintStore, INSERT_EVENT, NEXT_VERSION};
use crate::db::in_list;
use crate::with_db;
use sqlx::Row;
use sync_protocol::complaints::{ComplaintKind, ComplaintRecord, ComplaintStatus};
use sync_protocol::person::format_time;
use time::OffsetDateTime;

impl ComplaintStore {
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
}
