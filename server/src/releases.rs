//! Updates of the desktop app, served by the central server itself: many stations reach only the
//! province's server, never the internet. An administrator publishes a package built and signed
//! with the release key (`tauri signer sign --app-version …`); the server keeps the file in its
//! updates folder and answers the app's updater with the newest release for its platform. The app
//! verifies the package's signature against the key built into it before installing anything;
//! the server checks it too at publishing when it is given the public key, so a package signed
//! with another key (or changed after signing) is refused before any station sees it.

use crate::db::Db;
use crate::with_db;
use base64::Engine;
use serde::Serialize;
use sqlx::Row;
use std::path::{Path, PathBuf};
use sync_protocol::person::{format_time, now};

/// The columns `release_row!` reads (a literal, so queries stay static strings).
macro_rules! release_columns {
    () => {
        "id, version, platform, file_name, signature, notes, sha256, size, published_at, withdrawn_at"
    };
}

/// A `Release` from a row of either backend (expanded inside `with_db!`).
macro_rules! release_row {
    ($r:expr) => {
        Release {
            id: $r.get("id"),
            version: $r.get("version"),
            platform: $r.get("platform"),
            file_name: $r.get("file_name"),
            signature: $r.get("signature"),
            notes: $r.get("notes"),
            sha256: $r.get("sha256"),
            size: $r.get("size"),
            published_at: $r.get("published_at"),
            withdrawn_at: $r.get("withdrawn_at"),
        }
    };
}

/// A published release of the app for one platform.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub id: String,
    pub version: String,
    /// `{os}-{arch}` as the updater names it: `linux-x86_64`, `windows-x86_64`, …
    pub platform: String,
    pub file_name: String,
    /// The package's signature as `tauri signer sign` wrote it (base64 of a minisign signature).
    pub signature: String,
    pub notes: Option<String>,
    pub sha256: String,
    pub size: i64,
    pub published_at: String,
    pub withdrawn_at: Option<String>,
}

/// What an administrator publishes.
#[derive(Debug, Clone)]
pub struct NewRelease<'a> {
    pub version: &'a str,
    pub platform: &'a str,
    pub package: &'a Path,
    /// The contents of the `.sig` file `tauri signer sign` wrote beside the package.
    pub signature: &'a str,
    pub notes: Option<&'a str>,
}

/// Why a release was refused or not found.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("phiên bản \"{0}\" không đúng dạng (ví dụ 1.2.0)")]
    BadVersion(String),
    #[error("nền tảng \"{0}\" không đúng dạng (ví dụ linux-x86_64, windows-x86_64)")]
    BadPlatform(String),
    #[error("chữ ký của gói cập nhật không đọc được: {0}")]
    BadSignature(String),
    #[error(
        "gói cập nhật không khớp chữ ký với khoá phát hành (gói bị sửa, hoặc ký bằng khoá khác): không phát hành"
    )]
    SignatureMismatch,
    #[error(
        "chữ ký gắn với phiên bản {signed}, không phải {published}: hãy ký lại với --app-version {published}"
    )]
    VersionMismatch { signed: String, published: String },
    #[error("phiên bản {version} cho {platform} đã được phát hành")]
    Exists { version: String, platform: String },
    #[error("không có bản phát hành {version} cho {platform}")]
    NotFound { version: String, platform: String },
    #[error("không đọc/ghi được {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lỗi cơ sở dữ liệu: {0}")]
    Db(#[from] sqlx::Error),
}

/// The longest package accepted (an installer is far smaller).
pub const MAX_PACKAGE_BYTES: u64 = 500 * 1024 * 1024;

/// Publishes a release: checks the version and platform, the signature against `pubkey` (the
/// app's release key, base64 as in `tauri.conf.json`) when given, copies the package into
/// `dir`, then records it.
pub async fn publish(
    db: &Db,
    dir: &Path,
    new: &NewRelease<'_>,
    pubkey: Option<&str>,
) -> Result<Release, ReleaseError> {
    let version = semver::Version::parse(new.version.trim())
        .map_err(|_| ReleaseError::BadVersion(new.version.to_string()))?;
    let platform = new.platform.trim().to_ascii_lowercase();
    if !valid_platform(&platform) {
        return Err(ReleaseError::BadPlatform(new.platform.to_string()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReleaseError::Io { path, source }
    };
    let size = std::fs::metadata(new.package)
        .map_err(io(new.package))?
        .len();
    if size > MAX_PACKAGE_BYTES {
        return Err(ReleaseError::Io {
            path: new.package.to_path_buf(),
            source: std::io::Error::other("gói lớn hơn 500 MB"),
        });
    }
    let bytes = std::fs::read(new.package).map_err(io(new.package))?;
    let signature = new.signature.trim().to_string();
    let signed_version = check_signature(&bytes, &signature, pubkey)?;
    if let Some(signed) = signed_version
        && signed != version.to_string()
    {
        return Err(ReleaseError::VersionMismatch {
            signed,
            published: version.to_string(),
        });
    }
    let id = uuid::Uuid::now_v7().to_string();
    let file_name = new
        .package
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "goi-cap-nhat".into());
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let stored = dir.join(stored_name(&id));
    let part = stored.with_extension("part");
    std::fs::write(&part, &bytes)
        .and_then(|()| std::fs::rename(&part, &stored))
        .map_err(io(&stored))?;
    let release = Release {
        id,
        version: version.to_string(),
        platform,
        file_name,
        signature,
        notes: new
            .notes
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        published_at: format_time(now()),
        withdrawn_at: None,
    };
    let inserted = with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO releases (id, version, platform, file_name, signature, notes, sha256, size, published_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (version, platform) DO NOTHING",
        )
        .bind(&release.id)
        .bind(&release.version)
        .bind(&release.platform)
        .bind(&release.file_name)
        .bind(&release.signature)
        .bind(&release.notes)
        .bind(&release.sha256)
        .bind(release.size)
        .bind(&release.published_at)
        .execute(pool)
        .await?
        .rows_affected()
    });
    if inserted == 0 {
        let _ = std::fs::remove_file(&stored);
        return Err(ReleaseError::Exists {
            version: release.version,
            platform: release.platform,
        });
    }
    Ok(release)
}

/// Every release, newest first.
pub async fn list(db: &Db) -> Result<Vec<Release>, sqlx::Error> {
    let mut all = with_db!(db, pool => {
        sqlx::query(concat!("SELECT ", release_columns!(), " FROM releases"))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| release_row!(r))
            .collect::<Vec<_>>()
    });
    all.sort_by(|a, b| newer(b, a));
    Ok(all)
}

/// The newest release for `platform` that is newer than `current`, if any (withdrawn ones never).
pub async fn update_for(
    db: &Db,
    platform: &str,
    current: &str,
) -> Result<Option<Release>, sqlx::Error> {
    let Ok(current) = semver::Version::parse(current.trim()) else {
        return Ok(None);
    };
    Ok(list(db)
        .await?
        .into_iter()
        .filter(|r| r.platform == platform && r.withdrawn_at.is_none())
        .filter(|r| semver::Version::parse(&r.version).is_ok_and(|v| v > current))
        .max_by(newer))
}

/// One release by id (withdrawn ones too: a download under way finishes).
pub async fn release(db: &Db, id: &str) -> Result<Option<Release>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(concat!("SELECT ", release_columns!(), " FROM releases WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .map(|r| release_row!(r))
    }))
}

/// Withdraws a release: no station is offered it any more.
pub async fn withdraw(db: &Db, version: &str, platform: &str) -> Result<(), ReleaseError> {
    let done = with_db!(db, pool => {
        sqlx::query("UPDATE releases SET withdrawn_at = $1 WHERE version = $2 AND platform = $3 AND withdrawn_at IS NULL")
            .bind(format_time(now()))
            .bind(version.trim())
            .bind(platform.trim())
            .execute(pool)
            .await?
            .rows_affected()
    });
    if done == 0 {
        return Err(ReleaseError::NotFound {
            version: version.to_string(),
            platform: platform.to_string(),
        });
    }
    Ok(())
}

/// Where a release's package is kept in the updates folder.
pub fn package_path(dir: &Path, release: &Release) -> PathBuf {
    dir.join(stored_name(&release.id))
}

fn stored_name(id: &str) -> String {
    format!("{id}.package")
}

fn newer(a: &Release, b: &Release) -> std::cmp::Ordering {
    let v = |r: &Release| semver::Version::parse(&r.version).ok();
    v(a).cmp(&v(b))
}

fn valid_platform(p: &str) -> bool {
    let mut parts = p.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(os), Some(arch), None)
            if matches!(os, "linux" | "windows" | "darwin")
                && !arch.is_empty()
                && arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    )
}

/// Decodes the signature (and checks it against `pubkey` when given, with the verifier Tauri's
/// updater uses). Returns the version the signature is bound to, if it names one.
fn check_signature(
    bytes: &[u8],
    signature: &str,
    pubkey: Option<&str>,
) -> Result<Option<String>, ReleaseError> {
    let text = |b64: &str, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ReleaseError::BadSignature(format!("{what} không phải base64")))
    };
    let sig = minisign_verify::Signature::decode(&text(signature, "chữ ký")?)
        .map_err(|e| ReleaseError::BadSignature(e.to_string()))?;
    if let Some(key) = pubkey {
        let key = minisign_verify::PublicKey::decode(&text(key, "khoá công khai")?)
            .map_err(|e| ReleaseError::BadSignature(format!("khoá công khai: {e}")))?;
        key.verify(bytes, &sig, false)
            .map_err(|_| ReleaseError::SignatureMismatch)?;
    }
    // The trusted comment (covered by the signature) says `…\tversion:X` when signed with
    // `--app-version X`.
    Ok(sig
        .trusted_comment()
        .split('\t')
        .find_map(|f| f.strip_prefix("version:"))
        .map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_os_dash_arch_as_the_updater_names_them() {
        assert!(valid_platform("linux-x86_64"));
        assert!(valid_platform("windows-x86_64"));
        assert!(valid_platform("darwin-aarch64"));
        for bad in [
            "linux",
            "linux-",
            "bsd-x86_64",
            "linux-x86_64-extra",
            "../etc-x",
        ] {
            assert!(!valid_platform(bad), "{bad}");
        }
    }

    #[test]
    fn an_unreadable_signature_is_refused_with_its_reason() {
        assert!(matches!(
            check_signature(b"goi", "khong phai base64 !", None),
            Err(ReleaseError::BadSignature(_))
        ));
    }
}
