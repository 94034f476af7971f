//! Singleton jobs against the real local store (`MONGODB_URI`, which
//! `cargo xtask test` starts): several collectors' supervisors running the
//! same job never step at once, another takes over when the holder dies or
//! shuts down, and a step is dropped when its lease is lost mid-way.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{Job, Step, Supervisor};
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::health::{Health, Progress};
use crate::lease::Lease;
use crate::store::{Store, WriteAck};

static DB: AtomicU32 = AtomicU32::new(0);

async fn store() -> Store {
    let uri = std::env::var("MONGODB_URI").unwrap_or_else(|_| {
        panic!(
            "MONGODB_URI is not set: these tests need a MongoDB-compatible server. \
             Run them with `cargo xtask test`, which starts one, or set MONGODB_URI."
        )
    });
    let db = format!(
        "ul_test_singleton_{}_{}",
        std::process::id(),
        DB.fetch_add(1, Ordering::SeqCst)
    );
    Store::connect(&uri, &db, WriteAck::default(), Duration::from_secs(10))
        .await
        .expect("connect to the store")
}

/// One step of one collector, from its start to its end or its drop.
#[derive(Debug, Clone, Copy)]
struct Span {
    collector: u8,
    start: Instant,
    end: Instant,
    completed: bool,
}

type Spans = Arc<Mutex<Vec<Span>>>;

/// Records its span when the step ends, however it ends.
struct Recording {
    spans: Spans,
    collector: u8,
    start: Instant,
    completed: bool,
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.spans.lock().unwrap().push(Span {
            collector: self.collector,
            start: self.start,
            end: Instant::now(),
            completed: self.completed,
        });
    }
}

/// A job whose steps take `work`, every `every`.
struct Recorder {
    collector: u8,
    every: Duration,
    work: Duration,
    spans: Spans,
}

impl Job for Recorder {
    const NAME: &'static str = "recorder";

    fn every(&self) -> Duration {
        self.every
    }

    async fn step(&mut self, _: &Progress) -> Result<Step, String> {
        let mut r = Recording {
            spans: Arc::clone(&self.spans),
            collector: self.collector,
            start: Instant::now(),
            completed: false,
        };
        tokio::time::sleep(self.work).await;
        r.completed = true;
        Ok(Step::Continue)
    }
}

fn collector(
    store: &Store,
    n: u8,
    spans: &Spans,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    work: Duration,
) -> (Supervisor, Arc<Health>) {
    let health = Arc::new(Health::default());
    let mut s = Supervisor::new(Arc::clone(&health));
    s.spawn_singleton(
        Recorder {
            collector: n,
            every: Duration::from_millis(50),
            work,
            spans: Arc::clone(spans),
        },
        Lease::new(store.clone(), "recorder", ttl, clock),
    );
    (s, health)
}

fn spans_of(spans: &Spans, n: u8) -> Vec<Span> {
    spans
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.collector == n)
        .copied()
        .collect()
}

#[tokio::test]
async fn collectors_never_step_at_once_and_one_takes_over_when_the_holder_dies_or_stops() {
    let store = store().await;
    let spans: Spans = Arc::default();
    let ttl = Duration::from_millis(900);
    let work = Duration::from_millis(30);
    let (a, health_a) = collector(&store, 1, &spans, Arc::new(SystemClock), ttl, work);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (b, health_b) = collector(&store, 2, &spans, Arc::new(SystemClock), ttl, work);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    assert!(spans_of(&spans, 1).len() >= 10, "a steps: {spans:?}");
    assert!(
        spans_of(&spans, 2).is_empty(),
        "b only stands by: {spans:?}"
    );
    assert_eq!(health_a.report()[0].lease, Some("held"));
    assert_eq!(health_b.report()[0].lease, Some("standby"));
    assert!(health_b.report()[0].healthy, "standing by is healthy");

    // a dies: no last step, no release. b takes over once the lease a
    // wrote expires (at most a time to live and a renewal period later).
    let died = Instant::now();
    a.kill();
    let deadline = died + Duration::from_secs(4);
    while spans_of(&spans, 2).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_b = spans_of(&spans, 2)
        .first()
        .copied()
        .expect("b took over within 4 s");
    let took = first_b.start - died;
    assert!(
        took <= ttl + ttl / 3 + Duration::from_millis(1000),
        "b took over {took:?} after a died"
    );
    assert_eq!(health_b.report()[0].lease, Some("held"));

    // b shuts down and releases the lease: c takes it at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = Instant::now();
    b.shutdown(Duration::from_secs(5)).await;
    let (c, _) = collector(&store, 3, &spans, Arc::new(SystemClock), ttl, work);
    let deadline = stopped + Duration::from_secs(4);
    while spans_of(&spans, 3).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first_c = spans_of(&spans, 3).first().copied().expect("c took over");
    assert!(
        first_c.start - stopped < ttl - ttl / 3,
        "a released lease is taken at once: {:?}",
        first_c.start - stopped
    );
    c.shutdown(Duration::from_secs(5)).await;

    // Across all three, no two steps overlapped.
    let mut all = spans.lock().unwrap().clone();
    all.sort_by_key(|s| s.start);
    for w in all.windows(2) {
        assert!(
            w[0].end <= w[1].start,
            "overlapping steps: {:?} and {:?}",
            w[0],
            w[1]
        );
    }
    let _ = store.database().drop().await;
}

#[tokio::test]
async fn a_step_is_dropped_when_its_lease_is_lost_mid_step() {
    let store = store().await;
    let spans: Spans = Arc::default();
    let clock = ManualClock::at(1_800_000_000_000);
    let ttl = Duration::from_millis(900);
    // Steps that take 10 s: the lease is renewed during them.
    let (a, health) = collector(
        &store,
        1,
        &spans,
        Arc::new(clock.clone()),
        ttl,
        Duration::from_secs(10),
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(health.report()[0].lease, Some("held"));
    assert!(
        spans_of(&spans, 1).is_empty(),
        "the first step is still running"
    );

    // Another collector finds the lease expired (a was frozen past the
    // expiry it wrote; a's clock stands still here, so a keeps renewing
    // and its renewals are what gets refused) and takes it.
    let later = ManualClock::at(clock.now_ms() + 5_000);
    let mut other = Lease::new(store.clone(), "recorder", ttl, Arc::new(later));
    assert!(other.keep().await.unwrap());
    let took = Instant::now();
    while spans_of(&spans, 1).is_empty() && took.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dropped = spans_of(&spans, 1);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(!dropped[0].completed, "the step was dropped, not finished");
    let r = &health.report()[0];
    assert_eq!(r.lease, Some("standby"));
    assert!(r.failures >= 1, "{r:?}");
    assert!(
        r.last_error
            .as_deref()
            .unwrap_or("")
            .contains("lost its lease"),
        "{r:?}"
    );
    // It stands by from now on: no new step while `other` holds the lease.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(spans_of(&spans, 1).len(), 1);
    a.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        other.current().await.unwrap().unwrap().holder,
        other.holder(),
        "a's shutdown did not release the lease it no longer holds"
    );
    let _ = store.database().drop().await;
}
