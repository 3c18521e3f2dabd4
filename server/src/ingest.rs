//! Accepting pushed changes. One writer task owns the sequence: it takes every push waiting in
//! its queue as one group, validates each person's changes against the current document (in
//! parallel across people), and commits the whole group in one transaction. Sequence numbers
//! are therefore assigned and committed in order, so a pull never skips a change that commits
//! late, on SQLite and PostgreSQL alike; and one fsync serves many devices.

use crate::admin;
use crate::db::Db;
use crate::scope::Facilities;
use crate::with_db;
use automerge::{Change, ChangeHash};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use sync_protocol::columns::{DoseColumns, PersonColumns};
use sync_protocol::person::{format_time, now};
use sync_protocol::wire::{MAX_CHANGE_BYTES, PushResult, PushedChange, RejectReason};
use sync_protocol::{CommitMeta, Dose, Person, PersonDoc, VerificationStatus, validate};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The device a push comes from.
#[derive(Debug, Clone)]
pub struct DeviceCtx {
    pub id: String,
    pub facility: String,
}

/// The server's own writer (verification results): not a device any token can name.
pub const SYSTEM_DEVICE: &str = "system:verification";
/// The author of the server's own changes; `:` never appears in an account's username.
pub const SYSTEM_USER: &str = "he-thong:csdlqg";

impl DeviceCtx {
    /// The server itself, writing verification results into documents.
    pub fn system() -> DeviceCtx {
        DeviceCtx {
            id: SYSTEM_DEVICE.into(),
            facility: String::new(),
        }
    }

    fn is_system(&self) -> bool {
        self.id == SYSTEM_DEVICE
    }
}

/// Why a push could not be processed at all (the device should retry later).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("lỗi cơ sở dữ liệu của máy chủ: {0}")]
    Db(#[from] sqlx::Error),
    #[error("máy chủ đang dừng")]
    Stopped,
}

struct Job {
    device: DeviceCtx,
    changes: Vec<PushedChange>,
    reply: oneshot::Sender<Result<Vec<PushResult>, IngestError>>,
}

/// The handle handlers push through.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
    high_water: Arc<AtomicU64>,
}

/// Most changes taken into one group (one transaction).
const GROUP_CHANGES: usize = 4000;

impl Ingest {
    /// Starts the writer task on `db`.
    pub async fn start(db: Db) -> Result<Ingest, sqlx::Error> {
        let last: Option<i64> = with_db!(&db, pool => {
            sqlx::query_scalar("SELECT max(seq) FROM changes").fetch_one(pool).await?
        });
        let last = u64::try_from(last.unwrap_or(0)).unwrap_or(0);
        let high_water = Arc::new(AtomicU64::new(last));
        let (tx, rx) = mpsc::channel(1024);
        let writer = Writer {
            db,
            next_seq: last + 1,
            high_water: high_water.clone(),
            facilities: Arc::new(Facilities::default()),
            facilities_loaded: None,
            overlay: Overlay::default(),
        };
        tokio::spawn(writer.run(rx));
        Ok(Ingest { tx, high_water })
    }

    /// Validates and stores a device's changes; one result per change, in order.
    pub async fn push(
        &self,
        device: DeviceCtx,
        changes: Vec<PushedChange>,
    ) -> Result<Vec<PushResult>, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                device,
                changes,
                reply,
            })
            .await
            .map_err(|_| IngestError::Stopped)?;
        rx.await.map_err(|_| IngestError::Stopped)?
    }

    /// The highest sequence number committed so far.
    pub fn high_water(&self) -> u64 {
        self.high_water.load(Ordering::Acquire)
    }
}

struct Writer {
    db: Db,
    next_seq: u64,
    high_water: Arc<AtomicU64>,
    facilities: Arc<Facilities>,
    facilities_loaded: Option<Instant>,
    /// What the group being written (not yet committed) changes, seen by the next plan.
    overlay: Overlay,
}

/// The effects of a planned group, for planning the next group while it is written.
#[derive(Default)]
struct Overlay {
    docs: HashMap<Uuid, Vec<u8>>,
    scopes: HashMap<Uuid, BTreeSet<String>>,
    hashes: HashSet<Vec<u8>>,
    actors: HashMap<Vec<u8>, String>,
}

/// A validated group, ready to be written.
struct Plan {
    write: GroupWrite,
    results: Vec<Vec<PushResult>>,
    /// The sequence number of its last change, if it has any.
    high_water: Option<u64>,
    overlay: Overlay,
}

/// A group being written, with whom to answer when it is committed.
struct InFlight {
    handle: tokio::task::JoinHandle<Result<(), sqlx::Error>>,
    answers: Answers,
}

/// The devices of a group and what to tell them once it is committed.
struct Answers {
    jobs: Vec<Job>,
    results: Vec<Vec<PushResult>>,
    high_water: Option<u64>,
}

/// One pushed change on its way through a group.
struct Entry {
    job: usize,
    person_id: Uuid,
    device: String,
    facility: String,
    owner: String,
    change: Option<Change>,
    result: Option<PushResult>,
}

/// What the validation of one person's incoming changes decided.
struct PersonOutcome {
    person_id: Uuid,
    verdicts: Vec<(usize, PushResult)>,
    /// Accepted entries in causal order.
    accepted: Vec<usize>,
    /// The saved document after the accepted changes and what they amount to. Saved here, in
    /// parallel, so the (large) in-memory document is dropped at once.
    result: Option<(Vec<u8>, Accepted)>,
    /// The sequence number of the last accepted change, once assigned.
    last_seq: u64,
}

/// What a person's accepted changes amount to.
enum Accepted {
    /// The whole person, before (none for a new person) and after.
    Person {
        before: Option<Box<Person>>,
        after: Box<Person>,
    },
    /// Only new doses (recording a dose, by far the most common push): the rest is unchanged.
    NewDoses(Vec<Dose>),
}

impl Accepted {
    /// The facilities that may replicate the person afterwards (scope never shrinks).
    fn scope(&self, persisted: &BTreeSet<String>, facilities: &Facilities) -> BTreeSet<String> {
        let mut scope = persisted.clone();
        match self {
            Accepted::Person { after, .. } => scope.extend(facilities.scope_of(after)),
            Accepted::NewDoses(doses) => {
                scope.extend(doses.iter().map(|d| facilities.owner(&d.facility)))
            }
        }
        scope
    }
}

fn rejected(reason: RejectReason, message: impl Into<String>) -> PushResult {
    PushResult::Rejected {
        reason,
        message: message.into(),
    }
}

impl Writer {
    /// Plans each group while the previous one is being written: validation (CPU) of group
    /// N+1 overlaps the transaction (I/O) of group N. Answers go out once a group is committed.
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut in_flight: Option<InFlight> = None;
        loop {
            let first = tokio::select! {
                biased;
                done = async { (&mut in_flight.as_mut().expect("guarded").handle).await }, if in_flight.is_some() => {
                    if let Some(f) = in_flight.take() {
                        self.finish(f.answers, flatten(done));
                    }
                    self.overlay = Overlay::default();
                    continue;
                }
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => break,
                },
            };
            let mut count = first.changes.len();
            let mut jobs = vec![first];
            while count < GROUP_CHANGES {
                match rx.try_recv() {
                    Ok(job) => {
                        count += job.changes.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            let plan = self.plan(&jobs).await;
            // The previous group must be committed before this one is written after it.
            let previous_ok = match in_flight.take() {
                Some(f) => {
                    let done = flatten(f.handle.await);
                    let ok = done.is_ok();
                    self.finish(f.answers, done);
                    ok
                }
                None => true,
            };
            match (previous_ok, plan) {
                (true, Ok(plan)) => {
                    self.overlay = plan.overlay;
                    let db = self.db.clone();
                    let write = plan.write;
                    in_flight = Some(InFlight {
                        handle: tokio::spawn(async move { write_group(&db, &write).await }),
                        answers: Answers {
                            jobs,
                            results: plan.results,
                            high_water: plan.high_water,
                        },
                    });
                }
                (_, plan) => {
                    let message = match plan {
                        Err(e) => e.to_string(),
                        Ok(_) => "nhóm trước không ghi được".to_string(),
                    };
                    tracing::error!("ingest group failed: {message}");
                    self.reset().await;
                    for job in jobs {
                        let _ = job
                            .reply
                            .send(Err(IngestError::Db(sqlx::Error::Protocol(message.clone()))));
                    }
                }
            }
        }
        if let Some(f) = in_flight.take() {
            let done = flatten(f.handle.await);
            self.finish(f.answers, done);
        }
    }

    /// Answers a written group's devices.
    fn finish(&mut self, f: Answers, done: Result<(), sqlx::Error>) {
        match done {
            Ok(()) => {
                if let Some(h) = f.high_water {
                    self.high_water.store(h, Ordering::Release);
                }
                for (job, result) in f.jobs.into_iter().zip(f.results) {
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(e) => {
                tracing::error!("ingest write failed: {e}");
                let message = e.to_string();
                for job in f.jobs {
                    let _ = job
                        .reply
                        .send(Err(IngestError::Db(sqlx::Error::Protocol(message.clone()))));
                }
            }
        }
    }

    /// After a failure nothing uncommitted counts: start again from what is stored.
    async fn reset(&mut self) {
        self.overlay = Overlay::default();
        if let Ok(last) = self.stored_high_water().await {
            self.next_seq = last + 1;
            self.high_water.store(last, Ordering::Release);
        }
    }

    async fn stored_high_water(&self) -> Result<u64, sqlx::Error> {
        let last: Option<i64> = with_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT max(seq) FROM changes").fetch_one(pool).await?
        });
        Ok(u64::try_from(last.unwrap_or(0)).unwrap_or(0))
    }

    /// Facilities change rarely (an administrator adds one); re-read them every few seconds.
    async fn facilities(&mut self) -> Result<Arc<Facilities>, sqlx::Error> {
        let stale = self
            .facilities_loaded
            .is_none_or(|t| t.elapsed() > Duration::from_secs(2));
        if stale {
            self.facilities = Arc::new(Facilities::new(admin::facilities(&self.db).await?));
            self.facilities_loaded = Some(Instant::now());
        }
        Ok(self.facilities.clone())
    }

    async fn plan(&mut self, jobs: &[Job]) -> Result<Plan, sqlx::Error> {
        let facilities = self.facilities().await?;
        let mut entries = Vec::new();
        for (j, job) in jobs.iter().enumerate() {
            let owner = if job.device.is_system() {
                SYSTEM_DEVICE.to_string()
            } else {
                facilities.owner(&job.device.facility)
            };
            for c in &job.changes {
                let mut e = Entry {
                    job: j,
                    person_id: c.person_id,
                    device: job.device.id.clone(),
                    facility: job.device.facility.clone(),
                    owner: owner.clone(),
                    change: None,
                    result: None,
                };
                if c.bytes.len() > MAX_CHANGE_BYTES {
                    e.result = Some(rejected(
                        RejectReason::Oversized,
                        format!(
                            "thay đổi dài {} byte, quá giới hạn {MAX_CHANGE_BYTES} byte",
                            c.bytes.len()
                        ),
                    ));
                } else {
                    match Change::from_bytes(c.bytes.clone()) {
                        Ok(change) => e.change = Some(change),
                        Err(err) => {
                            e.result = Some(rejected(
                                RejectReason::Malformed,
                                format!("thay đổi không đọc được: {err}"),
                            ))
                        }
                    }
                }
                entries.push(e);
            }
        }

        // The same change twice in this group, or already stored: acknowledged, not stored again.
        let mut seen = HashSet::new();
        for e in entries.iter_mut() {
            if let (None, Some(c)) = (&e.result, &e.change)
                && !seen.insert(c.hash())
            {
                e.result = Some(PushResult::Duplicate);
            }
        }
        let pending_hashes: Vec<Vec<u8>> = pending(&entries).map(|e| hash_of(e).to_vec()).collect();
        let known = self.known_hashes(&pending_hashes).await?;
        for e in entries.iter_mut() {
            let h = hash_of(e);
            if e.result.is_none()
                && (known.contains(h.as_slice()) || self.overlay.hashes.contains(h.as_slice()))
            {
                e.result = Some(PushResult::Duplicate);
            }
        }

        // An actor belongs to the device that first pushed it: no device writes as another.
        let actors: Vec<Vec<u8>> = pending(&entries)
            .filter_map(|e| e.change.as_ref().map(|c| c.actor_id().to_bytes().to_vec()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut actor_owner = self.actor_owners(&actors).await?;
        actor_owner.extend(
            self.overlay
                .actors
                .iter()
                .map(|(a, d)| (a.clone(), d.clone())),
        );
        let mut new_actors: BTreeMap<Vec<u8>, String> = BTreeMap::new();
        for e in entries.iter_mut().filter(|e| e.result.is_none()) {
            let Some(c) = &e.change else { continue };
            let actor = c.actor_id().to_bytes().to_vec();
            match actor_owner.get(&actor) {
                Some(device) if device != &e.device => {
                    e.result = Some(rejected(
                        RejectReason::ForeignActor,
                        "thay đổi mang mã tác giả của một thiết bị khác",
                    ));
                }
                Some(_) => {}
                None => {
                    actor_owner.insert(actor.clone(), e.device.clone());
                    new_actors.insert(actor, e.device.clone());
                }
            }
        }

        // Every change names its author: an active account of the device's facility whose role
        // may make it (the server, not the device, is the security boundary).
        let authors: BTreeSet<String> = pending(&entries)
            .filter_map(|e| {
                e.change
                    .as_ref()
                    .and_then(CommitMeta::from_change)
                    .map(|m| m.user)
            })
            .collect();
        let mut accounts = HashMap::new();
        for a in authors {
            if let Ok(Some(acct)) = crate::accounts::account(&self.db, &a).await {
                accounts.insert(a, acct);
            }
        }
        for e in entries.iter_mut().filter(|e| e.result.is_none()) {
            let Some(c) = &e.change else { continue };
            if e.device == SYSTEM_DEVICE {
                if CommitMeta::from_change(c).is_none_or(|m| m.user != SYSTEM_USER) {
                    e.result = Some(rejected(
                        RejectReason::Forbidden,
                        "thay đổi của máy chủ phải ghi tác giả hệ thống",
                    ));
                }
                continue;
            }
            if let Err(message) = author_may_write(c, &accounts, &e.facility, &e.owner) {
                e.result = Some(rejected(RejectReason::Forbidden, message));
            }
        }

        // Validate each person's changes against their current document.
        let mut by_person: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            if e.result.is_none() {
                by_person.entry(e.person_id).or_default().push(i);
            }
        }
        let person_ids: Vec<Uuid> = by_person.keys().copied().collect();
        let mut docs = self.load_docs(&person_ids).await?;
        let mut scopes = self.load_scopes(&person_ids).await?;
        let mut signed = self.load_signed(&person_ids).await?;
        for id in &person_ids {
            if let Some(doc) = self.overlay.docs.get(id) {
                docs.insert(*id, doc.clone());
            }
            if let Some(scope) = self.overlay.scopes.get(id) {
                scopes.insert(*id, scope.clone());
            }
        }
        let today = now().date();
        let mut work = Vec::new();
        for (person_id, idxs) in by_person {
            let incoming: Vec<Incoming> = idxs
                .iter()
                .filter_map(|&i| {
                    let e = &entries[i];
                    e.change.clone().map(|change| Incoming {
                        entry: i,
                        change,
                        owner: e.owner.clone(),
                    })
                })
                .collect();
            work.push(PersonWork {
                person_id,
                existing: docs.get(&person_id).cloned(),
                scope: scopes.get(&person_id).cloned().unwrap_or_default(),
                signed: signed.remove(&person_id).unwrap_or_default(),
                incoming,
            });
        }
        let facilities_for_work = facilities.clone();
        let outcomes =
            tokio::task::spawn_blocking(move || validate_all(work, &facilities_for_work, today))
                .await
                .map_err(|e| sqlx::Error::Protocol(format!("validation task failed: {e}")))?;
        for o in &outcomes {
            for (i, verdict) in &o.verdicts {
                entries[*i].result = Some(verdict.clone());
            }
        }

        // Store the accepted changes, documents, scope and feed in one transaction.
        let mut seq = self.next_seq;
        let received_at = format_time(now());
        let mut change_rows = Vec::new();
        let mut feed_rows = Vec::new();
        let mut scope_rows = Vec::new();
        let mut used_actors = HashSet::new();
        let mut outcomes = outcomes;
        for o in outcomes.iter_mut() {
            let Some((_, accepted)) = &o.result else {
                continue;
            };
            let mut seqs = Vec::new();
            for &i in &o.accepted {
                let e = &entries[i];
                let Some(c) = &e.change else { continue };
                used_actors.insert(c.actor_id().to_bytes().to_vec());
                change_rows.push(ChangeRow {
                    seq,
                    hash: c.hash().0.to_vec(),
                    person_id: o.person_id.to_string(),
                    device: e.device.clone(),
                    author: CommitMeta::from_change(c).map(|m| m.user),
                    bytes: c.raw_bytes().to_vec(),
                });
                seqs.push(seq);
                entries[i].result = Some(PushResult::Accepted { seq });
                seq += 1;
            }
            let persisted = scopes.get(&o.person_id).cloned().unwrap_or_default();
            let first = seqs.first().copied().unwrap_or(seq);
            for f in accepted.scope(&persisted, &facilities) {
                if persisted.contains(&f) {
                    for &s in &seqs {
                        feed_rows.push((f.clone(), s, o.person_id.to_string(), false));
                    }
                } else {
                    scope_rows.push((f.clone(), o.person_id.to_string(), first));
                    feed_rows.push((f, first, o.person_id.to_string(), true));
                }
            }
            o.last_seq = seqs.last().copied().unwrap_or(0);
        }
        let rejections = entries
            .iter()
            .filter_map(|e| match &e.result {
                Some(PushResult::Rejected { reason, message }) => Some(RejectionRow {
                    device: e.device.clone(),
                    person_id: e.person_id.to_string(),
                    hash: e.change.as_ref().map(|c| c.hash().0.to_vec()),
                    reason: reason.code(),
                    message: message.clone(),
                }),
                _ => None,
            })
            .collect();
        let actors: Vec<(Vec<u8>, String)> = new_actors
            .into_iter()
            .filter(|(a, _)| used_actors.contains(a))
            .collect();

        // Documents whose listed columns changed are rewritten whole; the others (a new dose,
        // a void) only get their new document. Dose rows only for doses that changed.
        let mut overlay = Overlay {
            hashes: change_rows.iter().map(|c| c.hash.clone()).collect(),
            actors: actors.iter().cloned().collect(),
            ..Overlay::default()
        };
        let mut full = Vec::new();
        let mut doc_only = Vec::new();
        let mut doses = Vec::new();
        for o in outcomes {
            let Some((bytes, accepted)) = o.result else {
                continue;
            };
            let person = o.person_id.to_string();
            let persisted = scopes.get(&o.person_id).cloned().unwrap_or_default();
            overlay
                .scopes
                .insert(o.person_id, accepted.scope(&persisted, &facilities));
            overlay.docs.insert(o.person_id, bytes.clone());
            let last_seq = o.last_seq as i64;
            match accepted {
                Accepted::NewDoses(new) => {
                    doses.extend(new.into_iter().map(|d| (person.clone(), d)));
                    doc_only.push((person, bytes, last_seq));
                }
                Accepted::Person { before, after } => {
                    for d in after.doses.values() {
                        if before.as_ref().and_then(|b| b.doses.get(&d.id)) != Some(d) {
                            doses.push((person.clone(), d.clone()));
                        }
                    }
                    let unchanged = before
                        .as_ref()
                        .is_some_and(|b| PersonColumns::of(b) == PersonColumns::of(&after));
                    if unchanged {
                        doc_only.push((person, bytes, last_seq));
                    } else {
                        full.push(DocRow {
                            person_id: person,
                            doc: bytes,
                            last_seq,
                            after,
                        });
                    }
                }
            }
        }
        let high_water = (seq > self.next_seq).then(|| seq - 1);
        self.next_seq = seq;
        let mut results: Vec<Vec<PushResult>> = jobs
            .iter()
            .map(|j| Vec::with_capacity(j.changes.len()))
            .collect();
        for e in entries {
            results[e.job].push(e.result.unwrap_or(PushResult::MissingDependencies));
        }
        Ok(Plan {
            write: GroupWrite {
                changes: change_rows,
                feed: feed_rows,
                scope: scope_rows,
                actors,
                rejections,
                full,
                doc_only,
                doses,
                received_at,
            },
            results,
            high_water,
            overlay,
        })
    }

    async fn known_hashes(&self, hashes: &[Vec<u8>]) -> Result<HashSet<Vec<u8>>, sqlx::Error> {
        let mut out = HashSet::new();
        for chunk in hashes.chunks(500) {
            let rows: Vec<Vec<u8>> = with_db!(&self.db, pool => {
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

    async fn actor_owners(
        &self,
        actors: &[Vec<u8>],
    ) -> Result<HashMap<Vec<u8>, String>, sqlx::Error> {
        let mut out = HashMap::new();
        for chunk in actors.chunks(500) {
            let rows: Vec<(Vec<u8>, String)> = with_db!(&self.db, pool => {
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

    async fn load_docs(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<u8>>, sqlx::Error> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let rows: Vec<(String, Vec<u8>)> = with_db!(&self.db, pool => {
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

    /// The doses of these people that accepted signing runs signed: dose → (run, signer).
    async fn load_signed(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, SignedDoses>, sqlx::Error> {
        let mut out: HashMap<Uuid, SignedDoses> = HashMap::new();
        for chunk in ids.chunks(500) {
            let rows: Vec<(String, String, String, String)> = with_db!(&self.db, pool => {
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
                    out.entry(person).or_default().insert(dose, (batch, signer));
                }
            }
        }
        Ok(out)
    }

    async fn load_scopes(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, BTreeSet<String>>, sqlx::Error> {
        let mut out: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
        for chunk in ids.chunks(500) {
            let rows: Vec<(String, String)> = with_db!(&self.db, pool => {
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
}

/// Writes one group in one transaction.
async fn write_group(db: &Db, g: &GroupWrite) -> Result<(), sqlx::Error> {
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
        {
            for chunk in g.full.chunks(400) {
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
                        signed_batch = excluded.signed_batch",
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
struct GroupWrite {
    changes: Vec<ChangeRow>,
    /// (facility, seq, person, snapshot)
    feed: Vec<(String, u64, String, bool)>,
    /// (facility, person, since_seq)
    scope: Vec<(String, String, u64)>,
    /// (actor, device)
    actors: Vec<(Vec<u8>, String)>,
    rejections: Vec<RejectionRow>,
    /// Documents with changed columns.
    full: Vec<DocRow>,
    /// (person, document, last seq) of documents whose columns stayed the same.
    doc_only: Vec<(String, Vec<u8>, i64)>,
    /// (person, dose) for changed doses.
    doses: Vec<(String, Dose)>,
    received_at: String,
}

struct DocRow {
    person_id: String,
    doc: Vec<u8>,
    last_seq: i64,
    after: Box<Person>,
}

struct RejectionRow {
    device: String,
    person_id: String,
    hash: Option<Vec<u8>>,
    reason: &'static str,
    message: String,
}

struct ChangeRow {
    seq: u64,
    hash: Vec<u8>,
    person_id: String,
    device: String,
    author: Option<String>,
    bytes: Vec<u8>,
}

fn pending(entries: &[Entry]) -> impl Iterator<Item = &Entry> {
    entries
        .iter()
        .filter(|e| e.result.is_none() && e.change.is_some())
}

fn hash_of(e: &Entry) -> [u8; 32] {
    e.change.as_ref().map(|c| c.hash().0).unwrap_or([0; 32])
}

struct Incoming {
    entry: usize,
    change: Change,
    owner: String,
}

struct PersonWork {
    person_id: Uuid,
    existing: Option<Vec<u8>>,
    scope: BTreeSet<String>,
    signed: SignedDoses,
    incoming: Vec<Incoming>,
}

/// Whether a change's author may make it on a device of `facility` (scope `owner`).
fn author_may_write(
    change: &Change,
    accounts: &HashMap<String, crate::accounts::Account>,
    facility: &str,
    owner: &str,
) -> Result<(), String> {
    let meta = CommitMeta::from_change(change).ok_or("thay đổi không ghi người thực hiện")?;
    let acct = accounts
        .get(&meta.user)
        .ok_or_else(|| format!("tài khoản {} không có trên máy chủ", meta.user))?;
    if acct.info.facility != facility && acct.info.facility != owner {
        return Err(format!(
            "tài khoản {} không thuộc cơ sở {facility}",
            meta.user
        ));
    }
    let allowed = match meta.action.as_str() {
        "sign" => acct.role() == sync_protocol::auth::Role::Signer,
        _ => acct.role().writes_people(),
    };
    if !allowed {
        return Err(format!(
            "tài khoản {} ({}) không được sửa dữ liệu người tiêm",
            meta.user,
            acct.role().label()
        ));
    }
    // Work done offline before a revocation still counts; nothing after it.
    if let (Some(revoked), Some(at)) = (acct.revoked_at(), meta.time)
        && at >= revoked
    {
        return Err(format!(
            "tài khoản {} đã bị thu hồi trước khi thay đổi này được làm",
            meta.user
        ));
    }
    Ok(())
}

/// The entries of incoming changes ordered so that each comes after those it depends on.
fn causal_order(incoming: &[Incoming]) -> Vec<usize> {
    if incoming.len() == 1 {
        return vec![incoming[0].entry];
    }
    let mut left: Vec<&Incoming> = incoming.iter().collect();
    let mut order = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let pending: HashSet<ChangeHash> = left.iter().map(|i| i.change.hash()).collect();
        let (ready, rest): (Vec<&Incoming>, Vec<&Incoming>) = left
            .into_iter()
            .partition(|i| !i.change.deps().iter().any(|d| pending.contains(d)));
        if ready.is_empty() {
            // Cannot happen for valid changes (hashes cannot form cycles); keep push order.
            order.extend(rest.iter().map(|i| i.entry));
            break;
        }
        order.extend(ready.iter().map(|i| i.entry));
        left = rest;
    }
    order
}

/// Validates every person's work, spread over the machine's cores.
fn validate_all(
    work: Vec<PersonWork>,
    facilities: &Facilities,
    today: time::Date,
) -> Vec<PersonOutcome> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(work.len().max(1));
    if threads <= 1 {
        return work
            .into_iter()
            .map(|w| validate_person(w, facilities, today))
            .collect();
    }
    let chunk = work.len().div_ceil(threads);
    let mut parts: Vec<Vec<PersonWork>> = Vec::new();
    let mut it = work.into_iter();
    loop {
        let part: Vec<PersonWork> = it.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    part.into_iter()
                        .map(|w| validate_person(w, facilities, today))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Doses an accepted signing run signed: dose → (run, signer).
type SignedDoses = HashMap<Uuid, (Uuid, String)>;

/// Whether `dose`'s signature, if any, is one the server verified: a station cannot mark a dose
/// signed (and so freeze it) without a run the server accepted for exactly that dose.
fn signature_is_verified(dose: &Dose, before: Option<&Person>, signed: &SignedDoses) -> bool {
    let Some(sig) = &dose.signature else {
        return true;
    };
    let unchanged = before
        .and_then(|b| b.doses.get(&dose.id))
        .is_some_and(|old| old.signature.as_ref() == Some(sig));
    unchanged
        || signed
            .get(&dose.id)
            .is_some_and(|(batch, signer)| *batch == sig.batch_id && *signer == sig.signer)
}

/// Checks a candidate document: its shape, its rules, frozen signed doses, signatures backed by
/// an accepted run, and the device's scope.
#[allow(clippy::too_many_arguments)]
fn check(
    doc: &PersonDoc,
    person_id: Uuid,
    before: Option<&Person>,
    persisted_scope: &BTreeSet<String>,
    signed: &SignedDoses,
    owner: &str,
    facilities: &Facilities,
    today: time::Date,
) -> Result<Person, PushResult> {
    let (after, structural) = doc
        .read_checked()
        .map_err(|e| rejected(RejectReason::Invalid, format!("tài liệu không hợp lệ: {e}")))?;
    if !structural.is_empty() {
        return Err(rejected(
            RejectReason::Malformed,
            format!(
                "thay đổi tạo giá trị trùng ở {}: không thuộc tài liệu này",
                structural.join(", ")
            ),
        ));
    }
    if after.id != person_id {
        return Err(rejected(
            RejectReason::Malformed,
            format!("thay đổi không thuộc tài liệu của người {person_id}"),
        ));
    }
    validate::check_person(&after, today)
        .map_err(|e| rejected(RejectReason::Invalid, format!("dữ liệu không hợp lệ: {e}")))?;
    if let Some(b) = before {
        validate::check_signed_doses_frozen(b, &after).map_err(|_| {
            rejected(
                RejectReason::FrozenSignedDose,
                "thay đổi sửa một mũi tiêm đã ký số; muốn sửa phải huỷ mũi đó và nhập lại",
            )
        })?;
    }
    // The server's own changes write verification results and nothing else.
    if owner == SYSTEM_DEVICE {
        let same_otherwise = before.is_some_and(|b| {
            let mut b = b.clone();
            b.verification = after.verification.clone();
            b == after
        });
        return if same_otherwise {
            Ok(after)
        } else {
            Err(rejected(
                RejectReason::Forbidden,
                "thay đổi của máy chủ chỉ được ghi kết quả xác thực",
            ))
        };
    }
    // Matched / mismatched / not found come from the registry check alone: signing trusts them.
    let from_registry = matches!(
        after.verification.status,
        VerificationStatus::Matched
            | VerificationStatus::Mismatched(_)
            | VerificationStatus::NotFound
    );
    if from_registry && before.is_none_or(|b| b.verification != after.verification) {
        return Err(rejected(
            RejectReason::Forbidden,
            "chỉ máy chủ ghi kết quả xác thực với CSDLQG về dân cư; thiết bị không tự ghi được",
        ));
    }
    if let Some(dose) = after
        .doses
        .values()
        .find(|d| !signature_is_verified(d, before, signed))
    {
        return Err(rejected(
            RejectReason::Forbidden,
            format!(
                "mũi tiêm {} của {} được ghi là đã ký số nhưng máy chủ chưa nhận lần ký nào cho mũi này",
                dose.dose_number, after.full_name
            ),
        ));
    }
    let in_scope = persisted_scope.contains(owner)
        || facilities.scope_of(&after).contains(owner)
        || before.is_some_and(|b| facilities.scope_of(b).contains(owner));
    if !in_scope {
        return Err(rejected(
            RejectReason::OutOfScope,
            format!("người này không thuộc phạm vi quản lý của cơ sở {owner}"),
        ));
    }
    Ok(after)
}

fn validate_person(w: PersonWork, facilities: &Facilities, today: time::Date) -> PersonOutcome {
    let mut outcome = PersonOutcome {
        person_id: w.person_id,
        verdicts: Vec::new(),
        accepted: Vec::new(),
        result: None,
        last_seq: 0,
    };
    let base = match w.existing.as_deref().map(PersonDoc::load) {
        Some(Ok(d)) => d,
        Some(Err(_)) | None => match PersonDoc::from_changes(Vec::new()) {
            Ok(d) => d,
            Err(_) => return outcome,
        },
    };
    let changes: Vec<Change> = w.incoming.iter().map(|i| i.change.clone()).collect();
    let owners: BTreeSet<&str> = w.incoming.iter().map(|i| i.owner.as_str()).collect();

    // Fastest path, recording doses: the changes only add doses, so only those doses (and the
    // birth date they are checked against) need reading, not the whole person twice.
    let mut base = base;
    if let Some(existing) = &w.existing
        && let Some(added) = base.added_doses(&changes)
    {
        // Applied in place: a change queued for a missing dependency shows in `missing_deps`.
        let mut trial = base;
        if trial.apply_changes(changes.clone()).is_ok()
            && trial.missing_deps().is_empty()
            && let (Ok(birth), Ok(doses)) = (trial.birth_date(), trial.read_doses(&added))
            && doses.iter().all(|d| validate::check_dose(birth, d).is_ok())
            && doses.iter().all(|d| d.signature.is_none())
            && owners.iter().all(|o| {
                w.scope.contains(*o) || doses.iter().any(|d| facilities.owner(&d.facility) == *o)
            })
        {
            outcome.accepted = causal_order(&w.incoming);
            outcome.result = Some((trial.save(), Accepted::NewDoses(doses)));
            return outcome;
        }
        // Not that simple after all: start again from the stored document.
        base = match PersonDoc::load(existing) {
            Ok(d) => d,
            Err(_) => return outcome,
        };
    }
    let before = w.existing.as_ref().and_then(|_| base.read().ok());

    // Fast path: everything applies and the result is valid for every pushing device.
    let mut trial = base.clone();
    if trial.apply_changes(changes).is_ok()
        && w.incoming
            .iter()
            .all(|i| trial.has_change(&i.change.hash()))
    {
        let mut after = None;
        let mut ok = true;
        for owner in owners {
            match check(
                &trial,
                w.person_id,
                before.as_ref(),
                &w.scope,
                &w.signed,
                owner,
                facilities,
                today,
            ) {
                Ok(p) => after = Some(p),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if let (true, Some(after)) = (ok, after) {
            outcome.accepted = causal_order(&w.incoming);
            outcome.result = Some((
                trial.save(),
                Accepted::Person {
                    before: before.map(Box::new),
                    after: Box::new(after),
                },
            ));
            return outcome;
        }
    }

    // Slow path: one change at a time, each on top of those accepted so far.
    let mut doc = base;
    let mut current = before.clone();
    let mut rejected_hashes: HashSet<ChangeHash> = HashSet::new();
    let mut waiting: Vec<&Incoming> = w.incoming.iter().collect();
    loop {
        let mut progress = false;
        let mut still = Vec::new();
        for inc in waiting {
            let deps = inc.change.deps();
            if deps.iter().any(|d| rejected_hashes.contains(d)) {
                rejected_hashes.insert(inc.change.hash());
                outcome.verdicts.push((
                    inc.entry,
                    rejected(
                        RejectReason::DependsOnRejected,
                        "thay đổi dựa trên một thay đổi đã bị từ chối",
                    ),
                ));
                progress = true;
                continue;
            }
            if !deps.iter().all(|d| doc.has_change(d)) {
                still.push(inc);
                continue;
            }
            let mut candidate = doc.clone();
            let verdict = match candidate.apply_changes(vec![inc.change.clone()]) {
                Err(e) => Err(rejected(
                    RejectReason::Malformed,
                    format!("thay đổi không áp dụng được: {e}"),
                )),
                Ok(()) => check(
                    &candidate,
                    w.person_id,
                    current.as_ref(),
                    &w.scope,
                    &w.signed,
                    &inc.owner,
                    facilities,
                    today,
                ),
            };
            match verdict {
                Ok(p) => {
                    doc = candidate;
                    current = Some(p);
                    outcome.accepted.push(inc.entry);
                }
                Err(r) => {
                    rejected_hashes.insert(inc.change.hash());
                    outcome.verdicts.push((inc.entry, r));
                }
            }
            progress = true;
        }
        waiting = still;
        if !progress || waiting.is_empty() {
            break;
        }
    }
    for inc in waiting {
        outcome
            .verdicts
            .push((inc.entry, PushResult::MissingDependencies));
    }
    if let (false, Some(after)) = (outcome.accepted.is_empty(), current) {
        outcome.result = Some((
            doc.save(),
            Accepted::Person {
                before: before.map(Box::new),
                after: Box::new(after),
            },
        ));
    }
    outcome
}

/// A finished write task's outcome; a panicked task counts as a failed write.
fn flatten(r: Result<Result<(), sqlx::Error>, tokio::task::JoinError>) -> Result<(), sqlx::Error> {
    r.unwrap_or_else(|e| Err(sqlx::Error::Protocol(format!("write task failed: {e}"))))
}
