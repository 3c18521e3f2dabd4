//! The printed vaccine passport: one bilingual (Vietnamese/English) A4 or A5 page with the QR code of
//! the certificate (drawn as vector squares, so it prints sharp at any resolution), what it
//! certifies, the person's doses and the UVCI. `printpdf` with an embedded DejaVu Sans subset
//! (every Vietnamese letter); `qrcode` for the code.

use super::PassportView;
use crate::error::{Result, StationError};
use printpdf::{Color, IndirectFontRef, Mm, PdfDocument, PdfLayerReference, Rect, Rgb};
use qrcode::{EcLevel, QrCode};
use sotiem_passport::HealthCertificate;
use sync_protocol::Person;
use sync_protocol::vaccines::Catalogue;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const PAGE_WIDTH: f32 = 210.0;
const PAGE_HEIGHT: f32 = 297.0;
const LEFT: f32 = 18.0;

/// `YYYY-MM-DD` → `dd/mm/yyyy`; a year or year-month as it is.
fn vn_date(iso: &str) -> String {
    match iso.split('-').collect::<Vec<_>>().as_slice() {
        [y, m, d] => format!("{d}/{m}/{y}"),
        [y, m] => format!("{m}/{y}"),
        _ => iso.to_string(),
    }
}

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

/// A page drawn in A4 millimetres and points, scaled to the paper.
struct Page {
    layer: PdfLayerReference,
    font: IndirectFontRef,
    scale: f32,
}

impl Page {
    fn text(&self, text: &str, size: f32, x: f32, y: f32) {
        let k = self.scale;
        self.layer
            .use_text(text, size * k, Mm(x * k), Mm(y * k), &self.font);
    }

    /// A label in Vietnamese and English, the value under it, in the right-hand column.
    fn field(&self, y: f32, vietnamese: &str, english: &str, value: &str) {
        self.grey(0.35);
        self.text(&format!("{vietnamese} / {english}"), 7.5, 114.0, y);
        self.grey(0.0);
        self.text(value, 11.0, 114.0, y - 4.8);
    }

    fn grey(&self, level: f32) {
        self.layer
            .set_fill_color(Color::Rgb(Rgb::new(level, level, level, None)));
    }

    /// The QR code of `text` in a `size` mm square whose lower-left corner is (`x`, `y`), with
    /// its quiet zone inside the square.
    fn qr(&self, text: &str, x: f32, y: f32, size: f32) -> Result<()> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
            .map_err(|e| StationError::Pdf(format!("mã QR: {e}")))?;
        let width = code.width();
        let colors = code.to_colors();
        let (x, y, size) = (x * self.scale, y * self.scale, size * self.scale);
        let module = size / (width + 8) as f32;
        self.grey(0.0);
        for row in 0..width {
            let mut col = 0;
            while col < width {
                if colors[row * width + col] != qrcode::Color::Dark {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < width && colors[row * width + col] == qrcode::Color::Dark {
                    col += 1;
                }
                // Rows count down from the top of the square.
                let top = y + size - (row + 4) as f32 * module;
                self.layer.add_rect(Rect::new(
                    Mm(x + (start + 4) as f32 * module),
                    Mm(top - module),
                    Mm(x + (col + 4) as f32 * module),
                    Mm(top),
                ));
            }
        }
        Ok(())
    }
}

/// The passport page of `certificate` (what the QR says), with `person`'s standing doses.
pub(super) fn passport_pdf(
    certificate: &HealthCertificate,
    person: &Person,
    passport: &PassportView,
    paper: Paper,
    catalogue: &Catalogue,
) -> Result<Vec<u8>> {
    let pdf_error = |e: printpdf::Error| StationError::Pdf(e.to_string());
    let (doc, page, layer) = PdfDocument::new(
        "Hộ chiếu vắc xin COVID-19",
        Mm(PAGE_WIDTH * paper.scale()),
        Mm(PAGE_HEIGHT * paper.scale()),
        "passport",
    );
    let font = doc
        .add_external_font_with_subsetting(std::io::Cursor::new(FONT), true)
        .map_err(pdf_error)?;
    let p = Page {
        layer: doc.get_page(page).get_layer(layer),
        font,
        scale: paper.scale(),
    };
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
        p.field(244.0 - i as f32 * 10.5, vi, en, value);
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
    for (i, dose) in person.active_doses().iter().take(8).enumerate() {
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
    doc.save_to_bytes().map_err(pdf_error)
}
