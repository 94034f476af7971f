//! # usagelens: UsageLens for Rust services
//!
//! Per-route response times, serialization times and process memory into
//! the same store as the browser's usage data, so usage and performance can
//! be correlated. Recording never blocks the host and never fails.
//!
//! ## Quickstart
//!
//! ```no_run
//! use std::time::Duration;
//! use usagelens::{init, Options};
//! use usagelens_protocol::{Dims, Metrics};
//!
//! // Options::from_env() reads USAGELENS_APP, USAGELENS_WRITE_KEY, USAGELENS_ENDPOINT, …
//! let guard = init(Options::new("shop", "wk_…")).expect("valid options");
//! let client = guard.client();
//! client.track("checkout", Dims::new().with("plan", "pro"), Metrics::new().with("items", 3));
//! client.timing("render", Duration::from_millis(12), Dims::new());
//! let total = client.time("price", || 2 + 2);
//! client.metric("jvm.gc_pause", 3.5, "ms", Dims::new());
//! // Dropping the guard delivers what is queued (bounded by `shutdown_timeout`).
//! ```
//!
//! ## axum and tower: one `http` event per request
//!
//! With the default features an axum app's requests are recorded by their
//! route template (axum's `MatchedPath`): a request to `/users/42` on the
//! route `/users/{id}` has `route = "/users/{id}"`, never the raw path, so
//! nothing to configure. A request no route matched has `route = "unmatched"`.
//!
//! ```no_run
//! # #[cfg(feature = "axum")] {
//! use axum::{routing::get, Router};
//! use usagelens::{Client, Options, TimedJson, UsageLensLayer};
//!
//! async fn user() -> TimedJson<serde_json::Value> {
//!     TimedJson(serde_json::json!({"name": "ada"}))
//! }
//! let client = Client::new(Options::new("shop", "wk_…")).unwrap();
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(user))
//!     .layer(UsageLensLayer::new(client.clone())); // `route` = "/users/{id}"
//! # }
//! ```
//!
//! Not using axum's router? With `default-features = false, features =
//! ["tower"]` the layer works for any tower service (hyper, tonic, your own)
//! without compiling axum; name each route by inserting a [`RouteTemplate`]
//! into the request's extensions before the layer sees it (your router
//! knows the template), otherwise every request is `unmatched`. Without any
//! layer, record `http` events yourself with [`Client::bind`].
//!
//! ```no_run
//! # #[cfg(feature = "tower")] {
//! // In front of `UsageLensLayer`, where the host's router knows the template:
//! let set_route = tower::util::MapRequestLayer::new(|mut req: http::Request<()>| {
//!     req.extensions_mut().insert(usagelens::RouteTemplate("/orders/:id".into()));
//!     req
//! });
//! # let _ = set_route; }
//! ```
//!
//! | feature | default | what |
//! |---|---|---|
//! | `tower` | on | [`UsageLensLayer`]: one `http` event per request |
//! | `axum` | on | route templates from axum's `MatchedPath`, [`TimedJson`] (only axum's `matched-path` is enabled: your own axum brings the rest) |
//! | `jemalloc` | off | jemalloc's counters in `memory` samples, for hosts whose global allocator is jemalloc (`tikv-jemallocator`) |
//! | `mimalloc` | off | mimalloc's committed memory in `memory` samples, for hosts whose global allocator is mimalloc |
//!
//! ## Memory
//!
//! [`Client::start_memory_sampler`] records a `memory` event (`source =
//! server`) every interval, from the worker thread (it stops with the
//! client). [`memory_sample`] reads the same figures. Metrics, in bytes:
//!
//! | metric | what | where |
//! |---|---|---|
//! | `rss_bytes` | resident set: the process's memory in RAM | Linux (`/proc/self/statm`), macOS (`task_info`), Windows (working set) |
//! | `virtual_bytes` | virtual size: address space mapped | Linux, macOS; Windows: pagefile usage |
//! | `jemalloc_allocated_bytes` | live heap: bytes the program has allocated and not freed (`stats.allocated`) | feature `jemalloc` |
//! | `jemalloc_active_bytes` | bytes in the pages those allocations occupy (`stats.active`, ≥ allocated) | feature `jemalloc` |
//! | `jemalloc_resident_bytes` | bytes the allocator holds resident, metadata included (`stats.resident`) | feature `jemalloc` |
//! | `jemalloc_mapped_bytes` | bytes the allocator has mapped (`stats.mapped`) | feature `jemalloc` |
//! | `jemalloc_retained_bytes` | address space kept for reuse, not resident (`stats.retained`) | feature `jemalloc` |
//! | `jemalloc_metadata_bytes` | the allocator's own bookkeeping (`stats.metadata`) | feature `jemalloc` |
//! | `mimalloc_committed_bytes` | memory mimalloc holds committed now (a release mimalloc counts no allocated bytes) | feature `mimalloc` |
//! | `mimalloc_peak_committed_bytes` | the most it has held committed | feature `mimalloc` |
//!
//! The allocator features only read statistics: the global allocator is the
//! host's choice (`#[global_allocator]`). Enable the one the host uses:
//! with another allocator its figures describe an idle allocator. Both can
//! be enabled at once.
//!
//! ## Other languages
//!
//! The SDK speaks the collector's HTTP protocol (`docs/protocol.md`): any
//! service can post the same events, for example a JVM reporting its GC
//! pauses as `{"id": "…", "type": "metric", "props": {"name": "gc_pause",
//! "unit": "ms", "source": "server"}, "metrics": {"value": 3.5}}`.
//!
//! ## Delivery and shutting down
//!
//! A collector that answers 429 or 503 pauses the SDK for its `Retry-After`;
//! network errors and other 5xx are retried with backoff. Every attempt of a
//! batch, pauses included, counts against `max_retries` (default 5), then
//! the batch is dropped and counted ([`Stats::dropped_undeliverable`]).
//!
//! [`Client::flush`] and [`Client::shutdown`] return within their timeout
//! (give or take a few milliseconds), even while the collector pauses the
//! SDK: a flush that could not deliver everything answers
//! [`FlushError::Timeout`] and leaves the rest queued ([`Stats::pending`]);
//! a shutdown that could not drops and counts it
//! ([`Stats::dropped_at_shutdown`]). Shutdown is idempotent; the [`Guard`]
//! returned by [`init`] shuts down on drop, bounded by `shutdown_timeout`. Keep
//! the guard in a named binding (`let _guard = init(options)?;`) for as long
//! as the program records: bound to `_` it is dropped, and the client shut
//! down, at once (the compiler warns when it is ignored).

mod attrs;
mod client;
#[cfg(feature = "tower")]
mod layer;
mod memory;
mod options;
mod queue;
mod serialization;
mod transport;

pub use attrs::{Attrs, Measures, Value};
pub use client::{init, BoundEvent, Client, FlushError, Guard};
#[cfg(feature = "tower")]
pub use layer::{ResponseFuture, RouteTemplate, UsageLensLayer, UsageLensService};
#[cfg(feature = "jemalloc")]
pub use memory::JemallocStats;
#[cfg(feature = "mimalloc")]
pub use memory::MimallocStats;
pub use memory::{memory_sample, rss_bytes, MemorySample};
pub use options::{ConfigError, Options};
pub use queue::Stats;
#[cfg(feature = "axum")]
pub use serialization::TimedJson;
pub use serialization::{timed_json, SerializeTiming};
pub use usagelens_protocol::{DimValue, Dims, Metrics};
