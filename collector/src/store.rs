//! The MongoDB store: collections, indexes, writes, and the error
//! classification the HTTP layer maps to status codes.
//!
//! Layout (see `docs/storage.md`):
//! - `events`: one document per event, `_id` = `"<app>:<event id>"`.
//! - `apps`: one document per app, `_id` = the app id.
//! - `catalog`: one document per (app, dimension or metric name).

use std::time::Duration;

use mongodb::bson::{doc, Bson, DateTime, Document, RawDocumentBuf};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{Acknowledgment, ClientOptions, IndexOptions, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};

/// Collection of event documents.
pub const EVENTS: &str = "events";
/// Collection of apps.
pub const APPS: &str = "apps";
/// Collection of the dimension catalog.
pub const CATALOG: &str = "catalog";

/// The index `{app: 1, ts: 1, _id: 1}` on `events`: an app's events in
/// `(ts, _id)` order, which the raw export pages through without a sort.
pub const APP_TS_ID: &str = "app_ts_id";

/// MongoDB's duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;
/// MongoDB's error code for dropping an index that does not exist.
const INDEX_NOT_FOUND: i32 = 27;

/// A storage error, classified.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or cannot take writes now; retrying later may work.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store refused the operation.
    #[error("the store refused the operation: {0}")]
    Failed(String),
    /// A document with the same key exists.
    #[error("duplicate key: {0}")]
    DuplicateKey(String),
}

impl StoreError {
    /// Whether a retry later may succeed (the HTTP layer answers 503 with `Retry-After`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Whether the error is a duplicate key.
    pub fn is_duplicate_key(&self) -> bool {
        matches!(self, Self::DuplicateKey(_))
    }
}

/// Server error codes that mean "not now" (not primary, shutting down, …).
const UNAVAILABLE_CODES: &[i32] = &[
    6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 64, 100,
];

impl From<mongodb::error::Error> for StoreError {
    fn from(e: mongodb::error::Error) -> Self {
        let msg = e.to_string();
        match e.kind.as_ref() {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. } => Self::Unavailable(msg),
            ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => {
                Self::DuplicateKey(msg)
            }
            ErrorKind::Write(WriteFailure::WriteConcernError(_)) => Self::Unavailable(msg),
            ErrorKind::Command(c) if UNAVAILABLE_CODES.contains(&c.code) => Self::Unavailable(msg),
            _ if e.contains_label("RetryableWriteError") => Self::Unavailable(msg),
            _ => Self::Failed(msg),
        }
    }
}

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

/// What an unordered bulk insert did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InsertOutcome {
    /// Documents written.
    pub inserted: u64,
    /// Indexes (into the documents given) that were already stored.
    pub duplicates: Vec<usize>,
    /// Indexes the store refused for another reason, with its message.
    pub failed: Vec<(usize, String)>,
}

/// The store: a MongoDB database and its collections.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
    events: Collection<RawDocumentBuf>,
    write_ack: WriteAck,
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

    /// A store over an existing database handle.
    pub fn from_database(db: Database, write_ack: WriteAck) -> Self {
        let wc = write_ack.to_write_concern();
        let events = db.collection_with_options(
            EVENTS,
            mongodb::options::CollectionOptions::builder()
                .write_concern(wc)
                .build(),
        );
        Self {
            db,
            events,
            write_ack,
        }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// A collection, with the configured write concern.
    pub fn collection(&self, name: &str) -> Collection<Document> {
        self.db.collection_with_options(
            name,
            mongodb::options::CollectionOptions::builder()
                .write_concern(self.write_ack.to_write_concern())
                .build(),
        )
    }

    /// Whether the store answers a ping.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    /// Creates the indexes for the query paths (idempotent).
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let named = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_owned()).build())
                .build()
        };
        self.events
            .create_indexes([
                named(doc! { "app": 1, "type": 1, "ts": 1 }, "app_type_ts"),
                named(doc! { "app": 1, "dims.user": 1, "ts": 1 }, "app_user_ts"),
                named(doc! { "app": 1, "ts": 1, "_id": 1 }, APP_TS_ID),
            ])
            .await?;
        // `app_ts` ({app, ts}) was replaced by `app_ts_id`, which serves all it
        // served; a database created before keeps it until this drops it.
        match self.events.drop_index("app_ts").await {
            Ok(()) => tracing::info!("dropped the index app_ts (replaced by {APP_TS_ID})"),
            Err(e) if is_index_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
        self.collection(CATALOG)
            .create_index(named(doc! { "app": 1, "name": 1 }, "app_name"))
            .await?;
        Ok(())
    }

    /// Inserts event documents unordered. Duplicate keys are counted, not failures.
    pub async fn insert_events(
        &self,
        docs: &[RawDocumentBuf],
    ) -> Result<InsertOutcome, StoreError> {
        if docs.is_empty() {
            return Ok(InsertOutcome::default());
        }
        match self.events.insert_many(docs).ordered(false).await {
            Ok(r) => Ok(InsertOutcome {
                inserted: r.inserted_ids.len() as u64,
                ..InsertOutcome::default()
            }),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(im) => {
                    if let Some(wce) = &im.write_concern_error {
                        // Written, but not acknowledged as asked: the client retries,
                        // and the retry counts as duplicates.
                        return Err(StoreError::Unavailable(format!(
                            "write concern not satisfied: {}",
                            wce.message
                        )));
                    }
                    let mut out = InsertOutcome::default();
                    for we in im.write_errors.iter().flatten() {
                        if we.code == DUPLICATE_KEY {
                            out.duplicates.push(we.index);
                        } else {
                            out.failed.push((we.index, we.message.clone()));
                        }
                    }
                    out.inserted = (docs.len() - out.duplicates.len() - out.failed.len()) as u64;
                    Ok(out)
                }
                _ => Err(e.into()),
            },
        }
    }
}

fn is_index_not_found(e: &mongodb::error::Error) -> bool {
    matches!(e.kind.as_ref(), ErrorKind::Command(c) if c.code == INDEX_NOT_FOUND)
}

/// Milliseconds since the epoch as a BSON date.
pub fn bson_date(ms: i64) -> Bson {
    Bson::DateTime(DateTime::from_millis(ms))
}
