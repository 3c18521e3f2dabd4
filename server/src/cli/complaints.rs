//! `complaints …`: a province's answering deadline; a complaint filed from the command line.

use clap::Subcommand;
use sotiem_server::Db;
use sotiem_server::admin_audit::Actor;
use std::path::PathBuf;

/// `complaints …`: the subcommands.
#[derive(Subcommand)]
pub(crate) enum ComplaintsCommand {
    /// Sets how many working days the facilities of a province have to answer a complaint
    /// (default 2; weekends and public holidays do not count).
    Deadline {
        #[arg(long)]
        province: String,
        #[arg(long)]
        days: u32,
    },
    /// Files a complaint received by phone or on paper: the public form's fields as a JSON
    /// object (full_name, birth_date, phone, id_number, facility, kind, vaccine,
    /// vaccinated_on, place, description), checked as the public form checks them. Prints the
    /// tracking code for the citizen.
    File {
        /// The JSON file (`-` reads standard input).
        form: PathBuf,
    },
}

/// Runs one `complaints` command (their output is text only).
pub(crate) async fn run(db: &Db, command: &ComplaintsCommand) -> anyhow::Result<()> {
    match command {
        ComplaintsCommand::Deadline { province, days } => {
            if !(1..=30).contains(days) {
                anyhow::bail!("số ngày làm việc phải từ 1 đến 30");
            }
            sotiem_server::complaints::ComplaintStore::new(db.clone())
                .set_working_days(province, *days)
                .await?;
            sotiem_server::admin_audit::append(
                db,
                &Actor::command_line(),
                "complaint_deadline",
                province,
                vec![sotiem_server::admin_audit::change(
                    "working_days",
                    None,
                    Some(&days.to_string()),
                )],
            )
            .await?;
            println!("Phản ánh ở {province}: trả lời trong {days} ngày làm việc");
        }
        ComplaintsCommand::File { form } => {
            let text = if form.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                s
            } else {
                std::fs::read_to_string(form)
                    .map_err(|e| anyhow::anyhow!("không đọc được {}: {e}", form.display()))?
            };
            let form: sync_protocol::complaints::ComplaintForm = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("tệp phản ánh không phải JSON của biểu mẫu: {e}"))?;
            let facilities = sotiem_server::scope::Facilities::load(db).await?;
            let now = sync_protocol::Clock::system().now();
            let checked = sync_protocol::complaints::check_form(
                &form,
                now.to_offset(sync_protocol::clock::VIETNAM).date(),
                |code| facilities.contains(code),
                &sync_protocol::vaccines::Catalogue::built_in(),
            )
            .map_err(|problems| {
                anyhow::anyhow!(
                    "phản ánh chưa hợp lệ: {}",
                    problems
                        .iter()
                        .map(|p| format!("{}: {}", p.field, p.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
            let filed = sotiem_server::complaints::ComplaintStore::new(db.clone())
                .file(&checked, &[], now, Some("command line"))
                .await?;
            println!(
                "Đã nhận phản ánh {} cho {}; hạn trả lời {}",
                filed.code, filed.facility_name, filed.deadline
            );
        }
    }
    Ok(())
}
