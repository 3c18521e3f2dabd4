//! Offline checks of identity numbers and phones (docs/design.md §4), and the CCCD QR code.

use crate::error::{Field, FieldError, Problem};
use crate::person::{BirthDate, Gender, Identity, IdentityKind};
use crate::text;

/// Province-of-birth codes, the first three digits of a CCCD (Thông tư 07/2016/TT-BCA, 63 units).
pub const BIRTH_PROVINCES: [(&str, &str); 63] = [
    ("001", "Hà Nội"),
    ("002", "Hà Giang"),
    ("004", "Cao Bằng"),
    ("006", "Bắc Kạn"),
    ("008", "Tuyên Quang"),
    ("010", "Lào Cai"),
    ("011", "Điện Biên"),
    ("012", "Lai Châu"),
    ("014", "Sơn La"),
    ("015", "Yên Bái"),
    ("017", "Hoà Bình"),
    ("019", "Thái Nguyên"),
    ("020", "Lạng Sơn"),
    ("022", "Quảng Ninh"),
    ("024", "Bắc Giang"),
    ("025", "Phú Thọ"),
    ("026", "Vĩnh Phúc"),
    ("027", "Bắc Ninh"),
    ("030", "Hải Dương"),
    ("031", "Hải Phòng"),
    ("033", "Hưng Yên"),
    ("034", "Thái Bình"),
    ("035", "Hà Nam"),
    ("036", "Nam Định"),
    ("037", "Ninh Bình"),
    ("038", "Thanh Hoá"),
    ("040", "Nghệ An"),
    ("042", "Hà Tĩnh"),
    ("044", "Quảng Bình"),
    ("045", "Quảng Trị"),
    ("046", "Thừa Thiên Huế"),
    ("048", "Đà Nẵng"),
    ("049", "Quảng Nam"),
    ("051", "Quảng Ngãi"),
    ("052", "Bình Định"),
    ("054", "Phú Yên"),
    ("056", "Khánh Hoà"),
    ("058", "Ninh Thuận"),
    ("060", "Bình Thuận"),
    ("062", "Kon Tum"),
    ("064", "Gia Lai"),
    ("066", "Đắk Lắk"),
    ("067", "Đắk Nông"),
    ("068", "Lâm Đồng"),
    ("070", "Bình Phước"),
    ("072", "Tây Ninh"),
    ("074", "Bình Dương"),
    ("075", "Đồng Nai"),
    ("077", "Bà Rịa - Vũng Tàu"),
    ("079", "Hồ Chí Minh"),
    ("080", "Long An"),
    ("082", "Tiền Giang"),
    ("083", "Bến Tre"),
    ("084", "Trà Vinh"),
    ("086", "Vĩnh Long"),
    ("087", "Đồng Tháp"),
    ("089", "An Giang"),
    ("091", "Kiên Giang"),
    ("092", "Cần Thơ"),
    ("093", "Hậu Giang"),
    ("094", "Sóc Trăng"),
    ("095", "Bạc Liêu"),
    ("096", "Cà Mau"),
];

/// The province a CCCD's first three digits say the holder was born in.
pub fn birth_province(code: &str) -> Option<&'static str> {
    BIRTH_PROVINCES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// The fourth CCCD digit for a gender and a birth year: even for men, odd for women,
/// 0/1 for the 1900s, 2/3 for the 2000s, 4/5 for the 2100s, 6/7 2200s, 8/9 the 1800s.
pub fn gender_century_digit(gender: Gender, year: i32) -> Option<u8> {
    let century_base = match year.div_euclid(100) {
        19 => 0,
        20 => 2,
        21 => 4,
        22 => 6,
        18 => 8,
        _ => return None,
    };
    Some(century_base + u8::from(gender == Gender::Female))
}

/// Checks a 12-digit CCCD against the holder's gender and birth year.
pub fn check_cccd(number: &str, gender: Gender, birth: BirthDate) -> Result<(), FieldError> {
    let err = |problem| FieldError::new(Field::IdNumber, problem);
    if number.len() != 12 || !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(err(Problem::CccdLength));
    }
    let province = &number[0..3];
    if birth_province(province).is_none() {
        return Err(err(Problem::CccdProvince {
            code: province.to_string(),
        }));
    }
    let year = birth.year();
    let digit = number.as_bytes()[3] - b'0';
    if let Some(expected) = gender_century_digit(gender, year)
        && digit != expected
    {
        return Err(err(Problem::CccdGenderCentury {
            digit: char::from(b'0' + digit),
            expected: format!(
                "{expected} ({} sinh năm {year})",
                gender.label().to_lowercase()
            ),
        }));
    }
    let year_digits = &number[4..6];
    if year_digits != format!("{:02}", year.rem_euclid(100)) {
        return Err(err(Problem::CccdBirthYear {
            digits: year_digits.to_string(),
            year,
        }));
    }
    Ok(())
}

/// Checks a CMND (the old ID card): 9 or 12 digits.
pub fn check_cmnd(number: &str) -> Result<(), FieldError> {
    if (number.len() == 9 || number.len() == 12) && number.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(FieldError::new(Field::IdNumber, Problem::CmndLength))
    }
}

/// Checks a passport number: 6 to 20 Latin letters or digits (stored upper case).
pub fn check_passport(number: &str) -> Result<(), FieldError> {
    if (6..=20).contains(&number.len()) && number.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(FieldError::new(Field::IdNumber, Problem::PassportFormat))
    }
}

/// Cleans a typed identity number (spaces, dots and dashes removed; passports upper case) and
/// checks it for its kind against the holder's gender and birth date.
pub fn normalize_identity(
    kind: IdentityKind,
    number: Option<&str>,
    gender: Gender,
    birth: BirthDate,
) -> Result<Identity, FieldError> {
    let raw = number.map(str::trim).filter(|n| !n.is_empty());
    match (kind, raw) {
        (IdentityKind::None, _) => Ok(Identity::none()),
        (_, None) => Err(FieldError::new(Field::IdNumber, Problem::Required)),
        (IdentityKind::Cccd, Some(n)) => {
            let n = strip_separators(n);
            check_cccd(&n, gender, birth)?;
            Ok(Identity {
                kind,
                number: Some(n),
            })
        }
        (IdentityKind::Cmnd, Some(n)) => {
            let n = strip_separators(n);
            check_cmnd(&n)?;
            Ok(Identity {
                kind,
                number: Some(n),
            })
        }
        (IdentityKind::Passport, Some(n)) => {
            let n = strip_separators(n).to_ascii_uppercase();
            check_passport(&n)?;
            Ok(Identity {
                kind,
                number: Some(n),
            })
        }
    }
}

/// Checks an identity already in a document (no gender/birth cross-check for CMND/passport).
pub fn check_identity(
    identity: &Identity,
    gender: Gender,
    birth: BirthDate,
) -> Result<(), FieldError> {
    match (identity.kind, identity.number.as_deref()) {
        (IdentityKind::None, None) => Ok(()),
        (IdentityKind::None, Some(_)) => Err(FieldError::new(
            Field::IdentityKind,
            Problem::Choice {
                allowed: "cccd, cmnd, passport",
            },
        )),
        (_, None) => Err(FieldError::new(Field::IdNumber, Problem::Required)),
        (IdentityKind::Cccd, Some(n)) => check_cccd(n, gender, birth),
        (IdentityKind::Cmnd, Some(n)) => check_cmnd(n),
        (IdentityKind::Passport, Some(n)) => check_passport(n),
    }
}

fn strip_separators(n: &str) -> String {
    n.chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .collect()
}

/// Normalises a Vietnamese phone number: separators removed, +84/84 turned into 0; a mobile
/// has 10 digits (03/05/07/08/09), a landline 11 digits starting with 02.
pub fn normalize_phone(text: &str) -> Result<String, FieldError> {
    let err = || FieldError::new(Field::Phone, Problem::PhoneFormat);
    let t = text.trim();
    if t.chars().any(|c| {
        !(c.is_ascii_digit() || c.is_whitespace() || matches!(c, '+' | '.' | '-' | '(' | ')'))
    }) || t.chars().skip(1).any(|c| c == '+')
    {
        return Err(err());
    }
    let digits = text::digits_only(t);
    let national = if let Some(rest) = digits
        .strip_prefix("84")
        .filter(|_| t.starts_with('+') || digits.len() == 11 || digits.len() == 12)
    {
        // "+84 0912 …" is a common way of writing it too.
        format!("0{}", rest.strip_prefix('0').unwrap_or(rest))
    } else if t.starts_with('+') {
        return Err(err());
    } else {
        digits
    };
    let mobile = national.len() == 10
        && matches!(
            &national[..2.min(national.len())],
            "03" | "05" | "07" | "08" | "09"
        );
    let landline = national.len() == 11 && national.starts_with("02");
    if mobile || landline {
        Ok(national)
    } else {
        Err(err())
    }
}

/// What a CCCD QR code holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CccdQr {
    pub cccd: String,
    pub old_cmnd: Option<String>,
    pub full_name: String,
    pub birth_date: BirthDate,
    pub gender: Gender,
    pub address: String,
    pub issued_on: Option<BirthDate>,
    /// The name or address came without its Vietnamese diacritics (a keyboard-wedge scanner on
    /// a US layout): what was read must not be registered as it is.
    pub diacritics_lost: bool,
}

/// Family names as a scanner that drops diacritics types them ("Nguyễn" → "Nguyen"); names
/// this common are read as a sign that the rest lost its marks too.
const STRIPPED_FAMILY_NAMES: [&str; 15] = [
    "nguyen", "tran", "le", "pham", "hoang", "huynh", "vu", "vo", "dang", "bui", "do", "ho", "ngo",
    "duong", "ly",
];

/// Whether a scanned name and address have lost their diacritics: the address has none at all
/// (Vietnamese addresses always carry some: "Xã", "Phường", "Tỉnh"…), or the name is plain ASCII
/// and begins with a common family name that is written with marks.
pub fn diacritics_lost(full_name: &str, address: &str) -> bool {
    let plain = |t: &str| t.is_ascii();
    let letters = |t: &str| t.chars().any(|c| c.is_alphabetic());
    let address_plain = letters(address) && plain(address);
    let family = full_name
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_lowercase();
    let name_plain = plain(full_name) && STRIPPED_FAMILY_NAMES.contains(&family.as_str());
    address_plain || name_plain
}

/// Parses the text of a CCCD QR code: `id|old_id|name|ddmmyyyy|gender|address|ddmmyyyy`, or the
/// six-field variant without the old ID. Checks the CCCD against the gender and birth year.
/// Newer cards add fields after these (kept out) and some scanners end with a separator.
pub fn parse_cccd_qr(raw: &str) -> Result<CccdQr, FieldError> {
    // Keyboard-wedge scanners add CR/LF and sometimes a BOM; strip them before splitting.
    let t = raw
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .replace(['\r', '\n'], "");
    let mut parts: Vec<&str> = t.split('|').map(str::trim).collect();
    if parts.len() > 6 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop(); // a trailing separator
    }
    // The second field is the old ID (digits, or empty) in the seven-field layout, the name in
    // the six-field one; whatever follows the layout's last field is a newer card's addition.
    let old_id_slot = parts
        .get(1)
        .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    let (cccd, old, rest) = match parts.len() {
        n if n >= 7 && old_id_slot => (parts[0], Some(parts[1]), &parts[2..7]),
        n if n >= 6 && !old_id_slot => (parts[0], None, &parts[1..6]),
        found => {
            return Err(FieldError::new(
                Field::CccdQr,
                Problem::QrFieldCount { found },
            ));
        }
    };
    let offset = if old.is_some() { 2 } else { 1 };
    let field_err = |index: usize, e: FieldError| {
        FieldError::new(
            Field::CccdQr,
            Problem::QrField {
                position: index + 1,
                reason: format!("{}: {}", e.field.label(), e.problem),
            },
        )
    };
    let full_name = text::clean(rest[0]);
    if full_name.is_empty() {
        return Err(field_err(
            offset,
            FieldError::new(Field::FullName, Problem::Required),
        ));
    }
    let birth_date = BirthDate::parse(rest[1]).map_err(|e| field_err(offset + 1, e))?;
    let gender = Gender::parse(rest[2]).map_err(|e| field_err(offset + 2, e))?;
    let address = text::clean(rest[3]);
    let issued_on = if rest[4].is_empty() {
        None
    } else {
        Some(
            BirthDate::parse(rest[4])
                .map_err(|e| field_err(offset + 4, FieldError::new(Field::CccdQr, e.problem)))?,
        )
    };
    check_cccd(cccd, gender, birth_date).map_err(|e| field_err(0, e))?;
    let old_cmnd = match old.filter(|o| !o.is_empty()) {
        Some(o) => {
            check_cmnd(o).map_err(|e| field_err(1, e))?;
            Some(o.to_string())
        }
        None => None,
    };
    Ok(CccdQr {
        cccd: cccd.to_string(),
        old_cmnd,
        diacritics_lost: diacritics_lost(&full_name, &address),
        full_name,
        birth_date,
        gender,
        address,
        issued_on,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn full(y: i32, m: u8, d: u8) -> BirthDate {
        BirthDate::Full(
            time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap(),
        )
    }

    #[test]
    fn there_are_63_distinct_birth_province_codes() {
        let mut codes: Vec<_> = BIRTH_PROVINCES.iter().map(|(c, _)| *c).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 63);
        assert_eq!(birth_province("079"), Some("Hồ Chí Minh"));
        assert_eq!(birth_province("003"), None);
    }

    #[test]
    fn cccd_of_a_man_born_in_1985_in_hanoi_is_accepted() {
        assert!(check_cccd("001085012345", Gender::Male, full(1985, 3, 2)).is_ok());
    }

    #[test]
    fn cccd_of_a_woman_born_in_2003_in_ho_chi_minh_city_is_accepted() {
        assert!(check_cccd("079303004321", Gender::Female, BirthDate::Year(2003)).is_ok());
    }

    #[test]
    fn cccd_of_a_man_born_in_1999_in_can_tho_is_accepted() {
        assert!(check_cccd("092099123456", Gender::Male, full(1999, 12, 31)).is_ok());
    }

    #[test]
    fn cccd_with_gender_digit_of_the_other_gender_is_refused() {
        let e = check_cccd("001185012345", Gender::Male, full(1985, 3, 2)).unwrap_err();
        assert_eq!(e.field, Field::IdNumber);
        assert!(matches!(
            e.problem,
            Problem::CccdGenderCentury { digit: '1', .. }
        ));
        assert!(e.to_string().contains("phải là 0"), "{e}");
    }

    #[test]
    fn cccd_with_century_digit_of_the_wrong_century_is_refused() {
        // A woman born in 2001 must have 3, not 1 (1900s).
        let e = check_cccd("036101009876", Gender::Female, full(2001, 7, 9)).unwrap_err();
        assert!(matches!(
            e.problem,
            Problem::CccdGenderCentury { digit: '1', .. }
        ));
    }

    #[test]
    fn cccd_with_wrong_birth_year_digits_is_refused() {
        let e = check_cccd("001086012345", Gender::Male, full(1985, 3, 2)).unwrap_err();
        assert_eq!(
            e.problem,
            Problem::CccdBirthYear {
                digits: "86".into(),
                year: 1985
            }
        );
    }

    #[test]
    fn cccd_with_unknown_province_code_is_refused() {
        // 003 was never assigned; 097+ do not exist.
        for bad in ["003085012345", "097085012345", "000085012345"] {
            let e = check_cccd(bad, Gender::Male, full(1985, 3, 2)).unwrap_err();
            assert!(matches!(e.problem, Problem::CccdProvince { .. }), "{bad}");
        }
    }

    #[test]
    fn cccd_must_have_exactly_12_digits() {
        for bad in ["00108501234", "0010850123456", "00108501234a", ""] {
            assert_eq!(
                check_cccd(bad, Gender::Male, full(1985, 3, 2))
                    .unwrap_err()
                    .problem,
                Problem::CccdLength,
                "{bad}"
            );
        }
    }

    #[test]
    fn cmnd_has_9_or_12_digits() {
        assert!(check_cmnd("024567891").is_ok());
        assert!(check_cmnd("024567891234").is_ok());
        assert!(check_cmnd("0245678912").is_err());
        assert!(check_cmnd("02456789A").is_err());
    }

    #[test]
    fn identity_numbers_are_cleaned_before_checking() {
        let id = normalize_identity(
            IdentityKind::Cccd,
            Some(" 001 085 012 345 "),
            Gender::Male,
            full(1985, 3, 2),
        )
        .unwrap();
        assert_eq!(id.number.as_deref(), Some("001085012345"));
        let p = normalize_identity(
            IdentityKind::Passport,
            Some("c1234567"),
            Gender::Male,
            BirthDate::Year(1990),
        )
        .unwrap();
        assert_eq!(p.number.as_deref(), Some("C1234567"));
        assert_eq!(
            normalize_identity(
                IdentityKind::Cmnd,
                Some("  "),
                Gender::Male,
                BirthDate::Year(1990)
            )
            .unwrap_err()
            .problem,
            Problem::Required
        );
    }

    #[test]
    fn phones_are_normalised_to_national_form() {
        assert_eq!(normalize_phone("+84 912 345 678").unwrap(), "0912345678");
        assert_eq!(normalize_phone("84912345678").unwrap(), "0912345678");
        assert_eq!(normalize_phone("0912.345.678").unwrap(), "0912345678");
        assert_eq!(normalize_phone("(028) 3822-1234").unwrap(), "02838221234");
        assert_eq!(normalize_phone("0386 123 456").unwrap(), "0386123456");
        assert_eq!(normalize_phone("+84 0912 345 678").unwrap(), "0912345678");
    }

    #[test]
    fn malformed_phones_are_refused() {
        for bad in [
            "091234567",
            "09123456789",
            "0112345678",
            "+1 650 555 0100",
            "09l2345678",
            "",
            "0912+345678",
        ] {
            assert_eq!(
                normalize_phone(bad).unwrap_err().problem,
                Problem::PhoneFormat,
                "{bad}"
            );
        }
    }

    #[test]
    fn seven_field_cccd_qr_is_read() {
        let qr = "001085012345|013456789|Nguyễn Văn An|02031985|Nam|Số 12 ngõ 34 Kim Mã, Phường Ngọc Hà, Hà Nội|15082021\r\n";
        let q = parse_cccd_qr(qr).unwrap();
        assert_eq!(q.cccd, "001085012345");
        assert_eq!(q.old_cmnd.as_deref(), Some("013456789"));
        assert_eq!(q.full_name, "Nguyễn Văn An");
        assert_eq!(q.birth_date, BirthDate::Full(date!(1985 - 03 - 02)));
        assert_eq!(q.gender, Gender::Male);
        assert_eq!(q.issued_on, Some(BirthDate::Full(date!(2021 - 08 - 15))));
    }

    #[test]
    fn six_field_cccd_qr_and_empty_old_id_are_read() {
        let q = parse_cccd_qr(
            "079303004321|Trần Thị Bích Ngọc|17112003|Nữ|Ấp 3, Xã Tân Nhựt, TP Hồ Chí Minh|01022022",
        )
        .unwrap();
        assert_eq!(q.gender, Gender::Female);
        assert_eq!(q.old_cmnd, None);
        let q = parse_cccd_qr(
            "079303004321||Trần Thị Bích Ngọc|17112003|Nữ|Ấp 3, Xã Tân Nhựt, TP Hồ Chí Minh|01022022",
        )
        .unwrap();
        assert_eq!(q.old_cmnd, None);
    }

    #[test]
    fn newer_cards_extra_fields_and_a_trailing_separator_are_read() {
        let seven = "001085012345|025123456|Nguyễn Văn An|02031985|Nam|Xã Tân Nhựt, TP Hồ Chí Minh|15082021";
        let base = parse_cccd_qr(seven).unwrap();
        assert_eq!(parse_cccd_qr(&format!("{seven}|")).unwrap(), base);
        assert_eq!(parse_cccd_qr(&format!("{seven}|A2|2031")).unwrap(), base);
        assert_eq!(
            parse_cccd_qr(&format!("{seven}|A2|2031|\r\n")).unwrap(),
            base
        );
        let six = "001085012345|Nguyễn Văn An|02031985|Nam|Xã Tân Nhựt, TP Hồ Chí Minh|15082021";
        let q = parse_cccd_qr(&format!("{six}|A2")).unwrap();
        assert_eq!((q.full_name.as_str(), q.old_cmnd), ("Nguyễn Văn An", None));
        assert!(!base.diacritics_lost);
    }

    #[test]
    fn a_scan_that_lost_its_diacritics_is_told_apart() {
        let q = parse_cccd_qr(
            "079190123456||Tran Thi Bich Ngoc|17051990|Nu|12 Nguyen Trai, Xa Tan Nhut, TP Ho Chi Minh|01072021",
        )
        .unwrap();
        assert!(q.diacritics_lost);
        // A name stripped while the address kept its marks (or had none to give) still shows.
        assert!(diacritics_lost("Nguyen Van An", ""));
        assert!(diacritics_lost("Lò Văn A", "Ban Lau, Xa Muong So"));
        // A real name without marks, and an address with them, are not flagged.
        assert!(!diacritics_lost("Mai Lan", "Xã Tân Nhựt"));
        assert!(!diacritics_lost(
            "Nguyễn Văn An",
            "Xã Tân Nhựt, TP Hồ Chí Minh"
        ));
        assert!(!diacritics_lost("Lý Thị Mai", "12/3"));
    }

    #[test]
    fn cccd_qr_with_missing_fields_or_inconsistent_id_is_refused() {
        let e = parse_cccd_qr("001085012345|Nguyễn Văn An|02031985").unwrap_err();
        assert_eq!(e.problem, Problem::QrFieldCount { found: 3 });
        // The gender digit says female but the card says Nam.
        let e =
            parse_cccd_qr("001185012345||Nguyễn Văn An|02031985|Nam|Hà Nội|15082021").unwrap_err();
        assert_eq!(e.field, Field::CccdQr);
        assert!(e.to_string().contains("trường thứ 1"), "{e}");
        let e =
            parse_cccd_qr("001085012345||Nguyễn Văn An|32131985|Nam|Hà Nội|15082021").unwrap_err();
        assert!(e.to_string().contains("trường thứ 4"), "{e}");
    }
}
