//! `POST /v1/batch` and its CORS preflight.

use std::net::{IpAddr, SocketAddr};

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use usagelens_protocol::limits::MAX_BODY_BYTES;

use super::{cors, forwarded, ApiError};
use crate::ingest::{too_large_body, BatchRequest, IngestError};
use crate::state::AppState;

/// The header that may carry the write key instead of the body.
pub(super) const WRITE_KEY_HEADER: &str = "x-write-key";

fn text(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The client's address: the peer's, or the `X-Forwarded-For` entry the
/// trusted proxies wrote (`forwarded.rs`).
fn client_ip(state: &AppState, req: &Request) -> IpAddr {
    // What the `ConnectInfo` extractor reads: the socket's peer, or the one
    // a test sets with `MockConnectInfo`.
    let ext = req.extensions();
    let peer = ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| ext.get::<MockConnectInfo<SocketAddr>>().map(|c| c.0))
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    forwarded::client_ip(state.config.forwarded_for(), peer, req.headers())
}

/// `POST /v1/batch`.
pub(super) async fn post(State(state): State<AppState>, req: Request) -> Response {
    let ingest = state.ingest();
    let origin = text(req.headers(), header::ORIGIN).map(str::to_owned);
    let ip = client_ip(&state, &req);
    let (parts, body) = req.into_parts();
    let content_length = text(&parts.headers, header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
    let content_type = text(&parts.headers, header::CONTENT_TYPE);
    let (result, mut origin_allowed) = match ingest.admit(ip, content_type, content_length) {
        Err(e) => (Err(e), false),
        Ok(()) => match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Err(_) => (Err(too_large_body()), false),
            Ok(raw) => {
                let done = ingest
                    .ingest(BatchRequest {
                        body: &raw,
                        content_type,
                        content_encoding: parts
                            .headers
                            .get(header::CONTENT_ENCODING)
                            .map(|v| v.to_str().unwrap_or("?")),
                        write_key: text(&parts.headers, WRITE_KEY_HEADER),
                        origin: origin.as_deref(),
                        user_agent: text(&parts.headers, header::USER_AGENT),
                    })
                    .await;
                (done.result, done.origin_allowed)
            }
        },
    };
    let mut resp = match result {
        Ok(r) => Json(r).into_response(),
        Err(e) => {
            // Let the browser show the error to the developer when the origin is
            // one some app allows (it cannot read the body otherwise).
            if let (Some(o), false) = (origin.as_deref(), origin_allowed) {
                origin_allowed = ingest.any_app_allows(o).await.unwrap_or(false);
            }
            ApiError::from(e).into_response()
        }
    };
    if let (Some(o), true) = (origin, origin_allowed) {
        cors::allow_batch_origin(resp.headers_mut(), &o);
    }
    resp
}

/// `OPTIONS /v1/batch`: the CORS preflight. It names no app, so an origin
/// passes when any app allows it; the POST then checks it against its app.
pub(super) async fn preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(origin) = text(&headers, header::ORIGIN) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    match state.ingest().any_app_allows(origin).await {
        Ok(true) => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            let h = resp.headers_mut();
            cors::allow_batch_origin(h, origin);
            cors::batch_preflight(h);
            resp
        }
        Ok(false) => ApiError::from(IngestError::OriginUnknown(origin.to_owned())).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
