//! Citizens' complaints at the station (issue 16): the complaints routed to this facility, pulled
//! at each sync and kept encrypted with the replica; the inbox by deadline; opening one (audited,
//! its photos fetched from the server the first time); finding and linking the person; and the
//! answer or forward, written here first and sent at the next sync (at once when online), so a
//! mobile team can answer with no network and nothing is lost. What crosses to the server is in
//! `sync.rs`.

use crate::audit::FieldChange;
use crate::error::{Result, StationError};
use crate::service::{PersonSummary, SearchQuery, Station};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sync_protocol::complaints::{ComplaintKind, ComplaintRecord, ComplaintStatus, check_reply};
use sync_protocol::person::format_time;
use uuid::Uuid;

/// Which complaints the inbox lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ComplaintFilter {
    /// Those this facility still has to answer (including answers not yet sent).
    Open,
    /// Every complaint the station holds, open ones first.
    All,
}

/// Where a complaint stands for this station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ComplaintState {
    /// Waiting for this facility's answer.
    Open,
    /// Answered or forwarded here; sent at the next sync.
    WaitingToSend,
    /// The server refused the answer or forward sent: it is open again, with the reason.
    Refused,
    Resolved,
    Rejected,
    /// Sent on to another facility (by this one).
    ForwardedAway,
}

/// An answer or a forward written at this station and not yet taken by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingReply {
    Answer {
        status: ComplaintStatus,
        text: String,
    },
    Forward {
        to: String,
        reason: String,
    },
}

/// One line of the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ComplaintSummary {
    pub id: String,
    pub code: String,
    pub full_name: String,
    pub kind: ComplaintKind,
    pub kind_label: String,
    pub received_at: String,
    /// The last day to answer, `yyyy-mm-dd`.
    pub deadline: String,
    pub state: ComplaintState,
    /// What the state is, in Vietnamese.
    pub state_label: String,
    /// Still to answer and the deadline has passed.
    pub overdue: bool,
    /// Working or not, days until the deadline (negative when overdue).
    pub days_left: i64,
    pub linked: bool,
}

/// A complaint opened at the station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ComplaintView {
    pub summary: ComplaintSummary,
    pub record: ComplaintRecord,
    /// The vaccine the citizen named, as the catalogue calls it.
    pub vaccine_name: Option<String>,
    /// The person it is linked to here, with their name as recorded.
    pub linked_person: Option<String>,
    pub linked_name: Option<String>,
    pub pending: Option<PendingReply>,
    /// Why the server refused the last answer or forward sent.
    pub reply_error: Option<String>,
}

/// How many complaints wait for this facility's answer, and how many of those are overdue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ComplaintCounts {
    pub to_answer: u32,
    pub overdue: u32,
}

/// What sending the station's answers and forwards did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepliesSent {
    pub sent: u64,
    pub refused: u64,
}

/// A complaint's row as kept.
struct Kept {
    record: ComplaintRecord,
    linked_person: Option<String>,
    reply: Option<PendingReply>,
    reply_by: Option<String>,
    reply_at: Option<String>,
    reply_error: Option<String>,
}

fn refused(code: &'static str, message: impl Into<String>) -> StationError {
    StationError::Complaint {
        code,
        message: message.into(),
    }
}

fn kept_of(row: &sqlx::sqlite::SqliteRow) -> Result<Kept> {
    let json: String = row.get("record");
    let record: ComplaintRecord = serde_json::from_str(&json).map_err(|e| {
        refused(
            "complaint_unreadable",
            format!("phản ánh lưu trên máy không đọc được: {e}"),
        )
    })?;
    Ok(Kept {
        record,
        linked_person: row.get("linked_person"),
        reply: row
            .get::<Option<String>, _>("reply")
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| {
                refused(
                    "complaint_unreadable",
                    format!("câu trả lời lưu trên máy không đọc được: {e}"),
                )
            })?,
        reply_by: row.get("reply_by"),
        reply_at: row.get("reply_at"),
        reply_error: row.get("reply_error"),
    })
}

/// Where `k` stands for a station of `family` on `today` (Vietnam time), as the inbox says it.
fn summary_of(k: &Kept, family: &[String], today: time::Date) -> ComplaintSummary {
    let r = &k.record;
    let state = match (r.status, &k.reply, &k.reply_error) {
        (ComplaintStatus::Resolved, _, _) => ComplaintState::Resolved,
        (ComplaintStatus::Rejected, _, _) => ComplaintState::Rejected,
        (ComplaintStatus::Open, _, _) if !family.contains(&r.facility) => {
            ComplaintState::ForwardedAway
        }
        (ComplaintStatus::Open, Some(_), _) => ComplaintState::WaitingToSend,
        (ComplaintStatus::Open, None, Some(_)) => ComplaintState::Refused,
        (ComplaintStatus::Open, None, None) => ComplaintState::Open,
    };
    let deadline = time::Date::parse(
        &r.deadline,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap_or(today);
    let days_left = (deadline - today).whole_days();
    let to_answer = matches!(state, ComplaintState::Open | ComplaintState::Refused);
    let state_label = match state {
        ComplaintState::Open if days_left < 0 => format!("Quá hạn {} ngày", -days_left),
        ComplaintState::Open if days_left == 0 => "Hạn trả lời hôm nay".into(),
        ComplaintState::Open => format!("Còn {days_left} ngày"),
        ComplaintState::WaitingToSend => format!(
            "{} đã trả lời, chờ gửi lên máy chủ (khi người trả lời đăng nhập trực tuyến và đồng bộ)",
            k.reply_by.as_deref().unwrap_or("")
        ),
        ComplaintState::Refused => "Máy chủ không nhận câu trả lời: xem lý do".into(),
        ComplaintState::Resolved => "Đã giải quyết".into(),
        ComplaintState::Rejected => "Không chấp nhận".into(),
        ComplaintState::ForwardedAway => format!("Đã chuyển cho {}", r.facility),
    };
    ComplaintSummary {
        id: r.id.clone(),
        code: r.code.clone(),
        full_name: r.full_name.clone(),
        kind: r.kind,
        kind_label: r.kind.label().to_string(),
        received_at: r.received_at.clone(),
        deadline: r.deadline.clone(),
        state,
        state_label,
        overdue: to_answer && days_left < 0,
        days_left,
        linked: k.linked_person.is_some() || r.person_id.is_some(),
    }
}

/// The kept columns of `complaints`, for static SQL.
macro_rules! kept {
    ($($rest:literal)?) => {
        concat!(
            "SELECT record, linked_person, reply, reply_by, reply_at, reply_error FROM complaints"
            $(, " ", $rest)?
        )
    };
}

mod sync;

impl Station {
    /// The facilities whose complaints this station answers: its own, its parent (a mobile
    /// team works in its parent's scope) and the parent's mobile teams it knows.
    async fn complaint_family(&self) -> Result<Vec<String>> {
        let facility = self.facility();
        let mut family: Vec<String> = sqlx::query_scalar(
            "SELECT code FROM facilities WHERE kind = 'mobile_team' AND parent = ?",
        )
        .bind(facility.parent.as_deref().unwrap_or(&facility.code))
        .fetch_all(self.store().pool())
        .await?;
        family.push(facility.code.clone());
        family.extend(facility.parent);
        Ok(family)
    }

    fn vietnam_today(&self) -> time::Date {
        self.clock()
            .now()
            .to_offset(sync_protocol::clock::VIETNAM)
            .date()
    }

    /// A kept complaint by its id or its tracking code (as typed).
    async fn kept(&self, id: &str) -> Result<Kept> {
        let code = sync_protocol::complaints::normalize_tracking_code(id);
        let row = sqlx::query(kept!("WHERE id = ? OR code = ?"))
            .bind(id.trim())
            .bind(code)
            .fetch_optional(self.store().pool())
            .await?
            .ok_or_else(|| StationError::NotFound {
                what: "phản ánh",
                id: id.to_string(),
            })?;
        kept_of(&row)
    }

    /// The inbox: complaints to answer first, by deadline (the most overdue on top).
    pub async fn complaints(&self, filter: ComplaintFilter) -> Result<Vec<ComplaintSummary>> {
        self.reader()?;
        let family = self.complaint_family().await?;
        let today = self.vietnam_today();
        let rows = sqlx::query(kept!("ORDER BY status <> 'open', deadline, code"))
            .fetch_all(self.store().pool())
            .await?;
        let mut out = Vec::new();
        for row in &rows {
            let s = summary_of(&kept_of(row)?, &family, today);
            let listed = match filter {
                ComplaintFilter::All => true,
                ComplaintFilter::Open => matches!(
                    s.state,
                    ComplaintState::Open | ComplaintState::Refused | ComplaintState::WaitingToSend
                ),
            };
            if listed {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// The complaints still to answer here and the overdue ones (the header's count).
    pub async fn complaint_counts(&self) -> Result<ComplaintCounts> {
        self.reader()?;
        let family = self.complaint_family().await?;
        let today = self.vietnam_today();
        let rows = sqlx::query(kept!("WHERE status = 'open'"))
            .fetch_all(self.store().pool())
            .await?;
        let mut counts = ComplaintCounts::default();
        for row in &rows {
            // The inbox's own reading of each complaint: one rule for the list and the count.
            let s = summary_of(&kept_of(row)?, &family, today);
            if matches!(s.state, ComplaintState::Open | ComplaintState::Refused) {
                counts.to_answer += 1;
                counts.overdue += u32::from(s.overdue);
            }
        }
        Ok(counts)
    }

    /// Opens a complaint: everything the citizen wrote, the link and the answer. Audited (the
    /// citizen's personal data was read).
    pub async fn complaint(&self, id: &str) -> Result<ComplaintView> {
        let session = self.reader()?;
        let k = self.kept(id).await?;
        let view = self.view_of(k).await?;
        self.audit_action(
            session.username(),
            "complaint_view",
            format!("complaint/{}", view.record.code),
            Vec::new(),
        )
        .await?;
        Ok(view)
    }

    async fn view_of(&self, k: Kept) -> Result<ComplaintView> {
        let family = self.complaint_family().await?;
        let summary = summary_of(&k, &family, self.vietnam_today());
        let linked = k.linked_person.clone().or(k.record.person_id.clone());
        let linked_name = match &linked {
            Some(p) => {
                sqlx::query_scalar::<_, String>("SELECT full_name FROM persons WHERE id = ?")
                    .bind(p)
                    .fetch_optional(self.store().pool())
                    .await?
            }
            None => None,
        };
        let vaccine_name = k.record.vaccine.as_deref().map(|code| {
            self.catalogue()
                .find(code)
                .map_or_else(|| code.to_string(), |v| v.name.clone())
        });
        Ok(ComplaintView {
            summary,
            vaccine_name,
            linked_person: linked,
            linked_name,
            pending: k.reply,
            reply_error: k.reply_error,
            record: k.record,
        })
    }

    /// The people the complaint may be about, found with the usual rules: its name with its
    /// phone, or with its ID number.
    pub async fn complaint_matches(&self, id: &str) -> Result<Vec<PersonSummary>> {
        self.reader()?;
        let r = self.kept(id).await?.record;
        self.find(&SearchQuery {
            full_name: r.full_name.clone(),
            phone: Some(r.phone.clone()),
            id_number: r.id_number.clone(),
        })
        .await
    }

    /// Links the complaint to the person it is about (`None` undoes the link). Audited.
    pub async fn link_complaint(&self, id: &str, person: Option<Uuid>) -> Result<ComplaintView> {
        let session = self.reader()?;
        let k = self.kept(id).await?;
        self.still_to_answer(&k).await?;
        let name = match person {
            Some(p) => Some(self.show(p).await?.person.full_name),
            None => None,
        };
        let mut tx = self.store().begin_write().await?;
        sqlx::query("UPDATE complaints SET linked_person = ? WHERE id = ?")
            .bind(person.map(|p| p.to_string()))
            .bind(&k.record.id)
            .execute(&mut *tx)
            .await?;
        let entry = self.audit_entry(
            session.username(),
            "complaint_link",
            format!("complaint/{}", k.record.code),
            vec![FieldChange {
                field: "person".into(),
                before: k.linked_person.clone(),
                after: person.map(|p| format!("{p} {}", name.unwrap_or_default())),
            }],
        );
        crate::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        self.view_of(self.kept(&k.record.id).await?).await
    }

    /// Refuses a complaint that is not this facility's to answer now.
    async fn still_to_answer(&self, k: &Kept) -> Result<()> {
        let family = self.complaint_family().await?;
        match summary_of(k, &family, self.vietnam_today()).state {
            ComplaintState::Open | ComplaintState::Refused => Ok(()),
            ComplaintState::WaitingToSend => Err(refused(
                "complaint_reply_pending",
                "phản ánh này đã được trả lời trên máy, đang chờ gửi lên máy chủ",
            )),
            ComplaintState::ForwardedAway => Err(refused(
                "complaint_forwarded",
                format!("phản ánh này đã chuyển cho {}", k.record.facility),
            )),
            ComplaintState::Resolved | ComplaintState::Rejected => Err(refused(
                "complaint_answered",
                "phản ánh này đã được trả lời; không trả lời lại",
            )),
        }
    }

    /// Keeps an answer: resolved (say what was corrected; the person must be linked unless the
    /// complaint is of kind "other") or rejected (say why). Audited. Sending it is the sync's
    /// (`Station::answer_complaint`).
    pub(crate) async fn keep_answer(
        &self,
        id: &str,
        status: ComplaintStatus,
        text: &str,
    ) -> Result<()> {
        if status == ComplaintStatus::Open {
            return Err(refused(
                "complaint_reply_invalid",
                "chọn kết quả: đã giải quyết hoặc không chấp nhận",
            ));
        }
        let text = check_reply("answer", text).map_err(|p| {
            refused(
                "complaint_reply_invalid",
                format!("câu trả lời {}", p.message),
            )
        })?;
        let k = self.kept(id).await?;
        let linked = k.linked_person.is_some() || k.record.person_id.is_some();
        sync_protocol::complaints::check_resolution(status, k.record.kind, linked)
            .map_err(|p| refused("complaint_needs_person", p.message))?;
        self.keep_reply(k, PendingReply::Answer { status, text })
            .await
    }

    /// Keeps a forward to the facility the complaint belongs to, with the reason (the server
    /// checks that the facility exists). Audited.
    pub(crate) async fn keep_forward(&self, id: &str, to: &str, reason: &str) -> Result<()> {
        let to = to.trim().to_uppercase();
        let valid_code = !to.is_empty()
            && to.len() <= 40
            && to
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_code {
            return Err(refused(
                "complaint_reply_invalid",
                "mã cơ sở nhận không hợp lệ (ví dụ TYT-TANTUC)",
            ));
        }
        if self.complaint_family().await?.contains(&to) {
            return Err(refused(
                "complaint_reply_invalid",
                "chọn một cơ sở khác cơ sở của mình",
            ));
        }
        let reason = check_reply("reason", reason).map_err(|p| {
            refused(
                "complaint_reply_invalid",
                format!("lý do chuyển {}", p.message),
            )
        })?;
        let k = self.kept(id).await?;
        self.keep_reply(k, PendingReply::Forward { to, reason })
            .await
    }

    /// Keeps the reply with its audit entry, to be sent by its author.
    async fn keep_reply(&self, k: Kept, reply: PendingReply) -> Result<()> {
        let session = self.reader()?;
        self.still_to_answer(&k).await?;
        let (action, detail) = match &reply {
            PendingReply::Answer { status, text } => {
                ("complaint_answer", format!("{}: {text}", status.as_str()))
            }
            PendingReply::Forward { to, reason } => {
                ("complaint_forward", format!("{to}: {reason}"))
            }
        };
        let json = serde_json::to_string(&reply)
            .map_err(|e| refused("complaint_unreadable", e.to_string()))?;
        let mut tx = self.store().begin_write().await?;
        sqlx::query(
            "UPDATE complaints SET reply = ?, reply_by = ?, reply_at = ?, reply_error = NULL
             WHERE id = ?",
        )
        .bind(&json)
        .bind(session.username())
        .bind(format_time(self.clock().now()))
        .bind(&k.record.id)
        .execute(&mut *tx)
        .await?;
        let entry = self.audit_entry(
            session.username(),
            action,
            format!("complaint/{}", k.record.code),
            vec![FieldChange {
                field: "reply".into(),
                before: None,
                after: Some(detail),
            }],
        );
        crate::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A complaint as it stands, for the screen that has it open (opening it was audited).
    pub(crate) async fn complaint_as_shown(&self, id: &str) -> Result<ComplaintView> {
        self.reader()?;
        self.view_of(self.kept(id).await?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn kept(status: ComplaintStatus, facility: &str, deadline: &str) -> Kept {
        Kept {
            record: ComplaintRecord {
                id: "01a23b55-123c-7111-8126-6b39e57dc7e1".into(),
                code: "PA-7C2D-9YAP".into(),
                facility: facility.into(),
                full_name: "Trần Thị Hường".into(),
                birth_date: "1984-04-02".into(),
                phone: "0837160353".into(),
                id_number: None,
                kind: ComplaintKind::MissingDose,
                vaccine: None,
                vaccinated_on: None,
                place: None,
                description: "Thiếu mũi 2".into(),
                photos: 0,
                received_at: "2026-12-03T09:00:00+07:00".into(),
                deadline: deadline.into(),
                status,
                answer: None,
                answered_at: None,
                answered_by: None,
                person_id: None,
                forwarded_from: None,
                forward_reason: None,
                version: 1,
            },
            linked_person: None,
            reply: None,
            reply_by: None,
            reply_at: None,
            reply_error: None,
        }
    }

    fn family() -> Vec<String> {
        vec!["TYT-TANNHUT".into(), "TYT-TANNHUT-LD".into()]
    }

    #[test]
    fn an_open_complaint_past_its_deadline_is_overdue_and_says_by_how_much() {
        let k = kept(ComplaintStatus::Open, "TYT-TANNHUT", "2026-12-07");
        let on_time = summary_of(&k, &family(), date!(2026 - 12 - 07));
        assert_eq!((on_time.overdue, on_time.days_left), (false, 0));
        assert_eq!(on_time.state_label, "Hạn trả lời hôm nay");
        let late = summary_of(&k, &family(), date!(2026 - 12 - 09));
        assert_eq!((late.overdue, late.days_left), (true, -2));
        assert_eq!(late.state_label, "Quá hạn 2 ngày");
    }

    #[test]
    fn an_answer_waiting_to_be_sent_or_a_forward_away_is_not_overdue() {
        let mut k = kept(ComplaintStatus::Open, "TYT-TANNHUT", "2026-12-01");
        k.reply = Some(PendingReply::Answer {
            status: ComplaintStatus::Resolved,
            text: "Đã bổ sung".into(),
        });
        let waiting = summary_of(&k, &family(), date!(2026 - 12 - 09));
        assert_eq!(waiting.state, ComplaintState::WaitingToSend);
        assert!(!waiting.overdue);
        let away = kept(ComplaintStatus::Open, "TYT-TANTUC", "2026-12-01");
        let away = summary_of(&away, &family(), date!(2026 - 12 - 09));
        assert_eq!(away.state, ComplaintState::ForwardedAway);
        assert!(!away.overdue);
    }

    #[test]
    fn a_refused_answer_is_to_answer_again_and_counts_as_overdue() {
        let mut k = kept(ComplaintStatus::Open, "TYT-TANNHUT-LD", "2026-12-01");
        k.reply_error = Some("phản ánh đã được trả lời".into());
        let s = summary_of(&k, &family(), date!(2026 - 12 - 02));
        assert_eq!(s.state, ComplaintState::Refused);
        assert!(s.overdue);
        let answered = summary_of(
            &kept(ComplaintStatus::Rejected, "TYT-TANNHUT", "2026-12-01"),
            &family(),
            date!(2026 - 12 - 09),
        );
        assert_eq!(answered.state, ComplaintState::Rejected);
        assert!(!answered.overdue);
    }
}
