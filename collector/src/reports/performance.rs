//! `performance`: memory, GC and long tasks in the browser; response time,
//! errors and serialization per API route, and memory, on the server.
//!
//! Six queries of the engine over the scope's segment: browser `memory`
//! samples by time bucket and by page; `http` events per route and method,
//! and those of them with a 5xx status; server `memory` samples by bucket.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use usagelens_protocol::Timestamp;

use super::{desc, dim_filter, event_type, name, Context, Runner, Scope};
use crate::apps::AppId;
use crate::query::{
    self, Filter, Func, Interval, Measure, Op, QueryError, QueryRequest, QueryResponse,
};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(deserialize_with = "query::app_id")]
    app: AppId,
    #[serde(default)]
    from: Option<Timestamp>,
    #[serde(default)]
    to: Option<Timestamp>,
    #[serde(default, rename = "where")]
    filters: Vec<Filter>,
    #[serde(default)]
    tz: Option<String>,
    /// Answer with the pipelines too (`meta.pipelines`).
    #[serde(default)]
    explain: bool,
    /// `raw`: every query from the raw events (exact).
    #[serde(default)]
    plan: Option<crate::query::PlanChoice>,
    /// The series' buckets, default `hour`.
    #[serde(default)]
    interval: Option<Interval>,
    /// Most routes and pages.
    #[serde(default)]
    limit: Option<u32>,
}

/// A checked `performance` request.
#[derive(Debug, Clone)]
pub(crate) struct PerformanceRequest {
    pub(crate) scope: Scope,
    interval: Interval,
    limit: usize,
}

pub(super) fn parse(body: &[u8], now_ms: i64) -> Result<PerformanceRequest, QueryError> {
    let b: Body = query::parse_json(
        body,
        "",
        "the body is not a valid performance report request",
    )?;
    let limit = b.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(QueryError::Invalid(format!("limit: 1 to {MAX_LIMIT}")));
    }
    Ok(PerformanceRequest {
        scope: Scope::new(b.app, b.from, b.to, b.filters, b.tz, b.explain, now_ms)?
            .with_plan(b.plan),
        interval: b.interval.unwrap_or(Interval::Hour),
        limit: limit as usize,
    })
}

fn of(func: Func, metric: &str) -> Measure {
    Measure::Of {
        func,
        of: name(metric),
    }
}

/// The browser's memory measures and their names in the answer.
fn browser_measures() -> Vec<(Measure, &'static str)> {
    vec![
        (Measure::Count, "samples"),
        (of(Func::P50, "used_heap_bytes"), "heap_p50"),
        (of(Func::P95, "used_heap_bytes"), "heap_p95"),
        (of(Func::Sum, "gc_count"), "gc_count"),
        (of(Func::Sum, "gc_reclaimed_bytes"), "gc_reclaimed_bytes"),
        (of(Func::Sum, "longtask_count"), "longtask_count"),
        (of(Func::Sum, "longtask_ms"), "longtask_ms"),
        (of(Func::Sum, "blocking_ms"), "blocking_ms"),
        (of(Func::Max, "longtask_max_ms"), "longtask_max_ms"),
    ]
}

fn server_memory_measures() -> Vec<(Measure, &'static str)> {
    vec![
        (Measure::Count, "samples"),
        (of(Func::P50, "rss_bytes"), "rss_p50"),
        (of(Func::Max, "rss_bytes"), "rss_max"),
        (of(Func::Max, "virtual_bytes"), "virtual_max"),
        (
            of(Func::P50, "jemalloc_allocated_bytes"),
            "jemalloc_allocated_p50",
        ),
        (
            of(Func::Max, "mimalloc_committed_bytes"),
            "mimalloc_committed_max",
        ),
    ]
}

/// A query of `memory` events from `source`, with `measures`.
fn memory(s: &Scope, source: &str, measures: &[(Measure, &str)]) -> QueryRequest {
    let mut q = s.query(s.from, s.to);
    q.types = Some(vec![event_type("memory")]);
    q.filters.push(dim_filter("source", Op::Eq, json!(source)));
    q.measures = measures.iter().map(|(m, _)| m.clone()).collect();
    q
}

/// The answer's rows as objects: the leading columns under `keys`, then the
/// measures under their names in the answer.
fn objects(r: &QueryResponse, keys: &[&str], measures: &[(Measure, &str)]) -> Vec<Value> {
    r.rows
        .iter()
        .map(|row| {
            let mut o = Map::new();
            for (k, v) in keys.iter().zip(row) {
                o.insert((*k).into(), v.clone());
            }
            for ((_, label), v) in measures.iter().zip(&row[keys.len()..]) {
                o.insert((*label).into(), v.clone());
            }
            Value::Object(o)
        })
        .collect()
}

pub(super) async fn run(cx: &Context<'_>, r: &PerformanceRequest) -> Result<Value, QueryError> {
    let s = &r.scope;
    let mut runner = Runner::new(cx, s.explain);

    let browser = browser_measures();
    let mut series = memory(s, "browser", &browser);
    series.interval = Some(r.interval);
    let series = runner.run(&series).await?;
    let mut pages = memory(s, "browser", &browser);
    pages.group_by = vec![name("page")];
    pages.order_by = vec![desc("count")];
    let pages = runner.run(&pages).await?;

    let route_measures = [
        (Measure::Count, "count"),
        (of(Func::P50, "duration_ms"), "p50_duration_ms"),
        (of(Func::P95, "duration_ms"), "p95_duration_ms"),
        (of(Func::P99, "duration_ms"), "p99_duration_ms"),
        (of(Func::P95, "serialize_ms"), "p95_serialize_ms"),
        (of(Func::Sum, "serialize_ms"), "serialize_ms"),
        (of(Func::Sum, "duration_ms"), "duration_ms"),
    ];
    let mut http = s.query(s.from, s.to);
    http.types = Some(vec![event_type("http")]);
    http.group_by = vec![name("route"), name("method")];
    http.measures = route_measures.iter().map(|(m, _)| m.clone()).collect();
    http.order_by = vec![desc("count")];
    let mut errors = http.clone();
    errors
        .filters
        .push(dim_filter("status", Op::Gte, json!(500)));
    errors.measures = vec![Measure::Count];
    let routes = runner.run(&http).await?;
    let errors = runner.run(&errors).await?;

    let server = server_memory_measures();
    let mut server_memory = memory(s, "server", &server);
    server_memory.interval = Some(r.interval);
    let server_memory = runner.run(&server_memory).await?;

    let key = |row: &[Value]| (row[0].clone().to_string(), row[1].clone().to_string());
    let errors: HashMap<(String, String), u64> = errors
        .rows
        .iter()
        .map(|row| (key(row), row[2].as_u64().unwrap_or(0)))
        .collect();
    let routes: Vec<Value> = routes
        .rows
        .iter()
        .take(r.limit)
        .map(|row| {
            let count = row[2].as_u64().unwrap_or(0);
            let failed = errors.get(&key(row)).copied().unwrap_or(0);
            let serialize = row[7].as_f64().unwrap_or(0.0);
            let total = row[8].as_f64().unwrap_or(0.0);
            json!({
                "route": row[0],
                "method": row[1],
                "count": count,
                "errors": failed,
                "error_rate": if count == 0 { 0.0 } else { failed as f64 / count as f64 },
                "p50_duration_ms": row[3],
                "p95_duration_ms": row[4],
                "p99_duration_ms": row[5],
                "p95_serialize_ms": row[6],
                "serialize_share": if total > 0.0 { serialize / total } else { 0.0 },
            })
        })
        .collect();
    let by_page: Vec<Value> = objects(&pages, &["page"], &browser)
        .into_iter()
        .take(r.limit)
        .collect();
    Ok(json!({
        "report": "performance",
        "interval": r.interval.as_str(),
        "browser": {
            "series": objects(&series, &["bucket"], &browser),
            "by_page": by_page,
        },
        "server": {
            "routes": routes,
            "memory": objects(&server_memory, &["bucket"], &server),
        },
        "meta": runner.meta(s),
    }))
}
