//! Signing in from the command line, and reaching the server.

use crate::render::Output;
use clap::Args;
use station::{Credentials, SignIn, Station, SyncClient, SyncError};
use std::io::IsTerminal;
use std::path::PathBuf;

/// How to reach the central server.
#[derive(Args, Clone)]
pub struct Connection {
    /// The server's address, e.g. https://tiemchung.soyte.example (remembered).
    #[arg(long, env = "SOTIEM_SERVER")]
    pub server: Option<String>,
    /// The device token from the server administrator (kept in the OS credential store).
    #[arg(long, env = "SOTIEM_DEVICE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// An extra trusted root certificate (PEM), for a server with a private CA.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
}

impl Connection {
    /// The server and device token earlier runs remembered.
    pub fn remembered() -> Connection {
        Connection {
            server: None,
            token: None,
            ca_cert: None,
        }
    }
}

#[derive(Args)]
pub struct LoginArgs {
    /// The account's username.
    #[arg(long, env = "SOTIEM_USER")]
    user: Option<String>,
    /// Confirm a first login's authenticator (the challenge the first step printed).
    #[arg(long, conflicts_with = "change_password")]
    enroll: Option<String>,
    /// Set a first login's new password (the challenge the previous step printed).
    #[arg(long)]
    change_password: Option<String>,
    /// Sign in on this laptop only, without trying the server.
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    connection: Connection,
}

/// A value from the environment, or asked for on the terminal (hidden when secret).
pub fn ask(env: &str, prompt: &str, secret: bool) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(env)
        && !v.is_empty()
    {
        return Ok(v);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "thiếu {env}: đặt biến môi trường này hoặc chạy trong cửa sổ dòng lệnh để được hỏi"
        );
    }
    if secret {
        Ok(rpassword::prompt_password(prompt)?)
    } else {
        eprint!("{prompt}");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim().to_string())
    }
}

/// A client for the configured server: from the options, else what earlier runs remembered.
pub async fn client(station: &Station, c: &Connection) -> anyhow::Result<SyncClient> {
    let ca = read_ca(c)?;
    Ok(station
        .connect(c.server.as_deref(), c.token.as_deref(), ca.as_deref())
        .await?)
}

/// A client for the server earlier runs remembered, if there is one (for the server's checks
/// of a fresh code, sign-out).
pub async fn remembered_client(station: &Station) -> Option<SyncClient> {
    station.connect(None, None, None).await.ok()
}

/// The extra trusted root certificate given with `--ca-cert`, if any.
pub fn read_ca(c: &Connection) -> anyhow::Result<Option<Vec<u8>>> {
    c.ca_cert
        .as_ref()
        .map(|p| {
            std::fs::read(p).map_err(|e| anyhow::anyhow!("không đọc được {}: {e}", p.display()))
        })
        .transpose()
}

/// `sotiem login`, including the steps of a first login.
pub async fn login(station: &Station, args: &LoginArgs, out: &Output) -> anyhow::Result<()> {
    let client = if args.offline {
        None
    } else {
        client(station, &args.connection).await.ok()
    };
    let step = if let Some(challenge) = &args.enroll {
        let client = client.ok_or(SyncError::NotConfigured)?;
        let otp = ask("SOTIEM_OTP", "Mã từ ứng dụng xác thực: ", false)?;
        let password = ask("SOTIEM_PASSWORD", "Mật khẩu: ", true)?;
        station
            .complete_enrollment(&client, challenge, &otp, &password)
            .await?
    } else if let Some(challenge) = &args.change_password {
        let client = client.ok_or(SyncError::NotConfigured)?;
        let new_password = ask("SOTIEM_NEW_PASSWORD", "Mật khẩu mới: ", true)?;
        station
            .change_initial_password(&client, challenge, &new_password)
            .await?
    } else {
        let username = match &args.user {
            Some(u) => u.clone(),
            None => ask("SOTIEM_USER", "Tên đăng nhập: ", false)?,
        };
        let password = ask("SOTIEM_PASSWORD", "Mật khẩu: ", true)?;
        // A first login has no code yet; the server then asks to enrol an authenticator.
        let otp = std::env::var("SOTIEM_OTP").unwrap_or_default();
        let otp = if otp.is_empty()
            && std::io::stdin().is_terminal()
            && matches!(station.has_offline_account(&username).await, Ok(true))
        {
            ask("SOTIEM_OTP", "Mã xác thực (6 số): ", false)?
        } else {
            otp
        };
        station
            .sign_in(
                &Credentials {
                    username,
                    password,
                    otp,
                },
                client.as_ref(),
            )
            .await?
    };
    out.sign_in(&step);
    match &step {
        // Told once on this laptop (the JSON answer carries them for a script to show).
        SignIn::Done { .. } => station.acknowledge_reset_notices().await?,
        _ if !out.json => eprintln!("(chưa đăng nhập xong)"),
        _ => {}
    }
    Ok(())
}

/// `sotiem password`.
pub async fn change_password(
    station: &Station,
    c: &Connection,
    out: &Output,
) -> anyhow::Result<()> {
    let client = client(station, c).await?;
    let old = ask("SOTIEM_PASSWORD", "Mật khẩu hiện tại: ", true)?;
    let otp = ask("SOTIEM_OTP", "Mã xác thực: ", false)?;
    let new_password = ask("SOTIEM_NEW_PASSWORD", "Mật khẩu mới: ", true)?;
    station
        .change_password(&client, &old, &otp, &new_password)
        .await?;
    out.message("Đã đổi mật khẩu.");
    Ok(())
}
