//! The transport: the worker, a dedicated thread (`usagelens-worker`) with a
//! current-thread tokio runtime. It drains the queue (`queue.rs`) into
//! batches by size, by interval or on a control message, gzips, posts with
//! reqwest, and follows the delivery contract of
//! [`usagelens_protocol::delivery`]: pause on 429/503 `Retry-After`, retry
//! network errors and 5xx with backoff and jitter, drop and count other 4xx.
//! While it waits, the bounded queue fills and new events are dropped and
//! counted: there is never an unbounded retry buffer.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::mpsc;
use usagelens_protocol::delivery::{backoff_ms, classify, Outcome};
use usagelens_protocol::{Batch, Event, Timestamp};

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
                options,
                http,
                queue,
            };
            runtime.block_on(worker.run(control));
        })?;
    Ok(())
}

struct Worker {
    options: Options,
    url: String,
    http: reqwest::Client,
    queue: Arc<Queue>,
}

impl Worker {
    async fn run(self, mut control: mpsc::UnboundedReceiver<Control>) {
        let mut buf: Vec<Record> = Vec::with_capacity(self.options.batch_size);
        let period = self.options.flush_interval;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                c = control.recv() => {
                    let (ack, stop) = match c {
                        Some(Control::Flush(ack)) => (Some(ack), false),
                        Some(Control::Shutdown(ack)) => (Some(ack), true),
                        // Every client handle is gone: deliver what is left and stop.
                        None => (None, true),
                    };
                    if stop {
                        self.queue.close();
                    }
                    self.queue.drain(&mut buf, usize::MAX);
                    self.send_all(&mut buf).await;
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                    if stop {
                        return;
                    }
                }
                () = self.queue.batch_full() => {
                    while self.queue.holds_a_batch() {
                        self.queue.drain(&mut buf, self.options.batch_size);
                        self.send_all(&mut buf).await;
                    }
                }
                _ = tick.tick() => {
                    self.queue.drain(&mut buf, usize::MAX);
                    self.send_all(&mut buf).await;
                }
            }
        }
    }

    async fn send_all(&self, buf: &mut Vec<Record>) {
        while !buf.is_empty() {
            let n = buf.len().min(self.options.batch_size);
            let chunk: Vec<Record> = buf.drain(..n).collect();
            self.send(chunk).await;
        }
    }

    /// Builds, checks and delivers one batch, retrying per the contract.
    async fn send(&self, records: Vec<Record>) {
        let mut batch = Batch::new(self.options.app.clone());
        batch.key = Some(self.options.write_key.clone());
        for r in records {
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
        let n = batch.events.len() as u64;
        if n == 0 {
            return;
        }
        let mut attempt = 0;
        loop {
            batch.sent_at = Some(Timestamp::from_millis(now_ms()));
            let body = match gzip_json(&batch) {
                Some(b) => b,
                None => {
                    self.queue.count_undeliverable(n);
                    return;
                }
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
            match classify(status, retry_after.as_deref()) {
                Outcome::Done => {
                    self.queue.count_sent(n);
                    return;
                }
                Outcome::Drop => {
                    self.queue.count_undeliverable(n);
                    return;
                }
                Outcome::Pause(secs) => {
                    tokio::time::sleep(Duration::from_secs(u64::from(secs))).await;
                }
                Outcome::Retry => {
                    attempt += 1;
                    if attempt > self.options.max_retries {
                        self.queue.count_undeliverable(n);
                        return;
                    }
                    let jitter: f64 = rand::rng().random();
                    tokio::time::sleep(Duration::from_millis(backoff_ms(attempt, jitter) as u64))
                        .await;
                }
            }
        }
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
