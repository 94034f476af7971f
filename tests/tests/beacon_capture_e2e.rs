//! Capture correctness end to end (issue 11), in headless Chromium against
//! the real collector and store: every event keeps the context it happened
//! in (through a 503 and its retry, and through `sendBeacon`), the limits
//! refuse the call that breaks them and nothing else, a 200's `rejected`
//! counts as refused, hash routes are page views, and `usagelens.choice`
//! stores a custom control like a native one.
//!
//! The beacon sends to a relay on the page's own server, which forwards each
//! batch to the collector and records it, unless the test told it to answer
//! the next one itself (a 503, or a 200 listing a rejected event).

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::browser::{app_and_collector, free_port, stored_events, Browser};
use common::*;
use mongodb::bson::{doc, Bson, Document};
use serde_json::{json, Value};

/// What the relay answers instead of forwarding.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// `503` with `Retry-After: 1`.
    Unavailable,
    /// A `200` that lists the batch's first event as rejected.
    RejectFirst,
}

#[derive(Clone)]
struct Relay {
    collector: String,
    origin: String,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    /// Every batch the beacon sent, as received, with the answer's status.
    seen: Arc<Mutex<Vec<(Value, u16)>>>,
    http: reqwest::Client,
}

async fn relay(State(r): State<Relay>, body: Bytes) -> impl IntoResponse {
    let batch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let fault = r.faults.lock().unwrap().pop_front();
    let mut headers = HeaderMap::new();
    headers.insert("access-control-allow-origin", "*".parse().unwrap());
    let (status, answer) = match fault {
        Some(Fault::Unavailable) => {
            headers.insert("retry-after", "1".parse().unwrap());
            (
                503,
                json!({"error": {"code": "store_unavailable"}}).to_string(),
            )
        }
        Some(Fault::RejectFirst) => {
            let n = batch["events"].as_array().map_or(0, Vec::len);
            let answer = json!({"accepted": n - 1, "duplicates": 0,
                "rejected": [{"index": 0, "error": "refused by the test's relay"}]});
            (200, answer.to_string())
        }
        None => {
            let resp = r
                .http
                .post(format!("{}/v1/batch", r.collector))
                .header("content-type", "text/plain;charset=UTF-8")
                .header("origin", &r.origin)
                .body(body.to_vec())
                .send()
                .await
                .expect("the collector answers");
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    r.seen.lock().unwrap().push((batch, status));
    headers.insert("content-type", "application/json".parse().unwrap());
    (StatusCode::from_u16(status).unwrap(), headers, answer)
}

struct Setup {
    db: mongodb::Database,
    relay: Relay,
    browser: Browser,
    _collector: Collector,
}

/// A collector, the page `html` (with `@@ENDPOINT@@` and `@@KEY@@` filled
/// in) at `/app` beside the relay, and Chromium on it with the beacon loaded.
async fn setup(html: &str) -> Setup {
    assert!(
        std::env::var_os("USAGELENS_BEACON_DIR").is_some(),
        "USAGELENS_BEACON_DIR is not set: `cargo xtask test` builds the beacon and sets it"
    );
    let db_name = unique_db();
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let (app, collector) = app_and_collector(&db_name, &origin, &[]).await;
    let collector_url = format!("http://{}", collector.addr);
    let html = html
        .replace("@@COLLECTOR@@", &collector_url)
        .replace("@@ENDPOINT@@", &format!("{origin}/relay"))
        .replace("@@KEY@@", app["write_key"].as_str().unwrap());
    let relay_state = Relay {
        collector: collector_url,
        origin: origin.clone(),
        faults: Arc::default(),
        seen: Arc::default(),
        http: reqwest::Client::new(),
    };
    let router = axum::Router::new()
        .route(
            "/app",
            axum::routing::get(move || {
                let html = html.clone();
                async move { ([("content-type", "text/html; charset=utf-8")], html) }
            }),
        )
        .route("/relay", axum::routing::post(relay))
        .with_state(relay_state.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let browser = Browser::start().await;
    browser.client.goto(&format!("{origin}/app")).await.unwrap();
    browser.wait_for_beacon().await;
    let db = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&db_name);
    Setup {
        db,
        relay: relay_state,
        browser,
        _collector: collector,
    }
}

impl Setup {
    async fn run(&self, js: &str) -> Value {
        self.browser
            .client
            .execute(js, vec![])
            .await
            .unwrap_or_else(|e| panic!("{js}: {e}"))
    }

    async fn stats(&self) -> Value {
        self.run("return usagelens.stats()").await
    }

    /// Waits until `n` events of `kind` are stored; returns all events, oldest first.
    async fn wait_for(&self, kind: &str, n: usize) -> Vec<Document> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let events = stored_events(&self.db, doc! {"app": "demo"}).await;
            let got = events
                .iter()
                .filter(|e| e.get_str("type") == Ok(kind))
                .count();
            if got >= n {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "{got} of {n} `{kind}` events stored: {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the beacon has heard the answer to every stored event.
    async fn settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stored = stored_events(&self.db, doc! {"app": "demo"}).await.len();
            let s = self.stats().await;
            if s["sent"] == json!(stored) && s["queued"] == json!(0) {
                return;
            }
            assert!(Instant::now() < deadline, "{stored} stored, stats {s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn seen(&self) -> Vec<(Value, u16)> {
        self.relay.seen.lock().unwrap().clone()
    }
}

fn dims(e: &Document) -> &Document {
    e.get_document("dims").unwrap()
}

fn of<'a>(events: &'a [Document], kind: &str) -> Vec<&'a Document> {
    events
        .iter()
        .filter(|e| e.get_str("type") == Ok(kind))
        .collect()
}

/// In the order they happened: the beacon's event ids sort that way.
fn by_id(mut events: Vec<&Document>) -> Vec<&Document> {
    events.sort_by_key(|e| e.get_str("_id").unwrap().to_owned());
    events
}

const PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8">
<script async src="@@COLLECTOR@@/beacon.js" data-app="demo" data-key="@@KEY@@"
  data-endpoint="@@ENDPOINT@@" data-flush-interval="600000" data-flush-at="1000"></script>
</head><body><button data-usage-widget="go" id="go">Go</button></body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_keeps_the_user_and_dimensions_of_its_time_through_retries_and_send_beacon() {
    let t = setup(PAGE).await;
    // The sequence of the issue, then a 503 on the first batch sent.
    t.run(
        "var b = document.getElementById('go');
         usagelens.identify('u-1'); b.click();
         usagelens.identify(null); b.click();
         usagelens.identify('u-2'); b.click();",
    )
    .await;
    t.relay.faults.lock().unwrap().push_back(Fault::Unavailable);
    t.run("usagelens.flush()").await;
    // The 503 pauses delivery for its Retry-After (1 s); the next flush retries.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    t.run("usagelens.flush()").await;
    t.wait_for("click", 3).await;

    // Then a context change right before the page goes away: sendBeacon.
    t.run(
        "var b = document.getElementById('go');
         usagelens.identify('u-3'); b.click();
         usagelens.set('plan', 'pro'); b.click();
         usagelens.unset('plan'); b.click();",
    )
    .await;
    t.browser.client.goto("about:blank").await.unwrap();
    let events = t.wait_for("click", 6).await;

    let clicks = by_id(of(&events, "click"));
    let who: Vec<(Option<&str>, Option<&str>)> = clicks
        .iter()
        .map(|e| (dims(e).get_str("user").ok(), dims(e).get_str("plan").ok()))
        .collect();
    assert_eq!(
        who,
        [
            (Some("u-1"), None),
            (None, None),
            (Some("u-2"), None),
            (Some("u-3"), None),
            (Some("u-3"), Some("pro")),
            (Some("u-3"), None),
        ],
        "each click attributed as it happened"
    );
    let page = of(&events, "page");
    assert_eq!(page.len(), 1);
    assert!(
        dims(page[0]).get_str("user").is_err(),
        "the page view came before identify(): {:?}",
        page[0]
    );
    // Every event once: nothing duplicated by the retry, nothing lost.
    assert_eq!(of(&events, "click").len(), 6, "{events:?}");
    let mut ids: Vec<&str> = events.iter().map(|e| e.get_str("_id").unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), events.len());

    // The relay notes a batch once the collector has answered it, which is
    // after the events are stored: wait for the last answers to be noted.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while t.seen().iter().filter(|(_, s)| *s == 200).count() < 7
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The retried batch is the 503'd one: the same events, the same context.
    let seen = t.seen();
    let (failed, _) = seen
        .iter()
        .find(|(_, status)| *status == 503)
        .expect("a batch met the 503");
    let retried = seen
        .iter()
        .filter(|(b, s)| *s == 200 && b["events"] == failed["events"])
        .map(|(b, _)| b)
        .next()
        .expect("the 503'd batch was sent again");
    assert_eq!(retried["context"], failed["context"]);
    // A batch per context, in the order they happened: the page view and the
    // first three clicks by fetch, the last three by sendBeacon at page hide
    // (the last with what page hide adds: the load breakdown, a memory sample).
    // In the order the events happened (the browser may deliver the
    // sendBeacon bodies in any order; event ids sort by time).
    let mut ok: Vec<&Value> = seen
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(b, _)| b)
        .collect();
    ok.sort_by_key(|b| b["events"][0]["id"].as_str().unwrap_or("").to_owned());
    let delivered: Vec<(Value, Value, Value)> = ok
        .into_iter()
        .map(|b| {
            let c = &b["context"];
            (
                c["user"].clone(),
                c["plan"].clone(),
                b["events"][0]["type"].clone(),
            )
        })
        .collect();
    let (page, click) = (json!("page"), json!("click"));
    assert_eq!(
        delivered,
        [
            (Value::Null, Value::Null, page),
            (json!("u-1"), Value::Null, click.clone()),
            (Value::Null, Value::Null, click.clone()),
            (json!("u-2"), Value::Null, click.clone()),
            (json!("u-3"), Value::Null, click.clone()),
            (json!("u-3"), json!("pro"), click.clone()),
            (json!("u-3"), Value::Null, click),
        ]
    );
    // One event per batch, but for the last context's, which page hide also
    // fills (the load breakdown, the vitals, a memory sample).
    let wide: Vec<&Value> = seen
        .iter()
        .filter(|(b, s)| *s == 200 && b["events"].as_array().unwrap().len() > 1)
        .map(|(b, _)| b)
        .collect();
    assert_eq!(wide.len(), 1, "{wide:?}");
    for e in &wide[0]["events"].as_array().unwrap()[1..] {
        assert!(
            ["load", "timing", "memory"].contains(&e["type"].as_str().unwrap()),
            "{e}"
        );
    }
    t.db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_limits_is_refused_and_counted_and_the_rest_still_goes() {
    let t = setup(PAGE).await;
    let refused_before = t.stats().await["refused"].as_f64().unwrap();
    t.run(
        "for (var i = 0; i < 40; i++) usagelens.set('d' + i, 'v' + i);
         usagelens.set('d40', 'one too many');          // refused: a 41st name
         usagelens.set('d0', 'replaced');               // a name already set: fine
         var props = function (n) { var p = {}; for (var i = 0; i < n; i++) p['p' + i] = i; return p; };
         usagelens.track('too.wide', props(15));        // refused: 15 + page, view + 40 + 8 > 64
         usagelens.track('just.fits', props(14));       // 14 + 2 + 40 + 8 = 64
         usagelens.track('bad.value', {nested: {a: 1}}); // refused: objects are not values
         usagelens.track('bad.metric', {}, {ms: 'fast'}); // refused: not a number
         usagelens.track('bad name', {});               // refused: not a type name
         usagelens.track('ok.nulls', {a: null, b: undefined, c: 'kept'});
         usagelens.flush();",
    )
    .await;
    let events = t.wait_for("ok.nulls", 1).await;
    assert_eq!(
        t.stats().await["refused"].as_f64().unwrap() - refused_before,
        5.0,
        "d40, too.wide, bad.value, bad.metric, bad name"
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.get_str("type").unwrap()).collect();
    assert!(!kinds.contains(&"too.wide") && !kinds.contains(&"bad.value"));
    let fits = of(&events, "just.fits");
    assert_eq!(
        fits.len(),
        1,
        "the event at exactly 64 dimensions is stored"
    );
    let d = dims(fits[0]);
    assert_eq!(d.get_str("d0").unwrap(), "replaced");
    assert_eq!(d.get_str("d39").unwrap(), "v39");
    assert!(d.get("d40").is_none());
    assert_eq!(d.get_i64("p13").unwrap(), 13);
    let nulls = dims(of(&events, "ok.nulls")[0]);
    assert_eq!(nulls.get_str("c").unwrap(), "kept");
    assert!(nulls.get("a").is_none() && nulls.get("b").is_none());
    // Nothing the collector refused: every batch was a 200.
    assert!(t.seen().iter().all(|(_, s)| *s == 200), "{:?}", t.seen());

    // A 200 that lists an event as rejected: refused, not sent.
    t.settled().await;
    let before = t.stats().await;
    t.relay.faults.lock().unwrap().push_back(Fault::RejectFirst);
    t.run("usagelens.track('a', {}); usagelens.track('b', {}); usagelens.flush();")
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let s = t.stats().await;
        if s["sent"] != before["sent"] {
            break s;
        }
        assert!(Instant::now() < deadline, "the batch was not answered: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let delta = |k: &str| after[k].as_f64().unwrap() - before[k].as_f64().unwrap();
    assert_eq!(delta("sent"), 1.0, "{before} -> {after}");
    assert_eq!(delta("refused"), 1.0, "{before} -> {after}");
    assert_eq!(after["queued"], json!(0));
    t.db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_routes_are_page_views_and_custom_controls_are_choices() {
    let t = setup(PAGE).await;
    t.run(
        "location.hash = '#details';            // an anchor, not a route
         return new Promise(function (r) { setTimeout(r, 50); })",
    )
    .await;
    t.run(
        "location.hash = '#/settings';
         return new Promise(function (r) { setTimeout(r, 50); })",
    )
    .await;
    t.run(
        "location.hash = '#!/reports/7';
         return new Promise(function (r) { setTimeout(r, 50); })",
    )
    .await;
    let refused_before = t.stats().await["refused"].as_f64().unwrap();
    t.run(
        "usagelens.choice('theme-picker', 'dark', 'light', {form: 'prefs'});
         usagelens.choice(' columns ', ['a', 'b'], ['a', 'b']);
         usagelens.choice('', 'x', 'y');                 // refused: no control name
         usagelens.choice('broken', {not: 'a value'}, 'y'); // refused: not a value
         usagelens.choice('nothing');                    // refused: no value
         usagelens.flush();",
    )
    .await;
    let events = t.wait_for("choice", 2).await;
    assert_eq!(
        t.stats().await["refused"].as_f64().unwrap() - refused_before,
        3.0
    );
    let pages: Vec<&str> = by_id(of(&events, "page"))
        .iter()
        .map(|e| dims(e).get_str("page").unwrap())
        .collect();
    assert_eq!(pages, ["/app", "/app#/settings", "/app#!/reports/7"]);
    let choices = by_id(of(&events, "choice"));
    assert_eq!(choices.len(), 2, "{events:?}");
    let c = dims(choices[0]);
    assert_eq!(c.get_str("control").unwrap(), "theme-picker");
    assert_eq!(c.get_str("control_type").unwrap(), "custom");
    assert_eq!(c.get_str("value").unwrap(), "dark");
    assert_eq!(c.get_str("default").unwrap(), "light");
    assert!(!c.get_bool("is_default").unwrap());
    assert_eq!(c.get_str("form").unwrap(), "prefs");
    assert_eq!(c.get_str("trigger").unwrap(), "change");
    assert_eq!(c.get_str("page").unwrap(), "/app#!/reports/7");
    let multi = dims(choices[1]);
    assert_eq!(multi.get_str("control").unwrap(), "columns");
    assert_eq!(
        multi.get_array("value").unwrap(),
        &vec![Bson::from("a"), Bson::from("b")]
    );
    assert!(multi.get_bool("is_default").unwrap());
    assert!(multi.get("form").is_none());
    t.db.drop().await.unwrap();
}
