//! The benchmarks' data sets (BENCHMARKS.md): a million events of app
//! `bench` over 28 days, generated deterministically and loaded once: a
//! database that holds exactly that many is reused. Shared by `query.rs`
//! ([`Mix::Query`]: clicks on 300 widgets, skewed; `http` calls on 60
//! routes) and `reports.rs` ([`Mix::Reports`]: the same users, sessions and
//! pages, with page loads, control choices and browser memory as well, so
//! every report has work to do).
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
/// Where the events end (2026-11-29T00:00:00Z).
#[allow(dead_code)] // not every benchmark reads it
pub(crate) const END_MS: i64 = START_MS + SPAN_MS;
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

/// The mix of event types in a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mix {
    /// 70% `click`, 30% `http` (the query benchmark's, unchanged since issue 6).
    Query,
    /// 55% `click`, 20% `http` (with serialization times and 2% errors),
    /// 10% `load` (every waterfall phase and FCP/LCP), 10% `choice` (12
    /// controls' end-of-view samples, the default kept about half the time),
    /// 5% browser `memory` (heap, GC, long tasks).
    Reports,
}

impl Mix {
    /// The database the data set lives in.
    pub(crate) fn database(self, n: usize) -> String {
        match self {
            Mix::Query => format!("ul_bench_query_{n}"),
            Mix::Reports => format!("ul_bench_reports_{n}"),
        }
    }
}

const CONTROLS: u64 = 12;
const OPTIONS: u64 = 4;

/// Event `i` in the layout the collector stores (docs/storage.md).
fn event(rng: &mut Rng, i: usize, mix: Mix) -> RawDocumentBuf {
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
    let roll = if mix == Mix::Query {
        // One draw, as before the reports mix existed: the query data set is unchanged.
        if rng.next() % 10 < 7 {
            0
        } else {
            55
        }
    } else {
        rng.next() % 100
    };
    let (kind, metrics) = if roll < 55 {
        dims.insert("widget", format!("widget-{:03}", rng.skewed(WIDGETS)));
        dims.insert("tag", "button");
        ("click", Document::new())
    } else if roll < 75 {
        let route = rng.skewed(ROUTES);
        dims.insert("route", format!("/api/v1/resource-{route:02}/{{id}}"));
        dims.insert("method", if rng.next() % 4 == 0 { "POST" } else { "GET" });
        // Log-normal-ish latencies, slower for higher route numbers.
        let base = 5.0 + route as f64;
        let d = base * (1.0 + 4.0 * rng.unit() * rng.unit() * rng.unit());
        let mut metrics = doc! { "duration_ms": d, "response_bytes": (rng.next() % 50_000) as f64 };
        if mix == Mix::Query {
            dims.insert("status", 200_i64);
        } else {
            let status = if rng.next() % 50 == 0 { 500_i64 } else { 200 };
            dims.insert("status", status);
            metrics.insert("serialize_ms", d * 0.1 * rng.unit());
        }
        ("http", metrics)
    } else if roll < 85 {
        // Waterfall phases in order; the total is their sum.
        let mut metrics = Document::new();
        let mut total = 0.0;
        for (phase, scale) in [
            ("redirect_ms", 2.0),
            ("dns_ms", 10.0),
            ("connect_ms", 20.0),
            ("tls_ms", 20.0),
            ("request_ms", 60.0),
            ("response_ms", 40.0),
            ("dom_ms", 300.0),
            ("dcl_ms", 30.0),
            ("load_event_ms", 10.0),
        ] {
            let v = scale * (0.2 + 2.0 * rng.unit() * rng.unit());
            total += v;
            metrics.insert(phase, v);
        }
        metrics.insert("total_ms", total);
        metrics.insert("fcp_ms", total * 0.6);
        metrics.insert("lcp_ms", total * 0.9);
        ("load", metrics)
    } else if roll < 95 {
        let control = rng.next() % CONTROLS;
        // Control k keeps its default about half the time; the rest spread over the options.
        let value = if rng.next() % 2 == 0 {
            0
        } else {
            rng.next() % OPTIONS
        };
        dims.insert("control", format!("ctl-{control:02}"));
        dims.insert("form", "settings");
        dims.insert("control_type", "select");
        dims.insert("trigger", "hide");
        dims.insert("view", format!("v-{i}"));
        dims.insert("value", format!("opt-{value}"));
        dims.insert("default", "opt-0");
        dims.insert("is_default", value == 0);
        ("choice", Document::new())
    } else {
        dims.insert("source", "browser");
        (
            "memory",
            doc! {
                "used_heap_bytes": 10e6 + 90e6 * rng.unit() * rng.unit(),
                "gc_count": (rng.next() % 3) as f64,
                "gc_reclaimed_bytes": (rng.next() % 5_000_000) as f64,
                "longtask_count": (rng.next() % 2) as f64,
                "longtask_ms": (rng.next() % 120) as f64,
            },
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

pub(crate) async fn load(store: &Store, n: usize, mix: Mix) {
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
        let docs: Vec<RawDocumentBuf> = (i..i + m).map(|j| event(&mut rng, j, mix)).collect();
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
