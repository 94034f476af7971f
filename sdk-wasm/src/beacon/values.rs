//! What the API takes from the page: dimension, prop and metric values the
//! protocol accepts, clipped to its limits; anything else is left out.

use wasm_bindgen::JsValue;

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

pub(super) fn sanitize_props(props: &JsValue) -> JsValue {
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

pub(super) fn sanitize_metrics(metrics: &JsValue) -> JsValue {
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
