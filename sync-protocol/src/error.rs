//! Validation errors that name the field and say, in Vietnamese, what is wrong with it.

use serde::Serialize;
use std::fmt;

/// A field of a person or a dose that input can be wrong in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    PersonId,
    FullName,
    Gender,
    BirthDate,
    IdentityKind,
    IdNumber,
    Phone,
    Address,
    Nationality,
    InsuranceNumber,
    Facility,
    FacilityName,
    CccdQr,
    DoseId,
    Vaccine,
    Lot,
    DoseNumber,
    DoseKind,
    GivenAt,
    Vaccinator,
    Place,
    ReactionNotes,
    VoidReason,
    User,
    CaregiverName,
    CaregiverPhone,
    Hamlet,
    HistorySource,
    SessionDay,
    Defaulter,
}

impl Field {
    /// The stable machine name of the field (also the JSON name).
    pub fn code(self) -> &'static str {
        match self {
            Field::PersonId => "person_id",
            Field::FullName => "full_name",
            Field::Gender => "gender",
            Field::BirthDate => "birth_date",
            Field::IdentityKind => "identity_kind",
            Field::IdNumber => "id_number",
            Field::Phone => "phone",
            Field::Address => "address",
            Field::Nationality => "nationality",
            Field::InsuranceNumber => "insurance_number",
            Field::Facility => "facility",
            Field::FacilityName => "facility_name",
            Field::CccdQr => "cccd_qr",
            Field::DoseId => "dose_id",
            Field::Vaccine => "vaccine",
            Field::Lot => "lot",
            Field::DoseNumber => "dose_number",
            Field::DoseKind => "dose_kind",
            Field::GivenAt => "given_at",
            Field::Vaccinator => "vaccinator",
            Field::Place => "place",
            Field::ReactionNotes => "reaction_notes",
            Field::VoidReason => "void_reason",
            Field::User => "user",
            Field::CaregiverName => "caregiver_name",
            Field::CaregiverPhone => "caregiver_phone",
            Field::Hamlet => "hamlet",
            Field::HistorySource => "history_source",
            Field::SessionDay => "session_day",
            Field::Defaulter => "defaulter",
        }
    }

    /// The Vietnamese label the user sees for the field.
    pub fn label(self) -> &'static str {
        match self {
            Field::PersonId => "Mã người tiêm",
            Field::FullName => "Họ và tên",
            Field::Gender => "Giới tính",
            Field::BirthDate => "Ngày sinh",
            Field::IdentityKind => "Loại giấy tờ",
            Field::IdNumber => "Số giấy tờ (CCCD/CMND/hộ chiếu)",
            Field::Phone => "Số điện thoại",
            Field::Address => "Địa chỉ",
            Field::Nationality => "Quốc tịch",
            Field::InsuranceNumber => "Số thẻ BHYT",
            Field::Facility => "Mã cơ sở",
            Field::FacilityName => "Tên cơ sở",
            Field::CccdQr => "Mã QR trên CCCD",
            Field::DoseId => "Mã mũi tiêm",
            Field::Vaccine => "Vắc xin",
            Field::Lot => "Số lô",
            Field::DoseNumber => "Mũi thứ",
            Field::DoseKind => "Loại mũi",
            Field::GivenAt => "Thời điểm tiêm",
            Field::Vaccinator => "Người tiêm",
            Field::Place => "Địa điểm tiêm",
            Field::ReactionNotes => "Phản ứng sau tiêm",
            Field::VoidReason => "Lý do huỷ",
            Field::User => "Người dùng",
            Field::CaregiverName => "Họ tên mẹ / người chăm sóc",
            Field::CaregiverPhone => "Số điện thoại người chăm sóc",
            Field::Hamlet => "Thôn / ấp / tổ dân phố",
            Field::HistorySource => "Nguồn thông tin mũi tiêm",
            Field::SessionDay => "Buổi tiêm chủng",
            Field::Defaulter => "Người bỏ lỡ buổi tiêm",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What is wrong with a field's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    Required,
    TooLong { max: usize },
    TooShort { min: usize },
    NameCharacters,
    Choice { allowed: &'static str },
    DateFormat,
    DateTimeFormat,
    InFuture,
    BeforeYear { year: i32 },
    BeforeBirth,
    CccdLength,
    CccdProvince { code: String },
    CccdGenderCentury { digit: char, expected: String },
    CccdBirthYear { digits: String, year: i32 },
    CmndLength,
    PassportFormat,
    PhoneFormat,
    InsuranceFormat,
    CodeFormat,
    UnknownVaccine { code: String },
    DoseNumberRange,
    LotFormat,
    QrFieldCount { found: usize },
    QrField { position: usize, reason: String },
    NationalityFormat,
    AlreadyRecorded { dose_number: u8, given_on: String },
    DuplicateId { person_id: String },
    NotFound,
    AlreadyVoided,
    HistoryFacility { facility: String },
    SessionPlanned { day: String },
    SessionClosed,
    SessionNotOver,
    InPast,
}

impl Problem {
    /// The stable machine name of the problem.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Required => "required",
            Problem::TooLong { .. } => "too_long",
            Problem::TooShort { .. } => "too_short",
            Problem::NameCharacters => "name_characters",
            Problem::Choice { .. } => "choice",
            Problem::DateFormat => "date_format",
            Problem::DateTimeFormat => "date_time_format",
            Problem::InFuture => "in_future",
            Problem::BeforeYear { .. } => "before_year",
            Problem::BeforeBirth => "before_birth",
            Problem::CccdLength => "cccd_length",
            Problem::CccdProvince { .. } => "cccd_province",
            Problem::CccdGenderCentury { .. } => "cccd_gender_century",
            Problem::CccdBirthYear { .. } => "cccd_birth_year",
            Problem::CmndLength => "cmnd_length",
            Problem::PassportFormat => "passport_format",
            Problem::PhoneFormat => "phone_format",
            Problem::InsuranceFormat => "insurance_format",
            Problem::CodeFormat => "code_format",
            Problem::UnknownVaccine { .. } => "unknown_vaccine",
            Problem::DoseNumberRange => "dose_number_range",
            Problem::LotFormat => "lot_format",
            Problem::QrFieldCount { .. } => "qr_field_count",
            Problem::QrField { .. } => "qr_field",
            Problem::NationalityFormat => "nationality_format",
            Problem::AlreadyRecorded { .. } => "already_recorded",
            Problem::DuplicateId { .. } => "duplicate_id",
            Problem::NotFound => "not_found",
            Problem::AlreadyVoided => "already_voided",
            Problem::HistoryFacility { .. } => "history_facility",
            Problem::SessionPlanned { .. } => "session_planned",
            Problem::SessionClosed => "session_closed",
            Problem::SessionNotOver => "session_not_over",
            Problem::InPast => "in_past",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Required => write!(f, "không được để trống"),
            Problem::TooLong { max } => write!(f, "dài quá {max} ký tự"),
            Problem::TooShort { min } => write!(f, "phải có ít nhất {min} ký tự"),
            Problem::NameCharacters => write!(
                f,
                "chỉ được gồm chữ cái, dấu cách, dấu nháy (') và dấu gạch nối (-)"
            ),
            Problem::Choice { allowed } => write!(f, "phải là một trong: {allowed}"),
            Problem::DateFormat => write!(
                f,
                "không phải ngày hợp lệ; nhập dạng dd/mm/yyyy, yyyy-mm-dd hoặc chỉ năm yyyy"
            ),
            Problem::DateTimeFormat => write!(
                f,
                "không phải thời điểm hợp lệ; nhập dạng 2025-03-15T08:30:00+07:00 hoặc dd/mm/yyyy hh:mm"
            ),
            Problem::InFuture => write!(f, "không được ở tương lai"),
            Problem::BeforeYear { year } => write!(f, "không được trước năm {year}"),
            Problem::BeforeBirth => write!(f, "không được trước ngày sinh"),
            Problem::CccdLength => write!(f, "số CCCD phải có đúng 12 chữ số"),
            Problem::CccdProvince { code } => write!(
                f,
                "ba chữ số đầu {code} không phải mã tỉnh nơi sinh nào (001 Hà Nội … 096 Cà Mau)"
            ),
            Problem::CccdGenderCentury { digit, expected } => write!(
                f,
                "chữ số thứ tư ({digit}) mã hoá giới tính và thế kỷ sinh; với giới tính và năm sinh đã nhập, nó phải là {expected}"
            ),
            Problem::CccdBirthYear { digits, year } => write!(
                f,
                "chữ số thứ năm và sáu ({digits}) phải là hai số cuối của năm sinh {year}"
            ),
            Problem::CmndLength => write!(f, "số CMND phải có 9 hoặc 12 chữ số"),
            Problem::PassportFormat => {
                write!(
                    f,
                    "số hộ chiếu phải gồm 6 đến 20 chữ cái Latinh hoặc chữ số"
                )
            }
            Problem::PhoneFormat => write!(
                f,
                "số di động phải có 10 chữ số bắt đầu bằng 03, 05, 07, 08 hoặc 09 (số cố định: 11 chữ số bắt đầu bằng 02); +84 được đổi thành 0"
            ),
            Problem::InsuranceFormat => write!(
                f,
                "số thẻ BHYT gồm 2 chữ cái và 13 chữ số (ví dụ DN4797912345678) hoặc là mã số BHXH 10 chữ số"
            ),
            Problem::CodeFormat => write!(
                f,
                "chỉ được gồm chữ cái không dấu, chữ số, dấu chấm, gạch nối, gạch dưới (2 đến 32 ký tự)"
            ),
            Problem::UnknownVaccine { code } => write!(
                f,
                "không có vắc xin \"{code}\" trong danh mục (xem `sotiem vaccine list`)"
            ),
            Problem::DoseNumberRange => write!(f, "phải là số từ 1 đến 10"),
            Problem::LotFormat => write!(
                f,
                "số lô chỉ được gồm chữ cái không dấu, chữ số, dấu gạch nối, dấu chấm và dấu gạch chéo"
            ),
            Problem::QrFieldCount { found } => write!(
                f,
                "mã QR CCCD phải có 7 trường (hoặc 6) ngăn bởi dấu |, nhưng đọc được {found}; hãy quét lại"
            ),
            Problem::QrField { position, reason } => {
                write!(f, "trường thứ {position} của mã QR: {reason}")
            }
            Problem::NationalityFormat => {
                write!(f, "phải là mã quốc gia 2 chữ cái theo ISO 3166 (ví dụ VN)")
            }
            Problem::AlreadyRecorded {
                dose_number,
                given_on,
            } => write!(
                f,
                "mũi {dose_number} đã được ghi ngày {given_on}; nếu ghi nhầm, hãy huỷ mũi đó trước"
            ),
            Problem::DuplicateId { person_id } => write!(
                f,
                "đã có người đăng ký với số giấy tờ này (mã {person_id}); hãy mở hồ sơ đó thay vì đăng ký mới"
            ),
            Problem::NotFound => write!(f, "không tìm thấy"),
            Problem::AlreadyVoided => write!(f, "mũi tiêm này đã bị huỷ"),
            Problem::HistoryFacility { facility } => write!(
                f,
                "mũi tiêm nơi khác không được ghi là của cơ sở {facility}; nơi tiêm ghi ở \"Địa điểm tiêm\""
            ),
            Problem::SessionPlanned { day } => write!(
                f,
                "đã có buổi tiêm ngày {day} cho thôn/ấp này; mở buổi đó thay vì lập buổi mới"
            ),
            Problem::SessionClosed => write!(f, "buổi tiêm đã kết thúc (đã chốt danh sách bỏ lỡ)"),
            Problem::SessionNotOver => write!(
                f,
                "buổi tiêm chưa diễn ra: chỉ kết thúc được từ ngày của buổi tiêm"
            ),
            Problem::InPast => write!(f, "không được ở quá khứ"),
        }
    }
}

/// One field with what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    pub field: Field,
    pub problem: Problem,
}

impl FieldError {
    /// Builds the error for `field`.
    pub fn new(field: Field, problem: Problem) -> Self {
        FieldError { field, problem }
    }
}

/// A document that does not have the shape of a person document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("tài liệu không đọc được: {0}")]
    Automerge(String),
    #[error("tài liệu thiếu trường {0}")]
    Missing(String),
    #[error("trường {path} có kiểu sai (cần {expected})")]
    WrongType {
        path: String,
        expected: &'static str,
    },
    #[error("trường {path} có giá trị sai: {reason}")]
    BadValue { path: String, reason: String },
    #[error(
        "phiên bản lược đồ {found} mới hơn bản này hiểu được ({supported}); hãy cập nhật phần mềm"
    )]
    UnsupportedVersion { found: i64, supported: i64 },
    #[error("tài liệu không hợp lệ: {0}")]
    Invalid(#[from] FieldError),
}

impl From<automerge::AutomergeError> for SchemaError {
    fn from(e: automerge::AutomergeError) -> Self {
        SchemaError::Automerge(e.to_string())
    }
}
