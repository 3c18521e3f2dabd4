//! Spreadsheets brought from outside (the police's registry file, a corrected list): the first
//! sheet of an .xlsx, or a CSV (UTF-8, comma or semicolon), read as rows of text. Text typed in
//! the legacy TCVN3 (ABC) or VNI encodings is recognised so callers can refuse it clearly
//! instead of storing garbled names.

use std::path::{Path, PathBuf};

/// A file that cannot be read as a table.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("không đọc được tệp {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "tệp {path} được gõ bằng bảng mã cũ {}: chữ Việt sẽ bị sai. Hãy chuyển tệp sang Unicode (ví dụ Unikey → Công cụ chuyển mã, nguồn {}, đích Unicode) rồi làm lại",
        .encoding.name(), .encoding.name()
    )]
    LegacyEncoding {
        path: PathBuf,
        encoding: LegacyEncoding,
    },
    #[error(
        "tệp CSV {path} không ở mã UTF-8: trong Excel chọn Lưu thành \"CSV UTF-8\" rồi làm lại"
    )]
    NotUtf8 { path: PathBuf },
}

/// Legacy Vietnamese encodings of old spreadsheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyEncoding {
    /// TCVN3 (ABC, fonts `.VnTime`): one byte per letter, shown as `NguyÔn V¨n An`.
    Tcvn3,
    /// VNI Windows (fonts `VNI-Times`): a letter then its marks, shown as `Nguyeãn Vaên An`.
    Vni,
}

impl LegacyEncoding {
    /// Its name as users know it.
    pub fn name(self) -> &'static str {
        match self {
            LegacyEncoding::Tcvn3 => "TCVN3 (ABC)",
            LegacyEncoding::Vni => "VNI Windows",
        }
    }
}

/// Which legacy encoding `text` was typed in, if any. Neither mark set occurs in Vietnamese
/// written in Unicode: TCVN3 puts letters on Latin-1 symbols (`¨` is ă, `®` is đ, `µ` is à),
/// VNI spells tones with Latin-1 letters after the vowel (`ø` huyền, `û` hỏi, `ï` nặng).
pub fn detect_legacy(text: &str) -> Option<LegacyEncoding> {
    const VNI: &[char] = &['ø', 'û', 'ï', 'ö', 'å', 'ë', 'Ø', 'Û', 'Ï', 'Ö', 'Å', 'Ë'];
    if text.chars().any(|c| ('¡'..='¾').contains(&c)) {
        return Some(LegacyEncoding::Tcvn3);
    }
    if text.chars().any(|c| VNI.contains(&c)) {
        return Some(LegacyEncoding::Vni);
    }
    None
}

/// A spreadsheet cell as text: whole numbers without a decimal part (an ID typed as a number
/// keeps all its digits), dates as `yyyy-mm-dd`.
pub fn cell_text(cell: &calamine::Data) -> String {
    use calamine::Data;
    match cell {
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Int(i) => i.to_string(),
        Data::DateTime(d) => excel_day(d.as_f64()).unwrap_or_else(|| d.to_string()),
        Data::DateTimeIso(s) => s.get(..10).unwrap_or(s).to_string(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// An Excel serial day (1900 system: day 0 is 30/12/1899) as `yyyy-mm-dd`.
fn excel_day(serial: f64) -> Option<String> {
    let epoch = time::Date::from_calendar_date(1899, time::Month::December, 30).ok()?;
    let day = epoch.checked_add(time::Duration::days(serial.floor() as i64))?;
    Some(day.to_string())
}

/// The rows of the first sheet (.xlsx) or of a CSV file, header first, each cell as text.
/// Refuses text in a legacy encoding and CSV that is not UTF-8.
pub fn read_table(path: &Path) -> Result<Vec<Vec<String>>, SheetError> {
    let bytes = std::fs::read(path).map_err(|e| SheetError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    read_table_from(path, &bytes)
}

/// [`read_table`] of a file's content held in memory (never written to disk); `name` gives
/// the kind (.xlsx or CSV) and names the file in errors.
pub fn read_table_from(name: &Path, bytes: &[u8]) -> Result<Vec<Vec<String>>, SheetError> {
    let path = name;
    let unreadable = |reason: String| SheetError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let is_xlsx = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    let table: Vec<Vec<String>> = if is_xlsx {
        use calamine::Reader;
        let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes))
            .map_err(|e: calamine::XlsxError| unreadable(e.to_string()))?;
        let range = book
            .worksheet_range_at(0)
            .ok_or_else(|| unreadable("không có trang tính nào".into()))?
            .map_err(|e| unreadable(e.to_string()))?;
        range
            .rows()
            .map(|r| r.iter().map(cell_text).collect())
            .collect()
    } else {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let Ok(text) = std::str::from_utf8(bytes) else {
            // Single-byte legacy text: read byte for byte to name the encoding.
            let latin1: String = bytes.iter().map(|&b| char::from(b)).collect();
            return Err(match detect_legacy(&latin1) {
                Some(encoding) => SheetError::LegacyEncoding {
                    path: path.to_path_buf(),
                    encoding,
                },
                None => SheetError::NotUtf8 {
                    path: path.to_path_buf(),
                },
            });
        };
        let first = text.lines().next().unwrap_or("");
        let delimiter = if first.matches(';').count() > first.matches(',').count() {
            b';'
        } else {
            b','
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| unreadable(e.to_string()))?;
            rows.push(record.iter().map(str::to_string).collect());
        }
        rows
    };
    if let Some(encoding) = table.iter().flatten().find_map(|c| detect_legacy(c)) {
        return Err(SheetError::LegacyEncoding {
            path: path.to_path_buf(),
            encoding,
        });
    }
    Ok(table)
}

/// An ID number as typed in a sheet, with the leading zeros a number cell dropped put back:
/// every CCCD starts with its 0-prefixed province code (12 digits), an old CMND has 9 digits.
pub fn id_number(text: &str) -> String {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        match t.len() {
            10 | 11 => return format!("{t:0>12}"),
            8 => return format!("{t:0>9}"),
            _ => {}
        }
    }
    t.to_string()
}

/// Whether a row holds nothing.
pub fn is_blank(row: &[String]) -> bool {
    row.iter().all(|c| c.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_vietnamese_is_not_taken_for_a_legacy_encoding() {
        for name in [
            "Nguyễn Văn An",
            "Đặng Thị Hường",
            "Hoà Thuý Khoá",
            "H'Hen Niê",
            "Trần Ngọc Ánh",
        ] {
            assert_eq!(detect_legacy(name), None, "{name}");
        }
    }

    #[test]
    fn tcvn3_and_vni_names_are_recognised() {
        // "Nguyễn Văn Đức" and "Trần Thị Hoà" as they look in TCVN3 and in VNI.
        assert_eq!(detect_legacy("NguyÔn V¨n §øc"), Some(LegacyEncoding::Tcvn3));
        assert_eq!(detect_legacy("TrÇn ThÞ Hoµ"), Some(LegacyEncoding::Tcvn3));
        assert_eq!(
            detect_legacy("Nguyeãn Vaên Ñöùc"),
            Some(LegacyEncoding::Vni)
        );
        assert_eq!(detect_legacy("Traàn Thò Hoaø"), Some(LegacyEncoding::Vni));
    }

    #[test]
    fn id_numbers_get_back_the_zeros_a_number_cell_dropped() {
        assert_eq!(id_number("79090001234"), "079090001234");
        assert_eq!(id_number("1090001234"), "001090001234");
        assert_eq!(id_number("23456789"), "023456789");
        assert_eq!(id_number(" 079090001234 "), "079090001234");
        assert_eq!(id_number("B1234567"), "B1234567");
    }

    #[test]
    fn excel_serial_days_are_calendar_days() {
        assert_eq!(excel_day(45_000.0).as_deref(), Some("2023-03-15"));
        assert_eq!(excel_day(32_874.75).as_deref(), Some("1990-01-01"));
    }

    #[test]
    fn a_csv_saved_by_excel_on_windows_reads_like_any_other() {
        // Excel's "CSV UTF-8" on a Vietnamese Windows: a byte-order mark, semicolons, CRLF line
        // ends, a quoted cell with a line break, in a folder named with spaces and diacritics.
        let root = std::env::temp_dir().join(format!("sotiem-sheets-crlf-{}", std::process::id()));
        let dir = root.join("Danh sách của trạm");
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("Người cần tiêm.csv");
        std::fs::write(
            &path,
            "\u{FEFF}Họ và tên;Ngày sinh;Địa chỉ\r\nNguyễn Văn An;02/03/1985;\"Số 12\r\nẤp 3\"\r\nTrần Thị Bích Ngọc;15/07/1990;\r\n",
        )
        .expect("written");
        let rows = read_table(&path).expect("reads");
        assert_eq!(rows[0], vec!["Họ và tên", "Ngày sinh", "Địa chỉ"]);
        assert_eq!(
            rows[1],
            vec!["Nguyễn Văn An", "02/03/1985", "Số 12\r\nẤp 3"]
        );
        assert_eq!(rows[2], vec!["Trần Thị Bích Ngọc", "15/07/1990", ""]);
        assert_eq!(rows.len(), 3);
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn a_legacy_csv_is_refused_naming_its_encoding() {
        let dir = std::env::temp_dir().join(format!("sotiem-sheets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("cu.csv");
        // "Nguyễn" in TCVN3 bytes: N g u y Ô(0xD4) n.
        std::fs::write(&path, b"Ho va ten\nNguy\xd4n V\xa8n An\n").expect("written");
        match read_table(&path) {
            Err(e @ SheetError::LegacyEncoding { .. }) => assert!(e.to_string().contains("TCVN3")),
            other => panic!("expected a refusal, got {other:?}"),
        }
        std::fs::write(&path, "Họ và tên;Ngày sinh\nNguyễn Văn An;01/02/1990\n").expect("written");
        let rows = read_table(&path).expect("reads");
        assert_eq!(rows[1], vec!["Nguyễn Văn An", "01/02/1990"]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
