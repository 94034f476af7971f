//! The `catalog` collection: one document per (app, dimension or metric
//! name), `_id` = `"<app>:<d|m>:<name>"`,
//! `{app, name, field, kinds, types, first_seen, last_seen, hidden?}`.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::Collection;

use super::json::date;
use super::StoreError;

/// Whether a catalog entry is a dimension or a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Field {
    /// A dimension (`dims.<name>` in the event document).
    Dimension,
    /// A metric (`metrics.<name>`).
    Metric,
}

impl Field {
    /// As stored and answered: `dimension` or `metric`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Dimension => "dimension",
            Self::Metric => "metric",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "dimension" => Some(Self::Dimension),
            "metric" => Some(Self::Metric),
            _ => None,
        }
    }

    fn id_tag(self) -> &'static str {
        match self {
            Self::Dimension => "d",
            Self::Metric => "m",
        }
    }
}

/// What one flush adds to one name's entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sighting<'a> {
    /// The app.
    pub(crate) app: &'a str,
    /// Dimension or metric.
    pub(crate) field: Field,
    /// The name.
    pub(crate) name: &'a str,
    /// Value kinds seen (`string`, `number`, `bool`, `list`).
    pub(crate) kinds: &'a [&'a str],
    /// Event types it was seen on.
    pub(crate) types: &'a [&'a str],
    /// Earliest event time, epoch ms.
    pub(crate) first_ms: i64,
    /// Latest event time, epoch ms.
    pub(crate) last_ms: i64,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CatalogRecord {
    /// The name.
    pub(crate) name: String,
    /// Dimension or metric.
    pub(crate) field: Field,
    /// Value kinds seen.
    pub(crate) kinds: Vec<String>,
    /// Event types it appeared on.
    pub(crate) types: Vec<String>,
    /// First seen, epoch ms.
    pub(crate) first_seen_ms: Option<i64>,
    /// Last seen, epoch ms.
    pub(crate) last_seen_ms: Option<i64>,
}

/// Typed access to `catalog`.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    coll: Collection<Document>,
}

fn strings(d: &Document, k: &str) -> Vec<String> {
    d.get_array(k)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Catalog {
    pub(super) fn new(coll: Collection<Document>) -> Self {
        Self { coll }
    }

    pub(super) fn collection(&self) -> &Collection<Document> {
        &self.coll
    }

    /// Merges one sighting into its entry (one upsert; sets only grow, the
    /// time range only widens, so applying it twice changes nothing).
    pub(crate) async fn record(&self, s: &Sighting<'_>) -> Result<(), StoreError> {
        let id = format!("{}:{}:{}", s.app, s.field.id_tag(), s.name);
        let update = doc! {
            "$setOnInsert": { "app": s.app, "name": s.name, "field": s.field.as_str() },
            "$addToSet": { "kinds": { "$each": s.kinds }, "types": { "$each": s.types } },
            "$min": { "first_seen": date(s.first_ms) },
            "$max": { "last_seen": date(s.last_ms) },
        };
        self.coll
            .update_one(doc! { "_id": id }, update)
            .upsert(true)
            .await?;
        Ok(())
    }

    /// The entries of `app` that are not hidden, by name then field.
    pub(crate) async fn list(&self, app: &str) -> Result<Vec<CatalogRecord>, StoreError> {
        let docs: Vec<Document> = self
            .coll
            .find(doc! { "app": app, "hidden": { "$ne": true } })
            .sort(doc! { "name": 1, "field": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                Some(CatalogRecord {
                    name: d.get_str("name").ok()?.to_owned(),
                    field: Field::parse(d.get_str("field").ok()?)?,
                    kinds: strings(d, "kinds"),
                    types: strings(d, "types"),
                    first_seen_ms: d
                        .get_datetime("first_seen")
                        .ok()
                        .map(|t| t.timestamp_millis()),
                    last_seen_ms: d
                        .get_datetime("last_seen")
                        .ok()
                        .map(|t| t.timestamp_millis()),
                })
            })
            .collect())
    }

    /// Marks the entries named `name` of `app` hidden; returns how many matched.
    pub(crate) async fn hide(&self, app: &str, name: &str) -> Result<u64, StoreError> {
        let r = self
            .coll
            .update_many(
                doc! { "app": app, "name": name },
                doc! { "$set": { "hidden": true } },
            )
            .await?;
        Ok(r.matched_count)
    }

    /// Deletes every entry of `app`.
    pub(crate) async fn delete_app(&self, app: &str) -> Result<(), StoreError> {
        self.coll.delete_many(doc! { "app": app }).await?;
        Ok(())
    }
}
