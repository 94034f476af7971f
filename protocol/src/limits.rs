//! The limits of protocol v1. The collector enforces each one and answers
//! with an error that names it; SDKs use them to stay inside.

/// Largest request body, after decompression (1 MiB). A larger body answers 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most events in one batch. More answers 413.
pub const MAX_EVENTS_PER_BATCH: usize = 1000;
/// Most dimensions on one event, after the batch context is merged in.
pub const MAX_DIMS_PER_EVENT: usize = 64;
/// Most metrics on one event.
pub const MAX_METRICS_PER_EVENT: usize = 64;
/// Longest string value, in bytes of UTF-8.
pub const MAX_STRING_BYTES: usize = 1024;
/// Most items in a multi-valued dimension.
pub const MAX_ARRAY_ITEMS: usize = 64;
/// Longest event id, in bytes.
pub const MAX_ID_BYTES: usize = 64;
/// Longest dimension, metric, type or app name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// The largest body `navigator.sendBeacon` is given by the beacon (browsers cap the
/// sum of queued beacons at 64 KiB).
pub const MAX_BEACON_BYTES: usize = 64 * 1024;
