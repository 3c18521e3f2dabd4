//! The broken rules, each with a stable code and a Vietnamese message that says what was wrong.

use crate::error::FieldError;
use crate::rules::SensitiveField;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which rule a refused write broke: the stable part of a [`Violation`], sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The change names no author, or one that is not the signed-in user.
    Author,
    /// The role may not make this change.
    Role,
    /// The change is not built on the person's history (a fresh document for an existing person).
    Detached,
    /// An operation counter beyond any real document's.
    Counter,
    /// A key the person document does not have.
    UnknownField,
    /// Two concurrent values of a key that only a forged document has.
    StructuralConflict,
    /// The document would grow past the size a station can receive.
    DocumentTooLarge,
    /// The id, creator or creation time changed.
    StructuralField,
    /// The managing facility changed other than by a transfer of the managing facility.
    Transfer,
    /// A new person not managed by the writer's facility, or created as someone else.
    NewPerson,
    /// `merged_into` set outside a merge, or changed once set.
    Merge,
    /// A verification status only the server's registry check may write.
    VerificationReserved,
    /// Name, gender, birth date or ID changed while the old verification result stays.
    VerificationNotReset,
    /// A sensitive edit of another facility's person without the server's step-up grant.
    StepUpRequired,
    /// A signed dose's signed fields (or the signature itself) changed.
    SignedDoseFrozen,
    /// Identity fields covered by a signed dose's record changed.
    IdentityFrozen,
    /// A signed dose voided without the writer's fresh code (the server's grant).
    SignedVoidNeedsCode,
    /// A dose marked signed without a run the server accepted for it.
    SignatureNotBacked,
    /// A dose removed from the document.
    DoseDeleted,
    /// A voided dose made active again, or its voiding rewritten.
    DoseUnvoided,
    /// A recorded dose's details changed (doses are voided and entered again instead).
    DoseEdited,
    /// A dose voided in someone else's name or at a future time.
    VoidAsOther,
    /// A new dose recorded for another facility or in another vaccinator's name.
    NewDoseNotOwn,
    /// A dose given in the future.
    GivenInFuture,
    /// A new dose whose id another person's record already holds (dose ids are unique across
    /// the whole store: the server's dose rows, signing runs and passports are found by them).
    DoseIdTaken,
    /// A dose given elsewhere that contradicts a dose the record already holds.
    HistoryContradicts,
}

impl Rule {
    /// The stable machine name.
    pub fn code(self) -> &'static str {
        match self {
            Rule::Author => "author",
            Rule::Role => "role",
            Rule::Detached => "detached",
            Rule::Counter => "counter",
            Rule::UnknownField => "unknown_field",
            Rule::StructuralConflict => "structural_conflict",
            Rule::DocumentTooLarge => "document_too_large",
            Rule::StructuralField => "structural_field",
            Rule::Transfer => "transfer",
            Rule::NewPerson => "new_person",
            Rule::Merge => "merge",
            Rule::VerificationReserved => "verification_reserved",
            Rule::VerificationNotReset => "verification_not_reset",
            Rule::StepUpRequired => "step_up_required",
            Rule::SignedDoseFrozen => "signed_dose_frozen",
            Rule::IdentityFrozen => "identity_frozen",
            Rule::SignedVoidNeedsCode => "signed_void_needs_code",
            Rule::SignatureNotBacked => "signature_not_backed",
            Rule::DoseDeleted => "dose_deleted",
            Rule::DoseUnvoided => "dose_unvoided",
            Rule::DoseEdited => "dose_edited",
            Rule::VoidAsOther => "void_as_other",
            Rule::NewDoseNotOwn => "new_dose_not_own",
            Rule::GivenInFuture => "given_in_future",
            Rule::DoseIdTaken => "dose_id_taken",
            Rule::HistoryContradicts => "history_contradicts",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused write: the rule it broke and the details, with a Vietnamese message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A field's value is invalid (the ordinary validation rules).
    #[error("dữ liệu không hợp lệ: {0}")]
    Invalid(FieldError),
    #[error("thay đổi không ghi người thực hiện")]
    NoAuthor,
    #[error(
        "thay đổi ghi người thực hiện {claimed} nhưng được gửi trong phiên đăng nhập của {session}: mỗi người chỉ gửi thay đổi của chính mình"
    )]
    WrongAuthor { claimed: String, session: String },
    #[error("tài khoản {user} ({role}) không được {what}")]
    RoleMayNotWrite {
        user: String,
        role: &'static str,
        what: &'static str,
    },
    #[error(
        "thay đổi không dựa trên lịch sử hồ sơ (tạo từ một tài liệu trống) nhưng người này đã có trên máy chủ"
    )]
    Detached,
    #[error("thay đổi có bộ đếm thao tác {found}, vượt giới hạn {max}: không phải tài liệu thật")]
    CounterOutOfRange { found: u64, max: u64 },
    #[error("tài liệu có trường lạ {path}: không thuộc hồ sơ người tiêm")]
    UnknownField { path: String },
    #[error("thay đổi tạo giá trị trùng ở {paths}: không thuộc tài liệu này")]
    StructuralConflict { paths: String },
    #[error("hồ sơ sẽ dài {bytes} byte, quá giới hạn {max} byte")]
    DocumentTooLarge { bytes: usize, max: usize },
    #[error("không được đổi {field} của hồ sơ")]
    StructuralField { field: &'static str },
    #[error("đổi cơ sở quản lý từ {from} sang {to}: {why}")]
    TransferNotAllowed {
        from: String,
        to: String,
        why: &'static str,
    },
    #[error("hồ sơ mới {why}")]
    NewPerson { why: String },
    #[error("đánh dấu gộp hồ sơ {why}")]
    MergedInto { why: &'static str },
    #[error(
        "trạng thái xác thực \"{status}\" chỉ do máy chủ ghi sau khi đối chiếu CSDLQG về dân cư; thiết bị không tự ghi được"
    )]
    VerificationReserved { status: &'static str },
    #[error(
        "họ tên, giới tính, ngày sinh hoặc giấy tờ đã đổi nên kết quả xác thực cũ không còn đúng: trạng thái phải trở về \"chưa xác thực\""
    )]
    VerificationNotReset,
    #[error(
        "sửa {fields} của người do cơ sở {facility} quản lý cần mã xác thực mới được máy chủ xác nhận ({why})"
    )]
    StepUpRequired {
        fields: String,
        facility: String,
        why: &'static str,
    },
    #[error(
        "mũi tiêm {dose_number} đã được ký số nên không sửa được; muốn sửa phải huỷ mũi đó và nhập lại"
    )]
    SignedDoseFrozen { dose_number: u8 },
    #[error(
        "mũi tiêm {dose_number} đã được ký số trên họ tên, giới tính, ngày sinh và giấy tờ hiện có: muốn sửa những trường này phải huỷ mũi đã ký trước"
    )]
    IdentityFrozen { dose_number: u8 },
    #[error(
        "mũi tiêm {dose_number} đã được ký số: huỷ mũi đó cần mã xác thực mới được máy chủ xác nhận ({why}); hộ chiếu vắc xin dựa trên mũi này sẽ bị thu hồi"
    )]
    SignedVoidNeedsCode { dose_number: u8, why: &'static str },
    #[error("mũi tiêm {dose_number} được ghi là đã ký số nhưng {why}")]
    SignatureNotBacked { dose_number: u8, why: &'static str },
    #[error("mũi tiêm {dose_number} bị xoá khỏi hồ sơ: mũi tiêm chỉ được huỷ, không được xoá")]
    DoseDeleted { dose_number: u8 },
    #[error("mũi tiêm {dose_number} đã huỷ không được khôi phục hay sửa lý do huỷ")]
    DoseUnvoided { dose_number: u8 },
    #[error("mũi tiêm {dose_number} đã ghi không sửa được ({field}); hãy huỷ mũi đó và nhập lại")]
    DoseEdited {
        dose_number: u8,
        field: &'static str,
    },
    #[error("mũi tiêm {dose_number} bị huỷ {why}")]
    VoidAsOther { dose_number: u8, why: &'static str },
    #[error("mũi tiêm mới {dose_number} {why}")]
    NewDoseNotOwn { dose_number: u8, why: String },
    #[error("mũi tiêm {dose_number} có thời điểm tiêm ở tương lai")]
    GivenInFuture { dose_number: u8 },
    #[error(
        "mũi tiêm mới {dose_number} mang mã của một mũi tiêm đã có trong hồ sơ người khác: mỗi mũi tiêm phải có mã riêng"
    )]
    DoseIdTaken { dose_number: u8 },
    #[error(
        "mũi tiêm nơi khác (mũi {dose_number}) trùng với mũi {recorded_number} cùng vắc xin đã ghi ngày {given_on}: kiểm tra lại phiếu tiêm"
    )]
    HistoryContradicts {
        dose_number: u8,
        recorded_number: u8,
        given_on: String,
    },
}

impl Violation {
    /// The rule broken (`None` for an invalid value, which is not a rule of its own).
    pub fn rule(&self) -> Option<Rule> {
        Some(match self {
            Violation::Invalid(_) => return None,
            Violation::NoAuthor | Violation::WrongAuthor { .. } => Rule::Author,
            Violation::RoleMayNotWrite { .. } => Rule::Role,
            Violation::Detached => Rule::Detached,
            Violation::CounterOutOfRange { .. } => Rule::Counter,
            Violation::UnknownField { .. } => Rule::UnknownField,
            Violation::StructuralConflict { .. } => Rule::StructuralConflict,
            Violation::DocumentTooLarge { .. } => Rule::DocumentTooLarge,
            Violation::StructuralField { .. } => Rule::StructuralField,
            Violation::TransferNotAllowed { .. } => Rule::Transfer,
            Violation::NewPerson { .. } => Rule::NewPerson,
            Violation::MergedInto { .. } => Rule::Merge,
            Violation::VerificationReserved { .. } => Rule::VerificationReserved,
            Violation::VerificationNotReset => Rule::VerificationNotReset,
            Violation::StepUpRequired { .. } => Rule::StepUpRequired,
            Violation::SignedDoseFrozen { .. } => Rule::SignedDoseFrozen,
            Violation::IdentityFrozen { .. } => Rule::IdentityFrozen,
            Violation::SignedVoidNeedsCode { .. } => Rule::SignedVoidNeedsCode,
            Violation::SignatureNotBacked { .. } => Rule::SignatureNotBacked,
            Violation::DoseDeleted { .. } => Rule::DoseDeleted,
            Violation::DoseUnvoided { .. } => Rule::DoseUnvoided,
            Violation::DoseEdited { .. } => Rule::DoseEdited,
            Violation::VoidAsOther { .. } => Rule::VoidAsOther,
            Violation::NewDoseNotOwn { .. } => Rule::NewDoseNotOwn,
            Violation::GivenInFuture { .. } => Rule::GivenInFuture,
            Violation::DoseIdTaken { .. } => Rule::DoseIdTaken,
            Violation::HistoryContradicts { .. } => Rule::HistoryContradicts,
        })
    }

    /// The stable machine name: the rule's, or `invalid`.
    pub fn code(&self) -> &'static str {
        self.rule().map_or("invalid", Rule::code)
    }

    /// A step-up refusal for `fields` of a person `facility` manages.
    pub(crate) fn step_up(
        fields: &std::collections::BTreeSet<SensitiveField>,
        facility: &str,
        why: &'static str,
    ) -> Violation {
        Violation::StepUpRequired {
            fields: fields
                .iter()
                .map(|f| f.label())
                .collect::<Vec<_>>()
                .join(", "),
            facility: facility.to_string(),
            why,
        }
    }
}

impl From<FieldError> for Violation {
    fn from(e: FieldError) -> Self {
        Violation::Invalid(e)
    }
}
