//! The Report screen: the report of one day.

use super::{App, Result};
use crate::error::UiError;
use station::DailyReport;

/// The report of one day (`yyyy-mm-dd`, today at +07:00 when absent).
#[tauri::command]
pub async fn daily_report(app: App<'_>, date: Option<String>) -> Result<DailyReport> {
    let day = match date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| {
                UiError::new(
                    "date_format",
                    format!("ngày {d} không hợp lệ: chọn ngày theo dạng ngày/tháng/năm"),
                )
            })?,
        None => sync_protocol::person::now().date(),
    };
    Ok(app.station().await?.daily_report(day).await?)
}
