//! The data-cleaning loop on the command line: `sotiem list` (no ID, wrong ID format, mismatch
//! with the population database, unsigned doses, due for the next dose — shown, or exported to
//! .xlsx with a fresh OTP), `sotiem import` (the corrected list back: preview, then apply) and
//! `sotiem duplicates` (pairs found by a visible rule; merge a reviewed pair).

use crate::login::ask;
use crate::render::Output;
use clap::{Args, Subcommand};
use station::{DataList, ListQuery, Station, StepUp};
use std::path::PathBuf;
use uuid::Uuid;

/// Which list and how it is narrowed.
#[derive(Args, Clone)]
pub struct ListArgs {
    /// no_id, invalid_id, mismatched, unsigned_doses or due_next_dose.
    #[arg(value_parser = parse_list)]
    list: DataList,
    /// Only people living in this commune.
    #[arg(long)]
    commune: Option<String>,
    /// Only people managed by (for unsigned doses: doses given at) this facility.
    #[arg(long)]
    facility: Option<String>,
    /// due_next_dose: due on or before this day (today when absent).
    #[arg(long)]
    due_by: Option<String>,
}

impl ListArgs {
    fn query(&self) -> ListQuery {
        ListQuery {
            list: self.list,
            commune: self.commune.clone(),
            facility: self.facility.clone(),
            due_by: self.due_by.clone(),
        }
    }
}

fn parse_list(name: &str) -> Result<DataList, String> {
    DataList::from_name(name).ok_or_else(|| {
        format!(
            "không có danh sách \"{name}\"; chọn một trong: {}",
            DataList::ALL.map(DataList::name).join(", ")
        )
    })
}

/// `sotiem list ...`
#[derive(Subcommand)]
pub enum ListCommand {
    /// Shows a page of a list and how many rows there are.
    Show {
        #[command(flatten)]
        args: ListArgs,
        /// How many rows to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// How many rows to skip first (the next page: `--skip 50`).
        #[arg(long, default_value_t = 0)]
        skip: usize,
    },
    /// Exports a whole list to .xlsx (needs a fresh code from SOTIEM_OTP or asked; audited).
    Export {
        #[command(flatten)]
        args: ListArgs,
        /// The .xlsx file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs a `sotiem list` command.
pub async fn list(station: &Station, cmd: &ListCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ListCommand::Show { args, limit, skip } => {
            // More than a screen, or past the first 1,000 rows, is an export: a fresh code.
            if station::list_needs_code(*skip, *limit) {
                let otp = ask(
                    "SOTIEM_OTP",
                    "Mã xác thực mới để xem nhiều dòng của danh sách: ",
                    false,
                )?;
                station.unlock_lists(&otp).await?;
            }
            let page = station.data_list(&args.query(), *skip, *limit).await?;
            out.value(&page, |p| {
                let shown = if p.rows.is_empty() && p.total > 0 {
                    format!(" (không còn dòng nào sau dòng {})", p.total)
                } else if p.total > p.rows.len() {
                    format!(" (hiện dòng {}–{})", p.offset + 1, p.offset + p.rows.len())
                } else {
                    String::new()
                };
                let mut lines = vec![format!("{}: {} dòng{shown}", args.list.title(), p.total)];
                for r in &p.rows {
                    lines.push(format!(
                        "  {} · {} · {} · {} — {}",
                        r.full_name,
                        r.birth_date,
                        r.id_number.as_deref().unwrap_or("(không có giấy tờ)"),
                        r.phone.as_deref().unwrap_or("-"),
                        r.note
                    ));
                }
                lines.join("\n")
            });
        }
        ListCommand::Export { args, out: path } => {
            let otp = ask("SOTIEM_OTP", "Mã xác thực mới để xuất danh sách: ", false)?;
            let summary = station.export_list(&args.query(), path, &otp).await?;
            out.value(&summary, |s| {
                format!("Đã xuất {} dòng vào {}", s.rows, s.path)
            });
        }
    }
    Ok(())
}

/// `sotiem import ...`
#[derive(Subcommand)]
pub enum ImportCommand {
    /// Shows what importing a corrected list (.xlsx or .csv) would change, and the rows that
    /// match nobody or hold invalid values. Changes nothing.
    Preview { file: PathBuf },
    /// Applies the previewed changes as audited edits (fresh code from SOTIEM_OTP or asked).
    Apply {
        file: PathBuf,
        /// How many changes the preview showed: a file or data changed since is refused.
        #[arg(long)]
        expect: usize,
    },
}

fn problems_text(problems: &[station::ImportProblem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| format!("  dòng {}: {} — {}", p.row, p.full_name, p.reason))
        .collect()
}

/// Runs a `sotiem import` command.
pub async fn import(station: &Station, cmd: &ImportCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ImportCommand::Preview { file } => {
            let preview = station.import_preview(file).await?;
            out.value(&preview, |p| {
                let mut lines = vec![format!(
                    "{} dòng: {} sẽ sửa, {} đã đúng, {} không áp dụng",
                    p.rows,
                    p.changes.len(),
                    p.unchanged,
                    p.problems.len()
                )];
                for c in &p.changes {
                    let what: Vec<String> = c
                        .changes
                        .iter()
                        .map(|f| {
                            format!(
                                "{}: {} → {}",
                                f.field,
                                f.before.as_deref().unwrap_or("—"),
                                f.after.as_deref().unwrap_or("—")
                            )
                        })
                        .collect();
                    lines.push(format!(
                        "  dòng {}: {} — {}",
                        c.row,
                        c.full_name,
                        what.join("; ")
                    ));
                }
                lines.extend(problems_text(&p.problems));
                lines.join("\n")
            });
        }
        ImportCommand::Apply { file, expect } => {
            let otp = ask("SOTIEM_OTP", "Mã xác thực mới để nhập danh sách: ", false)?;
            let client = crate::login::remembered_client(station).await;
            let step_up = StepUp {
                otp: &otp,
                server: client.as_ref(),
            };
            let summary = station.import_apply(file, *expect, step_up).await?;
            out.value(&summary, |s| {
                let mut lines = vec![format!(
                    "Đã sửa {} hồ sơ; {} dòng không áp dụng",
                    s.changed,
                    s.problems.len()
                )];
                lines.extend(problems_text(&s.problems));
                lines.join("\n")
            });
        }
    }
    Ok(())
}

/// `sotiem duplicates ...`
#[derive(Subcommand)]
pub enum DuplicatesCommand {
    /// Pairs of records that may be one person, with the rule that paired them.
    List,
    /// Merges a reviewed pair: OTHER's doses move to KEEP, OTHER is marked merged.
    Merge {
        #[arg(long)]
        keep: Uuid,
        #[arg(long)]
        other: Uuid,
    },
}

/// Runs a `sotiem duplicates` command.
pub async fn duplicates(
    station: &Station,
    cmd: &DuplicatesCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        DuplicatesCommand::List => {
            let pairs = station.duplicate_candidates().await?;
            out.value(&pairs, |pairs| {
                if pairs.is_empty() {
                    return "Không thấy hồ sơ trùng.".into();
                }
                pairs
                    .iter()
                    .map(|p| {
                        let side = |s: &station::DuplicateSide| {
                            format!(
                                "{} · {} · {} · {} · {} mũi ({})",
                                s.full_name,
                                s.birth_date,
                                s.id_number.as_deref().unwrap_or("—"),
                                s.phone.as_deref().unwrap_or("—"),
                                s.active_doses,
                                s.person_id
                            )
                        };
                        format!("{}\n  {}\n  {}", p.rule_text, side(&p.a), side(&p.b))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        DuplicatesCommand::Merge { keep, other } => {
            let kept = station.merge_people(*keep, *other).await?;
            out.value(&kept, |p| {
                format!(
                    "Đã gộp vào hồ sơ {} ({}): {} mũi tiêm",
                    p.full_name,
                    p.id,
                    p.doses.values().filter(|d| d.voided.is_none()).count()
                )
            });
        }
    }
    Ok(())
}
