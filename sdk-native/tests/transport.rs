//! The SDK's transport and tower layer against a recording HTTP endpoint
//! that answers as told (200, 503 with Retry-After, 400), so batching,
//! retries and what each request carried can be asserted exactly. The real
//! collector and store are exercised end to end in `tests/`.

mod common;

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use common::{events, flush, options, recorder, recorder_with};
use serde_json::Value;
use tower::ServiceExt;
use usagelens::{Client, Dims, FlushError, Metrics, TimedJson, UsageLensLayer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_by_size_and_on_flush_with_the_right_body() {
    let (r, url) = recorder(vec![200]).await;
    let mut o = options(&url);
    o.batch_size = 3;
    let c = Client::new(o).unwrap();
    for i in 0..7 {
        c.track(
            "http",
            Dims::new().with("route", "/users/{id}").with("i", i),
            Metrics::new().with("duration_ms", 1.5),
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        r.batches.lock().unwrap().len(),
        2,
        "two full batches of 3 went at once"
    );
    flush(&c).await;
    let batches = r.batches.lock().unwrap().clone();
    assert_eq!(
        batches
            .iter()
            .map(|b| b["events"].as_array().unwrap().len())
            .collect::<Vec<_>>(),
        [3, 3, 1]
    );
    assert_eq!(batches[0]["app"], "shop");
    assert_eq!(batches[0]["key"], "wk_test");
    assert!(batches[0]["sent_at"].is_string());
    let evs = events(&r);
    let mut ids: Vec<&str> = evs.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);
    assert_eq!(evs[0]["props"]["route"], "/users/{id}");
    assert_eq!(evs[0]["metrics"]["duration_ms"], 1.5);
    assert_eq!(c.stats().sent, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_by_interval() {
    let (r, url) = recorder(vec![200]).await;
    let mut o = options(&url);
    o.flush_interval = Duration::from_millis(100);
    let c = Client::new(o).unwrap();
    c.track("page", Dims::new(), Metrics::new());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        events(&r).len(),
        1,
        "a partial batch goes out after the interval"
    );
}

async fn paused_then_delivered_once(status: u16) {
    let (r, url) = recorder(vec![status, 200]).await;
    let c = Client::new(options(&url)).unwrap();
    c.track("x", Dims::new(), Metrics::new());
    let t = Instant::now();
    flush(&c).await;
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{status}: Retry-After: 1 honoured ({:?})",
        t.elapsed()
    );
    let b = r.batches.lock().unwrap().clone();
    assert_eq!(b.len(), 2, "{status}");
    assert_eq!(
        b[0]["events"][0]["id"], b[1]["events"][0]["id"],
        "the retry carries the same id"
    );
    let s = c.stats();
    assert_eq!((s.sent, s.pending(), s.dropped_undeliverable), (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_503_then_delivered_once() {
    paused_then_delivered_once(503).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_429_then_delivered_once() {
    paused_then_delivered_once(429).await;
}

/// `flush` or `shutdown` with `timeout`, from async code; the answer and how long it took.
async fn timed(
    c: &Client,
    call: fn(&Client, Duration) -> Result<(), FlushError>,
    timeout: Duration,
) -> (Result<(), FlushError>, Duration) {
    let c = c.clone();
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        (call(&c, timeout), t.elapsed())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_pause_bounds_flush_and_shutdown_and_what_is_left_is_counted() {
    let (r, url) = recorder_with(vec![503], "60").await;
    let c = Client::new(options(&url)).unwrap();
    for _ in 0..3 {
        c.track("x", Dims::new(), Metrics::new());
    }
    let half_a_second = Duration::from_millis(500);
    let (answer, took) = timed(&c, Client::flush, half_a_second).await;
    assert_eq!(answer, Err(FlushError::Timeout));
    assert!(took < Duration::from_secs(1), "flush bounded: {took:?}");
    assert_eq!(
        r.batches.lock().unwrap().len(),
        1,
        "Retry-After: 60 honoured"
    );
    let s = c.stats();
    assert_eq!(
        (s.pending(), s.sent, s.dropped_undeliverable),
        (3, 0, 0),
        "{s:?}"
    );
    // A second flush while paused: bounded too, the events still there.
    let (answer, took) = timed(&c, Client::flush, Duration::from_millis(100)).await;
    assert_eq!(answer, Err(FlushError::Timeout));
    assert!(took < Duration::from_millis(600), "{took:?}");
    assert_eq!(c.stats().pending(), 3);

    let (answer, took) = timed(&c, Client::shutdown, half_a_second).await;
    assert_eq!(answer, Err(FlushError::Timeout));
    assert!(took < Duration::from_secs(1), "shutdown bounded: {took:?}");
    let s = c.stats();
    assert_eq!(
        (s.dropped_at_shutdown, s.pending(), s.sent),
        (3, 0, 0),
        "what was left is counted: {s:?}"
    );
    assert_eq!(
        r.batches.lock().unwrap().len(),
        1,
        "never sent during the pause"
    );
    assert_eq!(
        c.shutdown(half_a_second),
        Err(FlushError::AlreadyShutdown),
        "the worker stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_not_paused_forever_it_is_dropped_after_max_retries() {
    let (r, url) = recorder(vec![503]).await;
    let mut o = options(&url);
    o.max_retries = 2;
    let c = Client::new(o).unwrap();
    c.track("x", Dims::new(), Metrics::new());
    c.track("y", Dims::new(), Metrics::new());
    let (answer, took) = timed(&c, Client::flush, Duration::from_secs(10)).await;
    assert_eq!(answer, Ok(()), "nothing left: dropped and counted");
    assert!(
        took >= Duration::from_millis(1900),
        "two pauses of 1 s: {took:?}"
    );
    assert_eq!(
        r.batches.lock().unwrap().len(),
        3,
        "one attempt and 2 retries"
    );
    let s = c.stats();
    assert_eq!(
        (s.dropped_undeliverable, s.pending(), s.sent),
        (2, 0, 0),
        "{s:?}"
    );
    // The worker goes on with the next batch.
    r.batches.lock().unwrap().clear();
    c.track("z", Dims::new(), Metrics::new());
    let (answer, _) = timed(&c, Client::flush, Duration::from_millis(200)).await;
    assert_eq!(answer, Err(FlushError::Timeout), "paused again");
    assert_eq!(r.batches.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_is_dropped_and_counted_and_invalid_events_never_leave() {
    let (r, url) = recorder(vec![400]).await;
    let c = Client::new(options(&url)).unwrap();
    c.track("x", Dims::new(), Metrics::new());
    c.track("Bad Type", Dims::new(), Metrics::new());
    c.track("y", Dims::new().with("a.b", 1), Metrics::new());
    c.track("z", Dims::new(), Metrics::new().with("m", f64::NAN));
    flush(&c).await;
    let s = c.stats();
    assert_eq!((s.dropped_undeliverable, s.invalid, s.sent), (1, 3, 0));
    assert_eq!(r.batches.lock().unwrap().len(), 1, "no retry of a 400");
}

#[test]
fn the_queue_is_bounded_and_recording_never_blocks_when_the_collector_is_down() {
    // A port nobody listens on; no tokio in this host thread.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut o = options(&format!("http://127.0.0.1:{port}"));
    o.queue_capacity = 100;
    o.batch_size = 10;
    o.max_retries = 1;
    let c = Client::new(o).unwrap();
    let t = Instant::now();
    for _ in 0..100_000 {
        c.track(
            "http",
            Dims::new().with("route", "/x"),
            Metrics::new().with("duration_ms", 1.0),
        );
    }
    let per_call = t.elapsed() / 100_000;
    assert!(
        per_call < Duration::from_micros(50),
        "recording never waits for the collector: {per_call:?}"
    );
    let s = c.stats();
    assert!(s.dropped_queue_full > 99_000, "{s:?}");
    assert_eq!(s.queued + s.dropped_queue_full, 100_000);
    assert_eq!(
        c.shutdown(Duration::from_millis(200)),
        Err(usagelens::FlushError::Timeout),
        "bounded"
    );
}

#[test]
fn shutdown_is_idempotent_and_the_guard_flushes_on_drop() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (r, url) = rt.block_on(recorder(vec![200]));
    {
        let guard = usagelens::init(options(&url)).unwrap();
        guard.client().track("a", Dims::new(), Metrics::new());
        guard
            .client()
            .time("work", || std::thread::sleep(Duration::from_millis(2)));
        guard
            .client()
            .metric("queue_depth", 7.0, "items", Dims::new());
        let json = guard
            .client()
            .serialize_json("report", &serde_json::json!({"rows": [1, 2, 3]}))
            .unwrap();
        assert_eq!(json, br#"{"rows":[1,2,3]}"#);
    }
    let evs = events(&r);
    let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["a", "timing", "metric", "timing"]);
    assert_eq!(evs[3]["props"]["name"], "report");
    assert_eq!(evs[3]["metrics"]["bytes"], 16.0);
    assert!(evs[3]["metrics"]["serialize_ms"].as_f64().unwrap() >= 0.0);
    assert!(evs[1]["metrics"]["duration_ms"].as_f64().unwrap() >= 2.0);
    assert_eq!(evs[1]["props"]["name"], "work");
    assert_eq!(evs[2]["props"]["unit"], "items");
    assert_eq!(evs[2]["metrics"]["value"], 7.0);
    let c = Client::new(options(&url)).unwrap();
    assert_eq!(c.shutdown(Duration::from_secs(5)), Ok(()));
    assert_eq!(
        c.shutdown(Duration::from_secs(5)),
        Err(usagelens::FlushError::AlreadyShutdown)
    );
    c.track("after", Dims::new(), Metrics::new()); // never panics
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late"
}

async fn user() -> TimedJson<Value> {
    TimedJson(serde_json::json!({"name": "ada", "roles": ["admin"]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_layer_on_a_real_axum_app() {
    let (r, url) = recorder(vec![200]).await;
    let c = Client::new(options(&url)).unwrap();
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/slow", get(slow))
        .layer(UsageLensLayer::new(c.clone()));
    let call = |path: &str| {
        app.clone().oneshot(
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
    };
    assert_eq!(call("/users/42").await.unwrap().status(), 200);
    assert_eq!(call("/nope/7").await.unwrap().status(), 404);
    // A request whose future is dropped (the client went away) is recorded as aborted.
    let _ = tokio::time::timeout(Duration::from_millis(50), call("/slow")).await;
    flush(&c).await;
    let evs = events(&r);
    assert_eq!(evs.len(), 3, "{evs:?}");
    let ok = &evs[0];
    assert_eq!(ok["type"], "http");
    assert_eq!(
        ok["props"]["route"], "/users/{id}",
        "the template, never the raw path"
    );
    assert_eq!(ok["props"]["method"], "GET");
    assert_eq!(ok["props"]["status"], 200);
    assert!(ok["metrics"]["serialize_ms"].as_f64().unwrap() >= 0.0);
    let body_len = r#"{"name":"ada","roles":["admin"]}"#.len() as f64;
    assert_eq!(ok["metrics"]["serialized_bytes"], body_len);
    assert_eq!(ok["metrics"]["response_bytes"], body_len);
    assert!(ok["metrics"]["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(!evs
        .iter()
        .any(|e| e.to_string().contains("/users/42") || e.to_string().contains("/nope/7")));
    assert_eq!(evs[1]["props"]["route"], "unmatched");
    assert_eq!(evs[1]["props"]["status"], 404);
    assert_eq!(evs[2]["props"]["route"], "/slow");
    assert_eq!(evs[2]["props"]["aborted"], true);
    assert!(evs[2]["props"].get("status").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_events_carry_their_dimensions() {
    let (r, url) = recorder(vec![200]).await;
    let c = Client::new(options(&url)).unwrap();
    let get_user = c.bind(
        "http",
        usagelens::Attrs::new()
            .with("route", "/users/{id}")
            .with("method", "GET")
            .with("status", 200),
    );
    let queue = c.bind(
        "metric",
        usagelens::Attrs::new().with("name", "queue_depth"),
    );
    for i in 0..3 {
        get_user.record(usagelens::Measures::new().with("duration_ms", f64::from(i)));
    }
    queue.record(usagelens::Measures::new().with("value", 7.0));
    c.record(
        "page",
        usagelens::Attrs::new().with("path", String::from("/x")),
        usagelens::Measures::new(),
    );
    flush(&c).await;
    let mut evs = events(&r);
    evs.sort_by(|a, b| a["type"].as_str().cmp(&b["type"].as_str()));
    let http: Vec<&Value> = evs.iter().filter(|e| e["type"] == "http").collect();
    assert_eq!(http.len(), 3);
    for (i, e) in http.iter().enumerate() {
        assert_eq!(
            e["props"],
            serde_json::json!({"route": "/users/{id}", "method": "GET", "status": 200})
        );
        assert!(e["metrics"]["duration_ms"].as_f64().unwrap() <= 2.0, "{i}");
    }
    let metric = evs.iter().find(|e| e["type"] == "metric").unwrap();
    assert_eq!(metric["props"]["name"], "queue_depth");
    assert_eq!(metric["metrics"]["value"], 7.0);
    assert_eq!(
        evs.iter().find(|e| e["type"] == "page").unwrap()["props"]["path"],
        "/x"
    );
    assert_eq!(c.stats().sent, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_sampler_sends_rss_until_shutdown() {
    let (r, url) = recorder(vec![200]).await;
    let c = Client::new(options(&url)).unwrap();
    c.start_memory_sampler(Duration::from_millis(50)).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c2 = c.clone();
    tokio::task::spawn_blocking(move || c2.shutdown(Duration::from_secs(5)))
        .await
        .unwrap()
        .unwrap();
    let evs = events(&r);
    assert!(evs.len() >= 3, "a sample every 50 ms: {}", evs.len());
    for e in &evs {
        assert_eq!(e["type"], "memory");
        assert_eq!(e["props"]["source"], "server");
        let rss = e["metrics"]["rss_bytes"].as_f64().unwrap();
        assert!(rss > 1e6, "{e}");
        assert!(
            e["metrics"]["virtual_bytes"].as_f64().unwrap() >= rss,
            "{e}"
        );
    }
    let after = c.stats().queued;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        c.stats().queued,
        after,
        "the sampler stopped with the client"
    );
    assert!(c.start_memory_sampler(Duration::from_secs(1)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_sampler_does_not_keep_a_dropped_client_alive() {
    let (r, url) = recorder(vec![200]).await;
    let c = Client::new(options(&url)).unwrap();
    c.start_memory_sampler(Duration::from_millis(20)).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // No shutdown, no guard: the last handle goes. The worker delivers what
    // is queued and stops, and the sampler with it.
    drop(c);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = r.batches.lock().unwrap().len();
    assert!(delivered >= 1, "what was queued at the drop is delivered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        r.batches.lock().unwrap().len(),
        delivered,
        "nothing sent after the last handle went"
    );
}
