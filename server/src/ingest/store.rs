//! What the checks read (stored changes, actors, documents, scopes, signed doses, step-up
//! grants) and the one transaction that writes a group.

use crate::db::Db;
use crate::with_db;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use sync_protocol::columns::{DoseColumns, PersonColumns};
use sync_protocol::person::parse_time;
use sync_protocol::rules::{Grant, SensitiveField, SignedDose};
use sync_protocol::{Dose, Person};
use uuid::Uuid;

/// Doses accepted signing runs cover, by dose.
pub(super) type SignedDoses = BTreeMap<Uuid, SignedDose>;

pub(super) async fn known_hashes(
    db: &Db,
    hashes: &[Vec<u8>],
) -> Result<HashSet<Vec<u8>>, sqlx::Error> {
    let mut out = HashSet::new();
    for chunk in hashes.chunks(500) {
        let rows: Vec<Vec<u8>> = with_db!(db, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT hash FROM changes WHERE hash IN (");
            let mut list = q.separated(", ");
            for h in chunk {
                list.push_bind(h.clone());
            }
            q.push(")");
            q.build_query_scalar().fetch_all(pool).await?
        });
        out.extend(rows);
    }
    Ok(out)
}

/// The devices `device` replaces, nearest first (a laptop rebuilt from a backup of a laptop
/// that was itself rebuilt…), at most 16 deep.
pub(super) async fn replaced_devices(db: &Db, device: &str) -> Result<Vec<String>, sqlx::Error> {
    let mut chain: Vec<String> = Vec::new();
    let mut current = device.to_string();
    while chain.len() < 16 {
        let next: Option<Option<String>> = with_db!(db, pool => {
            sqlx::query_scalar("SELECT replaces FROM devices WHERE id = $1")
                .bind(&current)
                .fetch_optional(pool)
                .await?
        });
        match next.flatten() {
            Some(d) if d != device && !chain.contains(&d) => {
                chain.push(d.clone());
                current = d;
            }
            _ => break,
        }
    }
    Ok(chain)
}

pub(super) async fn actor_owners(
    db: &Db,
    actors: &[Vec<u8>],
) -> Result<HashMap<Vec<u8>, String>, sqlx::Error> {
    let mut out = HashMap::new();
    for chunk in actors.chunks(500) {
        let rows: Vec<(Vec<u8>, String)> = with_db!(db, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT actor, device_id FROM actors WHERE actor IN (");
            let mut list = q.separated(", ");
            for a in chunk {
                list.push_bind(a.clone());
            }
            q.push(")");
            q.build().fetch_all(pool).await?.iter().map(|r| (r.get("actor"), r.get("device_id"))).collect()
        });
        out.extend(rows);
    }
    Ok(out)
}

pub(super) async fn load_docs(
    db: &Db,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<u8>>, sqlx::Error> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, Vec<u8>)> = with_db!(db, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT person_id, doc FROM documents WHERE person_id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            q.push(")");
            q.build().fetch_all(pool).await?.iter().map(|r| (r.get("person_id"), r.get("doc"))).collect()
        });
        for (id, doc) in rows {
            if let Ok(id) = Uuid::parse_str(&id) {
                out.insert(id, doc);
            }
        }
    }
    Ok(out)
}

pub(super) async fn load_signed(
    db: &Db,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, SignedDoses>, sqlx::Error> {
    let mut out: HashMap<Uuid, SignedDoses> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, String, String)> = with_db!(db, pool => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT s.person_id, s.dose_id, s.batch_id, b.signer FROM signed_doses s \
                 JOIN signing_batches b ON b.id = s.batch_id WHERE s.person_id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            q.push(")");
            q.build().fetch_all(pool).await?.iter()
                .map(|r| (r.get("person_id"), r.get("dose_id"), r.get("batch_id"), r.get("signer")))
                .collect()
        });
        for (person, dose, batch, signer) in rows {
            if let (Ok(person), Ok(dose), Ok(batch)) = (
                Uuid::parse_str(&person),
                Uuid::parse_str(&dose),
                Uuid::parse_str(&batch),
            ) {
                out.entry(person).or_default().insert(
                    dose,
                    SignedDose {
                        batch_id: batch,
                        signer,
                    },
                );
            }
        }
    }
    Ok(out)
}

pub(super) async fn load_scopes(
    db: &Db,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, BTreeSet<String>>, sqlx::Error> {
    let mut out: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String)> = with_db!(db, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT person_id, facility FROM person_scope WHERE person_id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            q.push(")");
            q.build().fetch_all(pool).await?.iter().map(|r| (r.get("person_id"), r.get("facility"))).collect()
        });
        for (id, facility) in rows {
            if let Ok(id) = Uuid::parse_str(&id) {
                out.entry(id).or_default().insert(facility);
            }
        }
    }
    Ok(out)
}
/// Who holds each of these dose ids: dose → person, for the ids that are stored.
pub(super) async fn dose_owners(db: &Db, ids: &[Uuid]) -> Result<HashMap<Uuid, Uuid>, sqlx::Error> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let chunk: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
        let rows: Vec<(String, String)> = with_db!(db, pool => {
            let mut q = sqlx::QueryBuilder::new("SELECT id, person_id FROM doses WHERE id IN (");
            crate::db::in_list!(q, chunk);
            q.build().fetch_all(pool).await?.iter().map(|r| (r.get("id"), r.get("person_id"))).collect()
        });
        for (dose, person) in rows {
            if let (Ok(dose), Ok(person)) = (Uuid::parse_str(&dose), Uuid::parse_str(&person)) {
                out.insert(dose, person);
            }
        }
    }
    Ok(out)
}

/// The step-up grants named by `ids`, by grant and person.
pub(super) async fn load_grants(
    db: &Db,
    ids: &[String],
) -> Result<HashMap<(String, Uuid), Grant>, sqlx::Error> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, String, String, String)> = with_db!(db, pool => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT id, person_id, username, fields, expires_at FROM step_up_grants WHERE id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.clone());
            }
            q.push(")");
            q.build().fetch_all(pool).await?.iter()
                .map(|r| (r.get("id"), r.get("person_id"), r.get("username"), r.get("fields"), r.get("expires_at")))
                .collect()
        });
        for (id, person, user, fields, expires) in rows {
            let (Ok(person_id), Some(expires_at)) =
                (Uuid::parse_str(&person), parse_time(&expires))
            else {
                continue;
            };
            let grant = Grant {
                id: id.clone(),
                user,
                person_id,
                fields: fields
                    .split(',')
                    .filter_map(SensitiveField::parse)
                    .collect(),
                expires_at,
            };
            out.insert((id, person_id), grant);
        }
    }
    Ok(out)
}

/// Writes one group in one transaction.
pub(super) async fn write_group(db: &Db, g: &GroupWrite) -> Result<(), sqlx::Error> {
    let received_at = g.received_at.as_str();
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for chunk in g.changes.chunks(500) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO changes (seq, hash, person_id, device_id, author, bytes, received_at) ",
            );
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.seq as i64)
                    .push_bind(c.hash.clone())
                    .push_bind(c.person_id.clone())
                    .push_bind(c.device.clone())
                    .push_bind(c.author.clone())
                    .push_bind(c.bytes.clone())
                    .push_bind(received_at.to_string());
            });
            q.build().execute(&mut *tx).await?;
        }
        for chunk in g.feed.chunks(1000) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO feed (facility, seq, person_id, snapshot) ");
            q.push_values(chunk, |mut b, (f, s, p, snap)| {
                b.push_bind(f.clone()).push_bind(*s as i64).push_bind(p.clone()).push_bind(*snap);
            });
            q.build().execute(&mut *tx).await?;
        }
        for chunk in g.scope.chunks(1000) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO person_scope (facility, person_id, since_seq) ");
            q.push_values(chunk, |mut b, (f, p, s)| {
                b.push_bind(f.clone()).push_bind(p.clone()).push_bind(*s as i64);
            });
            q.push(" ON CONFLICT (facility, person_id) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        for (actor, device) in &g.actors {
            sqlx::query("INSERT INTO actors (actor, device_id) VALUES ($1, $2) ON CONFLICT (actor) DO NOTHING")
                .bind(actor)
                .bind(device)
                .execute(&mut *tx)
                .await?;
        }
        let mut counts = super::counts::CountDeltas::default();
        {
            for chunk in g.full.chunks(400) {
                // The console's counts: what each document counted for before this write.
                if g.console_counts {
                    let ids: Vec<&str> = chunk.iter().map(|row| row.person_id.as_str()).collect();
                    let mut old = sqlx::QueryBuilder::new(
                        "SELECT managing_facility, verification, merged_into FROM documents WHERE person_id IN (",
                    );
                    crate::db::in_list!(old, ids);
                    for r in old.build().fetch_all(&mut *tx).await? {
                        counts.person(
                            r.get::<&str, _>("managing_facility"),
                            r.get::<&str, _>("verification"),
                            r.get::<Option<&str>, _>("merged_into").is_some(),
                            -1,
                        );
                    }
                    for row in chunk {
                        let c = PersonColumns::of(&row.after);
                        counts.person(c.managing_facility, c.verification, c.merged_into.is_some(), 1);
                    }
                }
                let mut q = sqlx::QueryBuilder::new(INSERT_DOCUMENTS);
                q.push_values(chunk, |mut b, row| {
                    let c = PersonColumns::of(&row.after);
                    b.push_bind(row.person_id.as_str())
                        .push_bind(row.doc.as_slice())
                        .push_bind(row.last_seq)
                        .push_bind(c.full_name)
                        .push_bind(c.name_key)
                        .push_bind(c.gender)
                        .push_bind(c.birth_date)
                        .push_bind(c.birth_year)
                        .push_bind(c.id_kind)
                        .push_bind(c.id_number)
                        .push_bind(c.phone)
                        .push_bind(c.province)
                        .push_bind(c.commune)
                        .push_bind(c.nationality)
                        .push_bind(c.managing_facility)
                        .push_bind(c.verification)
                        .push_bind(c.merged_into)
                        .push_bind(received_at);
                });
                q.push(UPSERT_ALL);
                q.build().execute(&mut *tx).await?;
            }
        }
        for chunk in g.doc_only.chunks(1000) {
            // Same SQL on both: VALUES columns are named column1, column2, … by each.
            let mut q = sqlx::QueryBuilder::new("UPDATE documents SET updated_at = ");
            q.push_bind(received_at);
            q.push(", doc = v.column2, last_seq = v.column3 FROM (");
            q.push_values(chunk, |mut b, (person, doc, last_seq)| {
                b.push_bind(person.as_str()).push_bind(doc.as_slice()).push_bind(*last_seq);
            });
            q.push(") AS v WHERE documents.person_id = v.column1");
            q.build().execute(&mut *tx).await?;
        }
        for chunk in g.doses.chunks(800) {
            // The console's counts: what each dose counted for before this write.
            if g.console_counts {
                let ids: Vec<String> = chunk.iter().map(|(_, dose)| dose.id.to_string()).collect();
                let mut old = sqlx::QueryBuilder::new(
                    "SELECT id, person_id, facility, given_at, voided, signed_batch, dose_number FROM doses WHERE id IN (",
                );
                crate::db::in_list!(old, ids);
                let ours: HashSet<(&str, &str)> = chunk
                    .iter()
                    .map(|(person, _)| person.as_str())
                    .zip(ids.iter().map(String::as_str))
                    .collect();
                for r in old.build().fetch_all(&mut *tx).await? {
                    // Only the rows this write replaces (one of another person's is never
                    // touched: the upsert below keeps it).
                    if !ours.contains(&(r.get::<&str, _>("person_id"), r.get::<&str, _>("id"))) {
                        continue;
                    }
                    counts.dose(
                        super::counts::DoseFacts {
                            facility: r.get("facility"),
                            given_at: r.get("given_at"),
                            voided: r.get("voided"),
                            signed: r.get::<Option<&str>, _>("signed_batch").is_some(),
                            dose_number: r.get("dose_number"),
                        },
                        -1,
                    );
                }
                for (_, dose) in chunk {
                    let c = DoseColumns::of(dose);
                    counts.dose(
                        super::counts::DoseFacts {
                            facility: c.facility,
                            given_at: &c.given_at,
                            voided: c.voided,
                            signed: c.signed_batch.is_some(),
                            dose_number: c.dose_number,
                        },
                        1,
                    );
                }
            }
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO doses (id, person_id, vaccine, lot, dose_number, kind, given_at, facility,
                    vaccinator, voided, signed_batch) ",
            );
            q.push_values(chunk, |mut b, (person, dose)| {
                let c = DoseColumns::of(dose);
                b.push_bind(c.id)
                    .push_bind(person.as_str())
                    .push_bind(c.vaccine)
                    .push_bind(c.lot)
                    .push_bind(c.dose_number)
                    .push_bind(c.kind)
                    .push_bind(c.given_at)
                    .push_bind(c.facility)
                    .push_bind(c.vaccinator)
                    .push_bind(c.voided)
                    .push_bind(c.signed_batch);
            });
            q.push(
                " ON CONFLICT (id) DO UPDATE SET vaccine = excluded.vaccine, lot = excluded.lot,
                        dose_number = excluded.dose_number, kind = excluded.kind,
                        given_at = excluded.given_at, facility = excluded.facility,
                        vaccinator = excluded.vaccinator, voided = excluded.voided,
                        signed_batch = excluded.signed_batch
                 WHERE doses.person_id = excluded.person_id",
            );
            q.build().execute(&mut *tx).await?;
        }
        for chunk in counts.dose_rows().chunks(500) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO dose_counts (facility, day, recorded, active, signed, first_doses) ",
            );
            q.push_values(chunk, |mut b, (facility, day, t)| {
                b.push_bind(*facility)
                    .push_bind(*day)
                    .push_bind(t.recorded)
                    .push_bind(t.active)
                    .push_bind(t.signed)
                    .push_bind(t.first_doses);
            });
            q.push(
                " ON CONFLICT (facility, day) DO UPDATE SET
                    recorded = dose_counts.recorded + excluded.recorded,
                    active = dose_counts.active + excluded.active,
                    signed = dose_counts.signed + excluded.signed,
                    first_doses = dose_counts.first_doses + excluded.first_doses",
            );
            q.build().execute(&mut *tx).await?;
        }
        for chunk in counts.people_rows().chunks(500) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO person_counts (facility, verification, people) ",
            );
            q.push_values(chunk, |mut b, (facility, verification, n)| {
                b.push_bind(*facility).push_bind(*verification).push_bind(*n);
            });
            q.push(
                " ON CONFLICT (facility, verification) DO UPDATE SET
                    people = person_counts.people + excluded.people",
            );
            q.build().execute(&mut *tx).await?;
        }
        for r in &g.rejections {
            sqlx::query(
                "INSERT INTO rejections (device_id, person_id, hash, reason, message, at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&r.device)
            .bind(&r.person_id)
            .bind(&r.hash)
            .bind(r.reason)
            .bind(&r.message)
            .bind(received_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    })
}

const INSERT_DOCUMENTS: &str =
    "INSERT INTO documents (person_id, doc, last_seq, full_name, name_key,
    gender, birth_date, birth_year, id_kind, id_number, phone, province, commune, nationality,
    managing_facility, verification, merged_into, updated_at) ";

const UPSERT_ALL: &str = " ON CONFLICT (person_id) DO UPDATE SET doc = excluded.doc,
    last_seq = excluded.last_seq, full_name = excluded.full_name, name_key = excluded.name_key,
    gender = excluded.gender, birth_date = excluded.birth_date, birth_year = excluded.birth_year,
    id_kind = excluded.id_kind, id_number = excluded.id_number, phone = excluded.phone,
    province = excluded.province, commune = excluded.commune, nationality = excluded.nationality,
    managing_facility = excluded.managing_facility, verification = excluded.verification,
    merged_into = excluded.merged_into, updated_at = excluded.updated_at";

/// Everything one group writes, in one transaction.
pub(super) struct GroupWrite {
    pub(super) changes: Vec<ChangeRow>,
    /// (facility, seq, person, snapshot)
    pub(super) feed: Vec<(String, u64, String, bool)>,
    /// (facility, person, since_seq)
    pub(super) scope: Vec<(String, String, u64)>,
    /// (actor, device)
    pub(super) actors: Vec<(Vec<u8>, String)>,
    pub(super) rejections: Vec<RejectionRow>,
    /// Documents with changed columns.
    pub(super) full: Vec<DocRow>,
    /// (person, document, last seq) of documents whose columns stayed the same.
    pub(super) doc_only: Vec<(String, Vec<u8>, i64)>,
    /// (person, dose) for changed doses.
    pub(super) doses: Vec<(String, Dose)>,
    pub(super) received_at: String,
    /// Whether to keep the console's counts in step (off only to measure what they cost).
    pub(super) console_counts: bool,
}

pub(super) struct DocRow {
    pub(super) person_id: String,
    pub(super) doc: Vec<u8>,
    pub(super) last_seq: i64,
    pub(super) after: Box<Person>,
}

pub(super) struct RejectionRow {
    pub(super) device: String,
    pub(super) person_id: String,
    pub(super) hash: Option<Vec<u8>>,
    pub(super) reason: &'static str,
    pub(super) message: String,
}

pub(super) struct ChangeRow {
    pub(super) seq: u64,
    pub(super) hash: Vec<u8>,
    pub(super) person_id: String,
    pub(super) device: String,
    pub(super) author: Option<String>,
    pub(super) bytes: Vec<u8>,
}
