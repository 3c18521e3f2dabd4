//! What stations pull (docs/design.md §5): a facility's feed of changes and snapshots, the
//! documents of its scope for a bootstrap, and a person's stored document. No HTTP here.

use crate::db::Db;
use crate::with_db;
use sqlx::Row;

/// One entry of a facility's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    pub seq: i64,
    pub person_id: String,
    /// The person's whole document is due instead of the change.
    pub snapshot: bool,
    /// The change's bytes.
    pub bytes: Vec<u8>,
}

/// `facility`'s feed in `(after, upto]`, at most `limit` entries, less `except_device`'s changes.
pub async fn page(
    db: &Db,
    facility: &str,
    after: i64,
    upto: i64,
    except_device: &str,
    limit: i64,
) -> Result<Vec<FeedEntry>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT f.seq, f.person_id, f.snapshot, c.bytes
             FROM feed f JOIN changes c ON c.seq = f.seq
             WHERE f.facility = $1 AND f.seq > $2 AND f.seq <= $3 AND c.device_id <> $4
             ORDER BY f.seq LIMIT $5",
        )
        .bind(facility)
        .bind(after)
        .bind(upto)
        .bind(except_device)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| FeedEntry {
            seq: r.get("seq"),
            person_id: r.get("person_id"),
            snapshot: r.get("snapshot"),
            bytes: r.get("bytes"),
        })
        .collect()
    }))
}

/// `(person id, stored document)` of `facility`'s scope after the id `after`, at most `limit`.
pub async fn scope_documents(
    db: &Db,
    facility: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, Vec<u8>)>, sqlx::Error> {
    Ok(with_db!(db, pool => {
        sqlx::query(
            "SELECT s.person_id, d.doc FROM person_scope s JOIN documents d ON d.person_id = s.person_id
             WHERE s.facility = $1 AND s.person_id > $2 ORDER BY s.person_id LIMIT $3",
        )
        .bind(facility)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| (r.get("person_id"), r.get("doc")))
        .collect()
    }))
}

/// A person's stored document (Automerge's compressed save), if there is one.
pub async fn document(db: &Db, person: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query_scalar("SELECT doc FROM documents WHERE person_id = $1")
            .bind(person)
            .fetch_optional(pool)
            .await
    })
}
