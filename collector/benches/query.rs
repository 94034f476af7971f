//! Query benchmark (BENCHMARKS.md, issue 6). Run with `cargo xtask bench query`.
//!
//! Over 1 M events in the store at `MONGODB_URI` (loaded once, reused while
//! the database holds exactly that many), two queries are timed two ways in
//! the same run:
//!
//! - **API**: `POST /v1/query` over TCP to the collector serving in this
//!   process (read-token check, validation, compilation, the aggregation, the
//!   answer as JSON, the HTTP round trip);
//! - **driver**: the very pipeline the engine compiles, run with the official
//!   driver's `aggregate` and collected: once with the `maxTimeMS` the API
//!   sends (the same command), once without any limit.
//!
//! Queries: the top 20 widgets by clicks (with distinct users), and the p95
//! of `duration_ms` by route over `http` events. The three ways run in a
//! rotating order every round (the first run of a pair tends to be slower),
//! so noise hits all; the figure is the median of the rounds, and the goal
//! is API / driver ≤ 1.10.
//!
//! `BENCH_EVENTS` (default 1,000,000) and `BENCH_ROUNDS` (default 6) change
//! the size of the run.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::bson::Document;
use usagelens_collector::config::ServeConfig;
use usagelens_collector::query::{compile, QueryRequest};
use usagelens_collector::store::{Store, WriteAck};
use usagelens_collector::{serve, AppState};

#[path = "common/dataset.rs"]
mod dataset;

use dataset::{env_usize, load, Mix, APP, QUERY_TIMEOUT};

fn queries() -> [(&'static str, serde_json::Value); 2] {
    let range = ("2026-11-01T00:00:00Z", "2026-11-29T00:00:00Z");
    [
        (
            "top-20 widgets (count, users)",
            serde_json::json!({
                "app": APP, "types": ["click"], "from": range.0, "to": range.1,
                "group_by": ["widget"], "measures": ["count", "users"],
                "order_by": [{"by": "count", "desc": true}], "limit": 20
            }),
        ),
        (
            "p95 of duration_ms by route",
            serde_json::json!({
                "app": APP, "types": ["http"], "from": range.0, "to": range.1,
                "group_by": ["route"], "measures": ["count", {"fn": "p95", "of": "duration_ms"}],
                "order_by": [{"by": "p95_duration_ms", "desc": true}], "limit": 100
            }),
        ),
    ]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!(
            "MONGODB_URI is not set: run `cargo xtask bench query`, which starts a local store"
        );
        if quick {
            return;
        }
        std::process::exit(2);
    };
    let n = env_usize("BENCH_EVENTS", if quick { 2_000 } else { 1_000_000 });
    let rounds = env_usize("BENCH_ROUNDS", if quick { 1 } else { 6 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = Mix::Query.database(n);
        let store = Store::connect(&uri, &db, WriteAck::default(), Duration::from_secs(10))
            .await
            .unwrap();
        store.ensure_indexes().await.unwrap();
        load(&store, n, Mix::Query).await;
        let _ = usagelens_collector::apps::delete(&store, APP, false).await;
        let app = usagelens_collector::apps::create(&store, APP, &[])
            .await
            .unwrap();
        let config = ServeConfig {
            rate_limit_app: 0,
            rate_limit_ip: 0,
            catalog_flush: Duration::from_secs(3600),
            // A slow local store takes tens of seconds over a million events.
            query_timeout: QUERY_TIMEOUT,
            ..ServeConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            AppState::new(store.clone(), config),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/v1/query");
        let events = store.database().collection::<mongodb::bson::Document>("events");

        println!("\n{n} events, {rounds} rounds, the three ways in a rotating order");
        let mut summary = Vec::new();
        for (name, spec) in queries() {
            let request: QueryRequest = serde_json::from_value(spec.clone()).unwrap();
            let plan = compile(&request).unwrap();
            // [API, driver with the API's maxTimeMS, driver without a limit]
            let mut times: [Vec<f64>; 3] = Default::default();
            for round in 0..rounds {
                let mut rows = [0usize; 3];
                for k in 0..3 {
                    let way = (round + k) % 3;
                    let t = Instant::now();
                    rows[way] = if way == 0 {
                        let r = client
                            .post(&url)
                            .bearer_auth(&app.read_token)
                            .json(&spec)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
                        let body: serde_json::Value = r.json().await.unwrap();
                        body["rows"].as_array().map_or(0, Vec::len)
                    } else {
                        let mut aggregate = events.aggregate(plan.pipeline.clone());
                        if way == 1 {
                            aggregate = aggregate.max_time(QUERY_TIMEOUT);
                        }
                        let docs: Vec<Document> =
                            aggregate.await.unwrap().try_collect().await.unwrap();
                        docs.len()
                    };
                    times[way].push(t.elapsed().as_secs_f64() * 1000.0);
                }
                assert!(rows[0] > 0, "{name}: rows");
                assert!(rows.iter().all(|r| *r == rows[0]), "{name}: same rows every way: {rows:?}");
                eprintln!(
                    "  {name}, round {round}: API {:>9.1} ms   driver (same maxTimeMS) {:>9.1} ms   driver (no limit) {:>9.1} ms",
                    times[0][round], times[1][round], times[2][round]
                );
            }
            let [a, d, bare] = times.map(|mut t| median(&mut t));
            summary.push((name, a, d, bare));
        }
        println!();
        for (name, a, d, bare) in summary {
            println!(
                "{name:<32} API {a:>9.1} ms   driver, same command {d:>9.1} ms   driver, no maxTimeMS {bare:>9.1} ms   \
                 API/driver {:.3}   API/no-limit {:.3}   (goal <= 1.10)",
                a / d,
                a / bare
            );
        }
        let _ = stop.send(());
        let _ = server.await;
    });
}
