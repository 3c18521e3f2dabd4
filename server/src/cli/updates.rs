//! `update …`: the desktop app's releases the stations install from this server.

use super::output::{audited, change, print};
use super::{Cli, updates_dir};
use clap::Subcommand;
use sotiem_server::Db;
use std::path::PathBuf;

/// `update …`: the subcommands.
#[derive(Subcommand)]
pub(crate) enum UpdateCommand {
    /// Publishes a package built and signed with the release key (`tauri signer sign
    /// --app-version VERSION FILE` writes FILE.sig).
    Publish {
        #[arg(long)]
        version: String,
        /// linux-x86_64, windows-x86_64, …
        #[arg(long)]
        platform: String,
        #[arg(long)]
        file: PathBuf,
        /// The signature file (default: FILE.sig).
        #[arg(long)]
        signature: Option<PathBuf>,
        /// What changed, shown to the nurse before installing.
        #[arg(long)]
        notes: Option<String>,
        /// The app's release public key (as in the app's build): the package is refused unless
        /// its signature verifies with it.
        #[arg(long, env = "SOTIEM_UPDATE_PUBKEY")]
        pubkey: Option<String>,
    },
    /// The published releases, newest first.
    List,
    /// Stops offering a release.
    Withdraw {
        #[arg(long)]
        version: String,
        #[arg(long)]
        platform: String,
    },
}

/// Runs one `update` command.
pub(crate) async fn run(cli: &Cli, db: &Db, command: &UpdateCommand) -> anyhow::Result<()> {
    match command {
        UpdateCommand::Publish {
            version,
            platform,
            file,
            signature,
            notes,
            pubkey,
        } => {
            let sig_path = signature.clone().unwrap_or_else(|| {
                let mut p = file.clone().into_os_string();
                p.push(".sig");
                PathBuf::from(p)
            });
            let sig = std::fs::read_to_string(&sig_path).map_err(|e| {
                anyhow::anyhow!("không đọc được chữ ký {}: {e}", sig_path.display())
            })?;
            if pubkey.is_none() {
                eprintln!(
                    "cảnh báo: không có --pubkey (SOTIEM_UPDATE_PUBKEY): chữ ký chỉ được kiểm tra trên máy trạm"
                );
            }
            let r = audited(
                db,
                "update_publish",
                &format!("release/{platform}/{version}"),
                vec![change("file", None, Some(&file.display().to_string()))],
                sotiem_server::releases::publish(
                    db,
                    &updates_dir(cli),
                    &sotiem_server::releases::NewRelease {
                        version,
                        platform,
                        package: file,
                        signature: &sig,
                        notes: notes.as_deref(),
                    },
                    pubkey.as_deref(),
                ),
            )
            .await?;
            print(cli.json, &r, || {
                format!(
                    "Đã phát hành {} cho {} ({} KB); các trạm sẽ được mời cập nhật",
                    r.version,
                    r.platform,
                    r.size / 1024
                )
            });
        }
        UpdateCommand::List => {
            let list = sotiem_server::releases::list(db).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|r| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            r.version,
                            r.platform,
                            r.published_at,
                            if r.withdrawn_at.is_some() {
                                "đã rút"
                            } else {
                                "đang phát hành"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        UpdateCommand::Withdraw { version, platform } => {
            audited(
                db,
                "update_withdraw",
                &format!("release/{platform}/{version}"),
                Vec::new(),
                sotiem_server::releases::withdraw(db, version, platform),
            )
            .await?;
            print(cli.json, &serde_json::json!({"withdrawn": version}), || {
                format!("Đã rút bản {version} cho {platform}")
            });
        }
    }
    Ok(())
}
