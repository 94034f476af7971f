//! The client: the host-facing API. Recording never blocks and never fails:
//! it stamps the time and pushes into a bounded lock-free queue (a full
//! queue drops the event and counts it). The worker is woken only when a
//! batch is full, never per event, so the host pays no syscall to record.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_queue::ArrayQueue;
use tokio::sync::{mpsc, Notify};
use usagelens_protocol::{Dims, Metrics};

use crate::attrs::{Attrs, Measures};

use crate::options::{ConfigError, Options};
use crate::transport::{self, Control};

/// One recorded event, before the worker gives it an id and checks it.
#[derive(Debug)]
pub(crate) struct Record {
    pub kind: Cow<'static, str>,
    pub ts_ms: i64,
    pub attrs: Attrs,
    pub measures: Measures,
}

/// An event of a [`BoundEvent`]: its shape is shared, so the record is small.
#[derive(Debug)]
pub(crate) struct BoundRecord {
    pub shape: u32,
    pub ts_ms: i64,
    pub measures: Measures,
}

/// A bound event type and its dimensions.
pub(crate) type Shape = (Cow<'static, str>, Attrs);

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
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub queued: AtomicU64,
    pub sent: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_undeliverable: AtomicU64,
    pub invalid: AtomicU64,
}

/// Why `flush` or `shutdown` did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlushError {
    /// The worker did not finish within the timeout; events may still go out.
    #[error("timed out before everything queued was delivered")]
    Timeout,
    /// The client was shut down already.
    #[error("the client is shut down")]
    AlreadyShutdown,
}

/// What the client and the worker share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub queue: ArrayQueue<Record>,
    /// Events of bound shapes: a separate ring of small records.
    pub bound_queue: ArrayQueue<BoundRecord>,
    pub shapes: std::sync::RwLock<Vec<Arc<Shape>>>,
    /// Woken when a batch is full.
    pub batch_full: Notify,
    pub batch_size: usize,
    pub counters: Counters,
    pub closed: AtomicBool,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    shutdown_timeout: Duration,
}

/// A handle to the SDK; cheap to clone, safe to share across threads.
///
/// ```no_run
/// use usagelens::{Client, Options};
/// use usagelens_protocol::{Dims, Metrics};
///
/// let client = Client::new(Options::new("shop", "wk_…")).expect("valid options");
/// client.track("checkout", Dims::new().with("plan", "pro"), Metrics::new().with("items", 3));
/// client.shutdown(std::time::Duration::from_secs(2)).ok();
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Client {
    /// Starts the background worker (a dedicated thread with its own small
    /// runtime, so the host need not run tokio).
    pub fn new(options: Options) -> Result<Self, ConfigError> {
        options.validate()?;
        let (control, control_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(options.queue_capacity),
            bound_queue: ArrayQueue::new(options.queue_capacity),
            shapes: std::sync::RwLock::new(Vec::new()),
            batch_full: Notify::new(),
            batch_size: options.batch_size,
            counters: Counters::default(),
            closed: AtomicBool::new(false),
        });
        let shutdown_timeout = options.shutdown_timeout;
        transport::spawn(options, shared.clone(), control_rx).map_err(|e| ConfigError {
            setting: "worker",
            message: format!("cannot start the worker thread: {e}"),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                control,
                shutdown_timeout,
            }),
        })
    }

    /// Records an event of type `kind` (`^[a-z][a-z0-9_.-]{0,63}$`). Never
    /// blocks, never fails: a full queue drops it and counts it.
    pub fn track(&self, kind: impl Into<Cow<'static, str>>, dims: Dims, metrics: Metrics) {
        self.record(kind, dims.into(), metrics.into());
    }

    /// Records an event without allocating on the calling thread when the
    /// names and string values are `'static` and there are at most four
    /// dimensions and two metrics: the hot path for per-request events.
    ///
    /// ```no_run
    /// # let client = usagelens::Client::new(usagelens::Options::new("shop", "wk_…")).unwrap();
    /// use usagelens::{Attrs, Measures};
    /// client.record(
    ///     "http",
    ///     Attrs::new().with("route", "/users/{id}").with("method", "GET").with("status", 200),
    ///     Measures::new().with("duration_ms", 1.25),
    /// );
    /// ```
    pub fn record(&self, kind: impl Into<Cow<'static, str>>, attrs: Attrs, measures: Measures) {
        self.enqueue(Record {
            kind: kind.into(),
            ts_ms: now_ms(),
            attrs,
            measures,
        });
    }

    fn enqueue(&self, record: Record) {
        let s = &self.inner.shared;
        let accepted = !s.closed.load(Ordering::Relaxed) && s.queue.push(record).is_ok();
        self.admitted(accepted);
    }

    fn admitted(&self, accepted: bool) {
        let s = &self.inner.shared;
        if !accepted {
            s.counters
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Wake the worker once per `batch_size` events (the count is a cheap
        // proxy for a full batch; the interval flush covers the rest).
        let n = s.counters.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if n % s.batch_size as u64 == 0 {
            s.batch_full.notify_one();
        }
    }

    /// Binds an event type and its dimensions once, for events recorded
    /// often with the same dimensions (one route's `http` events, a queue's
    /// depth): each [`BoundEvent::record`] then only stamps the time and the
    /// metrics. Bind each shape once (at start-up, or cached): bindings live
    /// as long as the client.
    ///
    /// ```no_run
    /// # let client = usagelens::Client::new(usagelens::Options::new("shop", "wk_…")).unwrap();
    /// use usagelens::{Attrs, Measures};
    /// let get_user = client.bind(
    ///     "http",
    ///     Attrs::new().with("route", "/users/{id}").with("method", "GET").with("status", 200),
    /// );
    /// get_user.record(Measures::new().with("duration_ms", 1.25));
    /// ```
    pub fn bind(&self, kind: impl Into<Cow<'static, str>>, attrs: Attrs) -> BoundEvent {
        let mut shapes = self
            .inner
            .shared
            .shapes
            .write()
            .unwrap_or_else(|p| p.into_inner());
        shapes.push(Arc::new((kind.into(), attrs)));
        BoundEvent {
            client: self.clone(),
            shape: (shapes.len() - 1) as u32,
        }
    }

    /// Records a `timing` event: `name` and `duration_ms`.
    pub fn timing(&self, name: &str, duration: Duration, dims: Dims) {
        let dims = dims.with("name", name);
        let metrics = Metrics::new().with("duration_ms", duration.as_secs_f64() * 1000.0);
        self.track("timing", dims, metrics);
    }

    /// Runs `f`, records how long it took as a `timing` event, and returns its result.
    pub fn time<R>(&self, name: &str, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let r = f();
        self.timing(name, start.elapsed(), Dims::new());
        r
    }

    /// Records a `metric` event: a gauge or a counter `name` with `value` in `unit`.
    pub fn metric(&self, name: &str, value: f64, unit: &str, dims: Dims) {
        let dims = dims.with("name", name).with("unit", unit);
        self.track("metric", dims, Metrics::new().with("value", value));
    }

    /// What happened to recorded events so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.shared.counters;
        Stats {
            queued: c.queued.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            dropped_queue_full: c.dropped_queue_full.load(Ordering::Relaxed),
            dropped_undeliverable: c.dropped_undeliverable.load(Ordering::Relaxed),
            invalid: c.invalid.load(Ordering::Relaxed),
        }
    }

    fn control(
        &self,
        make: impl FnOnce(std::sync::mpsc::Sender<()>) -> Control,
        timeout: Duration,
    ) -> Result<(), FlushError> {
        let (ack, done) = std::sync::mpsc::channel();
        self.inner
            .control
            .send(make(ack))
            .map_err(|_| FlushError::AlreadyShutdown)?;
        match done.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(FlushError::Timeout),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(FlushError::AlreadyShutdown)
            }
        }
    }

    /// Delivers everything queued now, waiting at most `timeout`. Blocks the
    /// calling thread: from async code, call it in `spawn_blocking`.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        self.control(Control::Flush, timeout)
    }

    /// Delivers what is queued and stops the worker, waiting at most
    /// `timeout`. Idempotent: later calls answer `AlreadyShutdown`.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        self.control(Control::Shutdown, timeout)
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.inner.shared.closed.load(Ordering::Relaxed)
    }

    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.inner.shutdown_timeout
    }
}

/// An event type with its dimensions, bound once by [`Client::bind`].
#[derive(Debug, Clone)]
pub struct BoundEvent {
    client: Client,
    shape: u32,
}

impl BoundEvent {
    /// Records one event with the bound dimensions and `measures`. Never
    /// blocks, never fails, never allocates for up to two metrics.
    pub fn record(&self, measures: Measures) {
        let s = &self.client.inner.shared;
        let accepted = !s.closed.load(Ordering::Relaxed)
            && s.bound_queue
                .push(BoundRecord {
                    shape: self.shape,
                    ts_ms: now_ms(),
                    measures,
                })
                .is_ok();
        self.client.admitted(accepted);
    }
}

/// Flushes and stops the client when dropped, bounded by `shutdown_timeout`.
#[derive(Debug)]
pub struct Guard {
    client: Client,
}

impl Guard {
    /// The client, to record with.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.client.shutdown(self.client.shutdown_timeout());
    }
}

/// Starts a client and returns it in a [`Guard`] that flushes on drop.
pub fn init(options: Options) -> Result<Guard, ConfigError> {
    Ok(Guard {
        client: Client::new(options)?,
    })
}
