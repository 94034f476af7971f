//! The ingest surface's errors, mapped to status codes in one place.
//! Clients get `{"error": {"code", "message"}}`; internals go to the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use usagelens_protocol::ErrorBody;

use crate::store::StoreError;

/// Seconds a client waits after a 503.
pub const STORE_RETRY_AFTER_SECS: u64 = 5;

/// Why a request to `/v1/batch` failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not a valid batch.
    #[error("{0}")]
    InvalidBody(String),
    /// Every event of the batch was rejected.
    #[error("{0}")]
    InvalidEvents(String),
    /// No write key in the body or the `X-Write-Key` header.
    #[error("no write key: send it as `key` in the body or in the X-Write-Key header")]
    MissingKey,
    /// The app does not exist.
    #[error("unknown app `{0}`: create it with `usagelens-collector apps create {0}`")]
    UnknownApp(String),
    /// The key is not the app's write key.
    #[error("wrong write key for app `{0}` (rotated? `usagelens-collector apps list` shows the current key)")]
    WrongKey(String),
    /// The browser origin is not allowed for the app.
    #[error("origin `{origin}` is not allowed for app `{app}`: add it with `usagelens-collector apps create {app} --origin {origin}`")]
    OriginNotAllowed {
        /// The app.
        app: String,
        /// The origin.
        origin: String,
    },
    /// A preflight from an origin no app allows.
    #[error("origin `{0}` is not allowed for any app")]
    OriginUnknown(String),
    /// Over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// Content type or encoding not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Over a rate limit.
    #[error("rate limit exceeded for {scope}: retry after {retry_after} s")]
    RateLimited {
        /// `this client address` or `app <id>`.
        scope: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The store cannot take the write now.
    #[error("the event store is unavailable; retry after {STORE_RETRY_AFTER_SECS} s")]
    StoreUnavailable(#[source] StoreError),
    /// A store failure that retrying will not fix (logged, not shown).
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            Self::StoreUnavailable(e)
        } else {
            Self::Internal(e)
        }
    }
}

impl IngestError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidBody(_) | Self::InvalidEvents(_) => StatusCode::BAD_REQUEST,
            Self::MissingKey | Self::UnknownApp(_) | Self::WrongKey(_) => StatusCode::UNAUTHORIZED,
            Self::OriginNotAllowed { .. } | Self::OriginUnknown(_) => StatusCode::FORBIDDEN,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody(_) => "invalid_body",
            Self::InvalidEvents(_) => "invalid_events",
            Self::MissingKey => "missing_key",
            Self::UnknownApp(_) => "unknown_app",
            Self::WrongKey(_) => "wrong_key",
            Self::OriginNotAllowed { .. } | Self::OriginUnknown(_) => "origin_not_allowed",
            Self::TooLarge(_) => "too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::StoreUnavailable(_) => Some(STORE_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::StoreUnavailable(e) => tracing::warn!(error = %e, "store unavailable"),
            Self::Internal(e) => tracing::error!(error = %e, "store failure"),
            _ => tracing::debug!(code = self.code(), error = %self, "request rejected"),
        }
        let body = ErrorBody::new(self.code(), self.to_string());
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}
