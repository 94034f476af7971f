//! The storage boundary: the only module that names a MongoDB collection or
//! reads a MongoDB error code. Typed access per collection, the
//! classification of storage errors, and the one BSON↔JSON conversion.
//!
//! | module | collection / concern |
//! |---|---|
//! | `Events` (`events.rs`) | `events`: one document per event, `_id` = `"<app>:<event id>"` |
//! | `Apps` (`apps.rs`) | `apps`: one document per app, `_id` = the app id |
//! | `Catalog` (`catalog.rs`) | `catalog`: one document per (app, dimension or metric name) |
//! | `Leases` (`leases.rs`) | `leases`: one document per singleton job, `_id` = the job's name |
//! | `Rollups` (`rollups.rs`; a rebuild's writes in `rollups/replace.rs`) | `rollups`, `rollup_dirty`, `rollup_state`: pre-computed buckets, the hours to rebuild, what is built |
//! | [`StoreError`] (`error.rs`) | error classes: retryable, duplicate key, time limit |
//! | `json.rs` | stored values as the API's JSON |
//! | `version.rs` | the server's version (`buildInfo`) against the floor, MongoDB 7.0 |
//!
//! Layout and indexes: `docs/storage.md`.

mod apps;
mod catalog;
mod error;
mod events;
pub(crate) mod json;
mod leases;
mod rollups;
#[cfg(test)]
mod rollups_tests;
mod version;

use std::time::Duration;

use mongodb::bson::{doc, Document, RawDocumentBuf};
use mongodb::options::{
    Acknowledgment, ClientOptions, CollectionOptions, IndexOptions, WriteConcern,
};
use mongodb::{Client, Collection, Database, IndexModel};

pub(crate) use apps::{AppRecord, Apps, OriginsChange};
pub(crate) use catalog::{Catalog, Field, Sighting};
pub use error::StoreError;
pub(crate) use events::{EventKey, EventScan, Events, APP_TS_ID};
pub use leases::LeaseRecord;
pub(crate) use leases::Leases;
pub(crate) use rollups::{DirtyMark, MarkKind, Rollups};
pub(crate) use version::ServerVersion;

/// Collection of event documents.
const EVENTS: &str = "events";
/// Collection of apps.
const APPS: &str = "apps";
/// Collection of the dimension catalog.
const CATALOG: &str = "catalog";
/// Collection of the singleton jobs' leases.
const LEASES: &str = "leases";
/// Collection of the rollups' buckets.
const ROLLUPS: &str = "rollups";
/// Collection of the hours whose rollup buckets are to be rebuilt.
const ROLLUP_DIRTY: &str = "rollup_dirty";
/// Collection of what each rollup has built.
const ROLLUP_STATE: &str = "rollup_state";

/// How writes are acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteAck {
    /// `majority`, a number of nodes, or a tag set name.
    pub w: String,
    /// Wait for the journal.
    pub journal: bool,
}

impl Default for WriteAck {
    fn default() -> Self {
        Self {
            w: "majority".into(),
            journal: true,
        }
    }
}

impl WriteAck {
    fn to_write_concern(&self) -> WriteConcern {
        let w = match self.w.parse::<u32>() {
            Ok(n) => Acknowledgment::Nodes(n),
            Err(_) if self.w == "majority" => Acknowledgment::Majority,
            Err(_) => Acknowledgment::Custom(self.w.clone()),
        };
        WriteConcern::builder().w(w).journal(self.journal).build()
    }
}

/// The store: a MongoDB database and its collections, each behind typed
/// access. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
    events: Events,
    apps: Apps,
    catalog: Catalog,
    leases: Leases,
    rollups: Rollups,
}

impl Store {
    /// Connects (lazily: the driver connects on first use) to `uri`, database `database`.
    ///
    /// `timeout` bounds server selection, so an unreachable store answers
    /// within it instead of hanging a request.
    pub async fn connect(
        uri: &str,
        database: &str,
        write_ack: WriteAck,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Failed(format!("invalid MongoDB URI: {e}")))?;
        options
            .app_name
            .get_or_insert_with(|| "usagelens-collector".into());
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout.get_or_insert(timeout);
        let client = Client::with_options(options)?;
        Ok(Self::from_database(client.database(database), write_ack))
    }

    /// A store over an existing database handle; writes use `write_ack`.
    pub fn from_database(db: Database, write_ack: WriteAck) -> Self {
        let options = CollectionOptions::builder()
            .write_concern(write_ack.to_write_concern())
            .build();
        let typed = |name: &str| db.collection_with_options::<Document>(name, options.clone());
        Self {
            events: Events::new(
                db.collection_with_options::<RawDocumentBuf>(EVENTS, options.clone()),
            ),
            apps: Apps::new(typed(APPS)),
            catalog: Catalog::new(typed(CATALOG)),
            rollups: Rollups::new(typed(ROLLUPS), typed(ROLLUP_DIRTY), typed(ROLLUP_STATE)),
            // Whatever `write_ack` says: a lease acknowledged by a primary
            // alone could be rolled back and granted twice.
            leases: Leases::new(
                db.collection_with_options(
                    LEASES,
                    CollectionOptions::builder()
                        .write_concern(WriteAck::default().to_write_concern())
                        .build(),
                ),
            ),
            db,
        }
    }

    /// The database (for tools and tests that read the documents as stored).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The events.
    pub(crate) fn events(&self) -> &Events {
        &self.events
    }

    /// The apps.
    pub(crate) fn apps(&self) -> &Apps {
        &self.apps
    }

    /// The dimension catalog.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The singleton jobs' leases.
    pub(crate) fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The rollups' buckets, dirty marks and state.
    pub(crate) fn rollups(&self) -> &Rollups {
        &self.rollups
    }

    /// Whether the store answers a ping.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    /// The server's version (`buildInfo`) and what does not work on it.
    pub(crate) async fn server_version(&self) -> Result<ServerVersion, StoreError> {
        let info = self.db.run_command(doc! { "buildInfo": 1 }).await?;
        Ok(ServerVersion::from_build_info(info.get_str("version").ok()))
    }

    /// Creates the indexes of the query paths (idempotent).
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let named = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_owned()).build())
                .build()
        };
        let events: &Collection<RawDocumentBuf> = self.events.collection();
        events
            .create_indexes([
                named(doc! { "app": 1, "type": 1, "ts": 1 }, "app_type_ts"),
                named(doc! { "app": 1, "dims.user": 1, "ts": 1 }, "app_user_ts"),
                named(doc! { "app": 1, "ts": 1, "_id": 1 }, APP_TS_ID),
            ])
            .await?;
        // `app_ts` ({app, ts}) was replaced by `app_ts_id`, which serves all it
        // served; a database created before keeps it until this drops it.
        match events.drop_index("app_ts").await {
            Ok(()) => tracing::info!("dropped the index app_ts (replaced by {APP_TS_ID})"),
            Err(e) if error::is_index_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
        self.catalog
            .collection()
            .create_index(named(doc! { "app": 1, "name": 1 }, "app_name"))
            .await?;
        self.rollups.ensure_indexes().await?;
        Ok(())
    }
}
