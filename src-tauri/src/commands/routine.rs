//! The Routine screen (Tiêm chủng thường xuyên): the due list of a session day, and a person's
//! schedule on the record screen.

use super::{App, Result, uuid};
use crate::error::UiError;
use station::programme::{DueEntry, DueQuery};
use sync_protocol::BirthDate;
use sync_protocol::schedule::PersonSchedule;
use time::Date;

/// A date the UI sends (`yyyy-mm-dd` or `dd/mm/yyyy`); none or empty: today.
fn day(text: Option<&str>) -> Result<Option<Date>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => match BirthDate::parse(t) {
            Ok(BirthDate::Full(d)) => Ok(Some(d)),
            _ => Err(UiError::new(
                "invalid_date",
                format!("ngày \"{t}\" không hợp lệ; nhập dạng dd/mm/yyyy"),
            )),
        },
    }
}

/// Who is due or overdue for a routine dose on `date` (today when absent), in `hamlet` or all.
#[tauri::command]
pub async fn due_list(
    app: App<'_>,
    date: Option<String>,
    hamlet: Option<String>,
) -> Result<Vec<DueEntry>> {
    let query = DueQuery {
        on: day(date.as_deref())?,
        hamlet,
    };
    Ok(app.station().await?.due_list(&query).await?)
}

/// A person's routine schedule today: each series, its doses counted and the next one.
#[tauri::command]
pub async fn person_schedule(app: App<'_>, person_id: String) -> Result<PersonSchedule> {
    Ok(app
        .station()
        .await?
        .schedule_of(uuid(&person_id, "người")?, None)
        .await?)
}
