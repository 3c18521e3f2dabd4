//! The backup file itself: its header lines, the backup identity wrapped under the passphrase,
//! and the encrypted payload (the manifest and the database copy) written and read back.

use super::{BACKUP_EXTENSION, BackupHeader, BackupManifest, MAGIC, MAX_HEADER_LINE};
use crate::error::{BackupError, Result, StationError};
use age::secrecy::{ExposeSecret, SecretString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::str::FromStr;

/// Reads what a backup file says of itself (no passphrase needed).
pub fn read_header(file: &Path) -> Result<BackupHeader> {
    let f = std::fs::File::open(file).map_err(|source| StationError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(f);
    header_lines(&mut reader, file)
}

pub(super) fn header_lines(reader: &mut impl BufRead, file: &Path) -> Result<BackupHeader> {
    let not_backup = || StationError::from(BackupError::NotABackup(file.to_path_buf()));
    let magic = bounded_line(reader).map_err(|_| not_backup())?;
    if magic != MAGIC {
        return Err(not_backup());
    }
    let json = bounded_line(reader).map_err(|_| not_backup())?;
    serde_json::from_str(&json).map_err(|_| not_backup())
}

/// One line of at most [`MAX_HEADER_LINE`] bytes, without its newline.
fn bounded_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    reader.take(MAX_HEADER_LINE).read_until(b'\n', &mut line)?;
    if line.pop() != Some(b'\n') {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    String::from_utf8(line).map_err(|_| std::io::ErrorKind::InvalidData.into())
}

/// A new backup identity: its public half, and the whole wrapped under the passphrase.
pub(super) fn new_identity(passphrase: SecretString) -> Result<(String, String)> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let wrapped = age::Encryptor::with_user_passphrase(passphrase);
    let mut out = Vec::new();
    let mut writer = wrapped
        .wrap_output(&mut out)
        .map_err(|e| StationError::KeyUnavailable(e.to_string()))?;
    writer
        .write_all(identity.to_string().expose_secret().as_bytes())
        .and_then(|()| writer.finish().map(|_| ()))
        .map_err(|e| StationError::KeyUnavailable(e.to_string()))?;
    Ok((recipient, hex::encode(out)))
}

/// The backup identity, opened with the passphrase.
pub(super) fn unwrap_identity(
    wrapped: &str,
    passphrase: SecretString,
) -> Result<age::x25519::Identity> {
    let damaged = |why: &str| StationError::from(BackupError::Damaged(why.into()));
    let bytes = hex::decode(wrapped).map_err(|_| damaged("khoá sao lưu không đọc được"))?;
    let decryptor = age::Decryptor::new_buffered(&bytes[..])
        .map_err(|_| damaged("khoá sao lưu không đọc được"))?;
    if !decryptor.is_scrypt() {
        return Err(damaged("khoá sao lưu không được bảo vệ bằng mật khẩu"));
    }
    let key = age::scrypt::Identity::new(passphrase);
    let mut reader = decryptor
        .decrypt(std::iter::once(&key as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                StationError::from(BackupError::WrongPassphrase)
            }
            other => damaged(&other.to_string()),
        })?;
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|_| damaged("khoá sao lưu không đọc được"))?;
    age::x25519::Identity::from_str(text.trim()).map_err(|_| damaged("khoá sao lưu không đọc được"))
}

/// Writes the backup file: to a `.part` file synced to disk, then renamed, so a file with the
/// backup's name is always whole. Returns its size.
pub(super) fn write_file(
    target: &Path,
    header_json: &str,
    manifest: &BackupManifest,
    recipient: &age::x25519::Recipient,
    copy: &Path,
) -> std::result::Result<u64, String> {
    let part = target.with_extension(format!("{BACKUP_EXTENSION}.part"));
    let result = (|| -> std::io::Result<u64> {
        let file = std::fs::File::create(&part)?;
        let mut out = std::io::BufWriter::new(file);
        writeln!(out, "{MAGIC}")?;
        writeln!(out, "{header_json}")?;
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
                .map_err(std::io::Error::other)?;
        let mut stream = encryptor.wrap_output(&mut out)?;
        serde_json::to_writer(&mut stream, manifest)?;
        stream.write_all(b"\n")?;
        let mut db = std::fs::File::open(copy)?;
        std::io::copy(&mut db, &mut stream)?;
        stream.finish()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        std::fs::rename(&part, target)?;
        Ok(bytes)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&part);
        e.to_string()
    })
}

/// Decrypts the backup's payload: the manifest, and the database copy written to `copy`.
pub(super) fn read_payload(
    file: &Path,
    identity: &age::x25519::Identity,
    copy: &Path,
) -> Result<BackupManifest> {
    let damaged = |why: String| StationError::from(BackupError::Damaged(why));
    let f = std::fs::File::open(file).map_err(|source| StationError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(f);
    header_lines(&mut reader, file)?;
    let decryptor = age::Decryptor::new_buffered(reader).map_err(|e| damaged(e.to_string()))?;
    let stream = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| damaged(e.to_string()))?;
    let mut stream = BufReader::new(stream);
    let manifest = bounded_line(&mut stream).map_err(|e| damaged(e.to_string()))?;
    let manifest: BackupManifest =
        serde_json::from_str(&manifest).map_err(|e| damaged(e.to_string()))?;
    let result = (|| -> std::io::Result<()> {
        let mut out = std::fs::File::create(copy)?;
        // The stream authenticates each 64 KiB chunk and the end: a changed or cut file fails
        // here, before anything is restored from it.
        std::io::copy(&mut stream, &mut out)?;
        out.sync_all()
    })();
    result.map_err(|e| damaged(e.to_string()))?;
    Ok(manifest)
}
