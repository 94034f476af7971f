//! The page's load-time breakdown in the browser: Navigation Timing, paint
//! timing, LCP and `usagelens.mark`, sent once per page load as a `load`
//! event (the rules that turn the entries into metrics are the pure
//! [`crate::timing`]); and CLS and INP, sent at the page's first hide as a
//! `timing` event.

use alloc::string::String;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use super::delivery::record;
use super::state::{with, ON_FORM_END};
use crate::dom::set_widget;
use crate::host::{
    self, at, call0, call_str, entries, get, get_f64, get_str, keys, len, obj, performance, set,
};
use crate::timing::{breakdown_into, phase_metric, round2, NavTiming};

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
pub(super) fn emit_load() {
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

/// Largest-contentful-paint entries: the last one is the LCP so far.
pub(super) fn on_lcp(entries: &JsValue) {
    let n = len(entries);
    if let Some(t) = n
        .checked_sub(1)
        .and_then(|last| get_f64(&at(entries, last), "startTime"))
    {
        with(|s| s.lcp = Some(t));
    }
}

/// At the page's first hide (again after a bfcache restore): CLS and INP as a `timing` event, the INP
/// interaction's target named as a click on it would be (`inp_widget`,
/// `inp_tag`). `js/host.js` keeps the books (`host::vitals`).
pub(super) fn emit_vitals() {
    let Some(sampled) = with(|s| s.sampled) else {
        return;
    };
    let metrics = obj();
    let props = obj();
    // The forms come back through `dispatch` (ON_FORM_END) whether or not
    // the view is sampled: choices are usage, not performance.
    let target = host::vitals(&metrics, &props, ON_FORM_END);
    if sampled {
        set_widget(&target, &props, "inp_widget", "inp_tag");
        if len(&keys(&metrics)) > 0 {
            record("timing", props, metrics);
        }
    }
}
