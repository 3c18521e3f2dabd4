//! The public complaint pages ("Phản ánh thông tin tiêm chủng"), rendered on the server with
//! maud: for a phone's browser, in Vietnamese, no account. The only script is the proof of work
//! (`/phan-anh/pow.js`), served by this server.

use crate::admin::FacilityRecord;
use crate::complaints::{Filed, PublicStatus};
use maud::{DOCTYPE, Markup, html};
use std::collections::BTreeMap;
use sync_protocol::complaints::{ComplaintForm, ComplaintKind, ComplaintStatus, FormProblem};

/// The pages' style sheet (`/phan-anh/style.css`).
pub const STYLE: &str = r#"
body{font-family:"Noto Sans","DejaVu Sans",Arial,sans-serif;margin:0;color:#1b2631;background:#f4f6f8;font-size:17px}
header{background:#0b5394;color:#fff;padding:.7rem 1rem}
header h1{font-size:1.15rem;margin:0}
main{padding:1rem;max-width:40rem;margin:0 auto}
form,.card{background:#fff;border:1px solid #d0d7de;padding:1rem;margin:1rem 0}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input,select,textarea{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}
textarea{min-height:7rem}
.hint{color:#5d6d7e;font-size:.9em;margin:.2rem 0}
.problem{color:#b03a2e;font-size:.95em;margin:.2rem 0}
.error{background:#fdecea;border:1px solid #c0392b;padding:.6rem .8rem}
.ok{background:#e8f5e9;border:1px solid #1e7d32;padding:.6rem .8rem}
.code{font-size:1.6rem;font-weight:bold;letter-spacing:.1rem}
button{margin-top:1rem;padding:.7rem 1.2rem;font-size:1.05rem;width:100%}
dt{font-weight:600;margin-top:.5rem}
dd{margin:0}
"#;

/// The proof-of-work script (`/phan-anh/pow.js`).
pub const POW_SCRIPT: &str = include_str!("../../assets/pow.js");
/// One worker of the proof of work (`/phan-anh/pow-worker.js`).
pub const POW_WORKER: &str = include_str!("../../assets/pow-worker.js");

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Sổ Tiêm" }
                link rel="stylesheet" href="/phan-anh/style.css";
            }
            body {
                header { h1 { "Phản ánh thông tin tiêm chủng" } }
                main { (body) }
            }
        }
    }
}

fn problem_of<'a>(problems: &'a [FormProblem], field: &str) -> Option<&'a str> {
    problems
        .iter()
        .find(|p| p.field == field)
        .map(|p| p.message.as_str())
}

/// The form, with what the citizen typed and the problems found (none at first).
pub fn form(
    facilities: &[FacilityRecord],
    values: &ComplaintForm,
    problems: &[FormProblem],
    challenge: &str,
    difficulty: u32,
    general: Option<&str>,
) -> Markup {
    // Province → commune → facility, as groups of the one list a phone shows well.
    let mut groups: BTreeMap<String, Vec<&FacilityRecord>> = BTreeMap::new();
    for f in facilities.iter().filter(|f| f.kind != "mobile_team") {
        let label = match (&f.province, &f.commune) {
            (Some(p), Some(c)) => format!("{p} — {c}"),
            (Some(p), None) => p.clone(),
            _ => "Khác".into(),
        };
        groups.entry(label).or_default().push(f);
    }
    let field_problem = |field: &str| {
        html! { @if let Some(m) = problem_of(problems, field) { p class="problem" data-problem=(field) { (m) } } }
    };
    page(
        "Gửi phản ánh",
        html! {
            p { "Thông tin tiêm chủng của bạn bị thiếu hoặc sai? Gửi phản ánh tới cơ sở tiêm chủng; cơ sở sẽ kiểm tra, sửa và trả lời. Bạn nhận một mã tra cứu để xem kết quả." }
            p { a href="/phan-anh/tra-cuu" { "Đã gửi phản ánh? Tra cứu kết quả" } }
            @if let Some(g) = general { p class="error" role="alert" data-testid="form-error" { (g) } }
            @if !problems.is_empty() { p class="error" role="alert" data-testid="form-error" { "Chưa gửi được: hãy sửa các mục ghi đỏ bên dưới." } }
            form id="complaint-form" method="post" action="/phan-anh" enctype="multipart/form-data" data-difficulty=(difficulty) {
                input type="hidden" name="pow_challenge" value=(challenge);
                input type="hidden" name="pow_solution" value="";
                label for="full_name" { "Họ và tên người được tiêm" }
                input id="full_name" name="full_name" required maxlength="100" value=(values.full_name) autocomplete="name";
                (field_problem("full_name"))
                label for="birth_date" { "Ngày sinh" }
                input id="birth_date" name="birth_date" required placeholder="dd/mm/yyyy" value=(values.birth_date);
                (field_problem("birth_date"))
                label for="phone" { "Số điện thoại" }
                input id="phone" name="phone" type="tel" required value=(values.phone) autocomplete="tel";
                p class="hint" { "Dùng số này cùng mã tra cứu để xem kết quả." }
                (field_problem("phone"))
                label for="id_number" { "Số CCCD/CMND/hộ chiếu (không bắt buộc với trẻ em, người nước ngoài)" }
                input id="id_number" name="id_number" value=(values.id_number);
                (field_problem("id_number"))
                label for="facility" { "Cơ sở nhận phản ánh (tỉnh — xã — cơ sở)" }
                select id="facility" name="facility" required {
                    option value="" { "— Chọn cơ sở —" }
                    @for (group, list) in &groups {
                        optgroup label=(group) {
                            @for f in list {
                                option value=(f.code) selected[values.facility == f.code] { (f.name) }
                            }
                        }
                    }
                }
                (field_problem("facility"))
                label for="kind" { "Vấn đề" }
                select id="kind" name="kind" required {
                    option value="" { "— Chọn vấn đề —" }
                    @for k in ComplaintKind::ALL {
                        option value=(k.as_str()) selected[values.kind == k.as_str()] { (k.label()) }
                    }
                }
                (field_problem("kind"))
                fieldset {
                    legend { "Thông tin đúng cần ghi nhận (nếu có)" }
                    label for="vaccine" { "Vắc xin" }
                    input id="vaccine" name="vaccine" value=(values.vaccine) placeholder="ví dụ: Comirnaty, AstraZeneca";
                    (field_problem("vaccine"))
                    label for="vaccinated_on" { "Ngày tiêm" }
                    input id="vaccinated_on" name="vaccinated_on" placeholder="dd/mm/yyyy" value=(values.vaccinated_on);
                    (field_problem("vaccinated_on"))
                    label for="place" { "Nơi tiêm" }
                    input id="place" name="place" maxlength="200" value=(values.place);
                    (field_problem("place"))
                }
                label for="description" { "Mô tả" }
                textarea id="description" name="description" required maxlength="2000" { (values.description) }
                (field_problem("description"))
                label for="photos" { "Ảnh phiếu/sổ tiêm (tối đa 3 ảnh JPEG/PNG, mỗi ảnh tối đa 5 MB)" }
                input id="photos" name="photos" type="file" accept="image/jpeg,image/png" multiple;
                (field_problem("photos"))
                p class="hint" id="pow-status" data-testid="pow-status" { "Đang chuẩn bị biểu mẫu…" }
                noscript { p class="problem" { "Trang cần JavaScript để chống gửi tự động: hãy bật JavaScript." } }
                button id="submit" type="submit" disabled data-testid="complaint-submit" { "Gửi phản ánh" }
            }
            script src="/phan-anh/pow.js" {}
        },
    )
}

/// The complaint was filed: its tracking code.
pub fn filed(f: &Filed) -> Markup {
    page(
        "Đã gửi phản ánh",
        html! {
            div class="ok" role="status" {
                p { "Đã gửi phản ánh tới " b { (f.facility_name) } "." }
                p { "Mã tra cứu của bạn:" }
                p class="code" data-testid="tracking-code" { (f.code) }
                p { "Hạn trả lời: " b data-testid="deadline" { (day_vn(&f.deadline)) } " (tính theo ngày làm việc)." }
                p { "Hãy ghi lại mã này. Tra cứu kết quả bằng mã và số điện thoại đã khai." }
            }
            p { a href="/phan-anh/tra-cuu" { "Tra cứu kết quả" } }
        },
    )
}

/// The look-up form (and what was found, or that nothing was).
pub fn lookup(code: &str, phone: &str, status: Option<&PublicStatus>, not_found: bool) -> Markup {
    page(
        "Tra cứu phản ánh",
        html! {
            form method="post" action="/phan-anh/tra-cuu" {
                label for="code" { "Mã tra cứu" }
                input id="code" name="code" required value=(code) placeholder="PA-XXXX-XXXX";
                label for="phone" { "Số điện thoại đã khai" }
                input id="phone" name="phone" type="tel" required value=(phone);
                button type="submit" data-testid="lookup-submit" { "Tra cứu" }
            }
            @if not_found {
                p class="error" role="alert" data-testid="lookup-not-found" { "Không tìm thấy phản ánh với mã và số điện thoại này. Kiểm tra lại mã (dạng PA-XXXX-XXXX) và số điện thoại." }
            }
            @if let Some(s) = status {
                div class="card" data-testid="lookup-result" {
                    dl {
                        dt { "Mã" } dd { (s.code) }
                        dt { "Người được tiêm" } dd { (s.full_name) }
                        dt { "Vấn đề" } dd { (s.kind.label()) }
                        dt { "Cơ sở xử lý" } dd { (s.facility_name) }
                        dt { "Trạng thái" } dd data-testid="lookup-status" data-status=(s.status.as_str()) { (s.status.label()) }
                        @if s.status == ComplaintStatus::Open { dt { "Hạn trả lời" } dd { (day_vn(&s.deadline)) } }
                        @if let Some((from, reason)) = &s.forwarded { dt { "Đã chuyển từ" } dd { (from) ": " (reason) } }
                        @if let Some(a) = &s.answer { dt { "Trả lời của cơ sở" } dd data-testid="lookup-answer" { (a) } }
                    }
                }
            }
            p { a href="/phan-anh" { "Gửi phản ánh mới" } }
        },
    )
}

/// A page for a refused request (too large, too many).
pub fn refused(message: &str) -> Markup {
    page(
        "Không gửi được",
        html! {
            p class="error" role="alert" data-testid="form-error" { (message) }
            p { a href="/phan-anh" { "Quay lại biểu mẫu" } }
        },
    )
}

fn day_vn(day: &str) -> String {
    crate::console::report::day_vn(day)
}
