//! `memory` samples: the JS heap (Chromium's `performance.memory`), the wasm
//! memory, garbage collection estimated from drops of the used heap, and the
//! long animation frames (else long tasks) since the last sample, which
//! `js/host.js` counts (`host::tasks`).

use super::delivery::record;
use super::state::with;
use crate::host::{self, get, get_f64, now, obj, performance, set};

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

/// Emits a `memory` sample: heap, wasm memory, GC estimate, long frames.
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
        s.last_memory = now();
    });
    host::tasks(&metrics, &props);
    set(&metrics, "wasm_memory_bytes", wasm_memory_bytes());
    record("memory", props, metrics);
}
