//! The beacon: state, capture listeners, the JS API, and delivery.
//!
//! One state per page, in a `RefCell` static (the page is single threaded,
//! see `page.rs`); every entry point uses `try_borrow_mut` and gives up quietly
//! rather than panic, so the beacon never throws into the page. The browser
//! is reached through [`crate::host`]; listeners, timers, observers and
//! finished requests all come back through one dispatcher, [`dispatch`].

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use usagelens_protocol::limits::MAX_BEACON_BYTES;
use usagelens_protocol::names::{is_valid_name, is_valid_type};

use crate::delivery::{backoff_ms, chunk, classify, Outcome, MAX_ATTEMPTS};
use crate::dom::{choice_for, form_choices, widget_for};
use crate::host::{
    self, at, call, call0, call_str, document, get, get_f64, get_str, global, len, now,
    number_string, obj, performance, set,
};
use crate::naming::{clip, MAX_ITEMS};
use crate::page::PageLocal;
use crate::queue::BoundedQueue;
use crate::timing::{breakdown_into, phase_metric, round2, GcEstimate, NavTiming};

/// Largest body sent with `fetch` (keepalive requests are capped at 64 KiB).
const MAX_FETCH_BYTES: usize = 60 * 1024;
/// A session ends after 30 minutes without an event.
const SESSION_IDLE_MS: f64 = 30.0 * 60.0 * 1000.0;
const ANON_KEY: &str = "usagelens:anon";
const SESSION_KEY: &str = "usagelens:session";
const USER_KEY: &str = "usagelens:user";

// What the host's listeners, timers, observers and requests report to `dispatch`.
const ON_CLICK: u32 = 1;
const ON_CHANGE: u32 = 2;
const ON_SUBMIT: u32 = 3;
const ON_ROUTE: u32 = 4;
const ON_PAGEHIDE: u32 = 5;
const ON_VISIBILITY: u32 = 6;
const ON_TICK: u32 = 7;
const ON_LONGTASKS: u32 = 8;
const ON_LCP: u32 = 9;
const ON_POSTED: u32 = 10;
const ON_RESTORE: u32 = 11;

#[derive(Debug, Clone)]
struct Config {
    app: String,
    key: String,
    endpoint: String,
    flush_interval_ms: f64,
    flush_at: usize,
    max_queue: usize,
    memory_interval_ms: f64,
    sample: f64,
    capture_clicks: bool,
    capture_choices: bool,
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

fn flag(cfg: &JsValue, key: &str, default: bool) -> bool {
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
    fn from_js(cfg: &JsValue) -> Option<Self> {
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
struct State {
    cfg: Config,
    queue: BoundedQueue<String>,
    dims: JsValue,
    /// `""` until [`restore`] has read (or made) it.
    anon: String,
    session: String,
    last_activity: f64,
    /// When this page's beacon started: a stored session continues if its
    /// last activity was less than 30 minutes before.
    started: f64,
    user: Option<String>,
    /// The ids from localStorage are in (see [`restore`]).
    restored: bool,
    view: String,
    page: String,
    sampled: bool,
    /// The batch `fetch` is sending (one at a time).
    inflight: Option<Vec<String>>,
    not_before: f64,
    attempts: u32,
    last_flush: f64,
    load_sent: bool,
    /// `usagelens.mark` phases before the breakdown went out: `{metric: ms}`.
    marks: JsValue,
    lcp: Option<f64>,
    gc: GcEstimate,
    longtask_count: u32,
    longtask_ms: f64,
    last_memory: f64,
    last_hide: f64,
    sent: u64,
    refused: u64,
}

static STATE: PageLocal<Option<State>> = PageLocal::new(None);
static LISTENING: PageLocal<bool> = PageLocal::new(false);
static SEQ: PageLocal<u16> = PageLocal::new(0);

/// Runs `f` on the state if the beacon runs and the state is free; never panics.
fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.cell().try_borrow_mut().ok()?.as_mut().map(f)
}

/// Replaces the state (`None`: the beacon stops).
fn replace_state(state: Option<State>) {
    if let Ok(mut s) = STATE.cell().try_borrow_mut() {
        *s = state;
    }
}

fn storage() -> Option<JsValue> {
    get(&global(), "localStorage")
}

fn stored(key: &str) -> Option<String> {
    call_str(&storage()?, "getItem", key).as_string()
}

fn store(key: &str, value: Option<&str>) {
    if let Some(s) = storage() {
        match value {
            Some(v) => {
                call(&s, "setItem", &key.into(), &v.into());
            }
            None => {
                call_str(&s, "removeItem", key);
            }
        }
    }
}

fn location_path() -> String {
    get(&global(), "location")
        .and_then(|l| get_str(&l, "pathname"))
        .unwrap_or_default()
}

fn privacy_opt_out() -> bool {
    let w = global();
    let nav = get(&w, "navigator").unwrap_or(JsValue::UNDEFINED);
    let dnt = get_str(&nav, "doNotTrack").is_some_and(|v| v == "1" || v == "yes")
        || get_str(&w, "doNotTrack").is_some_and(|v| v == "1");
    dnt || host::get_bool(&nav, "globalPrivacyControl")
}

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
    if get(&config, "respectDnt").is_some() && privacy_opt_out() {
        if reset {
            replace_state(None);
        }
        return false;
    }
    let existing = STATE.cell().try_borrow().is_ok_and(|s| s.is_some());
    if !existing || reset {
        let t = now();
        let sampled = host::random() < cfg.sample;
        let state = State {
            queue: BoundedQueue::new(cfg.max_queue),
            dims: obj(),
            anon: String::new(),
            session: host::hex(8),
            last_activity: t,
            started: t,
            user: None,
            restored: false,
            view: host::hex(8),
            page: location_path(),
            sampled,
            inflight: None,
            not_before: 0.0,
            attempts: 0,
            last_flush: t,
            load_sent: reset && flag(&config, "skipLoad", false),
            marks: obj(),
            lcp: None,
            gc: GcEstimate::default(),
            longtask_count: 0,
            longtask_ms: 0.0,
            last_memory: t,
            last_hide: 0.0,
            sent: 0,
            refused: 0,
            cfg,
        };
        replace_state(Some(state));
        record("page", obj(), obj());
        // localStorage in a task of its own: a cold first access costs
        // milliseconds, which start-up does not wait for.
        host::after(0.0, ON_RESTORE);
    }
    listen_once();
    true
}

/// `usagelens.track(type, props, metrics)`: a custom (or standard) event.
#[wasm_bindgen]
pub fn track(kind: JsValue, props: JsValue, metrics: JsValue) {
    match kind.as_string().filter(|k| is_valid_type(k)) {
        Some(kind) => record(&kind, sanitize_props(&props), sanitize_metrics(&metrics)),
        None => count_refused(),
    }
}

/// `usagelens.identify(userId)`: the `user` of every later event (kept
/// across page loads); `null` forgets it.
#[wasm_bindgen]
pub fn identify(user: JsValue) {
    // A string (trimmed) or a finite number; anything else forgets the user.
    let user = match user.as_f64() {
        Some(n) if n.is_finite() => Some(number_string(n)),
        _ => host::trimmed(&user),
    }
    .map(|u| clip(&u).to_owned());
    with(|s| {
        // The stored ids first, so the stored user cannot replace this one.
        restore(s);
        store(USER_KEY, user.as_deref());
        s.user = user;
    });
}

/// `usagelens.set(dimension, value)`: a dimension on every later event;
/// an array makes it multi-valued.
#[wasm_bindgen(js_name = set)]
pub fn set_dimension(name: JsValue, value: JsValue) {
    match (
        name.as_string().filter(|n| is_valid_name(n)),
        dim_value(&value),
    ) {
        (Some(name), Some(value)) => {
            with(|s| set(&s.dims, &name, value));
        }
        _ => count_refused(),
    }
}

/// `usagelens.unset(dimension)`.
#[wasm_bindgen]
pub fn unset(name: JsValue) {
    if let Some(name) = name.as_string() {
        // `undefined`: JSON leaves the name out of every later batch.
        with(|s| set(&s.dims, &name, JsValue::UNDEFINED));
    }
}

/// `usagelens.mark(phase)`: a custom phase of the load-time breakdown,
/// `<phase>_ms` from navigation start.
#[wasm_bindgen]
pub fn mark(phase: JsValue) {
    let (Some(phase), Some(perf)) = (phase.as_string(), performance()) else {
        return;
    };
    let Some(metric) = phase_metric(&phase) else {
        return;
    };
    let mut name = String::from("usage:");
    name.push_str(&phase);
    call_str(&perf, "mark", &name);
    let at = call0(&perf, "now").as_f64().unwrap_or(0.0);
    let late = with(|s| {
        if s.load_sent {
            true
        } else {
            set(&s.marks, &metric, round2(at));
            false
        }
    });
    if late == Some(true) {
        // The breakdown already went out: the phase follows as a `timing`
        // event of the same page view.
        let m = obj();
        set(&m, &metric, round2(at));
        record("timing", obj(), m);
    }
}

/// `usagelens.flush()`: sends what is queued now.
#[wasm_bindgen]
pub fn flush() {
    let t = now();
    let job = with(|s| {
        if s.inflight.is_some() || s.queue.is_empty() || t < s.not_before {
            return None;
        }
        s.last_flush = t;
        let head = envelope_head(s);
        // As many of the oldest events as fit one `fetch` body (at least one).
        let mut size = head.len() + 2;
        let mut n = 0;
        for e in s.queue.iter() {
            size += e.len() + 1;
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

/// A `fetch` finished: `[status, retryAfter]` (status 0: a network error).
fn on_posted(result: &JsValue) {
    let status = at(result, 0).as_f64().unwrap_or(0.0) as u16;
    let retry_after = at(result, 1).as_string();
    let outcome = classify(status, retry_after.as_deref());
    with(|s| {
        let Some(batch) = s.inflight.take() else {
            return;
        };
        let n = batch.len();
        match outcome {
            Outcome::Done => {
                s.sent += n as u64;
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
    });
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

/// Whole milliseconds of a (positive) epoch time.
fn floor_ms(t: f64) -> f64 {
    (t as u64) as f64
}

fn count_refused() {
    with(|s| s.refused += 1);
}

/// A dimension value the protocol accepts, clipped to its limits.
fn dim_value(v: &JsValue) -> Option<JsValue> {
    if let Some(s) = v.as_string() {
        return Some(JsValue::from_str(clip(&s)));
    }
    if let Some(n) = v.as_f64() {
        return n.is_finite().then(|| JsValue::from_f64(n));
    }
    if let Some(b) = v.as_bool() {
        return Some(JsValue::from_bool(b));
    }
    if host::is_array(v) {
        let out = host::arr();
        for i in 0..len(v).min(MAX_ITEMS as u32) {
            let item = at(v, i);
            if let Some(s) = item.as_string() {
                host::push(&out, &JsValue::from_str(clip(&s)));
            } else if let Some(n) = item.as_f64().filter(|n| n.is_finite()) {
                host::push(&out, &JsValue::from_f64(n));
            }
        }
        return Some(out);
    }
    None
}

/// Calls `f(name, value)` for the own enumerable properties of a plain object.
fn entries(o: &JsValue, mut f: impl FnMut(String, JsValue)) {
    let keys = host::keys(o);
    for i in 0..len(&keys) {
        if let Some(k) = at(&keys, i).as_string() {
            let v = get(o, &k).unwrap_or(JsValue::UNDEFINED);
            f(k, v);
        }
    }
}

fn sanitize_props(props: &JsValue) -> JsValue {
    let out = obj();
    let mut n = 0;
    entries(props, |name, value| {
        if n < 48 && is_valid_name(&name) {
            if let Some(v) = dim_value(&value) {
                set(&out, &name, v);
                n += 1;
            }
        }
    });
    out
}

fn sanitize_metrics(metrics: &JsValue) -> JsValue {
    let out = obj();
    let mut n = 0;
    entries(metrics, |name, value| {
        n += 1;
        if let Some(v) = value.as_f64() {
            if n <= 64 && is_valid_name(&name) && v.is_finite() {
                set(&out, &name, v);
            }
        }
    });
    out
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
fn record(kind: &str, props: JsValue, metrics: JsValue) {
    let t = now();
    let full = with(|s| {
        if t - s.last_activity >= SESSION_IDLE_MS {
            s.session = host::hex(8);
        }
        s.last_activity = t;
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
            s.queue.push(json);
        }
        s.queue.len() >= s.cfg.flush_at
    });
    if full == Some(true) {
        flush();
    }
}

/// Reads what earlier page views left in localStorage: the `anon` id (made
/// and stored on the first visit), the session (continued when its last
/// activity was under 30 minutes before this page started) and the user.
/// Runs once: in its own task after start-up, or at the first send or
/// `identify`, whichever comes first.
fn restore(s: &mut State) {
    if s.restored {
        return;
    }
    s.restored = true;
    s.anon = stored(ANON_KEY).unwrap_or_else(|| {
        let id = host::hex(12);
        store(ANON_KEY, Some(&id));
        id
    });
    if let Some((id, last)) = stored(SESSION_KEY).and_then(|v| {
        let (id, last) = v.split_once('|')?;
        Some((id.to_owned(), host::float(&JsValue::from_str(last))))
    }) {
        if s.started - last < SESSION_IDLE_MS {
            s.session = id;
        }
    }
    s.user = stored(USER_KEY);
}

/// Stores the session and its last activity (`<id>|<ms>`), at each send
/// rather than each event: the next page continues it.
fn persist_session(s: &State) {
    let mut v = s.session.clone();
    v.push('|');
    v.push_str(&number_string(s.last_activity));
    store(SESSION_KEY, Some(&v));
}

fn context(s: &State) -> JsValue {
    let c = obj();
    // Set dimensions first: the standard ones below cannot be overwritten by accident.
    entries(&s.dims, |name, value| set(&c, &name, value));
    set(&c, "anon", s.anon.as_str());
    set(&c, "session", s.session.as_str());
    if let Some(u) = &s.user {
        set(&c, "user", u.as_str());
    }
    let w = global();
    if let Some(r) = document()
        .and_then(|d| get_str(&d, "referrer"))
        .filter(|r| !r.is_empty())
    {
        set(&c, "referrer", clip(&r));
    }
    if let Some(l) = get(&w, "navigator").and_then(|n| get(&n, "language")) {
        set(&c, "lang", l);
    }
    if let Some(screen) = get(&w, "screen") {
        if let (Some(sw), Some(sh)) = (get_f64(&screen, "width"), get_f64(&screen, "height")) {
            set(&c, "screen", dims_str(sw, sh));
        }
    }
    if let (Some(vw), Some(vh)) = (get_f64(&w, "innerWidth"), get_f64(&w, "innerHeight")) {
        set(&c, "viewport", dims_str(vw, vh));
    }
    if let Some(tz) = get(&w, "Intl")
        .map(|intl| call0(&intl, "DateTimeFormat"))
        .map(|f| call0(&f, "resolvedOptions"))
        .and_then(|o| get(&o, "timeZone"))
    {
        set(&c, "tz", tz);
    }
    c
}

fn dims_str(w: f64, h: f64) -> String {
    let mut s = number_string(w);
    s.push('x');
    s.push_str(&number_string(h));
    s
}

/// The batch's JSON up to its events, for a batch about to be sent: the
/// stored ids are read first if they are not yet, and the session's last
/// activity is stored for the next page.
fn envelope_head(s: &mut State) -> String {
    restore(s);
    persist_session(s);
    let head = obj();
    set(&head, "app", s.cfg.app.as_str());
    set(&head, "key", s.cfg.key.as_str());
    set(&head, "sent_at", floor_ms(now()));
    set(&head, "context", context(s));
    let mut json = host::json(&head);
    // `{…}` becomes `{…,"events":[`: the events follow, then `]}`.
    json.pop();
    json.push_str(",\"events\":[");
    json
}

/// On page hide (`visibilitychange` to hidden, `pagehide`; both come on a
/// navigation): the pending breakdown and a memory sample (once), then
/// everything queued through `navigator.sendBeacon`.
fn flush_on_hide() {
    emit_load();
    // `visibilitychange` and `pagehide` both come on a navigation: one sample.
    let t = now();
    let first = with(|s| {
        let first = t - s.last_hide >= 1000.0;
        s.last_hide = t;
        first
    });
    if first == Some(true) {
        emit_memory();
    }
    send_all_by_beacon();
}

/// Everything queued through `navigator.sendBeacon`, in bodies under 64 KiB.
/// A beacon the browser refuses stays queued.
fn send_all_by_beacon() {
    let job = with(|s| {
        let head = envelope_head(s);
        let events = s.queue.take(usize::MAX);
        let (bodies, skipped) = chunk(&events, &head, "]}", MAX_BEACON_BYTES - 512);
        s.queue.count_dropped(skipped.len());
        (s.cfg.endpoint.clone(), bodies, events)
    });
    let Some((url, bodies, events)) = job else {
        return;
    };
    // Stop at the first refusal: the rest would be refused too.
    let refused = !bodies.iter().all(|body| host::send(&url, body));
    if refused {
        // Keep them: the next flush sends them.
        with(|s| s.queue.requeue(events));
    } else {
        let n = events.len() as u64;
        with(|s| s.sent += n);
    }
}

fn nav_timing(perf: &JsValue) -> Option<NavTiming> {
    let entry = get(&call_str(perf, "getEntriesByType", "navigation"), "0")?;
    let f = |k: &str| get_f64(&entry, k).unwrap_or(0.0);
    Some(NavTiming {
        redirect_start: f("redirectStart"),
        redirect_end: f("redirectEnd"),
        domain_lookup_start: f("domainLookupStart"),
        domain_lookup_end: f("domainLookupEnd"),
        connect_start: f("connectStart"),
        connect_end: f("connectEnd"),
        secure_connection_start: f("secureConnectionStart"),
        request_start: f("requestStart"),
        response_start: f("responseStart"),
        response_end: f("responseEnd"),
        dom_interactive: f("domInteractive"),
        dom_content_loaded_event_end: f("domContentLoadedEventEnd"),
        load_event_start: f("loadEventStart"),
        load_event_end: f("loadEventEnd"),
        transfer_size: f("transferSize"),
    })
}

/// Emits the page's `load` breakdown once the load event has finished.
fn emit_load() {
    let ready = with(|s| !s.load_sent && s.sampled).unwrap_or(false);
    if !ready {
        return;
    }
    let Some(perf) = performance() else {
        return;
    };
    let Some(t) = nav_timing(&perf) else {
        return;
    };
    if t.load_event_end <= 0.0 {
        return;
    }
    let fcp = get(
        &call_str(&perf, "getEntriesByName", "first-contentful-paint"),
        "0",
    )
    .and_then(|e| get_f64(&e, "startTime"));
    let metrics = obj();
    let lcp = with(|s| s.lcp).flatten();
    breakdown_into(&t, fcp, lcp, |name, v| set(&metrics, name, v));
    let measures = call_str(&perf, "getEntriesByType", "measure");
    for i in 0..len(&measures) {
        let m = at(&measures, i);
        if let Some(phase) = get_str(&m, "name")
            .as_deref()
            .and_then(|n| n.strip_prefix("usage:"))
            .and_then(phase_metric)
        {
            set(
                &metrics,
                &phase,
                round2(get_f64(&m, "duration").unwrap_or(0.0)),
            );
        }
    }
    let marks = with(|s| {
        s.load_sent = true;
        core::mem::replace(&mut s.marks, obj())
    });
    if let Some(marks) = marks {
        entries(&marks, |metric, ms| set(&metrics, &metric, ms));
    }
    record("load", obj(), metrics);
}

fn heap() -> Option<(f64, f64, f64)> {
    let mem = get(&performance()?, "memory")?;
    Some((
        get_f64(&mem, "usedJSHeapSize")?,
        get_f64(&mem, "totalJSHeapSize").unwrap_or(0.0),
        get_f64(&mem, "jsHeapSizeLimit").unwrap_or(0.0),
    ))
}

fn wasm_memory_bytes() -> f64 {
    get(&wasm_bindgen::memory(), "buffer")
        .and_then(|b| get_f64(&b, "byteLength"))
        .unwrap_or(0.0)
}

/// Emits a `memory` sample: heap, wasm memory, GC estimate, long tasks.
fn emit_memory() {
    if with(|s| s.sampled) != Some(true) {
        return;
    }
    let h = heap();
    let metrics = obj();
    let props = obj();
    set(&props, "source", "browser");
    with(|s| {
        if let Some((used, total, limit)) = h {
            s.gc.observe(used);
            let (gc_count, reclaimed) = s.gc.report();
            set(&metrics, "used_heap_bytes", used);
            set(&metrics, "total_heap_bytes", total);
            set(&metrics, "heap_limit_bytes", limit);
            set(&metrics, "gc_count", f64::from(gc_count));
            set(&metrics, "gc_reclaimed_bytes", reclaimed);
        }
        set(&metrics, "longtask_count", f64::from(s.longtask_count));
        set(&metrics, "longtask_ms", round2(s.longtask_ms));
        s.longtask_count = 0;
        s.longtask_ms = 0.0;
        s.last_memory = now();
    });
    set(&metrics, "wasm_memory_bytes", wasm_memory_bytes());
    record("memory", props, metrics);
}

/// The beacon's clock: flush by interval, sample the heap for GC drops,
/// emit memory samples and the load breakdown.
fn tick() {
    let t = now();
    if let Some((used, _, _)) = heap() {
        with(|s| s.gc.observe(used));
    }
    let (flush_due, memory_due) = with(|s| {
        (
            t - s.last_flush >= s.cfg.flush_interval_ms,
            t - s.last_memory >= s.cfg.memory_interval_ms,
        )
    })
    .unwrap_or((false, false));
    if memory_due {
        emit_memory();
    }
    if flush_due {
        emit_load();
        flush();
    }
}

fn on_click(e: &JsValue) {
    if with(|s| s.cfg.capture_clicks) != Some(true) {
        return;
    }
    let Some(target) = get(e, "target") else {
        return;
    };
    if let Some(w) = widget_for(&target) {
        let props = obj();
        set(&props, "widget", w.name.as_str());
        set(&props, "tag", w.tag.as_str());
        record("click", props, obj());
    }
}

fn on_change(e: &JsValue) {
    if with(|s| s.cfg.capture_choices) != Some(true) {
        return;
    }
    if let Some(c) = get(e, "target").and_then(|t| choice_for(&t)) {
        record("choice", c.to_props("change"), obj());
    }
}

fn on_submit(e: &JsValue) {
    if with(|s| s.cfg.capture_choices) != Some(true) {
        return;
    }
    let Some(form) = get(e, "target") else {
        return;
    };
    for c in form_choices(&form) {
        record("choice", c.to_props("submit"), obj());
    }
    // The page may navigate away now: hand everything to the browser.
    send_all_by_beacon();
}

fn on_route_change() {
    let path = location_path();
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

fn on_longtasks(entries: &JsValue) {
    let n = len(entries);
    let total: f64 = (0..n)
        .filter_map(|i| get_f64(&at(entries, i), "duration"))
        .sum();
    with(|s| {
        s.longtask_count += n;
        s.longtask_ms += total;
    });
}

fn on_lcp(entries: &JsValue) {
    let n = len(entries);
    if let Some(t) = n
        .checked_sub(1)
        .and_then(|last| get_f64(&at(entries, last), "startTime"))
    {
        with(|s| s.lcp = Some(t));
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
        ON_CLICK => on_click(&v),
        ON_CHANGE => on_change(&v),
        ON_SUBMIT => on_submit(&v),
        ON_ROUTE => on_route_change(),
        ON_PAGEHIDE => flush_on_hide(),
        ON_VISIBILITY if is_hidden() => flush_on_hide(),
        ON_TICK => tick(),
        ON_LONGTASKS => on_longtasks(&v),
        ON_LCP => on_lcp(&v),
        ON_POSTED => on_posted(&v),
        ON_RESTORE => {
            with(restore);
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
    host::listen(&w, "pagehide", ON_PAGEHIDE);
    if let Some(history) = get(&w, "history") {
        host::wrap(&history, "pushState", ON_ROUTE);
        host::wrap(&history, "replaceState", ON_ROUTE);
    }
    host::observe("longtask", ON_LONGTASKS);
    host::observe("largest-contentful-paint", ON_LCP);
    let period = with(|s| s.cfg.flush_interval_ms.min(1000.0)).unwrap_or(1000.0);
    host::every(period, ON_TICK);
}
