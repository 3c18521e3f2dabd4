//! Signatures checked as a certification authority would (docs/design.md §6, §9), on SQLite and
//! PostgreSQL, with a real SoftHSM2 token and CAs made with openssl. Each attack is performed
//! through the HTTP API and refused with its own reason: a "leaf" issued by an ordinary
//! end-entity certificate with a registered serial, a backdated signature with an expired
//! certificate, a revoked certificate (CRL), a certificate without digitalSignature, the right
//! serial from another issuer, an organisation that is not the facility, a signing time far from
//! the run's, too many people, a person the police no longer match, an area signer outside its
//! area — next to honest runs: an ECDSA signer on the token whose chain goes through an
//! intermediate CA the token carries, and a district centre whose station replicates its area and
//! signs its communes' doses.
//!
//! Run by the `sequential` binary, like `signing.rs`: SoftHSM2 reads `SOFTHSM2_CONF` when it loads.

use sotiem_fixtures::Generator;
use sotiem_scenarios::pki::{
    FileSigner, IssuedCert, ca_config, crl, forge_under, intermediate_ca, issue_cert, issue_with,
    revoke,
};
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::softhsm::{MODULE, PIN, SoftToken};
use sotiem_scenarios::{Device, Lab, TAN_TUC, vaccinated_at};
use sotiem_token::Module;
use station::{ManifestSigner, SigningSelection, TokenSigner};
use std::collections::BTreeSet;
use std::path::Path;
use sync_protocol::auth::Role;
use sync_protocol::manifest::{Manifest, ManifestEntry};
use sync_protocol::person::{format_time, now};
use sync_protocol::wire::{SigningBatchOutcome, SigningBatchUpload};
use sync_protocol::{Person, record};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const VALID: (&str, &str) = ("20250101000000Z", "20351231000000Z");
const TAN_NHUT_ORG: &str = "/C=VN/O=Trạm Y tế xã Tân Nhựt/CN=Trạm Y tế xã Tân Nhựt";

/// A run over every unsigned dose of `people` as the server holds them, made and signed outside
/// any station (a modified client), `created` being the time it claims.
async fn craft(
    lab: &Lab,
    people: &[Uuid],
    facility: &str,
    signer: &str,
    key: &FileSigner,
    created: OffsetDateTime,
) -> SigningBatchUpload {
    let mut entries = Vec::new();
    for id in people {
        let p = lab.on_server(*id).await;
        for d in p.doses.values().filter(|d| d.signature.is_none()) {
            entries.push(ManifestEntry {
                dose_id: d.id,
                person_id: p.id,
                record_hash: record::record_hash(&p, d),
            });
        }
    }
    sign_entries(entries, facility, signer, key, created)
}

/// A run over exactly these entries, signed with `key`.
fn sign_entries(
    entries: Vec<ManifestEntry>,
    facility: &str,
    signer: &str,
    key: &FileSigner,
    created: OffsetDateTime,
) -> SigningBatchUpload {
    let manifest = Manifest {
        batch_id: Uuid::now_v7(),
        facility: facility.into(),
        signer: signer.into(),
        certificate_serial: key.certificate().serial.clone(),
        created_at: format_time(created),
        entries,
    };
    let bytes = manifest.to_bytes();
    SigningBatchUpload {
        batch_id: manifest.batch_id,
        cms: key.sign(&bytes, now()).expect("signed").cms_der,
        manifest: bytes,
    }
}

/// A run the station makes and signs on the token with `certificate`.
async fn sign_on(
    station: &Device,
    module: &Module,
    slot: u64,
    certificate: &sotiem_token::CertificateInfo,
    selection: &SigningSelection,
) -> SigningBatchUpload {
    let signer = TokenSigner {
        module,
        slot,
        certificate: certificate.clone(),
        pin: PIN.into(),
    };
    let run = station
        .sign_selection(selection, 1, &signer)
        .await
        .expect("signed on the token");
    let (manifest, cms) = station
        .signing_batch_files(run.batch_id)
        .await
        .expect("files");
    SigningBatchUpload {
        batch_id: run.batch_id,
        manifest,
        cms,
    }
}

/// Asserts a refusal with `code`; returns its message.
fn refused(outcome: SigningBatchOutcome, code: &str) -> String {
    match outcome {
        SigningBatchOutcome::Refused { code: c, message } if c == code => message,
        other => panic!("expected a refusal {code}, got {other:?}"),
    }
}

fn accepted(outcome: &SigningBatchOutcome) {
    assert!(
        matches!(outcome, SigningBatchOutcome::Accepted { .. }),
        "{outcome:?}"
    );
}

async fn scenario(token: &SoftToken, backend: Backend) {
    // Token object ids of this run's certificates (the token is shared by both backends' runs).
    let (signer_id, sub_id, configured_id) = match backend {
        Backend::Sqlite => ("21", "22", "23"),
        Backend::Postgres => ("31", "32", "33"),
    };
    let lab = Lab::start(backend).await;
    lab.server
        .facility("TTYT-BINHCHANH", "district_centre", None, None)
        .await;
    let nurse = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let tuc = lab.device("tuc", "TYT-TANTUC", "nv.tuc").await;
    let mut g = Generator::new(1313);
    let at = now() - Duration::hours(2);
    let people = vaccinated_at(&mut g, 12, 1, at);
    nurse.import_people(&people).await.expect("registered");
    nurse.sync().await.expect("synced");
    let tan_tuc: Vec<Person> = vaccinated_at(&mut g, 2, 1, at)
        .into_iter()
        .map(|mut p| {
            p.managing_facility = "TYT-TANTUC".into();
            p.created_by = "nv.tuc".into();
            p.address.commune = Some(TAN_TUC.into());
            for d in p.doses.values_mut() {
                d.facility = "TYT-TANTUC".into();
                d.vaccinator = "nv.tuc".into();
            }
            p
        })
        .collect();
    tuc.import_people(&tan_tuc).await.expect("registered");
    tuc.sync().await.expect("synced");
    let mut everyone = people.clone();
    everyone.extend(tan_tuc.iter().cloned());
    lab.registry_knows(&everyone).await;
    let person = |i: usize| vec![people[i].id];

    // The test PKI: the token's CA (trusted), a root with an intermediate CA, another root.
    let pki = tempfile::tempdir().expect("pki dir");
    let dir = pki.path();
    let root = ca_config(dir, "PkiRoot", "1000");
    let (sub, sub_cert) = intermediate_ca(dir, &root, "PkiSubCA", "2000");
    for ca in [&token.ca_pem, &dir.join("PkiRoot/ca.pem")] {
        lab.server
            .trust
            .add(&std::fs::read(ca).expect("ca"))
            .expect("trusted");
    }

    // The head of the facility, with the token's RSA certificate registered.
    let head = lab
        .device_as("ky", "TYT-TANNHUT", "bs.hung", Role::Signer)
        .await;
    let mut module = Module::open(Path::new(MODULE)).expect("module");
    let slot = module.tokens().expect("tokens")[0].slot;
    // An ECDSA signer under the intermediate CA, on the token with the intermediate's
    // certificate (as Vietnamese CAs ship their tokens).
    let under_sub = issue_cert(dir, &sub, "ec-sub", "ec", TAN_NHUT_ORG, VALID);
    token.import(&under_sub, signer_id, true);
    token.import(&sub_cert, sub_id, false);
    // An RSA signer under another intermediate the token does not carry: the station is
    // configured with that CA's certificate instead.
    let (other_sub, other_sub_cert) = intermediate_ca(dir, &root, "PkiSubCA2", "3000");
    let under_other = issue_cert(dir, &other_sub, "rsa-sub2", "rsa", TAN_NHUT_ORG, VALID);
    token.import(&under_other, configured_id, true);
    let certs = module.certificates(slot).expect("certificates");
    let on_token = |id: &str| certs.iter().find(|c| c.id == id).cloned().expect("cert");
    let rsa = on_token(&token.rsa.id);
    let ec_sub = on_token(signer_id);
    let rsa_other = on_token(configured_id);
    let expired = token.files("expired");
    let revoked_cert = issue_cert(dir, &root, "thu-hoi", "rsa", TAN_NHUT_ORG, VALID);
    let encipher = issue_with(
        dir,
        &root,
        "ma-hoa",
        "rsa",
        TAN_NHUT_ORG,
        VALID,
        "encipher_only",
    );
    let tuc_org = issue_cert(
        dir,
        &root,
        "tan-tuc",
        "rsa",
        "/C=VN/O=Trạm Y tế xã Tân Túc/CN=Trạm Y tế xã Tân Túc",
        VALID,
    );
    let file = |c: &IssuedCert| FileSigner::new(c);
    let info = |c: &IssuedCert| file(c).certificate().clone();
    lab.register_certificates(
        "bs.hung",
        &[
            &rsa,
            &ec_sub,
            &rsa_other,
            &info(&expired),
            &info(&revoked_cert),
            &info(&encipher),
            &info(&tuc_org),
        ],
    )
    .await;
    lab.sign_in(&head, &head.client, "bs.hung").await;
    head.sync().await.expect("the signer's station bootstraps");
    let day = sync_protocol::BirthDate::Full(at.date()).display_vn();
    let one = |i: usize| SigningSelection {
        from: day.clone(),
        to: day.clone(),
        full_name: Some(sync_protocol::text::fold(&people[i].full_name)),
        phone: people[i].phone.clone(),
        ..SigningSelection::default()
    };

    // Honest: the ECDSA signer whose path goes through the intermediate the token carries.
    let honest = sign_on(&head, &module, slot, &ec_sub, &one(0)).await;
    accepted(&head.send_run(&honest).await);
    // Honest: the RSA signer whose intermediate is not on the token is refused until the
    // station is configured with it (`--chain-dir`, SOTIEM_SIGNER_CHAIN_DIR).
    let without_chain = sign_on(&head, &module, slot, &rsa_other, &one(9)).await;
    refused(head.send_run(&without_chain).await, "untrusted_certificate");
    let chain_dir = dir.join("chuoi-chung-thu");
    std::fs::create_dir_all(&chain_dir).expect("chain dir");
    std::fs::copy(&other_sub_cert.pem, chain_dir.join("PkiSubCA2.pem")).expect("copied");
    assert_eq!(module.add_authorities_from(&chain_dir).expect("read"), 1);
    let with_chain = sign_on(&head, &module, slot, &rsa_other, &one(10)).await;
    accepted(&head.send_run(&with_chain).await);
    // The same CMS without the intermediate would not reach a root: the token's chain is what
    // made it trusted.
    let bare = FileSigner::new(&under_sub);
    refused(
        head.send_run(&craft(&lab, &person(1), "TYT-TANNHUT", "bs.hung", &bare, now()).await)
            .await,
        "untrusted_certificate",
    );
    accepted(
        &head
            .send_run(
                &craft(
                    &lab,
                    &person(1),
                    "TYT-TANNHUT",
                    "bs.hung",
                    &FileSigner::new(&under_sub).with_chain(&[&sub_cert]),
                    now(),
                )
                .await,
            )
            .await,
    );

    // The forged leaf: an ordinary certificate from a trusted root issues a "leaf" with the
    // registered serial of the facility's certificate.
    let ordinary = issue_cert(
        dir,
        &root,
        "thuong",
        "rsa",
        "/C=VN/O=Công ty ABC/CN=Nguyễn Văn A",
        VALID,
    );
    let forged = forge_under(dir, &ordinary, "gia-mao", TAN_NHUT_ORG, &rsa.serial);
    let m = refused(
        head.send_run(
            &craft(
                &lab,
                &person(2),
                "TYT-TANNHUT",
                "bs.hung",
                &FileSigner::new(&forged).with_chain(&[&ordinary]),
                now(),
            )
            .await,
        )
        .await,
        "issuer_not_a_ca",
    );
    assert!(m.contains("Nguyễn Văn A"), "{m}");

    // A backdated signature with the expired certificate: verified at the server's time.
    let then = OffsetDateTime::from_unix_timestamp(1_593_561_600).expect("2020-07-01");
    let mut old = FileSigner::new(&expired);
    old.signing_time = Some(1_593_561_600);
    let m = refused(
        head.send_run(&craft(&lab, &person(2), "TYT-TANNHUT", "bs.hung", &old, then).await)
            .await,
        "certificate_expired",
    );
    assert!(m.contains("2021"), "{m}");

    // A certificate without digitalSignature in its key usage.
    refused(
        head.send_run(
            &craft(
                &lab,
                &person(2),
                "TYT-TANNHUT",
                "bs.hung",
                &file(&encipher),
                now(),
            )
            .await,
        )
        .await,
        "key_usage",
    );

    // The right serial from another (trusted) issuer.
    let other_root = ca_config(dir, "OtherRoot", &rsa.serial);
    lab.server
        .trust
        .add(&std::fs::read(dir.join("OtherRoot/ca.pem")).expect("ca"))
        .expect("trusted");
    let twin = issue_cert(dir, &other_root, "song-sinh", "rsa", TAN_NHUT_ORG, VALID);
    assert_eq!(info(&twin).serial, rsa.serial, "the same serial");
    let m = refused(
        head.send_run(
            &craft(
                &lab,
                &person(2),
                "TYT-TANNHUT",
                "bs.hung",
                &file(&twin),
                now(),
            )
            .await,
        )
        .await,
        "certificate_not_registered",
    );
    assert!(m.contains("OtherRoot"), "{m}");

    // Another organisation's certificate.
    let m = refused(
        head.send_run(
            &craft(
                &lab,
                &person(2),
                "TYT-TANNHUT",
                "bs.hung",
                &file(&tuc_org),
                now(),
            )
            .await,
        )
        .await,
        "organization_mismatch",
    );
    assert!(m.contains("Tân Túc") && m.contains("Tân Nhựt"), "{m}");

    // A signing time far from when the run says it was made.
    refused(
        head.send_run(
            &craft(
                &lab,
                &person(2),
                "TYT-TANNHUT",
                "bs.hung",
                &file(&revoked_cert),
                now() - Duration::hours(2),
            )
            .await,
        )
        .await,
        "signing_time",
    );

    // More than 1,000 people in one run, checked by the server, not only the station.
    let key = file(&revoked_cert);
    let crowd = Manifest {
        batch_id: Uuid::now_v7(),
        facility: "TYT-TANNHUT".into(),
        signer: "bs.hung".into(),
        certificate_serial: key.certificate().serial.clone(),
        created_at: format_time(now()),
        entries: (0..1001)
            .map(|_| ManifestEntry {
                dose_id: Uuid::now_v7(),
                person_id: Uuid::now_v7(),
                record_hash: [1; 32],
            })
            .collect(),
    };
    let bytes = crowd.to_bytes();
    refused(
        head.send_run(&SigningBatchUpload {
            batch_id: crowd.batch_id,
            cms: key.sign(&bytes, now()).expect("signed").cms_der,
            manifest: bytes,
        })
        .await,
        "too_many",
    );

    // A person the police no longer match (a registry pass after the station previewed).
    let mut registry = everyone.clone();
    registry[3].full_name = format!("{} Anh", registry[3].full_name);
    lab.registry_knows(&registry).await;
    refused(
        head.send_run(&craft(&lab, &person(3), "TYT-TANNHUT", "bs.hung", &key, now()).await)
            .await,
        "not_matched",
    );

    // A revoked certificate: it signs until the CA's revocation list says otherwise.
    let crls = dir.join("crl");
    std::fs::create_dir_all(&crls).expect("crl dir");
    crl(&token.ca_config(), &crls.join("sotiem-test-ca.crl"));
    crl(&sub, &crls.join("pki-sub-ca.crl"));
    crl(&root, &crls.join("pki-root.crl"));
    lab.server.trust.set_crl_dir(Some(&crls)).expect("crl dir");
    accepted(
        &head
            .send_run(&craft(&lab, &person(4), "TYT-TANNHUT", "bs.hung", &key, now()).await)
            .await,
    );
    revoke(&root, &revoked_cert, &crls.join("pki-root.crl"));
    let m = refused(
        head.send_run(&craft(&lab, &person(5), "TYT-TANNHUT", "bs.hung", &key, now()).await)
            .await,
        "certificate_revoked",
    );
    let today = now();
    assert!(
        m.contains(&format!(
            "{:02}/{:02}/{}",
            today.day(),
            u8::from(today.month()),
            today.year()
        )),
        "{m}"
    );
    // Honest signing goes on with the CRLs checked (the token's CA lists nothing revoked).
    accepted(
        &head
            .send_run(&sign_on(&head, &module, slot, &rsa, &one(6)).await)
            .await,
    );

    // A district centre the province designates signs its communes' doses, not others'.
    let centre = lab
        .device_as("quan", "TTYT-BINHCHANH", "bs.quan", Role::Signer)
        .await;
    let centre_cert = issue_cert(
        dir,
        &root,
        "binh-chanh",
        "ec",
        "/C=VN/O=Trung tâm Y tế huyện Bình Chánh/CN=Trung tâm Y tế huyện Bình Chánh",
        VALID,
    );
    lab.register_certificates("bs.quan", &[&info(&centre_cert)])
        .await;
    // Before the province designates it, the centre's station holds nobody of the commune.
    centre.sync().await.expect("centre synced");
    assert!(centre.show(people[0].id).await.is_err());
    sotiem_server::signing::add_signer_scope(&lab.server.db, "bs.quan", &["TYT-TANNHUT".into()])
        .await
        .expect("area");
    // Then its station replicates Tân Nhựt's people (fetched afresh: they are older than its
    // cursor), and still nobody of Tân Túc.
    let report = centre.sync().await.expect("centre synced");
    assert!(report.bootstrapped >= people.len() as u64, "{report:?}");
    assert_eq!(
        centre.signing_area().await.expect("area"),
        ["TYT-TANNHUT", "TYT-TANNHUT-LD"]
    );
    for p in &people {
        centre.show(p.id).await.expect("in the centre's area");
    }
    assert!(centre.show(tan_tuc[0].id).await.is_err());
    let area_key = file(&centre_cert);
    accepted(
        &centre
            .send_run(
                &craft(
                    &lab,
                    &person(7),
                    "TTYT-BINHCHANH",
                    "bs.quan",
                    &area_key,
                    now(),
                )
                .await,
            )
            .await,
    );
    let m = refused(
        centre
            .send_run(
                &craft(
                    &lab,
                    &[tan_tuc[0].id],
                    "TTYT-BINHCHANH",
                    "bs.quan",
                    &area_key,
                    now(),
                )
                .await,
            )
            .await,
        "wrong_facility",
    );
    // Named by its ids, never by what the signer may not see (issue 26).
    assert!(m.contains(&tan_tuc[0].id.to_string()), "{m}");
    assert!(
        !m.contains(&tan_tuc[0].full_name) && !m.contains("TYT-TANTUC"),
        "{m}"
    );
    // A person the commune registers afterwards reaches the centre with the next pull; its
    // station previews the area's doses (never Tân Túc's) and signs them with its own
    // organisation certificate, and the server accepts the run.
    let newcomer = vaccinated_at(&mut g, 1, 2, at);
    nurse.import_people(&newcomer).await.expect("registered");
    nurse.sync().await.expect("synced");
    lab.registry_knows(&newcomer).await;
    centre.sync().await.expect("centre synced");
    let day = |d: time::Date| d.to_string();
    let period = SigningSelection {
        from: day((at - Duration::days(1)).date()),
        to: day((at + Duration::days(1)).date()),
        ..SigningSelection::default()
    };
    let preview = centre.signing_preview(&period).await.expect("preview");
    let previewed: BTreeSet<Uuid> = preview.doses.iter().map(|d| d.person_id).collect();
    assert!(previewed.contains(&newcomer[0].id), "{previewed:?}");
    assert!(!previewed.contains(&tan_tuc[0].id));
    let only_newcomer = SigningSelection {
        full_name: Some(newcomer[0].full_name.clone()),
        ..period
    };
    let preview = centre
        .signing_preview(&only_newcomer)
        .await
        .expect("preview");
    assert_eq!(preview.doses.len(), 2, "{preview:?}");
    // The administrator registered the centre's certificate after its head signed in: the
    // station learns it with the next sign-in.
    centre.sign_out(None).await.expect("signed out");
    lab.sign_in(&centre, &centre.client, "bs.quan").await;
    let summary = centre
        .sign_backlog(&only_newcomer, 2, &file(&centre_cert))
        .await
        .expect("signed");
    assert_eq!(summary.runs.len(), 1, "{summary:?}");
    let report = centre.sync().await.expect("the run goes up");
    assert_eq!(
        (report.batches_accepted, report.batches_refused),
        (1, 0),
        "{report:?}"
    );
    // Issue 26: a run signs each dose once — not twice in one list, not again in another run
    // (the server's record of the first run would stay, the second's marks be refused).
    let signed_person = lab.on_server(newcomer[0].id).await;
    let entries: Vec<ManifestEntry> = signed_person
        .doses
        .values()
        .map(|d| ManifestEntry {
            dose_id: d.id,
            person_id: signed_person.id,
            record_hash: record::record_hash(&signed_person, d),
        })
        .collect();
    let run = |entries: Vec<ManifestEntry>| {
        sign_entries(entries, "TTYT-BINHCHANH", "bs.quan", &area_key, now())
    };
    let twice = [entries.clone(), entries.clone()].concat();
    let m = refused(centre.send_run(&run(twice)).await, "manifest_invalid");
    assert!(m.contains("hai lần"), "{m}");
    let m = refused(centre.send_run(&run(entries)).await, "already_signed");
    assert!(m.contains(&newcomer[0].full_name), "{m}");
    let m = refused(centre.send_run(&run(Vec::new())).await, "manifest_invalid");
    assert!(m.contains("trống"), "{m}");
    // Issue 29: a dose given elsewhere is history the station typed in; no facility signs it.
    let abroad = nurse
        .record_dose(
            newcomer[0].id,
            station::DoseInput {
                vaccine: "EU/1/20/1528".into(),
                dose_number: Some(7),
                given_at: Some(format_time(now() - Duration::days(400))),
                elsewhere: Some("abroad".into()),
                place: Some("Singapore General Hospital".into()),
                ..station::DoseInput::default()
            },
        )
        .await
        .expect("history recorded");
    nurse.sync().await.expect("synced");
    let with_history = lab.on_server(newcomer[0].id).await;
    let history_entry = ManifestEntry {
        dose_id: abroad.id,
        person_id: with_history.id,
        record_hash: record::record_hash(&with_history, &with_history.doses[&abroad.id]),
    };
    let m = refused(
        centre.send_run(&run(vec![history_entry])).await,
        "history_dose",
    );
    assert!(m.contains("nơi khác"), "{m}");
    // Without the scope, the facility's own head is the only signer of its doses.
    sotiem_server::signing::remove_signer_scope(&lab.server.db, "bs.quan", &["TYT-TANNHUT".into()])
        .await
        .expect("area removed");
    refused(
        centre
            .send_run(
                &craft(
                    &lab,
                    &person(8),
                    "TTYT-BINHCHANH",
                    "bs.quan",
                    &area_key,
                    now(),
                )
                .await,
            )
            .await,
        "wrong_facility",
    );
    // ... and the server sends the centre the commune's people no more.
    let newest = vaccinated_at(&mut g, 1, 1, at);
    nurse.import_people(&newest).await.expect("registered");
    nurse.sync().await.expect("synced");
    centre.sync().await.expect("centre synced");
    assert!(centre.show(newest[0].id).await.is_err());
    head.close().await;
    centre.close().await;
    nurse.close().await;
    tuc.close().await;
    lab.server.stop().await;
}

/// Runs this module's scenario on both backends, unless `filter` leaves it out.
pub fn run(token: &SoftToken, filter: Option<&str>) {
    let runtime = crate::runtime();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name =
            format!("certificates_are_checked_as_a_certification_authority_would_{backend:?}");
        crate::case(filter, &name, || runtime.block_on(scenario(token, backend)));
    }
}
