//! What the HTTP handlers and the jobs share: the store, the options, and
//! the collector's in-memory parts. Cheap to clone.

use std::sync::{Arc, OnceLock};

use crate::apps::AppCache;
use crate::beacon::Beacon;
use crate::catalog::Catalog;
use crate::config::ServeConfig;
use crate::health::Health;
use crate::ingest::Ingest;
use crate::limits::{Limits, Rate};
use crate::store::{ServerVersion, Store};

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
    /// The store's version, once read (`buildInfo`).
    store_version: Arc<OnceLock<ServerVersion>>,
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
            store_version: Arc::new(OnceLock::new()),
            config: Arc::new(config),
            store,
        }
    }

    /// The store's version and what does not work on it: read once, at
    /// start or on first use, and logged as a warning when something does
    /// not work; `None` while the store cannot be asked.
    pub(crate) async fn store_version(&self) -> Option<ServerVersion> {
        if let Some(v) = self.store_version.get() {
            return Some(v.clone());
        }
        match self.store.server_version().await {
            Ok(v) => {
                if self.store_version.set(v.clone()).is_ok() {
                    for w in &v.warnings {
                        tracing::warn!(version = %v.version, "{w}");
                    }
                    if v.warnings.is_empty() {
                        tracing::info!(version = %v.version, "the store's MongoDB version");
                    }
                }
                Some(v)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the store's version (buildInfo); will ask again");
                None
            }
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
