//! Vietnamese text: names stored as typed (NFC), matched through a folded key.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Trims, collapses inner white space and puts the text in NFC, the form names are stored in.
pub fn clean(text: &str) -> String {
    let nfc: String = text.nfc().collect();
    nfc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The search key of a name: lower case, no diacritics, đ/Đ as d, single spaces.
///
/// "Nguyễn Văn An", "NGUYEN VAN AN" and "nguyen  van an" all give "nguyen van an".
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        match c {
            'đ' | 'Đ' => out.push('d'),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The text with its diacritics dropped and its case kept ("Trần Thị Đào" → "Tran Thi Dao"):
/// what a keyboard-wedge scanner on a US layout types for a Vietnamese QR code.
pub fn strip_marks(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}

/// The key that matches names of administrative units however they are written:
/// "TP. Hồ Chí Minh", "Thành phố Hồ Chí Minh" and "ho chi minh" all give "ho chi minh";
/// "Xã Tân Nhựt" and "tan nhut" give "tan nhut".
pub fn admin_unit_key(name: &str) -> String {
    let folded = fold(&name.replace('.', " "));
    let prefixes = [
        "thanh pho ",
        "tp ",
        "tinh ",
        "xa ",
        "phuong ",
        "thi tran ",
        "dac khu ",
    ];
    let mut key = folded.as_str();
    for p in prefixes {
        if let Some(rest) = key.strip_prefix(p) {
            key = rest;
            break;
        }
    }
    key.trim().to_string()
}

/// Keeps only the digits of a string (ID numbers and phones are often typed with separators).
pub fn digits_only(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_removes_case_diacritics_and_d_stroke() {
        assert_eq!(fold("Nguyễn Văn An"), "nguyen van an");
        assert_eq!(fold("ĐẶNG THỊ Hường"), "dang thi huong");
        assert_eq!(fold("  Trần   Đức  "), "tran duc");
        assert_eq!(fold("Lê Thị Ánh Tuyết"), "le thi anh tuyet");
    }

    #[test]
    fn fold_treats_decomposed_input_like_composed() {
        let decomposed: String = "Phạm Ngọc Ý".nfd().collect();
        assert_eq!(fold(&decomposed), fold("Phạm Ngọc Ý"));
    }

    #[test]
    fn administrative_unit_names_match_however_they_are_written() {
        assert_eq!(admin_unit_key("TP. Hồ Chí Minh"), "ho chi minh");
        assert_eq!(admin_unit_key("Thành phố Hồ Chí Minh"), "ho chi minh");
        assert_eq!(admin_unit_key("Hồ Chí Minh"), "ho chi minh");
        assert_eq!(admin_unit_key("Xã Tân Nhựt"), "tan nhut");
        assert_eq!(admin_unit_key("phường Ngọc Hà"), "ngoc ha");
        assert_ne!(admin_unit_key("Xã Tân Nhựt"), admin_unit_key("Xã Tân Túc"));
    }

    #[test]
    fn clean_composes_and_collapses_spaces() {
        let decomposed: String = " Hồ   Thị\tLoan ".nfd().collect();
        let cleaned = clean(&decomposed);
        assert_eq!(cleaned, "Hồ Thị Loan");
        assert!(cleaned.chars().all(|c| !is_combining_mark(c)));
    }
}
