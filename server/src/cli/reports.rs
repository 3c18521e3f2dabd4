//! `report …`: an area's daily report, printed and written as .xlsx.

use super::Cli;
use super::output::print;
use clap::Subcommand;
use sotiem_server::Db;
use sotiem_server::admin;
use sotiem_server::admin_audit::Actor;
use sotiem_server::console::{self, Area, report};
use std::path::PathBuf;

/// `report …`: the subcommands.
#[derive(Subcommand)]
pub(crate) enum ReportCommand {
    /// The daily report of an area (doses, first doses, people, voided, signed per facility,
    /// and by vaccine) for one day: printed, and written as .xlsx with --out.
    Daily {
        /// A district centre's code (the facilities it signs for) or a province's name.
        #[arg(long)]
        area: String,
        /// The day, yyyy-mm-dd (Vietnam time); today when not given.
        #[arg(long)]
        day: Option<String>,
        /// The .xlsx file to write.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs one `report` command.
pub(crate) async fn run(cli: &Cli, db: &Db, command: &ReportCommand) -> anyhow::Result<()> {
    match command {
        ReportCommand::Daily { area, day, out } => {
            let area = match admin::facility(db, area).await? {
                Some(unit) => Area::district(db, &unit.code).await?,
                None => Area::province(db, area).await?,
            };
            let day = match day.as_deref() {
                Some(text) => console::parse_day(text)
                    .ok_or_else(|| console::ConsoleError::BadDay(text.to_string()))?,
                None => sync_protocol::Clock::system()
                    .now()
                    .to_offset(sync_protocol::clock::VIETNAM)
                    .date(),
            };
            let r = report::daily(db, &area, day).await?;
            if let Some(out) = out {
                let bytes = report::xlsx(&r)?;
                // Written whole beside the target, then moved: no half-written report.
                let partial = out.with_extension("xlsx.partial");
                std::fs::write(&partial, &bytes)?;
                std::fs::rename(&partial, out)?;
            }
            sotiem_server::admin_audit::append(
                db,
                &Actor::command_line(),
                "console_daily_report_download",
                &format!("{} {}", r.area, r.day),
                Vec::new(),
            )
            .await?;
            print(cli.json, &r, || {
                let mut lines = vec![format!(
                    "Báo cáo ngày {} — {}: {} mũi ({} mũi 1), {} người, {} mũi đã huỷ, {} mũi đã ký",
                    report::day_vn(&r.day),
                    r.area,
                    r.totals.doses,
                    r.totals.first_doses,
                    r.totals.people,
                    r.totals.voided,
                    r.totals.signed
                )];
                lines.extend(r.rows.iter().map(|row| {
                    format!(
                        "{}\t{}\t{} mũi\t{} người\t{} đã ký",
                        row.facility, row.name, row.doses, row.people, row.signed
                    )
                }));
                if let Some(out) = out {
                    lines.push(format!("Đã ghi {}", out.display()));
                }
                lines.join("\n")
            });
        }
    }
    Ok(())
}
