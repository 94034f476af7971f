//! The rollups' collections (layout in `docs/storage.md`):
//!
//! - `rollups`: one document per (rollup, app, bucket, dimension values),
//!   `_id` = `"<rollup>:<app>:<bucket ms>:<hash of the values>"`, so a
//!   bucket written twice (a retried build, two builders racing) is never
//!   stored twice;
//! - `rollup_dirty`: one document per (app, UTC hour) and per (app, UTC
//!   day) whose events changed since its buckets were built,
//!   `{_id: "<app>:<kind>:<start ms>", app, k: "hour" | "day", h, end, at, v}`;
//!   `v` goes up on every mark, so a build clears only the mark it read;
//!   hour marks serve the minute and hour grains, day marks the day grain;
//! - `rollup_state`: the build generation `{_id: "generation", n}` (every
//!   build takes the next one; a document is only ever replaced by a
//!   build of a later generation); per rollup `{_id: "<rollup>", hash, since}` (the
//!   definition built and the first bucket every app is built from) and per
//!   (rollup, app) `{_id: "<rollup>:<app>", from}` once a backfill built
//!   earlier history.

use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::StoreError;

mod replace;

/// What a dirty mark covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum MarkKind {
    /// A UTC hour: the minute and hour grains.
    Hour,
    /// A UTC day: the day grain.
    Day,
}

impl MarkKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// Its length in ms.
    pub(crate) fn ms(self) -> i64 {
        match self {
            Self::Hour => HOUR_MS,
            Self::Day => DAY_MS,
        }
    }
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// A dirty mark as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirtyMark {
    /// Its `_id`.
    pub(crate) id: String,
    /// The app.
    pub(crate) app: String,
    /// Hour or day.
    pub(crate) kind: MarkKind,
    /// The hour's or day's start, epoch ms.
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
                named(doc! { "app": 1, "k": 1, "h": 1 }, "app_k_h"),
                named(doc! { "at": 1 }, "at"),
            ])
            .await?;
        Ok(())
    }

    /// Marks the hours (epoch ms of their starts) of `app`, and the days
    /// they fall in, dirty at `now_ms`.
    pub(crate) async fn mark_dirty(
        &self,
        app: &str,
        hours: &[i64],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut marks: Vec<(MarkKind, i64)> = hours.iter().map(|&h| (MarkKind::Hour, h)).collect();
        let mut days: Vec<i64> = hours
            .iter()
            .map(|h| h.div_euclid(DAY_MS) * DAY_MS)
            .collect();
        days.dedup();
        marks.extend(days.into_iter().map(|d| (MarkKind::Day, d)));
        for (kind, start) in marks {
            self.dirty
                .update_one(
                    doc! { "_id": format!("{app}:{}:{start}", kind.as_str()) },
                    doc! {
                        "$set": {
                            "app": app, "k": kind.as_str(),
                            "h": DateTime::from_millis(start),
                            "end": DateTime::from_millis(start + kind.ms()),
                            "at": DateTime::from_millis(now_ms),
                        },
                        "$inc": { "v": 1_i64 },
                    },
                )
                .upsert(true)
                .await?;
        }
        Ok(())
    }

    /// The starts of the dirty hours (or days) of `app` in `[from_ms, to_ms)`, ascending.
    pub(crate) async fn dirty(
        &self,
        app: &str,
        kind: MarkKind,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let cursor = self
            .dirty
            .find(doc! { "app": app, "k": kind.as_str(), "h": { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) } })
            .projection(doc! { "h": 1 })
            .sort(doc! { "h": 1 })
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        Ok(docs.iter().map(|d| int(d, "h")).collect())
    }

    /// Up to `limit` marks of hours or days that ended by `now_ms` and were
    /// last marked at or before `settled_ms`, oldest mark first. (A bucket
    /// still open is never read from a rollup, so it is not built yet.)
    pub(crate) async fn pending(
        &self,
        settled_ms: i64,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DirtyMark>, StoreError> {
        let cursor = self
            .dirty
            .find(doc! {
                "at": { "$lte": DateTime::from_millis(settled_ms) },
                "end": { "$lte": DateTime::from_millis(now_ms) },
            })
            .sort(doc! { "at": 1 })
            .limit(limit)
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        Ok(docs.iter().map(mark_of).collect())
    }

    /// How many marks of `app` cover time that ended by `ended_by_ms`.
    pub(crate) async fn count_ended(&self, app: &str, ended_by_ms: i64) -> Result<u64, StoreError> {
        Ok(self
            .dirty
            .count_documents(
                doc! { "app": app, "end": { "$lte": DateTime::from_millis(ended_by_ms) } },
            )
            .await?)
    }

    /// Deletes every mark, document and state of `app` (the app is purged).
    pub(crate) async fn delete_app(&self, app: &str) -> Result<(), StoreError> {
        self.dirty.delete_many(doc! { "app": app }).await?;
        self.docs.delete_many(doc! { "app": app }).await?;
        self.state.delete_many(doc! { "app": app }).await?;
        Ok(())
    }

    /// The next build generation.
    pub(crate) async fn next_generation(&self) -> Result<i64, StoreError> {
        let d = self
            .state
            .find_one_and_update(
                doc! { "_id": "generation" },
                doc! { "$inc": { "n": 1_i64 } },
            )
            .upsert(true)
            .return_document(mongodb::options::ReturnDocument::After)
            .await?
            .ok_or_else(|| StoreError::Failed("no build generation".into()))?;
        Ok(int(&d, "n"))
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
            .sort(doc! { "h": 1, "k": -1 })
            .limit(limit)
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        Ok((docs.iter().map(mark_of).collect(), total))
    }

    /// Clears `mark` if nothing marked its hour again since it was read.
    pub(crate) async fn clear(&self, mark: &DirtyMark) -> Result<bool, StoreError> {
        let r = self
            .dirty
            .delete_one(doc! { "_id": &mark.id, "v": mark.v })
            .await?;
        Ok(r.deleted_count == 1)
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

    /// Deletes the documents of rollup `name` of `app`; returns how many.
    pub(crate) async fn delete_rollup_of(&self, name: &str, app: &str) -> Result<u64, StoreError> {
        Ok(self
            .docs
            .delete_many(doc! { "r": name, "app": app })
            .await?
            .deleted_count)
    }

    /// Inserts a state document; `false` if its `_id` is taken.
    pub(crate) async fn insert_state(&self, d: Document) -> Result<bool, StoreError> {
        match self.state.insert_one(d).await {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = StoreError::from(e);
                if e.is_duplicate_key() {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The declared rollups' state documents of `app`.
    pub(crate) async fn declared(&self, app: &str) -> Result<Vec<Document>, StoreError> {
        Ok(self
            .state
            .find(doc! { "declared": true, "app": app })
            .sort(doc! { "name": 1 })
            .await?
            .try_collect()
            .await?)
    }

    /// Deletes the state document `id`; whether there was one.
    pub(crate) async fn delete_state(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .state
            .delete_one(doc! { "_id": id })
            .await?
            .deleted_count
            == 1)
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
        id: d.get_str("_id").unwrap_or_default().to_owned(),
        kind: if d.get_str("k") == Ok("day") {
            MarkKind::Day
        } else {
            MarkKind::Hour
        },
        app: d.get_str("app").unwrap_or_default().to_owned(),
        hour_ms: int(d, "h"),
        v: int(d, "v"),
        at_ms: int(d, "at"),
    }
}
