//! `widgets`: which widgets are used most, so developer time goes where
//! users are, and which are hardly used (candidates for removal).
//!
//! Four queries of the engine, all over `click` events in the scope's
//! segment: per widget in the range (clicks, users, sessions); per widget in
//! the same-length period just before (`previous_clicks`); per widget and
//! page (its top pages); and per widget over the 90 days before `to` (when
//! it was last clicked), so that `least_used` lists widgets with no click
//! in the range too.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Value};
use usagelens_protocol::Timestamp;

use super::{desc, dim_filter, event_type, name, Context, Runner, Scope};
use crate::apps::AppId;
use crate::query::{self, Filter, Measure, Op, QueryError, QueryResponse};
use crate::store::json::rfc3339;

/// Rows of `widgets` and of `least_used` without a `limit`.
const DEFAULT_LIMIT: u32 = 50;
/// Most rows of either list.
const MAX_LIMIT: u32 = 1000;
/// Pages listed per widget, most clicks first.
const TOP_PAGES: usize = 5;
/// How far back `least_used` looks for widgets that were ever clicked.
const KNOWN_WINDOW_MS: i64 = 90 * 86_400_000;

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
    /// Only clicks on this page.
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// A checked `widgets` request.
#[derive(Debug, Clone)]
pub(crate) struct WidgetsRequest {
    pub(crate) scope: Scope,
    limit: usize,
}

pub(super) fn parse(body: &[u8], now_ms: i64) -> Result<WidgetsRequest, QueryError> {
    let b: Body = query::parse_json(body, "", "the body is not a valid widgets report request")?;
    let limit = b.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(QueryError::Invalid(format!("limit: 1 to {MAX_LIMIT}")));
    }
    let mut filters = b.filters;
    if let Some(page) = b.page {
        filters.push(dim_filter("page", Op::Eq, Value::String(page)));
    }
    Ok(WidgetsRequest {
        scope: Scope::new(b.app, b.from, b.to, filters, b.tz, b.explain, now_ms)?.with_plan(b.plan),
        limit: limit as usize,
    })
}

/// Column `i` of a row as a count.
fn count(row: &[Value], i: usize) -> u64 {
    row.get(i).and_then(Value::as_u64).unwrap_or(0)
}

/// Column `i` of a row as a widget (or page) name; `None` for events without one.
fn label(row: &[Value], i: usize) -> Option<&str> {
    row.get(i).and_then(Value::as_str)
}

/// Clicks per widget of an answer whose columns are `widget, count, …`.
fn clicks_by_widget(r: &QueryResponse) -> HashMap<&str, u64> {
    r.rows
        .iter()
        .filter_map(|row| Some((label(row, 0)?, count(row, 1))))
        .collect()
}

pub(super) async fn run(cx: &Context<'_>, r: &WidgetsRequest) -> Result<Value, QueryError> {
    let s = &r.scope;
    let mut runner = Runner::new(cx, s.explain);
    let clicks = |from: i64, to: i64, group_by: &[&str], measures: Vec<Measure>| {
        let mut q = s.query(from, to);
        q.types = Some(vec![event_type("click")]);
        q.group_by = group_by.iter().map(|g| name(g)).collect();
        q.measures = measures;
        q.order_by = vec![desc(&q.measures[0].column())];
        q
    };
    let len = s.to - s.from;
    let current = runner
        .run(&clicks(
            s.from,
            s.to,
            &["widget"],
            vec![Measure::Count, Measure::Users, Measure::Sessions],
        ))
        .await?;
    let previous = runner
        .run(&clicks(
            s.from - len,
            s.from,
            &["widget"],
            vec![Measure::Count],
        ))
        .await?;
    let by_page = runner
        .run(&clicks(
            s.from,
            s.to,
            &["widget", "page"],
            vec![Measure::Count],
        ))
        .await?;
    let known = runner
        .run(&clicks(
            s.to - KNOWN_WINDOW_MS,
            s.to,
            &["widget"],
            vec![Measure::LastSeen],
        ))
        .await?;

    // Every click of the range, those without a widget name included.
    let total: u64 = current.rows.iter().map(|row| count(row, 1)).sum();
    let previous = clicks_by_widget(&previous);
    let in_range = clicks_by_widget(&current);
    let mut pages: HashMap<&str, Vec<Value>> = HashMap::new();
    // Most clicks first (the query's order), so the first pages are the top ones.
    for row in &by_page.rows {
        if let (Some(w), Some(p)) = (label(row, 0), label(row, 1)) {
            let list = pages.entry(w).or_default();
            if list.len() < TOP_PAGES {
                list.push(json!({"page": p, "clicks": count(row, 2)}));
            }
        }
    }
    let widgets: Vec<Value> = current
        .rows
        .iter()
        .filter_map(|row| {
            let w = label(row, 0)?;
            let n = count(row, 1);
            Some(json!({
                "widget": w,
                "clicks": n,
                "users": count(row, 2),
                "sessions": count(row, 3),
                "share": n as f64 / total as f64,
                "previous_clicks": previous.get(w).copied().unwrap_or(0),
                "pages": pages.remove(w).unwrap_or_default(),
            }))
        })
        .take(r.limit)
        .collect();
    let mut least: Vec<(u64, &str, &str)> = known
        .rows
        .iter()
        .filter_map(|row| {
            let w = label(row, 0)?;
            let last = label(row, 1)?;
            Some((in_range.get(w).copied().unwrap_or(0), last, w))
        })
        .collect();
    // Fewest clicks first; among equals, the one last clicked longest ago
    // (the times are RFC 3339 in UTC, so they sort as strings).
    least.sort();
    let least_used: Vec<Value> = least
        .iter()
        .take(r.limit)
        .map(|(n, last, w)| json!({"widget": w, "clicks": n, "last_seen": last}))
        .collect();
    Ok(json!({
        "report": "widgets",
        "total_clicks": total,
        "widgets": widgets,
        "least_used": least_used,
        "previous": {"from": rfc3339(s.from - len), "to": rfc3339(s.from)},
        "meta": runner.meta(s),
    }))
}
