//! The native SDK against the real collector and local store: events arrive
//! with the right dimensions, a collector restart in the middle of a stream
//! loses nothing and duplicates nothing, and shutdown flushes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mongodb::bson::doc;
use usagelens::{Client, Dims, Metrics, Options};

#[test]
fn a_collector_restart_mid_stream_loses_nothing_and_duplicates_nothing() {
    let db = unique_db();
    let app = cli_json(&db, &["apps", "create", "svc"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let no_limits = ["--rate-limit-ip", "0", "--rate-limit-app", "0"];
    let mut collector = Collector::start_on(&db, &addr, &no_limits);

    let mut o = Options::new("svc", app["write_key"].as_str().unwrap());
    o.endpoint = format!("http://{addr}");
    o.batch_size = 50;
    o.flush_interval = Duration::from_millis(100);
    o.max_retries = 30;
    o.request_timeout = Duration::from_secs(2);
    let client = Client::new(o).unwrap();

    const N: usize = 1500;
    let producer = {
        let client = client.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                client.track(
                    "http",
                    Dims::new()
                        .with("route", "/orders/{id}")
                        .with("method", "POST")
                        .with("seq", i as i64),
                    Metrics::new().with("duration_ms", 3.25),
                );
                std::thread::sleep(Duration::from_micros(1500));
            }
        })
    };
    // Kill the collector without warning in the middle of the stream, and bring it back.
    std::thread::sleep(Duration::from_millis(700));
    collector.child.kill().unwrap();
    collector.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let restarted = Collector::start_on(&db, &addr, &no_limits);
    producer.join().unwrap();
    let t = Instant::now();
    client
        .shutdown(Duration::from_secs(60))
        .expect("shutdown delivers everything");
    eprintln!("shutdown took {:?}", t.elapsed());

    let stats = client.stats();
    assert_eq!(
        (
            stats.queued,
            stats.dropped_queue_full,
            stats.dropped_undeliverable,
            stats.invalid
        ),
        (N as u64, 0, 0, 0)
    );
    assert_eq!(stats.sent, N as u64);
    let store = Db::open(&db);
    assert_eq!(
        store.count("events", doc! {"app": "svc"}),
        N as u64,
        "each event stored exactly once"
    );
    for seq in [0_i64, 1, (N / 2) as i64, (N - 1) as i64] {
        assert_eq!(
            store.count("events", doc! {"app": "svc", "dims.seq": seq}),
            1,
            "seq {seq}"
        );
    }
    assert_eq!(
        store.count("events", doc! {"type": "http", "dims.route": "/orders/{id}", "dims.method": "POST", "metrics.duration_ms": 3.25}),
        N as u64
    );
    assert_eq!(
        store.count("events", doc! {"dims.browser": {"$exists": true}}),
        0,
        "no browser enrichment for a service"
    );
    store.drop_db();
    drop(restarted);
}
