//! `correlation`: usage and performance from one store. Per session, the
//! median of a performance metric (how fast the app was for it) is joined
//! with a usage outcome (how much was done in it); sessions are bucketed
//! from fastest to slowest, and Spearman's rank correlation is computed
//! over them. Correlation, not causation: see docs/reports.md.
//!
//! Three or four queries of the engine, all grouped by session: the
//! metric's median, the outcome, each session's user, and with `by` the
//! session's values of that dimension. At most `max_sessions` (default
//! and most: the engine's 10,000 rows) sessions have a speed: when the
//! range holds more sessions with the metric, the first ones by session id
//! are read and the answer says `truncated`. The other queries read
//! exactly those sessions (`session in [...]`), by id a page of 10,000 rows
//! at a time, so every joined session has its own outcome (never a missing
//! one read as 0, whatever the number of sessions without the metric).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::{json, Value};
use usagelens_protocol::Timestamp;

use super::stats::{quantile, spearman};
use super::{dim_filter, event_type, name, Context, Runner, Scope};
use crate::apps::AppId;
use crate::query::{
    self, EventType, Filter, Func, Measure, Name, Op, Order, QueryError, QueryRequest,
};

/// Speed buckets without `edges`.
const DEFAULT_BUCKETS: usize = 5;
const MAX_BUCKETS: usize = 20;
/// Types that are measurements, not usage (`events` leaves them out).
const NOT_USAGE: [&str; 5] = ["load", "memory", "timing", "http", "metric"];
/// Most groups listed with `by`.
const MAX_GROUPS: usize = 50;
/// Most sessions joined: the engine's row limit.
const MAX_ROWS: usize = query::MAX_LIMIT as usize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricSpec {
    #[serde(rename = "type")]
    kind: EventType,
    of: Name,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OutcomeSpec {
    Named(String),
    Widget {
        widget: String,
    },
    Type {
        #[serde(rename = "type")]
        kind: EventType,
    },
}

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
    #[serde(default)]
    metric: Option<MetricSpec>,
    #[serde(default)]
    outcome: Option<Value>,
    #[serde(default)]
    by: Option<Name>,
    /// Bucket edges (ascending); default: quintiles of the sessions.
    #[serde(default)]
    edges: Option<Vec<f64>>,
    /// Quantile buckets without `edges`.
    #[serde(default)]
    buckets: Option<usize>,
    /// Most sessions joined (default and most: the engine's row limit).
    #[serde(default)]
    max_sessions: Option<u64>,
}

/// What is counted per session.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Clicks,
    Events,
    Pages,
    /// Seconds from the session's first to its last event.
    Duration,
    Widget(String),
    Type(EventType),
}

impl Outcome {
    fn describe(&self) -> Value {
        match self {
            Self::Clicks => json!("clicks"),
            Self::Events => json!("events"),
            Self::Pages => json!("pages"),
            Self::Duration => json!("duration"),
            Self::Widget(w) => json!({"widget": w}),
            Self::Type(t) => json!({"type": t.as_str()}),
        }
    }
}

/// A checked `correlation` request.
#[derive(Debug, Clone)]
pub(crate) struct CorrelationRequest {
    pub(crate) scope: Scope,
    metric_type: EventType,
    metric: Name,
    outcome: Outcome,
    by: Option<Name>,
    edges: Option<Vec<f64>>,
    buckets: usize,
    max_sessions: usize,
}

pub(super) fn parse(body: &[u8], now_ms: i64) -> Result<CorrelationRequest, QueryError> {
    let b: Body = query::parse_json(
        body,
        "",
        "the body is not a valid correlation report request",
    )?;
    let invalid = |m: String| QueryError::Invalid(m);
    let metric = b.metric.unwrap_or(MetricSpec {
        kind: event_type("load"),
        of: name("total_ms"),
    });
    let outcome = match b.outcome {
        None => Outcome::Clicks,
        Some(v) => match serde_json::from_value::<OutcomeSpec>(v.clone()) {
            Ok(OutcomeSpec::Named(n)) => match n.as_str() {
                "clicks" => Outcome::Clicks,
                "events" => Outcome::Events,
                "pages" => Outcome::Pages,
                "duration" => Outcome::Duration,
                other => {
                    return Err(invalid(format!(
                        "outcome: `{}` is not an outcome: use clicks, events, pages, duration, {{\"widget\": name}} or {{\"type\": event type}}",
                        other.escape_debug()
                    )))
                }
            },
            Ok(OutcomeSpec::Widget { widget }) if !widget.is_empty() => Outcome::Widget(widget),
            Ok(OutcomeSpec::Type { kind }) => Outcome::Type(kind),
            _ => {
                return Err(invalid(format!(
                    "outcome: {v} is not an outcome: use clicks, events, pages, duration, {{\"widget\": name}} or {{\"type\": event type}}"
                )))
            }
        },
    };
    if let Some(e) = &b.edges {
        if e.is_empty() || e.len() >= MAX_BUCKETS || !e.iter().all(|x| x.is_finite()) {
            return Err(invalid(format!(
                "edges: 1 to {} finite numbers, ascending",
                MAX_BUCKETS - 1
            )));
        }
        if e.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid("edges: must be ascending".into()));
        }
    }
    let buckets = b.buckets.unwrap_or(DEFAULT_BUCKETS);
    if !(2..=MAX_BUCKETS).contains(&buckets) {
        return Err(invalid(format!("buckets: 2 to {MAX_BUCKETS}")));
    }
    let max_sessions = b.max_sessions.unwrap_or(MAX_ROWS as u64);
    if !(3..=MAX_ROWS as u64).contains(&max_sessions) {
        return Err(invalid(format!(
            "max_sessions: 3 to {MAX_ROWS} (the most sessions joined; fewer answer sooner)"
        )));
    }
    Ok(CorrelationRequest {
        scope: Scope::new(b.app, b.from, b.to, b.filters, b.tz, b.explain, now_ms)?
            .with_plan(b.plan),
        metric_type: metric.kind,
        metric: metric.of,
        outcome,
        by: b.by,
        edges: b.edges,
        buckets,
        max_sessions: max_sessions as usize,
    })
}

/// A session's speed, outcome and id.
type Pair<'a> = (f64, f64, &'a str);

fn per_session(q: &QueryRequest) -> QueryRequest {
    let mut q = q.clone();
    q.group_by = vec![name("session")];
    q
}

/// The rows of `q` (grouped by session first) for the sessions from
/// `bounds.0` to `bounds.1`, all of them: one query per page of the
/// engine's row limit, by session id (one page unless sessions have
/// several rows and there are more than 10,000 of them). A page that ends
/// inside a session's rows leaves that session to the next page, which
/// starts at it.
async fn paged(
    runner: &mut Runner<'_>,
    q: &QueryRequest,
    bounds: Option<(&str, &str)>,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let Some((first, last)) = bounds else {
        return Ok(Vec::new());
    };
    let session = |row: &Vec<Value>| row[0].as_str().map(str::to_owned);
    let mut rows = Vec::new();
    let mut from = dim_filter("session", Op::Gte, json!(first));
    loop {
        let mut page = q.clone();
        page.filters.push(from);
        page.filters
            .push(dim_filter("session", Op::Lte, json!(last)));
        page.order_by = vec![Order {
            by: "session".into(),
            desc: false,
        }];
        let mut got = runner.run(&page).await?.rows;
        // Grouped by session alone, a page holds every session of the (at
        // most 10,000) asked for; a page that reached `last` has them all.
        if got.len() < MAX_ROWS || q.group_by.len() == 1 {
            rows.append(&mut got);
            return Ok(rows);
        }
        let (Some(head), Some(tail)) =
            (got.first().and_then(session), got.last().and_then(session))
        else {
            rows.append(&mut got);
            return Ok(rows);
        };
        if tail == last {
            rows.append(&mut got);
            return Ok(rows);
        }
        if head == tail {
            // One session filled a page (a `by` dimension with 10,000
            // values in one session): its rows past the page are left out.
            rows.append(&mut got);
            from = dim_filter("session", Op::Gt, json!(tail));
        } else {
            got.retain(|row| row[0].as_str() != Some(tail.as_str()));
            rows.append(&mut got);
            from = dim_filter("session", Op::Gte, json!(tail));
        }
    }
}

pub(super) async fn run(cx: &Context<'_>, r: &CorrelationRequest) -> Result<Value, QueryError> {
    let s = &r.scope;
    let mut runner = Runner::new(cx, s.explain);
    let base = s.query(s.from, s.to);

    // How fast the app was for each session: the median of the metric.
    let mut mq = per_session(&base);
    mq.types = Some(vec![r.metric_type.clone()]);
    mq.measures = vec![Measure::Of {
        func: Func::P50,
        of: r.metric.clone(),
    }];
    // By session id, so a truncated read is the same one every time.
    mq.order_by = vec![Order {
        by: "session".into(),
        desc: false,
    }];
    mq.limit = Some(r.max_sessions as u32);
    let speed_rows = runner.run(&mq).await?.rows;
    let truncated = speed_rows.len() >= r.max_sessions;
    let speed: Vec<(String, f64)> = speed_rows
        .iter()
        .filter_map(|row| Some((row[0].as_str()?.to_owned(), row[1].as_f64()?)))
        .collect();
    // The other queries read exactly the sessions read here (`$in`: one set
    // lookup per event on MongoDB), by id in pages (`paged`), so none of
    // them is cut short by the row limit and joined as "did nothing".
    let bounds = match (speed.first(), speed.last()) {
        (Some(first), Some(last)) => Some((first.0.clone(), last.0.clone())),
        _ => None,
    };
    let bounds = bounds.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
    let mut base = base;
    let ids: Vec<&str> = speed.iter().map(|(s, _)| s.as_str()).collect();
    base.filters.push(dim_filter("session", Op::In, json!(ids)));

    // What each session did.
    let mut oq = per_session(&base);
    oq.measures = vec![Measure::Count];
    match &r.outcome {
        Outcome::Clicks => oq.types = Some(vec![event_type("click")]),
        Outcome::Pages => oq.types = Some(vec![event_type("page")]),
        Outcome::Type(t) => oq.types = Some(vec![t.clone()]),
        Outcome::Widget(w) => {
            oq.types = Some(vec![event_type("click")]);
            oq.filters.push(dim_filter("widget", Op::Eq, json!(w)));
        }
        Outcome::Events | Outcome::Duration => {
            oq.filters
                .push(dim_filter("type", Op::Nin, json!(NOT_USAGE)));
            if r.outcome == Outcome::Duration {
                oq.measures = vec![Measure::FirstSeen, Measure::LastSeen];
            }
        }
    }
    let millis = |v: &Value| {
        v.as_str()
            .and_then(|t| Timestamp::parse_rfc3339(t).ok())
            .map(Timestamp::as_millis)
    };
    let outcome: HashMap<String, f64> = paged(&mut runner, &oq, bounds)
        .await?
        .iter()
        .filter_map(|row| {
            let session = row[0].as_str()?.to_owned();
            let v = if r.outcome == Outcome::Duration {
                (millis(&row[2])? - millis(&row[1])?) as f64 / 1000.0
            } else {
                row[1].as_f64()?
            };
            Some((session, v))
        })
        .collect();

    // Each session's user (else its anonymous id), for `users`.
    let mut uq = per_session(&base);
    uq.group_by.extend([name("user"), name("anon")]);
    uq.measures = vec![Measure::Count];
    let mut who: HashMap<String, String> = HashMap::new();
    for row in &paged(&mut runner, &uq, bounds).await? {
        if let Some(session) = row[0].as_str() {
            if let Some(id) = row[1].as_str().or_else(|| row[2].as_str()) {
                let e = who
                    .entry(session.to_owned())
                    .or_insert_with(|| id.to_owned());
                // A user id wins over an anonymous one.
                if row[1].is_string() {
                    *e = id.to_owned();
                }
            }
        }
    }

    // Sessions with a speed: their outcome, 0 when they did none of it.
    let mut pairs: Vec<Pair<'_>> = speed
        .iter()
        .map(|(sess, v)| (*v, outcome.get(sess).copied().unwrap_or(0.0), sess.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(b.2)));
    let xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let rho = spearman(&xs, &ys);

    // Buckets from fastest to slowest: by the given edges, or by quantiles.
    let groups: Vec<(String, &[Pair<'_>])> = match &r.edges {
        Some(edges) => {
            let mut out = Vec::new();
            let mut start = 0;
            for i in 0..=edges.len() {
                let end = match edges.get(i) {
                    Some(e) => start + pairs[start..].iter().take_while(|p| p.0 < *e).count(),
                    None => pairs.len(),
                };
                let label = match (i.checked_sub(1).map(|j| edges[j]), edges.get(i)) {
                    (None, Some(hi)) => format!("< {hi}"),
                    (Some(lo), Some(hi)) => format!("{lo} – {hi}"),
                    (Some(lo), None) => format!(">= {lo}"),
                    (None, None) => "all".into(),
                };
                out.push((label, &pairs[start..end]));
                start = end;
            }
            out
        }
        None => {
            let n = pairs.len();
            let k = r.buckets.min(n.max(1));
            (0..k)
                .map(|i| (i * n / k, (i + 1) * n / k))
                .filter(|(a, b)| b > a)
                .map(|(a, b)| {
                    let g = &pairs[a..b];
                    (format!("{} – {}", g[0].0, g[g.len() - 1].0), g)
                })
                .collect()
        }
    };
    let buckets: Vec<Value> = groups
        .iter()
        .map(|(label, g)| {
            let users: HashSet<&str> = g.iter().filter_map(|p| who.get(p.2).map(String::as_str)).collect();
            let n = g.len();
            json!({
                "range": label,
                "min": g.first().map(|p| p.0),
                "max": g.last().map(|p| p.0),
                "sessions": n,
                "users": users.len(),
                "outcome_per_session": if n == 0 { Value::Null } else { json!(g.iter().map(|p| p.1).sum::<f64>() / n as f64) },
            })
        })
        .collect();

    // With `by`: the metric and the outcome per value of the session's dimension.
    let by = match &r.by {
        None => Value::Null,
        Some(dim) => {
            let mut bq = per_session(&base);
            bq.group_by.push(dim.clone());
            bq.measures = vec![Measure::Count];
            let mut sessions_of: BTreeMap<String, HashSet<String>> = BTreeMap::new();
            for row in &paged(&mut runner, &bq, bounds).await? {
                if let Some(session) = row[0].as_str() {
                    let value = match &row[1] {
                        Value::Null => continue,
                        Value::String(v) => v.clone(),
                        other => other.to_string(),
                    };
                    sessions_of
                        .entry(value)
                        .or_default()
                        .insert(session.to_owned());
                }
            }
            let mut rows: Vec<(usize, Value)> = sessions_of
                .iter()
                .map(|(value, set)| {
                    let mut speeds: Vec<f64> = pairs.iter().filter(|p| set.contains(p.2)).map(|p| p.0).collect();
                    speeds.sort_by(f64::total_cmp);
                    let outcomes: Vec<f64> = pairs.iter().filter(|p| set.contains(p.2)).map(|p| p.1).collect();
                    let n = speeds.len();
                    (n, json!({
                        "value": value,
                        "sessions": n,
                        "metric_p50": quantile(&speeds, 0.5),
                        "metric_p95": quantile(&speeds, 0.95),
                        "outcome_per_session": if n == 0 { Value::Null } else { json!(outcomes.iter().sum::<f64>() / n as f64) },
                    }))
                })
                .collect();
            rows.sort_by_key(|g| std::cmp::Reverse(g.0));
            json!({"dimension": dim.as_str(), "groups": rows.into_iter().take(MAX_GROUPS).map(|(_, v)| v).collect::<Vec<_>>()})
        }
    };

    Ok(json!({
        "report": "correlation",
        "metric": {"type": r.metric_type.as_str(), "of": r.metric.as_str(), "per_session": "p50"},
        "outcome": r.outcome.describe(),
        "sessions": pairs.len(),
        "truncated": truncated,
        "buckets": buckets,
        "spearman": {"rho": rho, "n": pairs.len()},
        "by": by,
        "meta": runner.meta(s),
    }))
}
