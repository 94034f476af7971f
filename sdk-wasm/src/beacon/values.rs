//! What the API takes from the page: dimension, prop and metric values the
//! protocol accepts, clipped to its limits; anything else is left out.

use wasm_bindgen::JsValue;

use usagelens_protocol::limits::MAX_METRICS_PER_EVENT;
use usagelens_protocol::names::is_valid_name;

use crate::host::{self, at, entries, len, obj, set};
use crate::naming::{clip, MAX_ITEMS};

/// A dimension value the protocol accepts, clipped to its limits.
pub(super) fn dim_value(v: &JsValue) -> Option<JsValue> {
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

/// Most `set()` dimensions at once. With the context the beacon adds
/// ([`CONTEXT_DIMS`]) and the props of its own events (at most 12, with
/// `page` and `view`), an event stays under the protocol's 64 dimensions.
pub(super) const MAX_SET_DIMENSIONS: usize = 40;
/// The context dimensions the beacon itself adds: `anon`, `session`, `user`,
/// `referrer`, `lang`, `screen`, `viewport`, `tz`.
pub(super) const CONTEXT_DIMS: usize = 8;

/// `track()`'s props as sent and how many, or `None` (the call is refused)
/// when a name or a value is not one the protocol accepts. `undefined` and
/// `null` values leave the name out (`host::keys` skips them).
pub(super) fn sanitize_props(props: &JsValue) -> Option<(JsValue, usize)> {
    let out = obj();
    let mut n = 0;
    let mut ok = true;
    entries(props, |name, value| {
        match dim_value(&value).filter(|_| is_valid_name(&name)) {
            Some(v) => {
                set(&out, &name, v);
                n += 1;
            }
            None => ok = false,
        }
    });
    ok.then_some((out, n))
}

/// `track()`'s metrics, or `None` (the call is refused) for a bad name, a
/// value that is not a finite number, or more than the protocol's 64.
pub(super) fn sanitize_metrics(metrics: &JsValue) -> Option<JsValue> {
    let out = obj();
    let mut n = 0;
    let mut ok = true;
    entries(metrics, |name, value| {
        n += 1;
        match value.as_f64() {
            Some(v) if v.is_finite() && is_valid_name(&name) => set(&out, &name, v),
            _ => ok = false,
        }
    });
    (ok && n <= MAX_METRICS_PER_EVENT).then_some(out)
}
