//! Why a passport or a trust list is refused, and why one could not be made.

/// Why a scanned passport is not accepted (each with a code and a Vietnamese sentence).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("không phải mã hộ chiếu vắc xin (thiếu tiền tố HC1:)")]
    NotHc1,
    #[error("mã bị cắt hoặc sai ký tự (Base45): {0}")]
    Base45(String),
    #[error("mã bị cắt hoặc hỏng (nén zlib): {0}")]
    Compression(String),
    #[error("mã quá dài để là một hộ chiếu vắc xin")]
    TooLarge,
    #[error("cấu trúc chữ ký COSE không đọc được: {0}")]
    Cose(String),
    #[error("thuật toán ký không được chấp nhận: {0}")]
    Algorithm(String),
    #[error("đơn vị ký (kid {0}) không có trong danh sách tin cậy")]
    UnknownSigner(String),
    #[error("chữ ký không khớp nội dung: hộ chiếu đã bị sửa hoặc giả mạo")]
    BadSignature,
    #[error("thông tin CWT không hợp lệ: {0}")]
    Claims(String),
    #[error("nội dung không đúng lược đồ EU DCC 1.3.0 (trường {0})")]
    Schema(String),
    #[error("ngày cấp hoặc ngày hết hạn nằm ngoài thời hạn chứng thư của đơn vị ký")]
    SignerValidity,
}

impl Refusal {
    /// A stable code for tests, logs and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotHc1 => "not_hc1",
            Refusal::Base45(_) => "base45",
            Refusal::Compression(_) => "compression",
            Refusal::TooLarge => "too_large",
            Refusal::Cose(_) => "cose",
            Refusal::Algorithm(_) => "algorithm",
            Refusal::UnknownSigner(_) => "unknown_signer",
            Refusal::BadSignature => "bad_signature",
            Refusal::Claims(_) => "claims",
            Refusal::Schema(_) => "schema",
            Refusal::SignerValidity => "signer_validity",
        }
    }
}

/// Why a trust list is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustListError {
    #[error("danh sách tin cậy không đọc được: {0}")]
    Unreadable(String),
    #[error("chứng thư gốc của danh sách khác chứng thư gốc máy này đã tin")]
    OtherRoot,
    #[error("chứng thư gốc không hợp lệ: {0}")]
    Root(String),
    #[error("danh sách không được ký bởi đơn vị ký nào trong danh sách")]
    UnknownListSigner,
    #[error("chữ ký của danh sách tin cậy không khớp")]
    BadSignature,
    #[error("danh sách tin cậy cũ hơn danh sách máy đang có")]
    Older,
}

impl TrustListError {
    /// A stable code for tests, logs and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            TrustListError::Unreadable(_) => "trust_list_unreadable",
            TrustListError::OtherRoot => "trust_list_other_root",
            TrustListError::Root(_) => "trust_list_root",
            TrustListError::UnknownListSigner => "trust_list_unknown_signer",
            TrustListError::BadSignature => "trust_list_bad_signature",
            TrustListError::Older => "trust_list_older",
        }
    }
}

/// Why a passport or a trust list could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("không mã hoá được hộ chiếu: {0}")]
    Encoding(String),
    #[error("chứng thư của đơn vị ký không đọc được: {0}")]
    Certificate(String),
    #[error("thiết bị ký (HSM) không ký được: {0}")]
    Signer(String),
}
