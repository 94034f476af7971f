//! Why a read of the events failed: a query, an export page, a report.

use std::time::Duration;

use crate::store::StoreError;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// Over the time limit.
    #[error("the query ran over the server's {} limit: narrow `from`/`to`, add `types` or filters, or group by fewer dimensions", humantime::format_duration(*.0))]
    TooSlow(Duration),
    /// The store's MongoDB is too old for the request (the message says
    /// which version, what needs more, and what to do).
    #[error("{0}")]
    StoreTooOld(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
