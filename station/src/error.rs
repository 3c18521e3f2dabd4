//! Errors of the station core. Their messages are for the user, in Vietnamese, and say what to do.

use std::path::PathBuf;
use sync_protocol::{FieldError, SchemaError};

/// Anything a station operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    /// Input that breaks a rule; names the field.
    #[error(transparent)]
    Invalid(#[from] FieldError),

    /// Several fields of one form are wrong at once.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidInput(Vec<FieldError>),

    #[error("không tìm thấy {what} có mã {id}")]
    NotFound { what: &'static str, id: String },

    #[error(
        "thư mục {0} chưa có dữ liệu trạm; hãy khởi tạo bằng `sotiem --data {0} init --facility MÃ --name TÊN`"
    )]
    NotInitialized(PathBuf),

    #[error("thư mục {0} đã có dữ liệu trạm; không khởi tạo lại để khỏi mất dữ liệu")]
    AlreadyInitialized(PathBuf),

    #[error(
        "không mở được cơ sở dữ liệu của trạm: khoá mã hoá không đúng. Dữ liệu vẫn còn nguyên; hãy dùng đúng khoá (SOTIEM_DB_KEY hoặc kho khoá của hệ điều hành của máy đã tạo dữ liệu)"
    )]
    WrongKey,

    #[error("không lấy được khoá mã hoá cơ sở dữ liệu: {0}")]
    KeyUnavailable(String),

    #[error(
        "còn {pending} thay đổi chưa gửi lên máy chủ: hãy đồng bộ xong rồi cập nhật (cập nhật khởi động lại ứng dụng)"
    )]
    UpdateWaitsForSync { pending: i64 },

    #[error("đang đồng bộ hoặc ký số: chờ xong rồi cập nhật")]
    UpdateWaitsForWork,

    /// A backup could not be written or read.
    #[error(transparent)]
    Backup(#[from] BackupError),

    #[error("chưa đăng nhập: hãy đăng nhập (tên, mật khẩu và mã xác thực) trước")]
    NotSignedIn,

    #[error("tên đăng nhập, mật khẩu hoặc mã xác thực không đúng")]
    BadCredentials,

    #[error("{0}")]
    Otp(sync_protocol::auth::OtpError),

    #[error(transparent)]
    WeakPassword(sync_protocol::auth::WeakPassword),

    #[error(
        "tài khoản này chưa từng đăng nhập trực tuyến trên máy này; cần kết nối máy chủ để đăng nhập lần đầu"
    )]
    OfflineUnknownAccount,

    #[error("đã quá thời hạn đăng nhập ngoại tuyến; hãy kết nối mạng và đăng nhập trực tuyến")]
    LeaseExpired,

    #[error(
        "tài khoản tạm khoá trên máy này do nhập sai nhiều lần; thử lại sau {until} hoặc kết nối mạng để đăng nhập trực tuyến"
    )]
    OfflineLocked { until: String },

    #[error(
        "máy chủ không gửi khoá mã xác thực và máy này không có bản nào mở được bằng mật khẩu vừa nhập: đăng nhập lại"
    )]
    SecretMissing,

    #[error(
        "ngày giờ của máy ({now}) sớm hơn lần máy được dùng gần nhất ({seen}): hãy chỉnh lại ngày giờ rồi đăng nhập, hoặc kết nối mạng để đăng nhập trực tuyến"
    )]
    ClockBehind { now: String, seen: String },

    #[error("tài khoản đã bị thu hồi; liên hệ quản trị viên")]
    AccountRevoked,

    #[error("tài khoản thuộc cơ sở {account}, máy này của cơ sở {station}")]
    WrongFacility { account: String, station: String },

    #[error("{message}")]
    AuthRefused { code: String, message: String },

    #[error("không kết nối được máy chủ: {0}")]
    ServerUnavailable(String),

    #[error("không xử lý được thông tin đăng nhập")]
    AuthFailed,

    #[error("{0}")]
    Forbidden(&'static str),

    #[error("cần nhập mã xác thực mới (OTP) để {0}")]
    StepUpRequired(&'static str),

    #[error(
        "thay đổi này cần máy chủ xác nhận mã xác thực mà máy chưa kết nối được máy chủ; chưa có gì được ghi: kết nối mạng rồi làm lại"
    )]
    StepUpNeedsServer,

    #[error(
        "việc này cần phiên đăng nhập trực tuyến: hãy kết nối mạng rồi đăng xuất và đăng nhập lại"
    )]
    NeedsOnlineSession,

    #[error(
        "mã QR đọc được đã mất dấu tiếng Việt (máy quét đang gõ theo bàn phím tiếng Anh), nên chưa đăng ký: hãy gõ lại họ tên và địa chỉ có dấu, hoặc cài máy quét sang chế độ Unicode / bàn phím tiếng Việt rồi quét lại"
    )]
    QrDiacriticsLost,

    /// A write the rulebook refuses (the server would refuse it too).
    #[error(transparent)]
    Rule(sync_protocol::rules::Violation),

    #[error("tài liệu của người {id} bị hỏng: {source}")]
    Corrupt {
        id: String,
        #[source]
        source: SchemaError,
    },

    #[error("lỗi cơ sở dữ liệu: {0}")]
    Database(#[from] sqlx::Error),

    #[error("lỗi nâng cấp cơ sở dữ liệu: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    #[error(
        "tệp {path} đang được chương trình khác mở (ví dụ Excel): đóng tệp đó hoặc chọn tên khác rồi làm lại"
    )]
    FileInUse { path: PathBuf },

    #[error("lỗi đọc/ghi tệp {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("tìm kiếm cần họ tên cùng số điện thoại hoặc số giấy tờ; không tìm theo một trường")]
    SearchNeedsTwoFields,

    #[error("{0}")]
    Catalogue(#[from] sync_protocol::vaccines::CatalogueError),

    #[error("{0}")]
    Schedule(#[from] sync_protocol::schedule::ScheduleError),

    #[error("{0}")]
    ScheduleGap(#[from] sync_protocol::schedule::ScheduleGap),

    #[error(transparent)]
    Token(#[from] sotiem_token::TokenError),

    #[error(
        "chứng thư số có số hiệu {serial} do \"{issuer}\" cấp chưa được đăng ký cho tài khoản này: đăng ký chứng thư (Đăng ký chứng thư này / `sotiem sign register`) hoặc nhờ quản trị viên đăng ký, rồi ký lại"
    )]
    CertificateNotRegistered { serial: String, issuer: String },

    #[error(
        "chứng thư số {serial} không còn hiệu lực lúc này (hiệu lực từ {from} đến {until}): dùng chứng thư còn hạn"
    )]
    CertificateNotValid {
        serial: String,
        from: String,
        until: String,
    },

    #[error(
        "một lần ký tối đa {max_people} người và {max_doses} mũi tiêm; đã chọn {people} người, {doses} mũi: thu hẹp khoảng ngày hoặc ký làm nhiều lần"
    )]
    TooManyForOneRun {
        people: usize,
        doses: usize,
        max_people: usize,
        max_doses: usize,
    },

    #[error(
        "không ghi được tệp Excel {path}: {reason}. Chọn thư mục khác còn chỗ trống rồi xuất lại"
    )]
    Export { path: PathBuf, reason: String },

    #[error("không nhập được tệp {path}: {reason}")]
    ImportRefused { path: PathBuf, reason: String },

    #[error(transparent)]
    Sheet(#[from] sotiem_sheets::SheetError),

    #[error("dữ liệu đã thay đổi từ lúc xem trước: xem trước lại rồi mới nhập")]
    ImportChanged,

    #[error("không gộp được hồ sơ: {0}")]
    MergeRefused(String),

    #[error("danh sách cần ký đã thay đổi từ lúc xem trước: xem lại danh sách rồi ký")]
    SelectionChanged,

    #[error(
        "không có mũi tiêm nào để ký trong lựa chọn này (chỉ ký mũi chưa ký, chưa huỷ, tiêm tại cơ sở, của người đã xác thực với CSDLQG)"
    )]
    NothingToSign,

    #[error(
        "người này chưa có hộ chiếu vắc xin còn hiệu lực trên máy (máy chủ cấp vào cuối ngày, sau khi mũi tiêm được ký và thông tin khớp CSDLQG; đồng bộ để nhận)"
    )]
    NoPassport,

    #[error(
        "máy chưa có danh sách tin cậy để kiểm tra hộ chiếu: đồng bộ với máy chủ một lần khi có mạng"
    )]
    NoTrustList,

    #[error("không tạo được tệp PDF: {0}")]
    Pdf(String),

    /// A complaint's answer, forward or photo that cannot be had as asked; says why.
    #[error("{message}")]
    Complaint { code: &'static str, message: String },
}

impl StationError {
    /// A failure to write or replace the file at `path`: one another program holds open (on
    /// Windows, Excel keeps the workbook it shows locked) is told as such, the rest as I/O.
    pub fn writing(path: &std::path::Path, source: std::io::Error) -> StationError {
        // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION; ERROR_ACCESS_DENIED is what replacing
        // a file that is open without delete sharing gives.
        let in_use = match source.raw_os_error() {
            Some(32 | 33) => cfg!(windows),
            Some(5) => cfg!(windows) && path.is_file(),
            _ => false,
        };
        if in_use {
            StationError::FileInUse {
                path: path.to_path_buf(),
            }
        } else {
            StationError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// Whether the input itself was refused (nothing was written; typing it again right will
    /// do), as opposed to a failure of the station, its data or the network.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            StationError::Invalid(_)
                | StationError::InvalidInput(_)
                | StationError::SearchNeedsTwoFields
                | StationError::QrDiacriticsLost
                | StationError::Complaint { .. }
        )
    }

    /// A stable machine name of the error kind, for the UI and `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            StationError::Invalid(e) => e.problem.code(),
            StationError::InvalidInput(_) => "invalid_input",
            StationError::NotFound { .. } => "not_found",
            StationError::NotInitialized(_) => "not_initialized",
            StationError::AlreadyInitialized(_) => "already_initialized",
            StationError::WrongKey => "wrong_key",
            StationError::KeyUnavailable(_) => "key_unavailable",
            StationError::NotSignedIn => "not_signed_in",
            StationError::BadCredentials => "bad_credentials",
            StationError::Otp(sync_protocol::auth::OtpError::Replayed) => "otp_replayed",
            StationError::Otp(_) => "otp_invalid",
            StationError::WeakPassword(_) => "weak_password",
            StationError::OfflineUnknownAccount => "offline_unknown_account",
            StationError::LeaseExpired => "lease_expired",
            StationError::OfflineLocked { .. } => "locked",
            StationError::SecretMissing => "secret_missing",
            StationError::ClockBehind { .. } => "clock_behind",
            StationError::AccountRevoked => "account_revoked",
            StationError::WrongFacility { .. } => "wrong_facility",
            StationError::AuthRefused { .. } => "auth_refused",
            StationError::ServerUnavailable(_) => "server_unavailable",
            StationError::AuthFailed => "auth_failed",
            StationError::Forbidden(_) => "forbidden",
            StationError::StepUpRequired(_) => "step_up_required",
            StationError::StepUpNeedsServer => "step_up_needs_server",
            StationError::NeedsOnlineSession => "needs_online_session",
            StationError::QrDiacriticsLost => "qr_diacritics_lost",
            StationError::Rule(v) => v.code(),
            StationError::Corrupt { .. } => "corrupt_document",
            StationError::Database(_) => "database",
            StationError::Migration(_) => "migration",
            StationError::FileInUse { .. } => "file_in_use",
            StationError::Io { .. } => "io",
            StationError::SearchNeedsTwoFields => "search_needs_two_fields",
            StationError::Catalogue(_) => "catalogue",
            StationError::Schedule(_) => "schedule",
            StationError::ScheduleGap(sync_protocol::schedule::ScheduleGap::BirthYearOnly(_)) => {
                "birth_year_only"
            }
            StationError::ScheduleGap(sync_protocol::schedule::ScheduleGap::NoRuleSet(_)) => {
                "no_rule_set"
            }
            StationError::Token(e) => e.code(),
            StationError::CertificateNotRegistered { .. } => "certificate_not_registered",
            StationError::CertificateNotValid { .. } => "certificate_not_valid",
            StationError::TooManyForOneRun { .. } => "too_many_for_one_run",
            StationError::SelectionChanged => "selection_changed",
            StationError::NothingToSign => "nothing_to_sign",
            StationError::NoPassport => "no_passport",
            StationError::NoTrustList => "no_trust_list",
            StationError::Pdf(_) => "pdf_failed",
            StationError::Complaint { code, .. } => code,
            StationError::Export { .. } => "export_failed",
            StationError::ImportRefused { .. } => "import_refused",
            StationError::Sheet(sotiem_sheets::SheetError::LegacyEncoding { .. }) => {
                "legacy_encoding"
            }
            StationError::Sheet(_) => "import_refused",
            StationError::ImportChanged => "import_changed",
            StationError::MergeRefused(_) => "merge_refused",
            StationError::Backup(e) => e.code(),
            StationError::UpdateWaitsForSync { .. } => "update_waits_for_sync",
            StationError::UpdateWaitsForWork => "update_waits_for_work",
        }
    }

    /// The fields the error is about (none when it is not about input).
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            StationError::Invalid(e) => vec![e.clone()],
            StationError::InvalidInput(v) => v.clone(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn invalid(field: sync_protocol::Field, problem: sync_protocol::Problem) -> Self {
        StationError::Invalid(FieldError::new(field, problem))
    }
}

/// Result of station operations.
pub type Result<T, E = StationError> = std::result::Result<T, E>;

/// Why a backup could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "mật khẩu khôi phục phải có ít nhất {} ký tự (một câu ngắn dễ nhớ)",
        sync_protocol::validate::MIN_RECOVERY_PASSPHRASE
    )]
    WeakPassphrase,
    #[error(
        "chỉ trưởng cơ sở hoặc quản trị của cơ sở được đặt mật khẩu khôi phục (người giữ mật khẩu này mở được mọi bản sao lưu)"
    )]
    NotHead,
    #[error(
        "chưa đặt mật khẩu khôi phục: trưởng cơ sở hãy đặt ở màn hình Tài khoản → Sao lưu (hoặc `sotiem backup passphrase`)"
    )]
    NotConfigured,
    #[error("chưa chọn thư mục sao lưu (ví dụ một USB): hãy chọn ở màn hình Tài khoản → Sao lưu")]
    NoFolder,
    #[error("tệp {0} không phải bản sao lưu của Sổ Tiêm")]
    NotABackup(PathBuf),
    #[error("mật khẩu khôi phục không đúng với bản sao lưu này")]
    WrongPassphrase,
    #[error(
        "bản sao lưu bị hỏng hoặc đã bị sửa ({0}); không khôi phục từ tệp này — hãy dùng bản sao lưu trước đó"
    )]
    Damaged(String),
    #[error(
        "bản sao lưu của cơ sở {backup}, nhưng mã thiết bị được cấp cho cơ sở {device}: hãy xin quản trị mã thiết bị thay thế của đúng cơ sở"
    )]
    OtherFacility { backup: String, device: String },
    #[error("không ghi được bản sao lưu vào {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl BackupError {
    /// A stable machine name, for the UI and `--json` output.
    pub fn code(&self) -> &'static str {
        match self {
            BackupError::WeakPassphrase => "weak_recovery_passphrase",
            BackupError::NotHead => "forbidden",
            BackupError::NotConfigured => "backup_not_configured",
            BackupError::NoFolder => "backup_no_folder",
            BackupError::NotABackup(_) => "not_a_backup",
            BackupError::WrongPassphrase => "wrong_recovery_passphrase",
            BackupError::Damaged(_) => "backup_damaged",
            BackupError::OtherFacility { .. } => "backup_other_facility",
            BackupError::Write { .. } => "backup_write_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under Windows: a workbook another program holds open (Excel opens without sharing) cannot
    /// be replaced, and the nurse is told to close it, not shown an OS error number.
    #[cfg(windows)]
    #[test]
    fn replacing_a_file_another_program_holds_open_says_to_close_it() {
        use std::os::windows::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("Danh sách mũi tiêm.xlsx");
        std::fs::write(&target, b"old").expect("written");
        let partial = dir.path().join("Danh sách mũi tiêm.xlsx.tmp");
        std::fs::write(&partial, b"new").expect("written");
        let held = std::fs::OpenOptions::new()
            .read(true)
            .share_mode(0)
            .open(&target)
            .expect("held open");
        let err = std::fs::rename(&partial, &target)
            .map_err(|e| StationError::writing(&target, e))
            .expect_err("the open file is not replaced");
        assert_eq!(err.code(), "file_in_use", "{err}");
        assert!(
            err.to_string().contains("đang được chương trình khác mở"),
            "{err}"
        );
        drop(held);
        std::fs::rename(&partial, &target).expect("replaced once closed");
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
    }

    #[test]
    fn other_write_failures_stay_input_output_errors() {
        let err = StationError::writing(
            std::path::Path::new("không-có/thư-mục/này.xlsx"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(err.code(), "io");
    }
}
