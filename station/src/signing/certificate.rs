//! The signer's certificate: registered with the server for the signed-in account, checked
//! valid and registered before a run, and the token that signs with it.

use super::ManifestSigner;
use crate::error::{Result, StationError};
use crate::service::Station;
use sotiem_token::{CertificateInfo, Signed, TokenError};
use sync_protocol::auth::Role;
use sync_protocol::manifest::normalize_serial;
use sync_protocol::person::format_time;
use time::OffsetDateTime;

impl Station {
    /// The certificate must be registered on the signer's account and valid now. Returns its
    /// serial.
    pub(super) fn check_signer_certificate(
        &self,
        session: &crate::session::Session,
        signer: &(dyn ManifestSigner + Sync),
    ) -> Result<String> {
        let cert = signer.certificate();
        let serial = normalize_serial(&cert.serial);
        if !is_registered(&session.account, cert) {
            return Err(StationError::CertificateNotRegistered {
                serial,
                issuer: cert.issuer.clone(),
            });
        }
        valid_at(cert, self.clock().now())?;
        Ok(serial)
    }

    /// The signed-in user, if their role signs (the head of a facility).
    /// Registers the certificate `signer` holds on the signed-in head of facility's account:
    /// the token signs a statement (who, which serial, now) with one PIN, and the server checks
    /// that signature, the certificate's chain and validity, and a fresh one-time code. Online
    /// only. Returns the serials now registered.
    pub async fn register_certificate(
        &self,
        client: &crate::remote::SyncClient,
        signer: &(dyn ManifestSigner + Sync),
        otp: &str,
    ) -> Result<Vec<sync_protocol::auth::RegisteredCertificate>> {
        let session = self.signer()?;
        let token = session.server_token.clone().ok_or_else(|| {
            StationError::ServerUnavailable(
                "phiên đăng nhập ngoại tuyến: hãy đăng nhập trực tuyến để đăng ký chứng thư".into(),
            )
        })?;
        if otp.trim().is_empty() {
            return Err(StationError::StepUpRequired("đăng ký chứng thư số"));
        }
        let cert = signer.certificate();
        let now = self.clock().now();
        valid_at(cert, now)?;
        let at = format_time(now);
        let statement =
            sync_protocol::auth::certificate_statement(session.username(), &cert.serial, &at);
        let signed = signer.sign(&statement, now)?;
        client.set_session(Some(token));
        let account: sync_protocol::auth::AccountInfo = client
            .json(
                sync_protocol::endpoints::CERTIFICATES,
                &sync_protocol::auth::RegisterCertificateRequest {
                    serial: cert.serial.clone(),
                    at,
                    cms: signed.cms_der,
                    otp: otp.trim().to_string(),
                },
            )
            .await
            .map_err(crate::remote::network_or)?;
        let registered = account.certificates.clone();
        self.refresh_account(account).await?;
        Ok(registered)
    }

    pub(super) fn signer(&self) -> Result<crate::session::Session> {
        let s = self.reader()?;
        if s.role() != Role::Signer {
            return Err(StationError::Forbidden(
                "chỉ thủ trưởng đơn vị (tài khoản ký số) được ký dữ liệu tiêm chủng",
            ));
        }
        Ok(s)
    }
}

/// Whether `cert` (issuer and serial) is registered on `account`.
pub fn is_registered(account: &sync_protocol::auth::AccountInfo, cert: &CertificateInfo) -> bool {
    let key = sync_protocol::auth::issuer_key(&cert.issuer_der);
    account
        .certificates
        .iter()
        .any(|r| r.is(&cert.serial, &key))
}

/// Refuses a certificate outside its validity at `now` (the station's clock).
pub(super) fn valid_at(cert: &CertificateInfo, now: OffsetDateTime) -> Result<()> {
    let unix = now.unix_timestamp();
    if unix < cert.not_before || unix > cert.not_after {
        let show = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .map(format_time)
                .unwrap_or_default()
        };
        return Err(StationError::CertificateNotValid {
            serial: normalize_serial(&cert.serial),
            from: show(cert.not_before),
            until: show(cert.not_after),
        });
    }
    Ok(())
}

/// A token signer: the module, the token's slot, the chosen certificate and the PIN.
pub struct TokenSigner<'a> {
    pub module: &'a sotiem_token::Module,
    pub slot: u64,
    pub certificate: CertificateInfo,
    pub pin: String,
}

impl<'a> TokenSigner<'a> {
    /// The signer for the certificate `certificate_id` on the token in `slot`.
    pub fn choose(
        module: &'a sotiem_token::Module,
        slot: u64,
        certificate_id: &str,
        pin: String,
    ) -> Result<TokenSigner<'a>> {
        Ok(TokenSigner {
            module,
            slot,
            certificate: module.certificate(slot, certificate_id)?,
            pin,
        })
    }
}

impl ManifestSigner for TokenSigner<'_> {
    fn certificate(&self) -> &CertificateInfo {
        &self.certificate
    }

    fn sign(&self, content: &[u8], at: OffsetDateTime) -> std::result::Result<Signed, TokenError> {
        let at = std::time::Duration::from_secs(u64::try_from(at.unix_timestamp()).unwrap_or(0));
        self.module
            .sign_cms(self.slot, &self.certificate, &self.pin, content, at)
    }
}
