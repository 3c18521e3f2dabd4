//! Station core on a synthetic commune replica: 50,000 people with 150,000 doses in an encrypted
//! store. Measures the latency of recording a dose and of a search by name + phone, and the size
//! of the replica on disk.
//!
//! Run: `cargo bench -p sotiem-scenarios --bench replica` (env `REPLICA_PEOPLE`, `SAMPLES`).

use sotiem_fixtures::Generator;
use sotiem_scenarios::Lab;
use sotiem_scenarios::server::Backend;
use station::{DoseInput, SearchQuery, Station};
use std::time::{Duration, Instant};
use sync_protocol::automerge::ActorId;
use sync_protocol::{CommitAction, CommitMeta, PersonDoc, text};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.95)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap_or(&Duration::ZERO)),
    );
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let people_count = env_usize("REPLICA_PEOPLE", 50_000);
    let samples = env_usize("SAMPLES", 2_000);
    let lab = Lab::start(Backend::Sqlite).await;
    let device = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let (dir, key, client) = (device.dir.clone(), device.key.clone(), device.client);
    let station = device.station;

    // The replica as a first sync leaves it: documents written by the server's actor.
    let started = Instant::now();
    let mut g = Generator::new(2024);
    let server = ActorId::from([7u8; 16].as_slice());
    let mut people = Vec::with_capacity(people_count);
    let mut batch = Vec::with_capacity(1000);
    for _ in 0..people_count {
        let p = g.person("TYT-TANNHUT", "nv.lan", 3);
        batch.push(
            PersonDoc::create(
                server.clone(),
                &p,
                &CommitMeta::new("nv.lan", CommitAction::Import),
            )
            .expect("doc"),
        );
        people.push((
            p.id,
            p.full_name.clone(),
            p.phone.clone().unwrap_or_default(),
        ));
        if batch.len() == 1000 {
            station
                .import_documents(std::mem::take(&mut batch))
                .await
                .expect("import");
        }
    }
    station.import_documents(batch).await.expect("import");
    let built = started.elapsed();
    let status = station.status().await.expect("status");
    station.close().await;
    let size = dir_size(&dir);

    let station = Station::open_with_key(&dir, Some(key)).await.expect("open");
    lab.sign_in(&station, &client, "nv.lan").await;
    println!(
        "Replica: {} people, {} doses, built in {:.1} s; on disk after checkpoint: {:.1} MB ({} bytes)",
        status.persons,
        status.doses,
        built.as_secs_f64(),
        size as f64 / 1_000_000.0,
        size
    );
    println!();
    println!("| operation | samples | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");

    let mut record = Vec::with_capacity(samples);
    for i in 0..samples {
        let (id, _, _) = &people[g.range(0..people.len())];
        let t = Instant::now();
        station
            .record_dose(
                *id,
                DoseInput {
                    vaccine: if i % 2 == 0 {
                        "pfizer".into()
                    } else {
                        "EU/1/21/1529".into()
                    },
                    lot: "FK0071".into(),
                    ..DoseInput::default()
                },
            )
            .await
            .expect("record");
        record.push(t.elapsed());
    }
    report("record a dose (fsync on commit)", record);

    let mut search = Vec::with_capacity(samples);
    for i in 0..samples {
        let (id, name, phone) = &people[g.range(0..people.len())];
        // Half typed without diacritics, as nurses often do.
        let typed = if i % 2 == 0 {
            text::fold(name)
        } else {
            name.clone()
        };
        let t = Instant::now();
        let found = station
            .find(&SearchQuery {
                full_name: typed,
                phone: Some(phone.clone()),
                id_number: None,
            })
            .await
            .expect("search");
        search.push(t.elapsed());
        assert!(found.iter().any(|f| &f.id == id), "search found the person");
    }
    report("search by name + phone", search);

    let mut show = Vec::with_capacity(samples);
    for _ in 0..samples {
        let (id, _, _) = &people[g.range(0..people.len())];
        let t = Instant::now();
        station.show(*id).await.expect("show");
        show.push(t.elapsed());
    }
    report("open a person's record", show);
    station.close().await;
    println!();
    println!(
        "After the run: {:.1} MB on disk",
        dir_size(&dir) as f64 / 1_000_000.0
    );
}
