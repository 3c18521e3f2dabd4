//! Property: hostile Automerge input — arbitrary bytes, corrupted changes, well-formed changes
//! with extreme counters, forged dependencies, messages and operations — never panics the
//! server's ingest or a station's apply path, and the server's copy of the person stays sound
//! while honest work goes on. A bounded number of cases here (`SOTIEM_HOSTILE_CASES`, 200 by
//! default); the `hostile` bench runs thousands.

use sotiem_scenarios::hostile::{cases, run_cases};
use sotiem_scenarios::server::Backend;

#[test]
fn hostile_changes_never_panic_and_never_corrupt_the_servers_copy() {
    run_cases(Backend::Sqlite, cases(200));
}
