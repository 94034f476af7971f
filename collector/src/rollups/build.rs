//! Materialization: the buckets of a range rebuilt from the raw events
//! and replaced, and the builder's pass over the dirty hours and days.
//!
//! A build reads the range's events once, for every rollup it rebuilds
//! (a find per type over `app_type_ts` for the time, the dimensions and
//! the metrics), and folds each
//! event into its groups here: per rollup, bucket, kept dimension values
//! (each multi-valued dimension's distinct values, as the raw engine's
//! `$setUnion` + `$unwind` do) and type, the count, first and last, the
//! users' and sessions' HyperLogLog and each metric's n, sum, min, max and
//! DDSketch. The groups are the same the raw tail's pipelines
//! ([`super::partial::pipelines`]) compute — the differential tests hold
//! the two to it — but one read serves all the rollups, no group's values
//! travel as one array (the 16 MB document limit of `$push`), and a
//! store's slow `$group` is not paid once per rollup. The documents are
//! then written under one build generation
//! ([`crate::store::Rollups::replace_range`]). Only the holder of the
//! builder's lease builds (the job in `jobs/`, or `rollups backfill` when
//! no collector holds it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use datasketches::hll::HllSketch;
use mongodb::bson::{doc, Bson, DateTime, Document, RawBsonRef, RawDocument};
use sha2::{Digest, Sha256};

use super::partial::{MetricPart, Partial};
use super::{Grain, Rollup};
use crate::store::{DirtyMark, MarkKind, Store, StoreError};

/// What one build or pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildOutcome {
    /// Bucket ranges rebuilt (one per rollup and range).
    pub ranges: u64,
    /// Rollup documents written.
    pub docs: u64,
    /// Events read (each once per range, whatever the rollups it served).
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

/// How long one build's read of the events may run on the server.
const BUILD_TIME_LIMIT: Duration = Duration::from_secs(300);
/// Events per round trip of a build's read.
const READ_BATCH: u32 = 5_000;
/// Most of one range built by one read (a day of events).
const MAX_RANGE_MS: i64 = 86_400_000;

/// A grouping value in the server's `$group` equality: numbers by value
/// (1, 1L and 1.0 are one group), everything else by type and content.
fn canon(v: &Bson, out: &mut Vec<u8>) {
    let int = |out: &mut Vec<u8>, i: i64| {
        out.push(b'n');
        out.extend_from_slice(i.to_string().as_bytes());
    };
    match v {
        Bson::Int32(i) => int(out, i64::from(*i)),
        Bson::Int64(i) => int(out, *i),
        Bson::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => int(out, *f as i64),
        Bson::Double(f) => {
            out.push(b'n');
            out.extend_from_slice(format!("{f:?}").as_bytes());
        }
        Bson::String(s) => {
            out.push(b's');
            out.extend_from_slice(s.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(s.as_bytes());
        }
        Bson::Boolean(b) => out.extend_from_slice(if *b { b"b1" } else { b"b0" }),
        other => {
            out.push(b'x');
            let text = other.clone().into_relaxed_extjson().to_string();
            out.extend_from_slice(text.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.push(0);
}

/// The value a rollup document keeps for a group: a whole number as a
/// 64-bit integer (what the group's first event held may be a double).
fn kept(v: &Bson) -> Bson {
    match v {
        Bson::Int32(i) => Bson::Int64(i64::from(*i)),
        Bson::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Bson::Int64(*f as i64),
        other => other.clone(),
    }
}

/// The values an event holds at one dimension, as the raw engine groups
/// them: none (missing, null, or an empty array: the null group), one, or
/// an array's distinct values; and whether it was an array.
fn values_of(v: Option<Bson>) -> (Vec<Option<Bson>>, bool) {
    match v {
        None | Some(Bson::Null) => (vec![None], false),
        Some(Bson::Array(items)) => {
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            for item in items {
                let mut k = Vec::new();
                canon(&item, &mut k);
                if seen.insert(k) {
                    out.push(match item {
                        Bson::Null => None,
                        x => Some(x),
                    });
                }
            }
            if out.is_empty() {
                out.push(None);
            }
            (out, true)
        }
        Some(x) => (vec![Some(x)], false),
    }
}

/// One group while the events are read.
struct Acc {
    /// The bucket's start (epoch ms).
    b: i64,
    /// The kept dimension values and the type.
    d: Document,
    /// Per dimension: whether an event of the group held an array there.
    mv: Vec<bool>,
    n: u64,
    first: i64,
    last: i64,
    users: HllSketch,
    sessions: HllSketch,
    metrics: BTreeMap<String, MetricPart>,
}

/// One event's fields the builds read.
struct Event<'a> {
    ty: &'a str,
    /// The type as a grouping key ([`canon`]).
    ty_key: Vec<u8>,
    ts: i64,
    dims: Option<&'a RawDocument>,
    /// The user (`user`, else `anon`) and the session, read once for all
    /// the rollups the event joins.
    user: Option<Bson>,
    session: Option<Bson>,
    metrics: Vec<(&'a str, f64)>,
}

fn field(dims: Option<&RawDocument>, name: &str) -> Option<Bson> {
    let v = dims?.get(name).ok()??;
    Bson::try_from(v.to_raw_bson()).ok()
}

/// An id for HyperLogLog: a string as is, anything else by its text.
fn update_sketch(s: &mut HllSketch, v: Option<&Bson>) {
    match v {
        None | Some(Bson::Null) => {}
        Some(Bson::String(x)) => s.update(x.as_str()),
        Some(other) => s.update(other.to_string().as_str()),
    }
}

fn read_event(raw: &RawDocument) -> Result<Event<'_>, StoreError> {
    let bad = |what: &str| StoreError::Failed(format!("an event has no {what}: {raw:?}"));
    let ty = raw.get_str("type").map_err(|_| bad("string `type`"))?;
    let ts = raw
        .get_datetime("ts")
        .map_err(|_| bad("date `ts`"))?
        .timestamp_millis();
    let dims = match raw.get("dims") {
        Ok(Some(RawBsonRef::Document(d))) => Some(d),
        _ => None,
    };
    let mut metrics = Vec::new();
    if let Ok(Some(RawBsonRef::Document(m))) = raw.get("metrics") {
        for entry in m {
            let (k, v) =
                entry.map_err(|e| StoreError::Failed(format!("an event's metrics: {e}")))?;
            let x = match v {
                RawBsonRef::Int32(i) => f64::from(i),
                RawBsonRef::Int64(i) => i as f64,
                RawBsonRef::Double(f) => f,
                // Ingest stores numbers only; the raw engine's `$sum` skips the rest.
                _ => continue,
            };
            metrics.push((k, x));
        }
    }
    let user = match field(dims, "user") {
        None | Some(Bson::Null) => field(dims, "anon"),
        u => u,
    };
    let mut ty_key = Vec::with_capacity(ty.len() + 4);
    canon(&Bson::String(ty.to_owned()), &mut ty_key);
    Ok(Event {
        ty,
        ty_key,
        ts,
        dims,
        user,
        session: field(dims, "session"),
        metrics,
    })
}

/// Folds one event into rollup `r`'s groups.
fn fold(r: &Rollup, e: &Event<'_>, groups: &mut HashMap<Vec<u8>, Acc>) {
    let b = floor(e.ts, r.grain);
    // Each dimension's values; the event joins one group per combination.
    let per_dim: Vec<(Vec<Option<Bson>>, bool)> =
        r.dims.iter().map(|d| values_of(field(e.dims, d))).collect();
    let mut pick = vec![0usize; per_dim.len()];
    loop {
        let mut key = Vec::with_capacity(64);
        key.extend_from_slice(&b.to_be_bytes());
        key.extend_from_slice(&e.ty_key);
        for (i, (vals, _)) in per_dim.iter().enumerate() {
            match &vals[pick[i]] {
                Some(v) => canon(v, &mut key),
                None => key.push(b'z'),
            }
        }
        let acc = groups.entry(key).or_insert_with(|| {
            let mut d = Document::new();
            for (i, name) in r.dims.iter().enumerate() {
                if let Some(v) = &per_dim[i].0[pick[i]] {
                    d.insert(name, kept(v));
                }
            }
            d.insert("type", e.ty);
            Acc {
                b,
                d,
                mv: vec![false; r.dims.len()],
                n: 0,
                first: e.ts,
                last: e.ts,
                users: Partial::new_sketch(),
                sessions: Partial::new_sketch(),
                metrics: BTreeMap::new(),
            }
        });
        acc.n += 1;
        acc.first = acc.first.min(e.ts);
        acc.last = acc.last.max(e.ts);
        for (i, (_, array)) in per_dim.iter().enumerate() {
            acc.mv[i] |= *array;
        }
        update_sketch(&mut acc.users, e.user.as_ref());
        update_sketch(&mut acc.sessions, e.session.as_ref());
        for (k, x) in &e.metrics {
            if r.all_metrics() || r.metrics.iter().any(|m| m == k) {
                acc.metrics
                    .entry((*k).to_owned())
                    .or_insert_with(MetricPart::empty)
                    .add(*x);
            }
        }
        // The next combination of the multi-valued dimensions' values.
        let mut i = 0;
        loop {
            if i == pick.len() {
                return;
            }
            pick[i] += 1;
            if pick[i] < per_dim[i].0.len() {
                break;
            }
            pick[i] = 0;
            i += 1;
        }
    }
}

/// Rebuilds the buckets of every rollup of `rollups` for `app` in
/// `[from_ms, to_ms)` (aligned to their grains) from one read of the raw
/// events, replacing what was there.
pub(crate) async fn build_range(
    store: &Store,
    rollups: &[&Rollup],
    app: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<BuildOutcome, StoreError> {
    if rollups.is_empty() {
        return Ok(BuildOutcome::default());
    }
    let types: BTreeSet<&str> = rollups
        .iter()
        .flat_map(|r| r.types.iter().map(String::as_str))
        .collect();
    // Whole `dims` and `metrics`, not a path per kept dimension: a
    // projection of many dotted paths costs the store per document (on
    // SecantusDB a day's read with 17 paths took 18x as long as with the
    // top-level fields), and an event's dimensions are a few hundred bytes.
    let projection = doc! { "_id": 0, "type": 1, "ts": 1, "dims": 1, "metrics": 1 };
    // Taken before the events are read: a later build reads later events.
    let generation = store.rollups().next_generation().await?;

    let mut groups: Vec<HashMap<Vec<u8>, Acc>> = rollups.iter().map(|_| HashMap::new()).collect();
    let mut events = 0;
    // One read per type, each an equality on `app_type_ts`'s second key:
    // the same index bounds as an `$in` on MongoDB, and SecantusDB scans
    // an `$in` bound 15x slower.
    for ty in types {
        let filter = doc! {
            "app": app,
            "type": ty,
            "ts": { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) },
        };
        let mut read = store
            .events()
            .read(filter, projection.clone(), READ_BATCH, BUILD_TIME_LIMIT)
            .await?;
        while let Some(raw) = read.next().await? {
            let e = read_event(&raw)?;
            events += 1;
            for (r, g) in rollups.iter().zip(groups.iter_mut()) {
                if r.types.iter().any(|t| *t == e.ty) {
                    fold(r, &e, g);
                }
            }
        }
    }

    let mut out = BuildOutcome {
        events,
        ..BuildOutcome::default()
    };
    for (r, groups) in rollups.iter().zip(groups) {
        let mut docs = Vec::with_capacity(groups.len());
        for acc in groups.into_values() {
            let (d, b_ms) = (acc.d, acc.b);
            let hash = Sha256::digest(
                Bson::Document(d.clone())
                    .into_relaxed_extjson()
                    .to_string()
                    .as_bytes(),
            );
            let mut doc = doc! {
                "_id": format!("{}:{app}:{b_ms}:{}", r.name, hex::encode(&hash[..12])),
                "r": &r.name, "app": app, "b": DateTime::from_millis(b_ms), "d": d, "g": generation,
            };
            let mv: Vec<&String> = r
                .dims
                .iter()
                .zip(&acc.mv)
                .filter(|(_, m)| **m)
                .map(|(d, _)| d)
                .collect();
            if !mv.is_empty() {
                doc.insert("mv", mv);
            }
            Partial::from_sketches(
                acc.n,
                acc.first,
                acc.last,
                &acc.users,
                &acc.sessions,
                acc.metrics,
            )
            .to_fields(&mut doc);
            docs.push(doc);
        }
        out.ranges += 1;
        out.docs += docs.len() as u64;
        store
            .rollups()
            .replace_range(&r.name, app, from_ms, to_ms, generation, docs)
            .await?;
    }
    Ok(out)
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
        // Minute and hour grains share the hour marks' ranges (a day at
        // most), the day grain whole days: one read per range serves them all.
        let serves: Vec<&Rollup> = all
            .iter()
            .filter(|r| (r.grain == Grain::Day) == (kind == MarkKind::Day))
            .collect();
        let grain = if kind == MarkKind::Day {
            Grain::Day
        } else {
            Grain::Hour
        };
        for (from, to) in ranges_of(&starts, grain) {
            match build_range(store, &serves, app, from, to).await {
                Ok(o) => out.add(o),
                Err(e) => {
                    tracing::warn!(app, from, to, error = %e, "a rollup range failed to build; its marks stay");
                    failed = true;
                    first_error.get_or_insert(e);
                }
            }
            alive();
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
    fn values_group_as_the_servers_group_does() {
        let key = |v: Bson| {
            let mut k = Vec::new();
            canon(&v, &mut k);
            k
        };
        // Numbers by value, whatever their type; strings by content.
        assert_eq!(key(Bson::Int32(1)), key(Bson::Double(1.0)));
        assert_eq!(key(Bson::Int64(1)), key(Bson::Int32(1)));
        assert_ne!(key(Bson::Double(1.5)), key(Bson::Int32(1)));
        assert_ne!(key(Bson::String("1".into())), key(Bson::Int32(1)));
        assert_eq!(kept(&Bson::Double(2.0)), Bson::Int64(2));
        // An array's distinct values, once each; [] and null are the null group.
        let arr = Bson::Array(vec![Bson::Int32(1), Bson::Double(1.0), "a".into()]);
        let (vals, mv) = values_of(Some(arr));
        assert!(mv);
        assert_eq!(vals, vec![Some(Bson::Int32(1)), Some("a".into())]);
        assert_eq!(values_of(Some(Bson::Array(vec![]))), (vec![None], true));
        assert_eq!(values_of(Some(Bson::Null)), (vec![None], false));
        assert_eq!(values_of(None), (vec![None], false));
    }

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
