//! Wall-clock time, injected: what reads "now" to decide something that
//! other collectors or later runs see (a lease's expiry; later, rollup
//! buckets and alert windows) takes a [`Clock`], so tests move time by hand
//! with a [`ManualClock`] instead of sleeping.
//!
//! ```
//! use std::time::Duration;
//! use usagelens_collector::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::at(1_700_000_000_000);
//! clock.advance(Duration::from_secs(90));
//! assert_eq!(clock.now_ms(), 1_700_000_090_000);
//! ```

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, epoch milliseconds.
pub trait Clock: Send + Sync + Debug + 'static {
    /// Now, epoch ms.
    fn now_ms(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that moves only when told (for tests). Clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `ms`.
    pub fn at(ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(ms)))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }

    /// Sets the clock to `ms`.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
