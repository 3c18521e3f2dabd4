//! The Complaints screen: the inbox, a complaint opened, linked, answered or forwarded.

use super::{App, Result, uuid};
use station::PersonSummary;

/// The complaints inbox: those to answer (by deadline), or all.
#[tauri::command]
pub async fn complaints(
    app: App<'_>,
    filter: station::ComplaintFilter,
) -> Result<Vec<station::ComplaintSummary>> {
    Ok(app.station().await?.complaints(filter).await?)
}

/// Opens a complaint (audited).
#[tauri::command]
pub async fn open_complaint(app: App<'_>, id: String) -> Result<station::ComplaintView> {
    Ok(app.station().await?.complaint(&id).await?)
}

/// The people a complaint may be about (its name with its phone or ID number).
#[tauri::command]
pub async fn complaint_matches(app: App<'_>, id: String) -> Result<Vec<PersonSummary>> {
    Ok(app.station().await?.complaint_matches(&id).await?)
}

/// Links a complaint to a person (or undoes the link).
#[tauri::command]
pub async fn link_complaint(
    app: App<'_>,
    id: String,
    person_id: Option<String>,
) -> Result<station::ComplaintView> {
    let person = person_id.as_deref().map(|p| uuid(p, "người")).transpose()?;
    Ok(app.station().await?.link_complaint(&id, person).await?)
}

/// Answers a complaint; sent at once when the server answers, else at the next sync.
#[tauri::command]
pub async fn answer_complaint(
    app: App<'_>,
    id: String,
    status: sync_protocol::complaints::ComplaintStatus,
    text: String,
) -> Result<station::ComplaintView> {
    let station = app.station().await?;
    let client = app.client();
    Ok(station
        .answer_complaint(client.as_deref(), &id, status, &text)
        .await?)
}

/// Forwards a complaint to another facility with the reason; sent like an answer.
#[tauri::command]
pub async fn forward_complaint(
    app: App<'_>,
    id: String,
    to: String,
    reason: String,
) -> Result<station::ComplaintView> {
    let station = app.station().await?;
    let client = app.client();
    Ok(station
        .forward_complaint(client.as_deref(), &id, &to, &reason)
        .await?)
}

/// Where a complaint can be forwarded (from the server, or the list kept from the last time).
#[tauri::command]
pub async fn complaint_destinations(
    app: App<'_>,
) -> Result<Vec<sync_protocol::complaints::FacilityChoice>> {
    let station = app.station().await?;
    let client = app.client();
    Ok(station.complaint_destinations(client.as_deref()).await?)
}

/// Photo `n` of a complaint as a `data:` URL (the page may show no other outside image).
#[tauri::command]
pub async fn complaint_photo(app: App<'_>, id: String, n: u32) -> Result<String> {
    use base64::Engine;
    let station = app.station().await?;
    let client = app.client();
    let jpeg = station.complaint_photo(client.as_deref(), &id, n).await?;
    Ok(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    ))
}
