//! Property: hostile Automerge input — arbitrary bytes, corrupted changes, well-formed changes
//! with extreme counters, forged dependencies, messages and operations — never panics the
//! server's ingest or a station's apply path, and the server's copy of the person stays sound
//! while honest work goes on. A bounded number of cases here (`SOTIEM_HOSTILE_CASES`, 200 by
//! default); the `hostile` bench runs thousands.

use proptest::test_runner::{Config, TestRunner};
use sotiem_scenarios::hostile::{Target, hostile};
use sotiem_scenarios::server::Backend;

#[test]
fn hostile_changes_never_panic_and_never_corrupt_the_servers_copy() {
    let cases = std::env::var("SOTIEM_HOSTILE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let target = rt.block_on(Target::start(Backend::Sqlite));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // The target keeps its state between cases: shrinking a failure after the first would
        // only shrink later inputs, so the failing input is reported as it was.
        max_shrink_iters: 0,
        ..Config::default()
    });
    runner
        .run(&hostile(), |input| {
            rt.block_on(target.feed(&input));
            Ok(())
        })
        .expect("no hostile input breaks the server or a station");
    rt.block_on(target.lab.server.stop());
}
