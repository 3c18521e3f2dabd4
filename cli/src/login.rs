//! Signing in from the command line, and reaching the server.

use crate::render::Output;
use crate::{Connection, LoginArgs};
use station::key;
use station::{Credentials, SignIn, Station, SyncClient, SyncError};
use std::io::IsTerminal;

/// A value from the environment, or asked for on the terminal (hidden when secret).
fn ask(env: &str, prompt: &str, secret: bool) -> anyhow::Result<String> {
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
///
/// A server or device token given on the command line is remembered only once the server has
/// accepted it, so a mistyped token never replaces a working one.
pub async fn client(station: &Station, c: &Connection) -> anyhow::Result<SyncClient> {
    let store_id = station.store().descriptor().store_id.clone();
    let status = station.sync_status().await?;
    let server = match (&c.server, &status.server_url) {
        (Some(s), _) | (None, Some(s)) => s.clone(),
        (None, None) => return Err(SyncError::NotConfigured.into()),
    };
    let token = match &c.token {
        Some(t) => t.clone(),
        None => key::load_secret(&store_id, "device-token")
            .ok()
            .flatten()
            .ok_or(SyncError::NotConfigured)?,
    };
    let ca = match &c.ca_cert {
        Some(p) => Some(
            std::fs::read(p).map_err(|e| anyhow::anyhow!("không đọc được {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let client = SyncClient::new(&server, &token, ca.as_deref())?;
    if c.server.is_some() || c.token.is_some() {
        match client.info().await {
            Ok(_) => {
                if c.server.is_some() {
                    station.set_meta("sync_server_url", Some(&server)).await?;
                }
                // Kept for next time where there is a credential store; else it must be given each time.
                if c.token.is_some()
                    && let Err(e) = key::save_secret(&store_id, "device-token", &token)
                {
                    eprintln!("Cảnh báo: không lưu được mã thiết bị vào kho khoá: {e}");
                }
            }
            // Unreachable now: used for this run, remembered once the server answers.
            Err(e) if e.is_retryable() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(client)
}

/// `sotiem login`, including the steps of a first login.
pub async fn login(station: &mut Station, args: &LoginArgs, out: &Output) -> anyhow::Result<()> {
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
            && local_account_known(station, &username).await
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
    if !matches!(step, SignIn::Done { .. }) && !out.json {
        eprintln!("(chưa đăng nhập xong)");
    }
    Ok(())
}

async fn local_account_known(station: &Station, username: &str) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM local_accounts WHERE username = ?")
        .bind(username.trim().to_lowercase())
        .fetch_one(station.store().pool())
        .await
        .is_ok_and(|n| n > 0)
}

/// `sotiem password`.
pub async fn change_password(
    station: &mut Station,
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

/// A QR code drawn with Unicode half blocks, for scanning from the terminal.
pub fn qr_text(data: &str) -> String {
    match qrcode::QrCode::new(data.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
        Err(_) => data.to_string(),
    }
}
