//! The client: the host-facing API ([`Client`], [`BoundEvent`], and the
//! [`Guard`] from [`init`]). Recording hands the event to the queue
//! (`queue.rs`) and returns: it never blocks and never fails. `flush` and
//! `shutdown` are control messages to the worker (`transport.rs`), each
//! waited for at most a timeout.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use usagelens_protocol::{Dims, Metrics};

use crate::attrs::{Attrs, Measures};
use crate::options::{ConfigError, Options};
use crate::queue::{Ack, Control, Queue, Stats};
use crate::transport;

/// Why `flush` or `shutdown` did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlushError {
    /// Not everything queued was delivered within the timeout: after `flush`
    /// the rest stays queued and goes later ([`Stats::pending`]); after
    /// `shutdown` it is dropped and counted ([`Stats::dropped_at_shutdown`]).
    #[error("timed out before everything queued was delivered")]
    Timeout,
    /// The client was shut down already.
    #[error("the client is shut down")]
    AlreadyShutdown,
}

/// How long past its timeout `flush` or `shutdown` waits for the worker's
/// answer, which the worker sends at the deadline: enough for the message to
/// cross threads, short enough to keep the call bounded.
const ACK_GRACE: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct Inner {
    queue: Arc<Queue>,
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

impl Client {
    /// Starts the background worker (a dedicated thread with its own small
    /// runtime, so the host need not run tokio).
    pub fn new(options: Options) -> Result<Self, ConfigError> {
        options.validate()?;
        let (control, control_rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue::new(options.queue_capacity, options.batch_size));
        let shutdown_timeout = options.shutdown_timeout;
        transport::spawn(options, queue.clone(), control_rx).map_err(|e| ConfigError {
            setting: "worker",
            message: format!("cannot start the worker thread: {e}"),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                queue,
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
        self.inner.queue.push(kind.into(), attrs, measures);
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
    #[must_use = "binding records nothing: keep the BoundEvent and call its `record`"]
    pub fn bind(&self, kind: impl Into<Cow<'static, str>>, attrs: Attrs) -> BoundEvent {
        BoundEvent {
            client: self.clone(),
            shape: self.inner.queue.bind(kind.into(), attrs),
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
        self.inner.queue.stats()
    }

    /// Hands a control message to the worker.
    pub(crate) fn send_control(&self, c: Control) -> Result<(), FlushError> {
        self.inner
            .control
            .send(c)
            .map_err(|_| FlushError::AlreadyShutdown)
    }

    /// Sends a flush or a shutdown with its deadline and waits for the
    /// worker's answer, which comes by the deadline (the worker stops
    /// waiting for the collector then), or a moment after it at worst.
    fn control(
        &self,
        make: impl FnOnce(Ack, Instant) -> Control,
        timeout: Duration,
    ) -> Result<(), FlushError> {
        let (ack, done) = std::sync::mpsc::channel();
        let now = Instant::now();
        // `Duration::MAX` and the like: wait as long as it takes (about forever).
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        self.send_control(make(ack, deadline))?;
        match done.recv_timeout(timeout.saturating_add(ACK_GRACE)) {
            Ok(answer) => answer,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(FlushError::Timeout),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err(FlushError::AlreadyShutdown)
            }
        }
    }

    /// Delivers everything queued now, waiting at most `timeout` (a
    /// collector that pauses the SDK with `Retry-After` is not waited for
    /// past it). `Ok` once nothing is left: delivered, or dropped and
    /// counted in [`Stats`]; on `Timeout` what is left stays queued
    /// ([`Stats::pending`]) and goes later. Blocks the calling thread: from
    /// async code, call it in `spawn_blocking`.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        self.control(|ack, deadline| Control::Flush { ack, deadline }, timeout)
    }

    /// Delivers what is queued and stops the worker, waiting at most
    /// `timeout`; what could not be delivered by then is dropped and
    /// counted ([`Stats::dropped_at_shutdown`]) and the answer is `Timeout`.
    /// Events recorded from then on are dropped and counted. Idempotent:
    /// later calls answer `AlreadyShutdown`.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        self.control(|ack, deadline| Control::Shutdown { ack, deadline }, timeout)
    }

    fn shutdown_timeout(&self) -> Duration {
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
        self.client.inner.queue.push_bound(self.shape, measures);
    }
}

/// Flushes and stops the client when dropped, bounded by `shutdown_timeout`.
///
/// Keep it in a named binding for as long as the program records
/// (`let _guard = usagelens::init(options)?;`): bound to `_`, or not bound
/// at all, it is dropped at once and the client is shut down.
#[must_use = "the guard flushes and shuts the client down when dropped: bound to `_` it is dropped at once; keep it (`let _guard = ...`) for as long as the program records"]
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
