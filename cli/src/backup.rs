//! `sotiem backup …` (encrypted backups to a folder or USB stick) and `sotiem restore` (a
//! station rebuilt from one on a new laptop).

use crate::render::Output;
use crate::{Connection, login};
use clap::Subcommand;
use station::{BackupHeader, BackupSettings, BackupSummary, Station};
use std::path::{Path, PathBuf};

/// The environment variable that gives the recovery passphrase without a prompt.
const PASSPHRASE_ENV: &str = "SOTIEM_RECOVERY_PASSPHRASE";

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Sets the recovery passphrase (head of facility; asked twice, or SOTIEM_RECOVERY_PASSPHRASE).
    /// Whoever holds it can open every backup written from now on: keep it off the laptop.
    Passphrase,
    /// Chooses the folder daily backups go to (a USB stick), or `--off` for none.
    Folder {
        path: Option<PathBuf>,
        #[arg(long, conflicts_with = "path")]
        off: bool,
    },
    /// Writes a backup now into `--out` (or the chosen folder).
    Now {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Writes the daily backup if none was written today (for a scheduled task; the app does
    /// it by itself while it runs).
    Daily,
    /// How this station backs up.
    Status,
    /// What a backup file holds, read without the passphrase.
    Show { file: PathBuf },
}

/// Runs a `sotiem backup` command.
pub async fn backup(station: &Station, cmd: &BackupCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        BackupCommand::Passphrase => {
            let first = login::ask(PASSPHRASE_ENV, "Mật khẩu khôi phục mới: ", true)?;
            if std::env::var(PASSPHRASE_ENV).is_err() {
                let again = login::ask(PASSPHRASE_ENV, "Nhập lại mật khẩu khôi phục: ", true)?;
                anyhow::ensure!(
                    first == again,
                    "hai lần nhập mật khẩu khôi phục không giống nhau"
                );
            }
            station.set_recovery_passphrase(&first).await?;
            out.message(
                "Đã đặt mật khẩu khôi phục. Hãy cất mật khẩu này ngoài máy (sổ của trưởng trạm): không có nó, bản sao lưu không mở được.",
            );
        }
        BackupCommand::Folder { path, off } => {
            let folder = if *off { None } else { path.as_deref() };
            anyhow::ensure!(
                *off || folder.is_some(),
                "cần đường dẫn thư mục sao lưu, hoặc --off để tắt sao lưu hằng ngày"
            );
            station.set_backup_folder(folder).await?;
            out.message(&match folder {
                Some(f) => format!("Sao lưu hằng ngày vào {}", f.display()),
                None => "Đã tắt sao lưu hằng ngày".into(),
            });
        }
        BackupCommand::Now { out: folder } => {
            let summary = station.backup_now(folder.as_deref()).await?;
            written(out, &summary);
        }
        BackupCommand::Daily => match station.backup_if_due().await? {
            Some(summary) => written(out, &summary),
            None => out.message("Hôm nay đã sao lưu (hoặc chưa chọn thư mục): không ghi thêm."),
        },
        BackupCommand::Status => {
            let s = station.backup_settings().await?;
            out.value(&s, describe_settings);
        }
        // (Read before a station is opened: see `run`.)
        BackupCommand::Show { .. } => {}
    }
    Ok(())
}

/// `sotiem restore FILE --server … --token …`: rebuilds the station in `data` from a backup.
pub async fn restore(data: &Path, file: &Path, c: &Connection, out: &Output) -> anyhow::Result<()> {
    let (Some(server), Some(token)) = (&c.server, &c.token) else {
        anyhow::bail!(
            "cần --server (địa chỉ máy chủ) và --token (mã thiết bị thay thế do quản trị cấp: `sotiem-server device replace`) để khôi phục"
        );
    };
    let header = station::backup::read_header(file)?;
    let passphrase = login::ask(PASSPHRASE_ENV, "Mật khẩu khôi phục: ", true)?;
    let ca = login::read_ca(c)?;
    let restored = Station::restore(file, &passphrase, data, server, token, ca.as_deref()).await?;
    let status = restored.status().await?;
    restored.close().await;
    out.value(&status, |s| {
        format!(
            "Đã khôi phục trạm {} từ bản sao lưu lúc {}: {} người, {} mũi tiêm, {} thay đổi chưa gửi.\nHãy đăng nhập (`sotiem login`) rồi đồng bộ (`sotiem sync`) để gửi các thay đổi đó lên máy chủ.",
            header.facility_code, header.created_at, s.persons, s.doses, s.pending_changes
        )
    });
    Ok(())
}

fn written(out: &Output, s: &BackupSummary) {
    out.value(s, |s| {
        format!(
            "Đã sao lưu vào {} ({} KB): {} người, {} mũi tiêm, {} thay đổi chưa gửi",
            s.file,
            s.bytes / 1024,
            s.people,
            s.doses,
            s.pending_changes
        )
    });
}

fn describe_settings(s: &BackupSettings) -> String {
    format!(
        "Mật khẩu khôi phục: {}\nThư mục sao lưu hằng ngày: {}\nLần sao lưu gần nhất: {}{}",
        if s.configured {
            "đã đặt"
        } else {
            "chưa đặt"
        },
        s.folder.as_deref().unwrap_or("chưa chọn"),
        match (&s.last_at, &s.last_file) {
            (Some(at), Some(file)) => format!("{at} ({file})"),
            _ => "chưa có".into(),
        },
        if s.due {
            "\nHôm nay chưa sao lưu."
        } else {
            ""
        }
    )
}

/// A backup's header in a sentence.
pub fn describe_header(h: &BackupHeader) -> String {
    format!(
        "Bản sao lưu của {} ({}) lúc {}: {} người, {} mũi tiêm, {} thay đổi chưa gửi",
        h.facility_name, h.facility_code, h.created_at, h.people, h.doses, h.pending_changes
    )
}
