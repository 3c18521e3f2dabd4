//! Files the station writes for people to open (a printed passport): written beside the target
//! and renamed over it, so a failure leaves neither a half file nor the partial copy, and a
//! target another program holds open is said as such ([`StationError::writing`]).

use crate::error::{Result, StationError};
use std::path::Path;

/// Writes `bytes` to `path`, replacing what is there only once all of it is written.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let partial = path.with_extension(format!("{ext}.part"));
    let written = std::fs::write(&partial, bytes)
        .map_err(|e| StationError::writing(&partial, e))
        .and_then(|()| std::fs::rename(&partial, path).map_err(|e| StationError::writing(path, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_a_failure_leaves_no_partial_copy() {
        let dir = tempfile::tempdir().expect("dir");
        let pdf = dir.path().join("Hộ chiếu Nguyễn Văn An.pdf");
        std::fs::write(&pdf, b"old").expect("written");
        replace(&pdf, b"new").expect("replaced");
        assert_eq!(std::fs::read(&pdf).expect("read"), b"new");
        assert!(!dir.path().join("Hộ chiếu Nguyễn Văn An.pdf.part").exists());
        // A folder where the file should be: the rename fails, the partial copy goes.
        let folder = dir.path().join("thư mục.pdf");
        std::fs::create_dir(&folder).expect("dir");
        std::fs::write(folder.join("x"), b"x").expect("written");
        assert_eq!(replace(&folder, b"new").map_err(|e| e.code()), Err("io"));
        assert!(!dir.path().join("thư mục.pdf.part").exists());
    }
}
