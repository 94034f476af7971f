//! `memory` samples: the JS heap (Chromium's `performance.memory`), the wasm
//! memory, garbage collection estimated from drops of the used heap, and the
//! long tasks since the last sample.

use wasm_bindgen::JsValue;

use super::delivery::record;
use super::state::with;
use crate::host::{at, get, get_f64, len, now, obj, performance, set};
use crate::timing::round2;

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

/// Samples the used heap for the GC estimate (every tick, between samples).
pub(super) fn observe_heap() {
    if let Some((used, _, _)) = heap() {
        with(|s| s.gc.observe(used));
    }
}

/// Emits a `memory` sample: heap, wasm memory, GC estimate, long tasks.
pub(super) fn emit_memory() {
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

/// Long-task entries: counted until the next sample.
pub(super) fn on_longtasks(entries: &JsValue) {
    let n = len(entries);
    let total: f64 = (0..n)
        .filter_map(|i| get_f64(&at(entries, i), "duration"))
        .sum();
    with(|s| {
        s.longtask_count += n;
        s.longtask_ms += total;
    });
}
