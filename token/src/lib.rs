//! The facility's USB token over PKCS#11 (docs/design.md §6), the replacement for the WebPluginKySo
//! browser plugin: find the vendor's PKCS#11 module, list tokens and their certificates, log in
//! with the PIN and sign a manifest once, as a detached CMS SignedData. The server also signs
//! vaccine passports with a key in an HSM through [`KeySigner`].

pub mod cms;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The PKCS#11 modules of Vietnamese CAs and common tokens on Windows (found in System32 or
/// under Program Files), then the Linux ones.
pub const KNOWN_WINDOWS_MODULES: &[&str] = &[
    "vnpt-ca_csp11.dll",
    "vnptca_p11_v8.dll",
    "vnptca_p11_v7.dll",
    "vnptca_p11_v6.dll",
    "viettel-ca_v6.dll",
    "viettel-ca_v5.dll",
    "viettel-ca_v4.dll",
    "BkavCA.dll",
    "BkavCAv2S.dll",
    "fptca_v3.dll",
    "fptca_v2.dll",
    "ShuttleCsp11_3003.dll",
    "eTPKCS11.dll",
    "st3csp11.dll",
    "ngp11v211.dll",
    "CA2_csp11.dll",
    "safe-ca.dll",
    "gclib.dll",
    "opensc-pkcs11.dll",
];

/// Where Linux distributions put the PKCS#11 modules we know.
pub const KNOWN_LINUX_MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/opensc-pkcs11.so",
];

/// Why the token could not do what was asked. Messages say what to do, in Vietnamese.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "không tìm thấy thư viện PKCS#11 của USB token: cài phần mềm của nhà cung cấp chữ ký số (VNPT-CA, Viettel-CA, BKAV-CA, FPT-CA…) hoặc chỉ đường dẫn thư viện"
    )]
    NoModule,
    #[error("không nạp được thư viện PKCS#11 {path}: {reason}")]
    Module { path: PathBuf, reason: String },
    #[error("chưa cắm USB token: cắm token vào máy rồi thử lại")]
    NoToken,
    #[error("USB token đã bị rút ra trong khi ký: cắm lại token rồi ký lại (chưa có gì được ký)")]
    Removed,
    #[error("mã PIN không đúng: nhập lại cẩn thận (token sẽ bị khoá nếu nhập sai nhiều lần)")]
    WrongPin,
    #[error(
        "mã PIN của token đã bị khoá vì nhập sai nhiều lần: liên hệ nhà cung cấp chữ ký số để mở khoá"
    )]
    PinLocked,
    #[error("mã PIN đã hết hạn: đổi PIN bằng phần mềm của nhà cung cấp chữ ký số rồi ký lại")]
    PinExpired,
    #[error("không có khoá riêng đi kèm chứng thư số này trên token")]
    KeyNotFound,
    #[error("token không hỗ trợ loại khoá này (chỉ RSA và ECDSA P-256)")]
    UnsupportedKey,
    #[error("chứng thư số trên token không đọc được: {0}")]
    Certificate(String),
    #[error("không thấy chứng thư mã {0} trên token: cắm lại token rồi chọn lại")]
    CertificateMissing(String),
    #[error(transparent)]
    Cms(#[from] cms::CmsError),
    #[error("lỗi USB token ({0}): thử rút ra cắm lại; nếu vẫn lỗi, báo cán bộ kỹ thuật")]
    Device(String),
}

impl TokenError {
    /// A stable machine name.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::NoModule => "token_no_module",
            TokenError::Module { .. } => "token_module",
            TokenError::NoToken => "token_absent",
            TokenError::Removed => "token_removed",
            TokenError::WrongPin => "pin_incorrect",
            TokenError::PinLocked => "pin_locked",
            TokenError::PinExpired => "pin_expired",
            TokenError::KeyNotFound => "token_key_not_found",
            TokenError::UnsupportedKey => "token_key_unsupported",
            TokenError::Certificate(_) | TokenError::CertificateMissing(_) => "token_certificate",
            TokenError::Cms(_) => "cms",
            TokenError::Device(_) => "token_device",
        }
    }
}

impl From<CkError> for TokenError {
    fn from(e: CkError) -> TokenError {
        match e {
            CkError::Pkcs11(rv, _) => match rv {
                RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange => {
                    TokenError::WrongPin
                }
                RvError::PinLocked => TokenError::PinLocked,
                RvError::PinExpired => TokenError::PinExpired,
                RvError::TokenNotPresent
                | RvError::DeviceRemoved
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::SlotIdInvalid => TokenError::Removed,
                other => TokenError::Device(format!("{other:?}")),
            },
            other => TokenError::Device(other.to_string()),
        }
    }
}

/// The modules to try: `configured` first, then the known ones present on this machine.
pub fn find_modules(configured: Option<&Path>) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = configured.map(Path::to_path_buf).into_iter().collect();
    if cfg!(windows) {
        let dirs = windows_search_dirs(|var| std::env::var_os(var));
        found.extend(windows_candidates(&dirs));
    } else {
        found.extend(
            KNOWN_LINUX_MODULES
                .iter()
                .map(PathBuf::from)
                .filter(|p| p.is_file()),
        );
    }
    found.dedup();
    found
}

/// Where Windows keeps the vendors' modules: System32, then both Program Files (read from
/// `env`, so the search is tested on any system).
pub fn windows_search_dirs(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<PathBuf> {
    let root = env("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
    let mut dirs = vec![PathBuf::from(root).join("System32")];
    for var in ["ProgramFiles", "ProgramFiles(x86)"] {
        if let Some(pf) = env(var) {
            dirs.push(PathBuf::from(pf));
        }
    }
    dirs
}

/// The known Windows modules present in `dirs` or one level below them (vendors install under
/// `Program Files\<vendor>\`), in the order of [`KNOWN_WINDOWS_MODULES`].
pub fn windows_candidates(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in dirs {
        let subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        for name in KNOWN_WINDOWS_MODULES {
            let direct = dir.join(name);
            if direct.is_file() {
                found.push(direct);
            }
            found.extend(subdirs.iter().map(|d| d.join(name)).filter(|p| p.is_file()));
        }
    }
    found
}

/// A token in a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub slot: u64,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
}

/// A certificate on a token, as the signer checks it before signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// The token object id pairing the certificate with its private key, hex.
    pub id: String,
    pub subject: String,
    pub issuer: String,
    /// The serial number, hex lower case without separators (as registered on accounts).
    pub serial: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub digital_signature: bool,
    pub non_repudiation: bool,
    #[serde(skip)]
    pub der: Vec<u8>,
    /// The DER of the issuer's and the subject's names (what chains and registrations compare).
    #[serde(skip)]
    pub issuer_der: Vec<u8>,
    #[serde(skip)]
    pub subject_der: Vec<u8>,
    /// Whether it is a certification authority's certificate (CA:TRUE).
    #[serde(skip)]
    pub is_ca: bool,
}

impl CertificateInfo {
    /// Reads a DER certificate.
    pub fn from_der(id: &[u8], der: &[u8]) -> Result<CertificateInfo, TokenError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| TokenError::Certificate(e.to_string()))?;
        let usage = cert.key_usage().ok().flatten().map(|u| *u.value);
        Ok(CertificateInfo {
            id: hex::encode(id),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: hex::encode(cert.raw_serial())
                .trim_start_matches("00")
                .to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            // No key-usage extension means no restriction.
            digital_signature: usage.is_none_or(|u| u.digital_signature()),
            non_repudiation: usage.is_none_or(|u| u.non_repudiation()),
            der: der.to_vec(),
            issuer_der: cert.issuer().as_raw().to_vec(),
            subject_der: cert.subject().as_raw().to_vec(),
            is_ca: cert.is_ca(),
        })
    }
}

/// The private key with object id `id` in `session` and its type.
fn private_key(session: &Session, id: &[u8]) -> Result<(ObjectHandle, cms::KeyKind), TokenError> {
    let key: ObjectHandle = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id.to_vec()),
        ])?
        .into_iter()
        .next()
        .ok_or(TokenError::KeyNotFound)?;
    let kind = match session
        .get_attributes(key, &[AttributeType::KeyType])?
        .into_iter()
        .find_map(|a| match a {
            Attribute::KeyType(t) => Some(t),
            _ => None,
        }) {
        Some(KeyType::RSA) => cms::KeyKind::Rsa,
        Some(KeyType::EC) => cms::KeyKind::EcP256,
        _ => return Err(TokenError::UnsupportedKey),
    };
    Ok((key, kind))
}

/// An open PKCS#11 module, finalised (C_Finalize) when dropped: a module left initialised at
/// exit can crash in its own and the crypto library's exit handlers. Keep one per process.
pub struct Module {
    pkcs11: Option<Pkcs11>,
    pub path: PathBuf,
    /// Certification authorities' certificates configured beside the token's own, for signer
    /// certificates whose token does not carry the intermediate CAs.
    authorities: Vec<CertificateInfo>,
}

impl Drop for Module {
    fn drop(&mut self) {
        if let Some(p) = self.pkcs11.take()
            && let Err(e) = p.finalize()
        {
            tracing::warn!("PKCS#11 C_Finalize: {e}");
        }
    }
}

impl Module {
    /// Loads and initialises a module.
    pub fn open(path: &Path) -> Result<Module, TokenError> {
        let module_error = |reason: String| TokenError::Module {
            path: path.to_path_buf(),
            reason,
        };
        let pkcs11 = Pkcs11::new(path).map_err(|e| module_error(e.to_string()))?;
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(module_error(e.to_string())),
        }
        Ok(Module {
            pkcs11: Some(pkcs11),
            path: path.to_path_buf(),
            authorities: Vec::new(),
        })
    }

    /// The first of `candidates` that loads.
    pub fn open_first(candidates: &[PathBuf]) -> Result<Module, TokenError> {
        let mut last = TokenError::NoModule;
        for path in candidates {
            match Module::open(path) {
                Ok(m) => return Ok(m),
                Err(e) => {
                    tracing::warn!("PKCS#11 module {}: {e}", path.display());
                    last = e;
                }
            }
        }
        Err(last)
    }

    fn pkcs11(&self) -> Result<&Pkcs11, TokenError> {
        self.pkcs11
            .as_ref()
            .ok_or_else(|| TokenError::Device("module finalised".into()))
    }

    fn slot(&self, slot: u64) -> Result<Slot, TokenError> {
        self.pkcs11()?
            .get_slots_with_initialized_token()?
            .into_iter()
            .find(|s| s.id() == slot)
            .ok_or(TokenError::NoToken)
    }

    /// The tokens present.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let mut out = Vec::new();
        let pkcs11 = self.pkcs11()?;
        for slot in pkcs11.get_slots_with_initialized_token()? {
            let info = pkcs11.get_token_info(slot)?;
            out.push(TokenInfo {
                slot: slot.id(),
                label: info.label().trim().to_string(),
                manufacturer: info.manufacturer_id().trim().to_string(),
                model: info.model().trim().to_string(),
                serial: info.serial_number().trim().to_string(),
            });
        }
        Ok(out)
    }

    /// The certificates on the token in `slot` (readable without the PIN).
    /// The certificate with this id (hex, as [`CertificateInfo::id`]) on the token in `slot`.
    pub fn certificate(&self, slot: u64, id: &str) -> Result<CertificateInfo, TokenError> {
        let id = id.trim().to_ascii_lowercase();
        self.certificates(slot)?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(TokenError::CertificateMissing(id))
    }

    pub fn certificates(&self, slot: u64) -> Result<Vec<CertificateInfo>, TokenError> {
        let session = self.pkcs11()?.open_ro_session(self.slot(slot)?)?;
        let handles = session.find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])?;
        let mut out = Vec::new();
        for h in handles {
            let (mut id, mut value) = (Vec::new(), Vec::new());
            for a in session.get_attributes(h, &[AttributeType::Id, AttributeType::Value])? {
                match a {
                    Attribute::Id(v) => id = v,
                    Attribute::Value(v) => value = v,
                    _ => {}
                }
            }
            match CertificateInfo::from_der(&id, &value) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!("unreadable certificate on token: {e}"),
            }
        }
        Ok(out)
    }

    /// The certification authorities' certificates on the token between `certificate` and a
    /// root (DER, nearest first): tokens of Vietnamese CAs carry them, and the server builds
    /// the path from them to the roots it trusts.
    pub fn chain(
        &self,
        slot: u64,
        certificate: &CertificateInfo,
    ) -> Result<Vec<Vec<u8>>, TokenError> {
        let mut authorities: Vec<CertificateInfo> = self
            .certificates(slot)?
            .into_iter()
            .filter(|c| c.is_ca)
            .collect();
        authorities.extend(self.authorities.iter().cloned());
        Ok(chain_of(certificate, &authorities))
    }

    /// Adds the certification authorities' certificates in `dir` (PEM, possibly several to a
    /// file, or DER; `.pem`, `.crt`, `.cer`, `.der`) to those the token carries, for building
    /// signers' chains. Certificates that are not a CA's are ignored; returns how many were added.
    pub fn add_authorities_from(&mut self, dir: &Path) -> Result<usize, TokenError> {
        let unreadable = |e: String| TokenError::Certificate(format!("{}: {e}", dir.display()));
        let mut added = 0;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| unreadable(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                    ["pem", "crt", "cer", "der"].contains(&x.to_ascii_lowercase().as_str())
                })
            })
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
            let ders: Vec<Vec<u8>> = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
                x509_parser::pem::Pem::iter_from_buffer(&bytes)
                    .filter_map(Result::ok)
                    .filter(|p| p.label == "CERTIFICATE")
                    .map(|p| p.contents)
                    .collect()
            } else {
                vec![bytes]
            };
            for der in ders {
                match CertificateInfo::from_der(b"", &der) {
                    Ok(c) if c.is_ca => {
                        if !self.authorities.iter().any(|a| a.der == c.der) {
                            self.authorities.push(c);
                            added += 1;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("{}: {e}", path.display()),
                }
            }
        }
        Ok(added)
    }

    /// The slot of the token labelled `label`.
    pub fn slot_labelled(&self, label: &str) -> Result<u64, TokenError> {
        self.tokens()?
            .into_iter()
            .find(|t| t.label == label.trim())
            .map(|t| t.slot)
            .ok_or(TokenError::NoToken)
    }

    /// Logs in to the token in `slot` with `pin` and holds the key of `certificate` ready to
    /// sign many times ([`KeySigner::sign`]) until dropped.
    pub fn key_signer(
        &self,
        slot: u64,
        certificate: &CertificateInfo,
        pin: &str,
    ) -> Result<KeySigner<'_>, TokenError> {
        let id =
            hex::decode(&certificate.id).map_err(|e| TokenError::Certificate(e.to_string()))?;
        let session = self.pkcs11()?.open_ro_session(self.slot(slot)?)?;
        session.login(UserType::User, Some(&AuthPin::new(pin.into())))?;
        let (key, kind) = match private_key(&session, &id) {
            Ok(k) => k,
            Err(e) => {
                let _ = session.logout();
                return Err(e);
            }
        };
        Ok(KeySigner {
            session,
            key,
            kind,
            _module: std::marker::PhantomData,
        })
    }

    /// Logs in with `pin` and signs `content` with the key of `certificate` as a detached CMS
    /// SignedData (with the token's `chain`): one token signature, over the signed attributes.
    pub fn sign_cms(
        &self,
        slot: u64,
        certificate: &CertificateInfo,
        pin: &str,
        content: &[u8],
        signing_time: std::time::Duration,
    ) -> Result<Signed, TokenError> {
        let chain = self.chain(slot, certificate)?;
        let session = self.pkcs11()?.open_ro_session(self.slot(slot)?)?;
        session.login(UserType::User, Some(&AuthPin::new(pin.into())))?;
        let result = sign_in_session(&session, certificate, &chain, content, signing_time);
        let _ = session.logout();
        result
    }
}

/// A private key on a token, logged in once, signing raw data as COSE wants it: RSASSA-PSS with
/// SHA-256 and a 32-byte salt (PS256) for an RSA key, ECDSA P-256 as raw r‖s (ES256) for an EC
/// key. Used for the document signer of vaccine passports, thousands of signatures per session.
pub struct KeySigner<'m> {
    session: Session,
    key: ObjectHandle,
    /// The key's type.
    pub kind: cms::KeyKind,
    _module: std::marker::PhantomData<&'m Module>,
}

impl Drop for KeySigner<'_> {
    fn drop(&mut self) {
        let _ = self.session.logout();
    }
}

impl KeySigner<'_> {
    /// Signs `data`: PS256 with an RSA key, ES256 with an EC key.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, TokenError> {
        use cryptoki::mechanism::MechanismType;
        use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
        match self.kind {
            cms::KeyKind::Rsa => {
                let params = PkcsPssParams {
                    hash_alg: MechanismType::SHA256,
                    mgf: PkcsMgfType::MGF1_SHA256,
                    s_len: 32.into(),
                };
                Ok(self
                    .session
                    .sign(&Mechanism::Sha256RsaPkcsPss(params), self.key, data)?)
            }
            // Hash here, sign the digest: not every token has CKM_ECDSA_SHA256. PKCS#11 returns
            // r‖s, which is COSE's form already.
            cms::KeyKind::EcP256 => {
                Ok(self
                    .session
                    .sign(&Mechanism::Ecdsa, self.key, &Sha256::digest(data))?)
            }
        }
    }
}

/// A CMS signature and how many token operations it took.
#[derive(Debug, Clone)]
pub struct Signed {
    pub cms_der: Vec<u8>,
    pub token_operations: u32,
}

/// The authorities' certificates from `certificate`'s issuer up, as far as `authorities` go:
/// every certificate whose subject is a wanted issuer's name (a renewed CA keeps its name, so
/// the verifier picks the one whose key signed), at most eight.
fn chain_of(certificate: &CertificateInfo, authorities: &[CertificateInfo]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut wanted = vec![certificate.issuer_der.clone()];
    while let Some(issuer) = wanted.pop() {
        for a in authorities {
            if a.subject_der == issuer && a.der != certificate.der && !out.contains(&a.der) {
                if out.len() == 8 {
                    return out;
                }
                out.push(a.der.clone());
                if a.issuer_der != a.subject_der {
                    wanted.push(a.issuer_der.clone());
                }
            }
        }
    }
    out
}

fn sign_in_session(
    session: &Session,
    certificate: &CertificateInfo,
    chain: &[Vec<u8>],
    content: &[u8],
    signing_time: std::time::Duration,
) -> Result<Signed, TokenError> {
    let id = hex::decode(&certificate.id).map_err(|e| TokenError::Certificate(e.to_string()))?;
    let (key, kind) = private_key(session, &id)?;
    let (to_sign, attrs) = cms::signed_attributes(content, signing_time)?;
    let signature = match kind {
        cms::KeyKind::Rsa => session.sign(&Mechanism::Sha256RsaPkcs, key, &to_sign)?,
        cms::KeyKind::EcP256 => {
            // Many tokens (SoftHSM among them) lack CKM_ECDSA_SHA256: hash here, sign the digest.
            let digest = Sha256::digest(&to_sign);
            cms::ecdsa_raw_to_der(&session.sign(&Mechanism::Ecdsa, key, &digest)?)?
        }
    };
    Ok(Signed {
        cms_der: cms::signed_data(&certificate.der, chain, kind, attrs, signature)?,
        token_operations: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_modules_are_found_in_system32_and_under_a_vendors_program_files_folder() {
        // A Windows layout in a temporary directory, names with spaces and Vietnamese letters.
        let root = tempfile::tempdir().expect("dir");
        let windows = root.path().join("Windows");
        let pf = root.path().join("Program Files");
        let pf86 = root.path().join("Program Files (x86)");
        for d in [
            windows.join("System32"),
            pf.join("VNPT-CA Plugin"),
            pf86.join("Chữ ký số BKAV"),
        ] {
            std::fs::create_dir_all(d).expect("dir");
        }
        std::fs::write(windows.join("System32").join("vnptca_p11_v8.dll"), b"").expect("dll");
        std::fs::write(pf.join("VNPT-CA Plugin").join("vnpt-ca_csp11.dll"), b"").expect("dll");
        std::fs::write(pf86.join("Chữ ký số BKAV").join("BkavCA.dll"), b"").expect("dll");
        std::fs::write(pf.join("readme.dll"), b"").expect("not a module");
        let env = |var: &str| match var {
            "SystemRoot" => Some(windows.clone().into_os_string()),
            "ProgramFiles" => Some(pf.clone().into_os_string()),
            "ProgramFiles(x86)" => Some(pf86.clone().into_os_string()),
            _ => None,
        };
        let dirs = windows_search_dirs(env);
        assert_eq!(dirs.len(), 3);
        let found = windows_candidates(&dirs);
        assert_eq!(
            found,
            vec![
                windows.join("System32").join("vnptca_p11_v8.dll"),
                pf.join("VNPT-CA Plugin").join("vnpt-ca_csp11.dll"),
                pf86.join("Chữ ký số BKAV").join("BkavCA.dll"),
            ]
        );
        // No SystemRoot: the usual place; no Program Files variables: System32 only.
        assert_eq!(
            windows_search_dirs(|_| None),
            vec![PathBuf::from("C:\\Windows").join("System32")]
        );
    }

    /// Under Windows: the search reads the system's own folders (the variables are the ones
    /// Windows sets), and a DLL that is no PKCS#11 module, or none at all, is refused with the
    /// file named instead of bringing the program down.
    #[cfg(windows)]
    #[test]
    fn on_windows_the_search_reads_system32_and_program_files_and_refuses_other_dlls() {
        let dirs = windows_search_dirs(|var| std::env::var_os(var));
        assert_eq!(dirs.len(), 3, "System32 and both Program Files: {dirs:?}");
        for dir in &dirs {
            assert!(dir.is_dir(), "{} exists", dir.display());
        }
        assert!(dirs[0].join("kernel32.dll").is_file(), "{:?}", dirs[0]);
        let not_pkcs11 = dirs[0].join("kernel32.dll");
        match Module::open(&not_pkcs11) {
            Err(e @ TokenError::Module { .. }) => {
                assert!(e.to_string().contains("kernel32.dll"), "{e}")
            }
            Err(other) => panic!("expected a module error, got {other}"),
            Ok(_) => panic!("kernel32.dll is no PKCS#11 module"),
        }
        let missing = dirs[1].join("Nhà cung cấp").join("không có.dll");
        assert!(matches!(
            Module::open(&missing),
            Err(TokenError::Module { .. })
        ));
        assert!(matches!(
            Module::open_first(&[not_pkcs11, missing]),
            Err(TokenError::Module { .. })
        ));
    }

    #[test]
    fn token_failures_become_clear_errors() {
        use cryptoki::context::Function;
        let e = |rv| TokenError::from(CkError::Pkcs11(rv, Function::Login));
        assert!(matches!(e(RvError::PinIncorrect), TokenError::WrongPin));
        assert!(matches!(e(RvError::PinLocked), TokenError::PinLocked));
        assert!(matches!(e(RvError::TokenNotPresent), TokenError::Removed));
        assert!(matches!(e(RvError::DeviceRemoved), TokenError::Removed));
        assert!(e(RvError::PinLocked).to_string().contains("khoá"));
        assert!(matches!(e(RvError::GeneralError), TokenError::Device(_)));
    }

    fn cert(name: &str, subject: &[u8], issuer: &[u8]) -> CertificateInfo {
        CertificateInfo {
            id: name.into(),
            subject: name.into(),
            issuer: String::new(),
            serial: "01".into(),
            not_before: 0,
            not_after: 0,
            digital_signature: true,
            non_repudiation: true,
            der: name.as_bytes().to_vec(),
            issuer_der: issuer.to_vec(),
            subject_der: subject.to_vec(),
            is_ca: true,
        }
    }

    #[test]
    fn the_chain_holds_every_authority_up_to_the_root_renewed_ones_too() {
        let leaf = cert("leaf", b"tram", b"sub");
        let sub_old = cert("sub-2020", b"sub", b"root");
        let sub_new = cert("sub-2025", b"sub", b"root");
        let root = cert("root", b"root", b"root");
        let stranger = cert("other", b"other", b"root");
        let chain = chain_of(&leaf, &[stranger, sub_old, root, sub_new]);
        let names: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
        assert_eq!(
            names,
            [&b"sub-2020"[..], b"sub-2025", b"root"],
            "both renewals of the intermediate, then the root once"
        );
        assert!(chain_of(&leaf, &[]).is_empty());
    }

    #[test]
    fn a_missing_module_is_named() {
        let err = Module::open(Path::new("/khong/co/vnpt-ca_csp11.dll"))
            .err()
            .expect("no such module");
        assert!(matches!(err, TokenError::Module { .. }));
        assert!(matches!(
            Module::open_first(&[]).err(),
            Some(TokenError::NoModule)
        ));
    }
}
