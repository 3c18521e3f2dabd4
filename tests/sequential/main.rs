//! Scenarios that need the process to themselves, run one after another by this `main` (no test
//! harness): SoftHSM2 reads `SOFTHSM2_CONF` once, when the module loads, so the token is made and
//! the variable set before any thread exists; and the list export measures the process's peak
//! memory, which a test running beside it would move.
//!
//! `cargo test --test sequential [FILTER]` runs the cases whose name contains FILTER.

mod certificates;
mod export_memory;
mod passports;
mod signing;
mod token;

use sotiem_scenarios::softhsm::token_for_this_process;

/// A multi-threaded runtime for one module's scenarios.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs one named case unless `filter` leaves it out, and reports it as libtest would.
fn case(filter: Option<&str>, name: &str, run: impl FnOnce()) {
    if filter.is_some_and(|f| !name.contains(f)) {
        return;
    }
    run();
    println!("test {name} ... ok");
}

/// The test-name filter among libtest's arguments: the first word that is neither a flag nor a
/// flag's value (`--test-threads 4` must not make "4" the filter).
fn filter_of(args: &[String]) -> Option<&str> {
    const WITH_VALUE: [&str; 6] = [
        "--test-threads",
        "--skip",
        "--format",
        "--color",
        "--logfile",
        "-Z",
    ];
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test -- --list` asks every test binary for its tests: nothing to run then.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let filter = filter_of(&args);
    // SAFETY: first thing in `main`: no other thread exists yet.
    let (_dir, token) = unsafe { token_for_this_process() };
    token::run(&token, filter);
    signing::run(&token, filter);
    passports::run(&token, filter);
    // Last: it imports further certificates into the token.
    certificates::run(&token, filter);
    export_memory::run(filter);
}
