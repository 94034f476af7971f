//! CORS, per surface:
//! - the read API (`/v1/query`, `/v1/events`, `/v1/dimensions`) answers any
//!   origin: it is authorized by the Bearer read token alone, never by
//!   cookies, so a page elsewhere reads nothing without the token (and a
//!   dashboard on another origin can use it);
//! - `/v1/batch` answers only the origins its app allows (checked per
//!   batch), and its preflight those some app allows;
//! - the beacon's files may be loaded by pages on any origin (`assets.rs`).

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use tower_http::cors::{Any, CorsLayer};

use super::events::NEXT_CURSOR_HEADER;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The read API's CORS: any origin, the token's header, the export's
/// paging headers and `Retry-After` readable.
pub(super) fn read_api() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([
            HeaderName::from_static(NEXT_CURSOR_HEADER),
            header::LINK,
            header::RETRY_AFTER,
        ])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// Lets a browser at `origin` read a `/v1/batch` answer (and its `Retry-After`).
pub(super) fn allow_batch_origin(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The rest of a `/v1/batch` preflight's answer.
pub(super) fn batch_preflight(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        // The write key's header is `batch::WRITE_KEY_HEADER`.
        HeaderValue::from_static("content-type, content-encoding, x-write-key"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(PREFLIGHT_MAX_AGE.as_secs()),
    );
}

/// Pages on any origin may load the file (the beacon's loader and wasm).
pub(super) fn any_page(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}
