//! # usagelens-sdk-wasm: the browser beacon
//!
//! Rust compiled to `wasm32-unknown-unknown`, loaded by one script tag:
//!
//! ```html
//! <script async src="https://collector.example.com/beacon.js"
//!         data-app="demo" data-key="wk_…"></script>
//! ```
//!
//! `beacon.js` (the loader in `js/loader.js` with the host functions of
//! `js/host.js` and the wasm-bindgen glue, assembled and minified by `cargo
//! xtask beacon`) instantiates the module and exposes
//! `window.usagelens`: `track(type, props, metrics)`, `identify(user)`,
//! `set(dimension, value)`, `unset(dimension)`, `mark(phase)`, `flush()`,
//! `choice(control, value, default, {form})` (the loader's sugar over
//! `track`), `stats()`. Calls made before the module loads are queued and
//! replayed (`identify`, `set`, `unset` first: they describe the page view).
//! Each event keeps the context (user, `set` dimensions, session) it
//! happened in; a call past the protocol's limits is refused and counted in
//! `stats().refused` rather than sent to be rejected.
//!
//! | captured | event type | from |
//! |---|---|---|
//! | page views, SPA route changes | `page` | load, `history.pushState`/`replaceState`, `popstate`, `hashchange` to a hash route (`#/…`, `#!…`) |
//! | widget clicks | `click` | `data-usage-widget`, else buttons, links, `[role=button]`, submit inputs, `summary` |
//! | kept or changed defaults | `choice` | `change` of selects, radios, checkboxes; one per control on submit; `usagelens.choice` for custom controls |
//! | the load-time breakdown | `load` | Navigation Timing Level 2, paint timing, LCP, `usagelens.mark` |
//! | CLS and INP, at the page's first hide | `timing` | `layout-shift`, `event` and `first-input` entries (as `web-vitals` computes them) |
//! | memory, GC, long animation frames | `memory` | `performance.memory`, wasm memory, `long-animation-frame` (else `longtask`) entries |
//!
//! The script tag's `data-` options: `data-app`, `data-key` (required);
//! `data-endpoint` (default: `/v1/batch` on the script's origin);
//! `data-flush-interval` (ms, 5000); `data-flush-at` (events, 20);
//! `data-max-queue` (events, 1000); `data-memory-interval` (ms, 30000);
//! `data-sample` (0 to 1, share of page views whose `load` and `memory`
//! events are sent, 1); `data-respect-dnt` (present: send nothing when Do Not
//! Track or Global Privacy Control is on); `data-capture-clicks="false"`,
//! `data-capture-choices="false"` to turn those off.
//!
//! The pure rules (the queue, the load breakdown, naming; delivery is
//! `usagelens_protocol::delivery`, shared with the native SDK) are plain
//! Rust modules tested natively; the browser parts are tested in headless
//! Chromium with `wasm-bindgen-test`.
//!
//! | module | holds |
//! |---|---|
//! | `beacon` | start-up, the JS API, the host's one entry point `dispatch`, over `beacon/`: `clicks`, `choices`, `timing`, `memory` (one kind of event each), `delivery` (queue, batches, retries, `sendBeacon`), `identity` (ids, `identify`/`set`/`unset`, the batch context), `state` and `values` at the bottom |
//! | `dom` | what a click or a change means: widget names, choices with their defaults (public for the browser tests) |
//! | `host` | the door to the browser, the generic functions of `js/host.js`, and the bookkeeping of the per-entry signals (CLS, INP, long animation frames) kept there for size (`host::init` public, for the loader and the browser tests) |
//! | `page` | statics on the page's one thread; the allocator and panic handler of the `standalone` build |
//! | `naming`, `queue`, `timing` | pure rules, tested natively: widget names and clipping, the bounded queue, the load breakdown and the GC estimate |
//!
//! Only the JS API, `dom` and `host::init` are public; everything else is
//! crate-private (`unreachable_pub` is on), so unused code shows.
//!
//! The wasm reads the page through [`host`], a few generic functions, rather
//! than one web-sys binding per DOM method, and links no `std` (the
//! `standalone` feature: lol_alloc and a panic handler that traps): that is
//! what keeps the beacon under 20 KB gzipped (ADR 005 in `docs/adr/`). The
//! browser tests build with `--no-default-features`.

// `no_std` in the browser (the shipped beacon links no `std`, see
// `page.rs`); natively, for the unit tests of the pure modules, with `std`.
#![cfg_attr(target_arch = "wasm32", no_std)]
// The shipped build (`cargo xtask beacon`) sets `usagelens_trap_oom` and lets
// this one crate use `alloc_error_handler` (`RUSTC_BOOTSTRAP=usagelens_beacon`):
// see `page.rs` and docs/adr/008-beacon-allocation-error-handler.md.
#![cfg_attr(
    all(target_arch = "wasm32", feature = "standalone", usagelens_trap_oom),
    feature(alloc_error_handler)
)]

#[cfg(any(target_arch = "wasm32", test))]
extern crate alloc;

// The pure rules: used by the beacon, and natively only by their own tests,
// which leave some of them unused there; the wasm32 builds (and their lints)
// see every use.
#[cfg(any(target_arch = "wasm32", test))]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod naming;
#[cfg(any(target_arch = "wasm32", test))]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod queue;
#[cfg(any(target_arch = "wasm32", test))]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod timing;

#[cfg(target_arch = "wasm32")]
mod beacon;
#[cfg(target_arch = "wasm32")]
pub mod dom;
#[cfg(target_arch = "wasm32")]
pub mod host;
#[cfg(target_arch = "wasm32")]
mod page;

#[cfg(target_arch = "wasm32")]
pub use beacon::{
    dispatch, flush, identify, mark, set_dimension, start_beacon, stats, track, unset,
};
