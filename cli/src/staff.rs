//! `sotiem staff …` (a head of station runs the station's accounts) and `sotiem sign-ins` (the
//! signed-in user's own sign-in history). Online only: the server decides and keeps the audit.

use crate::render::Output;
use clap::Subcommand;
use station::{Station, staff};
use sync_protocol::auth::{NewAccount, ResetRecord, ResetStatus, Role, SignInEvent};

#[derive(Subcommand)]
pub enum StaffCommand {
    /// The facility's accounts.
    List,
    /// Creates a vaccinator's or signer's account; the initial password (SOTIEM_INITIAL_PASSWORD
    /// or asked) is changed at first sign-in, when its holder also enrols an authenticator.
    Add {
        #[arg(long)]
        username: String,
        /// vaccinator or signer.
        #[arg(long, default_value = "vaccinator")]
        role: String,
        #[arg(long)]
        full_name: String,
        /// nam or nu.
        #[arg(long)]
        gender: Option<String>,
        #[arg(long)]
        position: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// Revokes an account: it cannot sign in again, here or elsewhere.
    Revoke { username: String },
    /// A new initial password (SOTIEM_INITIAL_PASSWORD or asked), changed at the next sign-in;
    /// the authenticator stays.
    ResetPassword { username: String },
    /// Clears the authenticator (a lost phone): the next sign-in enrols a new one.
    ResetAuthenticator { username: String },
    /// The last 30 days' resets of the facility's accounts; those awaiting a second person
    /// are approved with `staff approve-reset ID`.
    Resets,
    /// Approves, as the second person, a reset another administrator asked for (both factors
    /// of one account within a day).
    ApproveReset { id: String },
    /// An account's sign-ins, online and offline.
    SignIns { username: String },
}

/// Runs a `staff` command.
pub async fn staff(station: &Station, cmd: &StaffCommand, out: &Output) -> anyhow::Result<()> {
    let connection = crate::login::client(station, &crate::Connection::remembered()).await?;
    let session = station.session();
    let client = staff::as_user(session.as_ref(), &connection)?;
    match cmd {
        StaffCommand::List => {
            let list = staff::accounts(client).await?;
            out.value(&list, |list| {
                list.iter()
                    .map(|a| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            a.username,
                            a.role.label(),
                            if a.status == "revoked" {
                                "đã thu hồi"
                            } else {
                                "đang dùng"
                            },
                            a.full_name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        StaffCommand::Add {
            username,
            role,
            full_name,
            gender,
            position,
            phone,
            email,
        } => {
            let role = Role::parse(role)
                .ok_or_else(|| anyhow::anyhow!("vai trò phải là vaccinator hoặc signer"))?;
            let facility = session
                .as_ref()
                .map(|s| s.account.facility.clone())
                .unwrap_or_default();
            let password = crate::login::ask(
                "SOTIEM_INITIAL_PASSWORD",
                "Mật khẩu ban đầu (người dùng phải đổi khi đăng nhập lần đầu): ",
                true,
            )?;
            let info = staff::create(
                client,
                &NewAccount {
                    username: username.clone(),
                    facility,
                    role,
                    full_name: full_name.clone(),
                    gender: gender.clone(),
                    position: position.clone(),
                    email: email.clone(),
                    phone: phone.clone(),
                    initial_password: password,
                },
            )
            .await?;
            out.value(&info, |a| {
                format!(
                    "Đã tạo tài khoản {} ({}). Lần đăng nhập đầu: quét mã xác thực và đổi mật khẩu.",
                    a.username,
                    a.role.label()
                )
            });
        }
        StaffCommand::Revoke { username } => {
            staff::revoke(client, username).await?;
            out.message(&format!("Đã thu hồi tài khoản {username}."));
        }
        StaffCommand::ResetPassword { username } => {
            let password = crate::login::ask(
                "SOTIEM_INITIAL_PASSWORD",
                "Mật khẩu ban đầu mới (người dùng phải đổi khi đăng nhập): ",
                true,
            )?;
            let reset = staff::reset_password(client, username, &password).await?;
            out.value(&reset, |r| {
                reset_text(
                    r,
                    &format!(
                        "Đã đặt lại mật khẩu của {username}: lần đăng nhập tới phải đổi mật khẩu (vẫn dùng ứng dụng xác thực cũ)."
                    ),
                )
            });
        }
        StaffCommand::ResetAuthenticator { username } => {
            let reset = staff::reset_authenticator(client, username).await?;
            out.value(&reset, |r| {
                reset_text(
                    r,
                    &format!(
                        "Đã huỷ ứng dụng xác thực của {username}: lần đăng nhập trực tuyến tới sẽ quét mã mới."
                    ),
                )
            });
        }
        StaffCommand::Resets => {
            let list = staff::resets(client).await?;
            out.value(&list, |list| {
                if list.is_empty() {
                    return "Không có lần đặt lại nào trong 30 ngày qua.".to_string();
                }
                list.iter()
                    .map(|r| {
                        format!(
                            "{}\t{}\t{}\t{}\tyêu cầu: {} lúc {}{}",
                            r.id,
                            r.username,
                            r.factor.label(),
                            status_label(r.status),
                            r.requested_by,
                            r.requested_at,
                            r.approved_by
                                .as_deref()
                                .map(|a| format!("; duyệt: {a}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        StaffCommand::ApproveReset { id } => {
            let reset = staff::approve_reset(client, id).await?;
            out.value(&reset, |r| {
                format!(
                    "Đã duyệt: {} của {} được đặt lại (yêu cầu của {}).",
                    r.factor.label(),
                    r.username,
                    r.requested_by
                )
            });
        }
        StaffCommand::SignIns { username } => {
            let events = staff::sign_ins_of(client, username).await?;
            out.value(&events, |e| history_text(e));
        }
    }
    Ok(())
}

/// `sotiem sign-ins`: the signed-in user's own history.
pub async fn own_sign_ins(station: &Station, out: &Output) -> anyhow::Result<()> {
    let connection = crate::login::client(station, &crate::Connection::remembered()).await?;
    let session = station.session();
    let client = staff::as_user(session.as_ref(), &connection)?;
    let events = staff::own_sign_ins(client).await?;
    out.value(&events, |e| history_text(e));
    Ok(())
}

fn history_text(events: &[SignInEvent]) -> String {
    if events.is_empty() {
        return "Chưa có lần đăng nhập nào.".into();
    }
    events
        .iter()
        .map(|e| {
            format!(
                "{}\t{}\t{}\t{}\t{}",
                e.at,
                if e.online {
                    "trực tuyến"
                } else {
                    "ngoại tuyến"
                },
                e.outcome_label(),
                e.detail.as_deref().unwrap_or(""),
                e.device_id.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What became of a reset: done, or waiting for a second person.
fn reset_text(r: &ResetRecord, done: &str) -> String {
    match r.status {
        ResetStatus::Applied => done.to_string(),
        _ => format!(
            "Chưa đặt lại: {} của {} cũng vừa được đặt lại, nên lần này cần người thứ hai duyệt (một thủ trưởng/quản trị khác của cơ sở, hoặc trung tâm y tế huyện) trong 24 giờ. Mã yêu cầu: {}",
            r.factor.other().label(),
            r.username,
            r.id
        ),
    }
}

/// A reset's status in Vietnamese.
fn status_label(s: ResetStatus) -> &'static str {
    match s {
        ResetStatus::Applied => "đã đặt lại",
        ResetStatus::AwaitingApproval => "chờ người thứ hai duyệt",
        ResetStatus::Expired => "hết hạn, không đặt lại",
    }
}
