//! The rollups' collections (layout in `docs/storage.md`):
//!
//! - `rollups`: one document per (rollup, app, bucket, dimension values),
//!   `_id` = `"<rollup>:<app>:<bucket ms>:<hash of the values>"`, so a
//!   bucket written twice (a retried build, two builders racing) is never
//!   stored twice;
//! - `rollup_dirty`: one document per (app, hour) whose events changed
//!   since its buckets were built, `{_id: "<app>:<hour ms>", app, h, at, v}`;
//!   `v` goes up on every mark, so a build clears only the mark it read;
//! - `rollup_state`: per rollup `{_id: "<rollup>", hash, since}` (the
//!   definition built and the first bucket every app is built from) and per
//!   (rollup, app) `{_id: "<rollup>:<app>", from}` once a backfill built
//!   earlier history.

use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::error::DUPLICATE_KEY;
use super::StoreError;

/// A dirty mark as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirtyMark {
    /// The app.
    pub(crate) app: String,
    /// The hour's start, epoch ms.
    pub(crate) hour_ms: i64,
    /// The mark's version: cleared only if still this one.
    pub(crate) v: i64,
    /// When it was last marked, epoch ms.
    pub(crate) at_ms: i64,
}

/// Typed access to the rollups' collections.
#[derive(Debug, Clone)]
pub(crate) struct Rollups {
    docs: Collection<Document>,
    dirty: Collection<Document>,
    state: Collection<Document>,
}

fn int(d: &Document, k: &str) -> i64 {
    match d.get(k) {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(f)) => *f as i64,
        Some(Bson::DateTime(t)) => t.timestamp_millis(),
        _ => 0,
    }
}

impl Rollups {
    pub(super) fn new(
        docs: Collection<Document>,
        dirty: Collection<Document>,
        state: Collection<Document>,
    ) -> Self {
        Self { docs, dirty, state }
    }

    pub(super) async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let named = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_owned()).build())
                .build()
        };
        self.docs
            .create_index(named(doc! { "r": 1, "app": 1, "b": 1 }, "r_app_b"))
            .await?;
        self.dirty
            .create_indexes([
                named(doc! { "app": 1, "h": 1 }, "app_h"),
                named(doc! { "at": 1 }, "at"),
            ])
            .await?;
        Ok(())
    }

    /// Marks the hours (epoch ms of their starts) of `app` dirty at `now_ms`.
    pub(crate) async fn mark_dirty(
        &self,
        app: &str,
        hours: &[i64],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for &h in hours {
            self.dirty
                .update_one(
                    doc! { "_id": format!("{app}:{h}") },
                    doc! {
                        "$set": { "app": app, "h": DateTime::from_millis(h), "at": DateTime::from_millis(now_ms) },
                        "$inc": { "v": 1_i64 },
                    },
                )
                .upsert(true)
                .await?;
        }
        Ok(())
    }

    /// The dirty hours of `app` in `[from_ms, to_ms)`, ascending.
    pub(crate) async fn dirty_hours(
        &self,
        app: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let cursor = self
            .dirty
            .find(doc! { "app": app, "h": { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) } })
            .projection(doc! { "h": 1 })
            .sort(doc! { "h": 1 })
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        Ok(docs.iter().map(|d| int(d, "h")).collect())
    }

    /// Up to `limit` marks last marked at or before `before_ms`, oldest first.
    pub(crate) async fn pending(
        &self,
        before_ms: i64,
        limit: i64,
    ) -> Result<Vec<DirtyMark>, StoreError> {
        let cursor = self
            .dirty
            .find(doc! { "at": { "$lte": DateTime::from_millis(before_ms) } })
            .sort(doc! { "at": 1 })
            .limit(limit)
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        Ok(docs.iter().map(mark_of).collect())
    }

    /// Every mark of `app` (or of all apps), oldest hour first, at most `limit`,
    /// and how many there are in all.
    pub(crate) async fn marks(
        &self,
        app: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<DirtyMark>, u64), StoreError> {
        let filter = app.map_or_else(Document::new, |a| doc! { "app": a });
        let total = self.dirty.count_documents(filter.clone()).await?;
        let cursor = self
            .dirty
            .find(filter)
            .sort(doc! { "h": 1 })
            .limit(limit)
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        Ok((docs.iter().map(mark_of).collect(), total))
    }

    /// Clears `mark` if nothing marked its hour again since it was read.
    pub(crate) async fn clear(&self, mark: &DirtyMark) -> Result<bool, StoreError> {
        let r = self
            .dirty
            .delete_one(doc! { "_id": format!("{}:{}", mark.app, mark.hour_ms), "v": mark.v })
            .await?;
        Ok(r.deleted_count == 1)
    }

    /// Replaces the documents of rollup `name` for `app` with buckets in
    /// `[from_ms, to_ms)` by `docs`: the old ones deleted, the new ones
    /// inserted under their deterministic `_id`s (one already there, from
    /// a racing build, is left as it is: both were built from the same events).
    pub(crate) async fn replace_range(
        &self,
        name: &str,
        app: &str,
        from_ms: i64,
        to_ms: i64,
        docs: Vec<Document>,
    ) -> Result<(), StoreError> {
        self.docs
            .delete_many(doc! {
                "r": name, "app": app,
                "b": { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) },
            })
            .await?;
        if docs.is_empty() {
            return Ok(());
        }
        match self.docs.insert_many(docs).ordered(false).await {
            Ok(_) => Ok(()),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(im)
                    if im.write_concern_error.is_none()
                        && im
                            .write_errors
                            .iter()
                            .flatten()
                            .all(|we| we.code == DUPLICATE_KEY) =>
                {
                    Ok(())
                }
                _ => Err(e.into()),
            },
        }
    }

    /// Runs `pipeline` over the rollup documents for at most `time_limit`.
    pub(crate) async fn aggregate(
        &self,
        pipeline: Vec<Document>,
        time_limit: Duration,
    ) -> Result<Vec<Document>, StoreError> {
        let cursor = self.docs.aggregate(pipeline).max_time(time_limit).await?;
        Ok(cursor.try_collect().await?)
    }

    /// How many documents rollup `name` has for `app` (all apps: `None`).
    pub(crate) async fn count(&self, name: &str, app: Option<&str>) -> Result<u64, StoreError> {
        let mut filter = doc! { "r": name };
        if let Some(a) = app {
            filter.insert("app", a);
        }
        Ok(self.docs.count_documents(filter).await?)
    }

    /// Deletes every document of rollup `name` (a definition that changed).
    pub(crate) async fn delete_rollup(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self
            .docs
            .delete_many(doc! { "r": name })
            .await?
            .deleted_count)
    }

    /// The state document `_id` (`"<rollup>"` or `"<rollup>:<app>"`).
    pub(crate) async fn state(&self, id: &str) -> Result<Option<Document>, StoreError> {
        Ok(self.state.find_one(doc! { "_id": id }).await?)
    }

    /// Sets fields of the state document `id` (created if missing).
    pub(crate) async fn set_state(&self, id: &str, fields: Document) -> Result<(), StoreError> {
        self.state
            .update_one(doc! { "_id": id }, doc! { "$set": fields })
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Sets fields of the state document `id` only when it does not exist
    /// yet; returns the document as stored after.
    pub(crate) async fn init_state(
        &self,
        id: &str,
        fields: Document,
    ) -> Result<Document, StoreError> {
        let r = self
            .state
            .find_one_and_update(doc! { "_id": id }, doc! { "$setOnInsert": fields })
            .upsert(true)
            .return_document(mongodb::options::ReturnDocument::After)
            .await;
        match r {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(StoreError::Failed(format!("no state document {id}"))),
            // Two collectors creating it at once: the other one won; read it.
            Err(e) if matches!(e.kind.as_ref(), ErrorKind::Write(_) | ErrorKind::Command(_)) => {
                self.state(id)
                    .await?
                    .ok_or_else(|| StoreError::Failed(format!("no state document {id}")))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn mark_of(d: &Document) -> DirtyMark {
    DirtyMark {
        app: d.get_str("app").unwrap_or_default().to_owned(),
        hour_ms: int(d, "h"),
        v: int(d, "v"),
        at_ms: int(d, "at"),
    }
}
