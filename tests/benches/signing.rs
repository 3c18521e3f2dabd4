//! A 3,000-dose signing run from selection to a batch the server has verified, against a real
//! SoftHSM2 token and a real server on loopback; then the same 3,000 records signed one token
//! operation each, as the old browser plugin did. `cargo bench -p sotiem-scenarios --bench
//! signing` (release). `KEY=ec` for ECDSA P-256 instead of RSA-2048.

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::softhsm::{MODULE, PIN, SoftToken, bench_main};
use sotiem_scenarios::{Lab, vaccinated_at};
use sotiem_token::Module;
use station::{SigningSelection, TokenSigner};
use std::path::Path;
use std::time::{Duration, Instant};
use sync_protocol::auth::Role;
use time::macros::datetime;

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

async fn bench(token: &SoftToken) {
    let ec = std::env::var("KEY").is_ok_and(|k| k == "ec");
    let lab = Lab::start(Backend::Sqlite).await;
    lab.server
        .trust
        .add(&std::fs::read(&token.ca_pem).expect("ca"))
        .expect("trusted");
    let station = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(3);
    let people = vaccinated_at(&mut g, 1_000, 3, datetime!(2026-11-20 07:30 +7));
    station.import_people(&people).await.expect("imported");
    station.sync().await.expect("synced");
    lab.registry_knows(&people).await;
    station.sync().await.expect("verified");

    let module = Module::open(Path::new(MODULE)).expect("module");
    let slot = module.tokens().expect("tokens")[0].slot;
    let id = if ec { &token.ec.id } else { &token.rsa.id };
    let cert = module
        .certificates(slot)
        .expect("certificates")
        .into_iter()
        .find(|c| &c.id == id)
        .expect("certificate");
    lab.account("bs.hung", "TYT-TANNHUT", Role::Signer).await;
    lab.register_certificates("bs.hung", &[&cert]).await;
    station.sign_out(None).await.expect("signed out");
    lab.sign_in(&station, &station.client, "bs.hung").await;

    let selection = SigningSelection {
        from: "20/11/2026".into(),
        to: "20/11/2026".into(),
        ..SigningSelection::default()
    };
    let signer = TokenSigner {
        module: &module,
        slot,
        certificate: cert.clone(),
        pin: PIN.into(),
    };
    let start = Instant::now();
    let preview = station.signing_preview(&selection).await.expect("preview");
    let previewed = start.elapsed();
    let batch = station
        .sign_selection(&selection, preview.doses.len(), &signer)
        .await
        .expect("signed");
    let signed = start.elapsed();
    // The run as the station's sync sends it, and the server's verdict.
    let (manifest_bytes, cms) = station
        .signing_batch_files(batch.batch_id)
        .await
        .expect("files");
    station.client.set_session(
        station
            .session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    let outcome: sync_protocol::wire::SigningBatchOutcome = station
        .client
        .call(
            "sync/signing-batch",
            &sync_protocol::wire::SigningBatchUpload {
                batch_id: batch.batch_id,
                manifest: manifest_bytes,
                cms,
            },
        )
        .await
        .expect("uploaded");
    let verified = start.elapsed();
    assert!(
        matches!(
            outcome,
            sync_protocol::wire::SigningBatchOutcome::Accepted { doses: 3_000 }
        ),
        "{outcome:?}"
    );
    // Then the station's sync learns it and writes the signatures into the 1,000 documents.
    let mark = Instant::now();
    let report = station.sync().await.expect("sync");
    let marked = mark.elapsed();
    assert_eq!(report.batches_accepted, 1);
    assert_eq!(batch.doses, 3_000);

    // The plugin's way: one token operation (and PIN login) per record.
    let (manifest, _) = station
        .signing_batch_files(batch.batch_id)
        .await
        .expect("files");
    let manifest = sync_protocol::manifest::Manifest::from_bytes(&manifest).expect("manifest");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let each = Instant::now();
    for e in &manifest.entries {
        module
            .sign_cms(slot, &cert, PIN, &e.record_hash, now)
            .expect("signed one");
    }
    let one_by_one = each.elapsed();

    println!("key: {}", if ec { "ECDSA P-256" } else { "RSA-2048" });
    println!("preview of 3,000 doses / 1,000 people: {}", secs(previewed));
    println!(
        "selection → signed run (manifest, 1 token operation, stored): {}",
        secs(signed)
    );
    println!(
        "selection → batch verified by the server (CMS, chain, 3,000 record hashes): {}",
        secs(verified)
    );
    println!(
        "then: sync writing the signatures into 1,000 documents and pushing them: {}",
        secs(marked)
    );
    println!(
        "one token operation per record, 3,000 records: {} ({:.1}× the whole run)",
        secs(one_by_one),
        one_by_one.as_secs_f64() / verified.as_secs_f64()
    );
    station.close().await;
}

fn main() {
    bench_main(bench);
}
