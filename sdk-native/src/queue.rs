//! The queue: what the host's threads and the worker share. Two bounded
//! lock-free rings (whole records, and the small records of bound events
//! with the shapes they point to), the counters behind [`Stats`], the
//! closed flag, and the [`Control`] messages that travel apart from the
//! rings so a full queue never delays a flush or a shutdown.
//!
//! The host's side ([`Queue::push`], [`Queue::push_bound`]) never blocks and
//! never fails: it stamps the time and pushes; a full or closed queue drops
//! the event and counts it. The worker is woken once per `batch_size`
//! admitted events, never per event, so the host pays no syscall to record.
//! The worker's side ([`Queue::drain`]) turns bound records back into whole
//! ones off the host's thread. There is no unbounded buffer anywhere.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_queue::ArrayQueue;
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use crate::attrs::{Attrs, Measures};

/// One recorded event, before the worker gives it an id and checks it.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) kind: Cow<'static, str>,
    /// Milliseconds since the Unix epoch, stamped when recorded.
    pub(crate) ts_ms: i64,
    pub(crate) attrs: Attrs,
    pub(crate) measures: Measures,
}

/// An event of a bound shape: its type and dimensions are shared, so the record is small.
#[derive(Debug)]
struct BoundRecord {
    shape: u32,
    ts_ms: i64,
    measures: Measures,
}

/// A bound event type and its dimensions.
type Shape = (Cow<'static, str>, Attrs);

/// Counters of what happened to recorded events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Accepted into the queue.
    pub queued: u64,
    /// Delivered (the collector stored them, or had them already).
    pub sent: u64,
    /// Dropped because the queue was full (the collector slow or down), or recorded after shutdown.
    pub dropped_queue_full: u64,
    /// Dropped after the collector refused them (4xx) or retries ran out.
    pub dropped_undeliverable: u64,
    /// Dropped because they break a protocol rule (a bad name, a non-finite metric).
    pub invalid: u64,
    /// Still undelivered when `shutdown`'s timeout ran out (a collector
    /// pausing the SDK with `Retry-After`, or down), dropped then.
    pub dropped_at_shutdown: u64,
}

impl Stats {
    /// Events accepted and not yet delivered nor dropped: in the queue, or
    /// in a batch waiting for its next attempt. After a `flush` that timed
    /// out, this is what is left.
    ///
    /// ```
    /// let s = usagelens::Stats { queued: 10, sent: 6, invalid: 1, ..Default::default() };
    /// assert_eq!(s.pending(), 3);
    /// ```
    pub fn pending(&self) -> u64 {
        self.queued.saturating_sub(
            self.sent + self.dropped_undeliverable + self.invalid + self.dropped_at_shutdown,
        )
    }
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    sent: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_undeliverable: AtomicU64,
    invalid: AtomicU64,
    dropped_at_shutdown: AtomicU64,
}

/// How the worker answers a flush or a shutdown.
pub(crate) type Ack = std::sync::mpsc::Sender<Result<(), crate::FlushError>>;

/// Control messages, apart from the rings so a full queue never delays them.
#[derive(Debug)]
pub(crate) enum Control {
    /// Deliver everything queued by `deadline`, then ack (`Timeout` if not
    /// all of it could go; what is left stays queued).
    Flush {
        ack: Ack,
        deadline: std::time::Instant,
    },
    /// Deliver everything queued by `deadline`, drop and count what is left,
    /// ack, and stop.
    Shutdown {
        ack: Ack,
        deadline: std::time::Instant,
    },
    /// Record a `memory` sample now and every interval.
    SampleMemory(std::time::Duration),
}

/// The wall-clock time in milliseconds since the Unix epoch (0 before it).
#[inline]
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The bounded queue between the host's threads and the worker.
#[derive(Debug)]
pub(crate) struct Queue {
    records: ArrayQueue<Record>,
    /// Events of bound shapes: a separate ring of small records.
    bound: ArrayQueue<BoundRecord>,
    shapes: RwLock<Vec<Arc<Shape>>>,
    /// Woken when a batch is full.
    batch_full: Notify,
    batch_size: usize,
    counters: Counters,
    closed: AtomicBool,
}

impl Queue {
    /// Each ring holds `capacity` events; the worker is woken every `batch_size`.
    pub(crate) fn new(capacity: usize, batch_size: usize) -> Self {
        Self {
            records: ArrayQueue::new(capacity),
            bound: ArrayQueue::new(capacity),
            shapes: RwLock::new(Vec::new()),
            batch_full: Notify::new(),
            batch_size,
            counters: Counters::default(),
            closed: AtomicBool::new(false),
        }
    }

    /// Records an event now, or drops and counts it when the queue is full or closed.
    #[inline]
    pub(crate) fn push(&self, kind: Cow<'static, str>, attrs: Attrs, measures: Measures) {
        let record = Record {
            kind,
            ts_ms: now_ms(),
            attrs,
            measures,
        };
        let accepted = !self.closed.load(Ordering::Relaxed) && self.records.push(record).is_ok();
        self.admitted(accepted);
    }

    /// Keeps an event type and its dimensions for [`Queue::push_bound`];
    /// shapes live as long as the queue.
    pub(crate) fn bind(&self, kind: Cow<'static, str>, attrs: Attrs) -> u32 {
        let mut shapes = self.shapes.write().unwrap_or_else(|p| p.into_inner());
        shapes.push(Arc::new((kind, attrs)));
        (shapes.len() - 1) as u32
    }

    /// Records an event of a bound `shape` now, like [`Queue::push`].
    #[inline]
    pub(crate) fn push_bound(&self, shape: u32, measures: Measures) {
        let accepted = !self.closed.load(Ordering::Relaxed)
            && self
                .bound
                .push(BoundRecord {
                    shape,
                    ts_ms: now_ms(),
                    measures,
                })
                .is_ok();
        self.admitted(accepted);
    }

    #[inline]
    fn admitted(&self, accepted: bool) {
        if !accepted {
            self.counters
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Wake the worker once per `batch_size` events (the count is a cheap
        // proxy for a full batch; the interval flush covers the rest).
        let n = self.counters.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if n % self.batch_size as u64 == 0 {
            self.batch_full.notify_one();
        }
    }

    /// Whether the worker stopped; from then on every event is dropped and counted.
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Refuses every later event (the worker is stopping).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// What happened to recorded events so far.
    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            queued: c.queued.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            dropped_queue_full: c.dropped_queue_full.load(Ordering::Relaxed),
            dropped_undeliverable: c.dropped_undeliverable.load(Ordering::Relaxed),
            invalid: c.invalid.load(Ordering::Relaxed),
            dropped_at_shutdown: c.dropped_at_shutdown.load(Ordering::Relaxed),
        }
    }

    /// Resolves when a batch may be full (a wake from [`Queue::push`] or
    /// [`Queue::push_bound`]).
    pub(crate) fn batch_full(&self) -> Notified<'_> {
        self.batch_full.notified()
    }

    /// Whether the rings hold at least one batch.
    pub(crate) fn holds_a_batch(&self) -> bool {
        self.records.len() + self.bound.len() >= self.batch_size
    }

    /// Moves queued events into `buf` until it holds `max`: whole records
    /// first, then bound ones with their shape's type and dimensions.
    pub(crate) fn drain(&self, buf: &mut Vec<Record>, max: usize) {
        while buf.len() < max {
            match self.records.pop() {
                Some(r) => buf.push(r),
                None => break,
            }
        }
        if buf.len() >= max || self.bound.is_empty() {
            return;
        }
        let shapes = self.shapes.read().unwrap_or_else(|p| p.into_inner());
        while buf.len() < max {
            let Some(b) = self.bound.pop() else {
                break;
            };
            let Some(shape) = shapes.get(b.shape as usize) else {
                continue;
            };
            buf.push(Record {
                kind: shape.0.clone(),
                ts_ms: b.ts_ms,
                attrs: shape.1.clone(),
                measures: b.measures,
            });
        }
    }

    /// Counts `n` events the collector stored.
    pub(crate) fn count_sent(&self, n: u64) {
        self.counters.sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` events the collector refused or that ran out of retries.
    pub(crate) fn count_undeliverable(&self, n: u64) {
        self.counters
            .dropped_undeliverable
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` events left undelivered when shutdown's timeout ran out.
    pub(crate) fn count_dropped_at_shutdown(&self, n: u64) {
        self.counters
            .dropped_at_shutdown
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one event that breaks a protocol rule.
    pub(crate) fn count_invalid(&self) {
        self.counters.invalid.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(buf: &[Record]) -> Vec<&str> {
        buf.iter().map(|r| r.kind.as_ref()).collect()
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let q = Queue::new(2, 10);
        for _ in 0..5 {
            q.push("x".into(), Attrs::new(), Measures::new());
        }
        let s = q.stats();
        assert_eq!((s.queued, s.dropped_queue_full), (2, 3));
        let mut buf = Vec::new();
        q.drain(&mut buf, usize::MAX);
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn a_closed_queue_admits_nothing() {
        let q = Queue::new(10, 10);
        q.close();
        assert!(q.is_closed());
        q.push("x".into(), Attrs::new(), Measures::new());
        let shape = q.bind("y".into(), Attrs::new());
        q.push_bound(shape, Measures::new());
        let s = q.stats();
        assert_eq!((s.queued, s.dropped_queue_full), (0, 2));
    }

    #[test]
    fn bound_records_come_back_with_their_shape_after_whole_ones() {
        let q = Queue::new(10, 3);
        let http = q.bind("http".into(), Attrs::new().with("route", "/users/{id}"));
        q.push_bound(http, Measures::new().with("duration_ms", 1.5));
        q.push("page".into(), Attrs::new(), Measures::new());
        assert!(!q.holds_a_batch());
        q.push_bound(http, Measures::new().with("duration_ms", 2.5));
        assert!(q.holds_a_batch());
        let mut buf = Vec::new();
        q.drain(&mut buf, 2);
        assert_eq!(kinds(&buf), ["page", "http"], "at most `max`, whole first");
        q.drain(&mut buf, usize::MAX);
        assert_eq!(kinds(&buf), ["page", "http", "http"]);
        assert_eq!(
            buf[2].attrs,
            Attrs::new().with("route", "/users/{id}"),
            "the shape's dimensions"
        );
        assert_eq!(buf[2].measures, Measures::new().with("duration_ms", 2.5));
        assert!(buf[1].ts_ms > 0);
    }

    #[tokio::test]
    async fn the_worker_is_woken_once_per_batch() {
        let q = Queue::new(100, 3);
        for _ in 0..2 {
            q.push("x".into(), Attrs::new(), Measures::new());
        }
        let woken = tokio::time::timeout(std::time::Duration::from_millis(20), q.batch_full());
        assert!(woken.await.is_err(), "no wake before a batch is full");
        q.push("x".into(), Attrs::new(), Measures::new());
        let woken = tokio::time::timeout(std::time::Duration::from_millis(20), q.batch_full());
        assert!(woken.await.is_ok(), "woken by the third event");
    }
}
