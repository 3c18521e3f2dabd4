//! The document signer: a key in an HSM reached over PKCS#11 with its certificate, checked at
//! start-up against the configured root, and the signing of certificates and trust lists off the
//! async runtime.

use super::{PassportError, Signed, claims_at, store};
use crate::db::Db;
use sotiem_passport::{Claims, HealthCertificate, SignerCertificate, TrustList};
use sotiem_token::{CertificateInfo, Module};
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

/// Where the document signer's key is and what it chains to.
#[derive(Debug, Clone)]
pub struct SignerConfig {
    /// The HSM's PKCS#11 module.
    pub module: PathBuf,
    /// The label of the token holding the key.
    pub token_label: String,
    /// The object id (hex) of the key and its certificate on the token.
    pub key_id: String,
    /// The token's user PIN (from the environment, never the command line).
    pub pin: String,
    /// The root (country signing CA) certificate, PEM or DER.
    pub root: PathBuf,
}

/// The open HSM and the document signer's certificate.
pub struct Issuer {
    module: Module,
    slot: u64,
    token_certificate: CertificateInfo,
    signer: SignerCertificate,
    root: Vec<u8>,
    pin: String,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("module", &self.module.path)
            .field("signer", &self.signer.subject)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Opens the HSM, finds the key's certificate, checks that the root issued it and that it
    /// is valid `now`, and signs once to prove the key and the certificate belong together.
    pub fn open(config: &SignerConfig, now: OffsetDateTime) -> Result<Issuer, PassportError> {
        let bad = |m: String| PassportError::Config(m);
        let root_bytes = std::fs::read(&config.root).map_err(|e| {
            bad(format!(
                "không đọc được chứng thư gốc {}: {e}",
                config.root.display()
            ))
        })?;
        let root = crate::certificates::der_of(&root_bytes).map_err(|e| bad(e.to_string()))?;
        if !sotiem_passport::signer::is_root(&root) {
            return Err(bad(format!(
                "{} không phải chứng thư gốc tự ký của một CA",
                config.root.display()
            )));
        }
        let module = Module::open(&config.module)?;
        let slot = module.slot_labelled(&config.token_label)?;
        let token_certificate = module.certificate(slot, &config.key_id)?;
        let signer = SignerCertificate::from_der(&token_certificate.der)?;
        if !signer.issued_by(&root) {
            return Err(bad(format!(
                "chứng thư ký hộ chiếu \"{}\" không do chứng thư gốc đã cấu hình cấp",
                signer.subject
            )));
        }
        if !signer.valid_at(now.unix_timestamp()) {
            return Err(bad(format!(
                "chứng thư ký hộ chiếu \"{}\" không còn (hoặc chưa) hiệu lực",
                signer.subject
            )));
        }
        let issuer = Issuer {
            module,
            slot,
            token_certificate,
            signer,
            root,
            pin: config.pin.clone(),
        };
        let probe = b"so-tiem: kiem tra khoa ky ho chieu";
        let signature = issuer.signer()?.sign(probe)?;
        if !issuer.signer.verifies(probe, &signature) {
            return Err(bad(
                "khoá trên thiết bị không khớp chứng thư có cùng mã (id)".into(),
            ));
        }
        Ok(issuer)
    }

    fn signer(&self) -> Result<sotiem_token::KeySigner<'_>, PassportError> {
        Ok(self
            .module
            .key_signer(self.slot, &self.token_certificate, &self.pin)?)
    }

    /// The document signer's certificate.
    pub fn certificate(&self) -> &SignerCertificate {
        &self.signer
    }

    /// The `kid` in hex, as stored.
    pub fn kid_hex(&self) -> String {
        hex::encode(&self.signer.kid)
    }

    /// The root (DER).
    pub fn root(&self) -> &[u8] {
        &self.root
    }

    /// The claims of a certificate issued `now`.
    pub fn claims(&self, now: OffsetDateTime) -> Claims {
        claims_at(now, self.signer.not_after)
    }

    /// Records the signer's certificate so trust lists carry it as long as it is valid.
    pub async fn register(&self, db: &Db, now: OffsetDateTime) -> Result<(), PassportError> {
        store::register_signer(db, &self.signer, now).await?;
        Ok(())
    }

    /// Signs certificates on a blocking thread, one HSM session for the lot.
    pub(crate) async fn sign_all(
        self: &Arc<Self>,
        fresh: Vec<(String, String, String, HealthCertificate)>,
        claims: Claims,
    ) -> Result<Vec<Signed>, PassportError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let key = me.signer()?;
            let mut out = Vec::with_capacity(fresh.len());
            for (person_id, dose_id, basis, certificate) in fresh {
                let hc1 = sotiem_passport::encode(&certificate, &claims, &me.signer, |data| {
                    key.sign(data).map_err(|e| e.to_string())
                })?;
                let uvci = certificate
                    .vaccination_entry()
                    .map(|v| v.ci.clone())
                    .unwrap_or_default();
                out.push(Signed {
                    person_id,
                    dose_id,
                    basis,
                    uvci,
                    hc1,
                });
            }
            Ok(out)
        })
        .await
        .map_err(|e| PassportError::Config(format!("luồng ký dừng bất thường: {e}")))?
    }

    /// Signs `data` with the document signer's key on a blocking thread (PS256 or ES256, as
    /// the certificate's key is): what anchors the administrators' audit chain each day.
    pub async fn sign_bytes(self: &Arc<Self>, data: Vec<u8>) -> Result<Vec<u8>, PassportError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || Ok(me.signer()?.sign(&data)?))
            .await
            .map_err(|e| PassportError::Config(format!("luồng ký dừng bất thường: {e}")))?
    }

    /// Signs a trust list on a blocking thread.
    pub(crate) async fn sign_trust_list(
        self: &Arc<Self>,
        list: TrustList,
    ) -> Result<Vec<u8>, PassportError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let key = me.signer()?;
            Ok(list.sign(&me.signer, |data| key.sign(data).map_err(|e| e.to_string()))?)
        })
        .await
        .map_err(|e| PassportError::Config(format!("luồng ký dừng bất thường: {e}")))?
    }
}
