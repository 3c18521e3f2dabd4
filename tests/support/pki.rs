//! A test PKI made with openssl: certificate authorities with any validity period and signer
//! certificates for RSA-2048 or ECDSA P-256 keys (DESIGN.md §6). The SoftHSM2 token imports
//! them; [`FileSigner`] signs with the key file itself, for tests that need a signer but no
//! token.

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

/// A minimal `openssl ca` set-up, so certificates can have any validity period.
pub fn ca_config(dir: &Path, name: &str, first_serial: &str) -> PathBuf {
    let ca_dir = dir.join(name);
    std::fs::create_dir_all(ca_dir.join("new")).expect("ca dir");
    std::fs::write(ca_dir.join("index.txt"), "").expect("index");
    let config = ca_dir.join("ca.cnf");
    std::fs::write(
        &config,
        format!(
            "[ca]\ndefault_ca = test\n[test]\ndir = {d}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/new\n\
             certificate = $dir/ca.pem\nprivate_key = $dir/ca.key\nserial = $dir/serial\n\
             default_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\nemail_in_dn = no\n\
             [any]\ncountryName = optional\norganizationName = optional\ncommonName = supplied\nlocalityName = optional\n\
             [signer]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,nonRepudiation\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\
             [root]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
            d = ca_dir.display()
        ),
    )
    .expect("ca config");
    std::fs::write(ca_dir.join("serial"), format!("{first_serial}\n")).expect("serial");
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

/// A certificate issued by a test CA, with its key, as PEM and DER files in the CA's directory.
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

/// Issues a signer certificate (`[signer]` extensions of [`ca_config`]) for a new `rsa` or `ec`
/// key named `name`, valid from `dates.0` to `dates.1` (openssl's `YYYYMMDDHHMMSSZ`).
pub fn issue_cert(
    dir: &Path,
    config: &Path,
    name: &str,
    key: &str,
    subject: &str,
    dates: (&str, &str),
) -> IssuedCert {
    let key_file = format!("{name}.key");
    match key {
        "rsa" => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &key_file,
            ],
        ),
        _ => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key_file,
            ],
        ),
    }
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
            "signer",
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

/// A signer whose key is a file, signing with `openssl cms` as a token would (detached CMS
/// SignedData with the signing time): for tests of the server's checks that need no token.
pub struct FileSigner {
    info: CertificateInfo,
    cert: IssuedCert,
    /// Certificates to put in the CMS besides the signer's (intermediates).
    pub chain: Vec<PathBuf>,
}

impl FileSigner {
    /// A signer with `cert`'s key.
    pub fn new(cert: &IssuedCert) -> FileSigner {
        let der = std::fs::read(&cert.der).expect("certificate DER");
        FileSigner {
            info: CertificateInfo::from_der(cert.name.as_bytes(), &der).expect("certificate"),
            cert: cert.clone(),
            chain: Vec::new(),
        }
    }
}

impl station::ManifestSigner for FileSigner {
    fn certificate(&self) -> &CertificateInfo {
        &self.info
    }

    fn sign(&self, content: &[u8]) -> Result<Signed, TokenError> {
        let dir = tempfile::tempdir().map_err(|e| TokenError::Certificate(e.to_string()))?;
        let input = dir.path().join("content");
        let output = dir.path().join("content.p7s");
        std::fs::write(&input, content).map_err(|e| TokenError::Certificate(e.to_string()))?;
        let mut cmd = Command::new("openssl");
        cmd.args([
            "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256",
        ])
        .arg("-signer")
        .arg(&self.cert.pem)
        .arg("-inkey")
        .arg(&self.cert.key)
        .arg("-in")
        .arg(&input)
        .arg("-out")
        .arg(&output);
        for c in &self.chain {
            cmd.arg("-certfile").arg(c);
        }
        let out = cmd
            .output()
            .map_err(|e| TokenError::Certificate(e.to_string()))?;
        if !out.status.success() {
            return Err(TokenError::Certificate(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        Ok(Signed {
            cms_der: std::fs::read(&output).map_err(|e| TokenError::Certificate(e.to_string()))?,
            token_operations: 1,
        })
    }
}
