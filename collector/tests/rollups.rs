//! Rollups against the real local store: generated clicks and API calls
//! (with retried batches, late events and events on bucket edges), built
//! by the builder's pass, then asked through `POST /v1/query`. Every answer
//! is checked against what the test computes from the generated data on
//! its own: counts, sums, min, max and averages exactly, distinct users
//! within the sketch's error, percentiles within DDSketch's relative error.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::{json, Value};
use usagelens_collector::rollups;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// 2026-01-05T00:00:00Z, a Monday (Berlin is UTC+1 all January).
const D0: i64 = 1_767_571_200_000;
const DAYS: i64 = 4;
const WIDGETS: &[&str] = &["export", "refresh", "filter", "share", "zoom", "help"];
const PAGES: &[&str] = &["/", "/reports", "/settings"];
const ROUTES: &[&str] = &["/api/items", "/api/report", "/api/login"];

#[derive(Debug, Clone)]
struct Click {
    id: String,
    ts: i64,
    widget: &'static str,
    page: &'static str,
    who: String,
    has_user: bool,
    session: String,
}

#[derive(Debug, Clone)]
struct Call {
    id: String,
    ts: i64,
    route: &'static str,
    status: i64,
    ms: f64,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn dataset() -> (Vec<Click>, Vec<Call>) {
    let mut r = Rng(7);
    let mut clicks = Vec::new();
    for i in 0..1500 {
        // Skewed widgets; some clicks exactly on an hour's start or its last ms.
        let w = WIDGETS[(r.next(6) * r.next(6) / 5) as usize];
        let ts = match i % 50 {
            0 => D0 + r.next(DAYS as u64 * 24) as i64 * HOUR,
            1 => D0 + (1 + r.next(DAYS as u64 * 24 - 1)) as i64 * HOUR - 1,
            _ => D0 + r.next((DAYS * DAY) as u64) as i64,
        };
        let has_user = r.next(5) != 0;
        clicks.push(Click {
            id: format!("c{i}"),
            ts,
            widget: w,
            page: PAGES[r.next(3) as usize],
            who: if has_user {
                format!("u{}", r.next(80))
            } else {
                format!("a{}", r.next(40))
            },
            has_user,
            session: format!("s{}", r.next(300)),
        });
    }
    let mut calls = Vec::new();
    for i in 0..900 {
        let route = ROUTES[r.next(3) as usize];
        // Log-spread latencies from 1 ms to about 3 s.
        let ms = (1.0 + r.next(1000) as f64 / 125.0).exp().round() / 2.0;
        calls.push(Call {
            id: format!("h{i}"),
            ts: D0 + r.next((DAYS * DAY) as u64) as i64,
            route,
            status: if r.next(10) == 0 { 500 } else { 200 },
            ms,
        });
    }
    (clicks, calls)
}

fn click_event(c: &Click) -> Value {
    let mut props =
        json!({"widget": c.widget, "page": c.page, "session": c.session, "role": "viewer"});
    if c.has_user {
        props["user"] = json!(c.who);
    } else {
        props["anon"] = json!(c.who);
    }
    json!({"id": c.id, "type": "click", "ts": c.ts, "props": props})
}

fn call_event(c: &Call) -> Value {
    json!({"id": c.id, "type": "http", "ts": c.ts,
           "props": {"route": c.route, "method": "GET", "status": c.status},
           "metrics": {"duration_ms": c.ms}})
}

async fn post(env: &TestEnv, events: Vec<Value>) -> Value {
    let r = env
        .post_json(json!({"app": "demo", "events": events}).to_string())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

async fn query(env: &TestEnv, q: Value) -> Resp {
    let r = env
        .send(
            Request::post("/v1/query")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {}", env.app.read_token))
                .body(Body::from(q.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{q}: {}", r.text);
    r
}

async fn build(env: &TestEnv) -> rollups::BuildOutcome {
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    rollups::build_pending(
        &env.store,
        &rollups::builtin(),
        now + 1,
        now + 1,
        100_000,
        || {},
    )
    .await
    .expect("build")
}

fn plan(r: &Resp) -> &str {
    r.json["meta"]["plan"].as_str().unwrap_or_default()
}

/// Rows keyed by their first `keys` columns (as text).
fn by_key(r: &Resp, keys: usize) -> BTreeMap<String, Vec<Value>> {
    r.json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let row = row.as_array().unwrap();
            (
                row[..keys]
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
                row[keys..].to_vec(),
            )
        })
        .collect()
}

fn close_users(got: &Value, exact: usize, what: &str) {
    let got = got.as_f64().unwrap();
    let bound = (exact as f64 * 0.04).max(1.0);
    assert!(
        (got - exact as f64).abs() <= bound,
        "{what}: {got} users, exactly {exact}"
    );
}

/// The value at rank `p` of `sorted` is within DDSketch's relative error of `got`.
fn close_percentile(got: f64, sorted: &[f64], p: f64, what: &str) {
    let rank = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (
        rank.floor() as usize,
        (rank.ceil() as usize).min(sorted.len() - 1),
    );
    let ok = sorted[lo.saturating_sub(1)..=(hi + 1).min(sorted.len() - 1)]
        .iter()
        .any(|x| (got - x).abs() <= 0.01 * x.abs() + 1e-9);
    assert!(
        ok,
        "{what}: p{p} {got}, the data there {:?}",
        &sorted[lo.saturating_sub(1)..=(hi + 1).min(sorted.len() - 1)]
    );
}

/// Widget ranking expected from the clicks in `[from, to)`: count, users, sessions.
fn ranking(clicks: &[Click], from: i64, to: i64) -> BTreeMap<String, (u64, usize, usize)> {
    let mut m: BTreeMap<String, (u64, BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for c in clicks.iter().filter(|c| c.ts >= from && c.ts < to) {
        let e = m.entry(json!(c.widget).to_string()).or_default();
        e.0 += 1;
        e.1.insert(c.who.clone());
        e.2.insert(c.session.clone());
    }
    m.into_iter()
        .map(|(k, (n, u, s))| (k, (n, u.len(), s.len())))
        .collect()
}

fn check_ranking(r: &Resp, clicks: &[Click], from: i64, to: i64) {
    let want = ranking(clicks, from, to);
    let got = by_key(r, 1);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, (n, users, sessions)) in &want {
        let row = &got[k];
        assert_eq!(row[0], json!(n), "{k}: count");
        close_users(&row[1], *users, k);
        close_users(&row[2], *sessions, k);
    }
    let counts: Vec<i64> = r.json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[1].as_i64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "ordered by count desc"
    );
}

#[tokio::test]
async fn rollups_answer_like_the_raw_events_through_retries_late_events_edges_and_time_zones() {
    let env = TestEnv::new().await;
    let (mut clicks, calls) = dataset();
    let click_events: Vec<Value> = clicks.iter().map(click_event).collect();
    for chunk in click_events.chunks(250) {
        post(&env, chunk.to_vec()).await;
    }
    // A retried batch stores nothing twice, and must count nothing twice.
    let again = post(&env, click_events[..250].to_vec()).await;
    assert_eq!(again["duplicates"], 250);
    for chunk in calls.chunks(300) {
        post(&env, chunk.iter().map(call_event).collect()).await;
    }

    // Before a backfill the rollups cover nothing of January: raw.
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    rollups::ensure(&env.store, &rollups::builtin(), now)
        .await
        .unwrap();
    let ranking_q = json!({"app": "demo", "types": ["click"], "from": D0, "to": D0 + DAYS * DAY,
        "group_by": ["widget"], "measures": ["count", "users", "sessions"],
        "order_by": [{"by": "count", "desc": true}], "explain": true});
    let r = query(&env, ranking_q.clone()).await;
    assert_eq!(plan(&r), "raw", "{}", r.json["meta"]);
    assert!(r.json["meta"]["reason"]
        .as_str()
        .unwrap()
        .contains("no rollup covers"));
    check_ranking(&r, &clicks, D0, D0 + DAYS * DAY);

    let hours = rollups::backfill(&env.store, &rollups::builtin(), "demo", D0 - DAY, now)
        .await
        .unwrap();
    assert_eq!(hours.len() as i64, DAYS * 24, "every hour has events");
    // Marked, not yet built: every bucket is read raw.
    let r = query(&env, ranking_q.clone()).await;
    assert!(plan(&r).ends_with("+raw"), "{}", r.json["meta"]);
    check_ranking(&r, &clicks, D0, D0 + DAYS * DAY);

    let built = build(&env).await;
    // Each hour's mark and each day's.
    assert_eq!(built.cleared as i64, DAYS * 24 + DAYS);
    assert!(built.docs > 0);

    // Whole UTC days: the daily rollup alone.
    let r = query(&env, ranking_q.clone()).await;
    assert_eq!(plan(&r), "rollup:widgets_daily", "{}", r.json["meta"]);
    assert_eq!(r.json["meta"]["approximate"], true);
    assert!(r.json["meta"]["error"]["users"].as_str().is_some());
    check_ranking(&r, &clicks, D0, D0 + DAYS * DAY);

    // Forced raw: exact, and the same counts.
    let mut raw_q = ranking_q.clone();
    raw_q["plan"] = json!("raw");
    let raw = query(&env, raw_q).await;
    assert_eq!(plan(&raw), "raw");
    assert_eq!(raw.json["meta"]["approximate"], false);
    check_ranking(&raw, &clicks, D0, D0 + DAYS * DAY);

    // A backfill of less history keeps what was built before it.
    rollups::backfill(&env.store, &rollups::builtin(), "demo", D0 + 2 * DAY, now)
        .await
        .unwrap();
    build(&env).await;
    let r = query(&env, ranking_q.clone()).await;
    assert_eq!(plan(&r), "rollup:widgets_daily", "{}", r.json["meta"]);
    check_ranking(&r, &clicks, D0, D0 + DAYS * DAY);

    // Ragged edges: whole buckets from the rollup, the edges raw.
    let (from, to) = (D0 + 5 * HOUR + 17 * 60_000, D0 + 3 * DAY + 2 * HOUR + 1);
    let mut q = ranking_q.clone();
    q["from"] = json!(from);
    q["to"] = json!(to);
    let r = query(&env, q).await;
    assert!(
        plan(&r).starts_with("rollup:widgets") && plan(&r).ends_with("+raw"),
        "{}",
        r.json["meta"]
    );
    check_ranking(&r, &clicks, from, to);

    // Berlin days over hour buckets, by page.
    let berlin = |t: i64| (t + HOUR).div_euclid(DAY);
    let q = json!({"app": "demo", "types": ["click"], "from": D0 - HOUR, "to": D0 + DAYS * DAY - HOUR,
        "group_by": ["page"], "interval": "day", "tz": "Europe/Berlin", "measures": ["count"]});
    let r = query(&env, q).await;
    assert_eq!(plan(&r), "rollup:clicks", "{}", r.json["meta"]);
    let mut want: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for c in clicks
        .iter()
        .filter(|c| c.ts >= D0 - HOUR && c.ts < D0 + DAYS * DAY - HOUR)
    {
        *want.entry((c.page.to_owned(), berlin(c.ts))).or_default() += 1;
    }
    let rows = r.json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), want.len());
    for row in rows {
        let day = usagelens_protocol::Timestamp::parse_rfc3339(row[1].as_str().unwrap())
            .unwrap()
            .as_millis();
        assert_eq!(
            berlin(day),
            berlin(day + 1),
            "a Berlin midnight: {}",
            row[1]
        );
        let key = (row[0].as_str().unwrap().to_owned(), berlin(day));
        assert_eq!(row[2], json!(want[&key]), "{key:?}");
    }

    // Kolkata (UTC+5:30) days straddle hour buckets: raw, and still right.
    let q = json!({"app": "demo", "types": ["click"], "from": D0, "to": D0 + DAYS * DAY,
        "interval": "day", "tz": "Asia/Kolkata", "explain": true});
    let r = query(&env, q).await;
    assert_eq!(plan(&r), "raw", "{}", r.json["meta"]);
    assert!(r.json["meta"]["reason"]
        .as_str()
        .unwrap()
        .contains("straddle"));
    let total: i64 = r.json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[1].as_i64().unwrap())
        .sum();
    assert_eq!(total, clicks.len() as i64);

    // A filter on a dimension the rollups do not keep: raw.
    let q = json!({"app": "demo", "types": ["click"], "from": D0, "to": D0 + DAYS * DAY,
        "where": [{"dim": "role", "op": "eq", "value": "viewer"}]});
    assert_eq!(plan(&query(&env, q).await), "raw");

    // API routes: count, sum, min, max, avg exactly; p95 within 1%. By route
    // alone from `routes_daily`; filtered on the status from `http_daily`.
    for (status, want_plan) in [
        (None, "rollup:routes_daily"),
        (Some(200), "rollup:http_daily"),
    ] {
        let mut q = json!({"app": "demo", "types": ["http"], "from": D0, "to": D0 + DAYS * DAY,
            "group_by": ["route"],
            "measures": ["count", {"fn": "sum", "of": "duration_ms"}, {"fn": "min", "of": "duration_ms"},
                         {"fn": "max", "of": "duration_ms"}, {"fn": "avg", "of": "duration_ms"},
                         {"fn": "p95", "of": "duration_ms"}, {"fn": "p50", "of": "duration_ms"}]});
        if let Some(s) = status {
            q["where"] = json!([{"dim": "status", "op": "eq", "value": s}]);
        }
        let r = query(&env, q).await;
        assert_eq!(plan(&r), want_plan, "{}", r.json["meta"]);
        let got = by_key(&r, 1);
        for route in ROUTES {
            let mut v: Vec<f64> = calls
                .iter()
                .filter(|c| c.route == *route && status.is_none_or(|s| c.status == s))
                .map(|c| c.ms)
                .collect();
            v.sort_by(f64::total_cmp);
            let row = &got[&json!(route).to_string()];
            let sum: f64 = v.iter().sum();
            assert_eq!(row[0], json!(v.len()), "{route}");
            assert!((row[1].as_f64().unwrap() - sum).abs() < 1e-6, "{route} sum");
            assert_eq!(row[2].as_f64().unwrap(), v[0]);
            assert_eq!(row[3].as_f64().unwrap(), *v.last().unwrap());
            assert!((row[4].as_f64().unwrap() - sum / v.len() as f64).abs() < 1e-9);
            close_percentile(row[5].as_f64().unwrap(), &v, 0.95, route);
            close_percentile(row[6].as_f64().unwrap(), &v, 0.5, route);
        }
    }

    // A late event lands in a built hour: read raw at once, right again once rebuilt.
    let late = Click {
        id: "late-1".into(),
        ts: D0 + DAY + 3 * HOUR + 5,
        widget: "export",
        page: "/",
        who: "u-late".into(),
        has_user: true,
        session: "s-late".into(),
    };
    post(&env, vec![click_event(&late)]).await;
    clicks.push(late);
    let status = env
        .send(
            Request::get("/v1/rollups?app=demo")
                .header("authorization", format!("Bearer {}", env.app.read_token))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status.status, 200, "{}", status.text);
    // Its hour, and its day (for the daily rollups): everything before the day is built.
    assert_eq!(status.json["dirty"]["count"], 2, "{}", status.json);
    assert_eq!(
        status.json["watermark"],
        json!(usagelens_protocol::Timestamp::from_millis(D0 + DAY).to_rfc3339())
    );
    let r = query(&env, ranking_q.clone()).await;
    assert_eq!(plan(&r), "rollup:widgets_daily+raw", "{}", r.json["meta"]);
    check_ranking(&r, &clicks, D0, D0 + DAYS * DAY);
    let built = build(&env).await;
    assert_eq!(built.cleared, 2);
    let r = query(&env, ranking_q.clone()).await;
    assert_eq!(plan(&r), "rollup:widgets_daily", "{}", r.json["meta"]);
    check_ranking(&r, &clicks, D0, D0 + DAYS * DAY);
    // Built twice, stored once.
    let again = build(&env).await;
    assert_eq!(again.cleared, 0);
    let r = query(&env, ranking_q.clone()).await;
    check_ranking(&r, &clicks, D0, D0 + DAYS * DAY);

    env.drop_db().await;
}

#[tokio::test]
async fn a_multi_valued_dimension_counts_each_event_once_per_value() {
    let env = TestEnv::new().await;
    // Clicks whose `page` holds two values, and plain ones.
    let mut events = Vec::new();
    let mut per_widget: BTreeMap<&str, i64> = BTreeMap::new();
    // Per widget, the events on "/a" or "/b" (each once, whatever it holds).
    let mut per_widget_ab: BTreeMap<&str, i64> = BTreeMap::new();
    let mut per_page: BTreeMap<&str, i64> = BTreeMap::new();
    // Per page, the events that hold "/a" (grouped by page, filtered on it).
    let mut with_a: BTreeMap<&str, i64> = BTreeMap::new();
    for i in 0..60_i64 {
        let w = WIDGETS[(i % 3) as usize];
        let pages: Vec<&str> = if i % 4 == 0 {
            vec!["/a", "/b", "/a"]
        } else {
            vec![PAGES[(i % 3) as usize]]
        };
        *per_widget.entry(w).or_default() += 1;
        if pages.iter().any(|p| *p == "/a" || *p == "/b") {
            *per_widget_ab.entry(w).or_default() += 1;
        }
        for p in pages.iter().collect::<BTreeSet<_>>() {
            *per_page.entry(p).or_default() += 1;
            if pages.contains(&"/a") {
                *with_a.entry(p).or_default() += 1;
            }
        }
        let page = if pages.len() > 1 {
            json!(pages)
        } else {
            json!(pages[0])
        };
        events.push(
            json!({"id": format!("m{i}"), "type": "click", "ts": D0 + i * 600_000,
            "props": {"widget": w, "page": page, "user": format!("u{}", i % 7)}}),
        );
    }
    post(&env, events).await;
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    rollups::ensure(&env.store, &rollups::builtin(), now)
        .await
        .unwrap();
    rollups::backfill(&env.store, &rollups::builtin(), "demo", D0, now)
        .await
        .unwrap();
    build(&env).await;

    // By page: one row per distinct value, as the raw engine counts.
    let q = json!({"app": "demo", "types": ["click"], "from": D0, "to": D0 + DAY, "group_by": ["page"]});
    let r = query(&env, q).await;
    assert_eq!(plan(&r), "rollup:clicks_daily", "{}", r.json["meta"]);
    let got = by_key(&r, 1);
    assert_eq!(got.len(), per_page.len());
    for (p, n) in &per_page {
        assert_eq!(got[&json!(p).to_string()][0], json!(n), "{p}");
    }
    // By widget alone: the rollup without `page` counts each click once.
    let q = json!({"app": "demo", "types": ["click"], "from": D0, "to": D0 + DAY,
        "group_by": ["widget"]});
    let r = query(&env, q).await;
    assert_eq!(plan(&r), "rollup:widgets_daily", "{}", r.json["meta"]);
    let got = by_key(&r, 1);
    assert_eq!(got.len(), per_widget.len());
    for (w, n) in &per_widget {
        assert_eq!(got[&json!(w).to_string()][0], json!(n), "{w}");
    }
    // By widget, filtered on two pages: only `clicks_daily` keeps `page`,
    // and its rows per page summed would count a two-page click twice: the
    // planner reads the raw events.
    let q = json!({"app": "demo", "types": ["click"], "from": D0, "to": D0 + DAY,
        "group_by": ["widget"], "where": [{"dim": "page", "op": "in", "value": ["/a", "/b"]}],
        "explain": true});
    let r = query(&env, q).await;
    assert_eq!(plan(&r), "raw", "{}", r.json["meta"]);
    assert!(r.json["meta"]["reason"]
        .as_str()
        .unwrap()
        .contains("multi-valued"));
    let got = by_key(&r, 1);
    assert_eq!(got.len(), per_widget_ab.len());
    for (w, n) in &per_widget_ab {
        assert_eq!(got[&json!(w).to_string()][0], json!(n), "{w}");
    }
    // Filtered to one page value with eq: each event once.
    let q = json!({"app": "demo", "types": ["click"], "from": D0, "to": D0 + DAY,
        "group_by": ["widget"], "where": [{"dim": "page", "op": "eq", "value": "/a"}]});
    let r = query(&env, q).await;
    assert_eq!(plan(&r), "rollup:clicks_daily", "{}", r.json["meta"]);
    let total: i64 = r.json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[1].as_i64().unwrap())
        .sum();
    assert_eq!(total, per_page["/a"]);
    // Grouped by page and filtered on it: the raw engine keeps whole events,
    // then unwinds them (so "/b" is counted for the events that hold "/a").
    for op in ["eq", "ne", "in"] {
        let value = if op == "in" {
            json!(["/a"])
        } else {
            json!("/a")
        };
        let q = json!({"app": "demo", "types": ["click"], "from": D0, "to": D0 + DAY,
            "group_by": ["page"], "where": [{"dim": "page", "op": op, "value": value}], "explain": true});
        let r = query(&env, q).await;
        assert_eq!(plan(&r), "raw", "{op}: {}", r.json["meta"]);
        let got = by_key(&r, 1);
        let want: BTreeMap<&str, i64> = if op == "ne" {
            per_page
                .iter()
                .map(|(p, n)| (*p, n - with_a.get(p).copied().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect()
        } else {
            with_a.clone()
        };
        assert_eq!(got.len(), want.len(), "{op}: {got:?}");
        for (p, n) in &want {
            assert_eq!(got[&json!(p).to_string()][0], json!(n), "{op} {p}");
        }
    }
    env.drop_db().await;
}

async fn call(env: &TestEnv, method: &str, path: &str, body: Option<Value>) -> Resp {
    env.send(
        Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", env.app.read_token))
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn an_app_declares_its_own_rollup_and_queries_by_it_until_it_drops_it() {
    let env = TestEnv::new().await;
    let (clicks, _) = dataset();
    let roles = ["admin", "viewer", "dev"];
    let events: Vec<Value> = clicks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut e = click_event(c);
            e["props"]["role"] = json!(roles[i % 3]);
            e
        })
        .collect();
    for chunk in events.chunks(500) {
        post(&env, chunk.to_vec()).await;
    }

    let r = call(
        &env,
        "POST",
        "/v1/rollups",
        Some(json!({"app": "demo", "name": "by_role",
        "types": ["click"], "dims": ["role"], "grain": "hour"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["builtin"], false);
    assert_eq!(r.json["metrics"], json!(["*"]));
    for (body, status, code, start) in [
        (
            json!({"app": "demo", "name": "by_role", "types": ["click"], "grain": "hour"}),
            409,
            "rollup_exists",
            "name: app `demo` already has a rollup `by_role`",
        ),
        (
            json!({"app": "demo", "name": "clicks", "types": ["click"], "grain": "hour"}),
            409,
            "rollup_exists",
            "name: `clicks` is a built-in rollup",
        ),
        (
            json!({"app": "demo", "name": "x", "types": ["click"], "dims": ["$gt"], "grain": "hour"}),
            400,
            "invalid_rollup",
            "dims[0]: `$gt` is not a valid name",
        ),
        (
            json!({"app": "demo", "name": "x", "types": ["click"], "grain": "week"}),
            400,
            "invalid_rollup",
            "grain: unknown variant `week`",
        ),
        (
            json!({"app": "demo", "name": "x", "types": [], "grain": "day"}),
            400,
            "invalid_rollup",
            "types: give 1 to 16 event types",
        ),
        (
            json!({"app": "demo", "name": "x", "types": ["click"], "grain": "day", "ttl": 3}),
            400,
            "invalid_rollup",
            "unknown field `ttl`",
        ),
    ] {
        let r = call(&env, "POST", "/v1/rollups", Some(body.clone())).await;
        r.assert_error(status, code, start);
        assert!(
            r.message().starts_with(start) || start.starts_with("unknown"),
            "{body}: {}",
            r.message()
        );
    }

    let now = mongodb::bson::DateTime::now().timestamp_millis();
    let all = rollups::for_app(&env.store, "demo").await.unwrap();
    assert!(all.iter().any(|r| r.name == "by_role"));
    rollups::ensure(&env.store, &all, now).await.unwrap();
    rollups::backfill(&env.store, &all, "demo", D0, now)
        .await
        .unwrap();
    build(&env).await;

    let q = json!({"app": "demo", "types": ["click"], "from": D0, "to": D0 + DAYS * DAY,
        "group_by": ["role"], "measures": ["count", "users"]});
    let r = query(&env, q.clone()).await;
    assert_eq!(plan(&r), "rollup:by_role", "{}", r.json["meta"]);
    let got = by_key(&r, 1);
    for (k, role) in roles.iter().enumerate() {
        let mine: Vec<&Click> = clicks
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == k)
            .map(|(_, c)| c)
            .collect();
        let row = &got[&json!(role).to_string()];
        assert_eq!(row[0], json!(mine.len()), "{role}");
        let users: BTreeSet<&str> = mine.iter().map(|c| c.who.as_str()).collect();
        close_users(&row[1], users.len(), role);
    }
    let listed = call(&env, "GET", "/v1/rollups?app=demo", None).await;
    let mine = listed.json["rollups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "by_role")
        .unwrap()
        .clone();
    assert_eq!(mine["builtin"], false);
    assert!(mine["documents"].as_u64().unwrap() > 0);

    let r = call(&env, "DELETE", "/v1/rollups/by_role?app=demo", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["documents"].as_u64().unwrap() > 0);
    call(&env, "DELETE", "/v1/rollups/by_role?app=demo", None)
        .await
        .assert_error(
            404,
            "not_found",
            "app `demo` has no declared rollup `by_role`",
        );
    call(&env, "DELETE", "/v1/rollups/clicks?app=demo", None)
        .await
        .assert_error(400, "invalid_rollup", "`clicks` is a built-in rollup");
    // Dropped: the raw events answer, the same counts.
    let r = query(&env, q).await;
    assert_eq!(plan(&r), "raw");
    assert_eq!(r.json["rows"].as_array().unwrap().len(), 3);
    env.drop_db().await;
}
