//! `sotiem complaint …`: the citizens' complaints routed to this facility — the inbox by
//! deadline, one opened with its photos and the people it may be about, answered or forwarded.
//! An answer is kept on the laptop and sent at once when the server answers, else at the next
//! sync.

use crate::login::remembered_client;
use crate::render::Output;
use clap::{Args, Subcommand};
use station::sync_protocol::complaints::ComplaintStatus;
use station::{ComplaintFilter, ComplaintSummary, ComplaintView, PersonSummary, Station};
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum ComplaintCommand {
    /// The complaints to answer, by deadline (overdue first); --all lists answered and
    /// forwarded ones too.
    List {
        #[arg(long)]
        all: bool,
    },
    /// One complaint (its id or tracking code PA-XXXX-XXXX) with the people it may be about;
    /// --photos DIR saves its photos there (fetched from the server the first time).
    Show {
        complaint: String,
        #[arg(long)]
        photos: Option<PathBuf>,
    },
    /// Answers: --resolved (say what was corrected) or --rejected (say why), --text for the
    /// citizen; --person links the record it is about (needed to say resolved).
    Answer {
        complaint: String,
        #[command(flatten)]
        outcome: Outcome,
        #[arg(long)]
        text: String,
        #[arg(long)]
        person: Option<Uuid>,
    },
    /// Forwards to the facility it belongs to (--to its code) with --reason.
    Forward {
        complaint: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Outcome {
    /// The data was corrected.
    #[arg(long)]
    resolved: bool,
    /// Nothing to correct.
    #[arg(long)]
    rejected: bool,
}

/// Runs a `sotiem complaint` command.
pub async fn complaint(
    station: &Station,
    cmd: &ComplaintCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        ComplaintCommand::List { all } => {
            let filter = if *all {
                ComplaintFilter::All
            } else {
                ComplaintFilter::Open
            };
            let list = station.complaints(filter).await?;
            out.value(&list, |l| describe_list(l));
        }
        ComplaintCommand::Show { complaint, photos } => {
            let view = station.complaint(complaint).await?;
            let matches = station.complaint_matches(complaint).await?;
            if let Some(dir) = photos {
                let client = remembered_client(station).await;
                for n in 0..view.record.photos {
                    let jpeg = station
                        .complaint_photo(client.as_ref(), complaint, n)
                        .await?;
                    let path = dir.join(format!("{}-{}.jpg", view.record.code, n + 1));
                    std::fs::write(&path, jpeg)
                        .map_err(|e| anyhow::anyhow!("không ghi được {}: {e}", path.display()))?;
                }
            }
            #[derive(serde::Serialize)]
            struct Shown<'a> {
                complaint: &'a ComplaintView,
                matches: &'a [PersonSummary],
            }
            out.value(
                &Shown {
                    complaint: &view,
                    matches: &matches,
                },
                |s| describe_view(s.complaint, s.matches),
            );
        }
        ComplaintCommand::Answer {
            complaint,
            outcome,
            text,
            person,
        } => {
            if let Some(p) = person {
                station.link_complaint(complaint, Some(*p)).await?;
            }
            let status = if outcome.resolved {
                ComplaintStatus::Resolved
            } else {
                ComplaintStatus::Rejected
            };
            let client = remembered_client(station).await;
            let view = station
                .answer_complaint(client.as_ref(), complaint, status, text)
                .await?;
            said(&view, out)?;
        }
        ComplaintCommand::Forward {
            complaint,
            to,
            reason,
        } => {
            let client = remembered_client(station).await;
            let view = station
                .forward_complaint(client.as_ref(), complaint, to, reason)
                .await?;
            said(&view, out)?;
        }
    }
    Ok(())
}

/// Says where an answer or forward stands: sent, waiting for the next sync, or refused.
fn said(view: &ComplaintView, out: &Output) -> anyhow::Result<()> {
    if let Some(reason) = &view.reply_error {
        anyhow::bail!("máy chủ không nhận: {reason}");
    }
    out.message(&format!(
        "{}: {}",
        view.record.code, view.summary.state_label
    ));
    Ok(())
}

fn describe_list(list: &[ComplaintSummary]) -> String {
    if list.is_empty() {
        return "Không có phản ánh nào cần trả lời.".into();
    }
    list.iter()
        .map(|c| {
            format!(
                "{}{}\t{}\t{}\thạn {}\t{}",
                if c.overdue { "! " } else { "" },
                c.code,
                c.full_name,
                c.kind_label,
                c.deadline,
                c.state_label
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe_view(v: &ComplaintView, matches: &[PersonSummary]) -> String {
    let r = &v.record;
    let mut lines = vec![
        format!("{} — {}", r.code, v.summary.state_label),
        format!("Loại: {}", v.summary.kind_label),
        format!("Nhận lúc: {}; hạn trả lời: {}", r.received_at, r.deadline),
        format!("Họ và tên: {}; ngày sinh: {}", r.full_name, r.birth_date),
        format!(
            "Điện thoại: {}; giấy tờ: {}",
            r.phone,
            r.id_number.as_deref().unwrap_or("—")
        ),
    ];
    if let Some(vaccine) = &v.vaccine_name {
        lines.push(format!("Vắc xin: {vaccine}"));
    }
    if let Some(day) = &r.vaccinated_on {
        lines.push(format!("Ngày tiêm: {day}"));
    }
    if let Some(place) = &r.place {
        lines.push(format!("Nơi tiêm: {place}"));
    }
    lines.push(format!("Nội dung: {}", r.description));
    lines.push(format!("Ảnh phiếu tiêm: {}", r.photos));
    if let (Some(from), Some(reason)) = (&r.forwarded_from, &r.forward_reason) {
        lines.push(format!("Chuyển từ {from}: {reason}"));
    }
    match (&v.linked_person, &v.linked_name) {
        (Some(id), name) => lines.push(format!(
            "Hồ sơ liên kết: {} {id}",
            name.as_deref().unwrap_or("(chưa có trên máy)")
        )),
        (None, _) if matches.is_empty() => {
            lines.push("Không tìm thấy hồ sơ theo họ tên với số điện thoại hay giấy tờ".into())
        }
        (None, _) => {
            lines.push("Hồ sơ có thể là người này:".into());
            for m in matches {
                lines.push(format!(
                    "  {}\t{}\t{}\t{} mũi",
                    m.id, m.full_name, m.birth_date, m.active_doses
                ));
            }
        }
    }
    if let Some(answer) = &r.answer {
        lines.push(format!(
            "Trả lời ({}): {answer}",
            r.answered_by.as_deref().unwrap_or("?")
        ));
    }
    if let Some(error) = &v.reply_error {
        lines.push(format!("Máy chủ không nhận câu trả lời: {error}"));
    }
    lines.join("\n")
}
