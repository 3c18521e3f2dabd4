//! Reminders of a session day to the families' phones. A [`ReminderSender`] either writes them
//! as a CSV file for an SMS provider ([`CsvReminders`]) or posts them to the province's SMS
//! gateway ([`SmsGateway`]). What a sender reports is what happened on its side — written,
//! accepted by the gateway, refused with the reason — never that a message was delivered, which
//! nothing here can know.

use super::DueEntry;
use super::sessions::{SessionDay, by_person};
use crate::error::{Result, StationError};
use crate::service::Station;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use sync_protocol::text;

/// One SMS-length reminder: to whom, what it says, for which record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Reminder {
    pub person_id: String,
    pub phone: String,
    /// Without diacritics (one SMS of the GSM alphabet), at most 160 characters.
    pub text: String,
}

/// What became of one reminder on the sender's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ReminderOutcome {
    /// Written into the provider's file (nothing sent yet).
    Written,
    /// The gateway took it, with its reference when it gave one (not a delivery report).
    Accepted { gateway_id: Option<String> },
    /// The gateway refused it, or could not be reached.
    Refused { reason: String },
}

/// The reminders of a session and what became of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReminderReport {
    pub sent: Vec<(Reminder, ReminderOutcome)>,
    /// Invited people with no phone (neither the caregiver's nor their own): a slip only.
    pub without_phone: Vec<String>,
}

/// Sends reminders somewhere; says per reminder what became of it.
pub trait ReminderSender {
    /// Sends `reminders`, one outcome for each, in order.
    fn send(
        &self,
        reminders: &[Reminder],
    ) -> impl std::future::Future<Output = Result<Vec<ReminderOutcome>>> + Send;
}

/// Writes reminders as a provider-ready CSV file (`phone,message,reference`, UTF-8).
pub struct CsvReminders {
    path: PathBuf,
}

impl CsvReminders {
    /// A writer of the file at `path` (replaced whole once written).
    pub fn new(path: &Path) -> CsvReminders {
        CsvReminders {
            path: path.to_path_buf(),
        }
    }
}

impl ReminderSender for CsvReminders {
    async fn send(&self, reminders: &[Reminder]) -> Result<Vec<ReminderOutcome>> {
        let csv_error = |e: csv::Error| StationError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e.to_string()),
        };
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer
            .write_record(["phone", "message", "reference"])
            .map_err(csv_error)?;
        for r in reminders {
            writer
                .write_record([&r.phone, &r.text, &r.person_id])
                .map_err(csv_error)?;
        }
        let bytes = writer.into_inner().map_err(|e| StationError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        crate::files::replace(&self.path, &bytes)?;
        Ok(vec![ReminderOutcome::Written; reminders.len()])
    }
}

/// Posts reminders to an SMS gateway: `POST URL` with `{"to", "text", "reference"}` for each;
/// a 2xx answer is "accepted" (its `id`, if any, kept), anything else a refusal with the reason.
pub struct SmsGateway {
    url: String,
    http: reqwest::Client,
}

impl SmsGateway {
    /// A client of the gateway at `url` (https, or http on this machine, as for the server).
    pub fn new(url: &str) -> crate::remote::SyncResult<SmsGateway> {
        crate::remote::check_server_address(url)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = crate::remote::http_client(Duration::from_secs(30))
            .build()
            .map_err(|e| crate::remote::SyncError::Network(e.to_string()))?;
        Ok(SmsGateway {
            url: url.trim().to_string(),
            http,
        })
    }

    async fn post(&self, r: &Reminder) -> ReminderOutcome {
        let body = serde_json::json!({ "to": r.phone, "text": r.text, "reference": r.person_id });
        let request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return ReminderOutcome::Refused {
                    reason: format!("không kết nối được cổng SMS: {e}"),
                };
            }
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            let gateway_id = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("id")
                        .map(|id| id.to_string().trim_matches('"').to_string())
                });
            ReminderOutcome::Accepted { gateway_id }
        } else {
            ReminderOutcome::Refused {
                reason: format!(
                    "cổng SMS trả lời {status}: {}",
                    text.chars().take(200).collect::<String>()
                ),
            }
        }
    }
}

impl ReminderSender for SmsGateway {
    async fn send(&self, reminders: &[Reminder]) -> Result<Vec<ReminderOutcome>> {
        let mut out = Vec::with_capacity(reminders.len());
        for r in reminders {
            out.push(self.post(r).await);
        }
        Ok(out)
    }
}

/// One SMS: without diacritics, the doses left out when they would not fit in 160 characters.
fn reminder_text(facility: &str, session: &SessionDay, doses: &[DueEntry], place: &str) -> String {
    let first = &doses[0];
    let day = crate::pdf::vn_date(&session.day);
    let antigens = doses
        .iter()
        .map(|e| e.antigen.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let long = format!(
        "{facility} moi chau {} di tiem chung ngay {day} tai {place}: {antigens}. Mang theo so tiem chung.",
        first.full_name
    );
    let short = format!(
        "{facility} moi chau {} di tiem chung ngay {day} tai {place}. Mang theo so tiem chung.",
        first.full_name
    );
    let long = text::strip_marks(&long);
    if long.chars().count() <= 160 {
        long
    } else {
        text::strip_marks(&short).chars().take(160).collect()
    }
}

impl Station {
    /// The reminders of a session day: one for each person invited who has a phone (the
    /// caregiver's, else their own), and the names of those without one.
    pub async fn session_reminders(&self, id: &str) -> Result<(Vec<Reminder>, Vec<String>)> {
        let session = self.session_day(id).await?;
        let facility = self.facility().name;
        let place = session.place.clone().unwrap_or_else(|| facility.clone());
        let mut reminders = Vec::new();
        let mut without_phone = Vec::new();
        for doses in by_person(self.invitees_of(&session).await?) {
            let first = &doses[0];
            match &first.phone {
                Some(phone) => reminders.push(Reminder {
                    person_id: first.person_id.clone(),
                    phone: phone.clone(),
                    text: reminder_text(&facility, &session, &doses, &place),
                }),
                None => without_phone.push(first.full_name.clone()),
            }
        }
        Ok((reminders, without_phone))
    }

    /// Sends the reminders of a session day through `sender` and reports what became of each.
    pub async fn remind_session<S: ReminderSender>(
        &self,
        id: &str,
        sender: &S,
    ) -> Result<ReminderReport> {
        self.writer()?;
        let (reminders, without_phone) = self.session_reminders(id).await?;
        let outcomes = sender.send(&reminders).await?;
        Ok(ReminderReport {
            sent: reminders.into_iter().zip(outcomes).collect(),
            without_phone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(antigen: &str) -> DueEntry {
        DueEntry {
            person_id: "p1".into(),
            full_name: "Con bà Nguyễn Thị Lan".into(),
            birth_date: "2026-09-24".into(),
            hamlet: Some("Ấp 3".into()),
            caregiver_name: Some("Nguyễn Thị Lan".into()),
            phone: Some("0912345678".into()),
            series: "dtp".into(),
            antigen: antigen.into(),
            dose_number: 1,
            status: "due",
            earliest: "2026-11-05".into(),
            due: "2026-11-23".into(),
        }
    }

    #[test]
    fn a_reminder_is_one_sms_without_diacritics() {
        let session = SessionDay {
            id: "s".into(),
            day: "2026-12-14".into(),
            hamlet: Some("Ấp 3".into()),
            place: None,
            planned_by: "nv.lan".into(),
            closed_at: None,
            closed_by: None,
            defaulters: 0,
        };
        let one = reminder_text(
            "Tram Y te xa Tan Nhut",
            &session,
            &[entry("Sởi")],
            "Nhà văn hoá ấp 3",
        );
        assert!(
            one.contains("Con ba Nguyen Thi Lan") && one.contains("14/12/2026"),
            "{one}"
        );
        assert!(one.contains("Soi") && one.is_ascii(), "{one}");
        let many: Vec<DueEntry> = (0..8)
            .map(|_| entry("Viêm phổi, viêm màng não mủ do Hib"))
            .collect();
        let short = reminder_text("Tram Y te xa Tan Nhut", &session, &many, "Nhà văn hoá ấp 3");
        assert!(short.chars().count() <= 160, "{short}");
        assert!(
            !short.contains("Hib") && short.contains("14/12/2026"),
            "{short}"
        );
    }
}
