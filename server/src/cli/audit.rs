//! `audit …`: the administrators' log's hash chain verified, its daily anchors, its entries.

use super::Cli;
use super::output::print;
use super::passports::{PassportSignerArgs, open_issuer};
use clap::Subcommand;
use sotiem_server::Db;
use sotiem_server::admin;
use sotiem_server::admin_audit::ChainCheck;
use sotiem_server::audit_anchors::AnchorCheck;
use std::path::PathBuf;

/// `audit …`: the subcommands.
#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Recomputes the whole chain and checks its daily anchors (signed by the document signer's
    /// key); exits with 2 and names the first broken entry or anchor if any was removed,
    /// inserted, edited or rewritten.
    Verify {
        /// The root certificate the anchors' signer must chain to (the passports' country
        /// signing CA), PEM or DER.
        #[arg(long, env = "SOTIEM_PASSPORT_ROOT")]
        passport_root: Option<PathBuf>,
    },
    /// Anchors the chain's head now with the document signer's key (the server does it daily at
    /// --passport-time when it has a signer).
    Anchor {
        #[command(flatten)]
        signer: PassportSignerArgs,
    },
    /// The daily anchors, oldest first (copy them off the server with --json).
    Anchors,
    /// The latest entries, newest first.
    List {
        /// Only those about one account (`account/nv.lan`) or facility (`facility/TYT-X`).
        #[arg(long)]
        entity: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// Runs one `audit` command; `verify` exits with 2 when the chain or an anchor is broken.
pub(crate) async fn run(cli: &Cli, db: &Db, command: &AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { passport_root } => {
            let check = sotiem_server::admin_audit::verify(db).await?;
            let root = match passport_root {
                Some(path) => Some(sotiem_server::certificates::der_of(&std::fs::read(path)?)?),
                None => None,
            };
            let server_id = admin::server_id(db).await?;
            let anchors =
                sotiem_server::audit_anchors::verify(db, &server_id, root.as_deref()).await?;
            let both = serde_json::json!({ "chain": &check, "anchors": &anchors });
            print(cli.json, &both, || {
                let chain = match &check {
                    ChainCheck::Intact { entries } => {
                        format!("Nhật ký quản trị nguyên vẹn: {entries} mục.")
                    }
                    ChainCheck::Broken { seq, reason } => {
                        format!("Nhật ký quản trị bị phá tại mục {seq}: {reason}")
                    }
                };
                let anchored = match &anchors {
                    AnchorCheck::Intact {
                        anchors: 0,
                        last_day: _,
                    } => {
                        "Chưa có mốc ngày nào (máy chủ cần thiết bị ký hộ chiếu để ký mốc).".into()
                    }
                    AnchorCheck::Intact { anchors, last_day } => format!(
                        "{anchors} mốc ngày đúng chữ ký và khớp nhật ký (mốc cuối: {}).",
                        last_day.as_deref().unwrap_or("")
                    ),
                    AnchorCheck::Broken { day, reason } => {
                        format!("Mốc ngày {day} không khớp: {reason}")
                    }
                };
                format!("{chain}\n{anchored}")
            });
            if matches!(check, ChainCheck::Broken { .. })
                || matches!(anchors, AnchorCheck::Broken { .. })
            {
                std::process::exit(2);
            }
        }
        AuditCommand::Anchor { signer } => {
            let issuer = open_issuer(signer)?.ok_or_else(|| {
                anyhow::anyhow!("cần thiết bị ký hộ chiếu (--passport-module …) để ký mốc")
            })?;
            let server_id = admin::server_id(db).await?;
            let anchor = sotiem_server::audit_anchors::anchor(
                db,
                &issuer,
                &server_id,
                time::OffsetDateTime::now_utc(),
            )
            .await?;
            print(cli.json, &anchor, || {
                format!(
                    "Mốc ngày {}: mục {} (băm {}) đã được ký.",
                    anchor.day, anchor.seq, anchor.hash
                )
            });
        }
        AuditCommand::Anchors => {
            let list = sotiem_server::audit_anchors::anchors(db).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|a| format!("{}\t{}\t{}\t{}", a.day, a.seq, a.hash, a.signed_at))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AuditCommand::List { entity, limit } => {
            let list = sotiem_server::admin_audit::entries(db, entity.as_deref(), *limit).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|e| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            e.seq, e.at, e.actor, e.origin, e.action, e.entity
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
