//! The printed vaccine passport: one bilingual (Vietnamese/English) A4 or A5 page with the QR code of
//! the certificate, what it certifies, the person's COVID-19 doses and the UVCI (drawn with
//! `crate::pdf`).

use super::PassportView;
use crate::error::{Result, StationError};
use crate::pdf::{Document, Page, vn_date};
use sotiem_passport::HealthCertificate;
use sync_protocol::Person;
use sync_protocol::vaccines::Catalogue;

const LEFT: f32 = 18.0;

/// The paper a passport is printed on: the layout is drawn for A4 and scaled for A5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Paper {
    #[default]
    A4,
    A5,
}

impl Paper {
    /// The factor from the A4 layout (A5 is A4 halved: each side over √2).
    fn scale(self) -> f32 {
        match self {
            Paper::A4 => 1.0,
            Paper::A5 => 148.0 / 210.0,
        }
    }

    /// Reads `a4` or `a5` (any case).
    pub fn parse(text: &str) -> Option<Paper> {
        match text.trim().to_ascii_lowercase().as_str() {
            "a4" => Some(Paper::A4),
            "a5" => Some(Paper::A5),
            _ => None,
        }
    }
}

/// A label in Vietnamese and English, the value under it, in the right-hand column.
fn field(p: &Page, y: f32, vietnamese: &str, english: &str, value: &str) {
    p.grey(0.35);
    p.text(&format!("{vietnamese} / {english}"), 7.5, 114.0, y);
    p.grey(0.0);
    p.text(value, 11.0, 114.0, y - 4.8);
}

/// The passport page of `certificate` (what the QR says), with `person`'s standing doses.
pub(super) fn passport_pdf(
    certificate: &HealthCertificate,
    person: &Person,
    passport: &PassportView,
    paper: Paper,
    catalogue: &Catalogue,
) -> Result<Vec<u8>> {
    let mut doc = Document::new("Hộ chiếu vắc xin COVID-19", paper.scale())?;
    let p = doc.page();
    let entry = certificate
        .vaccination_entry()
        .ok_or_else(|| StationError::Pdf("hộ chiếu không có mũi tiêm".into()))?;
    let vaccine = catalogue.find(&entry.mp);

    p.grey(0.0);
    p.text("CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM", 11.0, LEFT, 282.0);
    p.text("SOCIALIST REPUBLIC OF VIET NAM", 8.0, LEFT, 277.5);
    p.text("HỘ CHIẾU VẮC XIN COVID-19", 20.0, LEFT, 263.0);
    p.text("COVID-19 VACCINATION CERTIFICATE", 12.0, LEFT, 256.0);
    p.qr(&passport.hc1, LEFT - 2.0, 156.0, 90.0)?;

    let names = &certificate.nam;
    let icao = [
        Some(names.family_icao.as_str()),
        names.given_icao.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
    .replace('<', " ");
    let rows = [
        ("Họ và tên", "Name", names.display()),
        ("Họ tên ICAO", "Standardised name", icao),
        ("Ngày sinh", "Date of birth", vn_date(&certificate.dob)),
        (
            "Bệnh được phòng",
            "Disease targeted",
            catalogue.disease.name.clone(),
        ),
        (
            "Vắc xin",
            "Vaccine",
            vaccine.map_or_else(|| entry.mp.clone(), |v| v.name.clone()),
        ),
        (
            "Nhà sản xuất",
            "Manufacturer",
            vaccine.map_or_else(|| entry.ma.clone(), |v| v.manufacturer.clone()),
        ),
        (
            "Mũi thứ / tổng số mũi",
            "Dose / series",
            format!("{} / {}", entry.dn, entry.sd),
        ),
        ("Ngày tiêm", "Date of vaccination", vn_date(&entry.dt)),
        ("Nước tiêm", "Country", "Việt Nam / Viet Nam".into()),
        ("Đơn vị cấp", "Issuer", entry.issuer.clone()),
    ];
    for (i, (vi, en, value)) in rows.iter().enumerate() {
        field(&p, 244.0 - i as f32 * 10.5, vi, en, value);
    }

    p.text(
        "Mã chứng nhận / Unique certificate identifier (UVCI)",
        8.0,
        LEFT,
        128.0,
    );
    p.text(&entry.ci, 10.0, LEFT, 122.5);
    let day = |t: &str| vn_date(t.get(..10).unwrap_or(t));
    p.text(
        &format!(
            "Ngày cấp / Issued: {}     Hiệu lực đến / Valid until: {}",
            day(&passport.issued_at),
            day(&passport.expires_at)
        ),
        9.0,
        LEFT,
        116.0,
    );

    p.text("Các mũi đã tiêm / Vaccinations", 11.0, LEFT, 104.0);
    let columns = [LEFT, 32.0, 56.0, 120.0, 150.0];
    for (x, (vi, en)) in columns.iter().zip([
        ("Mũi", "Dose"),
        ("Ngày", "Date"),
        ("Vắc xin", "Vaccine"),
        ("Số lô", "Lot"),
        ("Cơ sở tiêm", "Place"),
    ]) {
        p.text(vi, 8.0, *x, 97.0);
        p.text(en, 6.5, *x, 93.8);
    }
    // The certificate's doses: COVID-19 vaccines of the catalogue (routine programme doses
    // are not part of it).
    let covid = person
        .active_doses()
        .into_iter()
        .filter(|d| catalogue.find(&d.vaccine).is_some());
    for (i, dose) in covid.take(8).enumerate() {
        let y = 87.0 - i as f32 * 6.0;
        let d = dose
            .given_at
            .to_offset(sync_protocol::person::VIETNAM)
            .date();
        let date = format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year());
        let name = catalogue
            .find(&dose.vaccine)
            .map_or_else(|| dose.vaccine.clone(), |v| v.name.clone());
        for (x, value) in columns.iter().zip([
            dose.dose_number.to_string(),
            date,
            name,
            dose.lot.clone(),
            dose.facility.clone(),
        ]) {
            p.text(&value, 9.0, *x, y);
        }
    }

    p.grey(0.35);
    p.text(
        "Quét mã QR bằng ứng dụng kiểm tra chứng nhận EU DCC hoặc màn hình \"Kiểm tra hộ chiếu\" của Sổ Tiêm.",
        8.0,
        LEFT,
        40.0,
    );
    p.text(
        "Scan the QR code with any EU Digital COVID Certificate verifier.",
        8.0,
        LEFT,
        35.5,
    );
    p.text(
        "Chứng nhận do Cục Y tế dự phòng ký số; bản in chỉ có giá trị cùng mã QR còn hiệu lực.",
        8.0,
        LEFT,
        31.0,
    );
    doc.finish()
}
