//! The transport: the worker, a dedicated thread (`usagelens-worker`) with a
//! current-thread tokio runtime. It drains the queue (`queue.rs`) into
//! batches by size, by interval or on a control message, gzips, posts with
//! reqwest, and follows the delivery contract of
//! [`usagelens_protocol::delivery`]: pause on 429/503 `Retry-After`, retry
//! network errors and 5xx with backoff and jitter, drop and count other 4xx.
//!
//! One batch at a time is "outgoing": while it waits for its next attempt
//! (a pause or a backoff) nothing else is sent, and the bounded queue fills
//! and drops and counts new events: there is never an unbounded retry
//! buffer. Every attempt, pauses included, counts against `max_retries`;
//! then the batch is dropped and counted, so none is retried forever.
//! The waits are branches of the worker's `select!`, never sleeps inside a
//! send, so a flush or a shutdown is handled at once: each carries its
//! deadline, the worker stops waiting for the collector at it, and a
//! shutdown drops and counts what is left then.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use usagelens_protocol::delivery::{backoff_ms, classify, Outcome};
use usagelens_protocol::{Batch, Event, Timestamp};

use crate::client::FlushError;
use crate::options::Options;
use crate::queue::{now_ms, Control, Queue, Record};

static PROCESS_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
static SEQ: AtomicU64 = AtomicU64::new(0);

/// A unique event id: a random per-process prefix and a counter.
fn next_id() -> String {
    let prefix = PROCESS_ID.get_or_init(|| format!("{:016x}", rand::rng().random::<u64>()));
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push('-');
    id.push_str(&format!("{n:x}"));
    id
}

/// Starts the worker thread on `queue`, taking its orders from `control`.
pub(crate) fn spawn(
    options: Options,
    queue: Arc<Queue>,
    control: mpsc::UnboundedReceiver<Control>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = reqwest::Client::builder()
        .timeout(options.request_timeout)
        .user_agent(concat!("usagelens-sdk-native/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(std::io::Error::other)?;
    std::thread::Builder::new()
        .name("usagelens-worker".into())
        .spawn(move || {
            let worker = Worker {
                url: options.batch_url(),
                backlog: Vec::with_capacity(options.batch_size),
                options,
                http,
                queue,
                outgoing: None,
                sampler: None,
            };
            runtime.block_on(worker.run(control));
        })?;
    Ok(())
}

/// The batch being delivered, between its attempts.
struct Outgoing {
    batch: Batch,
    /// Its events (all valid).
    n: u64,
    /// Attempts answered with a retry or a pause so far.
    retries: u32,
    /// When the next attempt may go (now, or after a pause or a backoff).
    not_before: Instant,
}

struct Worker {
    options: Options,
    url: String,
    http: reqwest::Client,
    queue: Arc<Queue>,
    /// Records taken from the queue, not yet in a batch.
    backlog: Vec<Record>,
    outgoing: Option<Outgoing>,
    /// The memory sampler's ticks, once started.
    sampler: Option<tokio::time::Interval>,
}

/// Which queued events a delivery round takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Only full batches (a wake from the queue).
    FullBatches,
    /// Everything queued now (the interval).
    Everything,
}

impl Worker {
    async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) {
        let period = self.options.flush_interval;
        let mut tick = tokio::time::interval_at(Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let waiting = self.outgoing.as_ref().map(|o| o.not_before);
            let sampling = self.sampler.is_some();
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(Control::Flush { ack, deadline }) => {
                        let answer = self.flush_until(deadline.into()).await;
                        let _ = ack.send(answer);
                    }
                    Some(Control::Shutdown { ack, deadline }) => {
                        let answer = self.stop(deadline.into()).await;
                        let _ = ack.send(answer);
                        return;
                    }
                    Some(Control::SampleMemory(every)) => {
                        let mut ticks = tokio::time::interval(every);
                        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        self.sampler = Some(ticks);
                    }
                    // Every client handle is gone: deliver what is left and stop.
                    None => {
                        let _ = self.stop(Instant::now() + self.options.shutdown_timeout).await;
                        return;
                    }
                },
                () = sleep_until(waiting), if waiting.is_some() => {
                    self.attempt().await;
                    if self.outgoing.is_none() {
                        self.deliver(Take::FullBatches).await;
                    }
                }
                () = self.queue.batch_full(), if waiting.is_none() => {
                    self.deliver(Take::FullBatches).await;
                }
                _ = tick.tick() => {
                    if self.outgoing.is_none() {
                        self.deliver(Take::Everything).await;
                    }
                }
                _ = next_tick(&mut self.sampler), if sampling => {
                    crate::memory::record_sample(&self.queue);
                }
            }
        }
    }

    /// Sends batches until there is nothing to `take`, or the outgoing
    /// batch has to wait (then the `select!` waits for it).
    async fn deliver(&mut self, take: Take) {
        if take == Take::Everything {
            self.queue.drain(&mut self.backlog, usize::MAX);
        }
        loop {
            if let Some(o) = &self.outgoing {
                if o.not_before > Instant::now() {
                    return;
                }
                self.attempt().await;
                continue;
            }
            if self.backlog.is_empty() {
                if !self.queue.holds_a_batch() {
                    return;
                }
                self.queue.drain(&mut self.backlog, self.options.batch_size);
            }
            self.next_batch();
        }
    }

    /// Delivers everything queued now, waiting through pauses and backoffs,
    /// until `deadline`; what is left then stays for later.
    async fn flush_until(&mut self, deadline: Instant) -> Result<(), FlushError> {
        self.queue.drain(&mut self.backlog, usize::MAX);
        let everything = async {
            loop {
                if let Some(o) = &self.outgoing {
                    tokio::time::sleep_until(o.not_before).await;
                    self.attempt().await;
                } else if !self.backlog.is_empty() {
                    self.next_batch();
                } else {
                    return;
                }
            }
        };
        // Cancelling mid-attempt is safe: the outgoing batch changes only
        // once the collector answered, so it is simply tried again later.
        tokio::time::timeout_at(deadline, everything)
            .await
            .map_err(|_| FlushError::Timeout)
    }

    /// Refuses new events, delivers what is queued until `deadline`, then
    /// drops and counts whatever is left.
    async fn stop(&mut self, deadline: Instant) -> Result<(), FlushError> {
        self.queue.close();
        let mut answer = self.flush_until(deadline).await;
        if answer.is_ok() {
            // Events that slipped in while the queue was closing.
            answer = self.flush_until(deadline).await;
        }
        self.queue.drain(&mut self.backlog, usize::MAX);
        let left = self.outgoing.take().map_or(0, |o| o.n) + self.backlog.len() as u64;
        self.backlog.clear();
        if left > 0 {
            self.queue.count_dropped_at_shutdown(left);
            return Err(FlushError::Timeout);
        }
        answer
    }

    /// Makes the next outgoing batch from the front of the backlog: gives
    /// each event an id, checks it, and counts the invalid ones.
    fn next_batch(&mut self) {
        let n = self.backlog.len().min(self.options.batch_size);
        let mut batch = Batch::new(self.options.app.clone());
        batch.key = Some(self.options.write_key.clone());
        for r in self.backlog.drain(..n) {
            let mut e = Event::new(next_id(), r.kind.into_owned());
            e.ts = Some(Timestamp::from_millis(r.ts_ms));
            e.props = r.attrs.into_dims();
            e.metrics = r.measures.into_metrics();
            if e.validate(&batch.context).is_ok() {
                batch.events.push(e);
            } else {
                self.queue.count_invalid();
            }
        }
        if !batch.events.is_empty() {
            self.outgoing = Some(Outgoing {
                n: batch.events.len() as u64,
                batch,
                retries: 0,
                not_before: Instant::now(),
            });
        }
    }

    /// One attempt at the outgoing batch: on an answer it is delivered,
    /// dropped and counted, or given the time of its next attempt.
    async fn attempt(&mut self) {
        let Some(o) = self.outgoing.as_mut() else {
            return;
        };
        o.batch.sent_at = Some(Timestamp::from_millis(now_ms()));
        let Some(body) = gzip_json(&o.batch) else {
            self.queue.count_undeliverable(o.n);
            self.outgoing = None;
            return;
        };
        let (status, retry_after) = match self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body)
            .send()
            .await
        {
            Ok(resp) => (
                resp.status().as_u16(),
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            ),
            Err(_) => (0, None),
        };
        let wait = match classify(status, retry_after.as_deref()) {
            Outcome::Done => {
                self.queue.count_sent(o.n);
                self.outgoing = None;
                return;
            }
            Outcome::Drop => {
                self.queue.count_undeliverable(o.n);
                self.outgoing = None;
                return;
            }
            Outcome::Pause(secs) => Duration::from_secs(u64::from(secs)),
            Outcome::Retry => {
                let jitter: f64 = rand::rng().random();
                Duration::from_millis(backoff_ms(o.retries + 1, jitter) as u64)
            }
        };
        o.retries += 1;
        if o.retries > self.options.max_retries {
            self.queue.count_undeliverable(o.n);
            self.outgoing = None;
            return;
        }
        o.not_before = Instant::now() + wait;
    }
}

/// Sleeps until `at`, or forever without one (its branch is disabled then).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The sampler's next tick, or never without a sampler.
async fn next_tick(sampler: &mut Option<tokio::time::Interval>) {
    match sampler {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn gzip_json(batch: &Batch) -> Option<Vec<u8>> {
    let json = serde_json::to_vec(batch).ok()?;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(&json).ok()?;
    enc.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_valid() {
        let a = next_id();
        let b = next_id();
        assert_ne!(a, b);
        assert!(usagelens_protocol::names::is_valid_event_id(&a), "{a}");
        assert_eq!(
            a.split('-').next(),
            b.split('-').next(),
            "one prefix per process"
        );
    }

    #[test]
    fn bodies_are_gzipped_json() {
        let mut b = Batch::new("a");
        b.events.push(Event::new("1", "x"));
        let gz = gzip_json(&b).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out)
            .unwrap();
        let back: Batch = serde_json::from_str(&out).unwrap();
        assert_eq!(back, b);
    }
}
