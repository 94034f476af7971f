//! # usagelens-protocol
//!
//! The wire types every part of UsageLens shares: the beacon (`wasm32`), the
//! native SDK, the collector and the tests. No IO, no async runtime: just
//! serde types and the validation rules of protocol v1 (`POST /v1/batch`).
//!
//! | module | what it holds |
//! |---|---|
//! | [`limits`] | every size limit the collector enforces |
//! | [`names`] | the name rules for dimensions, metrics, event types and apps |
//! | [`value`] | [`DimValue`], [`Dims`] and [`Metrics`] |
//! | [`timestamp`] | [`Timestamp`]: RFC 3339 or epoch milliseconds |
//! | [`batch`] | [`Batch`], [`Event`] and the collector's [`RawBatch`] |
//! | [`response`] | [`BatchResponse`] and the stable [`ErrorBody`] |
//! | [`delivery`] | the SDKs' retry contract: classify answers, back off, chunk bodies |
//!
//! ## Quickstart: build a batch the way an SDK does
//!
//! ```
//! use usagelens_protocol::{Batch, DimValue, Event, Timestamp};
//!
//! let mut event = Event::new("0193a1b2-0001", "click");
//! event.ts = Some(Timestamp::from_millis(1_795_600_000_000));
//! event.props.insert("widget", "export-csv");
//! event.props.insert("tags", DimValue::strings(["beta", "admin"]));
//! event.metrics.insert("duration_ms", 12.5);
//!
//! let mut batch = Batch::new("demo");
//! batch.context.insert("user", "u-42");
//! batch.events.push(event);
//! batch.validate().expect("a valid batch");
//!
//! let json = serde_json::to_string(&batch).unwrap();
//! let back: Batch = serde_json::from_str(&json).unwrap();
//! assert_eq!(back, batch);
//! ```
//!
//! ## Validation happens while parsing
//!
//! Deserializing applies every rule, so a collector never holds an invalid
//! value, and the error says what to fix:
//!
//! ```
//! use usagelens_protocol::Event;
//!
//! let bad = r#"{"id":"e1","type":"click","props":{"$where":"1"}}"#;
//! let err = serde_json::from_str::<Event>(bad).unwrap_err().to_string();
//! assert!(err.contains("invalid dimension name `$where`"), "{err}");
//! ```

//!
//! ## Without `std`
//!
//! With `default-features = false` the crate is `no_std` (it needs `alloc`)
//! and holds only [`limits`], [`names`] and [`delivery`]: what the browser
//! beacon shares with the other SDKs, without serde in its wasm.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "std")]
pub mod batch;
pub mod delivery;
pub mod limits;
pub mod names;
#[cfg(feature = "std")]
pub mod response;
#[cfg(feature = "std")]
pub mod timestamp;
#[cfg(feature = "std")]
pub mod value;

#[cfg(feature = "std")]
pub use batch::{Batch, Event, RawBatch, ValidationError};
#[cfg(feature = "std")]
pub use response::{BatchResponse, ErrorBody, ErrorDetail, Rejected};
#[cfg(feature = "std")]
pub use timestamp::Timestamp;
#[cfg(feature = "std")]
pub use value::{DimValue, Dims, ListItem, Metrics};

/// The protocol version this crate describes; the collector serves it under `/v1/`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The event types the UsageLens SDKs emit. Any other valid type is a custom event.
pub const STANDARD_TYPES: &[&str] = &[
    "page", "click", "choice", "load", "memory", "http", "timing", "metric",
];
