//! The collector's own upkeep: indexes, the catalog flush, rate-limit keys.

use std::sync::Arc;
use std::time::Duration;

use super::{Job, Step};
use crate::catalog::Catalog;
use crate::limits::Limits;
use crate::store::Store;

/// Creates the indexes when the store was not reachable at start, then ends.
#[derive(Debug)]
pub(crate) struct Indexes {
    pub(crate) store: Store,
    pub(crate) every: Duration,
}

impl Job for Indexes {
    const NAME: &'static str = "indexes";

    fn every(&self) -> Duration {
        self.every
    }

    async fn step(&mut self) -> Result<Step, String> {
        // Idempotent: cancelled half-way, the next attempt creates the rest.
        self.store
            .ensure_indexes()
            .await
            .map_err(|e| format!("cannot create the indexes yet: {e}"))?;
        tracing::info!("indexes created");
        Ok(Step::Done)
    }
}

/// Writes the dimension catalog every period and once more at shutdown.
#[derive(Debug)]
pub(crate) struct CatalogFlush {
    pub(crate) store: Store,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) every: Duration,
}

impl Job for CatalogFlush {
    const NAME: &'static str = "catalog-flush";

    fn every(&self) -> Duration {
        self.every
    }

    async fn step(&mut self) -> Result<Step, String> {
        // Cancellation-safe: `Catalog::flush` puts back what it did not write.
        self.catalog
            .flush(&self.store)
            .await
            .map_err(|e| format!("catalog flush failed; the names wait for the next one: {e}"))?;
        Ok(Step::Continue)
    }

    async fn finish(&mut self) {
        match self.catalog.flush(&self.store).await {
            Ok(n) => tracing::info!(entries = n, "catalog flushed"),
            Err(e) => tracing::warn!(error = %e, "catalog flush at shutdown failed"),
        }
    }
}

/// Forgets rate-limit keys whose buckets are full again (bounded memory
/// under many client addresses).
#[derive(Debug)]
pub(crate) struct LimitsPrune {
    pub(crate) limits: Arc<Limits>,
    pub(crate) every: Duration,
}

impl Job for LimitsPrune {
    const NAME: &'static str = "limits-prune";

    fn every(&self) -> Duration {
        self.every
    }

    async fn step(&mut self) -> Result<Step, String> {
        self.limits.prune();
        Ok(Step::Continue)
    }
}
