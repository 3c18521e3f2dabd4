//! The SignIn screen: signing in, a first login's steps, the reset notices shown after.

use super::{App, Result};
use crate::views::{EnrollRequest, InitialPasswordRequest, SignInRequest, SignInStep};
use station::Credentials;

/// Signs in: online when the server answers, else offline on the laptop.
#[tauri::command]
pub async fn sign_in(app: App<'_>, request: SignInRequest) -> Result<SignInStep> {
    let station = app.station().await?;
    let client = app.client();
    let step = station
        .sign_in(
            &Credentials {
                username: request.username,
                password: request.password,
                otp: request.otp,
            },
            client.as_deref(),
        )
        .await;
    if let (Ok(station::SignIn::Done { session }), Some(_)) = (&step, &client) {
        app.set_online(session.online);
    }
    Ok(step?.into())
}

/// Confirms a first login's authenticator with its first code.
#[tauri::command]
pub async fn complete_enrollment(app: App<'_>, request: EnrollRequest) -> Result<SignInStep> {
    let station = app.station().await?;
    let client = app.require_client()?;
    Ok(station
        .complete_enrollment(&client, &request.challenge, &request.otp, &request.password)
        .await?
        .into())
}

/// Sets a first login's new password.
#[tauri::command]
pub async fn change_initial_password(
    app: App<'_>,
    request: InitialPasswordRequest,
) -> Result<SignInStep> {
    let station = app.station().await?;
    let client = app.require_client()?;
    Ok(station
        .change_initial_password(&client, &request.challenge, &request.new_password)
        .await?
        .into())
}

/// The signed-in user has read the resets shown at sign-in.
#[tauri::command]
pub async fn acknowledge_reset_notices(app: App<'_>) -> Result<()> {
    Ok(app.station().await?.acknowledge_reset_notices().await?)
}
