//! The `events` collection: one document per event (layout in
//! `docs/storage.md`), written by ingest and read by the query engine and
//! the export.

use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document, RawDocumentBuf};
use mongodb::error::ErrorKind;
use mongodb::options::Hint;
use mongodb::Collection;

use super::error::{hinted, DUPLICATE_KEY};
use super::StoreError;

/// The index `{app: 1, ts: 1, _id: 1}`: an app's events in `(ts, _id)`
/// order, which the raw export pages through without a sort.
pub(crate) const APP_TS_ID: &str = "app_ts_id";

/// What an unordered bulk insert did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct InsertOutcome {
    /// Documents written.
    pub(crate) inserted: u64,
    /// Indexes (into the documents given) that were already stored.
    pub(crate) duplicates: Vec<usize>,
    /// Indexes the store refused for another reason, with its message.
    pub(crate) failed: Vec<(usize, String)>,
}

/// The `(ts, _id)` key of one event, the export's page boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventKey {
    /// `ts`, epoch milliseconds.
    pub(crate) ts_ms: i64,
    /// `_id`, `"<app>:<event id>"`.
    pub(crate) id: String,
}

/// Typed access to `events`.
#[derive(Debug, Clone)]
pub(crate) struct Events {
    coll: Collection<RawDocumentBuf>,
}

/// Events in `(ts, _id)` order, fetched from the store batch by batch.
#[derive(Debug)]
pub(crate) struct EventScan(mongodb::Cursor<RawDocumentBuf>);

impl EventScan {
    /// The next event, `None` at the end.
    pub(crate) async fn next(&mut self) -> Result<Option<RawDocumentBuf>, StoreError> {
        Ok(self.0.try_next().await?)
    }
}

impl Events {
    pub(super) fn new(coll: Collection<RawDocumentBuf>) -> Self {
        Self { coll }
    }

    pub(super) fn collection(&self) -> &Collection<RawDocumentBuf> {
        &self.coll
    }

    /// Inserts event documents unordered. Duplicate keys (a retried batch)
    /// are counted, not failures.
    pub(crate) async fn insert(
        &self,
        docs: &[RawDocumentBuf],
    ) -> Result<InsertOutcome, StoreError> {
        if docs.is_empty() {
            return Ok(InsertOutcome::default());
        }
        match self.coll.insert_many(docs).ordered(false).await {
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

    /// Runs an aggregation pipeline for at most `time_limit` on the server
    /// (`maxTimeMS`; past it, [`StoreError::TimeLimitExceeded`]) and
    /// collects its output.
    pub(crate) async fn aggregate(
        &self,
        pipeline: Vec<Document>,
        time_limit: Duration,
    ) -> Result<Vec<RawDocumentBuf>, StoreError> {
        let cursor = self
            .coll
            .aggregate(pipeline)
            .with_type::<RawDocumentBuf>()
            .max_time(time_limit)
            .await?;
        Ok(cursor.try_collect().await?)
    }

    /// The distinct hours (epoch ms of their starts, UTC) of `app`'s
    /// events in `[from_ms, to_ms)`, ascending.
    pub(crate) async fn hours(
        &self,
        app: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let pipeline = vec![
            doc! { "$match": { "app": app, "ts": { "$gte": mongodb::bson::DateTime::from_millis(from_ms), "$lt": mongodb::bson::DateTime::from_millis(to_ms) } } },
            doc! { "$group": { "_id": { "$dateTrunc": { "date": "$ts", "unit": "hour", "timezone": "UTC" } } } },
            doc! { "$sort": { "_id": 1 } },
        ];
        let rows = self.aggregate(pipeline, Duration::from_secs(600)).await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get_datetime("_id").ok())
            .map(|t| t.timestamp_millis())
            .collect())
    }

    /// The key of the event `skip` places after the first one `filter`
    /// selects, in `(ts, _id)` order on [`APP_TS_ID`].
    pub(crate) async fn key_after(
        &self,
        filter: Document,
        skip: u64,
    ) -> Result<Option<EventKey>, StoreError> {
        let found = self
            .coll
            .clone_with_type::<Document>()
            .find_one(filter)
            .sort(doc! { "ts": 1, "_id": 1 })
            .hint(Hint::Name(APP_TS_ID.into()))
            .skip(skip)
            .projection(doc! { "ts": 1, "_id": 1 })
            .await
            .map_err(hinted)?;
        let Some(d) = found else { return Ok(None) };
        match (d.get_datetime("ts"), d.get_str("_id")) {
            (Ok(ts), Ok(id)) => Ok(Some(EventKey {
                ts_ms: ts.timestamp_millis(),
                id: id.to_owned(),
            })),
            _ => Err(StoreError::Failed(format!(
                "an event has no date `ts` or no string `_id`: {d}"
            ))),
        }
    }

    /// The events `filter` selects in `(ts, _id)` order on [`APP_TS_ID`],
    /// `batch_size` documents per round trip (which bounds a scan's memory).
    pub(crate) async fn scan(
        &self,
        filter: Document,
        batch_size: u32,
    ) -> Result<EventScan, StoreError> {
        let cursor = self
            .coll
            .find(filter)
            .sort(doc! { "ts": 1, "_id": 1 })
            .hint(Hint::Name(APP_TS_ID.into()))
            .batch_size(batch_size)
            .await
            .map_err(hinted)?;
        Ok(EventScan(cursor))
    }

    /// The fields `projection` keeps of the events `filter` selects, in no
    /// set order, `batch_size` documents per round trip, for at most
    /// `time_limit` on the server (a rollup build's read).
    pub(crate) async fn read(
        &self,
        filter: Document,
        projection: Document,
        batch_size: u32,
        time_limit: Duration,
    ) -> Result<EventScan, StoreError> {
        let cursor = self
            .coll
            .find(filter)
            .projection(projection)
            .batch_size(batch_size)
            .max_time(time_limit)
            .await?;
        Ok(EventScan(cursor))
    }

    /// Deletes every event of `app`; returns how many.
    pub(crate) async fn delete_app(&self, app: &str) -> Result<u64, StoreError> {
        Ok(self
            .coll
            .delete_many(doc! { "app": app })
            .await?
            .deleted_count)
    }
}
