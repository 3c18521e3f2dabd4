//! A test PKI made with openssl (docs/design.md §6): root and intermediate certification authorities
//! with any validity period, certificates for RSA-2048 or ECDSA P-256 keys with the extensions a
//! case needs, revocation lists, and [`FileSigner`], which signs a manifest with a key file the
//! way a token does (for tests of the server's checks that need no token, and for attackers
//! who have none).

use sotiem_token::{CertificateInfo, Signed, TokenError};
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "{:?} did not run ({e}): run ./scripts/setup (softhsm2, opensc, openssl)",
            cmd.get_program()
        )
    });
    assert!(
        out.status.success(),
        "{:?} {:?} failed: {}",
        cmd.get_program(),
        cmd.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// The extension profiles of the test CAs' `openssl ca` configuration.
const PROFILES: &str = "\
[signer]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,nonRepudiation\n\
subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\
[encipher_only]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,keyEncipherment\n\
subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\
[sub_ca]\nbasicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,keyCertSign,cRLSign\n\
subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\
[root]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n";

/// Writes the `openssl ca` set-up of a CA whose `ca.pem`/`ca.key` are (or will be) in `ca_dir`.
fn write_ca_config(ca_dir: &Path, first_serial: &str) -> PathBuf {
    std::fs::create_dir_all(ca_dir.join("new")).expect("ca dir");
    std::fs::write(ca_dir.join("index.txt"), "").expect("index");
    std::fs::write(ca_dir.join("crlnumber"), "01\n").expect("crlnumber");
    let config = ca_dir.join("ca.cnf");
    std::fs::write(
        &config,
        format!(
            "[ca]\ndefault_ca = test\n[test]\ndir = {d}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/new\n\
             certificate = $dir/ca.pem\nprivate_key = $dir/ca.key\nserial = $dir/serial\n\
             crlnumber = $dir/crlnumber\ndefault_crl_days = 30\n\
             default_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\nemail_in_dn = no\n\
             [any]\ncountryName = optional\norganizationName = optional\ncommonName = supplied\nlocalityName = optional\n\
             {PROFILES}",
            d = ca_dir.display()
        ),
    )
    .expect("ca config");
    std::fs::write(ca_dir.join("serial"), format!("{first_serial}\n")).expect("serial");
    config
}

/// A minimal `openssl ca` set-up with a new self-signed root, so certificates can have any
/// validity period. Returns its configuration file.
pub fn ca_config(dir: &Path, name: &str, first_serial: &str) -> PathBuf {
    let ca_dir = dir.join(name);
    let config = write_ca_config(&ca_dir, first_serial);
    openssl(
        &ca_dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            &format!("/C=VN/O={name}/CN={name} Root CA"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    config
}

/// A certificate issued by a test CA, with its key, as PEM and DER files.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub name: String,
    /// The private key (PEM).
    pub key: PathBuf,
    pub pem: PathBuf,
    /// The key as PKCS#8 DER and the certificate as DER (what a token imports).
    pub p8: PathBuf,
    pub der: PathBuf,
}

fn new_key(dir: &Path, key_file: &str, key: &str) {
    let (algorithm, option) = match key {
        "rsa" => ("RSA", "rsa_keygen_bits:2048"),
        _ => ("EC", "ec_paramgen_curve:P-256"),
    };
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            algorithm,
            "-pkeyopt",
            option,
            "-out",
            key_file,
        ],
    );
}

/// Issues a signer certificate (`[signer]` extensions) for a new `rsa` or `ec` key named `name`,
/// valid from `dates.0` to `dates.1` (openssl's `YYYYMMDDHHMMSSZ`).
pub fn issue_cert(
    dir: &Path,
    config: &Path,
    name: &str,
    key: &str,
    subject: &str,
    dates: (&str, &str),
) -> IssuedCert {
    issue_with(dir, config, name, key, subject, dates, "signer")
}

/// Issues a certificate with the extension `profile` of the CA's configuration (`signer`,
/// `encipher_only`, `sub_ca`).
pub fn issue_with(
    dir: &Path,
    config: &Path,
    name: &str,
    key: &str,
    subject: &str,
    dates: (&str, &str),
    profile: &str,
) -> IssuedCert {
    let key_file = format!("{name}.key");
    new_key(dir, &key_file, key);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key_file,
            "-out",
            &format!("{name}.csr"),
            "-utf8",
            "-subj",
            subject,
        ],
    );
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            &config.to_string_lossy(),
            "-extensions",
            profile,
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.pem"),
            "-startdate",
            dates.0,
            "-enddate",
            dates.1,
            "-notext",
            "-utf8",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &key_file,
            "-outform",
            "DER",
            "-out",
            &format!("{name}.p8"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-in",
            &format!("{name}.pem"),
            "-outform",
            "DER",
            "-out",
            &format!("{name}.der"),
        ],
    );
    IssuedCert {
        name: name.to_string(),
        key: dir.join(key_file),
        pem: dir.join(format!("{name}.pem")),
        p8: dir.join(format!("{name}.p8")),
        der: dir.join(format!("{name}.der")),
    }
}

/// An intermediate CA named `name` under the CA of `parent_config` (CA:TRUE, pathlen 0).
/// Returns its configuration and its certificate.
pub fn intermediate_ca(
    dir: &Path,
    parent_config: &Path,
    name: &str,
    first_serial: &str,
) -> (PathBuf, IssuedCert) {
    let cert = issue_with(
        dir,
        parent_config,
        name,
        "rsa",
        &format!("/C=VN/O={name}/CN={name}"),
        ("20250101000000Z", "20351231000000Z"),
        "sub_ca",
    );
    let ca_dir = dir.join(name);
    let config = write_ca_config(&ca_dir, first_serial);
    std::fs::copy(&cert.pem, ca_dir.join("ca.pem")).expect("ca cert");
    std::fs::copy(&cert.key, ca_dir.join("ca.key")).expect("ca key");
    (config, cert)
}

/// A certificate issued by a certificate that is not a CA (an ordinary end-entity), with the
/// serial `serial`: the forged "leaf" of an attacker who holds one real certificate.
pub fn forge_under(
    dir: &Path,
    issuer: &IssuedCert,
    name: &str,
    subject: &str,
    serial: &str,
) -> IssuedCert {
    let key_file = format!("{name}.key");
    new_key(dir, &key_file, "ec");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key_file,
            "-out",
            &format!("{name}.csr"),
            "-utf8",
            "-subj",
            subject,
        ],
    );
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,nonRepudiation\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &issuer.pem.to_string_lossy(),
            "-CAkey",
            &issuer.key.to_string_lossy(),
            "-set_serial",
            &format!("0x{serial}"),
            "-days",
            "365",
            "-extfile",
            &ext.to_string_lossy(),
            "-out",
            &format!("{name}.pem"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-in",
            &format!("{name}.pem"),
            "-outform",
            "DER",
            "-out",
            &format!("{name}.der"),
        ],
    );
    IssuedCert {
        name: name.to_string(),
        key: dir.join(key_file),
        pem: dir.join(format!("{name}.pem")),
        p8: dir.join(format!("{name}.p8")),
        der: dir.join(format!("{name}.der")),
    }
}

/// Revokes `cert` at the CA of `config` and writes the CA's CRL (PEM) to `out`.
pub fn revoke(config: &Path, cert: &IssuedCert, out: &Path) {
    let dir = config.parent().expect("ca dir");
    openssl(
        dir,
        &[
            "ca",
            "-config",
            &config.to_string_lossy(),
            "-revoke",
            &cert.pem.to_string_lossy(),
            "-crl_reason",
            "keyCompromise",
        ],
    );
    crl(config, out);
}

/// Writes the current CRL of the CA of `config` (PEM) to `out`.
pub fn crl(config: &Path, out: &Path) {
    let dir = config.parent().expect("ca dir");
    openssl(
        dir,
        &[
            "ca",
            "-config",
            &config.to_string_lossy(),
            "-gencrl",
            "-out",
            &out.to_string_lossy(),
        ],
    );
}

/// A signer whose key is a file, building the same detached CMS SignedData a token does
/// (signed attributes with the signing time, one signature over them, the certificates).
pub struct FileSigner {
    info: CertificateInfo,
    cert: IssuedCert,
    /// Certificates to put in the CMS besides the signer's (intermediates), DER.
    pub chain: Vec<Vec<u8>>,
    /// A signing time of the signer's choosing (unix seconds), as a forger would set it.
    pub signing_time: Option<u64>,
}

impl FileSigner {
    /// A signer with `cert`'s key.
    pub fn new(cert: &IssuedCert) -> FileSigner {
        let der = std::fs::read(&cert.der).expect("certificate DER");
        FileSigner {
            info: CertificateInfo::from_der(cert.name.as_bytes(), &der).expect("certificate"),
            cert: cert.clone(),
            chain: Vec::new(),
            signing_time: None,
        }
    }

    /// The same, with these intermediates in the CMS.
    pub fn with_chain(mut self, chain: &[&IssuedCert]) -> FileSigner {
        self.chain = chain
            .iter()
            .map(|c| std::fs::read(&c.der).expect("DER"))
            .collect();
        self
    }
}

impl station::ManifestSigner for FileSigner {
    fn certificate(&self) -> &CertificateInfo {
        &self.info
    }

    fn sign(&self, content: &[u8], at: time::OffsetDateTime) -> Result<Signed, TokenError> {
        use sotiem_token::cms;
        let failed = |e: String| TokenError::Certificate(e);
        let at = std::time::Duration::from_secs(
            self.signing_time
                .unwrap_or_else(|| u64::try_from(at.unix_timestamp()).unwrap_or(0)),
        );
        let (to_sign, attrs) =
            cms::signed_attributes(content, at).map_err(|e| failed(e.to_string()))?;
        let dir = tempfile::tempdir().map_err(|e| failed(e.to_string()))?;
        let input = dir.path().join("attrs");
        std::fs::write(&input, &to_sign).map_err(|e| failed(e.to_string()))?;
        let out = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.cert.key)
            .arg(&input)
            .output()
            .map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            return Err(failed(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        let kind = key_kind(&self.cert.key);
        Ok(Signed {
            cms_der: cms::signed_data(&self.info.der, &self.chain, kind, attrs, out.stdout)
                .map_err(|e| failed(e.to_string()))?,
            token_operations: 1,
        })
    }
}

/// Whether a PEM private key file is RSA or EC (as `openssl pkey` reports it).
fn key_kind(key: &Path) -> sotiem_token::cms::KeyKind {
    let out = Command::new("openssl")
        .args(["pkey", "-noout", "-text", "-in"])
        .arg(key)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if out.contains("ASN1 OID: prime256v1") || out.contains("NIST CURVE: P-256") {
        sotiem_token::cms::KeyKind::EcP256
    } else {
        sotiem_token::cms::KeyKind::Rsa
    }
}
