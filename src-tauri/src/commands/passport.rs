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
) -> Result<crate::views::PrintedPassport> {
    let station = app.station().await?;
    let (pdf, name) = station
        .passport_pdf(uuid(&person_id, "người")?, paper)
        .await?;
    let dir = &app.config.export_dir;
    let io = |source| station::StationError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(name);
    station::files::replace(&path, &pdf)?;
    Ok(crate::views::PrintedPassport {
        path: path.display().to_string(),
        bytes: pdf.len() as u64,
    })
}

/// Checks a scanned or pasted passport offline against the kept trust list.
#[tauri::command]
pub async fn check_passport(app: App<'_>, text: String) -> Result<station::PassportCheck> {
    Ok(app.station().await?.check_passport(&text).await?)
}
