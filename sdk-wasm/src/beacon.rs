//! The beacon: state, capture listeners, the JS API, and delivery.
//!
//! One state per page, behind a thread-local `RefCell` (the page is single
//! threaded); every entry point uses `try_borrow_mut` and gives up quietly
//! rather than panic, so the beacon never throws into the page.

use std::cell::RefCell;

use js_sys::{Array, Object};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Element, Event, HtmlFormElement, RequestInit, Response};

use usagelens_protocol::limits::MAX_BEACON_BYTES;
use usagelens_protocol::names::{is_valid_name, is_valid_type};

use crate::delivery::{backoff_ms, chunk, classify, Outcome, MAX_ATTEMPTS};
use crate::dom::{choice_for, form_choices, widget_for};
use crate::js::{self, as_plain_object, get, get_f64, get_str, now_ms, set, stringify};
use crate::naming::{clip, MAX_ITEMS};
use crate::queue::BoundedQueue;
use crate::timing::{breakdown, phase_metric, GcEstimate, NavTiming};

/// Largest body sent with `fetch` (keepalive requests are capped at 64 KiB).
const MAX_FETCH_BYTES: usize = 60 * 1024;
/// A session ends after 30 minutes without an event.
const SESSION_IDLE_MS: f64 = 30.0 * 60.0 * 1000.0;
const ANON_KEY: &str = "usagelens:anon";
const SESSION_KEY: &str = "usagelens:session";
const USER_KEY: &str = "usagelens:user";

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
    get_str(cfg, key)
        .map(|s| js_sys::Number::parse_float(&s))
        .or_else(|| get_f64(cfg, key))
        .filter(|v| v.is_finite())
        .map_or(default, |v| v.max(min).min(max))
}

fn flag(cfg: &JsValue, key: &str, default: bool) -> bool {
    match get(cfg, key) {
        None => default,
        Some(v) => match v.as_string() {
            Some(s) => !matches!(s.trim(), "false" | "0" | "off" | "no"),
            None => v.as_bool().unwrap_or(default),
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
    dims: Object,
    anon: String,
    session: String,
    last_activity: f64,
    user: Option<String>,
    view: String,
    page: String,
    sampled: bool,
    inflight: bool,
    not_before: f64,
    attempts: u32,
    last_flush: f64,
    load_sent: bool,
    marks: Vec<(String, f64)>,
    lcp: Option<f64>,
    gc: GcEstimate,
    longtask_count: u32,
    longtask_ms: f64,
    last_memory: f64,
    last_hide: f64,
    sent: u64,
    refused: u64,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    static LISTENING: RefCell<bool> = const { RefCell::new(false) };
}

/// Runs `f` on the state if it exists and is free; never panics.
fn with<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.with(|s| s.try_borrow_mut().ok()?.as_mut().map(f))
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn stored(key: &str) -> Option<String> {
    storage()?.get_item(key).ok().flatten()
}

fn store(key: &str, value: Option<&str>) {
    if let Some(s) = storage() {
        let _ = match value {
            Some(v) => s.set_item(key, v),
            None => s.remove_item(key),
        };
    }
}

fn location_path() -> String {
    web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default()
}

fn privacy_opt_out() -> bool {
    let Some(w) = web_sys::window() else {
        return false;
    };
    let nav: JsValue = w.navigator().into();
    let dnt = get_str(&nav, "doNotTrack").is_some_and(|v| v == "1" || v == "yes")
        || get_str(&w.into(), "doNotTrack").is_some_and(|v| v == "1");
    let gpc = get(&nav, "globalPrivacyControl")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    dnt || gpc
}

/// The JS API behind `window.usagelens`. Every method is safe to call at
/// any time, with any arguments: bad input is ignored, nothing throws.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Beacon {
    enabled: bool,
}

/// Starts the beacon with the script tag's `data-` options (camelCased, as
/// `dataset` gives them) plus `endpoint`. Returns a disabled beacon when
/// `app` or `key` is missing or the visitor opted out (`data-respect-dnt`).
#[wasm_bindgen]
pub fn start_beacon(config: JsValue) -> Beacon {
    let Some(cfg) = Config::from_js(&config) else {
        return Beacon { enabled: false };
    };
    if get(&config, "respectDnt").is_some() && privacy_opt_out() {
        return Beacon { enabled: false };
    }
    // `reset` is for the beacon's own browser tests: a fresh state per test.
    let reset = flag(&config, "reset", false);
    let existing = STATE.with(|s| s.borrow().is_some());
    if !existing || reset {
        let now = now_ms();
        let anon = stored(ANON_KEY).unwrap_or_else(|| {
            let id = js::random_hex(12);
            store(ANON_KEY, Some(&id));
            id
        });
        let (session, last_activity) = stored(SESSION_KEY)
            .and_then(|s| {
                let (id, last) = s.split_once('|')?;
                let last = js_sys::Number::parse_float(last);
                (now - last < SESSION_IDLE_MS).then(|| (id.to_owned(), last))
            })
            .unwrap_or_else(|| (js::random_hex(8), now));
        let sampled = js::random() < cfg.sample;
        let state = State {
            queue: BoundedQueue::new(cfg.max_queue),
            dims: Object::new(),
            anon,
            session,
            last_activity,
            user: stored(USER_KEY),
            view: js::random_hex(8),
            page: location_path(),
            sampled,
            inflight: false,
            not_before: 0.0,
            attempts: 0,
            last_flush: now,
            load_sent: reset && flag(&config, "skipLoad", false),
            marks: Vec::new(),
            lcp: None,
            gc: GcEstimate::default(),
            longtask_count: 0,
            longtask_ms: 0.0,
            last_memory: now,
            last_hide: 0.0,
            sent: 0,
            refused: 0,
            cfg,
        };
        STATE.with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                *s = Some(state);
            }
        });
        record("page", Object::new(), Object::new());
    }
    listen_once();
    Beacon { enabled: true }
}

#[wasm_bindgen]
impl Beacon {
    /// `usagelens.track(type, props, metrics)`: a custom (or standard) event.
    pub fn track(&self, kind: JsValue, props: JsValue, metrics: JsValue) {
        if !self.enabled {
            return;
        }
        let Some(kind) = kind.as_string().filter(|k| is_valid_type(k)) else {
            count_refused(1);
            return;
        };
        record(&kind, sanitize_props(&props), sanitize_metrics(&metrics));
    }

    /// `usagelens.identify(userId)`: the `user` of every later event (kept
    /// across page loads); `null` forgets it.
    pub fn identify(&self, user: JsValue) {
        if !self.enabled {
            return;
        }
        let user = user
            .as_string()
            .or_else(|| user.as_f64().filter(|v| v.is_finite()).map(js_number))
            .map(|u| clip(u.trim()).to_owned())
            .filter(|u| !u.is_empty());
        store(USER_KEY, user.as_deref());
        with(|s| s.user = user);
    }

    /// `usagelens.set(dimension, value)`: a dimension on every later event;
    /// an array makes it multi-valued.
    pub fn set(&self, name: JsValue, value: JsValue) {
        if !self.enabled {
            return;
        }
        let (Some(name), Some(value)) = (
            name.as_string().filter(|n| is_valid_name(n)),
            dim_value(&value),
        ) else {
            count_refused(1);
            return;
        };
        with(|s| set(&s.dims, &name, value));
    }

    /// `usagelens.unset(dimension)`.
    pub fn unset(&self, name: JsValue) {
        if let Some(name) = name.as_string() {
            with(|s| {
                let _ = js_sys::Reflect::delete_property(&s.dims, &JsValue::from_str(&name));
            });
        }
    }

    /// `usagelens.mark(phase)`: a custom phase of the load-time breakdown,
    /// `<phase>_ms` from navigation start.
    pub fn mark(&self, phase: JsValue) {
        if !self.enabled {
            return;
        }
        let Some(phase) = phase.as_string() else {
            return;
        };
        let Some(metric) = phase_metric(&phase) else {
            return;
        };
        let Some(perf) = web_sys::window().and_then(|w| w.performance()) else {
            return;
        };
        let mut name = String::from("usage:");
        name.push_str(&phase);
        let _ = perf.mark(&name);
        let at = perf.now();
        let late = with(|s| {
            if s.load_sent {
                true
            } else {
                s.marks.push((metric.clone(), at));
                false
            }
        });
        if late == Some(true) {
            // The breakdown already went out: the phase follows as a `timing`
            // event of the same page view.
            let m = Object::new();
            set(&m, &metric, round2(at));
            record("timing", Object::new(), m);
        }
    }

    /// Sends what is queued now.
    pub fn flush(&self) {
        flush();
    }

    /// `{queued, dropped, sent, refused}`: events waiting, dropped (queue
    /// full or refused by the collector), delivered, and refused as invalid.
    pub fn stats(&self) -> JsValue {
        let o = Object::new();
        if !self.enabled {
            set(&o, "enabled", false);
            return o.into();
        }
        set(&o, "enabled", true);
        with(|s| {
            set(&o, "queued", s.queue.len() as f64);
            set(&o, "dropped", s.queue.dropped() as f64);
            set(&o, "sent", s.sent as f64);
            set(&o, "refused", s.refused as f64);
            set(&o, "sampled", s.sampled);
        });
        o.into()
    }
}

fn js_number(v: f64) -> String {
    js_sys::Number::from(v)
        .to_string_with_radix(10)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn count_refused(n: u64) {
    with(|s| s.refused += n);
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
    if Array::is_array(v) {
        let out = Array::new();
        for item in Array::from(v).iter().take(MAX_ITEMS) {
            if let Some(s) = item.as_string() {
                out.push(&JsValue::from_str(clip(&s)));
            } else if let Some(n) = item.as_f64().filter(|n| n.is_finite()) {
                out.push(&JsValue::from_f64(n));
            }
        }
        return Some(out.into());
    }
    None
}

fn sanitize_props(props: &JsValue) -> Object {
    let out = Object::new();
    let Some(obj) = as_plain_object(props) else {
        return out;
    };
    let mut n = 0;
    for entry in Object::entries(obj).iter() {
        let pair = Array::from(&entry);
        let (Some(name), value) = (pair.get(0).as_string(), pair.get(1)) else {
            continue;
        };
        match dim_value(&value) {
            Some(v) if is_valid_name(&name) && n < 48 => {
                set(&out, &name, v);
                n += 1;
            }
            _ => {}
        }
    }
    out
}

fn sanitize_metrics(metrics: &JsValue) -> Object {
    let out = Object::new();
    let Some(obj) = as_plain_object(metrics) else {
        return out;
    };
    for entry in Object::entries(obj).iter().take(64) {
        let pair = Array::from(&entry);
        if let (Some(name), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_f64()) {
            if is_valid_name(&name) && v.is_finite() {
                set(&out, &name, v);
            }
        }
    }
    out
}

/// Queues one event; flushes when `flush_at` events wait.
fn record(kind: &str, props: Object, metrics: Object) {
    let now = now_ms();
    let full = with(|s| {
        if now - s.last_activity >= SESSION_IDLE_MS {
            s.session = js::random_hex(8);
        }
        s.last_activity = now;
        let mut session = s.session.clone();
        session.push('|');
        session.push_str(&js_number(now));
        store(SESSION_KEY, Some(&session));
        if get(&props, "page").is_none() {
            set(&props, "page", s.page.as_str());
        }
        set(&props, "view", s.view.as_str());
        let e = Object::new();
        set(&e, "id", js::event_id());
        set(&e, "type", kind);
        set(&e, "ts", now.floor());
        set(&e, "props", props);
        if Object::keys(&metrics).length() > 0 {
            set(&e, "metrics", metrics);
        }
        if let Some(json) = stringify(&e.into()) {
            s.queue.push(json);
        }
        s.queue.len() >= s.cfg.flush_at
    });
    if full == Some(true) {
        flush();
    }
}

fn context(s: &State) -> Object {
    let c = Object::new();
    // Set dimensions first: the standard ones below cannot be overwritten by accident.
    for entry in Object::entries(&s.dims).iter() {
        let pair = Array::from(&entry);
        if let Some(name) = pair.get(0).as_string() {
            set(&c, &name, pair.get(1));
        }
    }
    set(&c, "anon", s.anon.as_str());
    set(&c, "session", s.session.as_str());
    if let Some(u) = &s.user {
        set(&c, "user", u.as_str());
    }
    if let Some(w) = web_sys::window() {
        let d = w.document();
        if let Some(r) = d.as_ref().map(|d| d.referrer()).filter(|r| !r.is_empty()) {
            set(&c, "referrer", clip(&r));
        }
        if let Some(l) = w.navigator().language() {
            set(&c, "lang", l.as_str());
        }
        if let Ok(screen) = w.screen() {
            if let (Ok(sw), Ok(sh)) = (screen.width(), screen.height()) {
                set(&c, "screen", dims_str(sw as f64, sh as f64));
            }
        }
        if let (Some(vw), Some(vh)) = (
            w.inner_width().ok().and_then(|v| v.as_f64()),
            w.inner_height().ok().and_then(|v| v.as_f64()),
        ) {
            set(&c, "viewport", dims_str(vw, vh));
        }
        let tz =
            js_sys::Intl::DateTimeFormat::new(&Array::new(), &Object::new()).resolved_options();
        if let Some(tz) = get_str(&tz.into(), "timeZone") {
            set(&c, "tz", tz.as_str());
        }
    }
    c
}

fn dims_str(w: f64, h: f64) -> String {
    let mut s = js_number(w);
    s.push('x');
    s.push_str(&js_number(h));
    s
}

fn envelope_head(s: &State) -> String {
    let mut head = String::from("{\"app\":");
    head.push_str(&stringify(&JsValue::from_str(&s.cfg.app)).unwrap_or_default());
    head.push_str(",\"key\":");
    head.push_str(&stringify(&JsValue::from_str(&s.cfg.key)).unwrap_or_default());
    head.push_str(",\"sent_at\":");
    head.push_str(&js_number(now_ms().floor()));
    head.push_str(",\"context\":");
    head.push_str(&stringify(&context(s).into()).unwrap_or_else(|| "{}".into()));
    head.push_str(",\"events\":[");
    head
}

/// Sends one batch with `fetch` unless one is in flight or the collector
/// asked to wait.
fn flush() {
    let now = now_ms();
    let job = with(|s| {
        if s.inflight || s.queue.is_empty() || now < s.not_before {
            return None;
        }
        s.last_flush = now;
        let head = envelope_head(s);
        let mut size = head.len() + 2;
        let mut batch = Vec::new();
        while let Some(next) = s.queue.take(1).pop() {
            if !batch.is_empty() && size + next.len() + 1 > MAX_FETCH_BYTES {
                s.queue.requeue(vec![next]);
                break;
            }
            size += next.len() + 1;
            batch.push(next);
        }
        let (bodies, skipped) = chunk(&batch, &head, "]}", MAX_FETCH_BYTES);
        s.queue.count_dropped(skipped.len());
        s.inflight = true;
        Some((s.cfg.endpoint.clone(), bodies.into_iter().next()?, batch))
    })
    .flatten();
    let Some((url, body, batch)) = job else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        let (status, retry_after) = post(&url, &body).await;
        let outcome = classify(status, retry_after.as_deref());
        let n = batch.len();
        with(move |s| {
            s.inflight = false;
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
                    s.not_before = now_ms() + f64::from(secs) * 1000.0;
                }
                Outcome::Retry => {
                    s.attempts += 1;
                    if s.attempts > MAX_ATTEMPTS {
                        s.queue.count_dropped(n);
                        s.attempts = 0;
                    } else {
                        s.queue.requeue(batch);
                        s.not_before = now_ms() + backoff_ms(s.attempts, js::random());
                    }
                }
            }
        });
    });
}

/// POSTs `body` as `text/plain` (no CORS preflight) with `keepalive`.
/// Returns the status (0 for a network error) and `Retry-After`.
async fn post(url: &str, body: &str) -> (u16, Option<String>) {
    let Some(w) = web_sys::window() else {
        return (0, None);
    };
    let init = Object::new();
    set(&init, "method", "POST");
    set(&init, "body", body);
    set(&init, "keepalive", body.len() <= MAX_FETCH_BYTES);
    set(&init, "mode", "cors");
    set(&init, "credentials", "omit");
    let headers = Object::new();
    set(&headers, "content-type", "text/plain;charset=UTF-8");
    set(&init, "headers", headers);
    let init: RequestInit = init.unchecked_into();
    let Ok(resp) = JsFuture::from(w.fetch_with_str_and_init(url, &init)).await else {
        return (0, None);
    };
    let Ok(resp) = resp.dyn_into::<Response>() else {
        return (0, None);
    };
    let retry_after = resp.headers().get("retry-after").ok().flatten();
    (resp.status(), retry_after)
}

/// On page hide (`visibilitychange` to hidden, `pagehide`; both come on a
/// navigation): the pending breakdown and a memory sample (once), then
/// everything queued through `navigator.sendBeacon`.
fn flush_on_hide() {
    emit_load();
    // `visibilitychange` and `pagehide` both come on a navigation: one sample.
    let now = now_ms();
    let first = with(|s| {
        let first = now - s.last_hide >= 1000.0;
        s.last_hide = now;
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
    let Some(w) = web_sys::window() else { return };
    let nav = w.navigator();
    let mut refused = false;
    for body in &bodies {
        if refused
            || !nav
                .send_beacon_with_opt_str(&url, Some(body))
                .unwrap_or(false)
        {
            refused = true;
        }
    }
    if refused {
        // Keep them: a later visit of this page, or the next flush, sends them.
        with(|s| s.queue.requeue(events));
    } else {
        let n = events.len() as u64;
        with(|s| s.sent += n);
    }
}

fn nav_timing() -> Option<(NavTiming, web_sys::Performance)> {
    let perf = web_sys::window()?.performance()?;
    let entry = perf.get_entries_by_type("navigation").get(0);
    if entry.is_undefined() {
        return None;
    }
    let f = |k: &str| get_f64(&entry, k).unwrap_or(0.0);
    Some((
        NavTiming {
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
        },
        perf,
    ))
}

/// Emits the page's `load` breakdown once the load event has finished.
fn emit_load() {
    let ready = with(|s| !s.load_sent && s.sampled).unwrap_or(false);
    if !ready {
        return;
    }
    let Some((t, perf)) = nav_timing() else {
        return;
    };
    if t.load_event_end <= 0.0 {
        return;
    }
    let fcp = perf
        .get_entries_by_name("first-contentful-paint")
        .get(0)
        .dyn_into::<web_sys::PerformanceEntry>()
        .ok()
        .map(|e| e.start_time());
    let metrics = Object::new();
    let lcp = with(|s| s.lcp).flatten();
    for (name, v) in breakdown(&t, fcp, lcp) {
        set(&metrics, name, v);
    }
    let measures = perf.get_entries_by_type("measure");
    for m in measures.iter() {
        if let Ok(m) = m.dyn_into::<web_sys::PerformanceEntry>() {
            if let Some(phase) = m.name().strip_prefix("usage:") {
                if let Some(metric) = phase_metric(phase) {
                    set(&metrics, &metric, round2(m.duration()));
                }
            }
        }
    }
    let marks = with(|s| {
        s.load_sent = true;
        std::mem::take(&mut s.marks)
    })
    .unwrap_or_default();
    for (metric, at) in marks {
        set(&metrics, &metric, round2(at));
    }
    record("load", Object::new(), metrics);
}

fn heap() -> Option<(f64, f64, f64)> {
    let perf: JsValue = web_sys::window()?.performance()?.into();
    let mem = get(&perf, "memory")?;
    Some((
        get_f64(&mem, "usedJSHeapSize")?,
        get_f64(&mem, "totalJSHeapSize").unwrap_or(0.0),
        get_f64(&mem, "jsHeapSizeLimit").unwrap_or(0.0),
    ))
}

fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0.0, |b| f64::from(b.byte_length()))
}

/// Emits a `memory` sample: heap, wasm memory, GC estimate, long tasks.
fn emit_memory() {
    let Some(sampled) = with(|s| s.sampled) else {
        return;
    };
    if !sampled {
        return;
    }
    let h = heap();
    let metrics = Object::new();
    let props = Object::new();
    set(&props, "source", "browser");
    with(|s| {
        if let Some((used, _, _)) = h {
            s.gc.observe(used);
        }
        let (gc_count, reclaimed) = s.gc.report();
        if let Some((used, total, limit)) = h {
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
        s.last_memory = now_ms();
    });
    set(&metrics, "wasm_memory_bytes", wasm_memory_bytes());
    record("memory", props, metrics);
}

/// The beacon's clock: flush by interval, sample the heap for GC drops,
/// emit memory samples and the load breakdown.
fn tick() {
    let now = now_ms();
    if let Some((used, _, _)) = heap() {
        with(|s| s.gc.observe(used));
    }
    let (flush_due, memory_due) = with(|s| {
        (
            now - s.last_flush >= s.cfg.flush_interval_ms,
            now - s.last_memory >= s.cfg.memory_interval_ms,
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

fn on_click(e: Event) {
    let enabled = with(|s| s.cfg.capture_clicks).unwrap_or(false);
    let Some(target) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
        return;
    };
    if !enabled {
        return;
    }
    if let Some(w) = widget_for(&target) {
        let props = Object::new();
        set(&props, "widget", w.name.as_str());
        set(&props, "tag", w.tag.as_str());
        record("click", props, Object::new());
    }
}

fn on_change(e: Event) {
    if !with(|s| s.cfg.capture_choices).unwrap_or(false) {
        return;
    }
    let Some(target) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
        return;
    };
    if let Some(c) = choice_for(&target) {
        record("choice", c.to_props("change"), Object::new());
    }
}

fn on_submit(e: Event) {
    if !with(|s| s.cfg.capture_choices).unwrap_or(false) {
        return;
    }
    let Some(form) = e
        .target()
        .and_then(|t| t.dyn_into::<HtmlFormElement>().ok())
    else {
        return;
    };
    for c in form_choices(&form) {
        record("choice", c.to_props("submit"), Object::new());
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
        s.view = js::random_hex(8);
        true
    });
    if changed == Some(true) {
        record("page", Object::new(), Object::new());
    }
}

fn add_listener(target: &web_sys::EventTarget, kind: &str, f: impl FnMut(Event) + 'static) {
    let cb = Closure::<dyn FnMut(Event)>::new(f);
    let opts = web_sys::AddEventListenerOptions::new();
    opts.set_capture(true);
    opts.set_passive(true);
    let _ = target.add_event_listener_with_callback_and_add_event_listener_options(
        kind,
        cb.as_ref().unchecked_ref(),
        &opts,
    );
    // Page-lifetime listener: the beacon lives as long as the page.
    cb.forget();
}

/// Wraps `history.pushState`/`replaceState` so SPA route changes are seen.
fn patch_history(w: &web_sys::Window) {
    let Ok(history) = w.history() else { return };
    let history_js: JsValue = history.into();
    for method in ["pushState", "replaceState"] {
        let Some(original) =
            get(&history_js, method).and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        else {
            continue;
        };
        let this = history_js.clone();
        let wrapped = Closure::<dyn Fn(JsValue, JsValue, JsValue) -> JsValue>::new(
            move |state: JsValue, unused: JsValue, url: JsValue| {
                let args = Array::of3(&state, &unused, &url);
                let r = original.apply(&this, &args);
                on_route_change();
                match r {
                    Ok(v) => v,
                    // Re-throw the page's own error: the wrapper must not change behaviour.
                    Err(e) => wasm_bindgen::throw_val(e),
                }
            },
        );
        let _ = js_sys::Reflect::set(&history_js, &JsValue::from_str(method), wrapped.as_ref());
        wrapped.forget();
    }
}

fn observe(kind: &str, f: impl FnMut(Array) + 'static) {
    let mut f = f;
    let cb = Closure::<dyn FnMut(JsValue)>::new(move |list: JsValue| {
        if let Ok(list) = list.dyn_into::<web_sys::PerformanceObserverEntryList>() {
            f(list.get_entries());
        }
    });
    if let Ok(obs) = web_sys::PerformanceObserver::new(cb.as_ref().unchecked_ref()) {
        let opts = Object::new();
        set(&opts, "type", kind);
        set(&opts, "buffered", true);
        // Browsers without this entry type throw: then there is nothing to observe.
        let _ = js_sys::Reflect::get(&obs, &JsValue::from_str("observe"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .map(|f| f.call1(&obs, &opts));
    }
    cb.forget();
}

/// Registers the page-lifetime listeners, timers and observers once.
fn listen_once() {
    let first = LISTENING.with(|l| {
        let mut l = l.borrow_mut();
        let first = !*l;
        *l = true;
        first
    });
    if !first {
        return;
    }
    let Some(w) = web_sys::window() else { return };
    let Some(d) = w.document() else { return };
    add_listener(&d, "click", on_click);
    add_listener(&d, "change", on_change);
    add_listener(&d, "submit", on_submit);
    add_listener(&w, "popstate", |_| on_route_change());
    add_listener(&w, "pagehide", |_| flush_on_hide());
    let doc = d.clone();
    add_listener(&d, "visibilitychange", move |_| {
        if doc.visibility_state() == web_sys::VisibilityState::Hidden {
            flush_on_hide();
        }
    });
    patch_history(&w);
    observe("longtask", |entries| {
        let total: f64 = entries
            .iter()
            .filter_map(|e| e.dyn_into::<web_sys::PerformanceEntry>().ok())
            .map(|e| e.duration())
            .sum();
        let n = entries.length();
        with(|s| {
            s.longtask_count += n;
            s.longtask_ms += total;
        });
    });
    observe("largest-contentful-paint", |entries| {
        if let Some(last) = entries
            .iter()
            .last()
            .and_then(|e| e.dyn_into::<web_sys::PerformanceEntry>().ok())
        {
            let t = last.start_time();
            with(|s| s.lcp = Some(t));
        }
    });
    let period = with(|s| s.cfg.flush_interval_ms.min(1000.0)).unwrap_or(1000.0) as u32;
    gloo_timers::callback::Interval::new(period, tick).forget();
}
