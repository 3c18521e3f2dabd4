//! A backlog of 40,002 doses (13,334 people, three doses each) signed after one PIN entry: the
//! station splits it into 14 runs of at most 1,000 people / 3,000 doses and the SoftHSM2 token
//! signs each run once; the server then verifies every run. Beside it, the old plugin's way:
//! one token operation per record, for all 40,002. `cargo bench -p sotiem-scenarios --bench
//! backlog` (release); `KEY=ec` for ECDSA P-256 instead of RSA-2048.

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::softhsm::{MODULE, PIN, SoftToken, bench_main};
use sotiem_scenarios::{Lab, vaccinated_at};
use sotiem_token::Module;
use station::{SigningSelection, TokenSigner};
use std::path::Path;
use std::time::{Duration, Instant};
use sync_protocol::auth::Role;
use sync_protocol::wire::{SigningBatchOutcome, SigningBatchUpload};
use time::macros::datetime;

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

async fn bench(token: &SoftToken) {
    let ec = std::env::var("KEY").is_ok_and(|k| k == "ec");
    let lab = Lab::start(Backend::Sqlite).await;
    lab.server
        .trust
        .add(&std::fs::read(&token.ca_pem).expect("ca"))
        .expect("trusted");
    let station = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(40);
    let setup = Instant::now();
    // Three doses each, ten seconds apart per person, from early on 20/11.
    let people = vaccinated_at(&mut g, 13_334, 3, datetime!(2026-11-18 00:30 +7));
    station.import_people(&people).await.expect("imported");
    station.sync().await.expect("synced");
    lab.registry_knows(&people).await;
    station.sync().await.expect("verified");
    println!(
        "setup: 13,334 people / 40,002 doses registered, synced and matched in {}",
        secs(setup.elapsed())
    );

    let module = Module::open(Path::new(MODULE)).expect("module");
    let slot = module.tokens().expect("tokens")[0].slot;
    let id = if ec { &token.ec.id } else { &token.rsa.id };
    let cert = module
        .certificates(slot)
        .expect("certificates")
        .into_iter()
        .find(|c| &c.id == id)
        .expect("certificate");
    station.sign_out(None).await.expect("signed out");
    lab.account("bs.hung", "TYT-TANNHUT", Role::Signer).await;
    lab.register_certificates("bs.hung", &[&cert]).await;
    lab.sign_in(&station, &station.client, "bs.hung").await;
    let selection = SigningSelection {
        from: "18/11/2026".into(),
        to: "30/11/2026".into(),
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
    assert_eq!((preview.doses.len(), preview.runs.len()), (40_002, 14));

    // When each run is signed, read from the station's progress while the backlog signs.
    let signing = station.sign_backlog(&selection, preview.doses.len(), &signer);
    let watch = async {
        let mut marks = Vec::new();
        let mut seen = 0;
        loop {
            let p = station.signing_progress();
            if p.runs_done > seen {
                seen = p.runs_done;
                marks.push(start.elapsed());
            }
            if seen == 14 {
                return marks;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let (summary, marks) = tokio::join!(signing, watch);
    let summary = summary.expect("signed");
    let total = start.elapsed();
    assert_eq!((summary.runs.len(), summary.stopped), (14, false));
    let per_run: Vec<Duration> = std::iter::once(previewed)
        .chain(marks.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect();

    // Every run verified by the server, as the station's sync sends them.
    station.client.set_session(
        station
            .session()
            .and_then(|s| s.server_token().map(str::to_string)),
    );
    let verify = Instant::now();
    for run in &summary.runs {
        let (manifest, cms) = station
            .signing_batch_files(run.batch_id)
            .await
            .expect("files");
        let outcome: SigningBatchOutcome = station
            .client
            .call(
                "sync/signing-batch",
                &SigningBatchUpload {
                    batch_id: run.batch_id,
                    manifest,
                    cms,
                },
            )
            .await
            .expect("uploaded");
        assert!(
            matches!(outcome, SigningBatchOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
    let verified = verify.elapsed();

    // The plugin's way: one token operation (and PIN login) per record, all 40,002.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let each = Instant::now();
    for run in &summary.runs {
        let (manifest, _) = station
            .signing_batch_files(run.batch_id)
            .await
            .expect("files");
        let manifest = sync_protocol::manifest::Manifest::from_bytes(&manifest).expect("manifest");
        for e in &manifest.entries {
            module
                .sign_cms(slot, &cert, PIN, &e.record_hash, now)
                .expect("signed one");
        }
    }
    let one_by_one = each.elapsed();

    let fmt: Vec<String> = per_run
        .iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect();
    println!("key: {}", if ec { "ECDSA P-256" } else { "RSA-2048" });
    println!(
        "preview of 40,002 doses split into 14 runs: {}",
        secs(previewed)
    );
    println!(
        "each run signed (s, one token operation each): {}",
        fmt.join(" · ")
    );
    println!(
        "14 runs signed after one PIN entry: {} (mean {:.2} s a run, slowest {})",
        secs(total),
        total.as_secs_f64() / 14.0,
        secs(per_run.iter().copied().max().unwrap_or_default())
    );
    println!("the 14 runs verified by the server: {}", secs(verified));
    println!(
        "the plugin's way, one token operation per record, 40,002 records: {} ({:.0}× the 14 runs)",
        secs(one_by_one),
        one_by_one.as_secs_f64() / total.as_secs_f64()
    );
    station.close().await;
}

fn main() {
    bench_main(bench);
}
