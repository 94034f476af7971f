//! The beacon's door to the browser: the generic functions of `js/host.js`.
//!
//! The beacon does not bind one import per DOM method (web-sys gave it 139,
//! each with its own JS shim: about half of a 47 KB beacon). It reads and
//! calls the browser through these few functions instead, by property name
//! (ADR 005). None of them throws: a missing property or a throwing getter
//! reads as `undefined`.
//!
//! `cargo xtask beacon` puts `js/host.js` in the loader's scope as `__ulh`,
//! and the loader calls `__ulh.init(dispatch)` before `start_beacon`; the
//! browser tests install it as a global and do the same.

use alloc::string::String;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

#[wasm_bindgen(js_namespace = __ulh)]
extern "C" {
    /// Hands the host the beacon's dispatcher ([`crate::dispatch`], done by
    /// the loader): listeners, timers, observers and finished requests call
    /// `dispatch(id, value)`.
    pub fn init(dispatch: &JsValue);
    /// `window` (or the worker's `self`).
    pub(crate) fn global() -> JsValue;
    #[wasm_bindgen(js_name = get)]
    fn get_raw(o: &JsValue, k: &str) -> JsValue;
    /// `o[i]`.
    pub(crate) fn at(o: &JsValue, i: u32) -> JsValue;
    #[wasm_bindgen(js_name = set)]
    fn set_raw(o: &JsValue, k: &str, v: &JsValue);
    /// `o[k](a, b)`; `undefined` when it is missing or throws.
    pub(crate) fn call(o: &JsValue, k: &str, a: &JsValue, b: &JsValue) -> JsValue;
    /// `o[k](a)` with a string argument.
    #[wasm_bindgen(js_name = call)]
    pub(crate) fn call_str(o: &JsValue, k: &str, a: &str) -> JsValue;
    /// `{}`.
    pub(crate) fn obj() -> JsValue;
    /// `[]`.
    pub(crate) fn arr() -> JsValue;
    /// `a.push(v)`.
    pub(crate) fn push(a: &JsValue, v: &JsValue);
    /// `Object.keys(o)` for a plain object (not an array), else `[]`;
    /// names whose value is `undefined` or `null` left out.
    pub(crate) fn keys(o: &JsValue) -> JsValue;
    /// `Array.isArray(v)`.
    #[wasm_bindgen(js_name = isArray)]
    pub(crate) fn is_array(v: &JsValue) -> bool;
    /// `JSON.stringify(v)` (`""` if it throws).
    pub(crate) fn json(v: &JsValue) -> String;
    /// `String(v)`: JS number formatting without Rust's.
    pub(crate) fn str(v: &JsValue) -> String;
    /// A number as is, else `parseFloat(v)` (NaN when not a number).
    pub(crate) fn float(v: &JsValue) -> f64;
    /// `Date.now()`.
    pub(crate) fn now() -> f64;
    /// `Math.random()`.
    pub(crate) fn random() -> f64;
    /// `n` random bytes (`crypto.getRandomValues`) in hex.
    pub(crate) fn hex(n: u32) -> String;
    /// A capturing, passive listener: `dispatch(id, event)`.
    pub(crate) fn listen(target: &JsValue, kind: &str, id: u32);
    /// `setInterval`: `dispatch(id)` every `ms`.
    pub(crate) fn every(ms: f64, id: u32);
    /// `setTimeout`: `dispatch(id)` once, after `ms`.
    pub(crate) fn after(ms: f64, id: u32);
    /// A buffered `PerformanceObserver` of `kind`: `dispatch(id, entries)`.
    pub(crate) fn observe(kind: &str, id: u32);
    /// Once per page load (and again after a bfcache restore): `dispatch(id,
    /// form)` for each of the page's forms (the end of the view: their
    /// controls as they are now), then `cls` and `inp_ms` into the metrics
    /// `m`, `inp_event` and `inp_tag` into the props `p`; returns the INP
    /// interaction's target (`undefined` without one, or after the first call
    /// until a bfcache restore).
    pub(crate) fn vitals(m: &JsValue, p: &JsValue, id: u32) -> JsValue;
    /// The long animation frames (else long tasks) since the last call into
    /// the metrics `m` (`longtask_count`, `longtask_ms`, `blocking_ms`,
    /// `longtask_max_ms`) and their type into the props `p` (`longtask_type`);
    /// nothing in a browser with neither.
    pub(crate) fn tasks(m: &JsValue, p: &JsValue);
    /// At the beacon's start: the observers of the signals whose books the
    /// host keeps (CLS, INP, long animation frames, else long tasks), once
    /// per page; then the IANA time zone (`Temporal.Now.timeZoneId()`, else
    /// `Intl`'s) read once the page is idle (`requestIdleCallback`, at most
    /// 2 s; else `setTimeout`): `dispatch(id, tz)`.
    pub(crate) fn begin(id: u32);
    /// Wraps the method `o[k]`: the page's call runs unchanged, then `dispatch(id)`.
    pub(crate) fn wrap(o: &JsValue, k: &str, id: u32);
    /// `fetch` POST of `body` as `text/plain`; then `dispatch(id, [status,
    /// retryAfter, rejected])` (status 0 for a network error; `rejected` the
    /// length of the JSON answer's `rejected` list, 0 without one).
    pub(crate) fn post(url: &str, body: &str, keepalive: bool, id: u32);
    /// What the page says about the browser, into `o`: `referrer` (unless
    /// empty, at most 1024 characters: URLs are ASCII), `lang`, `screen` and
    /// `viewport` (`<width>x<height>`).
    pub(crate) fn about(o: &JsValue);
    /// The page's path, with a hash route (`#/…`, `#!…`) when the app routes
    /// with the URL hash; other fragments (`#section`) are not part of it.
    /// At most 1024 characters.
    pub(crate) fn path() -> String;
    /// Whether the visitor opted out of tracking: Do Not Track (`1` or
    /// `yes`) or Global Privacy Control.
    #[wasm_bindgen(js_name = optedOut)]
    pub(crate) fn opted_out() -> bool;
    /// `navigator.sendBeacon(url, body)`: whether the browser took it.
    pub(crate) fn send(url: &str, body: &str) -> bool;
}

/// `o[k]`, unless it is `undefined` or `null`.
pub(crate) fn get(o: &JsValue, k: &str) -> Option<JsValue> {
    let v = get_raw(o, k);
    (!v.is_undefined() && !v.is_null()).then_some(v)
}

/// `o[k]` if it is a string.
pub(crate) fn get_str(o: &JsValue, k: &str) -> Option<String> {
    get_raw(o, k).as_string()
}

/// `o[k]` if it is a number.
pub(crate) fn get_f64(o: &JsValue, k: &str) -> Option<f64> {
    get_raw(o, k).as_f64()
}

/// `o[k]` is `true`.
pub(crate) fn get_bool(o: &JsValue, k: &str) -> bool {
    get_raw(o, k).as_bool() == Some(true)
}

/// `o[k] = v`.
pub(crate) fn set(o: &JsValue, k: &str, v: impl Into<JsValue>) {
    set_raw(o, k, &v.into());
}

/// `o.length` of an array-like (0 when absent).
pub(crate) fn len(o: &JsValue) -> u32 {
    get_f64(o, "length").map_or(0, |n| n as u32)
}

/// `o[k]()`.
pub(crate) fn call0(o: &JsValue, k: &str) -> JsValue {
    call(o, k, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
}

/// A string `v` trimmed (JS `trim`), unless that leaves nothing; `None`
/// for anything but a string.
pub(crate) fn trimmed(v: &JsValue) -> Option<String> {
    call0(v, "trim").as_string().filter(|s| !s.is_empty())
}

/// `window.document`.
pub(crate) fn document() -> Option<JsValue> {
    get(&global(), "document")
}

/// `window.performance`.
pub(crate) fn performance() -> Option<JsValue> {
    get(&global(), "performance")
}

/// A JS number as JS prints it (`1700000000000`, `1.5`).
pub(crate) fn number_string(v: f64) -> String {
    str(&JsValue::from_f64(v))
}

/// Calls `f(name, value)` for the own enumerable properties of a plain object.
pub(crate) fn entries(o: &JsValue, mut f: impl FnMut(String, JsValue)) {
    let keys = keys(o);
    for i in 0..len(&keys) {
        if let Some(k) = at(&keys, i).as_string() {
            let v = get(o, &k).unwrap_or(JsValue::UNDEFINED);
            f(k, v);
        }
    }
}
