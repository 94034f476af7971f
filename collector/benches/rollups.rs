//! Rollups benchmark (BENCHMARKS.md, issue 13). Run with `cargo xtask bench rollups`.
//!
//! Over the reports' data set (`common/dataset.rs`, `Mix::Reports`: a
//! million events by default over 28 days, reused when loaded):
//!
//! 1. **Materialization**: a first build (the app's rollup documents
//!    deleted) of the whole range, a backfill and then the builder's passes
//!    until every hour and day is built — events per second; then a
//!    rebuild over the stored documents (the last `BENCH_REBUILD_DAYS`
//!    days, all by default) while a loader inserts events into another app
//!    as fast as it can, both rates side by side.
//! 2. **Queries**, through `POST /v1/query` over TCP to the collector
//!    serving in this process, each asked with the default plan (rollup) and
//!    with `"plan": "raw"` in the same run, in a rotating order: the 30-day
//!    widget ranking with distinct users, and p95 by route. The figure is
//!    the median of the rounds; the goal is raw / rollup ≥ 50, and the
//!    rollup's time flat (≤ 2×) from 1 M to 10 M events (`BENCH_EVENTS`).
//!
//! Every rollup answer's counts are checked against the raw answer's.

#[path = "common/dataset.rs"]
mod dataset;

use std::time::{Duration, Instant};

use dataset::{env_usize, load, Mix, APP, QUERY_TIMEOUT};
use mongodb::bson::{doc, DateTime, RawDocumentBuf};
use usagelens_collector::config::ServeConfig;
use usagelens_collector::rollups;
use usagelens_collector::store::{Store, WriteAck};
use usagelens_collector::{serve, AppState};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Builds every marked hour and day; returns the seconds and the events read.
async fn build_all(store: &Store) -> (f64, u64) {
    let t = Instant::now();
    let mut events = 0;
    loop {
        let now = DateTime::now().timestamp_millis();
        let out = rollups::build_pending(store, &rollups::builtin(), now, now, 500, || {})
            .await
            .expect("build");
        events += out.events;
        if out.cleared == 0 && out.ranges == 0 {
            break;
        }
    }
    (t.elapsed().as_secs_f64(), events)
}

fn queries() -> Vec<(&'static str, serde_json::Value)> {
    let (from, to) = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");
    vec![
        (
            "30-day widget ranking, top 20, with distinct users",
            serde_json::json!({"app": APP, "types": ["click"], "from": from, "to": to,
                "group_by": ["widget"], "measures": ["count", "users"],
                "order_by": [{"by": "count", "desc": true}], "limit": 20}),
        ),
        (
            "30-day p95 by route",
            serde_json::json!({"app": APP, "types": ["http"], "from": from, "to": to,
                "group_by": ["route"], "measures": ["count", {"fn": "p95", "of": "duration_ms"}],
                "order_by": [{"by": "route"}]}),
        ),
    ]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!(
            "MONGODB_URI is not set: run `cargo xtask bench rollups`, which starts a local store"
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
        let db = Mix::Reports.database(n);
        let store = Store::connect(&uri, &db, WriteAck::default(), Duration::from_secs(10))
            .await
            .unwrap();
        store.ensure_indexes().await.unwrap();
        load(&store, n, Mix::Reports).await;
        if std::env::var_os("BENCH_LOAD_ONLY").is_some() {
            return; // `BENCH_LOAD_ONLY=1`: load the data set and stop (a long load, ahead of the run)
        }
        let all = rollups::builtin();
        let now = DateTime::now().timestamp_millis();
        rollups::ensure(&store, &all, now).await.unwrap();

        // 1. Materialization, alone. In test mode only the last four days.
        // hours (the queries then read the rest raw): a quick check.
        let since = if quick {
            1_795_564_800_000 // 2026-11-25T00:00:00Z
        } else {
            now - 400 * 86_400_000
        };
        let rollup_docs = store.database().collection::<RawDocumentBuf>("rollups");
        rollup_docs.delete_many(doc! { "app": APP }).await.unwrap();
        let hours = rollups::backfill(&store, &all, APP, since, now).await.unwrap();
        let (secs, read) = build_all(&store).await;
        let written = rollup_docs.count_documents(doc! { "app": APP }).await.unwrap();
        println!(
            "\n{n} events: first build of {} hours in {secs:.1} s: {:.0} events/s ({read} event reads, {written} documents, {} rollups)",
            hours.len(),
            n as f64 / secs,
            all.len()
        );

        if !quick {
            // ... and while a loader inserts into another app as fast as it can.
            // Into a database of its own with the events' indexes, dropped at
            // the end (deleting the millions of events it inserts took minutes).
            let live = Store::connect(
                &uri,
                &format!("{db}_live"),
                WriteAck::default(),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
            live.ensure_indexes().await.unwrap();
            let live_db = live.database().clone();
            let events = live_db.collection::<RawDocumentBuf>("events");
            let loading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
            let loader = {
                let (events, loading) = (events.clone(), loading.clone());
                tokio::spawn(async move {
                    let (t, mut sent) = (Instant::now(), 0u64);
                    while loading.load(std::sync::atomic::Ordering::Relaxed) {
                        let docs: Vec<RawDocumentBuf> = (0..1000)
                            .map(|i| {
                                RawDocumentBuf::from_document(&doc! {
                                    "_id": format!("live:{sent}-{i}"), "app": "live", "type": "click",
                                    "ts": DateTime::now(), "dims": { "widget": "w", "user": format!("u{i}") },
                                })
                                .unwrap()
                            })
                            .collect();
                        events.insert_many(&docs).await.unwrap();
                        sent += 1000;
                    }
                    sent as f64 / t.elapsed().as_secs_f64()
                })
            };
            // The data set's last days.
            let days = env_usize("BENCH_REBUILD_DAYS", 400) as i64;
            let from = since.max(dataset::END_MS - days * 86_400_000);
            let in_range = store
                .database()
                .collection::<RawDocumentBuf>("events")
                .count_documents(doc! { "app": APP, "ts": { "$gte": DateTime::from_millis(from) } })
                .await
                .unwrap();
            rollups::backfill(&store, &all, APP, from, now).await.unwrap();
            let (secs, _) = build_all(&store).await;
            loading.store(false, std::sync::atomic::Ordering::Relaxed);
            let ingest_rate = loader.await.unwrap();
            println!(
                "a rebuild of {in_range} events over the stored documents while ingest runs: {secs:.1} s, {:.0} events/s rebuilt, with {ingest_rate:.0} events/s inserted meanwhile",
                in_range as f64 / secs
            );
            live_db.drop().await.unwrap();
        }

        // 2. Queries through the API.
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
        let post = |body: serde_json::Value| {
            let req = client
                .post(format!("http://{addr}/v1/query"))
                .bearer_auth(&app.read_token)
                .json(&body);
            async move {
                let r = req.send().await.unwrap();
                let status = r.status();
                let answer: serde_json::Value = r.json().await.unwrap();
                assert_eq!(status, 200, "{answer}");
                answer
            }
        };
        println!("{rounds} rounds, the two plans in a rotating order");
        let mut summary = Vec::new();
        for (name, q) in queries() {
            let mut raw_q = q.clone();
            raw_q["plan"] = serde_json::json!("raw");
            // A warm-up of the rollup plan (cheap); the raw plan's first
            // timed answer is the one checked (at 10 M a raw answer takes
            // minutes).
            let a = post(q.clone()).await;
            let plan = a["meta"]["plan"].as_str().unwrap_or_default().to_owned();
            assert!(plan.starts_with("rollup:"), "{name}: {}", a["meta"]);
            let mut raw_answer = None;
            let mut times: [Vec<f64>; 2] = Default::default();
            for round in 0..rounds {
                for k in 0..2 {
                    let way = (round + k) % 2;
                    let t = Instant::now();
                    let answer = post(if way == 0 { q.clone() } else { raw_q.clone() }).await;
                    times[way].push(t.elapsed().as_secs_f64() * 1000.0);
                    if way == 1 && raw_answer.is_none() {
                        raw_answer = Some(answer);
                    }
                }
                eprintln!(
                    "  {name}, round {round}: {plan} {:>9.1} ms   raw {:>9.1} ms",
                    times[0][round], times[1][round]
                );
            }
            let b = raw_answer.expect("at least one round");
            assert_eq!(b["meta"]["plan"], "raw");
            // The counts agree exactly (the rows' order can differ on ties).
            let counts = |x: &serde_json::Value| {
                let mut c: Vec<(String, i64)> = x["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| (r[0].to_string(), r[1].as_i64().unwrap()))
                    .collect();
                c.sort();
                c
            };
            assert_eq!(counts(&a), counts(&b), "{name}: rollup and raw counts");
            let [r, w] = times.map(|mut t| median(&mut t));
            summary.push((name, plan, r, w));
        }
        println!();
        for (name, plan, r, w) in summary {
            println!(
                "{name:<52} {plan:<22} {r:>8.1} ms   raw {w:>9.1} ms   raw/rollup {:>6.1}   (goal >= 50)",
                w / r
            );
        }
        let _ = stop.send(());
        let _ = server.await;
    });
}
