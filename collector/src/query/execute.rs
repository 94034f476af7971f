//! Running a compiled plan on the store and reading its rows.

use std::time::Duration;

use super::{Plan, QueryError};
use crate::store::{json, Store};

/// Runs a compiled plan, for at most `time_limit` on the server
/// (`maxTimeMS`); past it, [`QueryError::TooSlow`]. Each row holds the
/// plan's columns in order, as JSON.
pub(crate) async fn execute(
    store: &Store,
    plan: &Plan,
    time_limit: Duration,
) -> Result<Vec<Vec<serde_json::Value>>, QueryError> {
    let docs = store
        .events()
        .aggregate(plan.pipeline.clone(), time_limit)
        .await
        .map_err(|e| {
            if e.is_time_limit() {
                QueryError::TooSlow(time_limit)
            } else {
                QueryError::Store(e)
            }
        })?;
    let fields: Vec<String> = (0..plan.columns.len())
        .map(|i| plan.output_field(i))
        .collect();
    Ok(docs
        .iter()
        .map(|d| {
            fields
                .iter()
                .map(|f| json::to_value(d.get(f).ok().flatten()))
                .collect()
        })
        .collect())
}
