//! The rollup builder: a singleton job (one collector at a time, under the
//! lease `rollup-builder`) that rebuilds the buckets of the hours ingest
//! marked dirty, in every rollup.

use std::sync::Arc;
use std::time::Duration;

use super::{Job, Step};
use crate::clock::Clock;
use crate::health::Progress;
use crate::rollups::{self, Rollup};
use crate::store::Store;

/// The builder's lease.
pub(crate) const LEASE: &str = "rollup-builder";

/// Rebuilds the dirty hours every period.
#[derive(Debug)]
pub(crate) struct RollupBuilder {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rollups: Vec<Rollup>,
    pub(crate) every: Duration,
    /// How long a mark rests before it is built, so a burst of batches
    /// into one hour is built once.
    pub(crate) settle: Duration,
    /// Whether the definitions are recorded (once per start).
    pub(crate) ensured: bool,
}

/// Marks one pass takes on.
const MARKS_PER_PASS: i64 = 2000;

impl Job for RollupBuilder {
    const NAME: &'static str = "rollup-builder";

    fn every(&self) -> Duration {
        self.every
    }

    fn deadline(&self) -> Duration {
        // A pass over a backfill's marks reports progress after each range.
        self.every * 3 + Duration::from_secs(180)
    }

    async fn step(&mut self, progress: &Progress) -> Result<Step, String> {
        let now = self.clock.now_ms();
        if !self.ensured {
            rollups::ensure(&self.store, &self.rollups, now)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "cannot record the rollups' definitions yet");
                    format!("cannot record the rollups' definitions: {}", e.class())
                })?;
            self.ensured = true;
        }
        let settled = now - self.settle.as_millis() as i64;
        let out = rollups::build_pending(
            &self.store,
            &self.rollups,
            settled,
            now,
            MARKS_PER_PASS,
            || progress.alive(),
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "a rollup build failed; its hours stay dirty");
            format!("a rollup build failed: {}", e.class())
        })?;
        if out.cleared > 0 {
            tracing::debug!(
                hours = out.cleared,
                ranges = out.ranges,
                docs = out.docs,
                events = out.events,
                "rollups rebuilt"
            );
        }
        Ok(Step::Continue)
    }
}
