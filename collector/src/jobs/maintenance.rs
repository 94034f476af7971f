//! The collector's own upkeep: indexes, the catalog flush, rate-limit keys.

use std::sync::Arc;
use std::time::Duration;

use super::{Job, Step};
use crate::catalog::Catalog;
use crate::health::Progress;
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

    async fn step(&mut self, _: &Progress) -> Result<Step, String> {
        // Idempotent: cancelled half-way, the next attempt creates the rest.
        self.store.ensure_indexes().await.map_err(|e| {
            tracing::warn!(error = %e, "cannot create the indexes yet; retrying");
            format!("cannot create the indexes yet: {}", e.class())
        })?;
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

    async fn step(&mut self, progress: &Progress) -> Result<Step, String> {
        // Cancellation-safe: `Catalog::flush` puts back what it did not write.
        self.catalog
            .flush_with_progress(&self.store, || progress.alive())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "catalog flush failed; the names wait for the next one");
                format!("catalog flush failed: {}", e.class())
            })?;
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

    async fn step(&mut self, _: &Progress) -> Result<Step, String> {
        self.limits.prune();
        Ok(Step::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;
    use crate::store::WriteAck;

    #[tokio::test]
    async fn a_failing_step_records_the_class_not_the_store_internals() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = Store::connect(
            &format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
            "x",
            WriteAck::default(),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
        let health = Arc::new(Health::default());
        let progress = health
            .register("indexes", Duration::from_secs(1), Duration::from_secs(60))
            .progress();
        let mut job = Indexes {
            store,
            every: Duration::from_secs(1),
        };
        let e = job.step(&progress).await.unwrap_err();
        assert_eq!(e, "cannot create the indexes yet: the store is unavailable");
        assert!(!e.contains(&port.to_string()));
    }
}
