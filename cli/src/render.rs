//! How the CLI prints results: short Vietnamese text for people, JSON for scripts.

use crate::print_json;
use serde::Serialize;
use station::store::StoreDescriptor;
use station::{Facility, PersonRecord, PersonSummary, StationError, StationStatus};
use sync_protocol::person::format_time;
use sync_protocol::{Catalogue, Person};
use uuid::Uuid;

/// Where and how results go.
pub struct Output {
    pub json: bool,
}

impl Output {
    pub fn facility(&self, f: &Facility, d: &StoreDescriptor) {
        if self.json {
            print_json(&serde_json::json!({ "facility": f, "store": d }));
        } else {
            println!("Đã khởi tạo dữ liệu trạm {} — {}", f.code, f.name);
            println!(
                "Khoá mã hoá lưu tại: {}",
                match d.key_source {
                    station::key::KeySource::Keyring => "kho khoá của hệ điều hành",
                    station::key::KeySource::Environment => "biến môi trường SOTIEM_DB_KEY",
                }
            );
        }
    }

    /// A created or changed entity: its id alone in text mode, the whole of it in JSON.
    pub fn created<T: Serialize>(&self, id: &Uuid, value: &T) {
        if self.json {
            print_json(value);
        } else {
            println!("{id}");
        }
    }

    pub fn found(&self, found: &[PersonSummary]) {
        if self.json {
            print_json(&found);
            return;
        }
        if found.is_empty() {
            println!("Không tìm thấy ai.");
        }
        for p in found {
            println!(
                "{}  {}  {}  {}  {} {}  ĐT {}  {} mũi",
                p.id,
                p.full_name,
                gender_label(&p.gender),
                p.birth_date,
                p.id_kind.label(),
                p.id_number.as_deref().unwrap_or("—"),
                p.phone.as_deref().unwrap_or("—"),
                p.active_doses
            );
        }
    }

    pub fn record(&self, r: &PersonRecord, catalogue: &Catalogue) {
        if self.json {
            print_json(r);
            return;
        }
        let p: &Person = &r.person;
        println!("{}  ({})", p.full_name, p.id);
        println!("  Giới tính:    {}", p.gender.label());
        println!("  Ngày sinh:    {}", p.birth_date.display_vn());
        println!(
            "  Giấy tờ:      {} {}",
            p.identity.kind.label(),
            p.identity.number.as_deref().unwrap_or("")
        );
        println!("  Điện thoại:   {}", p.phone.as_deref().unwrap_or("—"));
        let addr: Vec<&str> = [&p.address.detail, &p.address.commune, &p.address.province]
            .into_iter()
            .filter_map(|x| x.as_deref())
            .collect();
        println!(
            "  Địa chỉ:      {}",
            if addr.is_empty() {
                "—".into()
            } else {
                addr.join(", ")
            }
        );
        println!("  Quốc tịch:    {}", p.nationality);
        println!("  Cơ sở quản lý: {}", p.managing_facility);
        println!("  Xác thực:     {}", p.verification.status.label());
        println!("  Mũi tiêm:");
        let mut doses: Vec<_> = p.doses.values().collect();
        doses.sort_by_key(|d| (d.given_at, d.dose_number));
        for d in doses {
            let name = catalogue
                .find(&d.vaccine)
                .map_or(d.vaccine.as_str(), |v| v.name.as_str());
            let state = match (&d.voided, &d.signature) {
                (Some(v), _) => format!("ĐÃ HUỶ: {}", v.reason),
                (None, Some(_)) => "đã ký số".into(),
                (None, None) => "chưa ký".into(),
            };
            println!(
                "    Mũi {} ({}) {}  {}  lô {}  tại {}  [{}]  {}",
                d.dose_number,
                d.kind.label(),
                format_time(d.given_at),
                name,
                d.lot,
                d.facility,
                state,
                d.id
            );
        }
        println!("  Mũi tiếp theo đề xuất: {}", r.next_dose_number);
        for w in &r.warnings {
            println!("  ⚠ {}", w.message);
        }
    }

    pub fn status(&self, s: &StationStatus) {
        if self.json {
            print_json(s);
            return;
        }
        println!("Trạm: {} — {}", s.facility.code, s.facility.name);
        println!("Thiết bị: {}", s.device_id);
        println!("Số người: {}", s.persons);
        println!("Số mũi tiêm (chưa huỷ): {}", s.doses);
        println!("Thay đổi chờ đồng bộ: {}", s.pending_changes);
        println!("Mục nhật ký: {}", s.audit_entries);
    }

    pub fn sync_report(&self, r: &station::SyncReport) {
        if self.json {
            print_json(r);
            return;
        }
        println!("Đồng bộ xong (sau {} lần thử).", r.attempts);
        println!(
            "  Đã gửi: {} thay đổi ({} máy chủ đã có sẵn)",
            r.pushed, r.already_on_server
        );
        if r.quarantined > 0 {
            println!(
                "  ⚠ Bị máy chủ từ chối, giữ lại để xem xét: {} (xem `sotiem sync status`)",
                r.quarantined
            );
        }
        if r.waiting_for_dependencies > 0 {
            println!("  Chờ gửi lần sau: {}", r.waiting_for_dependencies);
        }
        if r.bootstrapped > 0 {
            println!("  Tải lần đầu: {} hồ sơ", r.bootstrapped);
        }
        println!(
            "  Đã nhận: {} thay đổi, {} hồ sơ mới vào phạm vi",
            r.pulled_changes, r.pulled_snapshots
        );
        if r.complaints_pulled > 0 {
            println!(
                "  Phản ánh mới hoặc thay đổi: {} (xem `sotiem complaint list`)",
                r.complaints_pulled
            );
        }
        if r.complaint_replies_sent + r.complaint_replies_refused > 0 {
            println!(
                "  Trả lời phản ánh đã gửi: {}; máy chủ không nhận: {}",
                r.complaint_replies_sent, r.complaint_replies_refused
            );
        }
        println!(
            "  Dung lượng: gửi {} byte, nhận {} byte",
            r.bytes_sent, r.bytes_received
        );
    }

    pub fn sync_status(&self, s: &station::SyncStatus) {
        if self.json {
            print_json(s);
            return;
        }
        println!(
            "Máy chủ: {}",
            s.server_url.as_deref().unwrap_or("chưa cấu hình")
        );
        println!(
            "Đồng bộ lần cuối: {}",
            s.last_sync_at.as_deref().unwrap_or("chưa bao giờ")
        );
        if let Some(e) = &s.last_error {
            println!("Lỗi lần thử gần nhất: {e}");
        }
        println!("Thay đổi chờ gửi: {}", s.pending_changes);
        println!("Thay đổi bị từ chối: {}", s.quarantined.len());
        for q in &s.quarantined {
            println!(
                "  {} {} — {} ({})",
                q.quarantined_at,
                q.full_name.as_deref().unwrap_or(&q.person_id.to_string()),
                q.message,
                q.reason
            );
        }
    }

    pub fn seeded(&self, n: usize) {
        if self.json {
            print_json(&serde_json::json!({ "people": n }));
        } else {
            println!("Đã thêm {n} người (dữ liệu mẫu, không phải người thật).");
        }
    }

    pub fn recorded_today(&self, n: usize, session: Option<&station::programme::SessionDay>) {
        if self.json {
            print_json(&serde_json::json!({ "doses_today": n, "session": session }));
        } else {
            println!("Đã ghi {n} mũi tiêm hôm nay (dữ liệu mẫu).");
            if let Some(s) = session {
                println!(
                    "Đã lên lịch buổi tiêm chủng hôm nay cho {}.",
                    s.hamlet.as_deref().unwrap_or("cả xã")
                );
            }
        }
    }

    pub fn check(&self, problems: &[String]) {
        if self.json {
            print_json(&serde_json::json!({ "ok": problems.is_empty(), "problems": problems }));
        } else if problems.is_empty() {
            println!("Dữ liệu nguyên vẹn và nhất quán.");
        } else {
            for p in problems {
                println!("✗ {p}");
            }
        }
    }

    pub fn audit(&self, c: &station::audit::AuditCheck) {
        if self.json {
            print_json(c);
        } else if c.problem.is_none() {
            match c.server_through {
                Some(n) => println!(
                    "Nhật ký nguyên vẹn: {} mục, chuỗi băm khớp và khớp với bản máy chủ giữ (đến mục {n}).",
                    c.entries
                ),
                None => println!(
                    "Nhật ký nguyên vẹn: {} mục, chuỗi băm khớp; theo máy này, máy chủ đã giữ đến mục {} (chưa đối chiếu với máy chủ).",
                    c.entries, c.synced_through
                ),
            }
        }
    }

    /// A value: as JSON, or as the text `describe` makes of it.
    pub fn value<T: Serialize>(&self, v: &T, describe: impl FnOnce(&T) -> String) {
        if self.json {
            print_json(v);
        } else {
            println!("{}", describe(v));
        }
    }

    pub fn message(&self, text: &str) {
        if self.json {
            print_json(&serde_json::json!({ "message": text }));
        } else {
            println!("{text}");
        }
    }

    pub fn whoami(&self, s: Option<&station::Session>) {
        if self.json {
            print_json(&s);
            return;
        }
        match s {
            None => println!("Chưa đăng nhập."),
            Some(s) => println!(
                "{} — {} ({}), cơ sở {}, {} đến {}",
                s.account.username,
                s.account.full_name,
                s.account.role.label(),
                s.account.facility,
                if s.online {
                    "trực tuyến"
                } else {
                    "ngoại tuyến"
                },
                s.expires_at
            ),
        }
    }

    pub fn sign_in(&self, step: &station::SignIn) {
        if self.json {
            print_json(step);
            return;
        }
        match step {
            station::SignIn::Done { session } => {
                self.whoami(Some(session));
                for r in &session.reset_notices {
                    eprintln!("{}", reset_notice(r));
                }
            }
            station::SignIn::EnrollOtp {
                challenge,
                otp_uri,
                otp_secret_base32,
            } => {
                println!(
                    "Lần đăng nhập đầu: quét mã QR này bằng ứng dụng xác thực (Google Authenticator, Microsoft Authenticator…):"
                );
                println!("{}", qr_text(otp_uri));
                println!("Hoặc nhập khoá thủ công: {otp_secret_base32}");
                println!("Rồi xác nhận: sotiem login --enroll {challenge}");
            }
            station::SignIn::ChangePassword { challenge } => {
                println!("Cần đổi mật khẩu ban đầu: sotiem login --change-password {challenge}");
            }
        }
    }
}

/// What the holder is told of a reset of their account made by someone else.
pub fn reset_notice(r: &sync_protocol::auth::ResetRecord) -> String {
    format!(
        "Chú ý: {} của tài khoản này đã được {} đặt lại lúc {}{}. Nếu bạn không yêu cầu, báo ngay cho trung tâm y tế huyện.",
        r.factor.label(),
        r.requested_by,
        r.applied_at.as_deref().unwrap_or(&r.requested_at),
        r.approved_by
            .as_deref()
            .map(|a| format!(" (duyệt bởi {a})"))
            .unwrap_or_default()
    )
}

fn gender_label(g: &sync_protocol::Gender) -> &'static str {
    g.label()
}

/// Prints an error: Vietnamese text on standard error, or a JSON object on standard output.
pub fn error(e: &anyhow::Error, json: bool) {
    let station = e.downcast_ref::<StationError>();
    if json {
        let fields: Vec<_> = station
            .map(StationError::field_errors)
            .unwrap_or_default()
            .into_iter()
            .map(|f| {
                serde_json::json!({
                    "field": f.field.code(),
                    "label": f.field.label(),
                    "problem": f.problem.code(),
                    "message": f.to_string(),
                })
            })
            .collect();
        print_json(&serde_json::json!({
            "error": {
                // A station's refusal, else the server's (a refused request names its rule).
                "code": station
                    .map(StationError::code)
                    .or_else(|| e.downcast_ref::<station::SyncError>().map(|s| s.code()))
                    .unwrap_or("error"),
                "message": e.to_string(),
                "fields": fields,
            }
        }));
    } else {
        let fields = station.map(StationError::field_errors).unwrap_or_default();
        if fields.is_empty() {
            eprintln!("Lỗi: {e}");
        } else {
            eprintln!("Lỗi: dữ liệu nhập chưa đúng, chưa ghi gì:");
            for f in fields {
                eprintln!(
                    "  trường `{}` ({}): {}",
                    f.field.code(),
                    f.field.label(),
                    f.problem
                );
            }
        }
    }
}

/// A QR code drawn with Unicode half blocks, for scanning from the terminal.
pub fn qr_text(data: &str) -> String {
    match qrcode::QrCode::new(data.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
        Err(_) => data.to_string(),
    }
}
