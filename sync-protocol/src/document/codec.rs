//! How documents are stored and decoded: zstd around Automerge's save, and Automerge work on
//! input from elsewhere kept from taking the process down.

use super::PersonDoc;
use crate::error::SchemaError;
use automerge::Change;

/// The first bytes of a zstd frame (Automerge documents start otherwise).
pub(super) const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The largest document accepted when inflating a stored one.
pub(super) const MAX_DOC_BYTES: u64 = 64 * 1024 * 1024;

thread_local! {
    // zstd contexts are costly to create (hundreds of KB each); keep one per thread.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(1).ok());
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
}

pub(super) fn decompress(bytes: &[u8]) -> Result<Vec<u8>, SchemaError> {
    let size = zstd::zstd_safe::get_frame_content_size(bytes)
        .ok()
        .flatten()
        .filter(|s| *s <= MAX_DOC_BYTES)
        .ok_or_else(|| SchemaError::Automerge("tài liệu nén hỏng hoặc quá lớn".into()))?;
    DECOMPRESSOR
        .with(|d| {
            d.borrow_mut()
                .as_mut()
                .map(|d| d.decompress(bytes, size as usize))
        })
        .unwrap_or_else(|| zstd::decode_all(bytes))
        .map_err(|e| SchemaError::Automerge(e.to_string()))
}

/// Runs Automerge work on input from elsewhere: a panic inside the library on hostile input
/// becomes an error instead of taking the process down.
pub fn guarded<T>(work: impl FnOnce() -> Result<T, SchemaError>) -> Result<T, SchemaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(SchemaError::Automerge(
            "dữ liệu làm hỏng việc đọc tài liệu Automerge".into(),
        ))
    })
}

/// Reads a change from elsewhere. Unlike `Change::from_bytes` alone, a change whose checksum
/// does not match its content is refused: Automerge would take it, and every document saved
/// with it would then fail to load ("bad checksum").
pub fn decode_change(bytes: Vec<u8>) -> Result<Change, SchemaError> {
    let checksum: Option<[u8; 4]> = bytes.get(4..8).and_then(|b| b.try_into().ok());
    let change =
        guarded(|| Change::from_bytes(bytes).map_err(|e| SchemaError::Automerge(e.to_string())))?;
    let hash = change.hash().0;
    if checksum != Some([hash[0], hash[1], hash[2], hash[3]]) {
        return Err(SchemaError::Automerge(
            "mã kiểm tra (checksum) của thay đổi không khớp nội dung".into(),
        ));
    }
    Ok(change)
}

impl PersonDoc {
    /// The stored form ([`PersonDoc::save`]) and the size of the uncompressed save, which is
    /// what a station receives.
    pub fn save_sized(&self) -> (Vec<u8>, usize) {
        let raw = self.doc.save_nocompress();
        let size = raw.len();
        let saved = COMPRESSOR
            .with(|c| c.borrow_mut().as_mut().and_then(|c| c.compress(&raw).ok()))
            .unwrap_or_else(|| self.doc.save());
        (saved, size)
    }
}
