//! Accepting pushed changes. One writer task owns the sequence: it takes every push waiting in
//! its queue as one group, checks each person's changes against the current document with the
//! rulebook (`sync_protocol::rules`) for the session's user (in parallel across people), and
//! commits the whole group in one transaction. Sequence numbers are therefore assigned and
//! committed in order, so a pull never skips a change that commits late, on SQLite and
//! PostgreSQL alike; and one fsync serves many devices.
//!
//! `plan` runs the named steps of a group, `validate` decides each person's changes, `store`
//! reads what the checks need and writes the group.

mod counts;
mod plan;
#[cfg(test)]
mod properties;
mod store;
mod validate;

use crate::db::Db;
use crate::scope::Facilities;
use crate::with_db;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use sync_protocol::auth::AccountInfo;
use sync_protocol::wire::{PushResult, PushedChange};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The device a push comes from.
#[derive(Debug, Clone)]
pub struct DeviceCtx {
    pub id: String,
    pub facility: String,
}

/// Who pushes: a device with its signed-in user, whose rights every change is checked against,
/// or the server's own verification writer.
#[derive(Debug, Clone)]
pub enum Pusher {
    User {
        device: DeviceCtx,
        account: Box<AccountInfo>,
    },
    System,
}

/// The device id the server's own changes are stored under: not a device any token can name.
pub const SYSTEM_DEVICE: &str = "system:verification";
/// The author of the server's own changes; `:` never appears in an account's username.
pub const SYSTEM_USER: &str = "he-thong:csdlqg";

/// Why a push could not be processed at all (the device should retry later).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("lỗi cơ sở dữ liệu của máy chủ: {0}")]
    Db(#[from] sqlx::Error),
    #[error("máy chủ đang dừng")]
    Stopped,
}

struct Job {
    pusher: Pusher,
    changes: Vec<PushedChange>,
    reply: oneshot::Sender<Result<Vec<PushResult>, IngestError>>,
}

/// The handle handlers push through.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
    high_water: Arc<AtomicU64>,
    console_counts: Arc<AtomicBool>,
}

/// Most changes taken into one group (one transaction).
const GROUP_CHANGES: usize = 4000;

impl Ingest {
    /// Starts the writer task on `db`.
    pub async fn start(db: Db, clock: sync_protocol::Clock) -> Result<Ingest, sqlx::Error> {
        let last: Option<i64> = with_db!(&db, pool => {
            sqlx::query_scalar("SELECT max(seq) FROM changes").fetch_one(pool).await?
        });
        let last = u64::try_from(last.unwrap_or(0)).unwrap_or(0);
        let high_water = Arc::new(AtomicU64::new(last));
        let (tx, rx) = mpsc::channel(1024);
        let console_counts = Arc::new(AtomicBool::new(true));
        let writer = GroupWriter {
            console_counts: console_counts.clone(),
            db,
            next_seq: last + 1,
            high_water: high_water.clone(),
            facilities: Arc::new(Facilities::default()),
            facilities_loaded: None,
            areas: Vec::new(),
            overlay: Overlay::default(),
            clock,
        };
        tokio::spawn(writer.run(rx));
        Ok(Ingest {
            tx,
            high_water,
            console_counts,
        })
    }

    /// Stops (or resumes) keeping the console's counts in step with what is written. Only for
    /// measuring what they cost (the console benchmark): while off, the counts go stale until
    /// [`crate::console::rebuild_counts`].
    pub fn keep_console_counts(&self, on: bool) {
        self.console_counts.store(on, Ordering::Relaxed);
    }

    /// Checks and stores the changes `pusher` sends; one result per change, in order.
    pub async fn push(
        &self,
        pusher: Pusher,
        changes: Vec<PushedChange>,
    ) -> Result<Vec<PushResult>, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                pusher,
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

/// The task that plans and writes groups, one after another.
struct GroupWriter {
    /// Shared with [`Ingest::keep_console_counts`].
    console_counts: Arc<AtomicBool>,
    db: Db,
    next_seq: u64,
    high_water: Arc<AtomicU64>,
    facilities: Arc<Facilities>,
    facilities_loaded: Option<Instant>,
    /// The signing areas `facilities` was built with.
    areas: Vec<(String, String)>,
    /// What the group being written (not yet committed) changes, seen by the next plan.
    overlay: Overlay,
    /// The time the rules judge against (a step-up grant's expiry, a dose given in the future).
    clock: sync_protocol::Clock,
}

/// The effects of a planned group, for planning the next group while it is written.
#[derive(Default)]
struct Overlay {
    docs: HashMap<Uuid, Vec<u8>>,
    scopes: HashMap<Uuid, BTreeSet<String>>,
    hashes: HashSet<Vec<u8>>,
    actors: HashMap<Vec<u8>, String>,
    /// Dose → person of the doses it writes.
    doses: HashMap<Uuid, Uuid>,
}

/// A checked group, ready to be written.
struct Plan {
    write: store::GroupWrite,
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

impl GroupWriter {
    /// Plans each group while the previous one is being written: checking (CPU) of group N+1
    /// overlaps the transaction (I/O) of group N. Answers go out once a group is committed.
    /// A group that fails is taken apart: each of its pushes is planned and written alone, so
    /// a push that cannot be stored fails only its own device, never the others of its group.
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut in_flight: Option<InFlight> = None;
        loop {
            let first = tokio::select! {
                biased;
                done = async { (&mut in_flight.as_mut().expect("guarded").handle).await }, if in_flight.is_some() => {
                    if let Some(f) = in_flight.take() {
                        self.settle(f.answers, flatten(done)).await;
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
            let mut plan = self.plan(&jobs).await;
            // The previous group must be committed before this one is written after it.
            if let Some(f) = in_flight.take() {
                let done = flatten(f.handle.await);
                if !self.settle(f.answers, done).await {
                    // This plan counted on what the failed group would have written.
                    plan = self.plan(&jobs).await;
                }
            }
            match plan {
                Ok(plan) => {
                    self.overlay = plan.overlay;
                    let db = self.db.clone();
                    let write = plan.write;
                    in_flight = Some(InFlight {
                        handle: tokio::spawn(async move { store::write_group(&db, &write).await }),
                        answers: Answers {
                            jobs,
                            results: plan.results,
                            high_water: plan.high_water,
                        },
                    });
                }
                Err(e) => {
                    tracing::error!("planning an ingest group failed: {e}");
                    self.reset().await;
                    self.one_by_one(jobs, e).await;
                }
            }
        }
        if let Some(f) = in_flight.take() {
            let done = flatten(f.handle.await);
            self.settle(f.answers, done).await;
        }
    }

    /// Answers a written group's devices; a failed group's pushes are tried again one by one.
    /// Returns whether the group was committed.
    async fn settle(&mut self, f: Answers, done: Result<(), sqlx::Error>) -> bool {
        match done {
            Ok(()) => {
                if let Some(h) = f.high_water {
                    self.high_water.store(h, Ordering::Release);
                }
                for (job, result) in f.jobs.into_iter().zip(f.results) {
                    let _ = job.reply.send(Ok(result));
                }
                true
            }
            Err(e) => {
                tracing::error!("ingest write failed: {e}");
                self.reset().await;
                self.one_by_one(f.jobs, e).await;
                false
            }
        }
    }

    /// Plans and writes each push alone, waiting for each commit; a push that still fails is
    /// answered with its own error. (`failure` answers a lone push that already failed.)
    async fn one_by_one(&mut self, jobs: Vec<Job>, failure: sqlx::Error) {
        if jobs.len() == 1 {
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(IngestError::Db(failure)));
            }
            return;
        }
        for job in jobs {
            let jobs = vec![job];
            let written = match self.plan(&jobs).await {
                Ok(plan) => store::write_group(&self.db, &plan.write)
                    .await
                    .map(|()| (plan.results, plan.high_water)),
                Err(e) => Err(e),
            };
            self.overlay = Overlay::default();
            match written {
                Ok((results, high_water)) => {
                    if let Some(h) = high_water {
                        self.high_water.store(h, Ordering::Release);
                    }
                    for (job, result) in jobs.into_iter().zip(results) {
                        let _ = job.reply.send(Ok(result));
                    }
                }
                Err(e) => {
                    tracing::error!("a push failed on its own: {e}");
                    self.reset().await;
                    for job in jobs {
                        let message = sqlx::Error::Protocol(e.to_string());
                        let _ = job.reply.send(Err(IngestError::Db(message)));
                    }
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
    /// The signing areas are read for every group (a small table): a person registered just
    /// after an area was widened must reach the unit, whose backfill has already run.
    async fn facilities(&mut self) -> Result<Arc<Facilities>, sqlx::Error> {
        let stale = self
            .facilities_loaded
            .is_none_or(|t| t.elapsed() > Duration::from_secs(2));
        let mut areas = crate::scope::signing_areas(&self.db).await?;
        areas.sort();
        if stale || areas != self.areas {
            let list = crate::admin::facilities(&self.db).await?;
            self.facilities = Arc::new(Facilities::new(list).with_areas(areas.clone()));
            self.areas = areas;
            self.facilities_loaded = Some(Instant::now());
        }
        Ok(self.facilities.clone())
    }
}

/// A finished write task's outcome; a panicked task counts as a failed write.
fn flatten(r: Result<Result<(), sqlx::Error>, tokio::task::JoinError>) -> Result<(), sqlx::Error> {
    r.unwrap_or_else(|e| Err(sqlx::Error::Protocol(format!("write task failed: {e}"))))
}
