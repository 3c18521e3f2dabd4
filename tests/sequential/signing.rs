//! Signing runs on a station with a real SoftHSM2 token (docs/design.md §6): who may sign, which
//! certificate, which doses, the limits of one run, one token operation for 3,000 doses, a CMS
//! that `openssl cms -verify` accepts, a proof for every dose, and doses frozen once signed.
//!
//! Run by the `sequential` binary, like `token.rs`: SoftHSM2 reads `SOFTHSM2_CONF` when it loads.

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::softhsm::{MODULE, PIN, SoftToken, openssl_verifies};
use sotiem_scenarios::{Device, Lab, vaccinated_at};
use sotiem_token::{CertificateInfo, Module, Signed, TokenError};
use station::{ManifestSigner, SigningSelection, StationError, TokenSigner};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use sync_protocol::Person;
use sync_protocol::auth::Role;
use sync_protocol::manifest::{InclusionProof, Manifest, verify_inclusion};
use sync_protocol::wire::{SigningBatchOutcome, SigningBatchUpload};
use time::macros::datetime;

/// Counts the token operations a run makes.
struct Counting<'a> {
    inner: TokenSigner<'a>,
    calls: AtomicU32,
}

impl ManifestSigner for Counting<'_> {
    fn certificate(&self) -> &CertificateInfo {
        self.inner.certificate()
    }
    fn sign(&self, content: &[u8], at: time::OffsetDateTime) -> Result<Signed, TokenError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(content, at)
    }
}

/// People vaccinated at TYT-TANNHUT on 20/11/2026 from 08:00.
fn people(g: &mut Generator, n: usize, doses: usize) -> Vec<Person> {
    vaccinated_at(g, n, doses, datetime!(2026-11-20 08:00 +7))
}

fn the_day() -> SigningSelection {
    SigningSelection {
        from: "20/11/2026".into(),
        to: "2026-11-20".into(),
        ..SigningSelection::default()
    }
}

async fn scenario(token: &SoftToken, backend: Backend) {
    let lab = Lab::start(backend).await;
    let nurse: Device = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(55);
    let verified = people(&mut g, 1_000, 3);
    let unverified = people(&mut g, 40, 1);
    nurse.import_people(&verified).await.expect("imported");
    nurse.import_people(&unverified).await.expect("imported");
    nurse.sync().await.expect("the doses are on the server");
    // The police's registry knows the 1,000 (the 40 are not found); the results sync down.
    lab.registry_knows(&verified).await;
    nurse.sync().await.expect("verification results pulled");
    // The server trusts the test CA (besides Vietnam's public roots).
    lab.server
        .trust
        .add(&std::fs::read(&token.ca_pem).expect("ca"))
        .expect("trusted");

    // A vaccinator may not sign.
    let refused = nurse
        .signing_preview(&the_day())
        .await
        .expect_err("not a signer");
    assert_eq!(refused.code(), "forbidden");

    // The head of the facility signs in on the same laptop and registers the certificates of
    // the facility's USB token (an expired one was registered earlier by the administrator).
    let module = Module::open(Path::new(MODULE)).expect("module");
    let slot = module.tokens().expect("tokens")[0].slot;
    let certs = module.certificates(slot).expect("certificates");
    let cert = |id: &str| certs.iter().find(|c| c.id == id).cloned().expect("cert");
    lab.account("bs.hung", "TYT-TANNHUT", Role::Signer).await;
    lab.register_certificates("bs.hung", &[&cert(&token.expired.id)])
        .await;
    nurse.sign_out(None).await.expect("nurse signs out");
    let mut otp = lab.sign_in(&nurse, &nurse.client, "bs.hung").await;
    let signer = |id: &str, pin: &str| Counting {
        inner: TokenSigner {
            module: &module,
            slot,
            certificate: cert(id),
            pin: pin.into(),
        },
        calls: AtomicU32::new(0),
    };
    let register = |id: &str, pin: &str, code: String| {
        let s = signer(id, pin);
        let nurse = &nurse;
        async move { nurse.register_certificate(&nurse.client, &s, &code).await }
    };
    let e = register(&token.rsa.id, "0000", otp.code().await)
        .await
        .expect_err("wrong PIN");
    assert_eq!(e.code(), "pin_incorrect", "{e}");
    let e = register(&token.rsa.id, PIN, "000000".into())
        .await
        .expect_err("wrong code");
    assert!(e.to_string().contains("mã"), "{e}");
    let e = register(&token.expired.id, PIN, otp.code().await)
        .await
        .expect_err("expired");
    assert!(matches!(e, StationError::CertificateNotValid { .. }), "{e}");
    let e = register(&token.foreign.id, PIN, otp.code().await)
        .await
        .expect_err("a CA the server does not trust");
    assert_eq!(e.code(), "auth_refused", "{e}");
    assert!(e.to_string().contains("tin cậy"), "{e}");
    register(&token.rsa.id, PIN, otp.code().await)
        .await
        .expect("registered");
    let now_registered = register(&token.ec.id, PIN, otp.code().await)
        .await
        .expect("registered");
    let serials: Vec<String> = [&token.expired.id, &token.rsa.id, &token.ec.id]
        .iter()
        .map(|id| sync_protocol::manifest::normalize_serial(&cert(id).serial))
        .collect();
    lab.codes_used("bs.hung", &otp);
    let serials_of = |list: &[sync_protocol::auth::RegisteredCertificate]| {
        list.iter().map(|c| c.serial.clone()).collect::<Vec<_>>()
    };
    assert_eq!(serials_of(&now_registered), serials);
    assert!(
        now_registered
            .iter()
            .all(|c| c.issuer.contains("SoTiemTestCA")),
        "registered with their issuer: {now_registered:?}"
    );
    assert_eq!(
        serials_of(&nurse.session().expect("session").account.certificates),
        serials,
        "the station's session knows at once"
    );

    let preview = nurse.signing_preview(&the_day()).await.expect("preview");
    assert_eq!(preview.doses.len(), 3_000);
    assert_eq!(preview.people, 1_000);
    assert_eq!(
        preview.unverified_excluded, 40,
        "unverified people's doses left out"
    );
    assert!(preview.within_limits);

    // Certificates that may not sign, and a wrong PIN: nothing is signed.
    let e = nurse
        .sign_selection(&the_day(), 3_000, &signer(&token.foreign.id, PIN))
        .await
        .expect_err("foreign certificate");
    assert!(
        matches!(e, StationError::CertificateNotRegistered { .. }),
        "{e}"
    );
    let e = nurse
        .sign_selection(&the_day(), 3_000, &signer(&token.expired.id, PIN))
        .await
        .expect_err("expired certificate");
    assert!(matches!(e, StationError::CertificateNotValid { .. }), "{e}");
    let e = nurse
        .sign_selection(&the_day(), 3_000, &signer(&token.rsa.id, "0000"))
        .await
        .expect_err("wrong PIN");
    assert_eq!(e.code(), "pin_incorrect", "{e}");
    let e = nurse
        .sign_selection(&the_day(), 2_999, &signer(&token.rsa.id, PIN))
        .await
        .expect_err("the selection changed since the preview");
    assert!(matches!(e, StationError::SelectionChanged));
    assert!(nurse.signing_batches().await.expect("batches").is_empty());

    // 3,000 doses, one token operation.
    let rsa = signer(&token.rsa.id, PIN);
    let started = std::time::Instant::now();
    let batch = nurse
        .sign_selection(&the_day(), 3_000, &rsa)
        .await
        .expect("signed");
    println!(
        "signed 3,000 doses in {:.2} s (debug build)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        rsa.calls.load(Ordering::SeqCst),
        1,
        "one token operation for the whole run"
    );
    assert_eq!((batch.doses, batch.people), (3_000, 1_000));
    assert_eq!(batch.status, "pending");
    let (manifest_bytes, cms) = nurse
        .signing_batch_files(batch.batch_id)
        .await
        .expect("files");
    assert!(openssl_verifies(
        &token.dir,
        &cms,
        &manifest_bytes,
        &token.ca_pem
    ));
    let manifest = Manifest::from_bytes(&manifest_bytes).expect("manifest reads back");
    // The server checks signature, certificate and every record hash, then holds them signed.
    let report = nurse.sync().await.expect("sync");
    assert_eq!((report.batches_accepted, report.batches_refused), (1, 0));
    assert_eq!(lab.server.count("signed_doses").await, 3_000);
    assert_eq!(
        nurse.signing_batches().await.expect("batches")[0].status,
        "accepted"
    );
    let root = manifest.root();

    // Every dose has its proof of inclusion under the signed root.
    let rows: Vec<(String, i64, Vec<u8>)> =
        sqlx::query_as("SELECT dose_id, position, proof FROM signed_doses")
            .fetch_all(nurse.database_for_tests())
            .await
            .expect("proofs");
    assert_eq!(rows.len(), 3_000);
    for (dose_id, position, proof) in &rows {
        let entry = &manifest.entries[usize::try_from(*position).expect("position")];
        assert_eq!(&entry.dose_id.to_string(), dose_id);
        let proof = InclusionProof {
            index: u32::try_from(*position).expect("index"),
            path: proof
                .chunks(32)
                .map(|c| c.try_into().expect("32 bytes"))
                .collect(),
        };
        assert!(verify_inclusion(&entry.record_hash, &proof, 3_000, &root));
    }

    // Signed doses are frozen and are not offered again.
    let again = nurse.signing_preview(&the_day()).await.expect("preview");
    assert!(again.doses.is_empty());
    let e = nurse
        .sign_selection(&the_day(), 0, &signer(&token.ec.id, PIN))
        .await
        .expect_err("nothing left");
    assert!(matches!(e, StationError::NothingToSign));
    let person = nurse.show(verified[0].id).await.expect("record");
    let dose = person.person.doses.values().next().expect("dose");
    assert_eq!(
        dose.signature.as_ref().map(|s| s.batch_id),
        Some(batch.batch_id)
    );
    // What the signature covers cannot change; the way to correct a signed dose is to void it
    // (with a reason, audited) and record it again — the signature stays on the voided dose.
    nurse.sign_out(None).await.expect("signs out");
    lab.sign_in(&nurse, &nurse.client, "nv.lan").await;
    // Only the signer sends their run: a vaccinator's session replaying it is refused.
    let replay = SigningBatchUpload {
        batch_id: batch.batch_id,
        manifest: manifest_bytes.clone(),
        cms: cms.clone(),
    };
    let outcome = nurse.send_run(&replay).await;
    assert!(
        matches!(&outcome, SigningBatchOutcome::Refused { code, .. } if code == "not_signer"),
        "{outcome:?}"
    );
    let mut otp = lab.sign_in(&nurse, &nurse.client, "nv.lan").await;
    let code = otp.code().await;
    lab.codes_used("nv.lan", &otp);
    let voided = nurse
        .void_dose_with(
            dose.id,
            "Ghi nhầm lô vắc xin, nhập lại",
            Some(station::StepUp {
                otp: &code,
                server: Some(&nurse.client),
            }),
        )
        .await
        .expect("a signed dose is corrected by voiding it, with a fresh code");
    assert!(voided.voided.is_some());
    assert_eq!(
        voided.signature.map(|s| s.batch_id),
        Some(batch.batch_id),
        "the signature is kept"
    );

    // 1,001 people on another day: refused with the limit, unless narrowed to one person.
    let more = people(&mut g, 1_001, 1);
    let more: Vec<Person> = more
        .into_iter()
        .map(|mut p| {
            for d in p.doses.values_mut() {
                d.given_at += time::Duration::days(1);
            }
            p
        })
        .collect();
    nurse.import_people(&more).await.expect("imported");
    nurse.sync().await.expect("synced");
    lab.registry_knows(&more).await;
    nurse.sync().await.expect("verified");
    // One more dose recorded offline: the server has not seen it when the run is signed.
    let late = nurse
        .record_dose(
            more[7].id,
            station::DoseInput {
                vaccine: "EU/1/20/1528".into(),
                lot: "FK1234".into(),
                given_at: Some("2026-11-21T16:00:00+07:00".into()),
                ..station::DoseInput::default()
            },
        )
        .await
        .expect("recorded offline");
    nurse.sign_out(None).await.expect("signs out");
    lab.sign_in(&nurse, &nurse.client, "bs.hung").await;
    let next_day = SigningSelection {
        from: "21/11/2026".into(),
        to: "21/11/2026".into(),
        ..SigningSelection::default()
    };
    let big = nurse.signing_preview(&next_day).await.expect("preview");
    assert_eq!((big.people, big.doses.len()), (1_001, 1_002));
    assert!(!big.within_limits);
    let e = nurse
        .sign_selection(&next_day, 1_002, &signer(&token.ec.id, PIN))
        .await
        .expect_err("too many people for one run");
    assert!(e.to_string().contains("1000 người"), "{e}");
    let person = |i: usize| SigningSelection {
        full_name: Some(sync_protocol::text::fold(&more[i].full_name)),
        phone: more[i].phone.clone(),
        ..next_day.clone()
    };
    let one = person(7);
    let ec = signer(&token.ec.id, PIN);
    let small = nurse.sign_selection(&one, 2, &ec).await.expect("signed");
    assert_eq!((small.doses, ec.calls.load(Ordering::SeqCst)), (2, 1));
    assert!(late.signature.is_none());
    let (m, c) = nurse
        .signing_batch_files(small.batch_id)
        .await
        .expect("files");
    assert!(openssl_verifies(&token.dir, &c, &m, &token.ca_pem), "ECDSA");
    // Sent before its last dose: the server asks for it again later and stores nothing.
    let early = SigningBatchUpload {
        batch_id: small.batch_id,
        manifest: m.clone(),
        cms: c.clone(),
    };
    let outcome = nurse.send_run(&early).await;
    assert!(
        matches!(outcome, SigningBatchOutcome::Later { .. }),
        "{outcome:?}"
    );
    assert_eq!(lab.server.count("signing_batches").await, 1);
    // The signer's sync cannot send the nurse's dose (the server takes a change only from its
    // author's session): it waits on the laptop, and so does the run.
    let report = nurse.sync().await.expect("sync");
    assert_eq!((report.waiting_for_author, report.batches_accepted), (1, 0));
    let waiting = nurse
        .sync_status()
        .await
        .expect("status")
        .waiting_for_author;
    assert_eq!(
        waiting
            .iter()
            .map(|w| (w.user.as_str(), w.changes))
            .collect::<Vec<_>>(),
        [("nv.lan", 1)]
    );
    // The nurse signs in and syncs the dose; the signer's next sync sends the run.
    nurse.sign_out(None).await.expect("signer signs out");
    lab.sign_in(&nurse, &nurse.client, "nv.lan").await;
    assert_eq!(nurse.sync().await.expect("sync").pushed, 1);
    nurse.sign_out(None).await.expect("nurse signs out");
    lab.sign_in(&nurse, &nurse.client, "bs.hung").await;
    let report = nurse.sync().await.expect("sync");
    assert_eq!(
        report.batches_accepted, 1,
        "the ECDSA run verifies on the server"
    );

    // A foreign CA's certificate whose serial is registered: only the server's chain check can
    // refuse it.
    lab.register_certificates(
        "bs.hung",
        &[
            &cert(&token.expired.id),
            &cert(&token.rsa.id),
            &cert(&token.ec.id),
            &cert(&token.foreign.id),
        ],
    )
    .await;
    nurse.sign_out(None).await.expect("signs out");
    lab.sign_in(&nurse, &nurse.client, "bs.hung").await;
    let foreign = nurse
        .sign_selection(&person(8), 1, &signer(&token.foreign.id, PIN))
        .await
        .expect("the station cannot tell");

    // A dose changed elsewhere after the station signed it: another laptop corrects the name.
    let other = lab.device("b", "TYT-TANNHUT", "nv.lan").await;
    other.sync().await.expect("b pulls");
    let changed = nurse
        .sign_selection(&person(9), 1, &signer(&token.ec.id, PIN))
        .await
        .expect("signed here");
    other
        .edit_person(
            more[9].id,
            station::PersonEdit {
                full_name: Some(format!("{} Anh", more[9].full_name)),
                ..station::PersonEdit::default()
            },
            None,
        )
        .await
        .expect("edited on b");
    other.sync().await.expect("b syncs first");

    let report = nurse.sync().await.expect("sync");
    assert_eq!((report.batches_accepted, report.batches_refused), (0, 2));
    let batches = nurse.signing_batches().await.expect("batches");
    let status = |id| {
        let b = batches.iter().find(|b| b.batch_id == id).expect("batch");
        (b.status.clone(), b.message.clone().unwrap_or_default())
    };
    let (s, why) = status(foreign.batch_id);
    assert_eq!(s, "refused");
    assert!(why.contains("untrusted_certificate"), "{why}");
    let (s, why) = status(changed.batch_id);
    assert_eq!(s, "refused");
    assert!(why.contains("dose_changed"), "{why}");
    assert_eq!(lab.server.count("signing_batches").await, 2);
    // A refused run signs nothing: its doses can be signed again once put right.
    let again = nurse.signing_preview(&person(8)).await.expect("preview");
    assert_eq!(
        again.doses.len(),
        1,
        "the foreign run's dose is signable again"
    );
    let record = nurse.show(more[8].id).await.expect("record");
    assert!(
        record.person.doses.values().all(|d| d.signature.is_none()),
        "no signature was written for a refused run"
    );
    // A mobile team's doses (recorded at a school by TYT-TANNHUT-LD) are signed only when the
    // signer asks for every dose the facility created.
    let team = lab.device("ld", "TYT-TANNHUT-LD", "nv.thu").await;
    let school: Vec<Person> = vaccinated_at(&mut g, 2, 1, datetime!(2026-11-22 08:00 +7))
        .into_iter()
        .map(|mut p| {
            // Registered by the team: created by its nurse, managed by the team.
            p.created_by = "nv.thu".into();
            p.managing_facility = "TYT-TANNHUT-LD".into();
            for d in p.doses.values_mut() {
                d.facility = "TYT-TANNHUT-LD".into();
                d.vaccinator = "nv.thu".into();
                d.place = Some("Trường THCS Tân Nhựt".into());
            }
            p
        })
        .collect();
    team.import_people(&school)
        .await
        .expect("recorded by the team");
    team.sync().await.expect("the team syncs");
    lab.registry_knows(&school).await;
    nurse
        .sync()
        .await
        .expect("the station pulls the team's doses");
    let team_day = SigningSelection {
        from: "22/11/2026".into(),
        to: "22/11/2026".into(),
        ..SigningSelection::default()
    };
    let here_only = nurse.signing_preview(&team_day).await.expect("preview");
    assert!(here_only.doses.is_empty(), "given elsewhere by the team");
    let created = SigningSelection {
        include_mobile_teams: true,
        ..team_day
    };
    let preview = nurse.signing_preview(&created).await.expect("preview");
    assert_eq!(preview.doses.len(), 2);
    let team_run = nurse
        .sign_selection(&created, 2, &signer(&token.ec.id, PIN))
        .await
        .expect("signed");
    let report = nurse.sync().await.expect("sync");
    assert_eq!(
        (report.batches_accepted, report.batches_refused),
        (1, 0),
        "the server accepts the team's doses for their facility's signer"
    );
    assert_eq!(team_run.doses, 2);
    // Close the databases before the process exits (their threads use the crypto library).
    team.close().await;
    other.close().await;
    nurse.close().await;
}

/// Runs this module's scenario on both backends, unless `filter` leaves it out.
pub fn run(token: &SoftToken, filter: Option<&str>) {
    let runtime = crate::runtime();
    // The server's verification stores runs in either backend; PostgreSQL must be reachable.
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!(
            "a_signing_run_signs_verified_doses_once_within_the_limits_and_freezes_them_{backend:?}"
        );
        crate::case(filter, &name, || runtime.block_on(scenario(token, backend)));
    }
}
