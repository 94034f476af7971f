//! `load-time`: the flexible load-time breakdown, per page, as a waterfall
//! of percentiles, then the app's own phases and the vitals, and a trend.
//!
//! Three queries of the engine: `load` events per page (for every phase:
//! how many loads report it, and the chosen percentiles), `timing` events
//! per page (INP and CLS, reported at page hide), and `load` events by day
//! in `tz` (the p75 of `total_ms`). The app's own phases are the `_ms`
//! metrics the catalog has seen on `load` events beyond the standard ones
//! (`usagelens.mark` and `usage:` measures).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use usagelens_protocol::Timestamp;

use super::{desc, dim_filter, event_type, name, Context, Runner, Scope};
use crate::apps::AppId;
use crate::query::{self, Filter, Func, Interval, Measure, Op, QueryError, QueryResponse};

/// The waterfall, in order: (phase, metric of `load`).
const WATERFALL: [(&str, &str); 9] = [
    ("redirect", "redirect_ms"),
    ("dns", "dns_ms"),
    ("connect", "connect_ms"),
    ("tls", "tls_ms"),
    ("request", "request_ms"),
    ("response", "response_ms"),
    ("dom", "dom_ms"),
    ("dcl", "dcl_ms"),
    ("load_event", "load_event_ms"),
];
/// The vitals of `load` events (paint timing).
const LOAD_VITALS: [(&str, &str); 2] = [("fcp", "fcp_ms"), ("lcp", "lcp_ms")];
/// The vitals of `timing` events (reported at page hide).
const HIDE_VITALS: [(&str, &str); 2] = [("inp", "inp_ms"), ("cls", "cls")];
/// `load` metrics that are not phases of their own.
const NOT_PHASES: [&str; 3] = ["total_ms", "ttfb_ms", "transfer_bytes"];
/// Most custom phases read.
const MAX_CUSTOM: usize = 24;
const DEFAULT_LIMIT: u32 = 20;
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
    /// Only this page.
    #[serde(default)]
    page: Option<String>,
    /// The percentiles, default p50, p75, p95.
    #[serde(default)]
    percentiles: Option<Vec<Func>>,
    /// Most pages, by loads.
    #[serde(default)]
    limit: Option<u32>,
}

/// A checked `load-time` request.
#[derive(Debug, Clone)]
pub(crate) struct LoadTimeRequest {
    pub(crate) scope: Scope,
    percentiles: Vec<Func>,
    limit: usize,
}

pub(super) fn parse(body: &[u8], now_ms: i64) -> Result<LoadTimeRequest, QueryError> {
    let b: Body = query::parse_json(body, "", "the body is not a valid load-time report request")?;
    let percentiles = b
        .percentiles
        .unwrap_or_else(|| vec![Func::P50, Func::P75, Func::P95]);
    if percentiles.is_empty() {
        return Err(QueryError::Invalid(
            "percentiles: give at least one of p50, p75, p90, p95, p99".into(),
        ));
    }
    for (i, p) in percentiles.iter().enumerate() {
        if p.percentile().is_none() {
            return Err(QueryError::Invalid(format!(
                "percentiles[{i}]: `{}` is not a percentile: use p50, p75, p90, p95 or p99",
                p.as_str()
            )));
        }
        if percentiles[..i].contains(p) {
            return Err(QueryError::Invalid(format!(
                "percentiles[{i}]: `{}` appears twice",
                p.as_str()
            )));
        }
    }
    let limit = b.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(QueryError::Invalid(format!("limit: 1 to {MAX_LIMIT}")));
    }
    let mut filters = b.filters;
    if let Some(page) = b.page {
        filters.push(dim_filter("page", Op::Eq, Value::String(page)));
    }
    Ok(LoadTimeRequest {
        scope: Scope::new(b.app, b.from, b.to, filters, b.tz, b.explain, now_ms)?.with_plan(b.plan),
        percentiles,
        limit: limit as usize,
    })
}

/// The measures of one metric: how many events have it, then each percentile.
fn measures_of(metric: &str, percentiles: &[Func]) -> Vec<Measure> {
    let of = name(metric);
    std::iter::once(Func::Count)
        .chain(percentiles.iter().copied())
        .map(|func| Measure::Of {
            func,
            of: of.clone(),
        })
        .collect()
}

/// An answer's rows by their first column (the page), each as column → value.
fn by_page(r: &QueryResponse) -> Vec<(Option<String>, HashMap<&str, &Value>)> {
    r.rows
        .iter()
        .map(|row| {
            let page = row.first().and_then(Value::as_str).map(str::to_owned);
            let cells = r
                .columns
                .iter()
                .map(String::as_str)
                .zip(row.iter())
                .collect();
            (page, cells)
        })
        .collect()
}

/// `{phase, <percentiles…>, count}` of `metric` in a page's cells; `None`
/// when no event of the page has it and `keep_empty` is false.
fn phase(
    phase: &str,
    metric: &str,
    cells: Option<&HashMap<&str, &Value>>,
    percentiles: &[Func],
    keep_empty: bool,
) -> Option<Value> {
    let get = |col: String| cells.and_then(|c| c.get(col.as_str()).copied().cloned());
    let count = get(format!("count_{metric}"))
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    if count == 0 && !keep_empty {
        return None;
    }
    let mut o = Map::new();
    o.insert("phase".into(), json!(phase));
    for p in percentiles {
        let v = if count == 0 {
            Value::Null
        } else {
            get(format!("{}_{metric}", p.as_str())).unwrap_or(Value::Null)
        };
        o.insert(p.as_str().into(), v);
    }
    o.insert("count".into(), json!(count));
    Some(Value::Object(o))
}

pub(super) async fn run(cx: &Context<'_>, r: &LoadTimeRequest) -> Result<Value, QueryError> {
    let s = &r.scope;
    let mut runner = Runner::new(cx, s.explain);
    // The app's own phases: `_ms` metrics seen on `load` events.
    let standard: Vec<&str> = WATERFALL
        .iter()
        .chain(LOAD_VITALS.iter())
        .map(|(_, m)| *m)
        .chain(NOT_PHASES)
        .collect();
    let mut custom: Vec<String> = cx
        .catalog
        .entries(cx.store, &s.app)
        .await?
        .into_iter()
        .filter(|e| {
            e.field == "metric"
                && e.types.iter().any(|t| t == "load")
                && e.name.ends_with("_ms")
                && !standard.contains(&e.name.as_str())
        })
        .map(|e| e.name)
        .collect();
    custom.sort();
    custom.dedup();
    custom.truncate(MAX_CUSTOM);

    let mut loads = s.query(s.from, s.to);
    loads.types = Some(vec![event_type("load")]);
    loads.group_by = vec![name("page")];
    loads.measures = vec![Measure::Count];
    let load_metrics: Vec<&str> = WATERFALL
        .iter()
        .map(|(_, m)| *m)
        .chain(custom.iter().map(String::as_str))
        .chain(LOAD_VITALS.iter().map(|(_, m)| *m))
        .chain(["total_ms"])
        .collect();
    for m in &load_metrics {
        loads.measures.extend(measures_of(m, &r.percentiles));
    }
    loads.order_by = vec![desc("count")];
    let loads = runner.run(&loads).await?;

    let mut hide = s.query(s.from, s.to);
    hide.types = Some(vec![event_type("timing")]);
    hide.group_by = vec![name("page")];
    for (_, m) in HIDE_VITALS {
        hide.measures.extend(measures_of(m, &r.percentiles));
    }
    let hide = runner.run(&hide).await?;

    let mut trend = s.query(s.from, s.to);
    trend.types = Some(vec![event_type("load")]);
    trend.interval = Some(Interval::Day);
    trend.measures = vec![
        Measure::Count,
        Measure::Of {
            func: Func::P75,
            of: name("total_ms"),
        },
    ];
    let trend = runner.run(&trend).await?;

    let hide_by_page: HashMap<Option<String>, HashMap<&str, &Value>> =
        by_page(&hide).into_iter().collect();
    let pages: Vec<Value> = by_page(&loads)
        .into_iter()
        .filter_map(|(page, cells)| {
            let page = page?;
            let mut phases: Vec<Value> = WATERFALL
                .iter()
                .filter_map(|(p, m)| phase(p, m, Some(&cells), &r.percentiles, true))
                .collect();
            phases.extend(custom.iter().filter_map(|m| {
                phase(
                    m.trim_end_matches("_ms"),
                    m,
                    Some(&cells),
                    &r.percentiles,
                    false,
                )
            }));
            phases.extend(
                LOAD_VITALS
                    .iter()
                    .filter_map(|(p, m)| phase(p, m, Some(&cells), &r.percentiles, false)),
            );
            let hidden = hide_by_page.get(&Some(page.clone()));
            phases.extend(
                HIDE_VITALS
                    .iter()
                    .filter_map(|(p, m)| phase(p, m, hidden, &r.percentiles, false)),
            );
            let mut total = Map::new();
            for p in &r.percentiles {
                let col = format!("{}_total_ms", p.as_str());
                total.insert(
                    p.as_str().into(),
                    cells
                        .get(col.as_str())
                        .map_or(Value::Null, |v| (*v).clone()),
                );
            }
            Some(json!({
                "page": page,
                "loads": cells.get("count").map_or(json!(0), |v| (*v).clone()),
                "phases": phases,
                "total": total,
            }))
        })
        .take(r.limit)
        .collect();
    let trend: Vec<Value> = trend
        .rows
        .iter()
        .map(|row| json!({"bucket": row[0], "loads": row[1], "p75_total_ms": row[2]}))
        .collect();
    Ok(json!({
        "report": "load-time",
        "percentiles": r.percentiles.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "pages": pages,
        "custom_phases": custom,
        "trend": trend,
        "meta": runner.meta(s),
    }))
}
