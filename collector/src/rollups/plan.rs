//! The planner: every reader's query goes through [`answer`], which
//! answers from a rollup when one covers the query, from the rollup and the
//! raw events for what it has not built (the edges of the range that are no
//! whole bucket, the buckets being rebuilt, the time before it was built),
//! and from the raw events otherwise.
//!
//! A rollup covers a query when the query names its event types (all of
//! them among the rollup's), every filter and group-by dimension is one the
//! rollup keeps, every metric it measures is one the rollup summarizes, and
//! its interval is a whole number of the rollup's buckets (a day grain:
//! only in UTC; an hour grain: in any whole-hour time zone, checked per
//! bucket). Of the rollups that cover it, the cheapest by a cost that
//! weighs the raw tail's duration against the rollup documents read wins.
//!
//! The rollup's documents and the raw tail give the same partial states
//! ([`super::partial`]), merged here per answer row and finished into the
//! measures. Counts, sums, min, max, averages and first/last are exact;
//! distinct users and sessions and percentiles are estimates when a sketch
//! answered (`meta.approximate`, with the bound).
//!
//! This file is over 500 lines: one plan's execution (the rollup's
//! documents, then the raw tail, then the answer's meta) shares the plan's
//! state step to step, and reads best in one place; the rows' arithmetic
//! is in `rows.rs`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Bson, DateTime, Document};
use serde_json::{json, Value};

use super::partial::{Key, Partial, Wants, DD_ALPHA, HLL_LG_K};
use super::rows::{add, measure, order_rows, value_of, Groups};
use super::{Grain, Rollup};
use crate::query::{
    self, bucket, compile, conditions_at, dim_path, match_stage, time_zone, Interval, Measure, Op,
    PlanChoice, QueryError, QueryRequest, QueryResponse,
};
use crate::store::json::rfc3339;
use crate::store::{MarkKind, Store};

const HOUR_MS: i64 = 3_600_000;
/// Most separate raw ranges a plan reads (dirty buckets are ranges).
const MAX_RAW_RANGES: usize = 256;
/// Most rollup documents a plan reads into the collector; past it, raw.
const MAX_DOCS: usize = 200_000;

/// `t` rounded down to the grain (UTC).
pub(crate) fn grain_floor(t: i64, g: Grain) -> i64 {
    t.div_euclid(g.ms()) * g.ms()
}

/// `t` rounded up to the grain (UTC).
pub(crate) fn grain_ceil(t: i64, g: Grain) -> i64 {
    let f = grain_floor(t, g);
    if f == t {
        t
    } else {
        f.saturating_add(g.ms())
    }
}

fn is_utc(q: &QueryRequest) -> bool {
    matches!(q.tz.as_deref(), None | Some("UTC" | "Etc/UTC" | "Z"))
}

fn derived(name: &str) -> bool {
    matches!(name, "hour" | "weekday")
}

/// Why `r` does not cover `q`, or `None` when it does.
fn not_covered(r: &Rollup, q: &QueryRequest) -> Option<String> {
    let Some(types) = &q.types else {
        return Some("the query names no event types".into());
    };
    if let Some(t) = types
        .iter()
        .find(|t| !r.types.iter().any(|x| x == t.as_str()))
    {
        return Some(format!("type `{}` is not among its types", t.as_str()));
    }
    for f in &q.filters {
        match (&f.dim, &f.metric) {
            (Some(d), None) if r.has_dim(d.as_str()) && !derived(d.as_str()) => {}
            (Some(d), None) => return Some(format!("it does not keep `{d}` (a filter)")),
            _ => return Some("a filter on a metric".into()),
        }
    }
    if let Some(g) = q
        .group_by
        .iter()
        .find(|g| !r.has_dim(g.as_str()) || derived(g.as_str()))
    {
        return Some(format!("it does not keep `{g}` (a group-by)"));
    }
    for m in &q.measures {
        if let Measure::Of { of, .. } = m {
            if !r.has_metric(of.as_str()) {
                return Some(format!("it does not summarize the metric `{of}`"));
            }
        }
    }
    match (r.grain, q.interval) {
        (_, None) | (Grain::Minute, _) => {}
        (Grain::Hour, Some(Interval::Minute)) => {
            return Some("the interval is finer than its hour buckets".into())
        }
        (Grain::Hour, _) => {}
        (Grain::Day, Some(Interval::Minute | Interval::Hour)) => {
            return Some("the interval is finer than its day buckets".into())
        }
        (Grain::Day, _) if !is_utc(q) => {
            return Some("its day buckets are UTC days and the query's tz is not UTC".into())
        }
        (Grain::Day, _) => {}
    }
    None
}

/// The part of `[from, to)` a rollup of grain `g` built from `covered_from`
/// answers: whole buckets, none at or after `now`'s.
fn rollup_span(from: i64, to: i64, covered_from: i64, g: Grain, now: i64) -> (i64, i64) {
    let lo = grain_ceil(from.max(covered_from), g);
    let hi = grain_floor(to.min(now), g);
    (lo, hi.max(lo))
}

/// A rough cost: an hour of raw events weighs as much as 100 rollup documents.
fn cost(r: &Rollup, from: i64, to: i64, span: (i64, i64)) -> f64 {
    let raw_ms = (span.0 - from).max(0) + (to - span.1).max(0);
    let docs = ((span.1 - span.0) / r.grain.ms()) as f64 * 2f64.powi(r.dims.len() as i32);
    raw_ms as f64 / HOUR_MS as f64 * 100.0 + docs
}

/// Why the plan went back to the raw events, or the error that stopped it.
enum Fallback {
    Raw(String),
    Failed(QueryError),
}

impl From<QueryError> for Fallback {
    fn from(e: QueryError) -> Self {
        Self::Failed(e)
    }
}

impl From<crate::store::StoreError> for Fallback {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Failed(QueryError::Store(e))
    }
}

/// What is left of `time_limit`; none left is [`QueryError::TooSlow`]
/// (a zero `maxTimeMS` would mean no limit at all).
fn remaining(time_limit: Duration, started: Instant) -> Result<Duration, QueryError> {
    let left = time_limit.saturating_sub(started.elapsed());
    // `maxTimeMS` counts whole milliseconds.
    if left < Duration::from_millis(1) {
        Err(QueryError::TooSlow(time_limit))
    } else {
        Ok(left)
    }
}

/// Answers `q`: from a rollup where one covers it, else from the raw
/// events (what `meta.plan` says), in at most `time_limit`.
pub async fn answer(
    store: &Store,
    q: &QueryRequest,
    time_limit: Duration,
) -> Result<QueryResponse, QueryError> {
    let rollups = if q.plan == Some(PlanChoice::Raw) {
        Vec::new()
    } else {
        super::for_app(store, q.app().as_str()).await?
    };
    answer_with(store, q, time_limit, &rollups).await
}

/// [`answer`] over the rollups `rollups`.
pub(crate) async fn answer_with(
    store: &Store,
    q: &QueryRequest,
    time_limit: Duration,
    rollups: &[Rollup],
) -> Result<QueryResponse, QueryError> {
    let started = Instant::now();
    // The request's own errors first, whichever plan answers.
    let plan = compile(q)?;
    let why_raw = if q.plan == Some(PlanChoice::Raw) {
        "the request asked for plan raw".to_owned()
    } else {
        match from_rollup(store, q, time_limit, rollups, &plan.columns, started).await {
            Ok(a) => return Ok(a),
            Err(Fallback::Failed(e)) => return Err(e),
            Err(Fallback::Raw(why)) => why,
        }
    };
    let left = remaining(time_limit, started)?;
    let mut a = query::run(store, q, left).await?;
    a.meta["took_ms"] = json!(started.elapsed().as_secs_f64() * 1000.0);
    a.meta["approximate"] = json!(false);
    if q.explain {
        a.meta["reason"] = json!(why_raw);
    }
    Ok(a)
}

async fn from_rollup(
    store: &Store,
    q: &QueryRequest,
    time_limit: Duration,
    rollups: &[Rollup],
    columns: &[String],
    started: Instant,
) -> Result<QueryResponse, Fallback> {
    let app = q.app().as_str();
    let now = DateTime::now().timestamp_millis();
    let from = q.from.map_or(i64::MIN / 2, |t| t.as_millis());
    let to = q.to.map_or(i64::MAX / 2, |t| t.as_millis());

    let mut reasons = Vec::new();
    let mut best: Option<(f64, &Rollup, i64, (i64, i64))> = None;
    for r in rollups {
        if let Some(why) = not_covered(r, q) {
            reasons.push(format!("{}: {why}", r.name));
            continue;
        }
        let Some(cf) = super::state::built_from(store, r, app).await? else {
            reasons.push(format!("{}: not built yet", r.name));
            continue;
        };
        let span = rollup_span(from, to, cf, r.grain, now);
        if span.0 >= span.1 {
            reasons.push(format!(
                "{}: the range holds no whole bucket it has built",
                r.name
            ));
            continue;
        }
        // An unbounded range weighs as a year before and an hour past now.
        let c = cost(
            r,
            from.max(span.0 - 366 * 86_400_000),
            to.min(now + HOUR_MS),
            span,
        );
        if best.as_ref().is_none_or(|b| c < b.0) {
            best = Some((c, r, cf, span));
        }
    }
    let Some((_, r, cf, (lo, hi))) = best else {
        return Err(Fallback::Raw(format!(
            "no rollup covers the query ({})",
            reasons.join("; ")
        )));
    };

    // Hours (for a day grain: days) being rebuilt are read raw, whole.
    let kind = if r.grain == Grain::Day {
        MarkKind::Day
    } else {
        MarkKind::Hour
    };
    let unit = kind.ms();
    let dirty: BTreeSet<i64> = store
        .rollups()
        .dirty(app, kind, lo.div_euclid(unit) * unit, hi)
        .await?
        .into_iter()
        .collect();
    let mut raw: Vec<(i64, i64)> = Vec::new();
    let mut push = |a: i64, b: i64| {
        if a >= b {
            return;
        }
        match raw.last_mut() {
            Some(last) if last.1 >= a => last.1 = last.1.max(b),
            _ => raw.push((a, b)),
        }
    };
    push(from, lo);
    for &b in &dirty {
        push(b.max(lo), (b + unit).min(hi));
    }
    push(hi, to);
    if raw.len() > MAX_RAW_RANGES {
        return Err(Fallback::Raw(format!(
            "{}: {} buckets are being rebuilt",
            r.name,
            dirty.len()
        )));
    }

    let tz = time_zone(q)?;
    let group: Vec<String> = q.group_by.iter().map(|g| g.to_string()).collect();
    let default_measures = [Measure::Count];
    let measures = if q.measures.is_empty() {
        &default_measures[..]
    } else {
        &q.measures[..]
    };
    let metrics: BTreeSet<String> = measures
        .iter()
        .filter_map(|m| match m {
            Measure::Of { of, .. } => Some(of.to_string()),
            _ => None,
        })
        .collect();
    let wants = Wants {
        users: measures.contains(&Measure::Users),
        sessions: measures.contains(&Measure::Sessions),
        metrics: Some(metrics.iter().cloned().collect()),
        arrays: false,
        // The raw tail's values, only for a percentile.
        values: measures
            .iter()
            .any(|m| matches!(m, Measure::Of { func, .. } if func.percentile().is_some())),
    };
    // A multi-valued dimension: the rollup holds a row per value, the raw
    // engine filters whole events and then unwinds. They agree only when
    // the query groups by it with no filter on it, or does not group by
    // it and filters it with exactly one `eq`.
    let mv_ok = |d: &str| {
        let ops: Vec<Op> = q
            .filters
            .iter()
            .filter(|f| f.dim.as_ref().is_some_and(|x| x.as_str() == d))
            .map(|f| f.op)
            .collect();
        if group.iter().any(|g| g == d) {
            ops.is_empty()
        } else {
            matches!(ops[..], [Op::Eq | Op::Contains])
        }
    };
    // The rollup's documents.
    let types: Vec<&str> = q.types.iter().flatten().map(|t| t.as_str()).collect();
    let mut m = doc! {
        "r": &r.name, "app": app,
        "b": { "$gte": DateTime::from_millis(lo), "$lt": DateTime::from_millis(hi) },
    };
    match types.as_slice() {
        [one] => m.insert("d.type", *one),
        _ => m.insert("d.type", doc! { "$in": types }),
    };
    let conds = conditions_at(&q.filters, tz, "d.")?;
    if !conds.is_empty() {
        m.insert("$and", conds);
    }
    let mut project = doc! { "_id": 0, "b": 1, "d": 1, "n": 1, "mv": 1 };
    if measures
        .iter()
        .any(|m| matches!(m, Measure::FirstSeen | Measure::LastSeen))
    {
        project.insert("first", 1);
        project.insert("last", 1);
    }
    if wants.users {
        project.insert("u", 1);
    }
    if wants.sessions {
        project.insert("s", 1);
    }
    for k in &metrics {
        project.insert(format!("m.{k}"), 1);
    }
    let mut pipeline = vec![
        doc! { "$match": m },
        doc! { "$limit": MAX_DOCS as i64 + 1 },
        doc! { "$project": project },
    ];
    if let Some(unit) = q.interval {
        let trunc = |date: Bson| {
            doc! { "$dateTrunc": { "date": date, "unit": unit.as_str(), "timezone": tz, "startOfWeek": "monday" } }
        };
        pipeline.push(doc! { "$addFields": {
            "qb": trunc(Bson::String("$b".into())),
            "qe": trunc(Bson::Document(doc! { "$add": [ "$b", r.grain.ms() - 1 ] })),
        } });
    }
    let left = remaining(time_limit, started)?;
    let docs = store
        .rollups()
        .aggregate(pipeline.clone(), left)
        .await
        .map_err(|e| {
            if e.is_time_limit() {
                Fallback::Failed(QueryError::TooSlow(time_limit))
            } else {
                Fallback::from(e)
            }
        })?;
    let mut groups = Groups::new();
    if docs.len() > MAX_DOCS {
        return Err(Fallback::Raw(format!(
            "{}: more than {MAX_DOCS} of its documents cover the range",
            r.name
        )));
    }
    let mut from_sketch = 0u64;
    for d in &docs {
        let b = d.get_datetime("b").map_or(0, |t| t.timestamp_millis());
        if dirty.contains(&(b.div_euclid(unit) * unit)) {
            continue;
        }
        if let Ok(mv) = d.get_array("mv") {
            for dim in mv.iter().filter_map(Bson::as_str) {
                if !mv_ok(dim) {
                    return Err(Fallback::Raw(format!(
                        "{}: `{dim}` is multi-valued, and only grouping by it (with no filter on it) or one eq filter on it reads its rows as the raw events do",
                        r.name
                    )));
                }
            }
        }
        let qb = match q.interval {
            None => None,
            Some(_) => {
                let (qb, qe) = (d.get_datetime("qb"), d.get_datetime("qe"));
                match (qb, qe) {
                    (Ok(a), Ok(b)) if a == b => Some(a.timestamp_millis()),
                    _ => {
                        return Err(Fallback::Raw(format!(
                            "{}: its {} buckets straddle the query's {} buckets in {tz}",
                            r.name,
                            r.grain.as_str(),
                            q.interval.map_or("", Interval::as_str)
                        )))
                    }
                }
            }
        };
        let dims = d.get_document("d").ok();
        let values = group
            .iter()
            .map(|g| value_of(dims.and_then(|x| x.get(g))))
            .collect();
        let p = Partial::from_fields(d).map_err(|e| {
            Fallback::Failed(QueryError::Store(crate::store::StoreError::Failed(e)))
        })?;
        from_sketch += p.n;
        add(&mut groups, values, qb, p);
    }

    // The raw tail.
    let mut raw_pipelines = Vec::new();
    if !raw.is_empty() {
        let ranges: Vec<Bson> = raw
            .iter()
            .map(|(a, b)| {
                let mut ts = Document::new();
                if *a > i64::MIN / 2 {
                    ts.insert("$gte", DateTime::from_millis(*a));
                }
                if *b < i64::MAX / 2 {
                    ts.insert("$lt", DateTime::from_millis(*b));
                }
                Bson::Document(doc! { "ts": ts })
            })
            .collect();
        let filter = doc! { "$and": [ match_stage(q)?, { "$or": ranges } ] };
        let keys: Vec<Key> = group
            .iter()
            .enumerate()
            .map(|(i, g)| Key {
                out: format!("g{i}"),
                path: dim_path(g),
            })
            .collect();
        let bucket = bucket(q)?.map(Bson::Document);
        let (counts, metrics_p) = super::partial::pipelines(filter, &keys, bucket, &wants);
        let read = |id: &Document| -> (Vec<Value>, Option<i64>) {
            let values = (0..group.len())
                .map(|i| value_of(id.get(format!("g{i}"))))
                .collect();
            let b = id.get_datetime("b").ok().map(|t| t.timestamp_millis());
            (values, b)
        };
        let mut tail = Groups::new();
        let left = remaining(time_limit, started)?;
        for row in run_events(store, counts.clone(), left, time_limit).await? {
            let id = row.get_document("_id").cloned().unwrap_or_default();
            let (values, b) = read(&id);
            add(&mut tail, values, b, Partial::from_counts(&row));
        }
        if let Some(mp) = metrics_p.clone() {
            let left = remaining(time_limit, started)?;
            for row in run_events(store, mp, left, time_limit).await? {
                let Ok(id) = row.get_document("_id") else {
                    continue;
                };
                let (Ok(g), Ok(k)) = (id.get_document("g"), id.get_str("k")) else {
                    continue;
                };
                let (values, b) = read(g);
                let mut p = Partial::default();
                p.add_metric_row(k.to_owned(), &row);
                add(&mut tail, values, b, p);
            }
        }
        for (_, (values, b, p)) in tail {
            add(&mut groups, values, b, p);
        }
        raw_pipelines.push(counts);
        raw_pipelines.extend(metrics_p);
    }

    // The answer's rows, ordered and limited as the raw engine does.
    let mut rows: Vec<Vec<Value>> = groups
        .into_values()
        .map(|(values, b, p)| {
            let mut row = values;
            if q.interval.is_some() {
                row.push(b.map_or(Value::Null, |t| Value::String(rfc3339(t))));
            }
            row.extend(measures.iter().map(|m| measure(m, &p)));
            row
        })
        .collect();
    order_rows(&mut rows, q, columns, group.len());

    let sketched = measures.iter().any(|m| {
        matches!(m, Measure::Users | Measure::Sessions)
            || matches!(m, Measure::Of { func, .. } if func.percentile().is_some())
    });
    // The raw tail's users and sessions go through the same sketches.
    let approximate = sketched;
    let plan = if raw.is_empty() {
        format!("rollup:{}", r.name)
    } else {
        format!("rollup:{}+raw", r.name)
    };
    let mut meta = json!({
        "took_ms": started.elapsed().as_secs_f64() * 1000.0,
        "plan": plan,
        "approximate": approximate,
        "rollup": {
            "name": r.name, "grain": r.grain.as_str(),
            "built_from": rfc3339(cf),
            "from": rfc3339(lo), "to": rfc3339(hi),
            "dirty_buckets": dirty.len(),
            "documents": docs.len(),
            "events": from_sketch,
            "raw_ranges": raw.iter().map(|(a, b)| json!([
                (*a > i64::MIN / 2).then(|| rfc3339(*a)),
                (*b < i64::MAX / 2).then(|| rfc3339(*b)),
            ])).collect::<Vec<_>>(),
        },
    });
    if approximate {
        meta["error"] = json!({
            "users": format!("HyperLogLog lg k {HLL_LG_K}: relative standard error 1.6% (within 3.3% at 95%), exact below about 200 distinct values per bucket"),
            "percentiles": format!("DDSketch: within {}% of the true value at that rank", DD_ALPHA * 100.0),
        });
    }
    if q.explain {
        let why = format!(
            "{} covers the query; {} documents read{}",
            r.name,
            docs.len(),
            if raw.is_empty() {
                String::new()
            } else {
                format!(
                    ", and {} raw range(s): the edges that are no whole bucket, the buckets being rebuilt, the time past its last bucket",
                    raw.len()
                )
            }
        );
        meta["reason"] = json!(why);
        meta["pipeline"] =
            Bson::Array(pipeline.into_iter().map(Bson::Document).collect()).into_relaxed_extjson();
        meta["raw_pipelines"] =
            json!(raw_pipelines
                .into_iter()
                .map(|p| Bson::Array(p.into_iter().map(Bson::Document).collect())
                    .into_relaxed_extjson())
                .collect::<Vec<_>>());
    }
    Ok(QueryResponse {
        columns: columns.to_vec(),
        rows,
        meta,
    })
}

async fn run_events(
    store: &Store,
    pipeline: Vec<Document>,
    left: Duration,
    limit: Duration,
) -> Result<Vec<Document>, Fallback> {
    let rows = store
        .events()
        .aggregate(pipeline, left)
        .await
        .map_err(|e| {
            if e.is_time_limit() {
                Fallback::Failed(QueryError::TooSlow(limit))
            } else {
                Fallback::from(e)
            }
        })?;
    rows.iter()
        .map(|r| {
            r.to_document().map_err(|e| {
                Fallback::Failed(QueryError::Store(crate::store::StoreError::Failed(
                    format!("an aggregation row does not decode: {e}"),
                )))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_whole_built_buckets_before_now() {
        const H: i64 = HOUR_MS;
        let day = 20_000 * 86_400_000_i64;
        assert_eq!(
            rollup_span(
                day + 90_000,
                day + 5 * H + 1,
                day,
                Grain::Hour,
                day + 100 * H
            ),
            (day + H, day + 5 * H)
        );
        // Not before it was built, nor the bucket of now.
        assert_eq!(
            rollup_span(
                day,
                day + 10 * H,
                day + 2 * H + 1,
                Grain::Hour,
                day + 7 * H + 5
            ),
            (day + 3 * H, day + 7 * H)
        );
        let (lo, hi) = rollup_span(day + H, day + 20 * H, day, Grain::Day, day + 100 * H);
        assert!(lo >= hi, "no whole day");
    }
}
