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
//! ## axum
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
//! | feature | default | what |
//! |---|---|---|
//! | `tower` | on | [`UsageLensLayer`]: one `http` event per request |
//! | `axum` | off | route templates from `MatchedPath`, [`TimedJson`] |
//!
//! ## Other languages
//!
//! The SDK speaks the collector's HTTP protocol (`docs/protocol.md`): any
//! service can post the same events, for example a JVM reporting its GC
//! pauses as `{"id": "…", "type": "metric", "props": {"name": "gc_pause",
//! "unit": "ms", "source": "server"}, "metrics": {"value": 3.5}}`.
//!
//! ## Shutting down
//!
//! [`Client::flush`] and [`Client::shutdown`] are bounded by a timeout and
//! idempotent; the [`Guard`] returned by [`init`] shuts down on drop. Keep
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
