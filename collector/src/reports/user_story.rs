//! `user-story`: what one user typically does on a workday, to tailor
//! their experience: their sessions, their week in their own time zone,
//! their most common paths, what they do more or less than everyone else,
//! and how fast the app is for them.
//!
//! Every figure but `sequences` is a query of the engine over the user's
//! events (`user` = the given id) in the scope's segment; `sequences` reads
//! the user's events in time order from the store (the raw export's scan),
//! keeping only the last two steps of each session and the counts of the
//! 3-step paths, so nothing of the events stays in memory.
//!
//! Activity is what a person did: page views, clicks and custom events; the
//! measurements (`load`, `memory`, `timing`, `http`, `metric`) and `choice`
//! are left out of it. An action is a click's widget, or a custom event's type.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use mongodb::bson::{doc, Bson, Document};
use serde::Deserialize;
use serde_json::{json, Value};
use usagelens_protocol::Timestamp;

use super::{desc, dim_filter, event_type, name, Context, Runner, Scope};
use crate::apps::AppId;
use crate::query::{
    self, Filter, Func, Interval, Measure, Op, QueryError, QueryRequest, QueryResponse,
};
use crate::store::json::date;
use crate::store::Store;

/// Types that are measurements or choices, not activity.
const NOT_ACTIVITY: [&str; 6] = ["load", "memory", "timing", "http", "metric", "choice"];
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 200;
const TOP_ACTIONS: usize = 3;
const TOP_SEQUENCES: usize = 10;
const DAYPARTS: [(&str, i64, i64); 4] = [
    ("night", 0, 6),
    ("morning", 6, 12),
    ("afternoon", 12, 18),
    ("evening", 18, 24),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(deserialize_with = "query::app_id")]
    app: AppId,
    user: String,
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
    /// Sessions per page.
    #[serde(default)]
    limit: Option<u32>,
    /// Sessions to skip (latest first).
    #[serde(default)]
    offset: Option<u32>,
}

/// A checked `user-story` request.
#[derive(Debug, Clone)]
pub(crate) struct UserStoryRequest {
    pub(crate) scope: Scope,
    user: String,
    limit: usize,
    offset: usize,
}

pub(super) fn parse(body: &[u8], now_ms: i64) -> Result<UserStoryRequest, QueryError> {
    let b: Body = query::parse_json(
        body,
        "",
        "the body is not a valid user-story report request",
    )?;
    let user = b.user.trim().to_owned();
    if user.is_empty() || user.len() > usagelens_protocol::limits::MAX_STRING_BYTES {
        return Err(QueryError::Invalid(
            "user: give the user's id, as `identify()` set it".into(),
        ));
    }
    let limit = b.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(QueryError::Invalid(format!("limit: 1 to {MAX_LIMIT}")));
    }
    Ok(UserStoryRequest {
        scope: Scope::new(b.app, b.from, b.to, b.filters, b.tz, b.explain, now_ms)?
            .with_plan(b.plan),
        user,
        limit: limit as usize,
        offset: b.offset.unwrap_or(0) as usize,
    })
}

fn activity() -> Filter {
    dim_filter("type", Op::Nin, json!(NOT_ACTIVITY))
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// An action's name from a row's `type` and `widget` cells: a click's
/// widget (`click` without one), a custom event's type; `None` for a page view.
fn action(kind: &Value, widget: &Value) -> Option<String> {
    match kind.as_str()? {
        "page" => None,
        "click" => Some(widget.as_str().unwrap_or("click").to_owned()),
        other => Some(other.to_owned()),
    }
}

/// The median of sorted `v` (the lower middle for an even count).
fn median(v: &mut [i64]) -> Option<i64> {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied()
}

fn hh_mm(hour: i64) -> String {
    format!("{hour:02}:00")
}

/// One of the user's queries: the scope's segment, the user, `tz`.
fn mine(r: &UserStoryRequest, tz: &str) -> QueryRequest {
    let mut q = r.scope.query(r.scope.from, r.scope.to);
    q.filters.push(dim_filter("user", Op::Eq, json!(r.user)));
    q.tz = Some(tz.to_owned());
    q
}

/// Action counts of a `type, widget, count` answer.
fn action_counts(r: &QueryResponse) -> HashMap<String, u64> {
    let mut out: HashMap<String, u64> = HashMap::new();
    for row in &r.rows {
        if let Some(a) = action(&row[0], &row[1]) {
            *out.entry(a).or_default() += count(&row[2]);
        }
    }
    out
}

pub(super) async fn run(cx: &Context<'_>, r: &UserStoryRequest) -> Result<Value, QueryError> {
    let s = &r.scope;
    let mut runner = Runner::new(cx, s.explain);

    // The user's own time zone: the `tz` their browser sends most often.
    let mut tzq = mine(r, "UTC");
    tzq.group_by = vec![name("tz")];
    tzq.measures = vec![Measure::Count];
    tzq.order_by = vec![desc("count")];
    let tzs = runner.run(&tzq).await?;
    let tz_source;
    let tz = match tzs.rows.iter().find_map(|row| row[0].as_str()) {
        Some(t) if !t.is_empty() && t.len() <= 64 && !t.contains('$') => {
            tz_source = "user";
            t.to_owned()
        }
        _ => {
            tz_source = if s.tz.is_some() { "request" } else { "default" };
            s.tz.clone().unwrap_or_else(|| "UTC".into())
        }
    };

    // Sessions, latest first, with their page views and top actions.
    let mut sq = mine(r, &tz);
    sq.filters.push(activity());
    sq.group_by = vec![name("session")];
    sq.measures = vec![Measure::Count, Measure::FirstSeen, Measure::LastSeen];
    sq.order_by = vec![desc("first_seen")];
    let sessions = runner.run(&sq).await?;
    let mut pq = mine(r, &tz);
    pq.types = Some(vec![event_type("page")]);
    pq.group_by = vec![name("session")];
    pq.measures = vec![Measure::Count];
    let page_views: HashMap<String, u64> = runner
        .run(&pq)
        .await?
        .rows
        .iter()
        .filter_map(|row| Some((row[0].as_str()?.to_owned(), count(&row[1]))))
        .collect();
    let mut aq = mine(r, &tz);
    aq.filters.push(activity());
    aq.group_by = vec![name("session"), name("type"), name("widget")];
    aq.measures = vec![Measure::Count];
    aq.order_by = vec![desc("count")];
    let mut top: HashMap<String, Vec<Value>> = HashMap::new();
    for row in &runner.run(&aq).await?.rows {
        let (Some(session), Some(a)) = (row[0].as_str(), action(&row[1], &row[2])) else {
            continue;
        };
        let list = top.entry(session.to_owned()).or_default();
        if list.len() < TOP_ACTIONS {
            list.push(json!({"action": a, "count": count(&row[3])}));
        }
    }
    let sessions_total = sessions
        .rows
        .iter()
        .filter(|row| row[0].is_string())
        .count();
    let session_rows: Vec<Value> = sessions
        .rows
        .iter()
        .filter(|row| row[0].is_string())
        .skip(r.offset)
        .take(r.limit)
        .map(|row| {
            let id = row[0].as_str().unwrap_or_default();
            json!({
                "session": id,
                "start": row[2],
                "end": row[3],
                "events": row[1],
                "pages": page_views.get(id).copied().unwrap_or(0),
                "top_actions": top.remove(id).unwrap_or_default(),
            })
        })
        .collect();

    // The week: weekday × hour in the user's time zone.
    let mut wq = mine(r, &tz);
    wq.filters.push(activity());
    wq.group_by = vec![name("weekday"), name("hour")];
    wq.measures = vec![Measure::Count];
    let mut matrix = vec![vec![0u64; 24]; 7];
    for row in &runner.run(&wq).await?.rows {
        if let (Some(d), Some(h)) = (row[0].as_i64(), row[1].as_i64()) {
            if (1..=7).contains(&d) && (0..24).contains(&h) {
                matrix[(d - 1) as usize][h as usize] += count(&row[2]);
            }
        }
    }
    let by_hour: Vec<u64> = (0..24).map(|h| matrix.iter().map(|d| d[h]).sum()).collect();
    let by_weekday: Vec<u64> = matrix.iter().map(|d| d.iter().sum()).collect();
    // Each active day's first and last hour, in the user's time zone.
    let mut dq = mine(r, &tz);
    dq.filters.push(activity());
    dq.group_by = vec![name("hour")];
    dq.interval = Some(Interval::Day);
    dq.measures = vec![Measure::Count];
    let mut days: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for row in &runner.run(&dq).await?.rows {
        if let (Some(h), Some(day)) = (row[0].as_i64(), row[1].as_str()) {
            let e = days.entry(day.to_owned()).or_insert((h, h));
            e.0 = e.0.min(h);
            e.1 = e.1.max(h);
        }
    }
    let weeks = ((s.to - s.from) as f64 / (7.0 * 86_400_000.0)).max(1.0 / 7.0);
    let (mut starts, mut ends): (Vec<i64>, Vec<i64>) = days.values().copied().unzip();
    // Dayparts: the top actions of each part of the day.
    let mut hq = mine(r, &tz);
    hq.filters.push(activity());
    hq.group_by = vec![name("hour"), name("type"), name("widget")];
    hq.measures = vec![Measure::Count];
    let by_hour_action = runner.run(&hq).await?;
    let dayparts: Vec<Value> = DAYPARTS
        .iter()
        .map(|(part, lo, hi)| {
            let mut counts: HashMap<String, u64> = HashMap::new();
            for row in &by_hour_action.rows {
                let h = row[0].as_i64().unwrap_or(-1);
                if (*lo..*hi).contains(&h) {
                    if let Some(a) = action(&row[1], &row[2]) {
                        *counts.entry(a).or_default() += count(&row[3]);
                    }
                }
            }
            let mut list: Vec<(String, u64)> = counts.into_iter().collect();
            list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            list.truncate(TOP_ACTIONS);
            json!({"part": part, "hours": [lo, hi],
                   "top": list.iter().map(|(a, n)| json!({"action": a, "count": n})).collect::<Vec<_>>()})
        })
        .collect();

    // Distinctive: the user's share of each action against everyone's.
    let mut uq = mine(r, &tz);
    uq.filters.push(activity());
    uq.group_by = vec![name("type"), name("widget")];
    uq.measures = vec![Measure::Count];
    let user_actions = action_counts(&runner.run(&uq).await?);
    let mut eq = uq.clone();
    eq.filters
        .retain(|f| f.dim.as_ref().map(|d| d.as_str()) != Some("user"));
    let everyone_actions = action_counts(&runner.run(&eq).await?);
    let user_total: u64 = user_actions.values().sum();
    let everyone_total: u64 = everyone_actions.values().sum();
    let mut everyone_top: Vec<(&String, &u64)> = everyone_actions.iter().collect();
    everyone_top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut names: Vec<&String> = user_actions.keys().collect();
    names.extend(everyone_top.iter().take(20).map(|(a, _)| *a));
    names.sort();
    names.dedup();
    let mut distinctive: Vec<(f64, Value)> = names
        .into_iter()
        .filter_map(|a| {
            let u = user_actions.get(a).copied().unwrap_or(0) as f64 / user_total.max(1) as f64;
            let e =
                everyone_actions.get(a).copied().unwrap_or(0) as f64 / everyone_total.max(1) as f64;
            (e > 0.0).then(|| {
                (
                    u / e,
                    json!({"action": a, "user_share": u, "everyone_share": e, "lift": u / e}),
                )
            })
        })
        .collect();
    distinctive.sort_by(|a, b| b.0.total_cmp(&a.0));

    // Experience: the user's p75 load and API times against everyone's.
    let mut experience = serde_json::Map::new();
    for (key, kind, metric) in [("load", "load", "total_ms"), ("api", "http", "duration_ms")] {
        let mut q = mine(r, &tz);
        q.types = Some(vec![event_type(kind)]);
        q.measures = vec![
            Measure::Of {
                func: Func::Count,
                of: name(metric),
            },
            Measure::Of {
                func: Func::P75,
                of: name(metric),
            },
        ];
        let user = runner.run(&q).await?;
        q.filters
            .retain(|f| f.dim.as_ref().map(|d| d.as_str()) != Some("user"));
        let all = runner.run(&q).await?;
        // No event at all: no row; then a count of 0 and no percentile.
        let cell = |r: &QueryResponse, i: usize| {
            let none = if i == 0 { json!(0) } else { Value::Null };
            r.rows.first().map_or(none, |row| row[i].clone())
        };
        experience.insert(
            key.into(),
            json!({"metric": metric, "user_p75": cell(&user, 1), "user_count": cell(&user, 0),
                   "everyone_p75": cell(&all, 1), "everyone_count": cell(&all, 0)}),
        );
    }

    let sequences = sequences(
        cx.store,
        r,
        &tz,
        cx.time_limit.saturating_sub(runner.elapsed()),
    )
    .await?;
    let mut meta = runner.meta(s);
    meta["queries"] = json!(runner.queries() + 1);
    Ok(json!({
        "report": "user-story",
        "user": r.user,
        "sessions": session_rows,
        "sessions_total": sessions_total,
        "workday": {
            "tz": tz,
            "tz_source": tz_source,
            "matrix": matrix,
            "by_hour": by_hour,
            "by_weekday": by_weekday,
            "active_days": days.len(),
            "active_days_per_week": days.len() as f64 / weeks,
            "typical_start": median(&mut starts).map(hh_mm),
            "typical_end": median(&mut ends).map(|h| hh_mm(h + 1)),
            "dayparts": dayparts,
        },
        "sequences": sequences,
        "distinctive": distinctive.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "experience": experience,
        "meta": meta,
    }))
}

/// A step of a path: a page view's page, or an action.
fn step(d: &mongodb::bson::RawDocument) -> Option<(String, String)> {
    let kind = d.get_str("type").ok()?;
    let dims = d.get_document("dims").ok()?;
    let session = dims.get_str("session").ok()?.to_owned();
    let s = match kind {
        "page" => dims.get_str("page").ok()?.to_owned(),
        "click" => dims.get_str("widget").unwrap_or("click").to_owned(),
        other => other.to_owned(),
    };
    Some((session, s))
}

/// The most common 3-step paths of pages and actions in the user's sessions.
async fn sequences(
    store: &Store,
    r: &UserStoryRequest,
    tz: &str,
    time_limit: Duration,
) -> Result<Vec<Value>, QueryError> {
    let s = &r.scope;
    let mut f: Document = doc! {
        "app": s.app.as_str(),
        "ts": { "$gte": date(s.from), "$lt": date(s.to) },
        "dims.user": &r.user,
        "type": { "$nin": NOT_ACTIVITY.to_vec() },
    };
    let conditions = query::conditions(&s.filters, tz)?;
    if !conditions.is_empty() {
        f.insert(
            "$and",
            conditions
                .into_iter()
                .map(Bson::Document)
                .collect::<Vec<_>>(),
        );
    }
    let scan = async {
        let mut scan = store.events().scan(f, 1000).await?;
        let mut last: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
        let mut counts: HashMap<[String; 3], u64> = HashMap::new();
        while let Some(d) = scan.next().await? {
            let Some((session, now)) = step(&d) else {
                continue;
            };
            let (a, b) = last.entry(session).or_default();
            // A step repeated at once (a double click, a reload) is one step.
            if b.as_deref() == Some(now.as_str()) {
                continue;
            }
            if let (Some(x), Some(y)) = (a.as_ref(), b.as_ref()) {
                *counts
                    .entry([x.clone(), y.clone(), now.clone()])
                    .or_default() += 1;
            }
            *a = b.take();
            *b = Some(now);
        }
        Ok::<_, crate::store::StoreError>(counts)
    };
    let counts = tokio::time::timeout(time_limit, scan)
        .await
        .map_err(|_| QueryError::TooSlow(time_limit))??;
    let mut list: Vec<([String; 3], u64)> = counts.into_iter().collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(list
        .into_iter()
        .take(TOP_SEQUENCES)
        .map(|(steps, n)| json!({"steps": steps, "count": n}))
        .collect())
}
