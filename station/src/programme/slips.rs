//! The invitation slips of a session day: four to an A4 page, cut apart along the dashed lines,
//! one for each child with the doses due, the day and the place.

use super::DueEntry;
use crate::error::Result;
use crate::pdf::{Document, PAGE_HEIGHT, vn_date};

const SLIPS_PER_PAGE: usize = 4;
const LEFT: f32 = 14.0;
/// Characters of a line of the doses' text at 9 pt across the slip.
const LINE_CHARS: usize = 96;

/// "Sởi (mũi 1), Viêm não Nhật Bản (mũi 2)": the doses a person is due, as slips and the
/// defaulters' list write them.
pub(super) fn doses_text(doses: &[DueEntry]) -> String {
    doses
        .iter()
        .map(|e| format!("{} (mũi {})", e.antigen, e.dose_number))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `text` at ", " into lines of at most `width` characters (a longer piece stands alone).
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for piece in text.split(", ") {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 2 + piece.chars().count() <= width => {
                line.push_str(", ");
                line.push_str(piece);
            }
            _ => lines.push(piece.to_string()),
        }
    }
    lines
}

/// The slips of `people` (each one's due entries) invited by `facility` to the session of `day`
/// (`yyyy-mm-dd`) at `place` (the facility when none).
pub(super) fn slips_pdf(
    facility: &str,
    day: &str,
    place: Option<&str>,
    people: &[Vec<DueEntry>],
) -> Result<Vec<u8>> {
    let mut doc = Document::new("Giấy mời tiêm chủng", 1.0)?;
    let day = vn_date(day);
    let place = place.unwrap_or(facility);
    if people.is_empty() {
        let page = doc.page();
        page.text("GIẤY MỜI TIÊM CHỦNG", 13.0, LEFT, PAGE_HEIGHT - 20.0);
        page.text(
            &format!("Buổi tiêm ngày {day}: không có ai đến hạn tiêm."),
            10.5,
            LEFT,
            PAGE_HEIGHT - 30.0,
        );
        return doc.finish();
    }
    let slip_height = PAGE_HEIGHT / SLIPS_PER_PAGE as f32;
    for chunk in people.chunks(SLIPS_PER_PAGE) {
        let page = doc.page();
        for (i, doses) in chunk.iter().enumerate() {
            let first = &doses[0];
            let top = PAGE_HEIGHT - i as f32 * slip_height;
            page.grey(0.0);
            page.text("GIẤY MỜI TIÊM CHỦNG", 13.0, LEFT, top - 11.0);
            page.grey(0.35);
            page.text(facility, 9.0, 120.0, top - 11.0);
            page.grey(0.0);
            let to = first.caregiver_name.as_deref().map_or_else(
                || "Kính gửi gia đình cháu".to_string(),
                |c| format!("Kính gửi: {c}"),
            );
            page.text(&to, 10.0, LEFT, top - 19.0);
            page.text(
                &format!(
                    "Cháu: {} — sinh ngày {}",
                    first.full_name,
                    vn_date(&first.birth_date)
                ),
                10.0,
                LEFT,
                top - 25.0,
            );
            if let Some(hamlet) = &first.hamlet {
                page.text(&format!("Thôn/ấp: {hamlet}"), 10.0, LEFT, top - 31.0);
            }
            page.text(
                &format!("Mời đưa cháu đến tiêm chủng ngày {day} tại {place}"),
                10.5,
                LEFT,
                top - 38.0,
            );
            page.text("Các mũi tiêm đến hạn:", 9.0, LEFT, top - 45.0);
            for (n, line) in wrap(&doses_text(doses), LINE_CHARS)
                .iter()
                .take(3)
                .enumerate()
            {
                page.text(line, 9.0, LEFT + 4.0, top - 50.0 - n as f32 * 5.0);
            }
            page.grey(0.35);
            page.text(
                "Xin mang theo sổ/phiếu tiêm chủng của cháu. Trẻ đang sốt hoặc ốm xin báo cán bộ y tế trước khi tiêm.",
                8.0,
                LEFT,
                top - 68.0,
            );
            if i + 1 < SLIPS_PER_PAGE {
                page.cut_line(top - slip_height);
            }
        }
    }
    doc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_doses_wrap_at_commas_within_the_slip() {
        let text = "Bạch hầu - Ho gà - Uốn ván (mũi 2), Viêm gan B (mũi 2), Viêm phổi, viêm màng não mủ do Hib (mũi 2), Bại liệt (uống bOPV) (mũi 2)";
        let lines = wrap(text, 60);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:?}");
        assert_eq!(lines.join(", "), text);
    }
}
