//! A 100,000-row list exports in constant memory: rows stream from SQLite into a worksheet
//! written in rust_xlsxwriter's constant-memory mode, so the peak memory of the export does not
//! grow with the list. Linux only (reads and resets the process's peak RSS), and run by the
//! `sequential` binary: no other test may allocate in the process while the peak is measured.

use sotiem_fixtures::Generator;
use sotiem_scenarios::server::Backend;
use sotiem_scenarios::{Lab, fill_no_id_list};
use station::{DataList, ListQuery};

/// Peak resident memory (VmHWM) in MB since the last reset.
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb / 1024.0
}

/// Resets the peak to the current resident memory.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
}

fn current_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb / 1024.0
}

/// Runs the export case, unless `filter` leaves it out.
pub fn run(filter: Option<&str>) {
    crate::case(
        filter,
        "a_100000_row_export_runs_in_constant_memory",
        || crate::runtime().block_on(a_100000_row_export_runs_in_constant_memory()),
    );
}

async fn a_100000_row_export_runs_in_constant_memory() {
    let lab = Lab::start(Backend::Sqlite).await;
    let mut nurse = lab.device("tram", "TYT-TANNHUT", "nv.lan").await;
    let mut g = Generator::new(100);
    let query = ListQuery {
        list: DataList::NoId,
        commune: None,
        facility: None,
        due_by: None,
    };
    let mut growth = Vec::new();
    for (add, name) in [(10_000, "10k.xlsx"), (90_000, "100k.xlsx")] {
        fill_no_id_list(&nurse, &mut g, add).await;
        let code = nurse.otp.code().await;
        let path = lab.dir.path().join(name);
        reset_peak();
        let before = current_mb();
        let done = nurse
            .export_list(&query, &path, &code)
            .await
            .expect("exported");
        let grew = peak_mb() - before;
        println!("{} rows: peak grew {grew:.1} MB", done.rows);
        growth.push((done.rows, grew));
    }
    assert_eq!(growth[0].0, 10_000);
    assert_eq!(growth[1].0, 100_000);
    // Held in memory, 100,000 rows of 17 cells would take well over 100 MB.
    // (Measured: a few MB either way; 310 MB for 100,000 rows without constant-memory mode.)
    assert!(
        growth[1].1 < growth[0].1 + 8.0,
        "10x the rows must not grow the peak: {growth:?}"
    );
    assert!(growth[1].1 < 16.0, "{growth:?}");
    nurse.close().await;
}
