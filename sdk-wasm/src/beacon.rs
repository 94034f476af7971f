//! The beacon: start-up, the JS API, and the one dispatcher through which
//! the host reports listeners, timers, observers and finished requests.
//!
//! The browser is reached through [`crate::host`]; every entry point gives up
//! quietly rather than panic, so the beacon never throws into the page.
//!
//! Each concern has its module, and imports only go down:
//!
//! | layer | module | holds |
//! |---|---|---|
//! | top | `beacon.rs` (this file) | [`start_beacon`], `track`, `stats`, [`dispatch`], the listeners, the tick, page hide, page views |
//! | capture | `clicks`, `choices`, `timing`, `memory` | one kind of event each (`click`, `choice`, `load`/`timing` and `mark`, `memory`) |
//! | delivery | `delivery` | events built and queued, `fetch` batches, retries, `sendBeacon`, `flush` |
//! | identity | `identity` | anon, session and user ids in localStorage, `identify`/`set`/`unset`, the contexts events keep |
//! | bottom | `state`, `values` | config, the page's state and the dispatch ids; what the API accepts as values |
//!
//! Capture modules use `delivery` and `state`, never each other; `delivery`
//! uses `identity`; nothing below imports anything above it.

mod choices;
mod clicks;
mod delivery;
mod identity;
mod memory;
mod state;
mod timing;
mod values;

use alloc::string::String;
use alloc::vec::Vec;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use usagelens_protocol::limits::MAX_DIMS_PER_EVENT;
use usagelens_protocol::names::is_valid_type;

use self::delivery::{record, send_all_by_beacon};
use self::state::{
    count_refused, exists, flag, replace_state, with, Config, State, ON_CHANGE, ON_CLICK,
    ON_FORM_END, ON_LCP, ON_PAGEHIDE, ON_POSTED, ON_RESTORE, ON_ROUTE, ON_SUBMIT, ON_TICK,
    ON_VISIBILITY, ON_ZONE,
};
use self::values::{sanitize_metrics, sanitize_props, CONTEXT_DIMS};
use crate::host::{self, document, get, get_str, global, now, obj, set};
use crate::page::PageLocal;
use crate::queue::BoundedQueue;
use crate::timing::GcEstimate;

pub use self::delivery::flush;
pub use self::identity::{identify, set_dimension, unset};
pub use self::timing::mark;

static LISTENING: PageLocal<bool> = PageLocal::new(false);

/// Starts the beacon with the script tag's `data-` options (camelCased, as
/// `dataset` gives them) plus `endpoint`. Returns `false`, and stays off, when
/// `app` or `key` is missing or the visitor opted out (`data-respect-dnt`).
#[wasm_bindgen]
pub fn start_beacon(config: JsValue) -> bool {
    let Some(cfg) = Config::from_js(&config) else {
        return false;
    };
    // `reset` is for the beacon's own browser tests: a fresh state per test.
    let reset = flag(&config, "reset", false);
    if get(&config, "respectDnt").is_some() && host::opted_out() {
        if reset {
            replace_state(None);
        }
        return false;
    }
    if !exists() || reset {
        let t = now();
        let sampled = host::random() < cfg.sample;
        let state = State {
            queue: BoundedQueue::new(cfg.max_queue),
            dims: obj(),
            ndims: 0,
            ctx: 0,
            ctx_used: false,
            contexts: Vec::new(),
            anon: String::new(),
            session: host::hex(8),
            last_activity: t,
            started: t,
            user: None,
            restored: false,
            view: host::hex(8),
            page: host::path(),
            sampled,
            inflight: None,
            not_before: 0.0,
            attempts: 0,
            last_flush: t,
            load_sent: reset && flag(&config, "skipLoad", false),
            marks: obj(),
            lcp: None,
            gc: GcEstimate::default(),
            last_memory: t,
            last_hide: 0.0,
            sent: 0,
            refused: 0,
            tz: None,
            cfg,
        };
        replace_state(Some(state));
        // The loader records the page view itself (`deferView`), after the
        // `identify`, `set` and `unset` calls the page made before the beacon
        // loaded: they describe this page view.
        if !flag(&config, "deferView", false) {
            record("page", obj(), obj());
        }
        // localStorage in a task of its own: a cold first access costs
        // milliseconds, which start-up does not wait for.
        host::after(0.0, ON_RESTORE);
        host::begin(ON_ZONE);
    }
    listen_once();
    true
}

/// `usagelens.track(type, props, metrics)`: a custom (or standard) event.
/// Refused, and counted in `stats().refused`, when the type, a prop or a
/// metric is not one the protocol accepts, or when the props with the
/// `set()` dimensions and the beacon's context would pass its 64 dimensions
/// (the collector would reject the event).
#[wasm_bindgen]
pub fn track(kind: JsValue, props: JsValue, metrics: JsValue) {
    if let (Some(kind), Some((props, n)), Some(metrics)) = (
        kind.as_string().filter(|k| is_valid_type(k)),
        sanitize_props(&props),
        sanitize_metrics(&metrics),
    ) {
        // `page` and `view` are added to every event.
        if with(|s| n + 2 + CONTEXT_DIMS + s.ndims <= MAX_DIMS_PER_EVENT) == Some(true) {
            return record(&kind, props, metrics);
        }
    }
    count_refused();
}

/// `usagelens.stats()`: `{enabled, queued, dropped, sent, refused, sampled}`:
/// events waiting, dropped (queue full or refused by the collector),
/// delivered, and refused as invalid.
#[wasm_bindgen]
pub fn stats() -> JsValue {
    let o = obj();
    let running = with(|s| {
        set(&o, "queued", s.queue.len() as f64);
        set(&o, "dropped", s.queue.dropped() as f64);
        set(&o, "sent", s.sent as f64);
        set(&o, "refused", s.refused as f64);
        set(&o, "sampled", s.sampled);
    });
    set(&o, "enabled", running.is_some());
    o
}

/// On page hide (`visibilitychange` to hidden, `pagehide`; both come on a
/// navigation): the pending breakdown, CLS and INP (at the view's first
/// hide) and a memory sample (once), then everything queued through
/// `navigator.sendBeacon`.
fn flush_on_hide() {
    timing::emit_load();
    timing::emit_vitals();
    // `visibilitychange` and `pagehide` both come on a navigation: one sample.
    let t = now();
    let first = with(|s| {
        let first = t - s.last_hide >= 1000.0;
        s.last_hide = t;
        first
    });
    if first == Some(true) {
        memory::emit_memory();
    }
    send_all_by_beacon();
}

/// The beacon's clock: flush by interval, sample the heap for GC drops,
/// emit memory samples and the load breakdown.
fn tick() {
    let t = now();
    memory::observe_heap();
    let (flush_due, memory_due) = with(|s| {
        (
            t - s.last_flush >= s.cfg.flush_interval_ms,
            t - s.last_memory >= s.cfg.memory_interval_ms,
        )
    })
    .unwrap_or((false, false));
    if memory_due {
        memory::emit_memory();
    }
    if flush_due {
        timing::emit_load();
        delivery::flush();
    }
}

/// A single-page-app route change: a new page view, if the path changed.
fn on_route_change() {
    let path = host::path();
    let changed = with(|s| {
        if s.page == path {
            return false;
        }
        s.page = path.clone();
        s.view = host::hex(8);
        true
    });
    if changed == Some(true) {
        record("page", obj(), obj());
    }
}

fn is_hidden() -> bool {
    document()
        .and_then(|d| get_str(&d, "visibilityState"))
        .is_some_and(|v| v == "hidden")
}

/// Everything the host reports: listeners, the timer, observers, requests.
/// The loader hands this export to the host (`__ulh.init`) before
/// [`start_beacon`]: one exported function rather than a wasm-bindgen
/// `Closure`, whose machinery would weigh more than the beacon's listeners.
#[wasm_bindgen]
pub fn dispatch(id: u32, v: JsValue) {
    match id {
        ON_CLICK => clicks::on_click(&v),
        ON_CHANGE => choices::on_change(&v),
        ON_SUBMIT => choices::on_submit(&v),
        ON_FORM_END => choices::on_form_end(&v),
        ON_ROUTE => on_route_change(),
        ON_PAGEHIDE => flush_on_hide(),
        ON_VISIBILITY if is_hidden() => flush_on_hide(),
        ON_TICK => tick(),
        ON_LCP => timing::on_lcp(&v),
        ON_POSTED => delivery::on_posted(&v),
        ON_RESTORE => {
            with(identity::restore);
        }
        // The time zone, read when the page was idle: Intl's first
        // `DateTimeFormat` is a task of 12–18 ms in a fresh page.
        ON_ZONE => {
            let tz = v.as_string();
            with(|s| s.tz = tz);
        }
        _ => {}
    }
}

/// Registers the page-lifetime listeners, timer and observers once.
fn listen_once() {
    let first = LISTENING
        .cell()
        .try_borrow_mut()
        .is_ok_and(|mut l| !core::mem::replace(&mut *l, true));
    if !first {
        return;
    }
    let w = global();
    let Some(d) = document() else { return };
    host::listen(&d, "click", ON_CLICK);
    host::listen(&d, "change", ON_CHANGE);
    host::listen(&d, "submit", ON_SUBMIT);
    host::listen(&d, "visibilitychange", ON_VISIBILITY);
    host::listen(&w, "popstate", ON_ROUTE);
    host::listen(&w, "hashchange", ON_ROUTE);
    host::listen(&w, "pagehide", ON_PAGEHIDE);
    if let Some(history) = get(&w, "history") {
        host::wrap(&history, "pushState", ON_ROUTE);
        host::wrap(&history, "replaceState", ON_ROUTE);
    }
    host::observe("largest-contentful-paint", ON_LCP);
    let period = with(|s| s.cfg.flush_interval_ms.min(1000.0)).unwrap_or(1000.0);
    host::every(period, ON_TICK);
}
