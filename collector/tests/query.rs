//! `POST /v1/query` against the real local store, over a generated data set
//! whose answers the test computes on its own, not through the engine.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::{json, Value};
use usagelens_collector::apps;

const WIDGETS: &[&str] = &["export-csv", "refresh", "share", "archive"];
const ROLES: &[&[&str]] = &[
    &["admin", "dev"],
    &["dev"],
    &[],
    &["admin", "admin"],
    &["viewer"],
];
/// 2026-03-28T12:00:00Z: the day before Europe/Berlin moves to summer time.
const T0: i64 = 1_774_699_200_000;

#[derive(Debug, Clone)]
struct Ev {
    id: String,
    kind: &'static str,
    ts: i64,
    widget: &'static str,
    roles: Option<Vec<&'static str>>,
    user: Option<String>,
    anon: String,
    session: String,
    duration: f64,
}

fn dataset() -> Vec<Ev> {
    let mut seed: u64 = 7;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    (0..240)
        .map(|i| {
            let r = next(5) as usize;
            Ev {
                id: format!("q{i}"),
                kind: if next(4) == 0 { "page" } else { "click" },
                // Spread over 48 hours from T0, across the DST change.
                ts: T0 + (next(48 * 60) as i64) * 60_000,
                widget: WIDGETS[next(4) as usize],
                roles: if r == 4 && i % 2 == 0 {
                    None
                } else {
                    Some(ROLES[r].to_vec())
                },
                user: if next(3) == 0 {
                    None
                } else {
                    Some(format!("u{}", next(7)))
                },
                anon: format!("a{}", next(9)),
                session: format!("s{}", next(12)),
                duration: (next(1000) as f64) / 10.0,
            }
        })
        .collect()
}

async fn load(env: &TestEnv, evs: &[Ev]) {
    for chunk in evs.chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .map(|e| {
                let mut props = json!({"widget": e.widget, "anon": e.anon, "session": e.session});
                if let Some(r) = &e.roles {
                    props["roles"] = json!(r);
                }
                if let Some(u) = &e.user {
                    props["user"] = json!(u);
                }
                json!({"id": e.id, "type": e.kind, "ts": e.ts, "props": props, "metrics": {"duration_ms": e.duration}})
            })
            .collect();
        let r = env
            .post_json(json!({"app": "demo", "events": events}).to_string())
            .await;
        assert_eq!(r.json["accepted"], chunk.len(), "{}", r.text);
    }
}

async fn query(env: &TestEnv, token: &str, q: Value) -> Resp {
    env.send(
        Request::post("/v1/query")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(q.to_string()))
            .unwrap(),
    )
    .await
}

fn rows(r: &Resp) -> Vec<Vec<Value>> {
    assert_eq!(r.status, 200, "{}", r.text);
    serde_json::from_value(r.json["rows"].clone()).unwrap()
}

#[tokio::test]
async fn group_filter_measure_and_order_over_any_dimension() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let evs = dataset();
    load(&env, &evs).await;
    let clicks: Vec<&Ev> = evs.iter().filter(|e| e.kind == "click").collect();

    // Top widgets by clicks.
    let r = query(
        &env,
        &token,
        json!({"app": "demo", "types": ["click"], "group_by": ["widget"],
        "measures": ["count"], "order_by": [{"by": "count", "desc": true}], "limit": 2}),
    )
    .await;
    assert_eq!(r.json["columns"], json!(["widget", "count"]));
    let mut want: Vec<(i64, &str)> = WIDGETS
        .iter()
        .map(|w| (clicks.iter().filter(|e| e.widget == *w).count() as i64, *w))
        .collect();
    want.sort_by(|a, b| b.cmp(a));
    let got = rows(&r);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0][1], json!(want[0].0));
    assert_eq!(got[1][1], json!(want[1].0));

    // A multi-valued dimension: one row per distinct value an event holds; no value: the null group.
    let r = query(&env, &token, json!({"app": "demo", "group_by": ["roles"]})).await;
    let got: BTreeMap<String, i64> = rows(&r)
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap_or("<null>").to_owned(),
                row[1].as_i64().unwrap(),
            )
        })
        .collect();
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for e in &evs {
        let distinct: BTreeSet<&str> = e.roles.iter().flatten().copied().collect();
        if distinct.is_empty() {
            *want.entry("<null>".into()).or_default() += 1;
        }
        for r in distinct {
            *want.entry(r.into()).or_default() += 1;
        }
    }
    assert_eq!(got, want);

    // Users (user, else anon) and sessions, per type.
    let r = query(&env, &token, json!({"app": "demo", "group_by": ["widget"], "types": ["click"],
        "measures": ["users", "sessions", {"fn": "sum", "of": "duration_ms"}, {"fn": "max", "of": "duration_ms"}],
        "order_by": [{"by": "widget"}]})).await;
    assert_eq!(
        r.json["columns"],
        json!([
            "widget",
            "users",
            "sessions",
            "sum_duration_ms",
            "max_duration_ms"
        ])
    );
    for row in rows(&r) {
        let w = row[0].as_str().unwrap();
        let of: Vec<&&Ev> = clicks.iter().filter(|e| e.widget == w).collect();
        let users: HashSet<String> = of
            .iter()
            .map(|e| e.user.clone().unwrap_or_else(|| e.anon.clone()))
            .collect();
        let sessions: HashSet<&str> = of.iter().map(|e| e.session.as_str()).collect();
        assert_eq!(row[1], json!(users.len()), "{w}");
        assert_eq!(row[2], json!(sessions.len()), "{w}");
        let sum: f64 = of.iter().map(|e| e.duration).sum();
        assert!((row[3].as_f64().unwrap() - sum).abs() < 1e-6, "{w}");
        let max = of.iter().map(|e| e.duration).fold(0.0, f64::max);
        assert_eq!(row[4].as_f64().unwrap(), max);
    }

    // Percentiles, within a stated tolerance (approximate: 2% of the range).
    let r = query(&env, &token, json!({"app": "demo", "measures": [{"fn": "p95", "of": "duration_ms"}, {"fn": "p50", "of": "duration_ms"}]})).await;
    let got = rows(&r);
    let mut d: Vec<f64> = evs.iter().map(|e| e.duration).collect();
    d.sort_by(f64::total_cmp);
    let exact = |p: f64| d[((p * d.len() as f64).ceil() as usize).saturating_sub(1)];
    assert!(
        (got[0][0].as_f64().unwrap() - exact(0.95)).abs() <= 2.0,
        "p95 {} vs {}",
        got[0][0],
        exact(0.95)
    );
    assert!(
        (got[0][1].as_f64().unwrap() - exact(0.5)).abs() <= 2.0,
        "p50 {} vs {}",
        got[0][1],
        exact(0.5)
    );
    env.drop_db().await;
}

#[tokio::test]
async fn every_operator() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let evs = dataset();
    load(&env, &evs).await;
    let count = |q: Value| {
        let env = &env;
        let token = token.clone();
        async move {
            let r = query(env, &token, q).await;
            rows(&r).first().map_or(0, |row| row[0].as_i64().unwrap())
        }
    };
    let with = |f: Value| json!({"app": "demo", "where": [f]});
    let n = |p: &dyn Fn(&Ev) -> bool| evs.iter().filter(|e| p(e)).count() as i64;
    let has_role = |e: &Ev, r: &str| e.roles.iter().flatten().any(|x| *x == r);
    assert_eq!(
        count(with(json!({"dim": "widget", "op": "eq", "value": "share"}))).await,
        n(&|e| e.widget == "share")
    );
    assert_eq!(
        count(with(json!({"dim": "widget", "op": "ne", "value": "share"}))).await,
        n(&|e| e.widget != "share")
    );
    assert_eq!(
        count(with(
            json!({"dim": "widget", "op": "in", "value": ["share", "refresh"]})
        ))
        .await,
        n(&|e| matches!(e.widget, "share" | "refresh"))
    );
    assert_eq!(
        count(with(
            json!({"dim": "widget", "op": "nin", "value": ["share", "refresh"]})
        ))
        .await,
        n(&|e| !matches!(e.widget, "share" | "refresh"))
    );
    assert_eq!(
        count(with(
            json!({"metric": "duration_ms", "op": "gt", "value": 50})
        ))
        .await,
        n(&|e| e.duration > 50.0)
    );
    assert_eq!(
        count(with(
            json!({"metric": "duration_ms", "op": "gte", "value": 50})
        ))
        .await,
        n(&|e| e.duration >= 50.0)
    );
    assert_eq!(
        count(with(
            json!({"metric": "duration_ms", "op": "lt", "value": 10.5})
        ))
        .await,
        n(&|e| e.duration < 10.5)
    );
    assert_eq!(
        count(with(
            json!({"metric": "duration_ms", "op": "lte", "value": 10.5})
        ))
        .await,
        n(&|e| e.duration <= 10.5)
    );
    assert_eq!(
        count(with(json!({"dim": "user", "op": "exists", "value": false}))).await,
        n(&|e| e.user.is_none())
    );
    assert_eq!(
        count(with(
            json!({"dim": "roles", "op": "contains", "value": "admin"})
        ))
        .await,
        n(&|e| has_role(e, "admin"))
    );
    // Time range, half-open.
    let from = T0 + 6 * 3_600_000;
    let to = T0 + 30 * 3_600_000;
    let q = json!({"app": "demo", "from": from, "to": to});
    assert_eq!(count(q).await, n(&|e| e.ts >= from && e.ts < to));
    env.drop_db().await;
}

#[tokio::test]
async fn day_buckets_in_a_named_time_zone_across_a_daylight_saving_change() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let evs = dataset();
    load(&env, &evs).await;
    let r = query(
        &env,
        &token,
        json!({"app": "demo", "interval": "day", "tz": "Europe/Berlin", "measures": ["count"]}),
    )
    .await;
    assert_eq!(r.json["columns"], json!(["bucket", "count"]));
    // Berlin: UTC+1 until 2026-03-29T01:00Z, UTC+2 after.
    let dst = 1_774_746_000_000_i64; // 2026-03-29T01:00:00Z
    let local_day = |ts: i64| {
        let offset = if ts < dst { 3_600_000 } else { 7_200_000 };
        (ts + offset).div_euclid(86_400_000)
    };
    let mut want: BTreeMap<i64, i64> = BTreeMap::new();
    for e in &evs {
        *want.entry(local_day(e.ts)).or_default() += 1;
    }
    let got = rows(&r);
    assert_eq!(got.len(), want.len());
    for (row, (day, n)) in got.iter().zip(&want) {
        assert_eq!(row[1], json!(n));
        // The bucket is local midnight, as an instant.
        let bucket = usagelens_protocol::Timestamp::parse_rfc3339(row[0].as_str().unwrap())
            .unwrap()
            .as_millis();
        assert_eq!(local_day(bucket), *day);
        assert_eq!(
            (bucket + if bucket < dst { 3_600_000 } else { 7_200_000 }) % 86_400_000,
            0,
            "{row:?}"
        );
    }
    env.drop_db().await;
}

#[tokio::test]
async fn auth_and_hostile_names() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let other = apps::create(&env.store, "other", &[]).await.unwrap();
    let ok = json!({"app": "demo"});
    let r = env
        .send(
            Request::post("/v1/query")
                .header("content-type", "application/json")
                .body(Body::from(ok.to_string()))
                .unwrap(),
        )
        .await;
    r.assert_error(401, "unauthorized", "Bearer");
    query(&env, "rt_nope", ok.clone()).await.assert_error(
        401,
        "unauthorized",
        "unknown read token",
    );
    query(&env, &other.read_token, ok.clone())
        .await
        .assert_error(403, "forbidden", "not valid for app `demo`");
    assert_eq!(query(&env, &token, ok).await.status, 200);
    let bad = [
        (
            json!({"app": "demo", "group_by": ["$where"]}),
            "group_by[0]",
        ),
        (
            json!({"app": "demo", "group_by": ["dims.user"]}),
            "group_by[0]",
        ),
        (
            json!({"app": "demo", "group_by": ["a", "a"]}),
            "appears twice",
        ),
        (
            json!({"app": "demo", "where": [{"dim": "$gt", "op": "eq", "value": 1}]}),
            "where[0].dim",
        ),
        (
            json!({"app": "demo", "where": [{"dim": "a", "op": "$where", "value": 1}]}),
            "where[0].op",
        ),
        (
            json!({"app": "demo", "where": [{"dim": "a", "op": "eq", "value": {"$ne": null}}]}),
            "where[0]",
        ),
        (
            json!({"app": "demo", "where": [{"dim": "a", "metric": "b", "op": "eq", "value": 1}]}),
            "exactly one",
        ),
        (
            json!({"app": "demo", "where": [{"dim": "a", "op": "in", "value": "x"}]}),
            "takes an array",
        ),
        (
            json!({"app": "demo", "measures": [{"fn": "sum", "of": "x.y"}]}),
            "measures[0].of",
        ),
        (
            json!({"app": "demo", "measures": [{"fn": "$accumulator", "of": "x"}]}),
            "measures[0].fn",
        ),
        (
            json!({"app": "demo", "measures": ["everything"]}),
            "measures[0]",
        ),
        (
            json!({"app": "demo", "order_by": [{"by": "$natural"}]}),
            "order_by[0].by",
        ),
        (json!({"app": "demo", "interval": "fortnight"}), "interval"),
        (json!({"app": "demo", "interval": "day", "tz": "$x"}), "tz"),
        (json!({"app": "demo", "types": ["$where"]}), "types"),
        (json!({"app": "demo", "limit": 0}), "limit"),
        (json!({"app": "demo", "extra": 1}), "unknown field"),
        (json!({"app": "demo", "from": "yesterday"}), "from: "),
        (json!({"app": "demo", "to": {"$gt": 1}}), "to: "),
        (json!({"app": "demo", "limit": "all"}), "limit: "),
        (
            json!({"app": "demo", "order_by": [{"by": "count", "desc": "yes"}]}),
            "order_by[0].desc: ",
        ),
    ];
    for (q, part) in bad {
        query(&env, &token, q.clone())
            .await
            .assert_error(400, "invalid_query", part);
    }
    env.drop_db().await;
}

#[tokio::test]
async fn the_dimension_catalog_lists_and_hides_names() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let body = json!({"app": "demo", "context": {"plan": "pro"}, "events": [
        {"id": "c1", "type": "click", "ts": T0, "props": {"widget": "w", "roles": ["a"]}, "metrics": {"duration_ms": 3}},
        {"id": "c2", "type": "page", "ts": T0 + 60_000, "props": {"widget": 7}},
    ]});
    assert_eq!(env.post_json(body.to_string()).await.status, 200);
    let get = |t: String| {
        env.send(
            Request::get("/v1/dimensions?app=demo")
                .header("authorization", format!("Bearer {t}"))
                .body(Body::empty())
                .unwrap(),
        )
    };
    let r = get(token.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<(String, String)> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("duration_ms".into(), "metric".into()),
            ("plan".into(), "dimension".into()),
            ("roles".into(), "dimension".into()),
            ("widget".into(), "dimension".into()),
        ]
    );
    let widget = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "widget")
        .unwrap();
    assert_eq!(widget["kinds"], json!(["number", "string"]));
    assert_eq!(widget["types"], json!(["click", "page"]));
    assert_eq!(widget["first_seen"], "2026-03-28T12:00:00.000Z");
    assert_eq!(widget["last_seen"], "2026-03-28T12:01:00.000Z");

    let hide = |name: &str, t: &str| {
        env.send(
            Request::post(format!("/v1/dimensions/{name}/hide?app=demo"))
                .header("authorization", format!("Bearer {t}"))
                .body(Body::empty())
                .unwrap(),
        )
    };
    assert_eq!(hide("plan", &token).await.status, 200);
    hide("nope", &token)
        .await
        .assert_error(400, "invalid_query", "no dimension or metric `nope`");
    hide("$where", &token)
        .await
        .assert_error(400, "invalid_query", "not a valid name");
    hide("plan", "rt_bad")
        .await
        .assert_error(401, "unauthorized", "unknown read token");
    let r = get(token.clone()).await;
    assert!(
        !r.text.contains("\"plan\""),
        "hidden from the catalog: {}",
        r.text
    );
    // The data is untouched, and a new sighting does not bring it back.
    env.post_json(
        json!({"app": "demo", "events": [{"id": "c3", "type": "x", "props": {"plan": "free"}}]})
            .to_string(),
    )
    .await;
    assert!(!get(token.clone()).await.text.contains("\"plan\""));
    let q = query(
        &env,
        &token,
        json!({"app": "demo", "where": [{"dim": "plan", "op": "exists", "value": true}]}),
    )
    .await;
    assert_eq!(rows(&q)[0][0], json!(3));
    get("rt_bad".into())
        .await
        .assert_error(401, "unauthorized", "unknown read token");
    env.drop_db().await;
}

/// The server-side time limit (`--query-timeout`, MongoDB's `maxTimeMS`):
/// the same query over the same events answers with the default limit and
/// is a 422 that says what to narrow with a 1 ms limit.
#[tokio::test]
async fn a_query_over_the_time_limit_is_a_422_that_says_what_to_narrow() {
    use std::time::Duration;
    use usagelens_collector::config::ServeConfig;
    use usagelens_collector::{app, AppState};

    let env = TestEnv::with_config(ServeConfig {
        rate_limit_ip: 0,
        rate_limit_app: 0,
        query_timeout: Duration::from_millis(1),
        ..ServeConfig::default()
    })
    .await;
    let token = env.app.read_token.clone();
    let evs: Vec<Ev> = (0..5)
        .flat_map(|_| dataset())
        .enumerate()
        .map(|(i, mut e)| {
            e.id = format!("t{i}");
            e
        })
        .collect();
    assert_eq!(evs.len(), 1200);
    load(&env, &evs).await;
    let q = json!({"app": "demo", "group_by": ["widget", "roles"],
        "measures": ["count", {"fn": "avg", "of": "duration_ms"}]});

    // With the default limit (30 s), the query answers.
    let state = AppState::new(env.store.clone(), ServeConfig::default());
    let relaxed = TestEnv {
        router: app(state.clone()),
        state,
        store: env.store.clone(),
        app: env.app.clone(),
    };
    let r = query(&relaxed, &token, q.clone()).await;
    // One row per widget and role; an event counts once per distinct role.
    let counted: i64 = rows(&r).iter().map(|row| row[2].as_i64().unwrap()).sum();
    assert!(counted >= 1200, "{}", r.text);

    // With 1 ms, it runs over.
    let r = query(&env, &token, q).await;
    r.assert_error(422, "query_too_slow", "ran over the server's 1ms limit");
    for what in [
        "narrow `from`/`to`",
        "add `types` or filters",
        "group by fewer dimensions",
    ] {
        assert!(r.message().contains(what), "{what}: {}", r.message());
    }
    env.drop_db().await;
}

#[tokio::test]
async fn the_event_type_groups_and_filters_like_a_dimension() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let evs = dataset();
    load(&env, &evs).await;
    let mut expected: Vec<(String, u64)> = ["click", "page"]
        .iter()
        .map(|k| {
            (
                k.to_string(),
                evs.iter().filter(|e| e.kind == *k).count() as u64,
            )
        })
        .collect();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let r = query(
        &env,
        &token,
        json!({"app": "demo", "group_by": ["type"], "order_by": [{"by": "count", "desc": true}]}),
    )
    .await;
    let got: Vec<(String, u64)> = rows(&r)
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_owned(),
                row[1].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(r.json["columns"], json!(["type", "count"]));

    let pages = evs.iter().filter(|e| e.kind == "page").count() as u64;
    let r = query(
        &env,
        &token,
        json!({"app": "demo", "where": [{"dim": "type", "op": "eq", "value": "page"}]}),
    )
    .await;
    assert_eq!(rows(&r), vec![vec![json!(pages)]]);
    env.drop_db().await;
}

#[tokio::test]
async fn the_read_api_allows_browsers_on_any_origin_with_a_token() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    // The preflight a browser sends before a query with a Bearer token.
    let r = env
        .send(
            Request::builder()
                .method("OPTIONS")
                .uri("/v1/query")
                .header("origin", "https://dashboards.example.com")
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let allowed = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    // The answer itself, readable by the page; the export's paging header exposed.
    let r = env
        .send(
            Request::get("/v1/events?app=demo&limit=1")
                .header("origin", "https://dashboards.example.com")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let exposed = r
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("usagelens-next-cursor"), "{exposed}");
    // Still nothing without the token.
    let r = env
        .send(
            Request::get("/v1/events?app=demo")
                .header("origin", "https://evil.example.com")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 401);
    env.drop_db().await;
}

#[tokio::test]
async fn hour_and_weekday_group_and_filter_in_the_query_time_zone() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let evs = dataset();
    load(&env, &evs).await;
    // Berlin: UTC+1 until 2026-03-29T01:00Z, UTC+2 after.
    let dst = 1_774_746_000_000_i64;
    let local = |ts: i64| ts + if ts < dst { 3_600_000 } else { 7_200_000 };
    let hour = |ts: i64| local(ts).rem_euclid(86_400_000) / 3_600_000;
    // 1970-01-01 was a Thursday (ISO 4).
    let weekday = |ts: i64| (local(ts).div_euclid(86_400_000) + 3).rem_euclid(7) + 1;

    let mut want: BTreeMap<(i64, i64), u64> = BTreeMap::new();
    for e in &evs {
        *want.entry((weekday(e.ts), hour(e.ts))).or_default() += 1;
    }
    let r = query(
        &env,
        &token,
        json!({"app": "demo", "group_by": ["weekday", "hour"], "tz": "Europe/Berlin",
               "order_by": [{"by": "weekday"}, {"by": "hour"}]}),
    )
    .await;
    assert_eq!(r.json["columns"], json!(["weekday", "hour", "count"]));
    let got: Vec<((i64, i64), u64)> = rows(&r)
        .iter()
        .map(|row| {
            (
                (row[0].as_i64().unwrap(), row[1].as_i64().unwrap()),
                row[2].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want.into_iter().collect::<Vec<_>>());
    let days: BTreeSet<i64> = evs.iter().map(|e| weekday(e.ts)).collect();
    assert_eq!(
        days,
        BTreeSet::from([1, 6, 7]),
        "Saturday noon to Monday noon (UTC)"
    );

    // A workday morning in Berlin: Monday to Friday, 09:00 to 12:00.
    let morning = evs
        .iter()
        .filter(|e| (1..=5).contains(&weekday(e.ts)) && (9..12).contains(&hour(e.ts)))
        .count();
    assert!(morning > 0);
    let r = query(
        &env,
        &token,
        json!({"app": "demo", "tz": "Europe/Berlin", "where": [
            {"dim": "weekday", "op": "in", "value": [1, 2, 3, 4, 5]},
            {"dim": "hour", "op": "gte", "value": 9},
            {"dim": "hour", "op": "lt", "value": 12}]}),
    )
    .await;
    assert_eq!(rows(&r), vec![vec![json!(morning)]]);
    // The same hours in UTC are other events.
    let utc_morning = evs
        .iter()
        .filter(|e| {
            let h = e.ts.rem_euclid(86_400_000) / 3_600_000;
            (9..12).contains(&h) && e.ts >= T0 + 36 * 3_600_000
        })
        .count();
    let r = query(
        &env,
        &token,
        json!({"app": "demo", "where": [
            {"dim": "weekday", "op": "nin", "value": [6, 7]},
            {"dim": "hour", "op": "gte", "value": 9},
            {"dim": "hour", "op": "lt", "value": 12}]}),
    )
    .await;
    assert_eq!(rows(&r), vec![vec![json!(utc_morning)]]);

    for (filter, what) in [
        (
            json!({"dim": "hour", "op": "eq", "value": 24}),
            "where[0]: `hour` is a whole number from 0 to 23",
        ),
        (
            json!({"dim": "weekday", "op": "eq", "value": "Mon"}),
            "1 is Monday",
        ),
        (
            json!({"dim": "hour", "op": "in", "value": 3}),
            "where[0]: `in` takes an array",
        ),
        (
            json!({"dim": "weekday", "op": "gt", "value": 2.5}),
            "from 1 to 7",
        ),
    ] {
        let r = query(&env, &token, json!({"app": "demo", "where": [filter]})).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.message().contains(what), "{what}: {}", r.message());
    }
    env.drop_db().await;
}

#[tokio::test]
async fn first_seen_and_last_seen_are_the_groups_earliest_and_latest_event_times() {
    let env = TestEnv::new().await;
    let token = env.app.read_token.clone();
    let evs = dataset();
    load(&env, &evs).await;
    let mut want: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for e in &evs {
        let w = want.entry(e.widget).or_insert((e.ts, e.ts));
        w.0 = w.0.min(e.ts);
        w.1 = w.1.max(e.ts);
    }
    let r = query(
        &env,
        &token,
        json!({"app": "demo", "group_by": ["widget"], "measures": ["first_seen", "last_seen"],
               "order_by": [{"by": "widget"}]}),
    )
    .await;
    assert_eq!(
        r.json["columns"],
        json!(["widget", "first_seen", "last_seen"])
    );
    let rfc = |ms: i64| usagelens_protocol::Timestamp::from_millis(ms).to_rfc3339();
    let got = rows(&r);
    let expected: Vec<Vec<Value>> = want
        .iter()
        .map(|(w, (a, b))| vec![json!(w), json!(rfc(*a)), json!(rfc(*b))])
        .collect();
    assert_eq!(got, expected);
    env.drop_db().await;
}
