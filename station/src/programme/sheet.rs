//! The list and tally sheet of a session day (A4): everyone invited with the doses due, the
//! caregiver and phone, and a box to tick — ticked already for whoever was given a dose here
//! that day — then the day's tally per antigen (due that morning, given). Printed before the
//! session to work from, and after it for the station's file.

use super::DueEntry;
use super::sessions::{SessionPaper, SessionTally, by_person, paper_name};
use super::slips::{doses_text, wrap};
use crate::error::Result;
use crate::pdf::{Document, PAGE_HEIGHT, Page, vn_date};
use crate::service::Station;
use std::collections::BTreeSet;

const LEFT: f32 = 12.0;
const BOTTOM: f32 = 18.0;
/// Millimetres per line of 9 pt text.
const LINE: f32 = 4.6;
/// Characters of the doses' column at 8.5 pt.
const DOSES_CHARS: usize = 62;

/// The sheet's columns (x in mm): number, person, caregiver and phone, doses due, came.
const COLUMNS: [(f32, &str); 5] = [
    (LEFT, "STT"),
    (LEFT + 10.0, "Họ tên — ngày sinh"),
    (LEFT + 62.0, "Người chăm sóc — điện thoại"),
    (LEFT + 104.0, "Mũi đến hạn"),
    (LEFT + 170.0, "Đã tiêm"),
];

fn heading(page: &Page, y: f32) {
    page.grey(0.35);
    for (x, label) in COLUMNS {
        page.text(label, 8.5, x, y);
    }
    page.grey(0.0);
}

/// The sheet of a session held by `facility`: `people` (each one's due entries), `came` those
/// given a dose here that day, then `tally`.
fn sheet_pdf(
    facility: &str,
    people: &[Vec<DueEntry>],
    came: &BTreeSet<String>,
    tally: &SessionTally,
) -> Result<Vec<u8>> {
    let session = &tally.session;
    let mut doc = Document::new("Danh sách buổi tiêm chủng", 1.0)?;
    let mut page = doc.page();
    page.text(
        "DANH SÁCH VÀ BẢNG KIỂM BUỔI TIÊM CHỦNG",
        13.0,
        LEFT,
        PAGE_HEIGHT - 16.0,
    );
    page.text(
        &format!(
            "{facility} — ngày {} — {}{}",
            vn_date(&session.day),
            session.hamlet.as_deref().unwrap_or("cả xã"),
            session
                .place
                .as_deref()
                .map(|p| format!(" — tại {p}"))
                .unwrap_or_default()
        ),
        10.0,
        LEFT,
        PAGE_HEIGHT - 23.0,
    );
    let mut y = PAGE_HEIGHT - 32.0;
    heading(&page, y);
    y -= LINE + 1.0;
    for (n, doses) in people.iter().enumerate() {
        let first = &doses[0];
        let lines = wrap(&doses_text(doses), DOSES_CHARS);
        let height = LINE * lines.len().max(2) as f32 + 1.5;
        if y - height < BOTTOM {
            page = doc.page();
            y = PAGE_HEIGHT - 16.0;
            heading(&page, y);
            y -= LINE + 1.0;
        }
        page.text(&(n + 1).to_string(), 9.0, COLUMNS[0].0, y);
        page.text(&first.full_name, 9.0, COLUMNS[1].0, y);
        page.text(&vn_date(&first.birth_date), 8.5, COLUMNS[1].0, y - LINE);
        page.text(
            first.caregiver_name.as_deref().unwrap_or("—"),
            8.5,
            COLUMNS[2].0,
            y,
        );
        page.text(
            first.phone.as_deref().unwrap_or("—"),
            8.5,
            COLUMNS[2].0,
            y - LINE,
        );
        for (i, line) in lines.iter().enumerate() {
            page.text(line, 8.5, COLUMNS[3].0, y - i as f32 * LINE);
        }
        let mark = if came.contains(&first.person_id) {
            "☑ đã tiêm"
        } else {
            "☐"
        };
        page.text(mark, 10.0, COLUMNS[4].0, y);
        y -= height;
    }
    if people.is_empty() {
        page.text("Không có ai đến hạn tiêm vào ngày này.", 10.0, LEFT, y);
        y -= LINE * 2.0;
    }
    // The tally: on a page of its own when it would not fit.
    let needed = LINE * (tally.rows.len() as f32 + 4.0);
    if y - needed < BOTTOM {
        page = doc.page();
        y = PAGE_HEIGHT - 16.0;
    }
    y -= LINE;
    page.text("BẢNG KIỂM CUỐI BUỔI", 11.0, LEFT, y);
    y -= LINE + 1.0;
    page.text(
        &format!("Được mời: {} — đã đến tiêm: {}", tally.invited, tally.came),
        9.5,
        LEFT,
        y,
    );
    y -= LINE + 1.0;
    page.grey(0.35);
    page.text("Kháng nguyên", 8.5, LEFT, y);
    page.text("Đến hạn", 8.5, LEFT + 100.0, y);
    page.text("Đã tiêm", 8.5, LEFT + 130.0, y);
    page.grey(0.0);
    for row in &tally.rows {
        y -= LINE;
        page.text(&row.antigen, 9.0, LEFT, y);
        page.text(&row.due.to_string(), 9.0, LEFT + 100.0, y);
        page.text(&row.given.to_string(), 9.0, LEFT + 130.0, y);
    }
    doc.finish()
}

impl Station {
    /// The list and tally sheet of a session day (PDF): the invitees with their doses due,
    /// ticked when given here that day, and the day's tally.
    pub async fn session_sheet(&self, id: &str) -> Result<SessionPaper> {
        let (tally, invitees, came) = self.tally_with_invitees(id).await?;
        let people = by_person(invitees);
        let pdf = sheet_pdf(&self.facility().name, &people, &came, &tally)?;
        Ok(SessionPaper {
            pdf,
            people: people.len(),
            file_name: paper_name("danh-sach", &tally.session),
        })
    }
}
