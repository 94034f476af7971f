//! Why a batch failed as a whole. The messages say how to fix the
//! problem; `http/error.rs` maps each to its status and code, and logs the
//! store's internals instead of showing them.

use crate::limits::RateLimited;
use crate::store::StoreError;

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
    #[error("origin `{origin}` is not allowed for app `{app}`: allow it with `usagelens-collector apps update {app} --add-origin {origin}`")]
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
    #[error("the event store is unavailable; retry later")]
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

impl From<RateLimited> for IngestError {
    fn from(e: RateLimited) -> Self {
        Self::RateLimited {
            scope: e.scope,
            retry_after: e.retry_after,
        }
    }
}
