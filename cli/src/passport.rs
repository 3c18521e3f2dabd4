//! `sotiem passport …`: a person's vaccine passport, printed to PDF, and a scanned passport
//! checked offline against the trust list the last sync brought.

use crate::render::Output;
use clap::Subcommand;
use station::{Paper, PassportCheck, PassportStatus, Station};
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Subcommand)]
pub enum PassportCommand {
    /// A person's passports (valid, revoked, expired).
    Show { person: Uuid },
    /// Prints a person's valid passport to a PDF file (Vietnamese/English, QR code).
    Print {
        person: Uuid,
        #[arg(long)]
        out: PathBuf,
        /// a4 or a5.
        #[arg(long, default_value = "a4", value_parser = parse_paper)]
        paper: Paper,
    },
    /// Checks a passport's text (`HC1:…`, as a scanner types it; `-` reads standard input)
    /// against the trust list kept on this laptop, offline. Exits 3 when it is not accepted.
    Verify { text: String },
}

/// A passport checked and refused: already shown, the command exits with status 3.
#[derive(Debug)]
pub struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hộ chiếu vắc xin không hợp lệ")
    }
}

impl std::error::Error for Refused {}

/// Runs a `sotiem passport` command.
pub async fn passport(
    station: &Station,
    cmd: &PassportCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        PassportCommand::Show { person } => {
            let status = station.passport_status(*person).await?;
            out.value(&status, describe_status);
        }
        PassportCommand::Print {
            person,
            out: path,
            paper,
        } => {
            let (pdf, _) = station.passport_pdf(*person, *paper).await?;
            station::files::replace(path, &pdf)?;
            out.message(&format!("Đã in hộ chiếu vắc xin vào {}", path.display()));
        }
        PassportCommand::Verify { text } => {
            let text = if text == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                s
            } else {
                text.clone()
            };
            let check = station.check_passport(&text).await?;
            out.value(&check, describe_check);
            if !check.accepted {
                // A refused passport is a result, but scripts need to tell it apart: exit 3,
                // once the station is closed (exiting here, with the last connection still on
                // its way back to the pool, made the exit handler wait ten seconds for it).
                return Err(Refused.into());
            }
        }
    }
    Ok(())
}

fn describe_status(s: &PassportStatus) -> String {
    let mut lines = vec![s.summary.clone()];
    for p in s.current.iter().chain(&s.history) {
        lines.push(format!(
            "{}\t{:?}\tcấp {}\thết hạn {}{}",
            p.uvci,
            p.state,
            p.issued_at,
            p.expires_at,
            p.revoked_reason
                .as_deref()
                .map(|r| format!("\tthu hồi: {r}"))
                .unwrap_or_default()
        ));
    }
    lines.join("\n")
}

fn describe_check(c: &PassportCheck) -> String {
    let mut lines = vec![c.message.clone()];
    let mut add = |label: &str, v: &Option<String>| {
        if let Some(v) = v {
            lines.push(format!("{label}: {v}"));
        }
    };
    add("Họ và tên", &c.holder);
    add("Ngày sinh", &c.birth_date);
    add("Vắc xin", &c.vaccine);
    add("Mũi", &c.dose);
    add("Ngày tiêm", &c.vaccinated_on);
    add("Mã chứng nhận", &c.uvci);
    add("Hiệu lực đến", &c.expires_at);
    add("Đơn vị ký", &c.signer);
    lines.push(format!(
        "(danh sách tin cậy ngày {})",
        c.trust_list_issued_at
    ));
    lines.join("\n")
}

fn parse_paper(text: &str) -> Result<Paper, String> {
    Paper::parse(text).ok_or_else(|| format!("khổ giấy \"{text}\" không có: a4 hoặc a5"))
}
