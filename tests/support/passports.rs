//! The server's end-of-day passport run from a test that cannot load SoftHSM2 itself: SoftHSM2
//! reads `SOFTHSM2_CONF` once, when it loads, and a test process with threads running cannot
//! safely change its environment. [`end_of_day`] runs the test binary again as a child, with the
//! token's configuration, at a test that calls [`issue_if_asked`] (a no-op in a normal run).

use crate::softhsm::{LABEL, MODULE, PIN, SoftToken};
use std::path::Path;
use std::process::Command;

const DB: &str = "SOTIEM_TEST_PASSPORT_DB";
const KEY_ID: &str = "SOTIEM_TEST_PASSPORT_KEY_ID";
const ROOT: &str = "SOTIEM_TEST_PASSPORT_ROOT";

/// In the child started by [`end_of_day`]: issues passports into the SQLite server store it
/// names and prints `ISSUED n REISSUED m REVOKED k`. Elsewhere: nothing.
pub async fn issue_if_asked() {
    let Ok(db) = std::env::var(DB) else {
        return;
    };
    let db = sotiem_server::Db::open_sqlite(Path::new(&db), None)
        .await
        .expect("the server's store");
    let config = sotiem_server::passports::SignerConfig {
        module: MODULE.into(),
        token_label: LABEL.into(),
        key_id: std::env::var(KEY_ID).expect("key id"),
        pin: PIN.into(),
        root: std::env::var(ROOT).expect("root").into(),
    };
    let now = sync_protocol::person::now();
    let issuer = std::sync::Arc::new(
        sotiem_server::passports::Issuer::open(&config, now).expect("the document signer"),
    );
    let r = sotiem_server::passports::run(
        &db,
        &issuer,
        &sync_protocol::vaccines::Catalogue::built_in(),
        now,
    )
    .await
    .expect("issued");
    println!(
        "ISSUED {} REISSUED {} REVOKED {}",
        r.issued, r.reissued, r.revoked
    );
    drop(issuer);
    db.close().await;
}

/// Runs the end-of-day issuance on the SQLite store `db` with `token`'s key `key_id` (the RSA
/// one: PS256), in a child of this test binary whose test `helper` calls [`issue_if_asked`].
/// Returns what it printed.
pub fn end_of_day(helper: &str, db: &Path, token: &SoftToken, key_id: &str) -> String {
    let out = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", helper, "--nocapture"])
        .env(DB, db)
        .env(KEY_ID, key_id)
        .env(ROOT, &token.ca_pem)
        .env("SOFTHSM2_CONF", &token.conf)
        .output()
        .expect("the issuing child runs");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && said.contains("ISSUED "),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

/// The text of a PDF (a passport, invitation slips), as pdftotext extracts it.
pub fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("page.pdf");
    std::fs::write(&file, pdf).expect("pdf");
    let out = Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext runs (scripts/setup installs poppler-utils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The QR code on the first page of a PDF file, as zbarimg reads pdftoppm's rendering.
pub fn qr_in_pdf(pdf: &Path) -> String {
    // pdftoppm writes BASE.png.
    let base = pdf.with_extension("page");
    let png = {
        let mut name = base.clone().into_os_string();
        name.push(".png");
        std::path::PathBuf::from(name)
    };
    let status = Command::new("pdftoppm")
        .args(["-r", "150", "-png", "-singlefile"])
        .arg(pdf)
        .arg(&base)
        .status()
        .expect("pdftoppm runs (scripts/setup installs poppler-utils)");
    assert!(status.success(), "pdftoppm failed on {}", pdf.display());
    // QR codes only: with every symbology on, zbar now and then reads a stretch of the QR's
    // modules (different for each certificate) as a short linear barcode and prints it too.
    let out = Command::new("zbarimg")
        .args(["--raw", "-q", "-Sdisable", "-Sqrcode.enable"])
        .arg(&png)
        .output()
        .expect("zbarimg runs (scripts/setup installs zbar-tools)");
    assert!(
        out.status.success(),
        "no QR code found in {}",
        pdf.display()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
