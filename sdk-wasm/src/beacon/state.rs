//! The bottom of the beacon: its configuration, its one state per page, and
//! the ids the host reports back with. Every other beacon module uses these;
//! this one uses none of them.
//!
//! The state lives in a `RefCell` static (the page is single threaded, see
//! `page.rs`); [`with`] uses `try_borrow_mut` and gives up quietly rather
//! than panic, so the beacon never throws into the page.

use alloc::string::String;
use alloc::vec::Vec;

use wasm_bindgen::JsValue;

use crate::host::{self, get, get_str};
use crate::page::PageLocal;
use crate::queue::BoundedQueue;
use crate::timing::GcEstimate;

// What the host's listeners, timers, observers and requests report to `dispatch`.
pub(super) const ON_CLICK: u32 = 1;
pub(super) const ON_CHANGE: u32 = 2;
pub(super) const ON_SUBMIT: u32 = 3;
pub(super) const ON_ROUTE: u32 = 4;
pub(super) const ON_PAGEHIDE: u32 = 5;
pub(super) const ON_VISIBILITY: u32 = 6;
pub(super) const ON_TICK: u32 = 7;
pub(super) const ON_LCP: u32 = 9;
pub(super) const ON_POSTED: u32 = 10;
pub(super) const ON_RESTORE: u32 = 11;
pub(super) const ON_ZONE: u32 = 12;
pub(super) const ON_FORM_END: u32 = 13;

/// An event waiting to be sent: its JSON, and the context it happened in.
#[derive(Debug)]
pub(super) struct Queued {
    /// The [`State::ctx`] at the time of the event.
    pub(super) ctx: u32,
    pub(super) json: String,
}

impl AsRef<str> for Queued {
    fn as_ref(&self) -> &str {
        &self.json
    }
}

#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) app: String,
    pub(super) key: String,
    pub(super) endpoint: String,
    pub(super) flush_interval_ms: f64,
    pub(super) flush_at: usize,
    pub(super) max_queue: usize,
    pub(super) memory_interval_ms: f64,
    pub(super) sample: f64,
    pub(super) capture_clicks: bool,
    pub(super) capture_choices: bool,
}

#[allow(clippy::manual_clamp)] // `f64::clamp` would link float formatting into the beacon
fn num(cfg: &JsValue, key: &str, default: f64, min: f64, max: f64) -> f64 {
    let v = host::float(&get(cfg, key).unwrap_or(JsValue::UNDEFINED));
    if v.is_finite() {
        v.max(min).min(max)
    } else {
        default
    }
}

pub(super) fn flag(cfg: &JsValue, key: &str, default: bool) -> bool {
    match get(cfg, key) {
        None => default,
        Some(v) => match v.as_bool() {
            Some(b) => b,
            None => !matches!(
                host::trimmed(&v).as_deref(),
                Some("false" | "0" | "off" | "no")
            ),
        },
    }
}

impl Config {
    pub(super) fn from_js(cfg: &JsValue) -> Option<Self> {
        Some(Self {
            app: get_str(cfg, "app")?,
            key: get_str(cfg, "key")?,
            endpoint: get_str(cfg, "endpoint")?,
            flush_interval_ms: num(cfg, "flushInterval", 5000.0, 50.0, 600_000.0),
            flush_at: num(cfg, "flushAt", 20.0, 1.0, 1000.0) as usize,
            max_queue: num(cfg, "maxQueue", 1000.0, 1.0, 100_000.0) as usize,
            memory_interval_ms: num(cfg, "memoryInterval", 30_000.0, 1000.0, 3_600_000.0),
            sample: num(cfg, "sample", 1.0, 0.0, 1.0),
            capture_clicks: flag(cfg, "captureClicks", true),
            capture_choices: flag(cfg, "captureChoices", true),
        })
    }
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) cfg: Config,
    pub(super) queue: BoundedQueue<Queued>,
    /// The `set()` dimensions now (`undefined` once unset).
    pub(super) dims: JsValue,
    /// How many of them are set.
    pub(super) ndims: usize,
    /// The context now: bumped by `identify`, `set`, `unset` and a new
    /// session, so each event keeps the context it happened in.
    pub(super) ctx: u32,
    /// An event was recorded in the context now.
    pub(super) ctx_used: bool,
    /// The batch `context` JSON of earlier contexts that queued or in-flight
    /// events still need (the current one is read live at send time).
    pub(super) contexts: Vec<(u32, String)>,
    /// `""` until [`super::identity::restore`] has read (or made) it.
    pub(super) anon: String,
    pub(super) session: String,
    pub(super) last_activity: f64,
    /// When this page's beacon started: a stored session continues if its
    /// last activity was less than 30 minutes before.
    pub(super) started: f64,
    pub(super) user: Option<String>,
    /// The ids from localStorage are in (see [`super::identity::restore`]).
    pub(super) restored: bool,
    pub(super) view: String,
    pub(super) page: String,
    pub(super) sampled: bool,
    /// The batch `fetch` is sending (one at a time).
    pub(super) inflight: Option<Vec<Queued>>,
    pub(super) not_before: f64,
    pub(super) attempts: u32,
    pub(super) last_flush: f64,
    pub(super) load_sent: bool,
    /// `usagelens.mark` phases before the breakdown went out: `{metric: ms}`.
    pub(super) marks: JsValue,
    pub(super) lcp: Option<f64>,
    pub(super) gc: GcEstimate,
    pub(super) last_memory: f64,
    pub(super) last_hide: f64,
    pub(super) sent: u64,
    pub(super) refused: u64,
    /// The IANA time zone, read once when the page is first idle (it costs
    /// a task of 12–18 ms in a fresh page); `None` until then.
    pub(super) tz: Option<String>,
}

static STATE: PageLocal<Option<State>> = PageLocal::new(None);

/// Runs `f` on the state if the beacon runs and the state is free; never panics.
pub(super) fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.cell().try_borrow_mut().ok()?.as_mut().map(f)
}

/// Whether the beacon has a state (it started and did not stop).
pub(super) fn exists() -> bool {
    STATE.cell().try_borrow().is_ok_and(|s| s.is_some())
}

/// Replaces the state (`None`: the beacon stops).
pub(super) fn replace_state(state: Option<State>) {
    if let Ok(mut s) = STATE.cell().try_borrow_mut() {
        *s = state;
    }
}

/// Counts a call the beacon refused as invalid (`stats().refused`).
pub(super) fn count_refused() {
    with(|s| s.refused += 1);
}
