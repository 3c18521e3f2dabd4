//! `account …`, `signer-scope …` and `login-events`: accounts, signers' areas, the login history.

use super::Cli;
use super::output::{audited, change, print};
use clap::Subcommand;
use sotiem_server::Db;
use std::path::PathBuf;

/// `account …`: the subcommands.
#[derive(Subcommand)]
pub(crate) enum AccountCommand {
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        facility: String,
        /// vaccinator, signer, facility_admin, system_admin, district_officer (facility: a
        /// district centre), province_officer (facility: any of the province).
        #[arg(long)]
        role: String,
        #[arg(long)]
        full_name: String,
        #[arg(long)]
        gender: Option<String>,
        #[arg(long)]
        position: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// The initial password (must meet the policy; changed at first login). From the
        /// environment variable SOTIEM_INITIAL_PASSWORD when not given.
        #[arg(long, env = "SOTIEM_INITIAL_PASSWORD", hide_env_values = true)]
        password: String,
    },
    List {
        #[arg(long)]
        facility: Option<String>,
    },
    Revoke {
        username: String,
    },
    /// Gives an account a new initial password, changed at its next sign-in (the
    /// authenticator stays). Its sessions end; stations forget its offline copy.
    ResetPassword {
        username: String,
        /// From the environment variable SOTIEM_INITIAL_PASSWORD when not given.
        #[arg(long, env = "SOTIEM_INITIAL_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Clears an account's authenticator (a lost phone): its next sign-in enrols a new one.
    ResetAuthenticator {
        username: String,
    },
    /// Registers the organisation certificates a signer may sign with, issuer and serial read
    /// from the certificate files (replaces the registered ones; none clears them).
    Certificates {
        username: String,
        /// Certificate files (PEM or DER), one `--cert` each.
        #[arg(long = "cert")]
        certs: Vec<PathBuf>,
    },
}

/// `signer-scope …`: the subcommands.
#[derive(Subcommand)]
pub(crate) enum SignerScopeCommand {
    /// Lets a signer of a unit the province designates (district health centre, CDC) sign the
    /// doses of these facilities too; the unit's stations then replicate those facilities' people.
    Add {
        username: String,
        #[arg(long = "facility", required = true)]
        facilities: Vec<String>,
    },
    /// Stops a signer signing for these facilities (the unit is sent their people no more).
    Remove {
        username: String,
        #[arg(long = "facility", required = true)]
        facilities: Vec<String>,
    },
    /// The facilities a signer signs for besides their own.
    List { username: String },
}

/// Runs one `account` command.
pub(crate) async fn run(cli: &Cli, db: &Db, command: &AccountCommand) -> anyhow::Result<()> {
    match command {
        AccountCommand::Add {
            username,
            facility,
            role,
            full_name,
            gender,
            position,
            email,
            phone,
            password,
        } => {
            let role = sync_protocol::auth::Role::parse(role).ok_or_else(|| {
                anyhow::anyhow!(
                    "vai trò phải là vaccinator, signer, facility_admin hoặc system_admin"
                )
            })?;
            let info = audited(
                db,
                "account_create",
                &format!("account/{}", username.trim().to_lowercase()),
                vec![
                    change("facility", None, Some(facility)),
                    change("role", None, Some(role.as_str())),
                ],
                sotiem_server::accounts::create_account(
                    db,
                    &sync_protocol::auth::NewAccount {
                        username: username.clone(),
                        facility: facility.clone(),
                        role,
                        full_name: full_name.clone(),
                        gender: gender.clone(),
                        position: position.clone(),
                        email: email.clone(),
                        phone: phone.clone(),
                        initial_password: password.clone(),
                    },
                ),
            )
            .await?;
            print(cli.json, &info, || {
                format!(
                    "Đã tạo tài khoản {} ({}) tại {}. Lần đăng nhập đầu: quét mã xác thực và đổi mật khẩu.",
                    info.username,
                    info.role.label(),
                    info.facility
                )
            });
        }
        AccountCommand::List { facility } => {
            let list = sotiem_server::accounts::accounts(db, facility.as_deref()).await?;
            print(cli.json, &list, || {
                list.iter()
                    .map(|a| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}",
                            a.username, a.facility, a.role, a.status, a.full_name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AccountCommand::Revoke { username } => {
            audited(
                db,
                "account_revoke",
                &format!("account/{username}"),
                Vec::new(),
                sotiem_server::accounts::revoke_account(db, username),
            )
            .await?;
            print(cli.json, &serde_json::json!({"revoked": username}), || {
                format!("Đã thu hồi tài khoản {username}")
            });
        }
        AccountCommand::Certificates { username, certs } => {
            let mut registered = Vec::new();
            for path in certs {
                let bytes = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("không đọc được {}: {e}", path.display()))?;
                let der = sotiem_server::certificates::der_of(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let facts = sotiem_server::certificates::facts(&der)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                registered.push(facts.registration());
            }
            let serials: Vec<&str> = registered.iter().map(|c| c.serial.as_str()).collect();
            audited(
                db,
                "account_certificates",
                &format!("account/{username}"),
                vec![change("serials", None, Some(&serials.join(",")))],
                sotiem_server::accounts::set_certificates(db, username, &registered),
            )
            .await?;
            print(cli.json, &registered, || {
                registered
                    .iter()
                    .map(|c| format!("{}\t{}", c.serial, c.issuer))
                    .chain(std::iter::once(format!(
                        "Đã đăng ký {} chứng thư cho {username}",
                        registered.len()
                    )))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AccountCommand::ResetPassword { username, password } => {
            audited(
                db,
                "account_reset_password",
                &format!("account/{username}"),
                Vec::new(),
                sotiem_server::accounts::reset_password(
                    db,
                    &sync_protocol::Clock::system(),
                    &sotiem_server::accounts::ResetBy::operator(),
                    username,
                    password,
                ),
            )
            .await?;
            print(
                cli.json,
                &serde_json::json!({"reset_password": username}),
                || {
                    format!(
                        "Đã đặt lại mật khẩu của {username}: lần đăng nhập tới phải đổi mật khẩu."
                    )
                },
            );
        }
        AccountCommand::ResetAuthenticator { username } => {
            audited(
                db,
                "account_reset_authenticator",
                &format!("account/{username}"),
                Vec::new(),
                sotiem_server::accounts::reset_authenticator(
                    db,
                    &sync_protocol::Clock::system(),
                    &sotiem_server::accounts::ResetBy::operator(),
                    username,
                ),
            )
            .await?;
            print(
                cli.json,
                &serde_json::json!({"reset_authenticator": username}),
                || {
                    format!(
                        "Đã huỷ ứng dụng xác thực của {username}: lần đăng nhập tới sẽ đăng ký ứng dụng mới."
                    )
                },
            );
        }
    }
    Ok(())
}

/// Runs one `signer-scope` command.
pub(crate) async fn signer_scope(
    cli: &Cli,
    db: &Db,
    command: &SignerScopeCommand,
) -> anyhow::Result<()> {
    match command {
        SignerScopeCommand::Add {
            username,
            facilities,
        } => {
            audited(
                db,
                "signer_scope_add",
                &format!("account/{username}"),
                vec![change("facilities", None, Some(&facilities.join(",")))],
                sotiem_server::signing::add_signer_scope(db, username, facilities),
            )
            .await?;
            let scope = sotiem_server::signing::signer_scope(db, username).await?;
            print(cli.json, &scope, || {
                format!("{username} ký được cho: {}", scope.join(", "))
            });
        }
        SignerScopeCommand::Remove {
            username,
            facilities,
        } => {
            audited(
                db,
                "signer_scope_remove",
                &format!("account/{username}"),
                vec![change("facilities", Some(&facilities.join(",")), None)],
                sotiem_server::signing::remove_signer_scope(db, username, facilities),
            )
            .await?;
            let scope = sotiem_server::signing::signer_scope(db, username).await?;
            print(cli.json, &scope, || {
                format!("{username} ký được cho: {}", scope.join(", "))
            });
        }
        SignerScopeCommand::List { username } => {
            let scope = sotiem_server::signing::signer_scope(db, username).await?;
            print(cli.json, &scope, || scope.join("\n"));
        }
    }
    Ok(())
}

/// `login-events`: the login history, of one account or of all.
pub(crate) async fn login_events(
    cli: &Cli,
    db: &Db,
    username: &Option<String>,
    limit: &i64,
) -> anyhow::Result<()> {
    let events = sotiem_server::accounts::login_events(db, username.as_deref(), *limit).await?;
    print(cli.json, &events, || {
        events
            .iter()
            .map(|e| {
                format!(
                    "{}\t{}\t{}\t{}\t{}",
                    e.at,
                    e.username,
                    e.outcome,
                    e.detail.as_deref().unwrap_or(""),
                    e.device_id.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
