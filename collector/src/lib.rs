//! # usagelens-collector
//!
//! The UsageLens collector: an axum service that accepts event batches
//! (`POST /v1/batch`, protocol v1 in `docs/protocol.md`), validates them,
//! writes one MongoDB document per event (`docs/storage.md`), and answers
//! the read API: the query engine (`POST /v1/query`), the raw export
//! (`GET /v1/events`), the dimension catalog (`GET /v1/dimensions`) and the
//! reports (`POST /v1/reports/<name>`, docs/reports.md).
//!
//! ## Layers
//!
//! Imports only go down (ADR 006, `docs/adr/006-collector-layers.md`;
//! `tests/layers.rs` checks it):
//!
//! ```text
//! main / cli ─► server ─► http/, jobs/ ─► state ─► domain ─► store/ ─► protocol
//! ```
//!
//! | layer | modules | concern |
//! |---|---|---|
//! | command line | `cli/` | `serve`, `apps …`, `query …` |
//! | server | `server.rs` | the HTTP API and the jobs, graceful shutdown |
//! | HTTP | `http/` | the router, one error type, auth, CORS, assets, a thin handler per surface |
//! | jobs | `jobs/` | supervised background loops with a cancellation token and a health deadline |
//! | state | `state.rs` | what handlers and jobs share |
//! | domain | [`ingest`], [`query`], [`reports`], [`rollups`], `export/`, [`catalog`], [`apps`], [`lease`], [`clock`], `limits.rs`, [`beacon`], `health.rs`, [`config`] | the work, without HTTP |
//! | storage | [`store`] | the only place that names a collection or reads a MongoDB error code |
//!
//! ## Run it in-process
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use usagelens_collector::{serve, shutdown_signal, AppState, ServeConfig, Store, WriteAck};
//!
//! let store = Store::connect(
//!     "mongodb://127.0.0.1:27017", "usagelens",
//!     WriteAck::default(), std::time::Duration::from_secs(5),
//! ).await?;
//! let state = AppState::new(store, ServeConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Finishes in-flight batches, stops the jobs and flushes the catalog on Ctrl-C or SIGTERM.
//! serve(state, listener, shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! ## Test it without a socket
//!
//! [`app`] returns the `Router`; drive it with `tower::ServiceExt::oneshot`
//! (see `tests/common/mod.rs`).

// Top: the command line and the server.
mod cli;
mod server;

// The surfaces over the state.
mod http;
mod jobs;
mod state;

// The domain: no axum, no `AppState`.
pub mod apps;
pub mod beacon;
pub mod catalog;
pub mod clock;
pub mod config;
mod export;
mod health;
pub mod ingest;
pub mod lease;
mod limits;
pub mod query;
pub mod reports;
pub mod rollups;

// The storage boundary.
pub mod store;

pub use cli::main;
pub use config::ServeConfig;
pub use http::app;
pub use server::{serve, shutdown_signal};
pub use state::AppState;
pub use store::{Store, StoreError, WriteAck};
