//! A backlog signed after one PIN: planned into runs within the caps of one run (a person's
//! doses always in the same run), signed run by run with progress, stopped and resumed.

use super::{BacklogSummary, ManifestSigner, PlannedRun, SigningCandidate, SigningSelection};
use crate::error::{Result, StationError};
use crate::progress::{SigningControl, SigningProgress};
use crate::service::Station;
use std::collections::BTreeMap;
use sync_protocol::manifest::{MAX_DOSES_PER_RUN, MAX_PEOPLE_PER_RUN};
use uuid::Uuid;

impl Station {
    /// Signs a backlog: every dose of `selection` the preview showed (`expected_doses` of them),
    /// split into runs within the limits, one token operation each, one after another with the
    /// PIN the signer gave once. Stops between runs when asked ([`Station::cancel_signing`]);
    /// the runs signed so far are kept, and signing the selection again goes on with the rest.
    pub async fn sign_backlog(
        &self,
        selection: &SigningSelection,
        expected_doses: usize,
        signer: &(dyn ManifestSigner + Sync),
    ) -> Result<BacklogSummary> {
        let session = self.signer()?;
        let serial = self.check_signer_certificate(&session, signer)?;
        let _one_at_a_time = self.signing_control.running.lock().await;
        self.signing_control
            .cancel
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let preview = self.signing_preview(selection).await?;
        if preview.doses.is_empty() {
            return Err(StationError::NothingToSign);
        }
        if preview.doses.len() != expected_doses {
            return Err(StationError::SelectionChanged);
        }
        let plan = plan_runs(&preview.doses);
        self.signing_control.update(|p| {
            *p = SigningProgress {
                running: true,
                runs_done: 0,
                runs_planned: plan.len(),
                doses_signed: 0,
                doses_planned: preview.doses.len(),
            }
        });
        // Cleared however the signing ends.
        struct Finished<'a>(&'a SigningControl);
        impl Drop for Finished<'_> {
            fn drop(&mut self) {
                self.0.update(|p| p.running = false);
            }
        }
        let _finished = Finished(&self.signing_control);
        let mut summary = BacklogSummary {
            runs: Vec::new(),
            runs_planned: plan.len(),
            stopped: false,
        };
        for run in &plan {
            if self.signing_control.cancelled() {
                summary.stopped = true;
                break;
            }
            let done = self.sign_doses(&session, signer, &serial, run).await?;
            let signed = done.doses;
            summary.runs.push(done);
            self.signing_control.update(|p| {
                p.runs_done += 1;
                p.doses_signed += signed;
            });
        }
        Ok(summary)
    }

    /// How far the backlog being signed has got (`running` false when none is).
    pub fn signing_progress(&self) -> SigningProgress {
        self.signing_control.current()
    }

    /// Calls `watcher` with the signing's progress each time it changes.
    pub fn watch_signing(&self, watcher: crate::progress::Watcher<SigningProgress>) {
        self.signing_control.watch(watcher);
    }

    /// Asks the backlog being signed to stop after the run in progress.
    pub fn cancel_signing(&self) {
        self.signing_control
            .cancel
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Splits `doses` (in the order given) into runs within the limits of one run, a person's doses
/// always in the same run. Returns the doses of each run.
pub fn plan_runs(doses: &[SigningCandidate]) -> Vec<Vec<SigningCandidate>> {
    let mut people: Vec<(Uuid, Vec<SigningCandidate>)> = Vec::new();
    let mut index: BTreeMap<Uuid, usize> = BTreeMap::new();
    for d in doses {
        match index.get(&d.person_id) {
            Some(&i) => people[i].1.push(d.clone()),
            None => {
                index.insert(d.person_id, people.len());
                people.push((d.person_id, vec![d.clone()]));
            }
        }
    }
    let mut runs: Vec<Vec<SigningCandidate>> = Vec::new();
    let mut in_run = 0;
    for (_, theirs) in people {
        let fits = runs.last().is_some_and(|r| {
            in_run < MAX_PEOPLE_PER_RUN && r.len() + theirs.len() <= MAX_DOSES_PER_RUN
        });
        if fits {
            in_run += 1;
            if let Some(r) = runs.last_mut() {
                r.extend(theirs);
            }
        } else {
            in_run = 1;
            runs.push(theirs);
        }
    }
    runs
}

pub(super) fn planned(run: &[SigningCandidate]) -> PlannedRun {
    PlannedRun {
        people: run
            .iter()
            .map(|d| d.person_id)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        doses: run.len(),
        first_given_at: run.first().map(|d| d.given_at.clone()).unwrap_or_default(),
        last_given_at: run.last().map(|d| d.given_at.clone()).unwrap_or_default(),
    }
}
