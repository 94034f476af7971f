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
//! `set(dimension, value)`, `unset(dimension)`, `mark(phase)`, `flush()`.
//! Calls made before the module loads are queued and replayed.
//!
//! | captured | event type | from |
//! |---|---|---|
//! | page views, SPA route changes | `page` | load, `history.pushState`/`replaceState`, `popstate` |
//! | widget clicks | `click` | `data-usage-widget`, else buttons, links, `[role=button]`, submit inputs, `summary` |
//! | kept or changed defaults | `choice` | `change` of selects, radios, checkboxes; one per control on submit |
//! | the load-time breakdown | `load` | Navigation Timing Level 2, paint timing, LCP, `usagelens.mark` |
//! | memory, GC, long tasks | `memory` | `performance.memory`, wasm memory, `longtask` entries |
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
//! The pure rules (delivery, queue, load breakdown, naming) are plain Rust
//! modules tested natively; the browser parts are tested in headless
//! Chromium with `wasm-bindgen-test`.
//!
//! The wasm reads the page through [`host`], a few generic functions, rather
//! than one web-sys binding per DOM method, and links no `std` (the
//! `standalone` feature: lol_alloc and a panic handler that traps): that is
//! what keeps the beacon under 20 KB gzipped (ADR 005 in `docs/adr/`). The
//! browser tests build with `--no-default-features`.

// `no_std` in the browser (the shipped beacon links no `std`, see
// `page.rs`); natively, for the unit tests of the pure modules, with `std`.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub use usagelens_protocol::delivery;
pub mod naming;
pub mod queue;
pub mod timing;

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
