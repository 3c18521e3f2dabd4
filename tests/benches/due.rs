//! The due list of a synthetic commune (issue 29): `PEOPLE` (default 8,000) people, of whom
//! `CHILDREN` (default 600) are under two and 1,000 more are children up to 15, the rest adults
//! with COVID-19 doses; children's routine doses given roughly on time, some missed. Times the
//! due list for a session day for the whole commune and for one hamlet (goal: < 200 ms), and the
//! coverage of last year's birth cohort.
//!
//! Run: `cargo bench -p sotiem-scenarios --bench due` (env `PEOPLE`, `CHILDREN`, `SAMPLES`).

use sotiem_fixtures::{Generator, HAMLETS};
use sotiem_scenarios::Lab;
use sotiem_scenarios::server::Backend;
use station::programme::DueQuery;
use std::time::{Duration, Instant};
use sync_protocol::person::now;
use sync_protocol::schedule::coverage::Cohort;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let people = env_usize("PEOPLE", 8_000);
    let under_two = env_usize("CHILDREN", 600);
    let older = 1_000.min(people.saturating_sub(under_two));
    let samples = env_usize("SAMPLES", 50);
    let lab = Lab::start(Backend::Sqlite).await;
    let station = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let today = now().date();
    let mut g = Generator::new(2029);
    let mut all = Vec::with_capacity(people);
    all.extend((0..under_two).map(|_| g.child("TYT-TANNHUT", "nv.lan", today, 729)));
    // Born two to fifteen years ago: their calendar ran until they were two.
    let two_years_ago = today - time::Duration::days(730);
    all.extend((0..older).map(|_| g.child("TYT-TANNHUT", "nv.lan", two_years_ago, 13 * 365)));
    let adults = people.saturating_sub(all.len());
    for _ in 0..adults {
        let doses = g.range(0..4);
        all.push(g.person("TYT-TANNHUT", "nv.lan", doses));
    }
    let started = Instant::now();
    for chunk in all.chunks(1000) {
        station.import_people(chunk).await.expect("imported");
    }
    println!(
        "Commune: {} people ({under_two} under two, {older} aged 2–15, {adults} adults), imported in {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    let session_day = today + time::Duration::days(7);
    println!();
    println!("| measure | samples | entries | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (label, hamlet) in [("whole commune", None), ("one hamlet", Some(HAMLETS[0]))] {
        let query = DueQuery {
            on: Some(session_day),
            hamlet: hamlet.map(str::to_string),
            ..DueQuery::default()
        };
        measure(&format!("due list, {label}"), samples, async || {
            station.due_list(&query).await.expect("due list").len()
        })
        .await;
    }
    // Coverage of last year's children (the cohort a district reviews): entries = children.
    let cohort = Cohort::parse(&(today.year() - 1).to_string()).expect("cohort");
    measure("coverage, last year's cohort", samples, async || {
        let c = station.coverage(cohort, None).await.expect("coverage");
        c.coverage.children as usize
    })
    .await;
    lab.server.stop().await;
}

/// Runs `f` `samples` times and prints a row: what it returned, p50, p95 and max.
async fn measure(label: &str, samples: usize, f: impl AsyncFn() -> usize) {
    let mut times = Vec::with_capacity(samples);
    let mut entries = 0;
    for _ in 0..samples {
        let t = Instant::now();
        entries = f().await;
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "| {label} | {samples} | {entries} | {:.1} | {:.1} | {:.1} |",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        percentile(&times, 1.0)
    );
}
