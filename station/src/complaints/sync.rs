//! What crosses to the server: the photos, fetched once; the answers and forwards written here;
//! the pull of what changed since the last sync.

use super::{PendingReply, RepliesSent, kept_of, refused};
use crate::error::{Result, StationError};
use crate::remote::{SyncClient, SyncError, SyncResult};
use crate::service::Station;
use crate::store::MetaKey;
use sync_protocol::complaints::{
    ComplaintAnswer, ComplaintForward, ComplaintPage, ComplaintRecord, FacilityChoice,
};
use sync_protocol::endpoints;
use uuid::Uuid;

/// The server's refusals of an answer or forward itself (answered meanwhile elsewhere, no longer
/// this facility's, a facility that does not exist): the nurse must do otherwise.
const REFUSALS: [&str; 4] = [
    "already_answered",
    "other_facility",
    "invalid",
    "no_such_complaint",
];

impl Station {
    /// Photo `n` of a complaint (JPEG): kept on the station after the first time, fetched from
    /// the server then (which records who looked).
    pub async fn complaint_photo(
        &self,
        client: Option<&SyncClient>,
        id: &str,
        n: u32,
    ) -> Result<Vec<u8>> {
        self.reader()?;
        let k = self.kept(id).await?;
        if n >= k.record.photos {
            return Err(StationError::NotFound {
                what: "ảnh của phản ánh",
                id: format!("{}/{n}", k.record.code),
            });
        }
        let kept: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT jpeg FROM complaint_photos WHERE complaint_id = ? AND n = ?",
        )
        .bind(&k.record.id)
        .bind(i64::from(n))
        .fetch_optional(self.store().pool())
        .await?;
        if let Some(jpeg) = kept {
            return Ok(jpeg);
        }
        let offline = || {
            refused(
                "complaint_photo_offline",
                "ảnh phiếu tiêm chưa tải về máy: cần kết nối máy chủ để xem lần đầu",
            )
        };
        let client = client.ok_or_else(offline)?;
        let token = self.reader()?.server_token().map(str::to_string);
        client.set_session(Some(token.ok_or_else(offline)?));
        let path = endpoints::COMPLAINT_PHOTO
            .replace("{id}", &k.record.id)
            .replace("{n}", &n.to_string());
        let jpeg = match client.get_bytes(&path).await {
            Ok(j) => j,
            Err(SyncError::Network(_)) => return Err(offline()),
            Err(e) => {
                return Err(refused(
                    "complaint_photo_refused",
                    format!("máy chủ không gửi ảnh: {e}"),
                ));
            }
        };
        if !jpeg.starts_with(&[0xFF, 0xD8]) {
            return Err(refused(
                "complaint_photo_refused",
                "máy chủ gửi về dữ liệu không phải ảnh JPEG",
            ));
        }
        sqlx::query(
            "INSERT OR REPLACE INTO complaint_photos (complaint_id, n, jpeg) VALUES (?, ?, ?)",
        )
        .bind(&k.record.id)
        .bind(i64::from(n))
        .bind(&jpeg)
        .execute(self.store().pool())
        .await?;
        Ok(jpeg)
    }

    /// Where a complaint can be forwarded: fetched from the server when it answers (and kept),
    /// else the list kept from the last time; empty when there never was one (the facility's
    /// code is then typed).
    pub async fn complaint_destinations(
        &self,
        client: Option<&SyncClient>,
    ) -> Result<Vec<FacilityChoice>> {
        let session = self.reader()?;
        if let (Some(client), Some(token)) = (client, session.server_token()) {
            client.set_session(Some(token.to_string()));
            match client
                .get_json::<Vec<FacilityChoice>>(endpoints::COMPLAINT_DESTINATIONS, &[])
                .await
            {
                Ok(list) => {
                    let json = serde_json::to_string(&list)
                        .map_err(|e| refused("complaint_unreadable", e.to_string()))?;
                    self.set_meta(MetaKey::ComplaintDestinations, Some(&json))
                        .await?;
                    return Ok(list);
                }
                Err(e) => tracing::info!("forwarding list from the last time: {e}"),
            }
        }
        Ok(self
            .meta_value(MetaKey::ComplaintDestinations)
            .await?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }

    /// Sends the answers and forwards the signed-in user wrote here (another user's wait until
    /// they sign in online: the server records who answered). One the server refuses (answered
    /// meanwhile at another station, a facility that does not exist) is opened again here with
    /// the reason; a failure of the network, the session or the account keeps them all for the
    /// next try.
    pub async fn send_complaint_replies(&self, client: &SyncClient) -> SyncResult<RepliesSent> {
        let session = self.reader()?;
        // The background sync and a nurse's answer never post the same reply twice at once.
        let _one_sender = self.complaint_sender.lock().await;
        let rows = sqlx::query(kept!(
            "WHERE reply IS NOT NULL AND reply_by = ? ORDER BY reply_at"
        ))
        .bind(session.username())
        .fetch_all(self.store().pool())
        .await
        .map_err(StationError::from)?;
        let mut done = RepliesSent::default();
        for row in &rows {
            let k = kept_of(row)?;
            let (Some(reply), Some(at)) = (&k.reply, &k.reply_at) else {
                continue;
            };
            let id = &k.record.id;
            let answered = match reply {
                PendingReply::Answer { status, text } => {
                    let body = ComplaintAnswer {
                        status: *status,
                        answer: text.clone(),
                        person_id: k.linked_person.clone(),
                    };
                    client
                        .json::<_, ComplaintRecord>(
                            &endpoints::COMPLAINT_ANSWER.replace("{id}", id),
                            &body,
                        )
                        .await
                }
                PendingReply::Forward { to, reason } => {
                    let body = ComplaintForward {
                        to: to.clone(),
                        reason: reason.clone(),
                    };
                    client
                        .json::<_, ComplaintRecord>(
                            &endpoints::COMPLAINT_FORWARD.replace("{id}", id),
                            &body,
                        )
                        .await
                }
            };
            match answered {
                Ok(record) => {
                    self.store_complaints(std::slice::from_ref(&record), None, Some(at))
                        .await?;
                    done.sent += 1;
                }
                // Only a refusal of this answer opens the complaint again; anything else
                // (the network, the session, the account) keeps it for the next try.
                Err(e) if !REFUSALS.contains(&e.code()) => return Err(e),
                Err(e) => {
                    let message = match &e {
                        SyncError::Server { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    // Only the reply that was sent: one written since stays to be sent.
                    sqlx::query(
                        "UPDATE complaints SET refused_reply = reply, reply = NULL, reply_error = ?
                         WHERE id = ? AND reply_at = ?",
                    )
                    .bind(&message)
                    .bind(id)
                    .bind(at)
                    .execute(self.store().pool())
                    .await
                    .map_err(StationError::from)?;
                    done.refused += 1;
                }
            }
        }
        Ok(done)
    }

    /// Sends what the signed-in user answered here, then pulls the complaints changed since the
    /// last sync.
    pub(crate) async fn sync_complaints(
        &self,
        client: &SyncClient,
    ) -> SyncResult<(u64, RepliesSent)> {
        let sent = self.send_complaint_replies(client).await?;
        let mut since: i64 = self
            .meta_value(MetaKey::ComplaintCursor)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut pulled = 0;
        loop {
            self.sync_control.check()?;
            let page: ComplaintPage = client
                .get_json(
                    endpoints::COMPLAINTS_CHANGED,
                    &[("since", since.to_string())],
                )
                .await?;
            let Some(last) = page.complaints.iter().map(|c| c.version).max() else {
                return Ok((pulled, sent));
            };
            pulled += page.complaints.len() as u64;
            self.store_complaints(&page.complaints, Some(last), None)
                .await?;
            since = last;
            if !page.more {
                return Ok((pulled, sent));
            }
        }
    }

    /// Keeps the server's version of `records` (a newer one only) and, with them, the pull's
    /// cursor. `replied_at`: they answer the reply written then, which is done. A record that
    /// shows a refused reply was in fact taken (its answer lost on the way) clears the refusal;
    /// one forwarded away leaves its photos behind.
    async fn store_complaints(
        &self,
        records: &[ComplaintRecord],
        cursor: Option<i64>,
        replied_at: Option<&str>,
    ) -> Result<()> {
        let family = self.complaint_family().await?;
        let mut tx = self.store().begin_write().await?;
        for r in records {
            // The id and code name files and URLs here: only the server's own forms pass.
            let well_formed = Uuid::parse_str(&r.id).is_ok()
                && sync_protocol::complaints::normalize_tracking_code(&r.code).as_deref()
                    == Some(r.code.as_str());
            if !well_formed {
                tracing::warn!("complaint with a malformed id or code skipped");
                continue;
            }
            let json = serde_json::to_string(r)
                .map_err(|e| refused("complaint_unreadable", e.to_string()))?;
            sqlx::query(
                "INSERT INTO complaints (id, code, facility, deadline, status, version, record)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET code = excluded.code, facility = excluded.facility,
                   deadline = excluded.deadline, status = excluded.status,
                   version = excluded.version, record = excluded.record
                 WHERE excluded.version > complaints.version",
            )
            .bind(&r.id)
            .bind(&r.code)
            .bind(&r.facility)
            .bind(&r.deadline)
            .bind(r.status.as_str())
            .bind(r.version)
            .bind(&json)
            .execute(&mut *tx)
            .await?;
            if let Some(at) = replied_at {
                sqlx::query(
                    "UPDATE complaints SET reply = NULL, reply_error = NULL, refused_reply = NULL
                     WHERE id = ? AND reply_at = ?",
                )
                .bind(&r.id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            let refused_reply: Option<String> =
                sqlx::query_scalar("SELECT refused_reply FROM complaints WHERE id = ?")
                    .bind(&r.id)
                    .fetch_one(&mut *tx)
                    .await?;
            let taken = refused_reply
                .and_then(|j| serde_json::from_str::<PendingReply>(&j).ok())
                .is_some_and(|reply| reply_shows_in(&reply, r));
            if taken {
                sqlx::query(
                    "UPDATE complaints SET reply_error = NULL, refused_reply = NULL WHERE id = ?",
                )
                .bind(&r.id)
                .execute(&mut *tx)
                .await?;
            }
            if !family.contains(&r.facility) {
                sqlx::query("DELETE FROM complaint_photos WHERE complaint_id = ?")
                    .bind(&r.id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(cursor) = cursor {
            crate::store::write_meta(
                &mut tx,
                &[(MetaKey::ComplaintCursor, Some(cursor.to_string()))],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Whether the server's record is what `reply` made of it (the same answer, or forwarded where
/// and why it said).
fn reply_shows_in(reply: &PendingReply, r: &ComplaintRecord) -> bool {
    match reply {
        PendingReply::Answer { status, text } => {
            r.status == *status && r.answer.as_deref() == Some(text.as_str())
        }
        PendingReply::Forward { to, reason } => {
            r.facility == *to && r.forward_reason.as_deref() == Some(reason.as_str())
        }
    }
}
