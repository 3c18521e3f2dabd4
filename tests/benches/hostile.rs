//! The hostile-input property run at length (DESIGN.md §9): thousands of arbitrary and forged
//! changes fed to the server's ingest and a station's apply path on SQLite and PostgreSQL; any
//! panic or a server copy left unsound stops the run with the input that did it.
//! `cargo bench -p sotiem-scenarios --bench hostile` (`SOTIEM_HOSTILE_CASES`, 2,000 per backend
//! by default).

use proptest::test_runner::{Config, TestRunner};
use sotiem_scenarios::hostile::{Target, hostile};
use sotiem_scenarios::server::Backend;
use std::time::Instant;

fn main() {
    let cases = std::env::var("SOTIEM_HOSTILE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let target = rt.block_on(Target::start(backend));
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let started = Instant::now();
        runner
            .run(&hostile(), |input| {
                rt.block_on(target.feed(&input));
                Ok(())
            })
            .expect("no hostile input breaks the server or a station");
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{backend:?}: {cases} hostile inputs in {secs:.1} s ({:.0}/s), no panic, the server's copy sound after each",
            f64::from(cases) / secs
        );
        rt.block_on(target.lab.server.stop());
    }
}
