//! Materialization: a bucket range of one rollup rebuilt from the raw
//! events and replaced, and the builder's pass over the dirty hours.
//!
//! A build reads the range's events with the two pipelines of
//! [`super::partial`], turns each group into one document (its sketches
//! built here, from the group's values), deletes the range's documents and
//! inserts the new ones under deterministic `_id`s. Only the holder of the
//! builder's lease builds (the job in `jobs/`, or `rollups backfill` when
//! no collector holds it), so two builds of one range never interleave.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mongodb::bson::{doc, Bson, DateTime, Document};
use sha2::{Digest, Sha256};

use super::partial::{pipelines, Key, Partial, Wants};
use super::{Grain, Rollup};
use crate::store::{DirtyMark, MarkKind, Store, StoreError};

/// What one build or pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildOutcome {
    /// Bucket ranges rebuilt.
    pub ranges: u64,
    /// Rollup documents written.
    pub docs: u64,
    /// Events read (summed over the rollups that read them).
    pub events: u64,
    /// Dirty hours cleared.
    pub cleared: u64,
}

impl BuildOutcome {
    fn add(&mut self, o: BuildOutcome) {
        self.ranges += o.ranges;
        self.docs += o.docs;
        self.events += o.events;
        self.cleared += o.cleared;
    }
}

/// How long one build's aggregation may run on the server.
const BUILD_TIME_LIMIT: Duration = Duration::from_secs(120);
/// Most of one range built by one aggregation (a day of events).
const MAX_RANGE_MS: i64 = 86_400_000;

fn raw_to_doc(d: &mongodb::bson::RawDocumentBuf) -> Result<Document, StoreError> {
    d.to_document()
        .map_err(|e| StoreError::Failed(format!("an aggregation row does not decode: {e}")))
}

/// The id of a group: `_id` of a counts row, `_id.g` of a metrics row.
fn group_key(id: &Document) -> String {
    // The server writes the keys in the order the pipeline named them.
    Bson::Document(id.clone())
        .into_relaxed_extjson()
        .to_string()
}

/// Rebuilds the buckets of rollup `r` for `app` in `[from_ms, to_ms)`
/// (aligned to its grain) from the raw events, replacing what was there.
pub(crate) async fn build_range(
    store: &Store,
    r: &Rollup,
    app: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<BuildOutcome, StoreError> {
    let mut keys: Vec<Key> = r
        .dims
        .iter()
        .enumerate()
        .map(|(i, d)| Key {
            out: format!("g{i}"),
            path: format!("dims.{d}"),
        })
        .collect();
    keys.push(Key {
        out: "gt".into(),
        path: "type".into(),
    });
    let filter = doc! {
        "app": app,
        "type": { "$in": r.types.clone() },
        "ts": { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) },
    };
    let bucket = Bson::Document(
        doc! { "$dateTrunc": { "date": "$ts", "unit": r.grain.as_str(), "timezone": "UTC" } },
    );
    let wants = Wants {
        users: true,
        sessions: true,
        metrics: (!r.all_metrics()).then(|| r.metrics.clone()),
        arrays: true,
        values: true,
    };
    let (counts, metrics) = pipelines(filter, &keys, Some(bucket), &wants);
    // Taken before the events are read: a later build reads later events.
    let generation = store.rollups().next_generation().await?;

    let mut groups: BTreeMap<String, (Document, Vec<String>, Partial)> = BTreeMap::new();
    let mut events = 0;
    for row in store.events().aggregate(counts, BUILD_TIME_LIMIT).await? {
        let row = raw_to_doc(&row)?;
        let id = row.get_document("_id").cloned().unwrap_or_default();
        let mv: Vec<String> = r
            .dims
            .iter()
            .enumerate()
            .filter(|(i, _)| row.get_bool(format!("mv{i}")).unwrap_or(false))
            .map(|(_, d)| d.clone())
            .collect();
        let p = Partial::from_counts(&row);
        events += p.n;
        groups.insert(group_key(&id), (id, mv, p));
    }
    if let Some(metrics) = metrics {
        for row in store.events().aggregate(metrics, BUILD_TIME_LIMIT).await? {
            let row = raw_to_doc(&row)?;
            let Ok(id) = row.get_document("_id") else {
                continue;
            };
            let (Ok(g), Ok(k)) = (id.get_document("g"), id.get_str("k")) else {
                continue;
            };
            if let Some((_, _, p)) = groups.get_mut(&group_key(g)) {
                p.add_metric_row(k.to_owned(), &row);
            }
        }
    }

    let mut docs = Vec::with_capacity(groups.len());
    for (id, mv, p) in groups.into_values() {
        let b = id
            .get_datetime("b")
            .map(|t| t.timestamp_millis())
            .map_err(|_| StoreError::Failed("a build row has no bucket".into()))?;
        let mut d = Document::new();
        for (i, name) in r.dims.iter().enumerate() {
            match id.get(format!("g{i}")) {
                None | Some(Bson::Null) => {}
                Some(v) => {
                    d.insert(name, v.clone());
                }
            }
        }
        if let Some(t) = id.get("gt") {
            d.insert("type", t.clone());
        }
        let hash = Sha256::digest(
            Bson::Document(d.clone())
                .into_relaxed_extjson()
                .to_string()
                .as_bytes(),
        );
        let mut out = doc! {
            "_id": format!("{}:{app}:{b}:{}", r.name, hex::encode(&hash[..12])),
            "r": &r.name, "app": app, "b": DateTime::from_millis(b), "d": d, "g": generation,
        };
        if !mv.is_empty() {
            out.insert("mv", mv);
        }
        p.to_fields(&mut out);
        docs.push(out);
    }
    let written = docs.len() as u64;
    store
        .rollups()
        .replace_range(&r.name, app, from_ms, to_ms, generation, docs)
        .await?;
    Ok(BuildOutcome {
        ranges: 1,
        docs: written,
        events,
        cleared: 0,
    })
}

/// `t` rounded down to the grain (UTC).
pub(crate) fn floor(t: i64, g: Grain) -> i64 {
    t.div_euclid(g.ms()) * g.ms()
}

/// The ranges, aligned to `grain` and at most a day each (for a day grain:
/// whole days), that cover `hours` (epoch ms of hour starts): adjacent
/// hours are built together.
pub(crate) fn ranges_of(hours: &BTreeSet<i64>, grain: Grain) -> Vec<(i64, i64)> {
    const HOUR: i64 = 3_600_000;
    let unit = grain.ms().max(HOUR);
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &h in hours {
        let (from, to) = (floor(h, grain), floor(h, grain) + unit);
        match out.last_mut() {
            Some(last) if from <= last.1 && to - last.0 <= MAX_RANGE_MS.max(unit) => {
                last.1 = last.1.max(to);
            }
            _ => out.push((from, to)),
        }
    }
    out
}

/// One pass of the builder: the marks of hours and days that have ended
/// by `now_ms` and rested since `settled_ms` (up to `limit`), each app's
/// rebuilt in every rollup it serves (`rollups`, the built-in ones, and
/// those the app declared: hour marks for the minute and hour grains, day
/// marks for the day grain), then cleared (a mark made again meanwhile
/// stays for the next pass). A range that fails keeps its marks and the
/// pass goes on with the others; the first error is returned at the end.
/// `alive` is called after each range.
pub async fn build_pending(
    store: &Store,
    rollups: &[Rollup],
    settled_ms: i64,
    now_ms: i64,
    limit: i64,
    mut alive: impl FnMut(),
) -> Result<BuildOutcome, StoreError> {
    let marks = store.rollups().pending(settled_ms, now_ms, limit).await?;
    let mut by_app: BTreeMap<(&str, MarkKind), Vec<&DirtyMark>> = BTreeMap::new();
    for m in &marks {
        by_app.entry((m.app.as_str(), m.kind)).or_default().push(m);
    }
    let mut out = BuildOutcome::default();
    let mut first_error = None;
    for ((app, kind), marks) in by_app {
        let starts: BTreeSet<i64> = marks.iter().map(|m| m.hour_ms).collect();
        let mut all = rollups.to_vec();
        all.extend(super::declared(store, app).await?);
        let mut failed = false;
        for r in all
            .iter()
            .filter(|r| (r.grain == Grain::Day) == (kind == MarkKind::Day))
        {
            for (from, to) in ranges_of(&starts, r.grain) {
                match build_range(store, r, app, from, to).await {
                    Ok(o) => out.add(o),
                    Err(e) => {
                        tracing::warn!(rollup = %r.name, app, error = %e, "a rollup range failed to build; its marks stay");
                        failed = true;
                        first_error.get_or_insert(e);
                    }
                }
                alive();
            }
        }
        if failed {
            continue;
        }
        for m in marks {
            if store.rollups().clear(m).await? {
                out.cleared += 1;
            }
        }
    }
    match first_error {
        Some(e) if out.cleared == 0 => Err(e),
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_hours_build_together_within_a_day() {
        const H: i64 = 3_600_000;
        let day = 20_000 * 86_400_000_i64;
        let hours: BTreeSet<i64> = [day, day + H, day + 5 * H, day + 30 * H].into();
        assert_eq!(
            ranges_of(&hours, Grain::Hour),
            vec![
                (day, day + 2 * H),
                (day + 5 * H, day + 6 * H),
                (day + 30 * H, day + 31 * H)
            ]
        );
        assert_eq!(
            ranges_of(&hours, Grain::Day),
            vec![(day, day + 24 * H), (day + 24 * H, day + 48 * H)]
        );
        assert_eq!(ranges_of(&hours, Grain::Minute)[0], (day, day + 2 * H));
        let long: BTreeSet<i64> = (0..30).map(|i| day + i * H).collect();
        let r = ranges_of(&long, Grain::Hour);
        assert_eq!(r, vec![(day, day + 24 * H), (day + 24 * H, day + 30 * H)]);
    }
}
