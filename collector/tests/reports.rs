//! `POST /v1/reports/<name>` against the real local store, over generated
//! data whose answers the test computes on its own, not through the engine.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::{json, Value};
use usagelens_collector::apps;

const DAY: i64 = 86_400_000;
/// 2026-03-28T12:00:00Z: the end (`to`) of the reports' range.
const TO: i64 = 1_774_699_200_000;
const FROM: i64 = TO - 7 * DAY;
const PAGES: &[&str] = &["/", "/reports", "/settings"];

/// A click as the test knows it.
#[derive(Debug, Clone)]
struct Click {
    id: String,
    ts: i64,
    widget: Option<&'static str>,
    page: &'static str,
    user: Option<String>,
    anon: String,
    session: String,
    role: &'static str,
}

/// Clicks on seven widgets, in the range, in the week before it, and long
/// before; some without a user (anonymous), a few without a widget name.
fn dataset() -> Vec<Click> {
    let mut seed: u64 = 11;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut out = Vec::new();
    let mut push = |ts: i64, widget: Option<&'static str>, next: &mut dyn FnMut(u64) -> u64| {
        let i = out.len();
        out.push(Click {
            id: format!("c{i}"),
            ts,
            widget,
            page: PAGES[next(3) as usize],
            user: (next(4) != 0).then(|| format!("u{}", next(9))),
            anon: format!("a{}", next(15)),
            session: format!("s{}", next(25)),
            role: if next(3) == 0 { "admin" } else { "viewer" },
        });
    };
    // In the range: a skewed ranking (export most, settings least).
    for (w, n) in [
        ("export", 120),
        ("refresh", 70),
        ("share", 40),
        ("filter", 40),
        ("settings", 6),
    ] {
        for _ in 0..n {
            push(FROM + next(7 * DAY as u64) as i64, Some(w), &mut next);
        }
    }
    for _ in 0..9 {
        push(FROM + next(7 * DAY as u64) as i64, None, &mut next);
    }
    // The week before: the previous period.
    for (w, n) in [("export", 80), ("share", 55), ("archive", 12)] {
        for _ in 0..n {
            push(
                FROM - 7 * DAY + next(7 * DAY as u64) as i64,
                Some(w),
                &mut next,
            );
        }
    }
    // Not clicked in the range, but within the 90 days before `to`.
    push(TO - 40 * DAY, Some("legacy-print"), &mut next);
    push(TO - 30 * DAY, Some("legacy-print"), &mut next);
    // Clicked only long ago: not a widget of the app any more.
    push(TO - 120 * DAY, Some("ancient"), &mut next);
    // A page view in the range: not a click.
    out
}

async fn load(env: &TestEnv, clicks: &[Click]) {
    for chunk in clicks.chunks(200) {
        let mut events: Vec<Value> = chunk
            .iter()
            .map(|c| {
                let mut props =
                    json!({"page": c.page, "anon": c.anon, "session": c.session, "role": c.role});
                if let Some(w) = c.widget {
                    props["widget"] = json!(w);
                }
                if let Some(u) = &c.user {
                    props["user"] = json!(u);
                }
                json!({"id": c.id, "type": "click", "ts": c.ts, "props": props})
            })
            .collect();
        events.push(
            json!({"id": format!("p-{}", chunk[0].id), "type": "page", "ts": FROM + DAY,
                           "props": {"widget": "export", "page": "/"}}),
        );
        let r = env
            .post_json(json!({"app": "demo", "events": events}).to_string())
            .await;
        assert_eq!(r.json["accepted"], events.len(), "{}", r.text);
    }
}

async fn report(env: &TestEnv, token: &str, name: &str, body: Value) -> Resp {
    env.send(
        Request::post(format!("/v1/reports/{name}"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

/// What `widgets` must answer for the clicks that pass `keep`, computed here.
fn expected_widgets(
    clicks: &[Click],
    keep: &dyn Fn(&Click) -> bool,
) -> (Vec<Value>, Vec<Value>, u64) {
    let in_range: Vec<&Click> = clicks
        .iter()
        .filter(|c| keep(c) && c.ts >= FROM && c.ts < TO)
        .collect();
    let total = in_range.len() as u64;
    #[derive(Default)]
    struct W {
        clicks: u64,
        users: BTreeSet<String>,
        sessions: BTreeSet<String>,
        pages: BTreeMap<&'static str, u64>,
    }
    let mut by: BTreeMap<&str, W> = BTreeMap::new();
    for c in &in_range {
        let Some(w) = c.widget else { continue };
        let e = by.entry(w).or_default();
        e.clicks += 1;
        e.users
            .insert(c.user.clone().unwrap_or_else(|| c.anon.clone()));
        e.sessions.insert(c.session.clone());
        *e.pages.entry(c.page).or_default() += 1;
    }
    let mut previous: HashMap<&str, u64> = HashMap::new();
    for c in clicks
        .iter()
        .filter(|c| keep(c) && c.ts >= FROM - 7 * DAY && c.ts < FROM)
    {
        if let Some(w) = c.widget {
            *previous.entry(w).or_default() += 1;
        }
    }
    let mut ranked: Vec<(&str, &W)> = by.iter().map(|(k, v)| (*k, v)).collect();
    ranked.sort_by(|a, b| b.1.clicks.cmp(&a.1.clicks).then(a.0.cmp(b.0)));
    let widgets = ranked
        .iter()
        .map(|(w, e)| {
            let mut pages: Vec<(&str, u64)> = e.pages.iter().map(|(p, n)| (*p, *n)).collect();
            pages.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            json!({
                "widget": w,
                "clicks": e.clicks,
                "users": e.users.len(),
                "sessions": e.sessions.len(),
                "share": e.clicks as f64 / total as f64,
                "previous_clicks": previous.get(w).copied().unwrap_or(0),
                "pages": pages.iter().map(|(p, n)| json!({"page": p, "clicks": n})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut last_seen: BTreeMap<&str, i64> = BTreeMap::new();
    for c in clicks
        .iter()
        .filter(|c| keep(c) && c.ts >= TO - 90 * DAY && c.ts < TO)
    {
        if let Some(w) = c.widget {
            let e = last_seen.entry(w).or_insert(c.ts);
            *e = (*e).max(c.ts);
        }
    }
    let mut least: Vec<(u64, i64, &str)> = last_seen
        .iter()
        .map(|(w, t)| (by.get(w).map_or(0, |e| e.clicks), *t, *w))
        .collect();
    least.sort();
    let least_used = least
        .iter()
        .map(|(n, t, w)| {
            json!({"widget": w, "clicks": n,
                   "last_seen": usagelens_protocol::Timestamp::from_millis(*t).to_rfc3339()})
        })
        .collect();
    (widgets, least_used, total)
}

/// The answer's widgets with pages as a set of (page, clicks): the order of
/// pages with equal clicks is not part of the contract.
fn normalized(widgets: &Value) -> Vec<Value> {
    widgets
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let mut w = w.clone();
            let mut pages: Vec<(String, u64)> = w["pages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["page"].as_str().unwrap().to_owned(),
                        p["clicks"].as_u64().unwrap(),
                    )
                })
                .collect();
            pages.sort();
            w["pages"] = json!(pages);
            // Shares compared to 1e-12 below, not as text.
            w["share"] = json!((w["share"].as_f64().unwrap() * 1e12).round() / 1e12);
            w
        })
        .collect()
}

/// Ties in clicks: the ranking among widgets with equal clicks is not part
/// of the contract, so both sides are sorted by (clicks desc, widget).
fn by_rank(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by(|a, b| {
        b["clicks"]
            .as_u64()
            .cmp(&a["clicks"].as_u64())
            .then(a["widget"].as_str().cmp(&b["widget"].as_str()))
    });
    v
}

#[tokio::test]
async fn widgets_ranks_by_clicks_with_users_sessions_share_previous_pages_and_the_least_used() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let clicks = dataset();
    load(&env, &clicks).await;
    let body = json!({"app": "demo", "from": FROM, "to": TO});
    let r = report(&env, &token, "widgets", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["report"], "widgets");
    let (widgets, least_used, total) = expected_widgets(&clicks, &|_| true);
    assert_eq!(
        r.json["total_clicks"],
        json!(total),
        "every click of the range, unnamed ones too"
    );
    assert_eq!(
        by_rank(normalized(&r.json["widgets"])),
        by_rank(normalized(&json!(widgets)))
    );
    let got: Vec<u64> = r.json["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["clicks"].as_u64().unwrap())
        .collect();
    assert!(
        got.windows(2).all(|w| w[0] >= w[1]),
        "ranked by clicks: {got:?}"
    );
    assert_eq!(r.json["widgets"][0]["widget"], "export");
    assert_eq!(r.json["least_used"], json!(least_used));
    // The widgets with no click in the range come first, the oldest first;
    // one clicked only 120 days ago is not listed.
    let least: Vec<&str> = r.json["least_used"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["widget"].as_str().unwrap())
        .collect();
    assert_eq!(&least[..3], ["legacy-print", "archive", "settings"]);
    assert!(!least.contains(&"ancient"));
    assert_eq!(r.json["meta"]["from"], "2026-03-21T12:00:00.000Z");
    assert_eq!(r.json["meta"]["to"], "2026-03-28T12:00:00.000Z");
    assert_eq!(r.json["previous"]["from"], "2026-03-14T12:00:00.000Z");
    assert!(r.json["meta"]["took_ms"].as_f64().unwrap() >= 0.0);

    // A segment (any dimension) and a page.
    let r = report(
        &env,
        &token,
        "widgets",
        json!({"app": "demo", "from": FROM, "to": TO, "where": [{"dim": "role", "op": "eq", "value": "admin"}], "page": "/settings", "limit": 3}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (widgets, least_used, total) =
        expected_widgets(&clicks, &|c| c.role == "admin" && c.page == "/settings");
    assert_eq!(r.json["total_clicks"], json!(total));
    let got = normalized(&r.json["widgets"]);
    assert_eq!(got.len(), 3, "limit");
    let want = by_rank(normalized(&json!(widgets)));
    // The first three of the ranking (ties at the cut aside).
    for w in &got {
        assert!(want.contains(w), "{w} not in {want:?}");
    }
    assert_eq!(r.json["least_used"], json!(least_used[..3]));
    env.drop_db().await;
}

#[tokio::test]
async fn reports_check_auth_names_and_bodies_like_the_query_api() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let body = json!({"app": "demo"});
    // No token, a wrong token, another app's token.
    let r = env
        .send(
            Request::post("/v1/reports/widgets")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    r.assert_error(401, "unauthorized", "read token");
    report(&env, "rt_nope", "widgets", body.clone())
        .await
        .assert_error(401, "unauthorized", "unknown read token");
    let other = apps::create(&env.store, "other", &[]).await.unwrap();
    report(&env, &other.read_token, "widgets", body.clone())
        .await
        .assert_error(403, "forbidden", "demo");
    // No such report.
    report(&env, &token, "nope", body.clone())
        .await
        .assert_error(
            404,
            "not_found",
            "the reports are widgets, defaults, load-time, performance, correlation, user-story",
        );
    // Bad bodies: each error names the field.
    for (b, what) in [
        (
            json!({"app": "demo", "where": [{"dim": "$where", "op": "eq", "value": 1}]}),
            "where[0].dim",
        ),
        (
            json!({"app": "demo", "where": [{"dim": "role", "op": "$regex", "value": "a"}]}),
            "where[0].op",
        ),
        (
            json!({"app": "demo", "from": TO, "to": FROM}),
            "from: must be earlier",
        ),
        (json!({"app": "demo", "limit": 0}), "limit: 1 to 1000"),
        (
            json!({"app": "demo", "colour": "red"}),
            "unknown field `colour`",
        ),
        (json!({"app": "demo", "page": 3}), "page"),
        (json!({"app": "$demo"}), "app"),
        (
            json!("demo"),
            "the body is not a valid widgets report request",
        ),
    ] {
        let r = report(&env, &token, "widgets", b.clone()).await;
        assert_eq!(r.status, 400, "{b}: {}", r.text);
        assert_eq!(r.code(), "invalid_query");
        assert!(r.message().contains(what), "{what}: {}", r.message());
    }
    // With explain: each query's pipeline, as the engine compiled it.
    let r = report(
        &env,
        &token,
        "widgets",
        json!({"app": "demo", "explain": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let pipelines = r.json["meta"]["pipelines"].as_array().unwrap();
    assert_eq!(json!(pipelines.len()), r.json["meta"]["queries"]);
    for p in pipelines {
        assert_eq!(p[0]["$match"]["app"], "demo", "{p}");
        assert_eq!(p[0]["$match"]["type"], "click", "{p}");
    }
    // The default range: the last 7 days to now.
    let r = report(&env, &token, "widgets", body).await;
    assert!(r.json["meta"].get("pipelines").is_none());
    assert_eq!(r.status, 200, "{}", r.text);
    let from =
        usagelens_protocol::Timestamp::parse_rfc3339(r.json["meta"]["from"].as_str().unwrap())
            .unwrap();
    let to = usagelens_protocol::Timestamp::parse_rfc3339(r.json["meta"]["to"].as_str().unwrap())
        .unwrap();
    assert_eq!(to.as_millis() - from.as_millis(), 7 * DAY);
    assert_eq!(r.json["widgets"], json!([]));
    assert_eq!(r.json["total_clicks"], 0);
    env.drop_db().await;
}

/// The exact percentile the approximate one is held to (nearest rank).
fn nearest_rank(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((p * v.len() as f64).ceil() as usize).saturating_sub(1)]
}

#[tokio::test]
async fn load_time_gives_each_pages_waterfall_custom_phases_vitals_and_a_daily_trend() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let phases = [
        "redirect",
        "dns",
        "connect",
        "tls",
        "request",
        "response",
        "dom",
        "dcl",
        "load_event",
    ];
    // Per page: 60 loads (the settings page 30), over 3 days; every load has
    // the waterfall and total; every third a custom phase `hero`; timing
    // events with INP and CLS.
    let mut events = Vec::new();
    let mut loads: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
    let mut per_day: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (page, n) in [("/", 60), ("/settings", 30)] {
        for i in 0..n {
            let ts = FROM + (i as i64 % 3) * DAY + i as i64 * 60_000;
            let mut metrics = serde_json::Map::new();
            for (k, p) in phases.iter().enumerate() {
                // Distinct per phase and page, spread over a range.
                let v = ((i * 7 + k * 13) % 50) as f64 + if page == "/" { 0.0 } else { 100.0 };
                metrics.insert(format!("{p}_ms"), json!(v));
                loads.entry((page, *p)).or_default().push(v);
            }
            let total = 200.0 + ((i * 11) % 300) as f64;
            metrics.insert("total_ms".into(), json!(total));
            loads.entry((page, "total")).or_default().push(total);
            per_day
                .entry((ts - FROM).div_euclid(DAY))
                .or_default()
                .push(total);
            metrics.insert("fcp_ms".into(), json!(100.0 + i as f64));
            loads
                .entry((page, "fcp"))
                .or_default()
                .push(100.0 + i as f64);
            if i % 3 == 0 {
                metrics.insert("hero_ms".into(), json!(500.0 + i as f64));
                loads
                    .entry((page, "hero"))
                    .or_default()
                    .push(500.0 + i as f64);
            }
            events.push(json!({"id": format!("l{page}{i}"), "type": "load", "ts": ts, "props": {"page": page}, "metrics": metrics}));
            if i % 2 == 0 {
                let inp = 40.0 + ((i * 17) % 400) as f64;
                let cls = ((i * 3) % 25) as f64 / 100.0;
                loads.entry((page, "inp")).or_default().push(inp);
                loads.entry((page, "cls")).or_default().push(cls);
                events.push(json!({"id": format!("t{page}{i}"), "type": "timing", "ts": ts + 5000, "props": {"page": page},
                                   "metrics": {"inp_ms": inp, "cls": cls}}));
            }
        }
    }
    // A load outside the range counts nowhere.
    events.push(json!({"id": "old", "type": "load", "ts": FROM - DAY, "props": {"page": "/"}, "metrics": {"total_ms": 99999.0}}));
    let r = env
        .post_json(json!({"app": "demo", "events": events}).to_string())
        .await;
    assert_eq!(r.json["accepted"], events.len(), "{}", r.text);

    let r = report(
        &env,
        &token,
        "load-time",
        json!({"app": "demo", "from": FROM, "to": TO}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["report"], "load-time");
    assert_eq!(r.json["percentiles"], json!(["p50", "p75", "p95"]));
    assert_eq!(r.json["custom_phases"], json!(["hero_ms"]));
    let pages = r.json["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["page"], "/", "most loads first");
    assert_eq!(pages[0]["loads"], 60);
    assert_eq!(pages[1]["loads"], 30);
    let close = |got: &Value, want: f64, range: f64, what: &str| {
        let got = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
        assert!(
            (got - want).abs() <= 0.02 * range + 1e-9,
            "{what}: {got} vs {want}"
        );
    };
    for p in pages {
        let page = p["page"].as_str().unwrap();
        let names: Vec<&str> = p["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|ph| ph["phase"].as_str().unwrap())
            .collect();
        let mut order = phases.to_vec();
        order.extend(["hero", "fcp", "inp", "cls"]);
        assert_eq!(
            names, order,
            "waterfall order, then the app's phase, then the vitals (no LCP sent)"
        );
        for ph in p["phases"].as_array().unwrap() {
            let name = ph["phase"].as_str().unwrap();
            let values = &loads[&(page, name)];
            assert_eq!(ph["count"], json!(values.len()), "{page} {name}");
            let range = values.iter().cloned().fold(f64::MIN, f64::max)
                - values.iter().cloned().fold(f64::MAX, f64::min);
            for (key, q) in [("p50", 0.5), ("p75", 0.75), ("p95", 0.95)] {
                close(
                    &ph[key],
                    nearest_rank(values, q),
                    range.max(1.0),
                    &format!("{page} {name} {key}"),
                );
            }
        }
        let totals = &loads[&(page, "total")];
        close(
            &p["total"]["p75"],
            nearest_rank(totals, 0.75),
            300.0,
            &format!("{page} total p75"),
        );
    }
    let trend = r.json["trend"].as_array().unwrap();
    assert_eq!(trend.len(), per_day.len());
    for (t, (day, totals)) in trend.iter().zip(&per_day) {
        assert_eq!(t["loads"], json!(totals.len()));
        close(
            &t["p75_total_ms"],
            nearest_rank(totals, 0.75),
            300.0,
            &format!("day {day}"),
        );
        let bucket =
            usagelens_protocol::Timestamp::parse_rfc3339(t["bucket"].as_str().unwrap()).unwrap();
        assert_eq!(bucket.as_millis(), (FROM + day * DAY).div_euclid(DAY) * DAY);
    }

    // Chosen percentiles, one page.
    let r = report(
        &env,
        &token,
        "load-time",
        json!({"app": "demo", "from": FROM, "to": TO, "page": "/settings", "percentiles": ["p90"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let pages = r.json["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 1);
    let dns = &pages[0]["phases"][1];
    assert_eq!(dns["phase"], "dns");
    assert!(
        dns.get("p50").is_none() && dns.get("p90").is_some(),
        "{dns}"
    );
    for (b, what) in [
        (
            json!({"app": "demo", "percentiles": ["avg"]}),
            "percentiles[0]: `avg` is not a percentile",
        ),
        (
            json!({"app": "demo", "percentiles": []}),
            "percentiles: give at least one",
        ),
        (
            json!({"app": "demo", "percentiles": ["p50", "p50"]}),
            "percentiles[1]: `p50` appears twice",
        ),
    ] {
        let r = report(&env, &token, "load-time", b).await;
        r.assert_error(400, "invalid_query", what);
    }
    env.drop_db().await;
}

#[tokio::test]
async fn performance_gives_browser_memory_and_long_tasks_and_each_routes_times_errors_and_serialization(
) {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let mut events = Vec::new();
    // API calls: two routes; every 10th GET /users/{id} fails with a 500.
    let mut durations: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
    let mut serialize: HashMap<(&str, &str), (f64, f64)> = HashMap::new();
    let mut failed: HashMap<(&str, &str), u64> = HashMap::new();
    for (route, method, n) in [("/users/{id}", "GET", 80), ("/reports", "POST", 20)] {
        for i in 0..n {
            let d = 5.0 + ((i * 37) % 200) as f64;
            let ser = if route == "/reports" { d / 4.0 } else { 1.0 };
            let status = if route == "/users/{id}" && i % 10 == 0 {
                500
            } else {
                200
            };
            durations.entry((route, method)).or_default().push(d);
            let e = serialize.entry((route, method)).or_default();
            e.0 += ser;
            e.1 += d;
            if status >= 500 {
                *failed.entry((route, method)).or_default() += 1;
            }
            events.push(
                json!({"id": format!("h{route}{i}"), "type": "http", "ts": FROM + i as i64 * 60_000,
                "props": {"route": route, "method": method, "status": status, "source": "server"},
                "metrics": {"duration_ms": d, "serialize_ms": ser}}),
            );
        }
    }
    // Browser memory samples on two pages, in two hours; server samples.
    let mut heap: HashMap<i64, Vec<f64>> = HashMap::new();
    let mut longtask_ms: HashMap<&str, f64> = HashMap::new();
    let mut gc: HashMap<i64, f64> = HashMap::new();
    for i in 0..40_i64 {
        let page = if i % 4 == 0 { "/reports" } else { "/" };
        let hour = i % 2;
        let used = 10e6 + (i * 250_000) as f64;
        heap.entry(hour).or_default().push(used);
        *longtask_ms.entry(page).or_default() += (i % 5) as f64 * 20.0;
        *gc.entry(hour).or_default() += (i % 3) as f64;
        events.push(json!({"id": format!("m{i}"), "type": "memory", "ts": FROM + hour * 3_600_000 + i * 1000,
            "props": {"source": "browser", "page": page},
            "metrics": {"used_heap_bytes": used, "gc_count": (i % 3) as f64, "gc_reclaimed_bytes": 1000.0,
                        "longtask_count": 1.0, "longtask_ms": (i % 5) as f64 * 20.0}}));
        events.push(json!({"id": format!("s{i}"), "type": "memory", "ts": FROM + hour * 3_600_000 + i * 1000,
            "props": {"source": "server"}, "metrics": {"rss_bytes": 50e6 + i as f64, "virtual_bytes": 900e6}}));
    }
    let r = env
        .post_json(json!({"app": "demo", "events": events}).to_string())
        .await;
    assert_eq!(r.json["accepted"], events.len(), "{}", r.text);

    let r = report(
        &env,
        &token,
        "performance",
        json!({"app": "demo", "from": FROM, "to": TO}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["report"], "performance");
    assert_eq!(r.json["interval"], "hour");
    let routes = r.json["server"]["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0]["route"], "/users/{id}", "most calls first");
    for row in routes {
        let k = (
            row["route"].as_str().unwrap(),
            row["method"].as_str().unwrap(),
        );
        let d = &durations[&k];
        assert_eq!(row["count"], json!(d.len()));
        let errors = failed.get(&k).copied().unwrap_or(0);
        assert_eq!(row["errors"], json!(errors));
        assert!(
            (row["error_rate"].as_f64().unwrap() - errors as f64 / d.len() as f64).abs() < 1e-12
        );
        let (ser, total) = serialize[&k];
        assert!(
            (row["serialize_share"].as_f64().unwrap() - ser / total).abs() < 1e-9,
            "{row}"
        );
        for (key, q) in [
            ("p50_duration_ms", 0.5),
            ("p95_duration_ms", 0.95),
            ("p99_duration_ms", 0.99),
        ] {
            let got = row[key].as_f64().unwrap();
            assert!(
                (got - nearest_rank(d, q)).abs() <= 0.02 * 200.0,
                "{key} {got} vs {}",
                nearest_rank(d, q)
            );
        }
    }
    let series = r.json["browser"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "two hours");
    for (row, hour) in series.iter().zip([0_i64, 1]) {
        assert_eq!(row["samples"], json!(heap[&hour].len()));
        assert_eq!(row["gc_count"].as_f64().unwrap(), gc[&hour]);
        let want = nearest_rank(&heap[&hour], 0.5);
        assert!(
            (row["heap_p50"].as_f64().unwrap() - want).abs() <= 0.02 * 10e6,
            "{row} vs {want}"
        );
    }
    let by_page = r.json["browser"]["by_page"].as_array().unwrap();
    assert_eq!(by_page[0]["page"], "/", "most samples first");
    for row in by_page {
        let page = row["page"].as_str().unwrap();
        assert_eq!(
            row["longtask_ms"].as_f64().unwrap(),
            longtask_ms[page],
            "{page}"
        );
    }
    let memory = r.json["server"]["memory"].as_array().unwrap();
    assert_eq!(memory.len(), 2);
    assert_eq!(memory[0]["samples"], 20);
    assert_eq!(memory[0]["virtual_max"].as_f64().unwrap(), 900e6);

    // A segment: one route's calls only.
    let r = report(
        &env,
        &token,
        "performance",
        json!({"app": "demo", "from": FROM, "to": TO, "interval": "day",
        "where": [{"dim": "route", "op": "eq", "value": "/reports"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["server"]["routes"].as_array().unwrap().len(), 1);
    assert_eq!(
        r.json["browser"]["series"],
        json!([]),
        "memory samples have no route"
    );
    report(
        &env,
        &token,
        "performance",
        json!({"app": "demo", "interval": "fortnight"}),
    )
    .await
    .assert_error(400, "invalid_query", "interval");
    env.drop_db().await;
}

#[tokio::test]
async fn user_story_shows_a_berlin_workday_its_paths_distinctive_actions_and_experience() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    const MIN: i64 = 60_000;
    // Monday 2026-01-12, 00:00 in Berlin (UTC+1 in winter).
    let monday = 1_768_176_000_000_i64 - 3_600_000;
    let mut events = Vec::new();
    // u-1: Monday to Friday of two weeks, 09:00 to 12:00 Berlin time, one
    // session a day, the path /inbox → reply → send over and over.
    for week in 0..2 {
        for wd in 0..5 {
            let day = week * 7 + wd;
            let start = monday + day * DAY + 9 * 60 * MIN;
            for k in 0..18_i64 {
                let ts = start + k * 10 * MIN;
                let (kind, extra) = match k % 3 {
                    0 => ("page", json!({"page": "/inbox"})),
                    1 => ("click", json!({"widget": "reply", "page": "/inbox"})),
                    _ => ("click", json!({"widget": "send", "page": "/inbox"})),
                };
                let mut props =
                    json!({"user": "u-1", "session": format!("s-{day}"), "tz": "Europe/Berlin"});
                props
                    .as_object_mut()
                    .unwrap()
                    .extend(extra.as_object().unwrap().clone());
                events.push(
                    json!({"id": format!("u1-{day}-{k}"), "type": kind, "ts": ts, "props": props}),
                );
            }
            if wd < 3 && week == 0 {
                events.push(json!({"id": format!("u1-load-{day}"), "type": "load", "ts": start,
                    "props": {"user": "u-1", "session": format!("s-{day}"), "page": "/inbox"}, "metrics": {"total_ms": 2000.0}}));
            }
        }
    }
    // Everyone else: exports mostly, a few replies, fast loads.
    for i in 0..110_i64 {
        let widget = if i < 100 { "export" } else { "reply" };
        events.push(json!({"id": format!("o-{i}"), "type": "click", "ts": monday + i * 97 * MIN,
            "props": {"user": format!("u-{}", 2 + i % 5), "session": format!("o-{}", i / 10), "widget": widget}}));
    }
    for i in 0..10_i64 {
        events.push(
            json!({"id": format!("o-load-{i}"), "type": "load", "ts": monday + i * DAY,
            "props": {"user": "u-9", "page": "/"}, "metrics": {"total_ms": 500.0}}),
        );
    }
    for chunk in events.chunks(500) {
        let r = env
            .post_json(json!({"app": "demo", "events": chunk}).to_string())
            .await;
        assert_eq!(r.json["accepted"], chunk.len(), "{}", r.text);
    }
    let (from, to) = (monday, monday + 14 * DAY);
    let r = report(
        &env,
        &token,
        "user-story",
        json!({"app": "demo", "user": "u-1", "from": from, "to": to, "limit": 3}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["report"], "user-story");
    let w = &r.json["workday"];
    assert_eq!(w["tz"], "Europe/Berlin");
    assert_eq!(w["tz_source"], "user");
    let mut matrix = vec![vec![0u64; 24]; 7];
    for row in matrix.iter_mut().take(5) {
        for cell in row.iter_mut().take(12).skip(9) {
            *cell = 12; // 6 events an hour, on 2 days
        }
    }
    assert_eq!(w["matrix"], json!(matrix), "Monday first, hours in Berlin");
    assert_eq!(w["by_weekday"], json!([36, 36, 36, 36, 36, 0, 0]));
    assert_eq!(w["by_hour"][9], 60);
    assert_eq!(w["by_hour"][8], 0);
    assert_eq!(w["active_days"], 10);
    assert_eq!(w["active_days_per_week"], 5.0);
    assert_eq!(w["typical_start"], "09:00");
    assert_eq!(w["typical_end"], "12:00");
    let parts = w["dayparts"].as_array().unwrap();
    assert_eq!(parts[1]["part"], "morning");
    assert_eq!(
        parts[1]["top"],
        json!([{"action": "reply", "count": 60}, {"action": "send", "count": 60}])
    );
    for p in [&parts[0], &parts[2], &parts[3]] {
        assert_eq!(p["top"], json!([]), "{p}");
    }

    let sessions = r.json["sessions"].as_array().unwrap();
    assert_eq!(r.json["sessions_total"], 10);
    assert_eq!(sessions.len(), 3, "limit");
    assert_eq!(sessions[0]["session"], "s-11", "latest first");
    assert_eq!(sessions[1]["session"], "s-10");
    for s in sessions {
        assert_eq!(s["events"], 18, "activity only: the load is not");
        assert_eq!(s["pages"], 6);
        assert_eq!(
            s["top_actions"],
            json!([{"action": "reply", "count": 6}, {"action": "send", "count": 6}])
                .as_array()
                .unwrap()
                .clone()
                .into_iter()
                .collect::<Value>()
        );
    }
    let r2 = report(
        &env,
        &token,
        "user-story",
        json!({"app": "demo", "user": "u-1", "from": from, "to": to, "limit": 3, "offset": 9}),
    )
    .await;
    assert_eq!(r2.json["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(r2.json["sessions"][0]["session"], "s-0");

    // Per session 18 steps: 16 paths of 3, 6 of them /inbox → reply → send.
    assert_eq!(
        r.json["sequences"],
        json!([
            {"steps": ["/inbox", "reply", "send"], "count": 60},
            {"steps": ["reply", "send", "/inbox"], "count": 50},
            {"steps": ["send", "/inbox", "reply"], "count": 50},
        ])
    );
    // What u-1 does more than everyone: send, reply; less: export.
    let d = r.json["distinctive"].as_array().unwrap();
    let names: Vec<&str> = d.iter().map(|x| x["action"].as_str().unwrap()).collect();
    assert_eq!(names, ["send", "reply", "export"]);
    let everyone = 230.0;
    for (x, user, all) in [(&d[0], 0.5, 60.0), (&d[1], 0.5, 70.0), (&d[2], 0.0, 100.0)] {
        assert!(
            (x["user_share"].as_f64().unwrap() - user).abs() < 1e-12,
            "{x}"
        );
        assert!(
            (x["everyone_share"].as_f64().unwrap() - all / everyone).abs() < 1e-12,
            "{x}"
        );
        assert!(
            (x["lift"].as_f64().unwrap() - user / (all / everyone)).abs() < 1e-9,
            "{x}"
        );
    }
    let load = &r.json["experience"]["load"];
    assert_eq!(load["user_count"], 3);
    assert_eq!(load["everyone_count"], 13);
    assert!(
        (load["user_p75"].as_f64().unwrap() - 2000.0).abs() < 1e-6,
        "{load}"
    );
    assert_eq!(r.json["experience"]["api"]["user_count"], 0);

    // Without a tz of the user's own, the request's; bad bodies.
    let r = report(
        &env,
        &token,
        "user-story",
        json!({"app": "demo", "user": "u-2", "from": from, "to": to, "tz": "America/New_York"}),
    )
    .await;
    assert_eq!(r.json["workday"]["tz"], "America/New_York");
    assert_eq!(r.json["workday"]["tz_source"], "request");
    report(&env, &token, "user-story", json!({"app": "demo"}))
        .await
        .assert_error(400, "invalid_query", "user");
    report(
        &env,
        &token,
        "user-story",
        json!({"app": "demo", "user": "  "}),
    )
    .await
    .assert_error(400, "invalid_query", "user: give the user's id");
    env.drop_db().await;
}

/// Spearman's rho written out for the test: Pearson's r of average ranks.
fn spearman_rho(x: &[f64], y: &[f64]) -> f64 {
    let rank = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .map(|a| {
                let below = v.iter().filter(|b| *b < a).count() as f64;
                let equal = v.iter().filter(|b| *b == a).count() as f64;
                below + (equal + 1.0) / 2.0
            })
            .collect()
    };
    let (rx, ry) = (rank(x), rank(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

#[tokio::test]
async fn correlation_buckets_sessions_from_fast_to_slow_and_ranks_slow_loads_with_fewer_clicks() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let mut events = Vec::new();
    // 60 sessions: the slower its loads, the fewer its clicks (with ties).
    let mut truth: Vec<(f64, f64, usize)> = Vec::new();
    for i in 0..60_usize {
        let speed = 300.0 + 40.0 * i as f64;
        let clicks = 40 - (i * 2) / 3;
        let session = format!("s{i:02}");
        let props = |extra: Value| {
            let mut p = json!({"session": session, "user": format!("u{}", i % 20), "role": if i % 3 == 0 { "admin" } else { "viewer" }});
            p.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            p
        };
        for k in 0..2 {
            events.push(json!({"id": format!("l{i}-{k}"), "type": "load", "ts": FROM + (i * 10 + k) as i64 * 60_000,
                "props": props(json!({"page": "/"})), "metrics": {"total_ms": speed}}));
        }
        for c in 0..clicks {
            let widget = if c % 2 == 0 { "export" } else { "filter" };
            events.push(json!({"id": format!("c{i}-{c}"), "type": "click", "ts": FROM + (i * 10 + 2) as i64 * 60_000 + c as i64,
                "props": props(json!({"widget": widget}))}));
        }
        truth.push((speed, clicks as f64, i));
    }
    // A session without loads has no speed: it is left out.
    events.push(json!({"id": "lonely", "type": "click", "ts": FROM, "props": {"session": "none", "widget": "export"}}));
    for chunk in events.chunks(500) {
        let r = env
            .post_json(json!({"app": "demo", "events": chunk}).to_string())
            .await;
        assert_eq!(r.json["accepted"], chunk.len(), "{}", r.text);
    }
    let body = json!({"app": "demo", "from": FROM, "to": TO, "metric": {"type": "load", "of": "total_ms"}, "outcome": "clicks", "by": "role"});
    let r = report(&env, &token, "correlation", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["report"], "correlation");
    assert_eq!(r.json["sessions"], 60);
    let xs: Vec<f64> = truth.iter().map(|t| t.0).collect();
    let ys: Vec<f64> = truth.iter().map(|t| t.1).collect();
    let rho = spearman_rho(&xs, &ys);
    assert!(rho < -0.99, "the data set is built that way: {rho}");
    assert!(
        (r.json["spearman"]["rho"].as_f64().unwrap() - rho).abs() < 1e-9,
        "{}",
        r.json["spearman"]
    );
    assert_eq!(r.json["spearman"]["n"], 60);
    let buckets = r.json["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 5, "quintiles");
    for (k, b) in buckets.iter().enumerate() {
        let group = &truth[k * 12..(k + 1) * 12];
        assert_eq!(b["sessions"], 12);
        assert_eq!(b["min"].as_f64().unwrap(), group[0].0);
        assert_eq!(b["max"].as_f64().unwrap(), group[11].0);
        let mean = group.iter().map(|t| t.1).sum::<f64>() / 12.0;
        assert!(
            (b["outcome_per_session"].as_f64().unwrap() - mean).abs() < 1e-9,
            "{b}"
        );
        let users: BTreeSet<usize> = group.iter().map(|t| t.2 % 20).collect();
        assert_eq!(b["users"], json!(users.len()));
    }
    let per: Vec<f64> = buckets
        .iter()
        .map(|b| b["outcome_per_session"].as_f64().unwrap())
        .collect();
    assert!(
        per.windows(2).all(|w| w[0] > w[1]),
        "fewer clicks as loads get slower: {per:?}"
    );
    let groups = r.json["by"]["groups"].as_array().unwrap();
    assert_eq!(r.json["by"]["dimension"], "role");
    let admin = groups.iter().find(|g| g["value"] == "admin").unwrap();
    let admins: Vec<&(f64, f64, usize)> = truth.iter().filter(|t| t.2 % 3 == 0).collect();
    assert_eq!(admin["sessions"], json!(admins.len()));
    let mean = admins.iter().map(|t| t.1).sum::<f64>() / admins.len() as f64;
    assert!((admin["outcome_per_session"].as_f64().unwrap() - mean).abs() < 1e-9);
    let mut speeds: Vec<f64> = admins.iter().map(|t| t.0).collect();
    speeds.sort_by(f64::total_cmp);
    assert_eq!(
        admin["metric_p50"].as_f64().unwrap(),
        nearest_rank(&speeds, 0.5)
    );

    // Given edges, and clicks on one widget.
    let r = report(
        &env,
        &token,
        "correlation",
        json!({"app": "demo", "from": FROM, "to": TO,
        "outcome": {"widget": "export"}, "edges": [1000, 2000]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = r.json["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 3);
    let fast: Vec<&(f64, f64, usize)> = truth.iter().filter(|t| t.0 < 1000.0).collect();
    assert_eq!(b[0]["range"], "< 1000");
    assert_eq!(b[0]["sessions"], json!(fast.len()));
    let exports = fast
        .iter()
        .map(|t| (t.1 as usize).div_ceil(2) as f64)
        .sum::<f64>()
        / fast.len() as f64;
    assert!(
        (b[0]["outcome_per_session"].as_f64().unwrap() - exports).abs() < 1e-9,
        "{}",
        b[0]
    );
    assert_eq!(b[2]["range"], ">= 2000");
    for (body, what) in [
        (
            json!({"app": "demo", "outcome": "happiness"}),
            "outcome: `happiness` is not an outcome",
        ),
        (
            json!({"app": "demo", "outcome": {"widget": ""}}),
            "outcome:",
        ),
        (
            json!({"app": "demo", "edges": [2, 1]}),
            "edges: must be ascending",
        ),
        (json!({"app": "demo", "buckets": 1}), "buckets: 2 to 20"),
        (
            json!({"app": "demo", "metric": {"type": "load", "of": "$x"}}),
            "metric.of",
        ),
    ] {
        report(&env, &token, "correlation", body)
            .await
            .assert_error(400, "invalid_query", what);
    }
    env.drop_db().await;
}

#[tokio::test]
async fn correlation_past_its_session_limit_joins_each_read_session_with_its_own_outcome() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let mut events = Vec::new();
    // 120 sessions with a load and 1 to 3 clicks, 20 more than the
    // `max_sessions` asked for: the first 100 by id (s000..s099) are joined.
    let mut truth_clicks = 0_u64;
    for i in 0..120_usize {
        let session = format!("s{i:03}");
        events.push(json!({"id": format!("l{i}"), "type": "load", "ts": FROM + i as i64 * 1000,
            "props": {"session": session, "page": "/"}, "metrics": {"total_ms": 300 + (i % 37) * 10}}));
        let clicks = 1 + i % 3;
        for c in 0..clicks {
            events.push(json!({"id": format!("c{i}-{c}"), "type": "click", "ts": FROM + i as i64 * 1000 + 1 + c as i64,
                "props": {"session": session, "widget": "export"}}));
        }
        if i < 100 {
            truth_clicks += clicks as u64;
        }
    }
    // Busier sessions without a load (no speed), with ids before and among
    // the read ones (a00, s000b): ranked by clicks or by id, an outcome read
    // not tied to the sessions read would put them first.
    for j in 0..50_i64 {
        for c in 0..5 {
            for session in [format!("a{j:02}"), format!("s{:03}b", j * 2)] {
                events.push(json!({"id": format!("b{session}-{c}"), "type": "click", "ts": FROM + j * 100 + c,
                    "props": {"session": session, "widget": "export"}}));
            }
        }
    }
    let r = env
        .post_json(json!({"app": "demo", "events": events}).to_string())
        .await;
    assert_eq!(r.json["accepted"], events.len(), "{}", r.text);
    let body =
        json!({"app": "demo", "from": FROM, "to": TO, "outcome": "clicks", "max_sessions": 100});
    let r = report(&env, &token, "correlation", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["truncated"], true, "{}", r.json);
    assert_eq!(r.json["sessions"], 100);
    assert_eq!(r.json["spearman"]["n"], 100);
    let buckets = r.json["buckets"].as_array().unwrap();
    let joined: f64 = buckets
        .iter()
        .map(|b| b["sessions"].as_f64().unwrap() * b["outcome_per_session"].as_f64().unwrap())
        .sum();
    assert!(
        (joined - truth_clicks as f64).abs() < 1e-6,
        "every joined session has its own clicks: {joined} != {truth_clicks}"
    );
    assert!(
        buckets
            .iter()
            .all(|b| b["outcome_per_session"].as_f64().unwrap() >= 1.0),
        "no read session joins as 0 clicks: {buckets:?}"
    );

    // Below the limit nothing is cut, and the answer says so.
    let body =
        json!({"app": "demo", "from": FROM, "to": TO, "outcome": "clicks", "max_sessions": 200});
    let r = report(&env, &token, "correlation", body).await;
    assert_eq!(
        (r.json["truncated"].clone(), r.json["sessions"].clone()),
        (json!(false), json!(120))
    );

    for bad in [json!(2), json!(10_001), json!("100"), json!(-1)] {
        let body = json!({"app": "demo", "from": FROM, "to": TO, "max_sessions": bad});
        let r = report(&env, &token, "correlation", body).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.text.contains("max_sessions"), "{bad}: {}", r.text);
    }
    env.drop_db().await;
}

/// Wilson's 95% interval, written out for the test.
fn wilson95(k: f64, n: f64) -> (f64, f64) {
    let z = 1.959_964_f64;
    let p = k / n;
    let d = 1.0 + z * z / n;
    let c = p + z * z / (2.0 * n);
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((c - h) / d, (c + h) / d)
}

#[tokio::test]
async fn defaults_counts_kept_defaults_per_control_and_suggests_only_with_confidence() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let mut events = Vec::new();
    let mut n = 0;
    let mut push = |trigger: &str,
                    control: &str,
                    kind: &str,
                    value: Option<Value>,
                    default: Option<Value>,
                    is_default: bool| {
        n += 1;
        let mut props = json!({"control": control, "control_type": kind, "is_default": is_default,
                               "trigger": trigger, "page": "/settings", "view": format!("v{n}")});
        if kind != "custom" {
            props["form"] = json!("prefs");
        }
        if let Some(v) = value {
            props["value"] = v;
        }
        if let Some(d) = default {
            props["default"] = d;
        }
        events.push(json!({"id": format!("ch{n}"), "type": "choice", "ts": FROM + n as i64 * 1000, "props": props}));
    };
    // theme: the default (light) loses, 30 to 70, over 100 page views.
    for i in 0..100 {
        let v = if i < 70 { "dark" } else { "light" };
        push(
            "hide",
            "theme",
            "select",
            Some(json!(v)),
            Some(json!("light")),
            v == "light",
        );
    }
    // Changes along the way are not samples: only the end of each view is.
    for _ in 0..50 {
        push(
            "change",
            "theme",
            "select",
            Some(json!("light")),
            Some(json!("light")),
            true,
        );
    }
    // density: the default wins.
    for i in 0..60 {
        let v = if i < 40 { "comfortable" } else { "compact" };
        push(
            "hide",
            "density",
            "select",
            Some(json!(v)),
            Some(json!("comfortable")),
            v == "comfortable",
        );
    }
    // lang: another value leads, but 10 samples are too few.
    for i in 0..10 {
        let v = if i < 8 { "de" } else { "en" };
        push(
            "hide",
            "lang",
            "select",
            Some(json!(v)),
            Some(json!("en")),
            v == "en",
        );
    }
    // columns: a checkbox group, compared as sets.
    for i in 0..40 {
        let v = if i < 30 {
            json!(["a", "b"])
        } else {
            json!(["a", "c"])
        };
        push(
            "hide",
            "columns",
            "checkbox",
            Some(v.clone()),
            Some(json!(["a", "b"])),
            i < 30,
        );
    }
    // title: a text field, kept or changed only.
    for i in 0..25 {
        push("hide", "title", "text", None, None, i < 20);
    }
    // A custom control: each usagelens.choice call is a sample.
    for i in 0..40 {
        let v = if i < 35 { "red" } else { "blue" };
        push(
            "change",
            "color-picker",
            "custom",
            Some(json!(v)),
            Some(json!("blue")),
            v == "blue",
        );
    }
    let r = env
        .post_json(json!({"app": "demo", "events": events}).to_string())
        .await;
    assert_eq!(r.json["accepted"], events.len(), "{}", r.text);

    let r = report(
        &env,
        &token,
        "defaults",
        json!({"app": "demo", "from": FROM, "to": TO}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["report"], "defaults");
    let controls = r.json["controls"].as_array().unwrap();
    let of = |name: &str| {
        controls
            .iter()
            .find(|c| c["control"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let names: Vec<&str> = controls
        .iter()
        .map(|c| c["control"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "theme",
            "density",
            "color-picker",
            "columns",
            "title",
            "lang"
        ],
        "most samples first"
    );

    let theme = of("theme");
    assert_eq!(theme["samples"], 100, "hide samples only, not the changes");
    assert_eq!(theme["kept_default"], 30);
    assert_eq!(theme["default"], "light");
    assert_eq!(theme["form"], "prefs");
    assert_eq!(
        theme["values"][0],
        json!({"value": "dark", "count": 70, "share": 0.7, "is_default": false})
    );
    let s = &theme["suggestion"];
    assert_eq!(s["value"], "dark");
    assert_eq!(s["share"], 0.7);
    assert_eq!(s["default_share"], 0.3);
    let (lo, _) = wilson95(70.0, 100.0);
    let (_, hi) = wilson95(30.0, 100.0);
    assert!((s["interval"][0].as_f64().unwrap() - lo).abs() < 1e-9 && lo > hi);
    assert!((s["default_interval"][1].as_f64().unwrap() - hi).abs() < 1e-9);

    let density = of("density");
    assert_eq!(
        (
            density["samples"].as_u64(),
            density["kept_default"].as_u64()
        ),
        (Some(60), Some(40))
    );
    assert!(
        density["suggestion"].is_null(),
        "the default wins: no suggestion"
    );
    let lang = of("lang");
    assert_eq!(lang["samples"], 10);
    assert!(
        lang["suggestion"].is_null(),
        "10 samples are too few (min_samples 30)"
    );
    let lang = report(
        &env,
        &token,
        "defaults",
        json!({"app": "demo", "from": FROM, "to": TO, "control": "lang", "min_samples": 5}),
    )
    .await;
    let (lo, _) = wilson95(8.0, 10.0);
    let (_, hi) = wilson95(2.0, 10.0);
    assert_eq!(lang.json["controls"].as_array().unwrap().len(), 1);
    assert_eq!(
        lang.json["controls"][0]["suggestion"].is_null(),
        lo <= hi,
        "a suggestion exactly when the intervals part"
    );

    let columns = of("columns");
    assert_eq!(columns["multi"], true);
    assert_eq!(columns["samples"], 40);
    assert_eq!(columns["kept_default"], 30, "compared as sets");
    let shares: BTreeMap<&str, f64> = columns["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["value"].as_str().unwrap(), v["share"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        shares,
        BTreeMap::from([("a", 1.0), ("b", 0.75), ("c", 0.25)]),
        "the share of samples that include each option"
    );
    assert!(columns["suggestion"].is_null());

    let title = of("title");
    assert_eq!(
        (title["samples"].as_u64(), title["kept_default"].as_u64()),
        (Some(25), Some(20))
    );
    assert_eq!(
        title["values"],
        json!([]),
        "a text field's value is never captured"
    );
    let custom = of("color-picker");
    assert_eq!(custom["samples"], 40);
    assert_eq!(custom["suggestion"]["value"], "red");
    assert_eq!(r.json["suggestions"], 2);
    report(
        &env,
        &token,
        "defaults",
        json!({"app": "demo", "min_samples": 0}),
    )
    .await
    .assert_error(400, "invalid_query", "min_samples");
    env.drop_db().await;
}
