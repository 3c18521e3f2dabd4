//! The Session screen: the catalogue, finding or registering the person being vaccinated.

use super::{App, Result};
use station::programme::VaccineEntry;
use station::{PersonInput, PersonRecord, PersonSummary, QrReading, SearchQuery, Station};

/// The products that can be recorded today: the routine programme's, then COVID-19's.
#[tauri::command]
pub async fn catalogue(app: App<'_>) -> Result<Vec<VaccineEntry>> {
    let station = app.station().await?;
    Ok(station.vaccines(station.clock().now().date()))
}

/// Finds people by full name with a phone or an ID number.
#[tauri::command]
pub async fn find_people(app: App<'_>, query: SearchQuery) -> Result<Vec<PersonSummary>> {
    Ok(app.station().await?.find(&query).await?)
}

/// The registration form filled from a scanned CCCD QR code.
#[tauri::command]
pub async fn read_cccd_qr(text: String) -> Result<QrReading> {
    Ok(Station::read_qr(&text)?)
}

/// Registers a person; returns their record.
#[tauri::command]
pub async fn register_person(app: App<'_>, input: PersonInput) -> Result<PersonRecord> {
    let station = app.station().await?;
    let person = station.register_person(input).await?;
    Ok(station.show(person.id).await?)
}
