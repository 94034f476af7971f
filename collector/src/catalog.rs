//! The dimension catalog: every dimension and metric name an app has sent,
//! its value kinds, the event types it appears on, first and last seen.
//!
//! Kept cheaply: the ingest path notes names in memory (one merge per
//! batch), and the catalog job writes one upsert per (app, name) per flush
//! interval, however many events carried it. A flush is safe to cancel at
//! any point: what it took out and did not write goes back (see
//! [`Catalog::flush`]), so a failed, cancelled or aborted flush leaves its
//! entries for the next one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde::Serialize;
use usagelens_protocol::names::{is_valid_name, NAME_RULE};
use usagelens_protocol::value::ValueKind;

use crate::apps::AppId;
pub(crate) use crate::store::Field;
use crate::store::{json, Sighting, Store, StoreError};

/// Most event types one flush adds per name (bounds the work of a flush;
/// across flushes the stored set can grow past it).
const MAX_TYPES_PER_NAME: usize = 64;

#[derive(Debug, Clone, Default)]
struct Entry {
    kinds: BTreeSet<&'static str>,
    types: BTreeSet<String>,
    first_ms: i64,
    last_ms: i64,
}

impl Entry {
    fn merge(&mut self, other: Entry) {
        self.kinds.extend(other.kinds);
        for t in other.types {
            if self.types.len() < MAX_TYPES_PER_NAME {
                self.types.insert(t);
            }
        }
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
    }
}

type Key = (String, Field, String);

/// Names seen since the last flush.
#[derive(Debug, Default)]
pub struct Catalog {
    pending: Mutex<HashMap<Key, Entry>>,
}

/// One name of one batch: its kinds, event types, first and last seen.
type BatchEntry<'a> = (BTreeSet<&'static str>, BTreeSet<&'a str>, i64, i64);

/// The names of one batch, collected without locking; merged in one step.
#[derive(Debug, Default)]
pub struct BatchNames<'a> {
    entries: HashMap<(Field, &'a str), BatchEntry<'a>>,
}

impl<'a> BatchNames<'a> {
    /// Notes a dimension or metric of an event of type `kind` at `ts_ms`.
    pub(crate) fn note(
        &mut self,
        field: Field,
        name: &'a str,
        kind: ValueKind,
        event_type: &'a str,
        ts_ms: i64,
    ) {
        let kind = match field {
            Field::Dimension => kind.as_str(),
            Field::Metric => "number",
        };
        let e = self
            .entries
            .entry((field, name))
            .or_insert_with(|| (BTreeSet::new(), BTreeSet::new(), ts_ms, ts_ms));
        e.0.insert(kind);
        if e.1.len() < MAX_TYPES_PER_NAME {
            e.1.insert(event_type);
        }
        e.2 = e.2.min(ts_ms);
        e.3 = e.3.max(ts_ms);
    }
}

/// Entries taken out of the pending map by a flush. Dropped before they
/// are all written — the flush failed, or its future was cancelled or
/// aborted — it merges the rest back, so no name is ever lost.
struct Taken<'c> {
    catalog: &'c Catalog,
    entries: Vec<(Key, Entry)>,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if self.entries.is_empty() {
            return;
        }
        let mut pending = self
            .catalog
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (k, v) in self.entries.drain(..) {
            match pending.get_mut(&k) {
                Some(slot) => slot.merge(v),
                None => {
                    pending.insert(k, v);
                }
            }
        }
    }
}

/// One catalog entry as `GET /v1/dimensions` answers it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct CatalogEntry {
    /// The name.
    pub(crate) name: String,
    /// `dimension` or `metric`.
    pub(crate) field: String,
    /// Value kinds seen: `string`, `number`, `bool`, `list`.
    pub(crate) kinds: Vec<String>,
    /// Event types it appeared on.
    pub(crate) types: Vec<String>,
    /// First seen (RFC 3339).
    pub(crate) first_seen: String,
    /// Last seen (RFC 3339).
    pub(crate) last_seen: String,
}

/// Why a catalog request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CatalogError {
    /// A malformed name; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The app has no such name.
    #[error("name: app `{app}` has no dimension or metric `{name}`")]
    UnknownName {
        /// The app.
        app: String,
        /// The name.
        name: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Catalog {
    /// Merges one batch's names for `app`.
    pub(crate) fn record(&self, app: &str, names: BatchNames<'_>) {
        if names.entries.is_empty() {
            return;
        }
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        for ((field, name), (kinds, types, first, last)) in names.entries {
            let e = pending
                .entry((app.to_owned(), field, name.to_owned()))
                .or_insert_with(|| Entry {
                    first_ms: first,
                    last_ms: last,
                    ..Entry::default()
                });
            e.merge(Entry {
                kinds,
                types: types.into_iter().map(str::to_owned).collect(),
                first_ms: first,
                last_ms: last,
            });
        }
    }

    /// How many (app, name) entries wait for the next flush.
    pub fn pending(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Writes what is pending: one upsert per (app, name). Returns how many
    /// were written.
    ///
    /// Cancellation-safe: entries are taken out of the pending map into a
    /// guard and removed from it only once written; whatever the guard still
    /// holds when it drops (a store error, or this future dropped at an
    /// `await`) goes back into the pending map. An upsert that was sent but
    /// whose answer was lost is sent again next time, which changes nothing
    /// (sets only grow, the time range only widens).
    pub async fn flush(&self, store: &Store) -> Result<usize, StoreError> {
        self.flush_with_progress(store, || {}).await
    }

    /// [`Catalog::flush`], calling `written_one` after each upsert (the catalog
    /// job reports its progress with it: a flush of many names is alive).
    pub(crate) async fn flush_with_progress(
        &self,
        store: &Store,
        written_one: impl Fn(),
    ) -> Result<usize, StoreError> {
        let entries: Vec<(Key, Entry)> = match self.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => return Ok(0),
        };
        let mut taken = Taken {
            catalog: self,
            entries,
        };
        let mut written = 0;
        while let Some(((app, field, name), e)) = taken.entries.last() {
            let kinds: Vec<&str> = e.kinds.iter().copied().collect();
            let types: Vec<&str> = e.types.iter().map(String::as_str).collect();
            store
                .catalog()
                .record(&Sighting {
                    app,
                    field: *field,
                    name,
                    kinds: &kinds,
                    types: &types,
                    first_ms: e.first_ms,
                    last_ms: e.last_ms,
                })
                .await?;
            taken.entries.pop();
            written += 1;
            written_one();
        }
        Ok(written)
    }

    /// Every dimension and metric `app` has sent, hidden ones left out, by
    /// name; names noted since the last flush included.
    pub(crate) async fn entries(
        &self,
        store: &Store,
        app: &AppId,
    ) -> Result<Vec<CatalogEntry>, StoreError> {
        self.flush(store).await?;
        let stamp = |ms: Option<i64>| ms.map(json::rfc3339).unwrap_or_default();
        Ok(store
            .catalog()
            .list(app.as_str())
            .await?
            .into_iter()
            .map(|r| CatalogEntry {
                name: r.name,
                field: r.field.as_str().to_owned(),
                kinds: r.kinds,
                types: r.types,
                first_seen: stamp(r.first_seen_ms),
                last_seen: stamp(r.last_seen_ms),
            })
            .collect())
    }

    /// The dimension names and the metric names of `app` (each sorted,
    /// hidden ones left out, only valid names): the export's CSV columns.
    pub(crate) async fn columns(
        &self,
        store: &Store,
        app: &AppId,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        self.flush(store).await?;
        let (mut dims, mut metrics) = (Vec::new(), Vec::new());
        for r in store.catalog().list(app.as_str()).await? {
            if !is_valid_name(&r.name) {
                continue;
            }
            let list = match r.field {
                Field::Dimension => &mut dims,
                Field::Metric => &mut metrics,
            };
            if list.last() != Some(&r.name) {
                list.push(r.name);
            }
        }
        Ok((dims, metrics))
    }

    /// Retires `name` from `app`'s catalog; the events keep their data, and
    /// a new sighting does not bring it back.
    pub(crate) async fn hide(
        &self,
        store: &Store,
        app: &AppId,
        name: &str,
    ) -> Result<(), CatalogError> {
        if !is_valid_name(name) {
            return Err(CatalogError::Invalid(format!(
                "name: `{}` is not a valid name: names match {NAME_RULE}",
                name.escape_debug()
            )));
        }
        self.flush(store).await?;
        if store.catalog().hide(app.as_str(), name).await? == 0 {
            return Err(CatalogError::UnknownName {
                app: app.to_string(),
                name: name.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noted(catalog: &Catalog, app: &str, names: &[&str]) {
        let mut b = BatchNames::default();
        for n in names {
            b.note(Field::Dimension, n, ValueKind::String, "click", 1_000);
        }
        catalog.record(app, b);
    }

    #[test]
    fn a_dropped_guard_puts_back_what_was_not_written() {
        let c = Catalog::default();
        noted(&c, "a", &["x", "y", "z"]);
        let entries: Vec<(Key, Entry)> = c.pending.lock().unwrap().drain().collect();
        assert_eq!(c.pending(), 0);
        // Meanwhile a batch notes `x` again, later, on another type.
        let mut b = BatchNames::default();
        b.note(Field::Dimension, "x", ValueKind::Number, "page", 5_000);
        c.record("a", b);
        drop(Taken {
            catalog: &c,
            entries,
        });
        assert_eq!(c.pending(), 3);
        let p = c.pending.lock().unwrap();
        let x = &p[&("a".to_owned(), Field::Dimension, "x".to_owned())];
        assert_eq!(x.kinds, BTreeSet::from(["number", "string"]));
        assert_eq!(
            x.types,
            BTreeSet::from(["click".to_owned(), "page".to_owned()])
        );
        assert_eq!((x.first_ms, x.last_ms), (1_000, 5_000));
    }
}
