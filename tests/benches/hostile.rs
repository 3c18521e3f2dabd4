//! The hostile-input property run at length (docs/design.md §9): thousands of arbitrary and forged
//! changes fed to the server's ingest and a station's apply path on SQLite and PostgreSQL; any
//! panic or a server copy left unsound stops the run with the input that did it.
//! `cargo bench -p sotiem-scenarios --bench hostile` (`SOTIEM_HOSTILE_CASES`, 2,000 per backend
//! by default).

use sotiem_scenarios::hostile::{cases, run_cases};
use sotiem_scenarios::server::Backend;

fn main() {
    let cases = cases(2_000);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let secs = run_cases(backend, cases).as_secs_f64();
        println!(
            "{backend:?}: {cases} hostile inputs in {secs:.1} s ({:.0}/s), no uncaught panic, the server's copy sound after each",
            f64::from(cases) / secs
        );
    }
}
