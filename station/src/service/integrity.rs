//! The integrity check: documents, columns, outbox and audit log agree.

use super::Station;
use crate::audit;
use crate::error::Result;
use automerge::{Change, ReadDoc};
use sqlx::Row;
use std::collections::BTreeMap;
use sync_protocol::person::format_time;
use sync_protocol::{PersonDoc, text};

impl Station {
    /// Checks that every document agrees with its columns, dose rows and outbox entries, that the
    /// audit chain holds and that SQLite finds the file sound. Returns the problems found.
    pub async fn check_integrity(&self) -> Result<Vec<String>> {
        self.reader()?;
        let mut problems = Vec::new();
        let mut conn = self.store.pool().acquire().await?;
        let sqlite: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut *conn)
            .await?;
        if sqlite != ["ok"] {
            problems.extend(sqlite.into_iter().map(|m| format!("sqlite: {m}")));
        }
        let rows = sqlx::query(
            "SELECT id, doc, heads, full_name, name_key, phone, id_number, verification, managing_facility
             FROM persons",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut docs = BTreeMap::new();
        for r in &rows {
            let id: String = r.get("id");
            let doc = match PersonDoc::load(&r.get::<Vec<u8>, _>("doc")) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(format!("{id}: tài liệu không đọc được: {e}"));
                    continue;
                }
            };
            let p = match doc.read() {
                Ok(p) => p,
                Err(e) => {
                    problems.push(format!("{id}: {e}"));
                    continue;
                }
            };
            let heads: Vec<u8> = doc.heads().iter().flat_map(|h| h.0).collect();
            if r.get::<Vec<u8>, _>("heads") != heads {
                problems.push(format!("{id}: cột heads khác tài liệu"));
            }
            let columns_match = r.get::<String, _>("full_name") == p.full_name
                && r.get::<String, _>("name_key") == text::fold(&p.full_name)
                && r.get::<Option<String>, _>("phone") == p.phone
                && r.get::<Option<String>, _>("id_number") == p.identity.number
                && r.get::<String, _>("verification") == p.verification.status.as_str()
                && r.get::<String, _>("managing_facility") == p.managing_facility;
            if !columns_match || p.id.to_string() != id {
                problems.push(format!("{id}: cột tìm kiếm khác tài liệu"));
            }
            docs.insert(id, (doc, p));
        }
        let dose_rows =
            sqlx::query("SELECT id, person_id, dose_number, voided, given_at FROM doses")
                .fetch_all(&mut *conn)
                .await?;
        let mut seen_doses = 0usize;
        for r in &dose_rows {
            let id: String = r.get("id");
            let person_id: String = r.get("person_id");
            let matches = docs.get(&person_id).and_then(|(_, p)| {
                let d = p.doses.values().find(|d| d.id.to_string() == id)?;
                Some(
                    i64::from(d.dose_number) == r.get::<i64, _>("dose_number")
                        && d.voided.is_some() == r.get::<bool, _>("voided")
                        && format_time(d.given_at) == r.get::<String, _>("given_at"),
                )
            });
            match matches {
                Some(true) => seen_doses += 1,
                Some(false) => problems.push(format!("mũi {id}: cột khác tài liệu")),
                None => problems.push(format!(
                    "mũi {id}: không có trong tài liệu của người {person_id}"
                )),
            }
        }
        let doc_doses: usize = docs.values().map(|(_, p)| p.doses.len()).sum();
        if doc_doses != seen_doses {
            problems.push(format!(
                "tài liệu có {doc_doses} mũi nhưng bảng doses có {seen_doses} mũi khớp"
            ));
        }
        let outbox = sqlx::query("SELECT change_hash, person_id, change FROM outbox")
            .fetch_all(&mut *conn)
            .await?;
        for r in &outbox {
            let person_id: String = r.get("person_id");
            let bytes: Vec<u8> = r.get("change");
            let stored_hash: Vec<u8> = r.get("change_hash");
            let ok = match (Change::from_bytes(bytes), docs.get(&person_id)) {
                (Ok(c), Some((doc, _))) => {
                    c.hash().0.as_slice() == stored_hash.as_slice()
                        && doc.automerge().get_change_by_hash(&c.hash()).is_some()
                }
                _ => false,
            };
            if !ok {
                problems.push(format!(
                    "thay đổi chờ gửi của người {person_id} không khớp tài liệu"
                ));
            }
        }
        if let Err(b) = audit::verify(&mut conn).await? {
            problems.push(format!(
                "nhật ký kiểm tra hỏng tại mục {} ({})",
                b.seq, b.reason
            ));
        }
        Ok(problems)
    }
}
