//! The console's pages, rendered on the server with maud (every value escaped; no script at
//! all, so the Content-Security-Policy allows none). Vietnamese throughout.

use crate::console::coverage::AreaCoverage;
use crate::console::report::{DailyReport, day_vn};
use crate::console::{
    Area, CommuneVerification, FacilityActivity, FacilitySigning, VERIFICATION_COLUMNS,
};
use maud::{DOCTYPE, Markup, html};

/// The style sheet, served at `/console/style.css`.
pub const STYLE: &str = r#"
body{font-family:"Noto Sans","DejaVu Sans",Arial,sans-serif;margin:0;color:#1b2631;background:#f4f6f8}
header{background:#0b5394;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}
header h1{font-size:1.2rem;margin:0}
header nav a{color:#fff;margin-right:1rem;text-decoration:none}
header nav a.current{font-weight:bold;text-decoration:underline}
header form{margin-left:auto}
main{padding:1rem 1.2rem;max-width:1200px}
table{border-collapse:collapse;background:#fff;margin:.6rem 0;width:100%}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.silent td{background:#fdecea}
tr.total td{font-weight:bold;background:#eef3f8}
.badge{display:inline-block;padding:0 .4rem;border-radius:.3rem;background:#c0392b;color:#fff;font-size:.85em}
.ok{color:#1e7d32}
.error{background:#fdecea;border:1px solid #c0392b;padding:.5rem .8rem;margin:.6rem 0}
.card{background:#fff;border:1px solid #d0d7de;padding:1rem;max-width:28rem;margin:2rem auto}
.card label{display:block;margin:.6rem 0 .2rem}
.card input{width:100%;padding:.4rem;box-sizing:border-box;font-size:1rem}
button{padding:.4rem .9rem;font-size:1rem;cursor:pointer}
.muted{color:#5d6d7e;font-size:.9em}
svg text{font-size:12px;font-family:inherit}
"#;

/// Which view a page is, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum View {
    Stations,
    Verification,
    Signing,
    Report,
    Coverage,
    Resets,
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Sổ Tiêm" }
                link rel="stylesheet" href="/console/style.css";
            }
            body { (body) }
        }
    }
}

fn frame(view: View, user: &str, area: &Area, title: &str, content: Markup) -> Markup {
    let link = |v: View, href: &str, label: &str| {
        html! { a href=(href) class=[(v == view).then_some("current")] data-testid=(format!("nav-{href}")) { (label) } }
    };
    page(
        title,
        html! {
            header {
                h1 { "Sổ Tiêm — Bảng theo dõi " (area.label) }
                nav {
                    (link(View::Stations, "stations", "Trạm và thiết bị"))
                    (link(View::Verification, "verification", "Xác thực"))
                    (link(View::Signing, "signing", "Ký số và hộ chiếu"))
                    (link(View::Report, "report", "Báo cáo ngày"))
                    (link(View::Coverage, "coverage", "Tiêm chủng thường xuyên"))
                    (link(View::Resets, "resets", "Đặt lại tài khoản"))
                }
                form method="post" action="/console/logout" {
                    span data-testid="console-user" { (user) } " "
                    button type="submit" data-testid="console-logout" { "Đăng xuất" }
                }
            }
            main {
                h2 { (title) }
                (content)
            }
        },
    )
}

fn error_box(error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error {
            p class="error" role="alert" data-testid="console-error" { (e) }
        }
    }
}

/// The sign-in form.
pub fn login(error: Option<&str>, username: &str) -> Markup {
    page(
        "Đăng nhập",
        html! {
            form class="card" method="post" action="/console/login" {
                h2 { "Bảng theo dõi tuyến huyện/tỉnh" }
                p class="muted" { "Đăng nhập bằng tài khoản cán bộ theo dõi: mật khẩu và mã xác thực 6 số." }
                (error_box(error))
                label for="username" { "Tên đăng nhập" }
                input id="username" name="username" autocomplete="username" required value=(username) autofocus;
                label for="password" { "Mật khẩu" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                label for="otp" { "Mã xác thực (6 số, để trống nếu đăng nhập lần đầu)" }
                input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" maxlength="8";
                p { button type="submit" data-testid="console-sign-in" { "Đăng nhập" } }
            }
        },
    )
}

/// First sign-in: scan the authenticator, then confirm with a code.
pub fn enroll(challenge: &str, otp_uri: &str, secret: &str, error: Option<&str>) -> Markup {
    page(
        "Cài ứng dụng xác thực",
        html! {
            form class="card" method="post" action="/console/enroll" {
                h2 { "Đăng nhập lần đầu: cài ứng dụng xác thực" }
                p { "Quét mã QR bằng ứng dụng xác thực (Google Authenticator, Microsoft Authenticator…), rồi nhập mã 6 số nó hiện." }
                (error_box(error))
                (qr_svg(otp_uri))
                p class="muted" { "Hoặc nhập khoá: " code data-testid="enroll-secret" { (secret) } }
                input type="hidden" name="challenge" value=(challenge);
                label for="otp" { "Mã xác thực (6 số)" }
                input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" maxlength="8" required autofocus;
                p { button type="submit" data-testid="console-enroll" { "Xác nhận" } }
            }
        },
    )
}

/// The password must be changed before going on.
pub fn change_password(challenge: &str, error: Option<&str>) -> Markup {
    page(
        "Đổi mật khẩu",
        html! {
            form class="card" method="post" action="/console/change-password" {
                h2 { "Đổi mật khẩu trước khi tiếp tục" }
                p class="muted" { "Ít nhất 8 ký tự, có chữ hoa, chữ thường, chữ số và ký tự đặc biệt." }
                (error_box(error))
                input type="hidden" name="challenge" value=(challenge);
                label for="new_password" { "Mật khẩu mới" }
                input id="new_password" name="new_password" type="password" autocomplete="new-password" required autofocus;
                label for="confirm" { "Nhập lại mật khẩu mới" }
                input id="confirm" name="confirm" type="password" autocomplete="new-password" required;
                p { button type="submit" data-testid="console-change-password" { "Đổi mật khẩu" } }
            }
        },
    )
}

/// A page for an error outside the views (a wrong role, an area that cannot be found).
pub fn refused(message: &str) -> Markup {
    page(
        "Không truy cập được",
        html! {
            div class="card" {
                h2 { "Không truy cập được bảng theo dõi" }
                (error_box(Some(message)))
                form method="post" action="/console/logout" { button type="submit" { "Đăng xuất" } }
            }
        },
    )
}

/// The authenticator's URI as a QR code drawn with squares.
fn qr_svg(text: &str) -> Markup {
    let Ok(code) = qrcode::QrCode::new(text.as_bytes()) else {
        return html! {};
    };
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let side = width + 2 * quiet;
    let mut path = String::new();
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = (i % width + quiet, i / width + quiet);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {side} {side}")) width="220" height="220" role="img" aria-label="Mã QR cài ứng dụng xác thực" data-testid="enroll-qr" {
            rect width=(side) height=(side) fill="#fff" {}
            path d=(path) fill="#000" {}
        }
    }
}

fn when(at: Option<&str>) -> String {
    match at.and_then(sync_protocol::person::parse_time) {
        Some(t) => {
            let t = t.to_offset(sync_protocol::clock::VIETNAM);
            format!(
                "{:02}/{:02}/{} {:02}:{:02}",
                t.day(),
                u8::from(t.month()),
                t.year(),
                t.hour(),
                t.minute()
            )
        }
        None => "chưa từng".into(),
    }
}

/// Stations and their devices.
pub fn stations(
    user: &str,
    area: &Area,
    rows: &[FacilityActivity],
    silent_days: i64,
    today: &str,
) -> Markup {
    let silent = rows.iter().filter(|r| r.silent).count();
    let content = html! {
        form method="get" action="/console/stations" {
            label { "Im lặng quá " input name="silent_days" type="number" min="1" max="365" value=(silent_days) style="width:4rem"; " ngày " }
            button type="submit" { "Xem" }
        }
        p data-testid="silent-summary" {
            @if silent > 0 {
                span class="badge" { (silent) } " trong " (rows.len()) " cơ sở có thiết bị im lặng quá " (silent_days) " ngày hoặc chưa có thiết bị."
            } @else {
                span class="ok" { "Mọi cơ sở đều đã đồng bộ trong " (silent_days) " ngày qua." }
            }
        }
        table data-testid="stations-table" {
            thead { tr {
                th { "Cơ sở" } th { "Xã/phường" } th { "Thiết bị" } th { "Đồng bộ lần cuối" }
                th class="n" { "Chờ gửi" } th class="n" { "Bị từ chối" } th { "Phiên bản" }
                th class="n" { "Mũi hôm nay (" (today) ")" } th class="n" { "Mũi tuần này" }
                th class="n" { "Phản ánh chờ trả lời (quá hạn)" }
            } }
            tbody {
                @for r in rows {
                    @let span = r.devices.len().max(1);
                    @for (i, d) in r.devices.iter().map(Some).chain(r.devices.is_empty().then_some(None)).enumerate() {
                        tr class=[r.silent.then_some("silent")] data-facility=(r.facility) {
                            @if i == 0 {
                                td rowspan=(span) { b { (r.name) } br; span class="muted" { (r.facility) } }
                                td rowspan=(span) { (r.commune.as_deref().unwrap_or("")) }
                            }
                            @match d {
                                Some(d) => {
                                    td { (d.device_name.as_deref().unwrap_or("")) }
                                    td data-testid="last-seen" {
                                        (when(d.last_seen_at.as_deref()))
                                        @if d.silent { " " span class="badge" { @if let Some(n) = d.silent_days { (n) " ngày" } @else { "chưa đồng bộ" } } }
                                    }
                                    td class="n" data-testid="waiting" { (d.waiting_changes.map(|n| n.to_string()).unwrap_or_else(|| "—".into())) }
                                    td class="n" { (d.quarantined.map(|n| n.to_string()).unwrap_or_else(|| "—".into())) }
                                    td { (d.app_version.as_deref().unwrap_or("—")) }
                                }
                                None => {
                                    td colspan="5" { span class="badge" { "chưa có thiết bị" } }
                                }
                            }
                            @if i == 0 {
                                td class="n" rowspan=(span) data-testid="doses-today" { (r.doses_today) }
                                td class="n" rowspan=(span) data-testid="doses-week" { (r.doses_week) }
                                td class="n" rowspan=(span) data-testid="complaints" {
                                    (r.complaints_open)
                                    @if r.complaints_overdue > 0 { " " span class="badge" data-testid="complaints-overdue" { (r.complaints_overdue) " quá hạn" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    frame(View::Stations, user, area, "Trạm và thiết bị", content)
}

/// Verification per commune.
pub fn verification(user: &str, area: &Area, rows: &[CommuneVerification]) -> Markup {
    let mut totals = vec![0i64; VERIFICATION_COLUMNS.len()];
    for r in rows {
        for (t, n) in totals.iter_mut().zip(&r.counts) {
            *t += n;
        }
    }
    let all: i64 = totals.iter().sum();
    let content = html! {
        p class="muted" { "Số người do các cơ sở của xã/phường quản lý, theo kết quả xác thực với Cơ sở dữ liệu quốc gia về dân cư." }
        table data-testid="verification-table" {
            thead { tr {
                th { "Xã/phường" }
                @for k in VERIFICATION_COLUMNS { th class="n" { (k.label()) } }
                th class="n" { "Tổng" } th class="n" { "Tỷ lệ đã xác thực" }
            } }
            tbody {
                @for r in rows {
                    tr data-commune=(r.commune) {
                        td { (r.commune) br; span class="muted" { (r.facilities.join(", ")) } }
                        @for (k, n) in VERIFICATION_COLUMNS.iter().zip(&r.counts) { td class="n" data-kind=(k.as_str()) { (n) } }
                        td class="n" data-kind="total" { (r.total) }
                        td class="n" { (percent(r.counts[0], r.total)) }
                    }
                }
                tr class="total" {
                    td { "Tổng" }
                    @for n in &totals { td class="n" { (n) } }
                    td class="n" { (all) }
                    td class="n" { (percent(totals[0], all)) }
                }
            }
        }
    };
    frame(View::Verification, user, area, "Tiến độ xác thực", content)
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".into()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64).replace('.', ",")
    }
}

/// Signing progress and passports per facility.
pub fn signing(user: &str, area: &Area, rows: &[FacilitySigning]) -> Markup {
    let content = html! {
        p class="muted" { "Mũi tiêm còn hiệu lực, số đã được thủ trưởng ký số (đợt ký được máy chủ chấp nhận), ngày cũ nhất còn mũi chưa ký, và hộ chiếu vắc xin còn hiệu lực (theo lần cấp cuối ngày gần nhất)." }
        table data-testid="signing-table" {
            thead { tr {
                th { "Cơ sở" } th class="n" { "Mũi tiêm" } th class="n" { "Đã ký" } th class="n" { "Chưa ký" }
                th { "Ngày cũ nhất chưa ký" } th class="n" { "Hộ chiếu vắc xin" }
            } }
            tbody {
                @for r in rows {
                    tr data-facility=(r.facility) class=[(r.doses > r.signed).then_some("silent")] {
                        td { (r.name) br; span class="muted" { (r.facility) } }
                        td class="n" data-testid="doses" { (r.doses) }
                        td class="n" data-testid="signed" { (r.signed) }
                        td class="n" data-testid="unsigned" { (r.doses - r.signed) }
                        td { (r.oldest_unsigned_day.as_deref().map(day_vn).unwrap_or_else(|| "—".into())) }
                        td class="n" data-testid="passports" { (r.passports) }
                    }
                }
            }
        }
    };
    frame(
        View::Signing,
        user,
        area,
        "Ký số và hộ chiếu vắc xin",
        content,
    )
}

/// Routine-immunization coverage of a birth cohort: the area's indicators, then each commune's.
pub fn coverage(
    user: &str,
    area: &Area,
    c: &AreaCoverage,
    typed: &str,
    error: Option<&str>,
) -> Markup {
    let total = &c.total;
    let share = |n: Option<u32>, of: u32| match n {
        Some(n) => percent(i64::from(n), i64::from(of)),
        None => "—".into(),
    };
    let content = html! {
        form method="get" action="/console/coverage" {
            label { "Trẻ sinh năm hoặc tháng " input name="cohort" value=(typed) placeholder="2025 hoặc 2025-06" data-testid="coverage-cohort"; }
            " " label { "tính đến ngày " input name="day" type="date" value=(total.on) data-testid="coverage-day"; }
            " " button type="submit" { "Xem" }
        }
        (error_box(error))
        p class="muted" {
            "Trẻ sinh " (c.label) " do các cơ sở của địa bàn quản lý: " strong data-testid="coverage-children" { (total.children) } " trẻ, tính đến ngày "
            (day_vn(&total.on.to_string())) " theo lịch " (total.rule_set) ". Mũi tiêm nơi khác (có ghi lịch sử) được tính; mũi tiêm sớm hoặc quá tuổi không được tính. "
            "“Đúng lịch”: mọi mũi của chỉ số tiêm trước khi quá hạn. “Trước 12/24 tháng”: trong số trẻ đã đủ 12/24 tháng tuổi."
        }
        table data-testid="coverage-table" {
            thead { tr {
                th { "Chỉ số" } th class="n" { "Đã tiêm" } th class="n" { "Tỷ lệ" } th class="n" { "Đúng lịch" }
                th class="n" { "Trước 12 tháng" } th class="n" { "Trước 24 tháng" }
            } }
            tbody {
                @for i in &total.indicators {
                    tr data-indicator=(i.indicator) {
                        td { (i.name) }
                        td class="n" data-testid="reached" { (i.reached) }
                        td class="n" { (share(Some(i.reached), total.children)) }
                        td class="n" data-testid="on-time" { (i.on_time) }
                        td class="n" data-testid="by-12" { (share(i.by_12_months, i.aged_12_months)) }
                        td class="n" data-testid="by-24" { (share(i.by_24_months, i.aged_24_months)) }
                    }
                }
            }
        }
        h3 { "Theo xã/phường (tỷ lệ đã tiêm)" }
        table data-testid="coverage-communes" {
            thead { tr {
                th { "Xã/phường" } th class="n" { "Số trẻ" }
                @for i in &total.indicators { th class="n" { (i.name) } }
            } }
            tbody {
                @for r in &c.communes {
                    tr data-commune=(r.commune) {
                        td { (r.commune) br; span class="muted" { (r.facilities.join(", ")) } }
                        td class="n" data-testid="children" { (r.coverage.children) }
                        @for i in &r.coverage.indicators {
                            td class="n" data-indicator=(i.indicator) data-reached=(i.reached) data-on-time=(i.on_time)
                                data-by-12=(i.by_12_months.map_or(String::new(), |n| n.to_string()))
                                data-by-24=(i.by_24_months.map_or(String::new(), |n| n.to_string())) {
                                (share(Some(i.reached), r.coverage.children))
                            }
                        }
                    }
                }
            }
        }
    };
    frame(
        View::Coverage,
        user,
        area,
        "Tỷ lệ tiêm chủng theo năm sinh",
        content,
    )
}

/// The daily report with its chart and the download link.
pub fn report(user: &str, area: &Area, r: &DailyReport, error: Option<&str>) -> Markup {
    let content = html! {
        form method="get" action="/console/report" {
            label { "Ngày " input name="day" type="date" value=(r.day) data-testid="report-day"; }
            " " button type="submit" { "Xem" }
            " " a href=(format!("/console/report.xlsx?day={}", r.day)) data-testid="report-download" { "Tải về Excel (.xlsx)" }
        }
        (error_box(error))
        p class="muted" { "Báo cáo ngày " (day_vn(&r.day)) ": gửi Trung tâm Kiểm soát bệnh tật tỉnh trước 13:30, Sở Y tế trước 15:00." }
        (chart(r))
        table data-testid="report-table" {
            thead { tr {
                th { "Cơ sở" } th { "Xã/phường" } th class="n" { "Số mũi tiêm" } th class="n" { "Mũi 1" }
                th class="n" { "Số người được tiêm" } th class="n" { "Mũi đã huỷ" } th class="n" { "Mũi đã ký số" }
            } }
            tbody {
                @for row in r.rows.iter().chain(std::iter::once(&r.totals)) {
                    @let total = std::ptr::eq(row, &r.totals);
                    tr class=[total.then_some("total")] data-facility=(if total { "total" } else { row.facility.as_str() }) {
                        td { (row.name) }
                        td { (row.commune.as_deref().unwrap_or("")) }
                        td class="n" data-testid="doses" { (row.doses) }
                        td class="n" data-testid="first-doses" { (row.first_doses) }
                        td class="n" data-testid="people" { (row.people) }
                        td class="n" data-testid="voided" { (row.voided) }
                        td class="n" data-testid="signed" { (row.signed) }
                    }
                }
            }
        }
        h3 { "Theo vắc xin" }
        table data-testid="report-vaccines" {
            thead { tr { th { "Vắc xin" } th class="n" { "Số mũi tiêm" } th class="n" { "Mũi 1" } } }
            tbody {
                @for v in &r.by_vaccine {
                    tr data-vaccine=(v.vaccine) { td { (v.name) } td class="n" { (v.doses) } td class="n" { (v.first_doses) } }
                }
                @if r.by_vaccine.is_empty() { tr { td colspan="3" class="muted" { "Không có mũi tiêm nào trong ngày." } } }
            }
        }
    };
    frame(View::Report, user, area, "Báo cáo ngày", content)
}

/// Doses per facility as horizontal bars (SVG drawn here: no script, no library in the page).
fn chart(r: &DailyReport) -> Markup {
    let max = r.rows.iter().map(|row| row.doses).max().unwrap_or(0).max(1);
    let (label_w, bar_w, row_h) = (260.0, 420.0, 22.0);
    let height = row_h * r.rows.len() as f64 + 10.0;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox=(format!("0 0 {} {height}", label_w + bar_w + 60.0)) role="img" aria-label="Số mũi tiêm theo cơ sở" data-testid="report-chart" {
            @for (i, row) in r.rows.iter().enumerate() {
                @let y = 5.0 + i as f64 * row_h;
                @let w = bar_w * row.doses as f64 / max as f64;
                text x=(label_w - 6.0) y=(y + 15.0) text-anchor="end" { (row.name) }
                rect x=(label_w) y=(y + 3.0) width=(format!("{w:.1}")) height=(row_h - 6.0) fill="#0b5394" {}
                text x=(label_w + w + 4.0) y=(y + 15.0) { (row.doses) }
            }
        }
    }
}

/// The area's resets of passwords and authenticators; a district officer approves those that
/// await a second person.
pub fn resets(
    user: &str,
    area: &Area,
    rows: &[sync_protocol::auth::ResetRecord],
    approves: bool,
    done: Option<&str>,
    error: Option<&str>,
) -> Markup {
    use sync_protocol::auth::ResetStatus;
    let status = |s: ResetStatus| match s {
        ResetStatus::Applied => "đã đặt lại",
        ResetStatus::AwaitingApproval => "chờ người thứ hai duyệt",
        ResetStatus::Expired => "hết hạn, không đặt lại",
    };
    let content = html! {
        p class="muted" { "Mật khẩu và ứng dụng xác thực của các tài khoản trong địa bàn được đặt lại trong 30 ngày qua. Đặt lại cả hai yếu tố của một tài khoản đọc dữ liệu người tiêm trong một ngày phải có người thứ hai duyệt (một quản trị khác của cơ sở, hoặc cán bộ tuyến huyện): không ai tự chiếm được tài khoản của người khác. Người giữ tài khoản được báo khi đăng nhập." }
        @if let Some(d) = done { p class="ok" role="status" data-testid="console-done" { (d) } }
        (error_box(error))
        table data-testid="resets-table" {
            thead { tr {
                th { "Cơ sở" } th { "Tài khoản" } th { "Yếu tố" } th { "Cả hai yếu tố" } th { "Trạng thái" }
                th { "Người yêu cầu" } th { "Người duyệt" } th {}
            } }
            tbody {
                @for r in rows {
                    tr data-id=(r.id) class=[(r.both_factors).then_some("silent")] {
                        td { (area.name_of(&r.facility)) br; span class="muted" { (r.facility) } }
                        td { (r.username) }
                        td { (r.factor.label()) }
                        td { @if r.both_factors { span class="badge" { "cả hai" } } }
                        td data-testid="status" { (status(r.status)) }
                        td { (r.requested_by) br; span class="muted" { (when(Some(&r.requested_at))) } }
                        td { (r.approved_by.as_deref().unwrap_or("")) }
                        td {
                            @if approves && r.status == ResetStatus::AwaitingApproval {
                                form method="post" action="/console/resets/approve" {
                                    input type="hidden" name="id" value=(r.id);
                                    button type="submit" data-testid=(format!("approve-{}", r.username)) { "Duyệt" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    frame(
        View::Resets,
        user,
        area,
        "Đặt lại mật khẩu và ứng dụng xác thực",
        content,
    )
}
