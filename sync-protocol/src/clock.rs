//! The time as the software reads it. In production it is the system's; a test holds a clock it
//! moves forward (a lock running out, a lease ending, the next one-time-code step) instead of
//! rewriting rows of the database to pretend time has passed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use time::macros::offset;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Vietnam's offset; every time the system shows or stores is at +07:00.
pub const VIETNAM: UtcOffset = offset!(+7);

/// A clock: the system's, or one that tests move forward. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Seconds added to the system's time; `None` for the system clock, which never moves.
    ahead: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock { ahead: None }
    }

    /// A clock that starts at the system's time and moves ahead when told (tests).
    pub fn movable() -> Clock {
        Clock {
            ahead: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Moves a movable clock (and every clone of it) forward by `by`, or back when `by` is
    /// negative (a laptop's clock set back); the system's clock cannot be moved, and says so by
    /// returning `false`.
    pub fn advance(&self, by: Duration) -> bool {
        match &self.ahead {
            Some(ahead) => {
                ahead.fetch_add(by.whole_seconds(), Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// The current time at +07:00, to the second.
    pub fn now(&self) -> OffsetDateTime {
        let system = OffsetDateTime::now_utc().to_offset(VIETNAM);
        let system = system.replace_nanosecond(0).unwrap_or(system);
        match &self.ahead {
            Some(ahead) => system
                .checked_add(Duration::seconds(ahead.load(Ordering::SeqCst)))
                .unwrap_or(system),
            None => system,
        }
    }

    /// Seconds since the Unix epoch, the time one-time codes are checked against (0 before 1970).
    pub fn unix(&self) -> u64 {
        u64::try_from(self.now().unix_timestamp()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_movable_clock_moves_for_every_clone_and_the_system_clock_never_does() {
        let clock = Clock::movable();
        let shared = clock.clone();
        let before = shared.now();
        assert!(clock.advance(Duration::minutes(31)));
        let moved = shared.now() - before;
        assert!(
            moved >= Duration::minutes(31) && moved < Duration::minutes(32),
            "{moved}"
        );
        assert_eq!(
            shared.unix(),
            u64::try_from(shared.now().unix_timestamp()).unwrap_or(0)
        );

        let system = Clock::system();
        assert!(!system.advance(Duration::hours(1)));
        let drift = (system.now() - OffsetDateTime::now_utc()).abs();
        assert!(drift < Duration::seconds(2), "{drift}");
    }
}
