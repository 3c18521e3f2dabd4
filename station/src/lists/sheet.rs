//! A list written as an .xlsx sheet with the constant-memory writer: headers in Vietnamese,
//! dates as Excel dates, one row per person.

use super::{DataList, ListRow, gender_label, id_kind_label, parse_day, verification_label};
use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, Workbook, Worksheet, XlsxError};
use std::path::Path;
use sync_protocol::VIETNAM;
use sync_protocol::person::parse_time;
use time::Date;

/// One list as a worksheet, written row by row in constant-memory mode.
pub(super) struct ListSheet {
    workbook: Workbook,
    list: DataList,
    row: u32,
    date: Format,
    datetime: Format,
}

pub(super) const PERSON_HEADERS: [(&str, f64); 14] = [
    ("STT", 6.0),
    ("Họ và tên", 28.0),
    ("Giới tính", 9.0),
    ("Ngày sinh", 12.0),
    ("Năm sinh", 9.0),
    ("Loại giấy tờ", 12.0),
    ("Số giấy tờ", 16.0),
    ("Điện thoại", 13.0),
    ("Tỉnh/Thành phố", 18.0),
    ("Xã/Phường", 18.0),
    ("Quốc tịch", 9.0),
    ("Cơ sở quản lý", 16.0),
    ("Trạng thái xác thực", 22.0),
    ("Ghi chú", 30.0),
];
pub(super) const DOSE_HEADERS: [(&str, f64); 5] = [
    ("Vắc xin", 18.0),
    ("Số lô", 12.0),
    ("Mũi số", 8.0),
    ("Ngày giờ tiêm", 17.0),
    ("Nơi tiêm", 16.0),
];
/// Kept last so a corrected list can be matched back to the exact record.
pub(super) const ID_HEADER: (&str, f64) = ("Mã hồ sơ (không sửa)", 38.0);

impl ListSheet {
    pub(super) fn new(list: DataList) -> std::result::Result<ListSheet, XlsxError> {
        let mut workbook = Workbook::new();
        let header = Format::new()
            .set_bold()
            .set_text_wrap()
            .set_align(FormatAlign::Center);
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(list.title())?;
        let mut headers: Vec<(&str, f64)> = PERSON_HEADERS.to_vec();
        match list {
            DataList::UnsignedDoses => headers.extend(DOSE_HEADERS),
            DataList::DueNextDose => {
                headers.extend(DOSE_HEADERS);
                headers.push(("Ngày đến hạn", 12.0));
            }
            _ => {}
        }
        headers.push(ID_HEADER);
        for (col, (title, width)) in headers.iter().enumerate() {
            let col = u16::try_from(col).unwrap_or(u16::MAX);
            sheet.set_column_width(col, *width)?;
            sheet.write_with_format(0, col, *title, &header)?;
        }
        let last = u16::try_from(headers.len() - 1).unwrap_or(u16::MAX);
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofilter(0, 0, 0, last)?;
        Ok(ListSheet {
            workbook,
            list,
            row: 0,
            date: Format::new().set_num_format("dd/mm/yyyy"),
            datetime: Format::new().set_num_format("dd/mm/yyyy hh:mm"),
        })
    }

    pub(super) fn sheet(&mut self) -> std::result::Result<&mut Worksheet, XlsxError> {
        self.workbook.worksheet_from_index(0)
    }

    pub(super) fn push(&mut self, r: &ListRow) -> std::result::Result<(), XlsxError> {
        self.row += 1;
        let row = self.row;
        let (date, datetime, list) = (self.date.clone(), self.datetime.clone(), self.list);
        let s = self.sheet()?;
        s.write(row, 0, row)?;
        s.write(row, 1, &r.full_name)?;
        s.write(row, 2, gender_label(&r.gender))?;
        match sync_protocol::BirthDate::parse(&r.birth_date) {
            Ok(sync_protocol::BirthDate::Full(d)) => {
                s.write_with_format(row, 3, &excel_date(d)?, &date)?;
                s.write(row, 4, d.year())?;
            }
            Ok(sync_protocol::BirthDate::Year(y)) => {
                s.write(row, 4, y)?;
            }
            Err(_) => {
                s.write(row, 3, &r.birth_date)?;
            }
        }
        s.write(row, 5, id_kind_label(&r.id_kind))?;
        // Text, never a number: a 12-digit CCCD keeps its leading zero.
        if let Some(n) = &r.id_number {
            s.write_string(row, 6, n)?;
        }
        if let Some(p) = &r.phone {
            s.write_string(row, 7, p)?;
        }
        if let Some(v) = &r.province {
            s.write(row, 8, v)?;
        }
        if let Some(v) = &r.commune {
            s.write(row, 9, v)?;
        }
        s.write(row, 10, &r.nationality)?;
        s.write(row, 11, &r.managing_facility)?;
        s.write(row, 12, verification_label(&r.verification))?;
        s.write(row, 13, &r.note)?;
        let mut col = 14;
        if matches!(list, DataList::UnsignedDoses | DataList::DueNextDose) {
            if let Some(d) = &r.dose {
                s.write(row, 14, &d.vaccine)?;
                s.write_string(row, 15, &d.lot)?;
                s.write(row, 16, d.dose_number)?;
                if let Some(at) = parse_time(&d.given_at) {
                    let at = at.to_offset(VIETNAM);
                    s.write_with_format(row, 17, &excel_datetime(at)?, &datetime)?;
                }
                s.write(row, 18, &d.facility)?;
            }
            col = 19;
            if list == DataList::DueNextDose {
                if let Some(d) = r.due_on.as_deref().and_then(|d| parse_day(d).ok()) {
                    s.write_with_format(row, 19, &excel_date(d)?, &date)?;
                }
                col = 20;
            }
        }
        s.write_string(row, col, r.person_id.to_string())?;
        Ok(())
    }

    pub(super) fn finish(mut self, path: &Path) -> std::result::Result<(), XlsxError> {
        self.workbook.save(path)
    }
}

pub(super) fn excel_date(d: Date) -> std::result::Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_ymd(
        u16::try_from(d.year()).unwrap_or(1900),
        u8::from(d.month()),
        d.day(),
    )
}

pub(super) fn excel_datetime(
    at: time::OffsetDateTime,
) -> std::result::Result<ExcelDateTime, XlsxError> {
    excel_date(at.date())?.and_hms(u16::from(at.hour()), at.minute(), at.second())
}
