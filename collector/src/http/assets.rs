//! Static files served from memory — today the beacon's build
//! (`GET /beacon.js`, `GET /beacon/<hashed name>`): `Accept-Encoding`
//! negotiation, strong `ETag`s per encoding, `304` on `If-None-Match`,
//! `Vary: Accept-Encoding`, loadable from any origin. Paths are compared with
//! the names of the files in memory, never mapped to the file system.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{cors, ApiError};
use crate::beacon::{negotiate, Asset, Unavailable};
use crate::state::AppState;

/// Where the beacon's hashed files are served.
const FILES_PREFIX: &str = "/beacon/";

/// `GET /beacon.js`.
pub(super) async fn beacon_tag(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.beacon.build() {
        Ok(build) => respond(&build.tag, &headers),
        Err(why) => not_built(why),
    }
}

/// `GET /beacon/{*file}`: only the hashed names of the current build.
pub(super) async fn beacon_file(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let build = match state.beacon.build() {
        Ok(build) => build,
        Err(why) => return not_built(why),
    };
    // The raw path: a percent-encoded or nested name matches nothing.
    match uri.path().strip_prefix(FILES_PREFIX) {
        Some(name) if name == build.js_name => respond(&build.js, &headers),
        Some(name) if name == build.wasm_name => respond(&build.wasm, &headers),
        _ => not_found(ApiError::NotFound(
            "not a file of the current beacon build: /beacon/ serves only the hashed files that /beacon.js loads",
        )),
    }
}

/// The asset in the encoding the request prefers, or `304`.
fn respond(asset: &Asset, req: &HeaderMap) -> Response {
    let encoding = negotiate(
        req.get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let etag = asset.etag(encoding);
    let not_modified = req
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| asset.matches(v));
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut resp = Body::from(asset.body(encoding).clone()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if let Some(token) = encoding.token() {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
        }
        resp
    };
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache_control),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    cors::any_page(h);
    resp
}

fn not_built(why: &Unavailable) -> Response {
    let message = match why {
        Unavailable::NotConfigured => {
            "the beacon is not served: the collector was started without --beacon-dir; \
             run `cargo xtask beacon` and pass --beacon-dir target/beacon (or USAGELENS_BEACON_DIR)"
        }
        Unavailable::NotLoaded => {
            "the beacon is not served: the collector's --beacon-dir holds no complete build (its log says why); \
             run `cargo xtask beacon` and pass --beacon-dir target/beacon (or USAGELENS_BEACON_DIR)"
        }
    };
    not_found(ApiError::BeaconNotBuilt(message))
}

/// A 404 a page may read, never cached (a build may appear).
fn not_found(e: ApiError) -> Response {
    let mut resp = e.into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    cors::any_page(h);
    resp
}
