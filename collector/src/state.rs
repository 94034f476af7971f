//! What the HTTP handlers and the jobs share: the store, the options, and
//! the collector's in-memory parts. Cheap to clone.

use std::sync::Arc;

use crate::apps::AppCache;
use crate::beacon::Beacon;
use crate::catalog::Catalog;
use crate::config::ServeConfig;
use crate::health::Health;
use crate::ingest::Ingest;
use crate::limits::{Limits, Rate};
use crate::store::Store;

/// Everything a request handler needs.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The MongoDB store.
    pub(crate) store: Store,
    /// The serve options.
    pub(crate) config: Arc<ServeConfig>,
    /// Apps by id, cached.
    pub(crate) apps: Arc<AppCache>,
    /// Names waiting for the catalog.
    pub catalog: Arc<Catalog>,
    /// Rate limiters.
    pub(crate) limits: Arc<Limits>,
    /// The browser beacon's files (from `--beacon-dir`), or why there are none.
    pub(crate) beacon: Arc<Beacon>,
    /// The background jobs' health.
    pub(crate) health: Arc<Health>,
}

impl AppState {
    /// State over `store` with `config`. Reads and compresses the beacon's
    /// files from `config.beacon_dir`, if set.
    pub fn new(store: Store, config: ServeConfig) -> Self {
        Self {
            beacon: Arc::new(Beacon::load(config.beacon_dir.as_deref())),
            apps: Arc::new(AppCache::new(config.app_cache_ttl)),
            catalog: Arc::new(Catalog::default()),
            limits: Arc::new(Limits::new(
                Rate(config.rate_limit_ip),
                Rate(config.rate_limit_app),
            )),
            health: Arc::new(Health::default()),
            config: Arc::new(config),
            store,
        }
    }

    /// Ingest over this state's parts.
    pub(crate) fn ingest(&self) -> Ingest<'_> {
        Ingest {
            store: &self.store,
            apps: &self.apps,
            catalog: &self.catalog,
            limits: &self.limits,
        }
    }
}
