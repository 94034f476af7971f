//! Who and where: the `anon`, session and user ids (kept in localStorage
//! across page loads), the `set` dimensions, and the context every batch
//! carries. `usagelens.identify`, `set` and `unset` live here.
//!
//! An event keeps the context it happened in: each change (`identify`,
//! `set`, `unset`, a new session) starts a new context ([`new_context`]),
//! and the one before is kept as JSON while queued events still need it, so
//! a batch sent (or retried) later carries the user and dimensions of its
//! events' time, not of the time it is sent.

use alloc::borrow::ToOwned;
use alloc::string::String;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use usagelens_protocol::names::is_valid_name;

use super::state::{count_refused, with, State};
use super::values::{dim_value, MAX_SET_DIMENSIONS};
use crate::host::{self, call, call_str, entries, get, global, number_string, obj, set};
use crate::naming::clip;

/// A session ends after 30 minutes without an event.
const SESSION_IDLE_MS: f64 = 30.0 * 60.0 * 1000.0;
const ANON_KEY: &str = "usagelens:anon";
const SESSION_KEY: &str = "usagelens:session";
const USER_KEY: &str = "usagelens:user";

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
        if s.user != user {
            new_context(s);
            store(USER_KEY, user.as_deref());
            s.user = user;
        }
    });
}

/// The context is about to change: the current one is kept for the events
/// already queued (or in flight) in it, and later events get a new one.
pub(super) fn new_context(s: &mut State) {
    if s.ctx_used {
        // It must hold the stored ids: read first, if they are not yet.
        restore(s);
        let json = host::json(&context(s));
        s.contexts.push((s.ctx, json));
        s.ctx_used = false;
    }
    s.ctx = s.ctx.wrapping_add(1);
}

/// `usagelens.set(dimension, value)`: a dimension on every later event;
/// an array makes it multi-valued. Refused (and counted in
/// `stats().refused`) for an invalid name or value, or a new name past
/// [`MAX_SET_DIMENSIONS`].
#[wasm_bindgen(js_name = set)]
pub fn set_dimension(name: JsValue, value: JsValue) {
    let ok = match (
        name.as_string().filter(|n| is_valid_name(n)),
        dim_value(&value),
    ) {
        (Some(name), Some(value)) => with(|s| {
            let new = get(&s.dims, &name).is_none();
            if new && s.ndims >= MAX_SET_DIMENSIONS {
                return false;
            }
            new_context(s);
            s.ndims += usize::from(new);
            set(&s.dims, &name, value);
            true
        }),
        _ => Some(false),
    };
    if ok == Some(false) {
        count_refused();
    }
}

/// `usagelens.unset(dimension)`.
#[wasm_bindgen]
pub fn unset(name: JsValue) {
    if let Some(name) = name.as_string() {
        with(|s| {
            if get(&s.dims, &name).is_some() {
                new_context(s);
                s.ndims -= 1;
                // `undefined`: JSON leaves the name out of every later batch.
                set(&s.dims, &name, JsValue::UNDEFINED);
            }
        });
    }
}

/// An event at `t`: after 30 minutes without one, a new session starts.
pub(super) fn touch(s: &mut State, t: f64) {
    if t - s.last_activity >= SESSION_IDLE_MS {
        new_context(s);
        s.session = host::hex(8);
    }
    s.last_activity = t;
}

/// Reads what earlier page views left in localStorage: the `anon` id (made
/// and stored on the first visit), the session (continued when its last
/// activity was under 30 minutes before this page started) and the user.
/// Runs once: in its own task after start-up, or at the first send or
/// `identify`, whichever comes first.
pub(super) fn restore(s: &mut State) {
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
pub(super) fn persist_session(s: &State) {
    let mut v = s.session.clone();
    v.push('|');
    v.push_str(&number_string(s.last_activity));
    store(SESSION_KEY, Some(&v));
}

/// The batch's `context`: the dimensions, the ids, and what the page says
/// about the browser (referrer, language, screen, viewport, time zone).
pub(super) fn context(s: &State) -> JsValue {
    let c = obj();
    // Set dimensions first: the standard ones below cannot be overwritten by accident.
    entries(&s.dims, |name, value| set(&c, &name, value));
    set(&c, "anon", s.anon.as_str());
    set(&c, "session", s.session.as_str());
    if let Some(u) = &s.user {
        set(&c, "user", u.as_str());
    }
    host::about(&c);
    if let Some(tz) = &s.tz {
        set(&c, "tz", tz.as_str());
    }
    c
}
