//! Ingest benchmarks (BENCHMARKS.md). Run with `cargo xtask bench ingest`.
//!
//! (a) the ingest path without the store: decode, parse, validate, build the
//!     documents; criterion, one thread, events/s per core;
//! (b) end to end into the store: batches POSTed over TCP to the collector,
//!     which writes them to `MONGODB_URI`;
//! (c) the same store's raw `insert_many` of the same documents with the driver.
//!
//! (b) and (c) alternate in rounds in the same run, so machine noise hits
//! both; the ratio (b)/(c) is what the goal is about. They run only when
//! `MONGODB_URI` is set (the xtask sets it).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use usagelens_collector::catalog::BatchNames;
use usagelens_collector::ingest::{build_documents, decode_body, parse_events, BatchMeta};
use usagelens_protocol::RawBatch;

const EVENTS_PER_BATCH: usize = 1000;

/// One ~300-byte event (as JSON), `i` making its id unique.
fn event_json(prefix: &str, i: usize) -> String {
    format!(
        r#"{{"id":"{prefix}-0193a1b2-7c3e-7000-8000-{i:012}","type":"click","ts":"2026-11-28T09:59:58.120Z","props":{{"widget":"export-csv","tab":"reports","tags":["beta","admin"],"variant":"b","position":3,"primary":true,"label":"Export as CSV","section":"toolbar"}},"metrics":{{"duration_ms":12.5,"render_ms":3.25}}}}"#
    )
}

fn batch_json(prefix: &str, n: usize) -> String {
    let events: Vec<String> = (0..n).map(|i| event_json(prefix, i)).collect();
    format!(
        r#"{{"app":"bench","sent_at":"2026-11-28T10:00:00.000Z","context":{{"user":"u-42","anon":"a-9f3e","session":"s-1c77","page":"/settings","plan":"pro"}},"events":[{}]}}"#,
        events.join(",")
    )
}

fn ingest_without_store(c: &mut Criterion) {
    let body = batch_json("a", EVENTS_PER_BATCH);
    let per_event = body.len() / EVENTS_PER_BATCH;
    let mut g = c.benchmark_group("ingest_without_store");
    g.throughput(Throughput::Elements(EVENTS_PER_BATCH as u64));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function(format!("batch_of_1000_events_{per_event}B_each"), |b| {
        b.iter(|| {
            let body =
                decode_body(Some("application/json"), None, black_box(body.as_bytes())).unwrap();
            let batch = RawBatch::parse(&body).unwrap();
            let parsed = parse_events(&batch);
            let mut names = BatchNames::default();
            let meta = BatchMeta {
                received_ms: 1_795_860_000_500,
                user_agent: None,
            };
            let docs = build_documents(&batch, &parsed.events, meta, &mut names);
            assert_eq!(docs.len(), EVENTS_PER_BATCH);
            black_box(docs)
        })
    });
    // Baseline in the same run: only parsing the same body into a generic
    // `serde_json::Value`, no validation, no documents.
    g.bench_function("baseline_serde_json_value_parse", |b| {
        b.iter(|| {
            black_box(
                serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes())).unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, ingest_without_store);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo test --benches` runs this once in test mode, without `--bench`:
    // (b) and (c) are measurements, not tests, so they run only under `cargo bench`.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    match std::env::var("MONGODB_URI") {
        Ok(uri) if benchmarking => store_comparison(&uri),
        Ok(_) => {}
        Err(_) => eprintln!(
            "MONGODB_URI not set: skipping (b) and (c); `cargo xtask bench ingest` sets it"
        ),
    }
}

/// (b) vs (c), alternating rounds.
fn store_comparison(uri: &str) {
    use usagelens_collector::config::ServeConfig;
    use usagelens_collector::store::{Store, WriteAck};
    use usagelens_collector::{serve, AppState};

    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let batches: usize = std::env::var("BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = format!("ul_bench_{}", std::process::id());
        let store = Store::connect(uri, &db, WriteAck::default(), Duration::from_secs(10)).await.unwrap();
        store.ensure_indexes().await.unwrap();
        let app = usagelens_collector::apps::create(&store, "bench", &[]).await.unwrap();
        let config = ServeConfig {
            rate_limit_app: 0,
            rate_limit_ip: 0,
            catalog_flush: Duration::from_secs(3600),
            ..ServeConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(AppState::new(store.clone(), config), listener, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        // (c) writes with the driver, acknowledged as the collector's writes
        // are (`WriteAck::default()`: majority, journaled).
        let driver = store.database().collection_with_options::<mongodb::bson::RawDocumentBuf>(
            "events",
            mongodb::options::CollectionOptions::builder()
                .write_concern(
                    mongodb::options::WriteConcern::builder()
                        .w(mongodb::options::Acknowledgment::Majority)
                        .journal(true)
                        .build(),
                )
                .build(),
        );
        let url = format!("http://{addr}/v1/batch");

        let mut e2e = Vec::new();
        let mut raw = Vec::new();
        for round in 0..rounds {
            // (c): the same documents the collector would build, straight to insert_many.
            let docs: Vec<Vec<mongodb::bson::RawDocumentBuf>> = (0..batches)
                .map(|b| {
                    let body = batch_json(&format!("c{round}-{b}"), EVENTS_PER_BATCH);
                    let batch = RawBatch::parse(body.as_bytes()).unwrap();
                    let parsed = parse_events(&batch);
                    let mut names = BatchNames::default();
                    let meta = BatchMeta { received_ms: 1_795_860_000_500, user_agent: None };
                    build_documents(&batch, &parsed.events, meta, &mut names)
                })
                .collect();
            let t = Instant::now();
            for d in &docs {
                let out = driver.insert_many(d).ordered(false).await.unwrap();
                assert_eq!(out.inserted_ids.len(), EVENTS_PER_BATCH);
            }
            raw.push((batches * EVENTS_PER_BATCH) as f64 / t.elapsed().as_secs_f64());

            // (b): the same number of events as HTTP batches through the collector.
            let bodies: Vec<String> = (0..batches)
                .map(|b| batch_json(&format!("b{round}-{b}"), EVENTS_PER_BATCH))
                .collect();
            let t = Instant::now();
            for body in bodies {
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-write-key", &app.write_key)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["accepted"], EVENTS_PER_BATCH);
            }
            e2e.push((batches * EVENTS_PER_BATCH) as f64 / t.elapsed().as_secs_f64());
            eprintln!(
                "round {round}: (b) end to end {:>8.0} events/s   (c) raw insert_many {:>8.0} events/s",
                e2e[round], raw[round]
            );
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (b, c) = (med(&mut e2e), med(&mut raw));
        println!("\n(b) end to end into the store:      median {b:>9.0} events/s");
        println!("(c) raw insert_many, same store:    median {c:>9.0} events/s");
        println!("(b)/(c) = {:.3}   (goal: >= 0.9)", b / c);
        println!("{} rounds of {} batches x {EVENTS_PER_BATCH} events each side", rounds, batches);
        let _ = stop.send(());
        let _ = server.await;
        let _ = store.database().drop().await;
    });
}
