//! `passports …`, and the passport signer (an HSM key) that `serve` and `audit anchor` open too.

use super::Cli;
use super::output::{audited, change, print};
use clap::Subcommand;
use sotiem_server::Db;
use std::path::PathBuf;

/// The document signer of vaccine passports: a key in an HSM (PKCS#11), never a key file. The
/// token's PIN comes from SOTIEM_PASSPORT_PIN only.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct PassportSignerArgs {
    /// The HSM's PKCS#11 module.
    #[arg(long, env = "SOTIEM_PASSPORT_MODULE")]
    passport_module: Option<PathBuf>,
    /// The label of the token holding the document signer's key.
    #[arg(long, env = "SOTIEM_PASSPORT_TOKEN")]
    passport_token: Option<String>,
    /// The object id (hex) of the key and its certificate on the token.
    #[arg(long, env = "SOTIEM_PASSPORT_KEY_ID")]
    passport_key_id: Option<String>,
    /// The root (country signing CA) certificate that issued the signer's, PEM or DER.
    #[arg(long, env = "SOTIEM_PASSPORT_ROOT")]
    passport_root: Option<PathBuf>,
}

/// `passports …`: the subcommands.
#[derive(Subcommand)]
pub(crate) enum PassportCommand {
    /// Runs the end-of-day issuance now: issues, re-issues and revokes, then signs a new
    /// trust list.
    Issue {
        #[command(flatten)]
        signer: PassportSignerArgs,
    },
    /// The latest passports issued or revoked.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// A person's passports (by person id), newest first.
    Show { person_id: String },
    /// Revokes a passport by hand (its UVCI), with the reason; re-signs the trust list when a
    /// signer is configured (else the next run does).
    Revoke {
        uvci: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        signer: PassportSignerArgs,
    },
    /// The latest end-of-day runs.
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Writes the newest signed trust list (COSE) to a file, for verifiers outside the network.
    TrustList {
        #[arg(long)]
        out: PathBuf,
    },
}

/// The passport signer configured by `args` and SOTIEM_PASSPORT_PIN, opened; `None` when no
/// module is named.
pub(crate) fn open_issuer(
    args: &PassportSignerArgs,
) -> anyhow::Result<Option<std::sync::Arc<sotiem_server::passports::Issuer>>> {
    let Some(module) = &args.passport_module else {
        return Ok(None);
    };
    let missing = |what: &str| anyhow::anyhow!("thiếu {what} cho thiết bị ký hộ chiếu");
    let config = sotiem_server::passports::SignerConfig {
        module: module.clone(),
        token_label: args
            .passport_token
            .clone()
            .ok_or_else(|| missing("--passport-token"))?,
        key_id: args
            .passport_key_id
            .clone()
            .ok_or_else(|| missing("--passport-key-id"))?,
        root: args
            .passport_root
            .clone()
            .ok_or_else(|| missing("--passport-root"))?,
        pin: std::env::var("SOTIEM_PASSPORT_PIN")
            .map_err(|_| missing("mã PIN (biến môi trường SOTIEM_PASSPORT_PIN)"))?,
    };
    let issuer = sotiem_server::passports::Issuer::open(&config, time::OffsetDateTime::now_utc())?;
    Ok(Some(std::sync::Arc::new(issuer)))
}

/// Runs one `passports` command.
pub(crate) async fn run(cli: &Cli, db: &Db, command: &PassportCommand) -> anyhow::Result<()> {
    use sotiem_server::passports as p;
    let now = time::OffsetDateTime::now_utc();
    match command {
        PassportCommand::Issue { signer } => {
            let issuer = open_issuer(signer)?.ok_or_else(|| {
                anyhow::anyhow!("cần thiết bị ký hộ chiếu: --passport-module, --passport-token, --passport-key-id, --passport-root")
            })?;
            let catalogue = sync_protocol::vaccines::Catalogue::built_in();
            let r = audited(
                db,
                "passports_issue",
                "passports",
                Vec::new(),
                p::run(db, &issuer, &catalogue, now),
            )
            .await?;
            print(cli.json, &r, || {
                format!(
                    "Lần cấp {} ngày {}: cấp mới {}, cấp lại {}, thu hồi {}, giữ nguyên {}",
                    r.id, r.day, r.issued, r.reissued, r.revoked, r.unchanged
                )
            });
        }
        PassportCommand::List { limit } => {
            let list = p::list(db, *limit).await?;
            print(cli.json, &list, || passport_lines(&list));
        }
        PassportCommand::Show { person_id } => {
            let list = p::of_person(db, person_id).await?;
            print(cli.json, &list, || {
                if list.is_empty() {
                    "Người này chưa có hộ chiếu vắc xin".into()
                } else {
                    passport_lines(&list)
                }
            });
        }
        PassportCommand::Revoke {
            uvci,
            reason,
            signer,
        } => {
            if reason.trim().chars().count() < 10 {
                anyhow::bail!("lý do thu hồi cần ít nhất 10 ký tự");
            }
            let record = audited(
                db,
                "passport_revoke",
                &format!("passport/{uvci}"),
                vec![change("revoked_reason", None, Some(reason))],
                p::revoke(db, uvci, reason.trim(), now),
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("không có hộ chiếu còn hiệu lực mang mã {uvci}"))?;
            match open_issuer(signer)? {
                Some(issuer) => {
                    p::publish_trust_list(db, &issuer, now).await?;
                }
                None => eprintln!(
                    "chưa cấu hình thiết bị ký: danh sách thu hồi sẽ được ký lại ở lần cấp tới"
                ),
            }
            print(cli.json, &record, || format!("Đã thu hồi {}", record.uvci));
        }
        PassportCommand::Runs { limit } => {
            let runs = p::runs(db, *limit).await?;
            print(cli.json, &runs, || {
                runs.iter()
                    .map(|r| {
                        format!(
                            "{}\t{}\t{}\tcấp mới {}\tcấp lại {}\tthu hồi {}\tgiữ nguyên {}",
                            r.id,
                            r.day,
                            r.finished_at.as_deref().unwrap_or("đang chạy"),
                            r.issued,
                            r.reissued,
                            r.revoked,
                            r.unchanged
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        PassportCommand::TrustList { out } => {
            let bytes = p::trust_list(db).await?;
            std::fs::write(out, &bytes)
                .map_err(|e| anyhow::anyhow!("không ghi được {}: {e}", out.display()))?;
            println!(
                "Đã ghi danh sách tin cậy ({} byte) vào {}",
                bytes.len(),
                out.display()
            );
        }
    }
    Ok(())
}

fn passport_lines(list: &[sync_protocol::wire::PassportRecord]) -> String {
    list.iter()
        .map(|r| {
            format!(
                "{}\t{}\t{}\t{}",
                r.uvci,
                r.person_id,
                r.issued_at,
                match &r.revoked_at {
                    Some(at) => format!(
                        "thu hồi {at} ({})",
                        r.revoked_reason.as_deref().unwrap_or("")
                    ),
                    None => format!("hiệu lực đến {}", r.expires_at),
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
