//! Where the time comes from. Everything that stamps or compares a time asks
//! the [`Clock`] in the application state, never the system directly, so tests
//! can move time forward (grace windows, expiry, retention) instead of sleeping.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{NaiveDateTime, SubsecRound as _};

/// The current time as stored: UTC, whole microseconds (what PostgreSQL keeps;
/// SQLite would keep nanoseconds), so both backends read back what was written.
pub trait Clock: Send + Sync {
    fn now(&self) -> NaiveDateTime;
}

/// The real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        chrono::Utc::now().naive_utc().trunc_subsecs(6)
    }
}

/// A clock that moves only when told to, apart from one microsecond per
/// reading (so that things done one after another still get increasing times
/// and keep their order, as they would on a real clock). Starts at the real
/// time; clones share one time, so a test keeps a clone and advances the
/// application's clock.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<NaiveDateTime>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self {
            now: Arc::new(Mutex::new(SystemClock.now())),
        }
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the time forward (or back, with a negative duration).
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += chrono::Duration::microseconds(1);
        *now
    }
}

/// A configured number of seconds as a duration, saturating far in the
/// future rather than overflowing (settings are bounded, but a duration must
/// never panic on a request path).
pub fn seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 4_000))
}
