//! The benchmarks' data set (BENCHMARKS.md): a million events of app
//! `bench` over 28 days (clicks on 300 widgets, skewed; `http` calls on 60
//! routes), generated deterministically and loaded once: a database that
//! holds exactly that many is reused. Shared by `query.rs` and `reports.rs`.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use mongodb::bson::{doc, DateTime, Document, RawDocumentBuf};
use usagelens_collector::store::Store;

/// `events` with the driver, acknowledged as the collector's writes are
/// (`WriteAck::default()`: majority, journaled).
fn raw_events(store: &Store) -> mongodb::Collection<RawDocumentBuf> {
    let wc = mongodb::options::WriteConcern::builder()
        .w(mongodb::options::Acknowledgment::Majority)
        .journal(true)
        .build();
    store.database().collection_with_options(
        "events",
        mongodb::options::CollectionOptions::builder()
            .write_concern(wc)
            .build(),
    )
}

pub(crate) const APP: &str = "bench";
/// 2026-11-01T00:00:00Z; events spread over the 28 days after it.
const START_MS: i64 = 1_793_491_200_000;
const SPAN_MS: i64 = 28 * 24 * 3600 * 1000;
const WIDGETS: u64 = 300;
const ROUTES: u64 = 60;
const USERS: u64 = 5000;
const LOAD_BATCH: usize = 10_000;
/// The API's time limit here (`--query-timeout`), and the same `maxTimeMS`
/// on the driver's command that is compared with it.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(3600);

pub(crate) fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift64*), so every run stores the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Skewed towards 0 (a few widgets get most clicks, as in real apps).
    fn skewed(&mut self, n: u64) -> u64 {
        let u = self.unit();
        ((u * u * u) * n as f64) as u64 % n
    }
}

/// Event `i` in the layout the collector stores (docs/storage.md): 70%
/// `click`, 30% `http`.
fn event(rng: &mut Rng, i: usize) -> RawDocumentBuf {
    let ts = DateTime::from_millis(START_MS + (rng.next() % SPAN_MS as u64) as i64);
    let user = format!("u-{}", rng.skewed(USERS));
    let session = format!("s-{}", rng.next() % 200_000);
    let mut dims = doc! {
        "user": &user,
        "anon": format!("a-{}", rng.next() % 50_000),
        "session": session,
        "page": format!("/page/{}", rng.skewed(40)),
        "browser": if rng.next() % 3 == 0 { "Firefox" } else { "Chrome" },
        "roles": if rng.next() % 4 == 0 { vec!["admin", "analyst"] } else { vec!["viewer"] },
    };
    let (kind, metrics) = if rng.next() % 10 < 7 {
        dims.insert("widget", format!("widget-{:03}", rng.skewed(WIDGETS)));
        dims.insert("tag", "button");
        ("click", Document::new())
    } else {
        let route = rng.skewed(ROUTES);
        dims.insert("route", format!("/api/v1/resource-{route:02}/{{id}}"));
        dims.insert("method", if rng.next() % 4 == 0 { "POST" } else { "GET" });
        dims.insert("status", 200_i64);
        // Log-normal-ish latencies, slower for higher route numbers.
        let base = 5.0 + route as f64;
        let d = base * (1.0 + 4.0 * rng.unit() * rng.unit() * rng.unit());
        (
            "http",
            doc! { "duration_ms": d, "response_bytes": (rng.next() % 50_000) as f64 },
        )
    };
    let d = doc! {
        "_id": format!("{APP}:bench-{i:09}"),
        "app": APP,
        "type": kind,
        "ts": ts,
        "client_ts": ts,
        "received_at": ts,
        "dims": dims,
        "metrics": metrics,
    };
    RawDocumentBuf::from_document(&d).expect("a BSON document")
}

pub(crate) async fn load(store: &Store, n: usize) {
    let events = store
        .database()
        .collection::<mongodb::bson::Document>("events");
    let have = events.count_documents(doc! { "app": APP }).await.unwrap() as usize;
    if have == n {
        println!(
            "reusing the {n} events already in {}",
            store.database().name()
        );
        return;
    }
    if have != 0 {
        events.delete_many(doc! { "app": APP }).await.unwrap();
    }
    let t = Instant::now();
    let mut rng = Rng(0x5eed_0f0b_5e55_edf0);
    let mut i = 0;
    while i < n {
        let m = LOAD_BATCH.min(n - i);
        let docs: Vec<RawDocumentBuf> = (i..i + m).map(|j| event(&mut rng, j)).collect();
        let out = raw_events(store)
            .insert_many(&docs)
            .ordered(false)
            .await
            .unwrap();
        assert_eq!(out.inserted_ids.len(), m);
        i += m;
        if i % 100_000 == 0 {
            eprintln!(
                "  loaded {i} events ({:.0}/s)",
                i as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "loaded {n} events in {:.1} s ({:.0} events/s)",
        t.elapsed().as_secs_f64(),
        n as f64 / t.elapsed().as_secs_f64()
    );
}
