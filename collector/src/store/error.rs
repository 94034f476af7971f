//! Storage errors, classified once: the only place that reads a MongoDB
//! error code. Callers ask [`StoreError::is_retryable`] and friends; the
//! HTTP layer maps the classes to status codes.

use mongodb::error::{ErrorKind, WriteFailure};

/// MongoDB's duplicate-key error code.
pub(super) const DUPLICATE_KEY: i32 = 11000;
/// MongoDB's error code for dropping an index that does not exist.
const INDEX_NOT_FOUND: i32 = 27;
/// MongoDB's `MaxTimeMSExpired`: an operation ran past its `maxTimeMS`.
const MAX_TIME_MS_EXPIRED: i32 = 50;
/// MongoDB's `BadValue`, which a `hint` naming a missing index raises.
const BAD_VALUE: i32 = 2;

/// The error of an operation that hints an index: a hint naming an index
/// that does not exist yet (`ensure_indexes` has not succeeded, and the
/// indexes job retries it) is `Unavailable`, not a failure.
pub(super) fn hinted(e: mongodb::error::Error) -> StoreError {
    match e.kind.as_ref() {
        ErrorKind::Command(c) if c.code == BAD_VALUE && c.message.contains("hint") => {
            StoreError::Unavailable(format!("an index the query needs does not exist yet: {e}"))
        }
        _ => e.into(),
    }
}

/// Server error codes that mean "not now" (not primary, shutting down, …).
const UNAVAILABLE_CODES: &[i32] = &[
    6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 64, 100,
];

/// A storage error, classified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or cannot take writes now; retrying later may work.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store refused the operation.
    #[error("the store refused the operation: {0}")]
    Failed(String),
    /// A document with the same key exists.
    #[error("duplicate key: {0}")]
    DuplicateKey(String),
    /// The operation ran past the time limit it was given (`maxTimeMS`).
    #[error("the operation ran past its time limit: {0}")]
    TimeLimitExceeded(String),
}

impl StoreError {
    /// Whether a retry later may succeed (the HTTP layer answers 503 with `Retry-After`).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Whether the error is a duplicate key.
    pub fn is_duplicate_key(&self) -> bool {
        matches!(self, Self::DuplicateKey(_))
    }

    /// The class of the error, without its details (a message safe to
    /// show anyone: no addresses, no driver text).
    pub fn class(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "the store is unavailable",
            Self::Failed(_) => "the store refused the operation",
            Self::DuplicateKey(_) => "a document with the same key exists",
            Self::TimeLimitExceeded(_) => "the operation ran past its time limit",
        }
    }

    /// Whether the operation was stopped at its time limit.
    pub fn is_time_limit(&self) -> bool {
        matches!(self, Self::TimeLimitExceeded(_))
    }
}

impl From<mongodb::error::Error> for StoreError {
    fn from(e: mongodb::error::Error) -> Self {
        let msg = e.to_string();
        match e.kind.as_ref() {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. } => Self::Unavailable(msg),
            ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => {
                Self::DuplicateKey(msg)
            }
            // `findAndModify` with `upsert` reports a collision as a command error.
            ErrorKind::Command(c) if c.code == DUPLICATE_KEY => Self::DuplicateKey(msg),
            ErrorKind::Write(WriteFailure::WriteConcernError(_)) => Self::Unavailable(msg),
            ErrorKind::Command(c) if c.code == MAX_TIME_MS_EXPIRED => Self::TimeLimitExceeded(msg),
            // A hinted index that does not exist yet: `ensure_indexes` has
            // not succeeded, and the indexes job retries it.
            ErrorKind::Command(c) if c.code == BAD_VALUE && c.message.contains("hint") => {
                Self::Unavailable(format!(
                    "an index the query needs does not exist yet: {msg}"
                ))
            }
            ErrorKind::Command(c) if UNAVAILABLE_CODES.contains(&c.code) => Self::Unavailable(msg),
            _ if e.contains_label("RetryableWriteError") => Self::Unavailable(msg),
            _ => Self::Failed(msg),
        }
    }
}

/// Whether dropping an index failed only because it does not exist.
pub(super) fn is_index_not_found(e: &mongodb::error::Error) -> bool {
    matches!(e.kind.as_ref(), ErrorKind::Command(c) if c.code == INDEX_NOT_FOUND)
}
