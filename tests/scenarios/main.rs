//! Scenarios across crates — several stations, the central server over HTTP on both backends,
//! the CLI, crashes, the console in Chromium — as one test binary, one module per subject, so
//! the whole stack is linked once and the tests of every subject share the harness's threads.
//! (The few that need the process to themselves are in `sequential/`.)

mod accounts;
mod auth_fuzz;
mod authority;
mod backup_restore;
mod cleaning;
mod complaints;
mod console;
mod console_browser;
mod coverage;
mod crash_safety;
mod encryption_at_rest;
mod hostile_input;
mod lists;
mod offline_merge;
mod registry;
mod routine;
mod staff_accounts;
mod station_day;
mod stations;
mod sync_convergence;
mod sync_scenarios;
mod updates;
