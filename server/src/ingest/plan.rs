//! The named steps of one group: decode the changes, acknowledge those already stored, bind
//! actors to devices, read what the checks need, check what each change says about itself
//! (author = the session's user, counters, history), check each person's changes with the
//! rulebook, then number the accepted ones and lay out the group's write.

use super::store::{self, ChangeRow, DocRow, GroupWrite, RejectionRow, SignedDoses};
use super::validate::{
    Accepted, Incoming, PersonOutcome, PersonWork, PusherCtx, rejected, validate_all,
};
use super::{GroupWriter, Job, Overlay, Plan, SYSTEM_USER};
use crate::scope::Facilities;
use automerge::Change;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use sync_protocol::columns::PersonColumns;
use sync_protocol::person::format_time;
use sync_protocol::rules::{self, Grant};
use sync_protocol::wire::{MAX_CHANGE_BYTES, PushResult, RejectReason};
use sync_protocol::{CommitAction, CommitMeta};
use uuid::Uuid;

/// One pushed change on its way through a group.
struct Entry {
    job: usize,
    person_id: Uuid,
    change: Option<Change>,
    meta: Option<CommitMeta>,
    result: Option<PushResult>,
}

/// What the checks read from storage for the group's people.
#[derive(Default)]
struct Known {
    docs: HashMap<Uuid, Vec<u8>>,
    scopes: HashMap<Uuid, BTreeSet<String>>,
    signed: HashMap<Uuid, SignedDoses>,
    grants: HashMap<(String, Uuid), Grant>,
    sources: HashMap<Uuid, (Vec<u8>, BTreeSet<String>)>,
    /// Who holds each dose id the group's changes may create: dose → person.
    dose_owners: Arc<HashMap<Uuid, Uuid>>,
}

fn pending(entries: &[Entry]) -> impl Iterator<Item = &Entry> {
    entries
        .iter()
        .filter(|e| e.result.is_none() && e.change.is_some())
}

fn hash_of(e: &Entry) -> [u8; 32] {
    e.change.as_ref().map(|c| c.hash().0).unwrap_or([0; 32])
}

/// Step 1: each pushed change decoded, or refused as oversized or unreadable.
fn decode(jobs: &[Job]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        for c in &job.changes {
            let mut e = Entry {
                job: j,
                person_id: c.person_id,
                change: None,
                meta: None,
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
                match sync_protocol::document::decode_change(c.bytes.clone()) {
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
    entries
}

/// Step 4: what each change says about itself — for a user, an author who is the session's
/// user, counters in range, a history to build on; for the server's own writer, its author.
fn check_changes(entries: &mut [Entry], pushers: &[PusherCtx], docs: &HashMap<Uuid, Vec<u8>>) {
    for e in entries.iter_mut().filter(|e| e.result.is_none()) {
        let Some(change) = &e.change else { continue };
        let verdict = match &pushers[e.job].writer {
            Some(writer) => {
                rules::check_change(change, &writer.user, docs.contains_key(&e.person_id))
                    .map_err(|v| rejected((&v).into(), v.to_string()))
            }
            None => CommitMeta::from_change(change)
                .filter(|m| m.user == SYSTEM_USER && m.action == CommitAction::Verify)
                .ok_or_else(|| {
                    rejected(
                        RejectReason::Forbidden,
                        "thay đổi của máy chủ phải ghi tác giả hệ thống",
                    )
                }),
        };
        match verdict {
            Ok(meta) => e.meta = Some(meta),
            Err(r) => e.result = Some(r),
        }
    }
}

impl GroupWriter {
    pub(super) async fn plan(&mut self, jobs: &[Job]) -> Result<Plan, sqlx::Error> {
        let facilities = self.facilities().await?;
        let pushers: Vec<PusherCtx> = jobs
            .iter()
            .map(|j| PusherCtx::of(&j.pusher, &facilities))
            .collect();
        let mut entries = decode(jobs);
        self.mark_duplicates(&mut entries).await?;
        let new_actors = self.bind_actors(&mut entries, &pushers).await?;
        let mut known = self.load_people(&entries).await?;
        check_changes(&mut entries, &pushers, &known.docs);
        self.load_references(&entries, &mut known).await?;
        known.dose_owners = Arc::new(self.dose_owners(&entries).await?);
        let work = assemble(&entries, &mut known);
        let pushers = Arc::new(pushers);
        let (for_work, facilities_for_work) = (pushers.clone(), facilities.clone());
        let today = self.clock.now();
        let outcomes = tokio::task::spawn_blocking(move || {
            validate_all(work, &for_work, &facilities_for_work, today)
        })
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("validation task failed: {e}")))?;
        for o in &outcomes {
            for (i, verdict) in &o.verdicts {
                entries[*i].result = Some(verdict.clone());
            }
        }
        Ok(self.lay_out(
            jobs,
            entries,
            outcomes,
            &pushers,
            &known.scopes,
            &facilities,
            new_actors,
        ))
    }

    /// Step 2: the same change twice in this group, or already stored: acknowledged, not
    /// stored again.
    async fn mark_duplicates(&self, entries: &mut [Entry]) -> Result<(), sqlx::Error> {
        let mut seen = HashSet::new();
        for e in entries.iter_mut() {
            if let (None, Some(c)) = (&e.result, &e.change)
                && !seen.insert(c.hash())
            {
                e.result = Some(PushResult::Duplicate);
            }
        }
        let hashes: Vec<Vec<u8>> = pending(entries).map(|e| hash_of(e).to_vec()).collect();
        let stored = store::known_hashes(&self.db, &hashes).await?;
        for e in entries.iter_mut() {
            let h = hash_of(e);
            if e.result.is_none()
                && (stored.contains(h.as_slice()) || self.overlay.hashes.contains(h.as_slice()))
            {
                e.result = Some(PushResult::Duplicate);
            }
        }
        Ok(())
    }

    /// Step 3: an actor belongs to the device that first pushed it; no device writes as another.
    /// Returns the actors this group binds.
    async fn bind_actors(
        &self,
        entries: &mut [Entry],
        pushers: &[PusherCtx],
    ) -> Result<BTreeMap<Vec<u8>, String>, sqlx::Error> {
        let actors: Vec<Vec<u8>> = pending(entries)
            .filter_map(|e| e.change.as_ref().map(|c| c.actor_id().to_bytes().to_vec()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut owner = store::actor_owners(&self.db, &actors).await?;
        owner.extend(
            self.overlay
                .actors
                .iter()
                .map(|(a, d)| (a.clone(), d.clone())),
        );
        let mut new_actors = BTreeMap::new();
        // The devices each pusher replaces, read only when an actor's owner differs.
        let mut replaced: HashMap<String, Vec<String>> = HashMap::new();
        for e in entries.iter_mut().filter(|e| e.result.is_none()) {
            let Some(c) = &e.change else { continue };
            let actor = c.actor_id().to_bytes().to_vec();
            let device = &pushers[e.job].device;
            match owner.get(&actor) {
                Some(d) if d != device => {
                    if !replaced.contains_key(device) {
                        let chain = store::replaced_devices(&self.db, device).await?;
                        replaced.insert(device.clone(), chain);
                    }
                    if replaced.get(device).is_some_and(|chain| chain.contains(d)) {
                        // A laptop rebuilt from a backup pushes what its predecessor wrote.
                        continue;
                    }
                    e.result = Some(rejected(
                        RejectReason::ForeignActor,
                        "thay đổi mang mã tác giả của một thiết bị khác",
                    ));
                }
                Some(_) => {}
                None => {
                    owner.insert(actor.clone(), device.clone());
                    new_actors.insert(actor, device.clone());
                }
            }
        }
        Ok(new_actors)
    }

    /// Step 4 needs to know who exists: the documents, scopes and signed doses of the people
    /// the pending changes are for (this group's uncommitted predecessor included).
    async fn load_people(&self, entries: &[Entry]) -> Result<Known, sqlx::Error> {
        let ids: Vec<Uuid> = pending(entries)
            .map(|e| e.person_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut known = Known {
            docs: store::load_docs(&self.db, &ids).await?,
            scopes: store::load_scopes(&self.db, &ids).await?,
            signed: store::load_signed(&self.db, &ids).await?,
            ..Known::default()
        };
        for id in &ids {
            if let Some(doc) = self.overlay.docs.get(id) {
                known.docs.insert(*id, doc.clone());
            }
            if let Some(scope) = self.overlay.scopes.get(id) {
                known.scopes.insert(*id, scope.clone());
            }
        }
        Ok(known)
    }

    /// Step 5: what the changes refer to — the step-up grants they rely on and the records
    /// merges take doses from.
    async fn load_references(
        &self,
        entries: &[Entry],
        known: &mut Known,
    ) -> Result<(), sqlx::Error> {
        let metas = || {
            entries
                .iter()
                .filter(|e| e.result.is_none())
                .filter_map(|e| e.meta.as_ref())
        };
        let grant_ids: Vec<String> = metas()
            .filter_map(|m| m.grant.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        known.grants = store::load_grants(&self.db, &grant_ids).await?;
        let sources: Vec<Uuid> = metas()
            .filter_map(|m| m.merged_from)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut docs = store::load_docs(&self.db, &sources).await?;
        let mut scopes = store::load_scopes(&self.db, &sources).await?;
        for id in &sources {
            if let Some(doc) = self.overlay.docs.get(id) {
                docs.insert(*id, doc.clone());
            }
            if let Some(scope) = self.overlay.scopes.get(id) {
                scopes.insert(*id, scope.clone());
            }
        }
        known.sources = docs
            .into_iter()
            .map(|(id, doc)| (id, (doc, scopes.remove(&id).unwrap_or_default())))
            .collect();
        Ok(())
    }

    /// Step 5 also reads who holds the dose ids the changes may create (a dose id is unique
    /// across the store): stored doses, the group being written, then this group's changes in
    /// push order — the first person to claim an id holds it, so two people's changes never
    /// both write one dose row.
    async fn dose_owners(&self, entries: &[Entry]) -> Result<HashMap<Uuid, Uuid>, sqlx::Error> {
        let claims: Vec<(Uuid, Uuid)> = entries
            .iter()
            .filter(|e| e.result.is_none())
            .filter_map(|e| Some((e.person_id, e.change.as_ref()?)))
            .flat_map(|(person, c)| {
                sync_protocol::document::dose_ids_made(c)
                    .into_iter()
                    .map(move |dose| (dose, person))
            })
            .collect();
        let ids: Vec<Uuid> = claims
            .iter()
            .map(|(dose, _)| *dose)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut owners = store::dose_owners(&self.db, &ids).await?;
        for id in &ids {
            if let Some(person) = self.overlay.doses.get(id) {
                owners.insert(*id, *person);
            }
        }
        for (dose, person) in claims {
            owners.entry(dose).or_insert(person);
        }
        Ok(owners)
    }

    /// Step 7: numbers the accepted changes in order and lays out the group's one transaction:
    /// changes, feed, scope, actors, rejections, documents and dose rows.
    #[allow(clippy::too_many_arguments)]
    fn lay_out(
        &mut self,
        jobs: &[Job],
        mut entries: Vec<Entry>,
        mut outcomes: Vec<PersonOutcome>,
        pushers: &[PusherCtx],
        scopes: &HashMap<Uuid, BTreeSet<String>>,
        facilities: &Facilities,
        new_actors: BTreeMap<Vec<u8>, String>,
    ) -> Plan {
        let mut seq = self.next_seq;
        let received_at = format_time(self.clock.now());
        let mut change_rows = Vec::new();
        let mut feed_rows = Vec::new();
        let mut scope_rows = Vec::new();
        let mut used_actors = HashSet::new();
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
                    device: pushers[e.job].device.clone(),
                    author: e.meta.as_ref().map(|m| m.user.clone()),
                    bytes: c.raw_bytes().to_vec(),
                });
                seqs.push(seq);
                entries[i].result = Some(PushResult::Accepted { seq });
                seq += 1;
            }
            let persisted = scopes.get(&o.person_id).cloned().unwrap_or_default();
            let first = seqs.first().copied().unwrap_or(seq);
            for f in accepted.scope(&persisted, facilities) {
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
                    device: pushers[e.job].device.clone(),
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
                .insert(o.person_id, accepted.scope(&persisted, facilities));
            overlay.docs.insert(o.person_id, bytes.clone());
            let last_seq = o.last_seq as i64;
            let first_dose = doses.len();
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
            overlay.doses.extend(
                doses[first_dose..]
                    .iter()
                    .map(|(_, dose)| (dose.id, o.person_id)),
            );
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
        Plan {
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
                console_counts: self.console_counts.load(Ordering::Relaxed),
            },
            results,
            high_water,
            overlay,
        }
    }
}

/// Step 6 gathers, for each person, the changes that passed so far with what checking them
/// needs.
fn assemble(entries: &[Entry], known: &mut Known) -> Vec<PersonWork> {
    let mut by_person: BTreeMap<Uuid, Vec<Incoming>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let (None, Some(change), Some(meta)) = (&e.result, &e.change, &e.meta) {
            by_person.entry(e.person_id).or_default().push(Incoming {
                entry: i,
                change: change.clone(),
                meta: meta.clone(),
                pusher: e.job,
            });
        }
    }
    by_person
        .into_iter()
        .map(|(person_id, incoming)| {
            let grants = incoming
                .iter()
                .filter_map(|i| i.meta.grant.as_ref())
                .filter_map(|g| {
                    known
                        .grants
                        .get(&(g.clone(), person_id))
                        .map(|grant| (g.clone(), grant.clone()))
                })
                .collect();
            let sources = incoming
                .iter()
                .filter_map(|i| i.meta.merged_from)
                .filter_map(|s| known.sources.get(&s).map(|v| (s, v.clone())))
                .collect();
            PersonWork {
                person_id,
                dose_owners: known.dose_owners.clone(),
                existing: known.docs.get(&person_id).cloned(),
                scope: known.scopes.get(&person_id).cloned().unwrap_or_default(),
                signed: known.signed.remove(&person_id).unwrap_or_default(),
                incoming,
                grants,
                sources,
            }
        })
        .collect()
}
