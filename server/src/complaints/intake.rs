//! The citizen's side of a complaint: filing it from the public page, and looking it up with
//! its code and phone.

use super::{ComplaintError, ComplaintStore, Filed, INSERT_EVENT, NEXT_VERSION, PublicStatus};
use crate::with_db;
use sqlx::Row;
use sync_protocol::complaints::{
    CheckedComplaint, ComplaintKind, ComplaintRecord, ComplaintStatus, tracking_code,
};
use sync_protocol::person::format_time;
use time::OffsetDateTime;

impl ComplaintStore {
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
}
