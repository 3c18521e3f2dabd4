//! Vaccine passports end to end (issue 15): a station records doses, the police's registry
//! matches the people, the head of the facility signs the run with the USB token, and the
//! server's end-of-day run issues EU DCC certificates signed in an HSM (SoftHSM2: PS256 with the
//! RSA key, ES256 with the EC key). An independent implementation (Python cbor2, cryptography,
//! jsonschema with the vendored EU DCC schema 1.3.0) decodes and verifies them; voiding a dose
//! revokes and re-issues; the trust list served over HTTP carries the signers and revocations
//! and the offline verifier judges each passport by it.
//!
//! Run by the `sequential` binary, like `signing.rs`: SoftHSM2 reads `SOFTHSM2_CONF` when it loads.

use sotiem_fixtures::Generator;
use sotiem_passport::{Verdict, Verifier};
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::softhsm::{LABEL, MODULE, PIN, SoftToken};
use sotiem_scenarios::{Device, Lab, vaccinated_at};
use sotiem_server::passports::{self, Issuer, SignerConfig};
use sotiem_token::Module;
use station::{SigningSelection, TokenSigner};
use std::path::Path;
use std::sync::Arc;
use sync_protocol::Person;
use sync_protocol::auth::Role;
use sync_protocol::endpoints;
use sync_protocol::wire::{PassportPage, PassportRecord};
use time::macros::datetime;

fn config(token: &SoftToken, key_id: &str) -> SignerConfig {
    SignerConfig {
        module: MODULE.into(),
        token_label: LABEL.into(),
        key_id: key_id.into(),
        pin: PIN.into(),
        root: token.ca_pem.clone(),
    }
}

/// Runs the independent Python check over `passports`; returns its JSON line per passport.
fn python_check(dir: &Path, signers: &[&[u8]], passports: &[&str]) -> Vec<serde_json::Value> {
    let signer_dir = dir.join(format!("signers-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&signer_dir).expect("dir");
    for (i, der) in signers.iter().enumerate() {
        std::fs::write(signer_dir.join(format!("{i}.der")), der).expect("der");
    }
    let list = signer_dir.join("passports.txt");
    std::fs::write(&list, passports.join("\n")).expect("list");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(root.join("tests/support/dcc_check.py"))
        .arg(root.join("passport/schema/DCC.combined-schema-1.3.0.json"))
        .arg(&signer_dir)
        .arg(&list)
        .output()
        .expect("python3 runs (scripts/setup installs python3-cbor2, -cryptography, -jsonschema)");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        out.status.success(),
        "the independent check failed: {lines:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines.len(), passports.len());
    lines
}

/// The QR code on the PDF's page, read back by zbarimg from pdftoppm's rendering.
fn qr_in_pdf(dir: &Path, pdf: &[u8]) -> String {
    let file = dir.join(format!("passport-{}.pdf", uuid::Uuid::now_v7()));
    std::fs::write(&file, pdf).expect("pdf");
    sotiem_scenarios::passports::qr_in_pdf(&file)
}

fn the_day() -> SigningSelection {
    SigningSelection {
        from: "20/11/2026".into(),
        to: "2026-11-20".into(),
        ..SigningSelection::default()
    }
}

async fn passports_of(device: &Device, since: i64, after: &str) -> PassportPage {
    device
        .client
        .get_json(
            endpoints::PASSPORTS_CHANGED,
            &[("since", since.to_string()), ("after", after.to_string())],
        )
        .await
        .expect("passports page")
}

async fn scenario(token: &SoftToken, backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse: Device = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(15);
    let verified: Vec<Person> = vaccinated_at(&mut g, 30, 2, datetime!(2026-11-20 08:00 +7));
    let unverified = vaccinated_at(&mut g, 5, 1, datetime!(2026-11-20 10:00 +7));
    nurse.import_people(&verified).await.expect("imported");
    nurse.import_people(&unverified).await.expect("imported");
    nurse.sync().await.expect("doses on the server");
    lab.registry_knows(&verified).await;
    nurse.sync().await.expect("verification results pulled");

    // The head of the facility signs the day's doses with the facility's USB token.
    lab.server
        .trust
        .add(&std::fs::read(&token.ca_pem).expect("ca"))
        .expect("trusted");
    let module = Module::open(Path::new(MODULE)).expect("module");
    let slot = module.tokens().expect("tokens")[0].slot;
    let facility_cert = module.certificate(slot, &token.rsa.id).expect("cert");
    lab.account("bs.hung", "TYT-TANNHUT", Role::Signer).await;
    lab.register_certificates("bs.hung", &[&facility_cert])
        .await;
    nurse.sign_out(None).await.expect("nurse signs out");
    lab.sign_in(&nurse, &nurse.client, "bs.hung").await;
    let signer = TokenSigner {
        module: &module,
        slot,
        certificate: facility_cert.clone(),
        pin: PIN.into(),
    };
    nurse
        .sign_selection(&the_day(), 60, &signer)
        .await
        .expect("signed");
    let report = nurse.sync().await.expect("the run reaches the server");
    assert_eq!(report.batches_accepted, 1);

    // End of day: the server's document signer (PS256, the RSA key in the HSM) issues.
    let ps256 = Arc::new(
        Issuer::open(&config(token, &token.rsa.id), lab.server.clock.now()).expect("issuer"),
    );
    let catalogue = sync_protocol::vaccines::Catalogue::built_in();
    let first = passports::run(&lab.server.db, &ps256, &catalogue, lab.server.clock.now())
        .await
        .expect("run");
    assert_eq!(
        (first.issued, first.reissued, first.revoked),
        (30, 0, 0),
        "the 30 matched and signed people, not the 5 unverified ones (unsigned, unmatched)"
    );
    let again = passports::run(&lab.server.db, &ps256, &catalogue, lab.server.clock.now())
        .await
        .expect("second run");
    assert_eq!(
        (again.issued, again.unchanged),
        (0, 30),
        "nothing changed: nothing re-issued"
    );

    let page = passports_of(&nurse, 0, "").await;
    assert_eq!(page.passports.len(), 30);
    assert!(!page.more);
    let hc1: Vec<&str> = page.passports.iter().map(|p| p.hc1.as_str()).collect();
    let checked = python_check(lab.dir.path(), &[&ps256.certificate().der], &hc1);
    let anh = &verified[0];
    let anh_passport = page
        .passports
        .iter()
        .find(|p| p.person_id == anh.id.to_string())
        .expect("the first person's passport");
    let line = checked
        .iter()
        .find(|l| l["ci"] == anh_passport.uvci.as_str())
        .expect("checked");
    assert_eq!(line["alg"], -37, "PS256");
    assert_eq!(line["dn"], 2);
    assert_eq!(line["dt"], "2026-11-20");
    assert_eq!(line["is"], "Ban Co Yeu");
    assert_eq!(
        line["fnt"],
        sotiem_passport::payload::icao_transliteration(
            anh.full_name.split_whitespace().next().unwrap_or_default()
        )
    );
    assert_eq!(line["dob"], anh.birth_date.to_string());

    // The trust list, as any registered device fetches it, verifies them offline.
    let list = nurse
        .client
        .get_bytes(endpoints::PASSPORT_TRUST_LIST)
        .await
        .expect("trust list");
    let root = sotiem_server::certificates::der_of(&std::fs::read(&token.ca_pem).expect("ca"))
        .expect("der");
    let verifier = Verifier::open(&list, Some(&root)).expect("a genuine list");
    let now = lab.server.clock.now().unix_timestamp();
    assert!(
        hc1.iter()
            .all(|h| verifier.check(h, now).verdict == Verdict::Valid)
    );

    // The station pulls the passports with its sync; the person's record shows hers, it prints
    // to a PDF whose QR code reads back (pdftoppm, zbarimg) as the certificate, and the "check a
    // passport" screen's verification accepts it offline.
    lab.sign_in(&nurse, &nurse.client, "nv.lan").await;
    let report = nurse.sync().await.expect("sync");
    assert_eq!(report.passports_pulled, 30);
    let status = nurse.passport_status(anh.id).await.expect("status");
    let current = status.current.clone().expect("a valid passport");
    assert_eq!(current.uvci, anh_passport.uvci);
    assert!(
        status.summary.contains("Đã có hộ chiếu"),
        "{}",
        status.summary
    );
    let (pdf, file_name) = nurse
        .passport_pdf(anh.id, station::Paper::A4)
        .await
        .expect("printed");
    let (a5, _) = nurse
        .passport_pdf(anh.id, station::Paper::A5)
        .await
        .expect("printed on A5");
    assert_eq!(
        qr_in_pdf(lab.dir.path(), &a5),
        current.hc1,
        "the A5 page's QR reads too"
    );
    assert!(file_name.ends_with(".pdf"));
    if let Some(keep) = std::env::var_os("SOTIEM_TEST_ARTIFACTS") {
        std::fs::create_dir_all(&keep).expect("artifacts dir");
        std::fs::write(Path::new(&keep).join(&file_name), &pdf).expect("kept");
    }
    assert_eq!(qr_in_pdf(lab.dir.path(), &pdf), current.hc1);
    let text = sotiem_scenarios::passports::pdf_text(&pdf);
    for expected in [
        anh.full_name.as_str(),
        "HỘ CHIẾU VẮC XIN",
        "COVID-19 VACCINATION CERTIFICATE",
        &current.uvci,
    ] {
        assert!(text.contains(expected), "the PDF says {expected:?}: {text}");
    }
    let check = nurse
        .check_passport(&format!("  {}\n", current.hc1))
        .await
        .expect("checked");
    assert!(check.accepted, "{check:?}");
    assert_eq!(check.holder.as_deref(), Some(anh.full_name.as_str()));
    assert_eq!(check.dose.as_deref(), Some("2/2"));
    let garbage = nurse
        .check_passport("HC1:NCFOXN%TS3DH")
        .await
        .expect("checked");
    assert!(!garbage.accepted);
    assert_eq!(garbage.verdict, "compression");

    // A dose voided the next day: the passport built on it is revoked, a new one (for dose 1)
    // issued by the rotated signer, now ES256 with the EC key.
    lab.server.clock.advance(time::Duration::days(1));
    let mut otp = lab.sign_in(&nurse, &nurse.client, "nv.lan").await;
    let dose2 = anh
        .doses
        .values()
        .find(|d| d.dose_number == 2)
        .expect("dose 2");
    let code = otp.code().await;
    lab.codes_used("nv.lan", &otp);
    nurse
        .void_dose_with(
            dose2.id,
            "Ghi nhầm: người này chỉ tiêm 1 mũi hôm 20/11",
            Some(station::StepUp {
                otp: &code,
                server: Some(&nurse.client),
            }),
        )
        .await
        .expect("voided with a fresh code");
    nurse.sync().await.expect("the voiding reaches the server");
    let es256 = Arc::new(
        Issuer::open(&config(token, &token.ec.id), lab.server.clock.now()).expect("issuer"),
    );
    let second = passports::run(&lab.server.db, &es256, &catalogue, lab.server.clock.now())
        .await
        .expect("run");
    assert_eq!(
        (second.issued, second.reissued, second.unchanged),
        (0, 1, 29)
    );
    let mine: Vec<PassportRecord> = passports::of_person(&lab.server.db, &anh.id.to_string())
        .await
        .expect("hers");
    assert_eq!(mine.len(), 2);
    let (new, old) = (&mine[0], &mine[1]);
    assert_eq!(old.uvci, anh_passport.uvci);
    assert_eq!(old.revoked_reason.as_deref(), Some("corrected"));
    assert!(new.revoked_at.is_none());
    let line = &python_check(lab.dir.path(), &[&es256.certificate().der], &[&new.hc1])[0];
    assert_eq!(
        (line["alg"].clone(), line["dn"].clone()),
        (serde_json::json!(-7), serde_json::json!(1))
    );

    // The station pulls both changes after its cursor; the new trust list revokes the old UVCI
    // and still trusts the first signer's passports.
    let changes = passports_of(&nurse, page.next.since, &page.next.after).await;
    let mut uvcis: Vec<&str> = changes.passports.iter().map(|p| p.uvci.as_str()).collect();
    uvcis.sort();
    let mut expected = vec![old.uvci.as_str(), new.uvci.as_str()];
    expected.sort();
    assert_eq!(uvcis, expected);
    let list = nurse
        .client
        .get_bytes(endpoints::PASSPORT_TRUST_LIST)
        .await
        .expect("trust list");
    let verifier = verifier
        .update(&list)
        .expect("a newer list under the same root");
    assert_eq!(verifier.signers().count(), 2);
    let now = lab.server.clock.now().unix_timestamp();
    assert_eq!(verifier.check(&old.hc1, now).verdict, Verdict::Revoked);
    assert_eq!(verifier.check(&new.hc1, now).verdict, Verdict::Valid);
    let other = page
        .passports
        .iter()
        .find(|p| p.uvci != old.uvci)
        .expect("another");
    assert_eq!(verifier.check(&other.hc1, now).verdict, Verdict::Valid);
    // A year and a day later, expired.
    assert_eq!(
        verifier.check(&other.hc1, now + 366 * 86_400).verdict,
        Verdict::Expired
    );

    // The station's record follows: the new passport is the one to print, the old one revoked.
    let report = nurse.sync().await.expect("sync");
    assert_eq!(report.passports_pulled, 2);
    let status = nurse.passport_status(anh.id).await.expect("status");
    assert_eq!(
        status.current.as_ref().map(|p| p.uvci.as_str()),
        Some(new.uvci.as_str())
    );
    assert_eq!(status.history.len(), 1);
    assert_eq!(status.history[0].state, station::PassportState::Revoked);
    assert_eq!(
        nurse
            .check_passport(&old.hc1)
            .await
            .expect("checked")
            .verdict,
        "revoked"
    );
    assert!(
        nurse
            .check_passport(&new.hc1)
            .await
            .expect("checked")
            .accepted
    );
    let unsigned = &unverified[0];
    let none = nurse
        .passport_pdf(unsigned.id, station::Paper::A4)
        .await
        .expect_err("no passport to print");
    assert_eq!(none.code(), "no_passport");

    // A passport made with a key whose certificate another root issued, copying a genuine
    // passport's content, is refused: its signer is not in the trust list.
    let foreign_cert = module.certificate(slot, &token.foreign.id).expect("cert");
    let foreign_key = module.key_signer(slot, &foreign_cert, PIN).expect("key");
    let decoded = sotiem_passport::decode(&new.hc1).expect("decode");
    let forged = sotiem_passport::encode(
        &decoded.certificate,
        &decoded.claims,
        &sotiem_passport::SignerCertificate::from_der(&foreign_cert.der).expect("cert"),
        |d| foreign_key.sign(d).map_err(|e| e.to_string()),
    )
    .expect("forged");
    drop(foreign_key);
    let refused = nurse.check_passport(&forged).await.expect("checked");
    assert_eq!(refused.verdict, "unknown_signer");
    assert!(!refused.accepted);

    // Another commune's station sees none of these people's passports.
    let elsewhere = lab.device("tantuc", "TYT-TANTUC", "nv.binh").await;
    assert!(passports_of(&elsewhere, 0, "").await.passports.is_empty());
    let refused = elsewhere
        .client
        .get_json::<Vec<PassportRecord>>(
            &endpoints::PASSPORTS_OF_PERSON.replace("{id}", &anh.id.to_string()),
            &[],
        )
        .await
        .expect_err("not in its scope");
    assert_eq!(refused.code(), "person_not_found", "{refused}");

    // A passport signed with a key whose certificate another root issued is not trusted,
    // even when it copies a genuine passport's content.
    let foreign = Issuer::open(&config(token, &token.foreign.id), lab.server.clock.now())
        .expect_err("the configured root did not issue it");
    assert!(
        foreign.to_string().contains("không do chứng thư gốc"),
        "{foreign}"
    );
    drop((ps256, es256));
    drop(module);
    lab.server.stop().await;
}

/// Issue 26 (6): the administrators' audit chain is anchored each day with the document
/// signer's key in the HSM. Whoever can write the database can rewrite the chain and recompute
/// every hash after the entry removed — the chain alone then checks out — but not the signed
/// anchor: `verify` finds the day it no longer matches. An anchor by another key (a forged
/// certificate) is refused too.
async fn the_admin_audit_chain_is_anchored_by_the_hsm(token: &SoftToken, backend: Backend) {
    use sotiem_server::admin_audit::{self, Actor, ChainCheck};
    use sotiem_server::audit_anchors::{self, AnchorCheck};
    let lab = Lab::start(backend).await;
    let db = &lab.server.db;
    let server_id = sotiem_server::admin::server_id(db).await.expect("id");
    let admin = Actor::account("qt.he.thong", Some("10.1.2.3"));
    for who in ["nv.lan", "nv.mai", "nv.binh"] {
        admin_audit::append(
            db,
            &admin,
            "account_reset_password",
            &format!("account/{who}"),
            Vec::new(),
        )
        .await
        .expect("entry");
    }
    let issuer = Arc::new(
        Issuer::open(&config(token, &token.ec.id), lab.server.clock.now()).expect("issuer"),
    );
    let root = std::fs::read(&token.ca_pem).expect("root");
    let root = sotiem_server::certificates::der_of(&root).expect("der");
    let first = audit_anchors::anchor(db, &issuer, &server_id, lab.server.clock.now())
        .await
        .expect("anchored");
    assert_eq!(first.seq, 3);
    // The same day again: the same anchor.
    let again = audit_anchors::anchor(db, &issuer, &server_id, lab.server.clock.now())
        .await
        .expect("anchored");
    assert_eq!(again.signature, first.signature);
    // The next day, after more entries.
    admin_audit::append(db, &admin, "account_revoke", "account/nv.cu", Vec::new())
        .await
        .expect("entry");
    lab.server.clock.advance(time::Duration::days(1));
    let second = audit_anchors::anchor(db, &issuer, &server_id, lab.server.clock.now())
        .await
        .expect("anchored");
    assert_eq!(second.seq, 4);
    assert_eq!(
        audit_anchors::verify(db, &server_id, Some(&root))
            .await
            .expect("checked"),
        AnchorCheck::Intact {
            anchors: 2,
            last_day: Some(second.day.clone())
        }
    );

    // Someone with the database removes entry 2 and recomputes every later hash.
    sotiem_server::with_db!(db, pool => {
        sqlx::query("DELETE FROM admin_audit WHERE seq = 2").execute(pool).await.map(|_| ()).expect("deleted");
        let rows: Vec<(i64, String, String, String, String, String, String)> =
            sqlx::query_as("SELECT seq, at, actor, origin, action, entity, changes FROM admin_audit ORDER BY seq")
                .fetch_all(pool)
                .await
                .expect("rows");
        let mut prev = sync_protocol::audit::GENESIS.to_vec();
        for (new_seq, (old_seq, at, actor, origin, action, entity, changes)) in (1_i64..).zip(rows) {
            let entry = sync_protocol::audit::AuditEntry {
                at,
                user: actor,
                device: origin,
                action,
                entity,
                changes: serde_json::from_str(&changes).expect("changes"),
                otp: false,
            };
            let hash = entry.chained_hash(&prev);
            sqlx::query("UPDATE admin_audit SET seq = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
                .bind(new_seq)
                .bind(&prev)
                .bind(&hash)
                .bind(old_seq)
                .execute(pool)
                .await
                .map(|_| ())
                .expect("rewritten");
            prev = hash;
        }
    });
    // The chain alone checks out: that is the gap.
    assert_eq!(
        admin_audit::verify(db).await.expect("checked"),
        ChainCheck::Intact { entries: 3 }
    );
    // The anchors do not.
    match audit_anchors::verify(db, &server_id, Some(&root))
        .await
        .expect("checked")
    {
        AnchorCheck::Broken { day, reason } => {
            assert_eq!(day, first.day);
            assert!(reason.contains("viết lại"), "{reason}");
        }
        other => panic!("a rewritten chain passed its anchors: {other:?}"),
    }

    // An anchor signed by a key the root never certified is refused for what it is.
    sotiem_server::with_db!(db, pool => {
        sqlx::query("DELETE FROM admin_audit_anchors").execute(pool).await.map(|_| ()).expect("cleared");
    });
    let under_its_own_root = SignerConfig {
        root: token.foreign_ca_pem.clone(),
        ..config(token, &token.foreign.id)
    };
    let foreign =
        Arc::new(Issuer::open(&under_its_own_root, lab.server.clock.now()).expect("issuer"));
    audit_anchors::anchor(db, &foreign, &server_id, lab.server.clock.now())
        .await
        .expect("anchored");
    match audit_anchors::verify(db, &server_id, Some(&root))
        .await
        .expect("checked")
    {
        AnchorCheck::Broken { reason, .. } => assert!(reason.contains("chứng thư gốc"), "{reason}"),
        other => panic!("a foreign anchor passed: {other:?}"),
    }
    lab.server.stop().await;
}

/// Runs this module's scenarios on both backends, unless `filter` leaves them out.
pub fn run(token: &SoftToken, filter: Option<&str>) {
    let runtime = crate::runtime();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!(
            "passports_are_issued_in_the_hsm_verified_independently_revoked_on_void_and_judged_offline_{backend:?}"
        );
        crate::case(filter, &name, || runtime.block_on(scenario(token, backend)));
        let name = format!("the_admin_audit_chain_is_anchored_by_the_hsm_{backend:?}");
        crate::case(filter, &name, || {
            runtime.block_on(the_admin_audit_chain_is_anchored_by_the_hsm(token, backend))
        });
    }
}
