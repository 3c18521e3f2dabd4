//! The progress of the long operations a user may watch and stop (a sync, the signing of a
//! backlog): kept beside the `Station` so it can be read at any time, and handed as it changes
//! to a watcher (the desktop app pushes it to the screen as an event instead of polling).

use crate::remote::{SyncError, SyncResult};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// The step a sync is at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum SyncPhase {
    /// Checking the server and the session.
    #[default]
    Connect,
    /// Sending this station's changes.
    Push,
    /// A new device's first download.
    Bootstrap,
    /// Receiving other stations' changes.
    Pull,
    /// Sending the audit log.
    Audit,
}

/// How far the running sync has got, for a progress bar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncProgress {
    pub running: bool,
    pub phase: SyncPhase,
    pub pushed: u64,
    pub to_push: u64,
    /// Snapshots and changes received so far.
    pub received: u64,
}

/// How far a backlog being signed has got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SigningProgress {
    pub running: bool,
    pub runs_done: usize,
    pub runs_planned: usize,
    pub doses_signed: usize,
    pub doses_planned: usize,
}

/// Who is told of each change of a progress.
pub type Watcher<P> = Arc<dyn Fn(&P) + Send + Sync>;

/// One long operation's progress, the user's request to stop it, and the lock that lets only
/// one run at a time.
pub(crate) struct Control<P> {
    pub(crate) cancel: AtomicBool,
    progress: Mutex<P>,
    /// A second caller waits for the first.
    pub(crate) running: tokio::sync::Mutex<()>,
    watcher: RwLock<Option<Watcher<P>>>,
}

impl<P: Default> Default for Control<P> {
    fn default() -> Self {
        Control {
            cancel: AtomicBool::new(false),
            progress: Mutex::new(P::default()),
            running: tokio::sync::Mutex::new(()),
            watcher: RwLock::new(None),
        }
    }
}

impl<P: Clone> Control<P> {
    /// Changes the progress and tells the watcher (outside the lock: a slow watcher never holds
    /// up a reader).
    pub(crate) fn update(&self, f: impl FnOnce(&mut P)) {
        let now = {
            let mut p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut p);
            p.clone()
        };
        let watcher = self
            .watcher
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(w) = watcher {
            w(&now);
        }
    }

    /// The progress now.
    pub(crate) fn current(&self) -> P {
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Tells `watcher` of every change from now on (one watcher: a new one replaces the old).
    pub(crate) fn watch(&self, watcher: Watcher<P>) {
        *self.watcher.write().unwrap_or_else(PoisonError::into_inner) = Some(watcher);
    }

    /// Whether the user asked the operation to stop.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

/// The running sync's progress and the user's request to stop it.
pub(crate) type SyncControl = Control<SyncProgress>;

impl SyncControl {
    /// Stops between steps: what is committed stays, nothing is half written.
    pub(crate) fn check(&self) -> SyncResult<()> {
        if self.cancelled() {
            Err(SyncError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// The progress of the backlog being signed and the signer's request to stop it.
pub(crate) type SigningControl = Control<SigningProgress>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_hears_every_change_and_a_reader_sees_the_latest() {
        let control = SyncControl::default();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let ear = heard.clone();
        control.watch(Arc::new(move |p: &SyncProgress| {
            ear.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((p.phase, p.pushed));
        }));
        control.update(|p| {
            p.running = true;
            p.phase = SyncPhase::Push;
        });
        control.update(|p| p.pushed = 500);
        assert_eq!(
            *heard.lock().unwrap_or_else(PoisonError::into_inner),
            [(SyncPhase::Push, 0), (SyncPhase::Push, 500)]
        );
        assert_eq!(control.current().pushed, 500);
        assert!(control.check().is_ok());
        control.cancel.store(true, Ordering::SeqCst);
        assert!(matches!(control.check(), Err(SyncError::Cancelled)));
    }
}
