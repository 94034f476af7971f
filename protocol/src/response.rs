//! What the collector answers.

use serde::{Deserialize, Serialize};

/// The `200` answer to a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// Events stored by this request.
    pub accepted: u64,
    /// Events already stored by an earlier request (same app and id): a retry.
    pub duplicates: u64,
    /// Events that break a rule, with their index in `events` and the reason.
    /// They are not stored; the others are.
    pub rejected: Vec<Rejected>,
}

/// One rejected event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// Its index in the batch's `events`.
    pub index: usize,
    /// What is wrong with it.
    pub error: String,
}

/// The body of every whole-request error: `{"error": {"code", "message"}}`.
///
/// `code` is stable and machine-readable; `message` says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// See [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable code, e.g. `invalid_body`, `unknown_app`, `rate_limited`.
    pub code: String,
    /// A message for the developer fixing the integration.
    pub message: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}
