//! Pages the station prints (a passport, invitation slips): `printpdf` with an embedded DejaVu
//! Sans subset (every Vietnamese letter), drawn in A4 millimetres and scaled to the paper; QR
//! codes as vector squares (sharp at any resolution).

use crate::error::{Result, StationError};
use printpdf::{
    Color, IndirectFontRef, Line, Mm, PdfDocument, PdfDocumentReference, PdfLayerReference, Point,
    Rect, Rgb,
};
use qrcode::{EcLevel, QrCode};

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// A4, in millimetres.
pub(crate) const PAGE_WIDTH: f32 = 210.0;
pub(crate) const PAGE_HEIGHT: f32 = 297.0;

/// `YYYY-MM-DD` → `dd/mm/yyyy`; a year or year-month as it is.
pub(crate) fn vn_date(iso: &str) -> String {
    match iso.split('-').collect::<Vec<_>>().as_slice() {
        [y, m, d] => format!("{d}/{m}/{y}"),
        [y, m] => format!("{m}/{y}"),
        _ => iso.to_string(),
    }
}

/// A PDF's failure as the station's error.
pub(crate) fn pdf_error(e: printpdf::Error) -> StationError {
    StationError::Pdf(e.to_string())
}

/// A document of A4 pages scaled by `scale` (1.0 for A4), with the font embedded.
pub(crate) struct Document {
    doc: PdfDocumentReference,
    font: IndirectFontRef,
    scale: f32,
    first: Option<PdfLayerReference>,
}

impl Document {
    /// A new document titled `title`; its first page is the first [`Document::page`].
    pub(crate) fn new(title: &str, scale: f32) -> Result<Document> {
        let (doc, page, layer) = PdfDocument::new(
            title,
            Mm(PAGE_WIDTH * scale),
            Mm(PAGE_HEIGHT * scale),
            "page 1",
        );
        let font = doc
            .add_external_font_with_subsetting(std::io::Cursor::new(FONT), true)
            .map_err(pdf_error)?;
        let first = Some(doc.get_page(page).get_layer(layer));
        Ok(Document {
            doc,
            font,
            scale,
            first,
        })
    }

    /// The next page to draw on.
    pub(crate) fn page(&mut self) -> Page {
        let layer = match self.first.take() {
            Some(layer) => layer,
            None => {
                let (page, layer) = self.doc.add_page(
                    Mm(PAGE_WIDTH * self.scale),
                    Mm(PAGE_HEIGHT * self.scale),
                    "page",
                );
                self.doc.get_page(page).get_layer(layer)
            }
        };
        Page {
            layer,
            font: self.font.clone(),
            scale: self.scale,
        }
    }

    /// The finished PDF.
    pub(crate) fn finish(self) -> Result<Vec<u8>> {
        self.doc.save_to_bytes().map_err(pdf_error)
    }
}

/// A page drawn in A4 millimetres and points, scaled to the paper.
pub(crate) struct Page {
    layer: PdfLayerReference,
    font: IndirectFontRef,
    scale: f32,
}

impl Page {
    /// `text` in `size` points, its baseline starting at (`x`, `y`) mm from the lower left.
    pub(crate) fn text(&self, text: &str, size: f32, x: f32, y: f32) {
        let k = self.scale;
        self.layer
            .use_text(text, size * k, Mm(x * k), Mm(y * k), &self.font);
    }

    /// Text in grey `level` (0 black, 1 white) from now on.
    pub(crate) fn grey(&self, level: f32) {
        self.layer
            .set_fill_color(Color::Rgb(Rgb::new(level, level, level, None)));
    }

    /// A thin dashed-looking cut line across the page at `y` (short strokes).
    pub(crate) fn cut_line(&self, y: f32) {
        let k = self.scale;
        self.layer
            .set_outline_color(Color::Rgb(Rgb::new(0.6, 0.6, 0.6, None)));
        self.layer.set_outline_thickness(0.4);
        let mut x = 8.0;
        while x < PAGE_WIDTH - 8.0 {
            self.layer.add_line(Line {
                points: vec![
                    (Point::new(Mm(x * k), Mm(y * k)), false),
                    (Point::new(Mm((x + 3.0) * k), Mm(y * k)), false),
                ],
                is_closed: false,
            });
            x += 6.0;
        }
    }

    /// The QR code of `text` in a `size` mm square whose lower-left corner is (`x`, `y`), with
    /// its quiet zone inside the square.
    pub(crate) fn qr(&self, text: &str, x: f32, y: f32, size: f32) -> Result<()> {
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
