//! The one error type of the HTTP API and its one mapping to responses:
//! the status, the stable `code`, the message, `Retry-After`, and what is
//! logged. Clients get `{"error": {"code", "message"}}`; a store's
//! internals (addresses, driver messages) go to the log, never to the
//! client.
//!
//! | error | status | code | `Retry-After` |
//! |---|---|---|---|
//! | a bad batch body or events | 400 | `invalid_body`, `invalid_events` | |
//! | a bad query, export or catalog request | 400 | `invalid_query` | |
//! | a bad rollup declaration | 400 | `invalid_rollup` | |
//! | a rollup name already taken | 409 | `rollup_exists` | |
//! | no or a wrong write key, an unknown app | 401 | `missing_key`, `wrong_key`, `unknown_app` | |
//! | no or an unknown read token | 401 | `unauthorized` | |
//! | a read token of another app | 403 | `forbidden` | |
//! | a browser origin the app does not allow | 403 | `origin_not_allowed` | |
//! | no such beacon file, no beacon build, no such report or declared rollup | 404 | `not_found`, `beacon_not_built` | |
//! | over a size limit | 413 | `too_large` | |
//! | a content type or encoding not accepted | 415 | `unsupported_media_type` | |
//! | a query over the time limit | 422 | `query_too_slow` | |
//! | a percentile measure on MongoDB older than 7.0 | 422 | `store_too_old` | |
//! | over a rate limit | 429 | `rate_limited` | until it would pass |
//! | a store failure that retrying will not fix | 500 | `internal` | |
//! | the store is unreachable or cannot take writes now | 503 | `store_unavailable` | [`STORE_RETRY_AFTER_SECS`] |
//! | a background job missed its deadline | 503 | `not_ready` | [`STORE_RETRY_AFTER_SECS`] |

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use usagelens_protocol::ErrorBody;

use crate::catalog::CatalogError;
use crate::ingest::IngestError;
use crate::query::QueryError;
use crate::rollups::RollupError;
use crate::store::StoreError;

/// Seconds a client waits after a 503.
pub(crate) const STORE_RETRY_AFTER_SECS: u64 = 5;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// `POST /v1/batch` failed as a whole.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// A read of the events failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A catalog request failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A rollup declaration or drop failed.
    #[error(transparent)]
    Rollup(#[from] RollupError),
    /// The store failed outside a domain call (auth, readiness).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No or a malformed `Authorization` header.
    #[error("no read token: send `Authorization: Bearer <read token>` (from `apps create` or `apps rotate-key --read-token`)")]
    MissingToken,
    /// A token no app has.
    #[error("unknown read token")]
    BadToken,
    /// A token of another app.
    #[error("the read token is not valid for app `{0}`")]
    Forbidden(String),
    /// No such file (the message says what is served).
    #[error("{0}")]
    NotFound(&'static str),
    /// `POST /v1/reports/<name>` of a name that is no report.
    #[error("{0}")]
    UnknownReport(String),
    /// The beacon is not built or not configured (the message says which).
    #[error("{0}")]
    BeaconNotBuilt(&'static str),
    /// `/readyz`: the store does not answer a ping (logged by the caller).
    #[error("the event store is not reachable")]
    StoreUnreachable,
    /// A background job missed its health deadline.
    #[error("not ready: {0}")]
    NotReady(String),
}

/// A store error as the client sees it: the class, never the internals.
fn store_parts(e: &StoreError) -> (StatusCode, &'static str, String) {
    if e.is_retryable() {
        tracing::warn!(error = %e, "store unavailable");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the event store is unavailable; retry after {STORE_RETRY_AFTER_SECS} s"),
        )
    } else {
        tracing::error!(error = %e, "store failure");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (the collector's log has the details)".to_owned(),
        )
    }
}

impl ApiError {
    /// Status, code and message; logs what the client does not see.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        let client = |status, code| (status, code, self.to_string());
        match self {
            Self::Ingest(e) => match e {
                IngestError::StoreUnavailable(s) | IngestError::Internal(s) => store_parts(s),
                IngestError::InvalidBody(_) => client(StatusCode::BAD_REQUEST, "invalid_body"),
                IngestError::InvalidEvents(_) => client(StatusCode::BAD_REQUEST, "invalid_events"),
                IngestError::MissingKey => client(StatusCode::UNAUTHORIZED, "missing_key"),
                IngestError::UnknownApp(_) => client(StatusCode::UNAUTHORIZED, "unknown_app"),
                IngestError::WrongKey(_) => client(StatusCode::UNAUTHORIZED, "wrong_key"),
                IngestError::OriginNotAllowed { .. } | IngestError::OriginUnknown(_) => {
                    client(StatusCode::FORBIDDEN, "origin_not_allowed")
                }
                IngestError::TooLarge(_) => client(StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                IngestError::UnsupportedMediaType(_) => {
                    client(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                }
                IngestError::RateLimited { .. } => {
                    client(StatusCode::TOO_MANY_REQUESTS, "rate_limited")
                }
            },
            Self::Query(e) => match e {
                QueryError::Store(s) => store_parts(s),
                QueryError::Invalid(_) => client(StatusCode::BAD_REQUEST, "invalid_query"),
                QueryError::TooSlow(_) => {
                    client(StatusCode::UNPROCESSABLE_ENTITY, "query_too_slow")
                }
                QueryError::StoreTooOld(_) => {
                    client(StatusCode::UNPROCESSABLE_ENTITY, "store_too_old")
                }
            },
            Self::Catalog(e) => match e {
                CatalogError::Store(s) => store_parts(s),
                CatalogError::Invalid(_) | CatalogError::UnknownName { .. } => {
                    client(StatusCode::BAD_REQUEST, "invalid_query")
                }
            },
            Self::Rollup(e) => match e {
                RollupError::Store(s) => store_parts(s),
                RollupError::Invalid(_) => client(StatusCode::BAD_REQUEST, "invalid_rollup"),
                RollupError::Exists(_) => client(StatusCode::CONFLICT, "rollup_exists"),
                RollupError::Unknown(_) => client(StatusCode::NOT_FOUND, "not_found"),
            },
            Self::Store(s) => store_parts(s),
            Self::MissingToken | Self::BadToken => client(StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => client(StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) | Self::UnknownReport(_) => {
                client(StatusCode::NOT_FOUND, "not_found")
            }
            Self::BeaconNotBuilt(_) => client(StatusCode::NOT_FOUND, "beacon_not_built"),
            Self::StoreUnreachable => client(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            Self::NotReady(_) => client(StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
        }
    }

    fn retry_after(&self, status: StatusCode) -> Option<u64> {
        match self {
            Self::Ingest(IngestError::RateLimited { retry_after, .. }) => Some(*retry_after),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(STORE_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_client_error() {
            tracing::debug!(code, error = %message, "request rejected");
        }
        let mut resp = (status, Json(ErrorBody::new(code, message))).into_response();
        if let Some(secs) = self.retry_after(status) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
