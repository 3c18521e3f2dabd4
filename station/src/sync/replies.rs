//! Answers and forwards of complaints sent as soon as they are written, when the server answers:
//! after the corrections still waiting in the outbox (a whole sync then), so the citizen never
//! reads "resolved" before the corrected record is on the server.

use crate::complaints::ComplaintView;
use crate::error::Result;
use crate::service::Station;
use crate::sync::SyncClient;
use sync_protocol::complaints::ComplaintStatus;

impl Station {
    /// Answers a complaint: resolved (what was corrected; the person linked) or rejected (why).
    /// Kept here and audited, sent at once through `client` when its author is signed in online
    /// and the server answers, else with the author's next sync.
    pub async fn answer_complaint(
        &self,
        client: Option<&SyncClient>,
        id: &str,
        status: ComplaintStatus,
        text: &str,
    ) -> Result<ComplaintView> {
        self.keep_answer(id, status, text).await?;
        self.send_replies_now(client).await?;
        self.complaint_as_shown(id).await
    }

    /// Forwards a complaint to another facility with the reason; kept and sent like an answer.
    pub async fn forward_complaint(
        &self,
        client: Option<&SyncClient>,
        id: &str,
        to: &str,
        reason: &str,
    ) -> Result<ComplaintView> {
        self.keep_forward(id, to, reason).await?;
        self.send_replies_now(client).await?;
        self.complaint_as_shown(id).await
    }

    /// Sends the signed-in user's replies if they are online; a failure leaves them for the
    /// next sync (logged, not an error: the reply is safely kept).
    async fn send_replies_now(&self, client: Option<&SyncClient>) -> Result<()> {
        let session = self.reader()?;
        let (Some(client), Some(token)) = (client, session.server_token()) else {
            return Ok(());
        };
        let sent = if self.pending_changes().await? > 0 {
            self.sync(client).await.map(|_| ())
        } else {
            client.set_session(Some(token.to_string()));
            self.send_complaint_replies(client).await.map(|_| ())
        };
        if let Err(e) = sent {
            tracing::info!("complaint reply kept for the next sync: {e}");
        }
        Ok(())
    }
}
