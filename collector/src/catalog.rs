//! The dimension catalog: every dimension and metric name an app has sent,
//! its value kinds, the event types it appears on, first and last seen.
//!
//! Kept cheaply: the ingest path notes names in memory (one merge per
//! batch), and a background task writes one upsert per (app, name) per
//! flush interval, however many events carried it. A failed flush keeps its
//! entries for the next one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use mongodb::bson::doc;
use usagelens_protocol::value::ValueKind;

use crate::store::{bson_date, Store, StoreError, CATALOG};

/// Most event types one flush adds per name (bounds the work of a flush;
/// across flushes the stored set can grow past it).
const MAX_TYPES_PER_NAME: usize = 64;

/// Whether a catalog entry is a dimension or a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// A dimension (`dims.<name>` in the event document).
    Dimension,
    /// A metric (`metrics.<name>`).
    Metric,
}

impl Field {
    fn as_str(self) -> &'static str {
        match self {
            Self::Dimension => "dimension",
            Self::Metric => "metric",
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Entry {
    kinds: BTreeSet<&'static str>,
    types: BTreeSet<String>,
    first_ms: i64,
    last_ms: i64,
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
    pub fn note(
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

impl Catalog {
    /// Merges one batch's names for `app`.
    pub fn record(&self, app: &str, names: BatchNames<'_>) {
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
            e.kinds.extend(kinds);
            for t in types {
                if e.types.len() < MAX_TYPES_PER_NAME {
                    e.types.insert(t.to_owned());
                }
            }
            e.first_ms = e.first_ms.min(first);
            e.last_ms = e.last_ms.max(last);
        }
    }

    /// How many (app, name) entries wait for the next flush.
    pub fn pending(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Writes what is pending: one upsert per (app, name). Entries that fail
    /// to write are kept for the next flush. Returns how many were written.
    pub async fn flush(&self, store: &Store) -> Result<usize, StoreError> {
        let taken: Vec<(Key, Entry)> = match self.pending.lock() {
            Ok(mut p) => p.drain().collect(),
            Err(_) => return Ok(0),
        };
        let coll = store.collection(CATALOG);
        let mut written = 0;
        let mut iter = taken.into_iter();
        while let Some(((app, field, name), e)) = iter.next() {
            let id = format!(
                "{app}:{}:{name}",
                if field == Field::Metric { "m" } else { "d" }
            );
            let kinds: Vec<&str> = e.kinds.iter().copied().collect();
            let types: Vec<&str> = e.types.iter().map(String::as_str).collect();
            let update = doc! {
                "$setOnInsert": { "app": &app, "name": &name, "field": field.as_str() },
                "$addToSet": { "kinds": { "$each": kinds }, "types": { "$each": types } },
                "$min": { "first_seen": bson_date(e.first_ms) },
                "$max": { "last_seen": bson_date(e.last_ms) },
            };
            let r = coll
                .update_one(doc! { "_id": id }, update)
                .upsert(true)
                .await;
            if let Err(err) = r {
                // Put this one and the rest back; they go out with the next flush.
                let mut rest = vec![((app, field, name), e)];
                rest.extend(iter);
                let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                for (k, v) in rest {
                    let slot = p.entry(k).or_insert_with(|| v.clone());
                    slot.kinds.extend(v.kinds);
                    slot.types.extend(v.types);
                    slot.first_ms = slot.first_ms.min(v.first_ms);
                    slot.last_ms = slot.last_ms.max(v.last_ms);
                }
                return Err(err.into());
            }
            written += 1;
        }
        Ok(written)
    }
}
