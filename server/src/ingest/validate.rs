//! Deciding one person's incoming changes with the rulebook, for the user who pushed them.
//! Three ways, fastest first: changes that only add doses (recording a dose, by far the most
//! common push) check just those doses; changes of one user doing one thing are applied together
//! and checked once; anything else is checked one change at a time on top of those accepted so
//! far, so one bad change refuses only itself and what builds on it.

use super::store::SignedDoses;
use super::{Pusher, SYSTEM_DEVICE};
use crate::scope::Facilities;
use automerge::{Change, ChangeHash};
use std::collections::{BTreeSet, HashMap, HashSet};
use sync_protocol::commit::CommitMeta;
use sync_protocol::document::DocIssues;
use sync_protocol::rules::{self, Grant, Knowledge, Violation, Writer};
use sync_protocol::wire::{PushResult, RejectReason};
use sync_protocol::{CommitAction, Dose, Person, PersonDoc, validate};
use time::OffsetDateTime;
use uuid::Uuid;

/// Who pushed a job, as the checks need it.
pub(super) struct PusherCtx {
    /// The device the changes are stored under (actors are bound to it).
    pub device: String,
    /// The facility whose scope the device works in.
    pub owner: String,
    /// The signed-in user; none for the server's own writer.
    pub writer: Option<Writer>,
}

impl PusherCtx {
    pub(super) fn of(pusher: &Pusher, facilities: &Facilities) -> PusherCtx {
        match pusher {
            Pusher::System => PusherCtx {
                device: SYSTEM_DEVICE.into(),
                owner: SYSTEM_DEVICE.into(),
                writer: None,
            },
            Pusher::User { device, account } => {
                let owner = facilities.owner(&device.facility);
                let mut own: BTreeSet<String> = facilities.family(&owner).into_iter().collect();
                own.insert(device.facility.clone());
                own.insert(account.facility.clone());
                PusherCtx {
                    device: device.id.clone(),
                    owner,
                    writer: Some(Writer {
                        user: account.username.clone(),
                        role: account.role,
                        device_facility: device.facility.clone(),
                        own,
                    }),
                }
            }
        }
    }
}

/// A change that passed the change-level checks, waiting for its person's check.
pub(super) struct Incoming {
    pub entry: usize,
    pub change: Change,
    pub meta: CommitMeta,
    /// Index of the job's [`PusherCtx`].
    pub pusher: usize,
}

/// One person's incoming changes with what checking them needs.
pub(super) struct PersonWork {
    pub person_id: Uuid,
    /// Who holds the dose ids the group's changes may create (dose → person).
    pub dose_owners: std::sync::Arc<HashMap<Uuid, Uuid>>,
    pub existing: Option<Vec<u8>>,
    /// The facilities that replicate the person now.
    pub scope: BTreeSet<String>,
    pub signed: SignedDoses,
    pub incoming: Vec<Incoming>,
    /// This person's step-up grants named by the incoming changes, by grant id.
    pub grants: HashMap<String, Grant>,
    /// Records merges take doses from: their document and the facilities that replicate them.
    pub sources: HashMap<Uuid, (Vec<u8>, BTreeSet<String>)>,
}

/// What the checks decided for one person.
pub(super) struct PersonOutcome {
    pub person_id: Uuid,
    pub verdicts: Vec<(usize, PushResult)>,
    /// Accepted entries in causal order.
    pub accepted: Vec<usize>,
    /// The saved document after the accepted changes and what they amount to. Saved here, in
    /// parallel, so the (large) in-memory document is dropped at once.
    pub result: Option<(Vec<u8>, Accepted)>,
    /// The sequence number of the last accepted change, once assigned.
    pub last_seq: u64,
}

/// What a person's accepted changes amount to.
pub(super) enum Accepted {
    /// The whole person, before (none for a new person) and after.
    Person {
        before: Option<Box<Person>>,
        after: Box<Person>,
    },
    /// Only new doses: the rest is unchanged.
    NewDoses(Vec<Dose>),
}

impl Accepted {
    /// The facilities that may replicate the person afterwards (scope never shrinks).
    pub fn scope(&self, persisted: &BTreeSet<String>, facilities: &Facilities) -> BTreeSet<String> {
        let mut scope = persisted.clone();
        match self {
            Accepted::Person { after, .. } => scope.extend(facilities.scope_of(after)),
            Accepted::NewDoses(doses) => {
                scope.extend(doses.iter().map(|d| facilities.owner(&d.facility)));
                scope = facilities.with_area_units(scope);
            }
        }
        scope
    }
}

pub(super) fn rejected(reason: RejectReason, message: impl Into<String>) -> PushResult {
    PushResult::Rejected {
        reason,
        message: message.into(),
    }
}

fn refused(v: &Violation) -> PushResult {
    rejected(v.into(), v.to_string())
}

/// Checks every person's work, spread over the machine's cores. A merge is checked after the
/// record it takes doses from, when both are in the group: the copies are allowed only from a
/// record merged into this one, which that record's own change (checked first) may have just
/// done.
pub(super) fn validate_all(
    work: Vec<PersonWork>,
    pushers: &[PusherCtx],
    facilities: &Facilities,
    now: OffsetDateTime,
) -> Vec<PersonOutcome> {
    let mut outcomes = Vec::with_capacity(work.len());
    let mut pending = work;
    while !pending.is_empty() {
        let undecided: HashSet<Uuid> = pending.iter().map(|w| w.person_id).collect();
        let (mut ready, mut waiting): (Vec<PersonWork>, Vec<PersonWork>) =
            pending.into_iter().partition(|w| {
                w.sources
                    .keys()
                    .all(|s| *s == w.person_id || !undecided.contains(s))
            });
        if ready.is_empty() {
            // Records merged into each other in a circle: each is judged on the stored others.
            ready = std::mem::take(&mut waiting);
        }
        let decided = validate_spread(ready, pushers, facilities, now);
        for w in waiting.iter_mut() {
            for (id, (doc, _)) in w.sources.iter_mut() {
                if let Some((saved, _)) = decided
                    .iter()
                    .find(|o| o.person_id == *id)
                    .and_then(|o| o.result.as_ref())
                {
                    doc.clone_from(saved);
                }
            }
        }
        outcomes.extend(decided);
        pending = waiting;
    }
    outcomes
}

/// Checks each person's work, spread over the machine's cores.
fn validate_spread(
    work: Vec<PersonWork>,
    pushers: &[PusherCtx],
    facilities: &Facilities,
    now: OffsetDateTime,
) -> Vec<PersonOutcome> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(work.len().max(1));
    let run = |part: Vec<PersonWork>| {
        part.into_iter()
            .map(|w| guarded(w, pushers, facilities, now))
            .collect::<Vec<_>>()
    };
    if threads <= 1 {
        return run(work);
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
            .map(|part| s.spawn(move || run(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Checks one person; a panic inside Automerge on hostile input refuses that person's changes
/// instead of taking the server down.
fn guarded(
    w: PersonWork,
    pushers: &[PusherCtx],
    facilities: &Facilities,
    now: OffsetDateTime,
) -> PersonOutcome {
    let person_id = w.person_id;
    let entries: Vec<usize> = w.incoming.iter().map(|i| i.entry).collect();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        validate_person(w, pushers, facilities, now)
    }))
    .unwrap_or_else(|_| {
        tracing::error!(%person_id, "checking a push panicked; its changes are refused");
        PersonOutcome {
            person_id,
            verdicts: entries
                .into_iter()
                .map(|e| {
                    (
                        e,
                        rejected(
                            RejectReason::Malformed,
                            "thay đổi làm hỏng việc đọc tài liệu: không thuộc hồ sơ người tiêm",
                        ),
                    )
                })
                .collect(),
            accepted: Vec::new(),
            result: None,
            last_seq: 0,
        }
    })
}

/// The fields of a meta that decide what its change may do (not its time).
fn intent(m: &CommitMeta) -> (&str, CommitAction, Option<&str>, Option<Uuid>) {
    (&m.user, m.action, m.grant.as_deref(), m.merged_from)
}

/// The pusher and meta every incoming change shares, if they all share one.
fn one_intent(incoming: &[Incoming]) -> Option<(usize, &CommitMeta)> {
    let first = incoming.first()?;
    incoming
        .iter()
        .all(|i| i.pusher == first.pusher && intent(&i.meta) == intent(&first.meta))
        .then_some((first.pusher, &first.meta))
}

fn validate_person(
    w: PersonWork,
    pushers: &[PusherCtx],
    facilities: &Facilities,
    now: OffsetDateTime,
) -> PersonOutcome {
    let mut outcome = PersonOutcome {
        person_id: w.person_id,
        verdicts: Vec::new(),
        accepted: Vec::new(),
        result: None,
        last_seq: 0,
    };
    let checker = Checker {
        w: &w,
        pushers,
        facilities,
        now,
    };
    // A stored document that does not load is never replaced by an empty one: the changes wait
    // on their devices until an operator repairs it.
    let base = match w.existing.as_deref().map(PersonDoc::load) {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            tracing::error!(person = %w.person_id, "stored document unreadable: {e}");
            outcome.verdicts = w
                .incoming
                .iter()
                .map(|i| {
                    (
                        i.entry,
                        PushResult::Deferred {
                            message: "máy chủ không đọc được hồ sơ đang lưu của người này; thay đổi được giữ trên máy và gửi lại sau".into(),
                        },
                    )
                })
                .collect();
            return outcome;
        }
        None => PersonDoc::empty(),
    };
    let changes: Vec<Change> = w.incoming.iter().map(|i| i.change.clone()).collect();
    let shared = one_intent(&w.incoming);

    if let Some((pusher, meta)) = shared
        && let Some((saved, doses)) = checker.only_new_doses(&base, &changes, pusher, meta)
    {
        outcome.accepted = causal_order(&w.incoming);
        outcome.result = Some((saved, Accepted::NewDoses(doses)));
        return outcome;
    }
    let before = w.existing.as_ref().and_then(|_| base.read().ok());

    // Applied together and checked once, when one user does one thing.
    if let Some((pusher, meta)) = shared {
        let mut trial = base.clone();
        if trial.apply_changes(changes).is_ok()
            && w.incoming
                .iter()
                .all(|i| trial.has_change(&i.change.hash()))
            && let Ok((after, saved)) = checker.check(&trial, before.as_ref(), meta, pusher)
        {
            outcome.accepted = causal_order(&w.incoming);
            outcome.result = Some((
                saved,
                Accepted::Person {
                    before: before.map(Box::new),
                    after: Box::new(after),
                },
            ));
            return outcome;
        }
    }

    // One change at a time, each on top of those accepted so far.
    let mut doc = base;
    let mut current = before.clone();
    let mut saved = None;
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
                Ok(()) => checker.check(&candidate, current.as_ref(), &inc.meta, inc.pusher),
            };
            match verdict {
                Ok((p, bytes)) => {
                    doc = candidate;
                    current = Some(p);
                    saved = Some(bytes);
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
    if let (false, Some(after), Some(saved)) = (outcome.accepted.is_empty(), current, saved) {
        outcome.result = Some((
            saved,
            Accepted::Person {
                before: before.map(Box::new),
                after: Box::new(after),
            },
        ));
    }
    outcome
}

/// What the checks of one person share.
struct Checker<'a> {
    w: &'a PersonWork,
    pushers: &'a [PusherCtx],
    facilities: &'a Facilities,
    now: OffsetDateTime,
}

impl Checker<'_> {
    /// Runs the rulebook with what the server knows for this change's meta.
    fn with_knowledge<T>(
        &self,
        meta: &CommitMeta,
        pusher: &PusherCtx,
        f: impl FnOnce(&Knowledge<'_>) -> T,
    ) -> T {
        let source: Option<Person> = meta
            .merged_from
            .and_then(|id| self.w.sources.get(&id))
            .filter(|(_, scope)| scope.contains(&pusher.owner))
            .and_then(|(bytes, _)| PersonDoc::load(bytes).ok()?.read().ok());
        let exists = |code: &str| self.facilities.contains(code);
        let elsewhere = |dose: &Uuid| {
            self.w
                .dose_owners
                .get(dose)
                .is_some_and(|person| *person != self.w.person_id)
        };
        f(&Knowledge {
            now: self.now,
            signed: &self.w.signed,
            grant: meta.grant.as_ref().and_then(|g| self.w.grants.get(g)),
            merge_source: source.as_ref(),
            facility_exists: &exists,
            dose_elsewhere: &elsewhere,
        })
    }

    /// Changes that only add doses, of a user recording doses: only those doses (and the birth
    /// date they are checked against) are read. `None` when the changes do anything else or a
    /// dose breaks a rule (the other ways then say which).
    fn only_new_doses(
        &self,
        base: &PersonDoc,
        changes: &[Change],
        pusher: usize,
        meta: &CommitMeta,
    ) -> Option<(Vec<u8>, Vec<Dose>)> {
        let pusher = &self.pushers[pusher];
        let writer = pusher.writer.as_ref()?;
        if self.w.existing.is_none() || meta.action != CommitAction::Dose || meta.grant.is_some() {
            return None;
        }
        let added = base.added_doses(changes)?;
        // Applied in place: a change queued for a missing dependency shows in `missing_deps`.
        let mut trial = base.clone();
        trial.apply_changes(changes.to_vec()).ok()?;
        if !trial.missing_deps().is_empty() {
            return None;
        }
        let birth = trial.birth_date().ok()?;
        let doses = trial.read_doses(&added).ok()?;
        // A dose given elsewhere is checked against the doses the record holds: the full way.
        if doses.iter().any(|d| d.is_history()) {
            return None;
        }
        let ok = self.with_knowledge(meta, pusher, |knows| {
            doses.iter().all(|d| {
                validate::check_dose(birth, d).is_ok()
                    && rules::check_new_dose(d, writer, knows).is_ok()
            })
        });
        let in_scope = self.w.scope.contains(&pusher.owner)
            || doses
                .iter()
                .any(|d| self.facilities.owner(&d.facility) == pusher.owner);
        let (saved, size) = trial.save_sized();
        // The document checks of the full way, on what these changes can break: a dose created
        // twice (two changes that did not see each other) is a structural conflict. (Unknown
        // keys inside the new doses were refused by `read_doses`.)
        let issues = DocIssues {
            conflicts: trial.dose_conflicts(&added),
            unknown: Vec::new(),
        };
        let shaped = rules::check_document(&issues, size).is_ok();
        (ok && in_scope && shaped).then_some((saved, doses))
    }

    /// Checks a candidate document for the change(s) of `meta` by `pusher`: its shape, the
    /// rulebook (or, for the server's own writer, that only the verification changed), the
    /// scope. Returns the person and the saved document.
    fn check(
        &self,
        doc: &PersonDoc,
        before: Option<&Person>,
        meta: &CommitMeta,
        pusher: usize,
    ) -> Result<(Person, Vec<u8>), PushResult> {
        let pusher = &self.pushers[pusher];
        let (after, issues) = doc
            .read_checked()
            .map_err(|e| rejected(RejectReason::Invalid, format!("tài liệu không hợp lệ: {e}")))?;
        if after.id != self.w.person_id {
            return Err(rejected(
                RejectReason::Malformed,
                format!(
                    "thay đổi không thuộc tài liệu của người {}",
                    self.w.person_id
                ),
            ));
        }
        let (saved, size) = doc.save_sized();
        rules::check_document(&issues, size).map_err(|v| refused(&v))?;
        let Some(writer) = &pusher.writer else {
            return check_system(before, after).map(|p| (p, saved));
        };
        self.with_knowledge(meta, pusher, |knows| {
            rules::check_write(before, &after, meta, writer, knows)
        })
        .map_err(|v| refused(&v))?;
        let owner = &pusher.owner;
        let in_scope = self.w.scope.contains(owner)
            || self.facilities.scope_of(&after).contains(owner)
            || before.is_some_and(|b| self.facilities.scope_of(b).contains(owner));
        if !in_scope {
            return Err(rejected(
                RejectReason::OutOfScope,
                format!("người này không thuộc phạm vi quản lý của cơ sở {owner}"),
            ));
        }
        Ok((after, saved))
    }
}

/// The server's own changes write verification results into existing records, nothing else.
fn check_system(before: Option<&Person>, after: Person) -> Result<Person, PushResult> {
    let same_otherwise = before.is_some_and(|b| {
        let mut b = b.clone();
        b.verification = after.verification.clone();
        b == after
    });
    if same_otherwise {
        Ok(after)
    } else {
        Err(rejected(
            RejectReason::Forbidden,
            "thay đổi của máy chủ chỉ được ghi kết quả xác thực",
        ))
    }
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
