//! A signer registers their token's certificate on their account: checked like a run's signer
//! (path, organisation) before it is recorded.

use super::signer::{check_cms, trusted_signer};
use super::{Refusal, refuse};
use crate::accounts::{self, SessionUser};
use crate::certificates::TrustStore;
use crate::db::Db;
use sync_protocol::auth::{AccountInfo, RegisterCertificateRequest, Role};
use sync_protocol::manifest::normalize_serial;
use sync_protocol::person::parse_time;

/// Why a signer's registration of a certificate is refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Account(#[from] accounts::AuthError),
    #[error("{}", .0.message)]
    Refused(Refusal),
}

impl From<Refusal> for RegistrationError {
    fn from(r: Refusal) -> Self {
        RegistrationError::Refused(r)
    }
}

/// A signer registers the certificate of their USB token: the statement must name them and be
/// recent, its CMS signature must verify, the certificate's path must validate now, it must
/// carry the serial claimed, and a fresh one-time code must be given. Its issuer and serial are
/// registered together.
pub async fn register_certificate(
    db: &Db,
    clock: &sync_protocol::Clock,
    trust: &TrustStore,
    user: &SessionUser,
    req: &RegisterCertificateRequest,
) -> Result<AccountInfo, RegistrationError> {
    if user.account.role != Role::Signer {
        return Err(accounts::AuthError::Forbidden {
            role: user.account.role.label(),
        }
        .into());
    }
    let at = parse_time(&req.at)
        .ok_or_else(|| refuse("statement_invalid", "thời điểm đăng ký không đọc được"))?;
    let received = clock.now();
    if (received - at).abs() > time::Duration::minutes(10) {
        return Err(refuse(
            "statement_stale",
            "lời đăng ký đã quá 10 phút hoặc đồng hồ máy lệch: kiểm tra giờ máy rồi đăng ký lại",
        )
        .into());
    }
    let statement =
        sync_protocol::auth::certificate_statement(&user.account.username, &req.serial, &req.at);
    let sig = check_cms(&statement, &req.cms)?;
    let cert = trusted_signer(trust, &sig, received.unix_timestamp())?;
    if cert.serial != normalize_serial(&req.serial) {
        return Err(refuse(
            "certificate_mismatch",
            "chữ ký không do chứng thư có số hiệu đã khai tạo ra",
        )
        .into());
    }
    accounts::verify_fresh_otp(db, clock, user, &req.otp).await?;
    let info = accounts::add_certificate(db, &user.account.username, cert.registration()).await?;
    tracing::info!(user = %user.account.username, serial = %cert.serial, "certificate registered");
    Ok(info)
}
