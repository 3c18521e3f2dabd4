//! A SoftHSM2 token standing in for the facility's USB token: a test CA, signer certificates with
//! RSA-2048 and ECDSA P-256 keys on the token, an expired one, and one from a foreign CA, all
//! made with openssl and imported with pkcs11-tool. The process must have `SOFTHSM2_CONF` set to
//! [`SoftToken::conf`] before it loads the module (see [`SoftToken::create`]).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The module SoftHSM2 installs on Debian.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of the test token.
pub const PIN: &str = "1234";
/// The label of the test token.
pub const LABEL: &str = "TramYTe";

/// A certificate made for the token.
#[derive(Debug, Clone)]
pub struct TestCert {
    /// Token object id (hex) pairing certificate and key.
    pub id: String,
    pub pem: PathBuf,
}

/// The token and the files around it.
#[derive(Debug, Clone)]
pub struct SoftToken {
    pub dir: PathBuf,
    /// The SoftHSM2 configuration to export as `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    pub ca_pem: PathBuf,
    pub foreign_ca_pem: PathBuf,
    pub rsa: TestCert,
    pub ec: TestCert,
    pub expired: TestCert,
    pub foreign: TestCert,
}

fn run(cmd: &mut Command) {
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

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// A minimal `openssl ca` set-up, so certificates can have any validity period.
fn ca_config(dir: &Path, name: &str, first_serial: &str) -> PathBuf {
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

/// Issues a certificate for a new key (`rsa` or `ec`) and imports both into the token as `id`.
#[allow(clippy::too_many_arguments)]
fn issue(
    dir: &Path,
    conf: &Path,
    config: &Path,
    name: &str,
    id: &str,
    key: &str,
    subject: &str,
    dates: (&str, &str),
) -> TestCert {
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
    for (file, kind) in [
        (format!("{name}.p8"), "privkey"),
        (format!("{name}.der"), "cert"),
    ] {
        run(Command::new("pkcs11-tool")
            .current_dir(dir)
            .env("SOFTHSM2_CONF", conf)
            .args([
                "--module",
                MODULE,
                "--token-label",
                LABEL,
                "--login",
                "--pin",
                PIN,
                "--write-object",
                &file,
                "--type",
                kind,
                "--id",
                id,
                "--label",
                name,
            ])
            .args(if kind == "privkey" {
                vec!["--usage-sign"]
            } else {
                vec![]
            }));
    }
    TestCert {
        id: id.to_string(),
        pem: dir.join(format!("{name}.pem")),
    }
}

impl SoftToken {
    /// Creates the CAs, the certificates and the token in `dir`. Set `SOFTHSM2_CONF` to
    /// `dir/softhsm2.conf` (see [`SoftToken::conf_path`]) before the module is first loaded.
    pub fn create(dir: &Path) -> SoftToken {
        let conf = SoftToken::conf_path(dir);
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens).expect("token dir");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("softhsm conf");
        run(Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                LABEL,
                "--so-pin",
                "12345678",
                "--pin",
                PIN,
            ]));
        let ca = ca_config(dir, "SoTiemTestCA", "5A3F01");
        // Serials are unique per issuer only: the foreign CA numbers from elsewhere.
        let foreign_ca = ca_config(dir, "ForeignCA", "7B0001");
        let now = "20250101000000Z";
        let later = "20351231000000Z";
        let org = "/C=VN/O=Trạm Y tế xã Tân Nhựt/L=TP Hồ Chí Minh/CN=Trạm Y tế xã Tân Nhựt";
        SoftToken {
            rsa: issue(dir, &conf, &ca, "rsa", "01", "rsa", org, (now, later)),
            ec: issue(dir, &conf, &ca, "ec", "02", "ec", org, (now, later)),
            expired: issue(
                dir,
                &conf,
                &ca,
                "expired",
                "03",
                "ec",
                org,
                ("20200101000000Z", "20210101000000Z"),
            ),
            foreign: issue(
                dir,
                &conf,
                &foreign_ca,
                "foreign",
                "04",
                "ec",
                org,
                (now, later),
            ),
            ca_pem: dir.join("SoTiemTestCA/ca.pem"),
            foreign_ca_pem: dir.join("ForeignCA/ca.pem"),
            conf,
            dir: dir.to_path_buf(),
        }
    }

    /// Where [`SoftToken::create`] writes the SoftHSM2 configuration for `dir`.
    pub fn conf_path(dir: &Path) -> PathBuf {
        dir.join("softhsm2.conf")
    }
}

/// Whether `openssl cms -verify` accepts `cms` (DER, detached) over `content` with `ca` as the
/// trusted root (`-purpose any`: organisation certificates often lack the S/MIME usage).
pub fn openssl_verifies(dir: &Path, cms: &[u8], content: &[u8], ca: &Path) -> bool {
    let name = uuid::Uuid::now_v7();
    let (sig, data) = (
        dir.join(format!("{name}.p7s")),
        dir.join(format!("{name}.content")),
    );
    std::fs::write(&sig, cms).expect("write signature");
    std::fs::write(&data, content).expect("write content");
    Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(&sig)
        .arg("-content")
        .arg(&data)
        .arg("-CAfile")
        .arg(ca)
        .args(["-purpose", "any", "-out", "/dev/null"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs")
        .success()
}

/// Creates a token in a fresh temporary directory and points `SOFTHSM2_CONF` at it, for a test
/// or bench with its own `main` (SoftHSM2 reads the variable when the module loads). The
/// directory lives as long as the returned guard.
///
/// # Safety
/// Call before the process starts any thread: nothing may read the environment while it changes.
pub unsafe fn token_for_this_process() -> (tempfile::TempDir, SoftToken) {
    let dir = tempfile::tempdir().expect("temp dir");
    // SAFETY: the caller guarantees that no other thread exists yet.
    unsafe { std::env::set_var("SOFTHSM2_CONF", SoftToken::conf_path(dir.path())) };
    let token = SoftToken::create(dir.path());
    (dir, token)
}
