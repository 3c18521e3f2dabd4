//! Vaccine passports: a person's (PersonView) status and printout; the Passport screen's check.

use super::{App, Result, uuid};

/// A person's vaccine passports (the valid one and earlier ones).
#[tauri::command]
pub async fn passport_status(app: App<'_>, person_id: String) -> Result<station::PassportStatus> {
    Ok(app
        .station()
        .await?
        .passport_status(uuid(&person_id, "người")?)
        .await?)
}

/// Prints a person's valid passport to a PDF in the export folder and says where.
#[tauri::command]
pub async fn print_passport(
    app: App<'_>,
    person_id: String,
    paper: station::Paper,
) -> Result<crate::views::PrintedFile> {
    let station = app.station().await?;
    let (pdf, name) = station
        .passport_pdf(uuid(&person_id, "người")?, paper)
        .await?;
    super::save_export(&app, &name, &pdf)
}

/// Checks a scanned or pasted passport offline against the kept trust list.
#[tauri::command]
pub async fn check_passport(app: App<'_>, text: String) -> Result<station::PassportCheck> {
    Ok(app.station().await?.check_passport(&text).await?)
}
