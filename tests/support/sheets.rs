//! Workbooks the software writes, read back by an independent reader (Python's openpyxl, which
//! `scripts/setup` installs).

use std::path::Path;

/// What openpyxl (an independent reader) sees: sheet name, frozen pane, filter range, and each
/// row's values with their Python types.
pub fn read_openpyxl(path: &Path) -> serde_json::Value {
    let script = r#"
import json, sys, datetime, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
ws = wb.worksheets[0]
def cell(v):
    if isinstance(v, datetime.datetime): return ["datetime", v.isoformat()]
    if isinstance(v, (int, float)): return ["number", v]
    if v is None: return ["empty", None]
    return ["text", v]
print(json.dumps({"sheet": ws.title, "freeze": ws.freeze_panes, "filter": ws.auto_filter.ref,
                  "rows": [[cell(c) for c in row] for row in ws.iter_rows(values_only=True)]}))
"#;
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 runs (scripts/setup installs python3-openpyxl)");
    assert!(
        out.status.success(),
        "openpyxl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}
