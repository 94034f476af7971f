//! # usagelens-collector
//!
//! The UsageLens collector: an axum service that accepts event batches
//! (`POST /v1/batch`, protocol v1 in `docs/protocol.md`), validates them, and
//! writes one MongoDB document per event (`docs/storage.md`).
//!
//! | module | concept |
//! |---|---|
//! | [`ingest`] | the batch endpoint: decode, authenticate, validate, store |
//! | [`query`] | `POST /v1/query`: group and filter by any dimension, one pipeline per query |
//! | [`export`] | `GET /v1/events`: raw events page by page, NDJSON or CSV, streamed from a cursor |
//! | [`store`] | MongoDB collections, indexes, writes, error classification |
//! | [`apps`] | apps, write keys, read tokens, allowed origins |
//! | [`catalog`] | the dimension catalog, kept without a write per event |
//! | [`enrich`] | `browser`, `os`, `device` from the User-Agent |
//! | [`ratelimit`] | per-address and per-app limits |
//! | [`beacon`] | the browser beacon's files, pre-compressed, at `/beacon.js` and `/beacon/*` |
//! | [`server`] | the router, `serve`, graceful shutdown |
//! | [`config`] | options, flags and environment variables |
//!
//! ## Run it in-process
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use usagelens_collector::{config::ServeConfig, server, store::{Store, WriteAck}};
//!
//! let store = Store::connect(
//!     "mongodb://127.0.0.1:27017", "usagelens",
//!     WriteAck::default(), std::time::Duration::from_secs(5),
//! ).await?;
//! let state = server::AppState::new(store, ServeConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Finishes in-flight batches and flushes the catalog on Ctrl-C or SIGTERM.
//! server::serve(state, listener, server::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
//!
//! ## Test it without a socket
//!
//! [`server::app`] returns the `Router`; drive it with
//! `tower::ServiceExt::oneshot` (see `tests/common/mod.rs`).

pub mod apps;
pub mod beacon;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod enrich;
pub mod error;
pub mod export;
pub mod ingest;
pub mod query;
pub mod ratelimit;
pub mod server;
pub mod store;
