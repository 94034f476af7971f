//! Small helpers over js-sys: object fields, time, random ids.

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// Sets `obj[key] = value`, ignoring failures (a frozen object).
pub fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// `obj[key]` if it is present.
pub fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `obj[key]` as a string.
pub fn get_str(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).and_then(|v| v.as_string())
}

/// `obj[key]` as a number.
pub fn get_f64(obj: &JsValue, key: &str) -> Option<f64> {
    get(obj, key).and_then(|v| v.as_f64())
}

/// Milliseconds since the epoch.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A random number in [0, 1).
pub fn random() -> f64 {
    js_sys::Math::random()
}

/// A random hex id of `bytes` bytes, from `crypto.getRandomValues` when
/// available.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut buf).is_ok());
    if !filled {
        for b in &mut buf {
            *b = (random() * 256.0) as u8;
        }
    }
    let mut s = String::with_capacity(bytes * 2);
    for b in buf {
        s.push(hex_digit(b >> 4));
        s.push(hex_digit(b & 15));
    }
    s
}

fn hex_digit(n: u8) -> char {
    char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 })
}

thread_local! {
    static SEQ: std::cell::Cell<u16> = const { std::cell::Cell::new(0) };
}

/// An event id: milliseconds (hex), a per-page sequence number (4 hex
/// digits) and 64 random bits, so the ids of one page sort in the order its
/// events happened, even within a millisecond.
pub fn event_id() -> String {
    let mut id = js_sys::Number::from(now_ms().floor())
        .to_string_with_radix(16)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default();
    id.push('-');
    let seq = SEQ.with(|s| {
        let n = s.get();
        s.set(n.wrapping_add(1));
        n
    });
    for shift in [12u16, 8, 4, 0] {
        id.push(hex_digit(((seq >> shift) & 15) as u8));
    }
    id.push('-');
    id.push_str(&random_hex(8));
    id
}

/// `JSON.stringify(v)`.
pub fn stringify(v: &JsValue) -> Option<String> {
    js_sys::JSON::stringify(v).ok().and_then(|s| s.as_string())
}

/// A value as an `Object`, if it is one (not an array, not null).
pub fn as_plain_object(v: &JsValue) -> Option<&Object> {
    if v.is_object() && !js_sys::Array::is_array(v) {
        v.dyn_ref::<Object>()
    } else {
        None
    }
}
