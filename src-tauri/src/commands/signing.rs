//! The Signing screen: the USB token and its certificates, the preview, the signing runs.

use super::{App, Result};
use crate::views::{CertificateView, RegisterCertificateView, SignRunRequest, TokenView};
use station::{BacklogSummary, SigningBatchSummary, SigningPreview, SigningSelection, TokenSigner};

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(sync_protocol::person::format_time)
        .unwrap_or_default()
}

/// The tokens present and their certificates, marked registered / valid for the signer.
#[tauri::command]
pub async fn signing_tokens(app: App<'_>) -> Result<Vec<TokenView>> {
    let station = app.station().await?;
    let account = station.session().map(|s| s.account);
    let module = app.token_module()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut out = Vec::new();
    for token in module.tokens().map_err(station::StationError::from)? {
        let certificates = module
            .certificates(token.slot)
            .map_err(station::StationError::from)?
            .into_iter()
            .map(|c| CertificateView {
                registered: account
                    .as_ref()
                    .is_some_and(|a| station::signing::is_registered(a, &c)),
                valid_now: c.not_before <= now && now <= c.not_after,
                not_before: rfc3339(c.not_before),
                not_after: rfc3339(c.not_after),
                id: c.id,
                subject: c.subject,
                issuer: c.issuer,
                serial: c.serial,
            })
            .collect();
        out.push(TokenView {
            slot: token.slot,
            label: token.label,
            module: module.path.display().to_string(),
            certificates,
        });
    }
    Ok(out)
}

/// Exactly what a run over the selection would sign.
#[tauri::command]
pub async fn signing_preview(app: App<'_>, selection: SigningSelection) -> Result<SigningPreview> {
    Ok(app.station().await?.signing_preview(&selection).await?)
}

/// Signs the previewed doses: one PIN for the whole selection, one token signature per run of
/// at most 1,000 people / 3,000 doses, run after run until done or stopped.
#[tauri::command]
pub async fn sign_run(app: App<'_>, request: SignRunRequest) -> Result<BacklogSummary> {
    let station = app.station().await?;
    let module = app.token_module()?;
    let signer = TokenSigner::choose(
        module.as_ref(),
        request.slot,
        &request.certificate_id,
        request.pin,
    )?;
    Ok(station
        .sign_backlog(&request.selection, request.expected_doses as usize, &signer)
        .await?)
}

/// Stops signing after the run in progress (the runs signed are kept).
#[tauri::command]
pub async fn cancel_signing(app: App<'_>) -> Result<()> {
    app.station().await?.cancel_signing();
    Ok(())
}

/// Registers a certificate of the token on the signed-in signer's account (the token signs a
/// statement with the PIN; a fresh code is needed). Returns the serials now registered.
#[tauri::command]
pub async fn register_certificate(
    app: App<'_>,
    request: RegisterCertificateView,
) -> Result<Vec<String>> {
    Ok(register_certificate_on_account(app, request)
        .await?
        .into_iter()
        .map(|c| c.serial)
        .collect())
}

async fn register_certificate_on_account(
    app: App<'_>,
    request: RegisterCertificateView,
) -> Result<Vec<sync_protocol::auth::RegisteredCertificate>> {
    let station = app.station().await?;
    let client = app.require_client()?;
    let module = app.token_module()?;
    let signer = TokenSigner::choose(
        module.as_ref(),
        request.slot,
        &request.certificate_id,
        request.pin,
    )?;
    Ok(station
        .register_certificate(&client, &signer, &request.otp)
        .await?)
}

/// The signing runs made on this station.
#[tauri::command]
pub async fn signing_batches(app: App<'_>) -> Result<Vec<SigningBatchSummary>> {
    Ok(app.station().await?.signing_batches().await?)
}
