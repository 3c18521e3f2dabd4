//! The PersonView screen: a person's record, edited, a dose recorded or voided.

use super::{App, Result, uuid};
use crate::views::{EditRequest, RecordDoseRequest, VoidDoseRequest};
use station::PersonRecord;

/// A person's record: details, doses, warnings, conflicts.
#[tauri::command]
pub async fn show_person(app: App<'_>, person_id: String) -> Result<PersonRecord> {
    Ok(app
        .station()
        .await?
        .show(uuid(&person_id, "người")?)
        .await?)
}

/// Edits a person (a fresh code when the change needs step-up); returns the record.
#[tauri::command]
pub async fn edit_person(app: App<'_>, request: EditRequest) -> Result<PersonRecord> {
    let station = app.station().await?;
    let id = uuid(&request.person_id, "người")?;
    let otp = request.otp.filter(|o| !o.trim().is_empty());
    // The server checks the code of an edit that needs one (another facility's person).
    let client = app.client();
    let step_up = otp.as_deref().map(|otp| station::StepUp {
        otp,
        server: client.as_deref(),
    });
    station.edit_person(id, request.edit, step_up).await?;
    Ok(station.show(id).await?)
}

/// Records a dose; returns the person's record.
#[tauri::command]
pub async fn record_dose(app: App<'_>, request: RecordDoseRequest) -> Result<PersonRecord> {
    let station = app.station().await?;
    let id = uuid(&request.person_id, "người")?;
    station.record_dose(id, request.dose).await?;
    Ok(station.show(id).await?)
}

/// Voids a dose with a reason; returns the person's record.
#[tauri::command]
pub async fn void_dose(app: App<'_>, request: VoidDoseRequest) -> Result<PersonRecord> {
    let station = app.station().await?;
    let person = uuid(&request.person_id, "người")?;
    let otp = request.otp.filter(|o| !o.trim().is_empty());
    // The server checks the code that voiding a signed dose needs.
    let client = app.client();
    let step_up = otp.as_deref().map(|otp| station::StepUp {
        otp,
        server: client.as_deref(),
    });
    station
        .void_dose_with(
            uuid(&request.dose_id, "mũi tiêm")?,
            &request.reason,
            step_up,
        )
        .await?;
    Ok(station.show(person).await?)
}
