//! Events out: each event built and queued ([`record`]), batches sent with
//! `fetch` one at a time ([`flush`]) under the shared retry contract
//! (`usagelens_protocol::delivery`), and everything handed to
//! `navigator.sendBeacon` when the page may go away.

use alloc::string::String;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use usagelens_protocol::delivery::{backoff_ms, chunk, classify, Outcome, MAX_ATTEMPTS};
use usagelens_protocol::limits::MAX_BEACON_BYTES;

use super::identity::{context, persist_session, restore, touch};
use super::state::{with, Queued, State, ON_POSTED};
use crate::host::{self, at, get, len, now, obj, set};
use crate::page::PageLocal;

/// Largest body sent with `fetch` (keepalive requests are capped at 64 KiB).
const MAX_FETCH_BYTES: usize = 60 * 1024;

static SEQ: PageLocal<u16> = PageLocal::new(0);

/// `usagelens.flush()`: sends what is queued now: the oldest events of one
/// context (as many as fit one `fetch` body), one batch at a time.
#[wasm_bindgen]
pub fn flush() {
    let t = now();
    let job = with(|s| {
        if s.inflight.is_some() || t < s.not_before {
            return None;
        }
        s.last_flush = t;
        let Some(ctx) = s.queue.iter().next().map(|e| e.ctx) else {
            // Nothing queued, nothing in flight: no earlier context is needed.
            s.contexts.clear();
            return None;
        };
        let head = envelope_head(s, ctx);
        // As many of the oldest events of that context as fit one `fetch`
        // body (at least one).
        let mut size = head.len() + 2;
        let mut n = 0;
        for e in s.queue.iter().take_while(|e| e.ctx == ctx) {
            size += e.json.len() + 1;
            if n > 0 && size > MAX_FETCH_BYTES {
                break;
            }
            n += 1;
        }
        let batch = s.queue.take(n);
        let (bodies, skipped) = chunk(&batch, &head, "]}", MAX_FETCH_BYTES);
        s.queue.count_dropped(skipped.len());
        let body = bodies.into_iter().next()?;
        s.inflight = Some(batch);
        Some((s.cfg.endpoint.clone(), body))
    })
    .flatten();
    if let Some((url, body)) = job {
        host::post(&url, &body, body.len() <= MAX_FETCH_BYTES, ON_POSTED);
    }
}

/// A `fetch` finished: `[status, retryAfter, body]` (status 0: a network
/// error; `body` the parsed JSON answer, if any). Events a 200 lists in
/// `rejected` count as refused, not sent.
pub(super) fn on_posted(result: &JsValue) {
    let status = at(result, 0).as_f64().unwrap_or(0.0) as u16;
    let retry_after = at(result, 1).as_string();
    let rejected = at(result, 2).as_f64().unwrap_or(0.0) as usize;
    let outcome = classify(status, retry_after.as_deref());
    let more = with(|s| {
        let Some(batch) = s.inflight.take() else {
            return false;
        };
        let n = batch.len();
        match outcome {
            Outcome::Done => {
                let rejected = rejected.min(n);
                s.sent += (n - rejected) as u64;
                s.refused += rejected as u64;
                s.attempts = 0;
            }
            Outcome::Drop => {
                s.queue.count_dropped(n);
                s.attempts = 0;
            }
            Outcome::Pause(secs) => {
                s.queue.requeue(batch);
                s.not_before = now() + f64::from(secs) * 1000.0;
            }
            Outcome::Retry => {
                s.attempts += 1;
                if s.attempts > MAX_ATTEMPTS {
                    s.queue.count_dropped(n);
                    s.attempts = 0;
                } else {
                    s.queue.requeue(batch);
                    s.not_before = now() + backoff_ms(s.attempts, host::random());
                }
            }
        }
        !s.queue.is_empty()
    });
    // A flush sends everything queued, one batch after the other (events of
    // another context, or past one body); after a pause or a backoff,
    // `not_before` holds the next one back.
    if more == Some(true) {
        flush();
    }
}

/// Whole milliseconds of a (positive) epoch time.
fn floor_ms(t: f64) -> f64 {
    (t as u64) as f64
}

/// An event id: milliseconds (hex), a per-page sequence number (4 hex
/// digits) and 64 random bits, so the ids of one page sort in the order its
/// events happened, even within a millisecond.
fn event_id(t: f64) -> String {
    let mut id = String::with_capacity(32);
    let ms = t as u64;
    let digits = (64 - ms.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        id.push(hex_digit((ms >> (i * 4)) as u8));
    }
    id.push('-');
    let seq = SEQ.cell().try_borrow_mut().map_or(0, |mut n| {
        *n = n.wrapping_add(1);
        *n
    });
    for shift in [12u16, 8, 4, 0] {
        id.push(hex_digit((seq >> shift) as u8));
    }
    id.push('-');
    id.push_str(&host::hex(8));
    id
}

fn hex_digit(n: u8) -> char {
    let n = n & 15;
    char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 })
}

/// Queues one event; flushes when `flush_at` events wait.
pub(super) fn record(kind: &str, props: JsValue, metrics: JsValue) {
    let t = now();
    let full = with(|s| {
        touch(s, t);
        if get(&props, "page").is_none() {
            set(&props, "page", s.page.as_str());
        }
        set(&props, "view", s.view.as_str());
        let e = obj();
        set(&e, "id", event_id(t));
        set(&e, "type", kind);
        set(&e, "ts", floor_ms(t));
        set(&e, "props", props);
        if len(&host::keys(&metrics)) > 0 {
            set(&e, "metrics", metrics);
        }
        let json = host::json(&e);
        if !json.is_empty() {
            s.ctx_used = true;
            s.queue.push(Queued { ctx: s.ctx, json });
        }
        s.queue.len() >= s.cfg.flush_at
    });
    if full == Some(true) {
        flush();
    }
}

/// The batch's JSON up to its events, for a batch of context `ctx` about to
/// be sent: the stored ids are read first if they are not yet, and the
/// session's last activity is stored for the next page.
fn envelope_head(s: &mut State, ctx: u32) -> String {
    restore(s);
    persist_session(s);
    let head = obj();
    set(&head, "app", s.cfg.app.as_str());
    set(&head, "key", s.cfg.key.as_str());
    set(&head, "sent_at", floor_ms(now()));
    let mut json = host::json(&head);
    // `{…}` becomes `{…,"context":{…},"events":[`: the events follow, then `]}`.
    json.pop();
    json.push_str(",\"context\":");
    match s.contexts.iter().find(|(c, _)| *c == ctx) {
        Some((_, earlier)) => json.push_str(earlier),
        None => json.push_str(&host::json(&context(s))),
    }
    json.push_str(",\"events\":[");
    json
}

/// Everything queued through `navigator.sendBeacon`, one context at a time
/// (oldest first), in bodies under 64 KiB. What the browser refuses stays
/// queued: the next flush sends it.
pub(super) fn send_all_by_beacon() {
    while let Some((url, bodies, skipped, run)) = with(|s| {
        let ctx = s.queue.iter().next()?.ctx;
        let n = s.queue.iter().take_while(|e| e.ctx == ctx).count();
        let head = envelope_head(s, ctx);
        let run = s.queue.take(n);
        let (bodies, skipped) = chunk(&run, &head, "]}", MAX_BEACON_BYTES - 512);
        s.queue.count_dropped(skipped.len());
        Some((s.cfg.endpoint.clone(), bodies, skipped.len(), run))
    })
    .flatten()
    {
        // Stop at the first refusal: the rest would be refused too.
        if bodies.iter().all(|body| host::send(&url, body)) {
            let n = (run.len() - skipped) as u64;
            with(|s| s.sent += n);
        } else {
            with(|s| s.queue.requeue(run));
            break;
        }
    }
}
