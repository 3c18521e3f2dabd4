//! `sotiem sign`: the USB token's certificates, a run's preview, the run itself (PIN from
//! `SOTIEM_PIN` or asked on the terminal), past runs and their files for other tools.

use crate::render::Output;
use clap::{Args, Subcommand};
use serde::Serialize;
use sotiem_token::{CertificateInfo, Module, TokenInfo, find_modules};
use station::{SigningSelection, Station, TokenSigner};
use std::path::PathBuf;
use uuid::Uuid;

/// Which PKCS#11 module and token.
#[derive(Args, Clone)]
pub struct TokenArgs {
    /// The token vendor's PKCS#11 module (found among the known ones when absent).
    #[arg(long, env = "SOTIEM_PKCS11_MODULE")]
    module: Option<PathBuf>,
    /// The token's slot (the first token when absent).
    #[arg(long)]
    slot: Option<u64>,
    /// A folder of the CA certificates between the signer's certificate and a root, when the
    /// token does not carry them (PEM or DER); put into every signature with the token's own.
    #[arg(long, env = "SOTIEM_SIGNER_CHAIN_DIR")]
    chain_dir: Option<PathBuf>,
}

/// Which doses.
#[derive(Args, Clone)]
pub struct SelectionArgs {
    /// First day, dd/mm/yyyy or yyyy-mm-dd.
    #[arg(long)]
    from: String,
    /// Last day (included).
    #[arg(long)]
    to: String,
    /// Only this person: full name (with --phone).
    #[arg(long, requires = "phone")]
    name: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    /// Also the doses the facility's mobile teams recorded (every dose the facility created).
    #[arg(long)]
    mobile_teams: bool,
    /// Leave these doses out (their ids, from `sign preview --json`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<uuid::Uuid>,
}

impl SelectionArgs {
    fn selection(&self) -> SigningSelection {
        SigningSelection {
            from: self.from.clone(),
            to: self.to.clone(),
            full_name: self.name.clone(),
            phone: self.phone.clone(),
            include_mobile_teams: self.mobile_teams,
            excluded: self.exclude.clone(),
        }
    }
}

#[derive(Subcommand)]
pub enum SignCommand {
    /// The tokens present and their certificates (subject, issuer, serial, validity).
    Tokens(TokenArgs),
    /// Exactly what would be signed, and the runs it splits into.
    Preview(SelectionArgs),
    /// Signs the previewed doses with one PIN: one token signature per run of at most 1,000
    /// people / 3,000 doses, run after run (Ctrl-C stops between runs; run again to go on).
    Run {
        #[command(flatten)]
        selection: SelectionArgs,
        #[command(flatten)]
        token: TokenArgs,
        /// The certificate's id on the token (from `sign tokens`).
        #[arg(long)]
        cert: String,
        /// How many doses the preview showed: a changed selection is refused.
        #[arg(long)]
        expect: usize,
    },
    /// Registers a certificate of the token on the signed-in signer's account (online): the
    /// token signs a statement (PIN from SOTIEM_PIN or asked), and a fresh code is needed
    /// (SOTIEM_OTP or asked).
    Register {
        #[command(flatten)]
        token: TokenArgs,
        /// The certificate's id on the token (from `sign tokens`).
        #[arg(long)]
        cert: String,
    },
    /// The runs made on this station.
    List,
    /// Writes a run's manifest and CMS signature (for `openssl cms -verify`).
    Export {
        batch: Uuid,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Serialize)]
struct TokenListing {
    module: PathBuf,
    token: TokenInfo,
    certificates: Vec<CertificateInfo>,
}

fn open_module(args: &TokenArgs) -> anyhow::Result<Module> {
    let mut module = Module::open_first(&find_modules(args.module.as_deref()))?;
    if let Some(dir) = &args.chain_dir {
        module.add_authorities_from(dir)?;
    }
    Ok(module)
}

fn pick_slot(module: &Module, args: &TokenArgs) -> anyhow::Result<u64> {
    let tokens = module.tokens()?;
    match args.slot {
        Some(s) if tokens.iter().any(|t| t.slot == s) => Ok(s),
        Some(_) | None => tokens
            .first()
            .map(|t| t.slot)
            .ok_or_else(|| sotiem_token::TokenError::NoToken.into()),
    }
}

/// Runs a `sotiem sign` command.
pub async fn sign(station: &Station, cmd: &SignCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        SignCommand::Tokens(args) => {
            let module = open_module(args)?;
            let mut listing = Vec::new();
            for token in module.tokens()? {
                let certificates = module.certificates(token.slot)?;
                listing.push(TokenListing {
                    module: module.path.clone(),
                    token,
                    certificates,
                });
            }
            if listing.is_empty() {
                return Err(sotiem_token::TokenError::NoToken.into());
            }
            out.value(&listing, |l| {
                l.iter()
                    .map(|t| {
                        let certs = t
                            .certificates
                            .iter()
                            .map(|c| {
                                format!(
                                    "  chứng thư {}: {}\n    cấp bởi {}\n    số hiệu {} · hiệu lực {} → {}",
                                    c.id,
                                    c.subject,
                                    c.issuer,
                                    c.serial,
                                    day(c.not_before),
                                    day(c.not_after)
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n");
                        format!("Token {} (khe {}, {})\n{certs}", t.token.label, t.token.slot, t.module.display())
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        SignCommand::Preview(selection) => {
            let preview = station.signing_preview(&selection.selection()).await?;
            out.value(&preview, |p| {
                let mut lines = vec![format!(
                    "Sẽ ký {} mũi tiêm của {} người trong {} lần ký (mỗi lần tối đa 1.000 người, 3.000 mũi); bỏ qua {} mũi của người chưa xác thực với CSDLQG{}",
                    p.doses.len(),
                    p.people,
                    p.runs.len(),
                    p.unverified_excluded,
                    if p.unticked.is_empty() {
                        String::new()
                    } else {
                        format!(", {} mũi bỏ chọn", p.unticked.len())
                    }
                )];
                // A unit signing for an area: how many doses of each facility.
                let mut by_facility = std::collections::BTreeMap::<&str, usize>::new();
                for d in &p.doses {
                    *by_facility.entry(d.facility.as_str()).or_default() += 1;
                }
                if by_facility.len() > 1 {
                    lines.push(format!(
                        "  theo nơi tiêm: {}",
                        by_facility
                            .iter()
                            .map(|(f, n)| format!("{f} {n} mũi"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                lines.extend(p.runs.iter().enumerate().map(|(i, r)| {
                    format!(
                        "  lần {}: {} người, {} mũi, {} → {}",
                        i + 1,
                        r.people,
                        r.doses,
                        r.first_given_at,
                        r.last_given_at
                    )
                }));
                lines.join("\n")
            });
        }
        SignCommand::Register { token, cert } => {
            let module = open_module(token)?;
            let slot = pick_slot(&module, token)?;
            let pin = crate::login::ask("SOTIEM_PIN", "Mã PIN của USB token: ", true)?;
            let signer = TokenSigner::choose(&module, slot, cert, pin)?;
            let otp = crate::login::ask("SOTIEM_OTP", "Mã xác thực mới: ", false)?;
            let client = crate::login::client(station, &crate::Connection::remembered()).await?;
            let registered = station.register_certificate(&client, &signer, &otp).await?;
            out.value(&registered, |list| {
                format!(
                    "Đã đăng ký; chứng thư của tài khoản: {}",
                    list.iter()
                        .map(|c| format!("{} ({})", c.serial, c.issuer))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        }
        SignCommand::Run {
            selection,
            token,
            cert,
            expect,
        } => {
            let module = open_module(token)?;
            let slot = pick_slot(&module, token)?;
            let pin = crate::login::ask("SOTIEM_PIN", "Mã PIN của USB token: ", true)?;
            let signer = TokenSigner::choose(&module, slot, cert, pin)?;
            // Ctrl-C stops after the run being signed; what is signed stays.
            let chosen = selection.selection();
            let signing = station.sign_backlog(&chosen, *expect, &signer);
            tokio::pin!(signing);
            let summary = loop {
                tokio::select! {
                    done = &mut signing => break done?,
                    _ = tokio::signal::ctrl_c() => station.cancel_signing(),
                }
            };
            out.value(&summary, |s| {
                let mut lines: Vec<String> = s
                    .runs
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        format!(
                            "Lần {}/{}: đã ký {} mũi tiêm của {} người (lần ký {})",
                            i + 1,
                            s.runs_planned,
                            b.doses,
                            b.people,
                            b.batch_id
                        )
                    })
                    .collect();
                lines.push(if s.stopped {
                    "Đã dừng theo yêu cầu: chạy lại lệnh ký (xem trước lại) để ký phần còn lại"
                        .into()
                } else {
                    "Sẽ gửi lên máy chủ khi đồng bộ".into()
                });
                lines.join("\n")
            });
        }
        SignCommand::List => {
            let batches = station.signing_batches().await?;
            out.value(&batches, |list| {
                list.iter()
                    .map(|b| {
                        format!(
                            "{} · {} · {} mũi, {} người · {} · {}",
                            b.batch_id, b.created_at, b.doses, b.people, b.signer, b.status
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        SignCommand::Export { batch, out: dir } => {
            let (manifest, cms) = station.signing_batch_files(*batch).await?;
            std::fs::create_dir_all(dir)?;
            let (m, s) = (
                dir.join(format!("{batch}.manifest")),
                dir.join(format!("{batch}.p7s")),
            );
            std::fs::write(&m, manifest)?;
            std::fs::write(&s, cms)?;
            out.message(&format!(
                "Đã ghi {} và {}: kiểm tra bằng openssl cms -verify -binary -inform DER -in {} -content {} -CAfile CA.pem -purpose any",
                m.display(),
                s.display(),
                s.display(),
                m.display()
            ));
        }
    }
    Ok(())
}

fn day(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| sync_protocol::person::format_time(t)[..10].to_string())
        .unwrap_or_default()
}
