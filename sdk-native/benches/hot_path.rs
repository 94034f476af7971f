//! The host's cost of the SDK (BENCHMARKS.md). Run with
//! `cargo bench -p usagelens-sdk-native --features axum --bench hot_path`.
//!
//! - recording one `http` event with three dimensions, against the
//!   `opentelemetry` SDK's histogram `record` with the same three attributes,
//!   in the same run;
//! - the latency the tower layer adds to a request of a real axum app,
//!   against the same app without it;
//! - the same with the collector down: the queue fills, events are dropped
//!   and counted, and the request latency does not change.

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use tower::ServiceExt;
use usagelens::{Attrs, Client, Measures, Options, UsageLensLayer};

/// A client whose endpoint is a closed port: sends fail at once and the
/// worker drops batches after no retry; `capacity` decides whether
/// recording hits the accept path or the full-queue path.
fn client(capacity: usize) -> Client {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut o = Options::new("bench", "wk_bench");
    o.endpoint = format!("http://127.0.0.1:{port}");
    o.queue_capacity = capacity;
    o.batch_size = 1000;
    o.flush_interval = Duration::from_secs(3600);
    o.max_retries = 0;
    Client::new(o).unwrap()
}

/// Times `iters` calls of `f` in chunks that fit the queue; between chunks
/// (untimed) the worker drains it, so every call takes the accept path and
/// the queue's memory is warm.
fn in_chunks(sdk: &Client, iters: u64, mut f: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(1 << 15);
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        total += start.elapsed();
        left -= n;
        while sdk.stats().queued > sdk.stats().dropped_undeliverable + 1000 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    total
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record_http_event_3_dims");
    // Every iteration takes the accept path: events are recorded in chunks
    // that fit the queue, and the (untimed) pause between chunks lets the
    // worker drain it, so the queue's memory is warm and never full.
    let sdk = client(1 << 16);
    g.bench_function("usagelens_record", |b| {
        b.iter_custom(|iters| {
            in_chunks(&sdk, iters, || {
                sdk.record(
                    "http",
                    Attrs::new()
                        .with("route", "/users/{id}")
                        .with("method", "GET")
                        .with("status", 200),
                    Measures::new().with("duration_ms", black_box(1.25)),
                )
            })
        })
    });
    // The same with the type and dimensions bound once (`Client::bind`).
    let bound = sdk.bind(
        "http",
        Attrs::new()
            .with("route", "/users/{id}")
            .with("method", "GET")
            .with("status", 200),
    );
    g.bench_function("usagelens_bound_record", |b| {
        b.iter_custom(|iters| {
            in_chunks(&sdk, iters, || {
                bound.record(Measures::new().with("duration_ms", black_box(1.25)))
            })
        })
    });
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(opentelemetry_sdk::metrics::ManualReader::builder().build())
        .build();
    let histogram = provider
        .meter("bench")
        .f64_histogram("http.server.duration")
        .build();
    g.bench_function("opentelemetry_histogram_record", |b| {
        b.iter(|| {
            histogram.record(
                black_box(1.25),
                &[
                    KeyValue::new("route", "/users/{id}"),
                    KeyValue::new("method", "GET"),
                    KeyValue::new("status", 200),
                ],
            )
        })
    });
    g.finish();
    assert_eq!(
        sdk.stats().dropped_queue_full,
        0,
        "every recorded event took the accept path"
    );
}

async fn hello() -> &'static str {
    "hello"
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain = Router::new().route("/users/{id}", get(hello));
    // A collector stand-in that answers 200 at once, on its own thread: the
    // worker really sends while the layer is measured.
    let sink = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sink_addr = sink.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            sink.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(sink).unwrap();
            let app = Router::new().route("/v1/batch", axum::routing::post(|| async { "{}" }));
            axum::serve(listener, app).await.unwrap();
        });
    });
    let mut o = Options::new("bench", "wk_bench");
    o.endpoint = format!("http://{sink_addr}");
    o.queue_capacity = 1 << 16;
    o.batch_size = 1000;
    let sdk = Client::new(o).unwrap();
    let with = Router::new()
        .route("/users/{id}", get(hello))
        .layer(UsageLensLayer::new(sdk.clone()));
    // A saturated collector: it accepts connections and never answers, so the
    // worker waits on its request while the tiny queue stays full and every
    // event is dropped and counted.
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut o = Options::new("bench", "wk_bench");
    o.endpoint = format!("http://{}", stuck.local_addr().unwrap());
    o.queue_capacity = 1000;
    o.batch_size = 1000;
    o.request_timeout = Duration::from_secs(600);
    let down = Client::new(o).unwrap();
    let saturated = Router::new()
        .route("/users/{id}", get(hello))
        .layer(UsageLensLayer::new(down.clone()));
    let mut g = c.benchmark_group("axum_request");
    for (name, app) in [
        ("without_layer", plain),
        ("with_layer", with),
        ("with_layer_collector_saturated", saturated),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let app = app.clone();
                async move {
                    let req = axum::http::Request::get("/users/42")
                        .body(axum::body::Body::empty())
                        .unwrap();
                    black_box(app.oneshot(req).await.unwrap())
                }
            })
        });
    }
    g.finish();
    eprintln!("collector healthy: {:?}", sdk.stats());
    eprintln!("collector saturated: {:?}", down.stats());
    drop(stuck);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = record, layer
}
criterion_main!(benches);
