//! Reports benchmark (BENCHMARKS.md, issue 12). Run with `cargo xtask bench reports`.
//!
//! Over a million events of every kind the reports read (`common/dataset.rs`,
//! `Mix::Reports`, reused when loaded), each report is timed two ways in the same run, in a
//! rotating order:
//!
//! - **API**: `POST /v1/reports/<name>` over TCP to the collector serving in
//!   this process (auth, validation, the report's queries, joining their
//!   rows, the answer as JSON);
//! - **pipelines**: the very pipelines the report runs (from `explain`), run
//!   one after the other with the official driver and collected.
//!
//! The figure is the median of the rounds; the goal is API / pipelines ≤
//! 1.10. `user-story` also reads one user's events in order (its paths),
//! which no pipeline does: its ratio includes that scan. `BENCH_EVENTS`
//! and `BENCH_ROUNDS` change the size of the run; `BENCH_REPORTS` (names,
//! comma-separated) runs only those reports.

#[path = "common/dataset.rs"]
mod dataset;

use std::time::{Duration, Instant};

use dataset::{env_usize, load, Mix, APP, QUERY_TIMEOUT};
use futures_util::TryStreamExt;
use mongodb::bson::Document;
use usagelens_collector::config::ServeConfig;
use usagelens_collector::store::{Store, WriteAck};
use usagelens_collector::{serve, AppState};

fn reports() -> Vec<(&'static str, serde_json::Value)> {
    let range = ("2026-11-01T00:00:00Z", "2026-11-29T00:00:00Z");
    let body = |extra: serde_json::Value| {
        let mut b = serde_json::json!({"app": APP, "from": range.0, "to": range.1});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    vec![
        ("widgets", body(serde_json::json!({}))),
        ("defaults", body(serde_json::json!({}))),
        ("load-time", body(serde_json::json!({}))),
        ("performance", body(serde_json::json!({"interval": "day"}))),
        (
            "correlation",
            body(
                serde_json::json!({"metric": {"type": "load", "of": "total_ms"}, "outcome": "clicks", "by": "browser"}),
            ),
        ),
        // A typical user (about 900 events; u-0, the busiest, has about 58 k).
        ("user-story", body(serde_json::json!({"user": "u-100"}))),
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
            "MONGODB_URI is not set: run `cargo xtask bench reports`, which starts a local store"
        );
        if quick {
            return;
        }
        std::process::exit(2);
    };
    let n = env_usize("BENCH_EVENTS", if quick { 2_000 } else { 1_000_000 });
    let rounds = env_usize("BENCH_ROUNDS", if quick { 1 } else { 5 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Loaded once, then reused by later runs.
        let db = Mix::Reports.database(n);
        let store = Store::connect(&uri, &db, WriteAck::default(), Duration::from_secs(10))
            .await
            .unwrap();
        store.ensure_indexes().await.unwrap();
        load(&store, n, Mix::Reports).await;
        let _ = usagelens_collector::apps::delete(&store, APP, false).await;
        let app = usagelens_collector::apps::create(&store, APP, &[])
            .await
            .unwrap();
        let config = ServeConfig {
            rate_limit_app: 0,
            rate_limit_ip: 0,
            catalog_flush: Duration::from_secs(3600),
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
        let events = store.database().collection::<Document>("events");
        let post = |name: &str, body: &serde_json::Value| {
            let req = client
                .post(format!("http://{addr}/v1/reports/{name}"))
                .bearer_auth(&app.read_token)
                .json(body);
            async move {
                let r = req.send().await.unwrap();
                let status = r.status();
                let answer: serde_json::Value = r.json().await.unwrap();
                assert_eq!(status, 200, "{answer}");
                answer
            }
        };

        println!("\n{n} events, {rounds} rounds, the two ways in a rotating order");
        let mut summary = Vec::new();
        // `BENCH_REPORTS=widgets,correlation` runs only those.
        let only = std::env::var("BENCH_REPORTS").ok();
        let picked = |name: &str| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n.trim() == name))
        };
        for (name, body) in reports().into_iter().filter(|(n, _)| picked(n)) {
            let mut explain = body.clone();
            explain["explain"] = serde_json::json!(true);
            let answer = post(name, &explain).await;
            let pipelines: Vec<Vec<Document>> = answer["meta"]["pipelines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    p.as_array()
                        .unwrap()
                        .iter()
                        .map(|stage| {
                            mongodb::bson::to_document(
                                &mongodb::bson::Bson::try_from(stage.clone()).unwrap(),
                            )
                            .unwrap()
                        })
                        .collect()
                })
                .collect();
            let mut times: [Vec<f64>; 2] = Default::default();
            for round in 0..rounds {
                for k in 0..2 {
                    let way = (round + k) % 2;
                    let t = Instant::now();
                    if way == 0 {
                        post(name, &body).await;
                    } else {
                        for p in &pipelines {
                            let docs: Vec<Document> = events
                                .aggregate(p.clone())
                                .max_time(QUERY_TIMEOUT)
                                .await
                                .unwrap()
                                .try_collect()
                                .await
                                .unwrap();
                            std::hint::black_box(docs);
                        }
                    }
                    times[way].push(t.elapsed().as_secs_f64() * 1000.0);
                }
                eprintln!(
                    "  {name}, round {round}: API {:>9.1} ms   pipelines {:>9.1} ms ({} queries)",
                    times[0][round],
                    times[1][round],
                    pipelines.len()
                );
            }
            let [a, p] = times.map(|mut t| median(&mut t));
            summary.push((name, pipelines.len(), a, p));
        }
        println!();
        for (name, queries, a, p) in summary {
            println!(
                "{name:<12} {queries:>2} queries   API {a:>9.1} ms   pipelines {p:>9.1} ms   API/pipelines {:.3}   (goal <= 1.10)",
                a / p
            );
        }
        let _ = stop.send(());
        let _ = server.await;
    });
}
