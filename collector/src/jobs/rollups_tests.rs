//! The rollup builder as a singleton job against the real local store: the
//! collector holding its lease rebuilds the dirty hours, the other stands
//! by, and when the holder is killed the other takes over and builds what
//! was marked since.

use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::{doc, DateTime, RawDocumentBuf};

use super::{RollupBuilder, Supervisor, ROLLUP_LEASE};
use crate::clock::SystemClock;
use crate::health::Health;
use crate::lease::Lease;
use crate::rollups::{builtin, Rollup};
use crate::store::{Store, WriteAck};

const HOUR: i64 = 3_600_000;
/// 2026-01-05T00:00:00Z.
const D0: i64 = 1_767_571_200_000;

async fn store() -> Store {
    let uri = std::env::var("MONGODB_URI")
        .expect("MONGODB_URI: run the tests with `cargo xtask test`, which starts a store");
    let db = format!("ul_test_builder_{}", std::process::id());
    Store::connect(&uri, &db, WriteAck::default(), Duration::from_secs(10))
        .await
        .expect("connect to the store")
}

fn clicks_rollup() -> Vec<Rollup> {
    builtin()
        .into_iter()
        .filter(|r| r.name == "clicks")
        .collect()
}

async fn clicks_in(store: &Store, hour: i64, n: i64) {
    let docs: Vec<RawDocumentBuf> = (0..n)
        .map(|i| {
            RawDocumentBuf::from_document(&doc! {
                "_id": format!("demo:{hour}-{i}"), "app": "demo", "type": "click",
                "ts": DateTime::from_millis(hour + i * 1000),
                "dims": { "widget": "export", "page": "/", "user": format!("u{i}") },
            })
            .unwrap()
        })
        .collect();
    store.events().insert(&docs).await.unwrap();
    let now = DateTime::now().timestamp_millis();
    store
        .rollups()
        .mark_dirty("demo", &[hour], now - 5_000)
        .await
        .unwrap();
}

fn collector(store: &Store) -> (Supervisor, Arc<Health>) {
    let health = Arc::new(Health::default());
    let mut s = Supervisor::new(Arc::clone(&health));
    let clock = Arc::new(SystemClock);
    s.spawn_singleton(
        RollupBuilder {
            store: store.clone(),
            clock: clock.clone(),
            rollups: clicks_rollup(),
            every: Duration::from_millis(50),
            settle: Duration::ZERO,
            ensured: false,
        },
        Lease::new(
            store.clone(),
            ROLLUP_LEASE,
            Duration::from_millis(900),
            clock,
        ),
    );
    (s, health)
}

/// Waits until no mark of `demo` is left; false after `limit`.
async fn built(store: &Store, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        let now = DateTime::now().timestamp_millis();
        if store.rollups().count_ended("demo", now).await.unwrap() == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn the_lease_holder_builds_and_another_collector_takes_over_when_it_is_killed() {
    let store = store().await;
    store.ensure_indexes().await.unwrap();
    clicks_in(&store, D0, 10).await;

    let (a, health_a) = collector(&store);
    assert!(
        built(&store, Duration::from_secs(5)).await,
        "a built the hour"
    );
    assert_eq!(
        store.rollups().count("clicks", Some("demo")).await.unwrap(),
        1
    );
    let (b, health_b) = collector(&store);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(health_a.report()[0].lease, Some("held"));
    assert_eq!(health_b.report()[0].lease, Some("standby"));

    // a dies mid-life (no release); a new hour is marked; b builds it.
    a.kill();
    clicks_in(&store, D0 + 5 * HOUR, 4).await;
    assert!(
        built(&store, Duration::from_secs(5)).await,
        "b took over and built the new hour"
    );
    assert_eq!(health_b.report()[0].lease, Some("held"));
    assert_eq!(
        store.rollups().count("clicks", Some("demo")).await.unwrap(),
        2
    );
    b.shutdown(Duration::from_secs(5)).await;
    let _ = store.database().drop().await;
}
