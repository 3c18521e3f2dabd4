//! The USB token path against a real SoftHSM2 token: certificates read off the token, a wrong
//! PIN, a 3,000-dose manifest signed with one token operation as CMS that `openssl cms -verify`
//! accepts (RSA-2048 and ECDSA P-256), and a tampered manifest or a foreign CA refused by it.
//!
//! SoftHSM2 reads its configuration from the environment when the module loads: these cases run
//! in the `sequential` binary, whose `main` sets `SOFTHSM2_CONF` before any thread exists.

use sha2::{Digest, Sha256};
use sotiem_scenarios::softhsm::{MODULE, PIN, SoftToken, openssl_verifies};
use sotiem_token::{Module, TokenError};
use std::path::Path;
use std::time::Duration;
use sync_protocol::manifest::{Manifest, ManifestEntry};
use uuid::Uuid;

fn signing_time() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
}

fn manifest(doses: usize) -> Manifest {
    Manifest {
        batch_id: Uuid::now_v7(),
        facility: "TYT-TANNHUT".into(),
        signer: "bs.hung".into(),
        certificate_serial: "5a3f01".into(),
        created_at: "2026-11-23T16:30:00+07:00".into(),
        entries: (0..doses)
            .map(|i| ManifestEntry {
                dose_id: Uuid::now_v7(),
                person_id: Uuid::now_v7(),
                record_hash: Sha256::digest(i.to_le_bytes()).into(),
            })
            .collect(),
    }
}

fn certificates_on_the_token_are_read_with_serial_validity_and_usage(t: &SoftToken) {
    let module = Module::open(Path::new(MODULE)).expect("module");
    let tokens = module.tokens().expect("tokens");
    assert_eq!(
        tokens.len(),
        1,
        "SoftHSM's empty slot is not offered: {tokens:?}"
    );
    let token = tokens.iter().find(|x| x.label == "TramYTe").expect("token");
    let certs = module.certificates(token.slot).expect("certificates");
    assert_eq!(certs.len(), 4, "{certs:?}");
    let rsa = certs.iter().find(|c| c.id == t.rsa.id).expect("rsa");
    assert!(rsa.subject.contains("Tân Nhựt"), "{}", rsa.subject);
    assert!(rsa.issuer.contains("SoTiemTestCA"), "{}", rsa.issuer);
    assert!(rsa.digital_signature && rsa.non_repudiation);
    assert!(!rsa.serial.is_empty() && rsa.serial.chars().all(|c| c.is_ascii_hexdigit()));
    let expired = certs
        .iter()
        .find(|c| c.id == t.expired.id)
        .expect("expired");
    assert!(expired.not_after < 1_700_000_000, "expired in 2021");
}

fn a_wrong_pin_is_refused_and_nothing_is_signed(_: &SoftToken) {
    let module = Module::open(Path::new(MODULE)).expect("module");
    let slot = module.tokens().expect("tokens")[0].slot;
    let cert = module.certificates(slot).expect("certs").remove(0);
    let err = module
        .sign_cms(slot, &cert, "9999", b"manifest", signing_time())
        .expect_err("refused");
    assert!(matches!(err, TokenError::WrongPin), "{err:?}");
    assert_eq!(err.code(), "pin_incorrect");
}

fn a_3000_dose_manifest_is_signed_once_and_openssl_verifies_it(t: &SoftToken) {
    let module = Module::open(Path::new(MODULE)).expect("module");
    let slot = module.tokens().expect("tokens")[0].slot;
    let certs = module.certificates(slot).expect("certs");
    let m = manifest(3000);
    let content = m.to_bytes();
    for id in [&t.rsa.id, &t.ec.id] {
        let cert = certs.iter().find(|c| &c.id == id).expect("cert");
        let signed = module
            .sign_cms(slot, cert, PIN, &content, signing_time())
            .expect("signed");
        assert_eq!(signed.token_operations, 1);
        assert!(
            openssl_verifies(&t.dir, &signed.cms_der, &content, &t.ca_pem),
            "openssl accepts the {id} signature"
        );
        let mut tampered = content.clone();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
        assert!(
            !openssl_verifies(&t.dir, &signed.cms_der, &tampered, &t.ca_pem),
            "a changed manifest fails"
        );
        assert!(
            !openssl_verifies(&t.dir, &signed.cms_der, &content, &t.foreign_ca_pem),
            "a signature does not chain to another CA"
        );
    }
    let foreign = certs
        .iter()
        .find(|c| c.id == t.foreign.id)
        .expect("foreign");
    let signed = module
        .sign_cms(slot, foreign, PIN, &content, signing_time())
        .expect("signed");
    assert!(!openssl_verifies(
        &t.dir,
        &signed.cms_der,
        &content,
        &t.ca_pem
    ));
}

/// Runs this module's cases, unless `filter` leaves them out.
pub fn run(token: &SoftToken, filter: Option<&str>) {
    crate::case(
        filter,
        "certificates_on_the_token_are_read_with_serial_validity_and_usage",
        || certificates_on_the_token_are_read_with_serial_validity_and_usage(token),
    );
    crate::case(
        filter,
        "a_wrong_pin_is_refused_and_nothing_is_signed",
        || a_wrong_pin_is_refused_and_nothing_is_signed(token),
    );
    crate::case(
        filter,
        "a_3000_dose_manifest_is_signed_once_and_openssl_verifies_it",
        || a_3000_dose_manifest_is_signed_once_and_openssl_verifies_it(token),
    );
}
