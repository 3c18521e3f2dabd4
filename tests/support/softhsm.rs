//! A SoftHSM2 token standing in for the facility's USB token: a test CA, signer certificates with
//! RSA-2048 and ECDSA P-256 keys on the token, an expired one, and one from a foreign CA, all
//! made with openssl and imported with pkcs11-tool. The process must have `SOFTHSM2_CONF` set to
//! [`SoftToken::conf`] before it loads the module (see [`SoftToken::create`]).

use crate::pki::{IssuedCert, ca_config, issue_cert, run};
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

/// Imports a certificate (and its key, `with_key`) into the token as `id`.
fn import(dir: &Path, conf: &Path, cert: &IssuedCert, id: &str, with_key: bool) {
    let objects = if with_key {
        vec![(&cert.p8, "privkey"), (&cert.der, "cert")]
    } else {
        vec![(&cert.der, "cert")]
    };
    for (file, kind) in objects {
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
                &file.to_string_lossy(),
                "--type",
                kind,
                "--id",
                id,
                "--label",
                &cert.name,
            ])
            .args(if kind == "privkey" {
                vec!["--usage-sign"]
            } else {
                vec![]
            }));
    }
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
    let cert = issue_cert(dir, config, name, key, subject, dates);
    import(dir, conf, &cert, id, true);
    TestCert {
        id: id.to_string(),
        pem: cert.pem,
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

    /// Puts another certificate on the token as `id`: with its key (a signer's) or alone (a
    /// certification authority's, as Vietnamese CAs ship their tokens).
    pub fn import(&self, cert: &IssuedCert, id: &str, with_key: bool) {
        import(&self.dir, &self.conf, cert, id, with_key);
    }

    /// The `openssl ca` configuration of the token's test CA.
    pub fn ca_config(&self) -> PathBuf {
        self.dir.join("SoTiemTestCA/ca.cnf")
    }

    /// The files of a certificate issued for the token (`rsa`, `ec`, `expired`, `foreign`).
    pub fn files(&self, name: &str) -> IssuedCert {
        IssuedCert {
            name: name.to_string(),
            key: self.dir.join(format!("{name}.key")),
            pem: self.dir.join(format!("{name}.pem")),
            p8: self.dir.join(format!("{name}.p8")),
            der: self.dir.join(format!("{name}.der")),
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

/// The `main` of a bench without harness: a SoftHSM2 token for the process, then `bench` on a
/// multi-threaded runtime. Cargo lists benches with `--list`: nothing to list then.
pub fn bench_main(bench: impl AsyncFnOnce(&SoftToken)) {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // SAFETY: called first thing in `main`: no other thread exists yet.
    let (_dir, token) = unsafe { token_for_this_process() };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench(&token));
}
