//! App releases signed as a publisher signs them: with the Tauri CLI's `signer generate` and
//! `signer sign` (installed with the UI's npm packages), not with code of our own.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A release signing key pair made by the Tauri CLI (no password).
pub struct ReleaseKey {
    pub private_key: PathBuf,
    /// The public key as the app and `sotiem-server update publish --pubkey` take it.
    pub public: String,
}

fn tauri_cli() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/node_modules/.bin/tauri")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .expect("the Tauri CLI runs (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl ReleaseKey {
    /// A new key pair in `dir`.
    pub fn generate(dir: &Path, name: &str) -> ReleaseKey {
        let private_key = dir.join(format!("{name}.key"));
        run(Command::new(tauri_cli())
            .args([
                "signer",
                "generate",
                "--ci",
                "--password",
                "",
                "--write-keys",
            ])
            .arg(&private_key));
        let mut public = private_key.clone().into_os_string();
        public.push(".pub");
        ReleaseKey {
            public: std::fs::read_to_string(PathBuf::from(public))
                .expect("public key")
                .trim()
                .to_string(),
            private_key,
        }
    }

    /// Signs `file` for `version` (`--app-version`, as the app requires); returns the signature
    /// the CLI wrote to `FILE.sig`.
    pub fn sign(&self, file: &Path, version: &str) -> String {
        run(Command::new(tauri_cli())
            .args(["signer", "sign", "--password", "", "--app-version", version])
            .arg("--private-key-path")
            .arg(&self.private_key)
            .arg(file));
        let mut sig = file.to_path_buf().into_os_string();
        sig.push(".sig");
        std::fs::read_to_string(PathBuf::from(sig)).expect("signature")
    }
}
