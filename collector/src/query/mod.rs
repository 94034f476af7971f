//! The query engine: group and filter an app's events by any dimension,
//! custom and multi-valued ones included. Every reader — `POST /v1/query`,
//! the CLI's `query`, and later the reports and alert rules — asks it, so
//! speeding up its plans speeds up all of them.
//!
//! | module | concept |
//! |---|---|
//! | `request.rs` | the typed request: names, types, operators, intervals, measures |
//! | `plan.rs` | the request compiled into one aggregation pipeline |
//! | `execute.rs` | the pipeline run under a time limit, rows read as JSON |
//! | `error.rs` | why a read failed |

mod error;
mod execute;
mod plan;
mod request;

use std::time::{Duration, Instant};

use mongodb::bson::Bson;
use serde::{Deserialize, Serialize};

pub use error::QueryError;
pub(crate) use plan::{bucket, conditions, conditions_at, dim_path, match_stage, time_zone};
pub use plan::{compile, Plan};
pub(crate) use request::{app_id, parse_filters, parse_json, parse_request, MAX_LIMIT};
pub use request::{
    EventType, Filter, Func, Interval, Measure, Name, Op, Order, PlanChoice, QueryRequest,
};

use crate::store::{ServerVersion, Store};

/// The answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueryResponse {
    /// Column names: the dimensions, `bucket`, then the measures.
    pub columns: Vec<String>,
    /// Rows, in column order.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// `took_ms`, `plan`, and with `explain` the `pipeline`.
    pub meta: serde_json::Value,
}

/// Refuses a percentile measure (`$percentile`, MongoDB 7.0) when the
/// store is known to be older; an unknown version is let through.
pub(crate) fn check_store(
    q: &QueryRequest,
    store: Option<&ServerVersion>,
) -> Result<(), QueryError> {
    let percentile = q.measures.iter().enumerate().find_map(|(i, m)| match m {
        Measure::Of { func, .. } if func.percentile().is_some() => Some((i, func.as_str())),
        _ => None,
    });
    match percentile {
        None => Ok(()),
        Some((i, f)) => {
            require_percentiles(store, || format!("measures[{i}].fn: `{f}`")).map_err(|e| match e {
                QueryError::StoreTooOld(m) => {
                    QueryError::StoreTooOld(m + ", or use sum, avg, min or max")
                }
                other => other,
            })
        }
    }
}

/// The one floor test for percentiles: `Err(StoreTooOld)` when `store` is
/// known to be older than MongoDB 7.0, its message starting with `what`
/// ("… needs MongoDB 7.0 …"); an unknown version is let through.
pub(crate) fn require_percentiles(
    store: Option<&ServerVersion>,
    what: impl FnOnce() -> String,
) -> Result<(), QueryError> {
    match store.filter(|v| v.below_floor) {
        None => Ok(()),
        Some(v) => Err(QueryError::StoreTooOld(format!(
            "{} needs MongoDB 7.0 ($percentile), and this collector's store is MongoDB {}: upgrade the server",
            what(),
            v.version
        ))),
    }
}

/// Compiles and runs `q` for at most `time_limit` on the server.
pub async fn run(
    store: &Store,
    q: &QueryRequest,
    time_limit: Duration,
) -> Result<QueryResponse, QueryError> {
    let started = Instant::now();
    let plan = compile(q)?;
    let rows = execute::execute(store, &plan, time_limit).await?;
    let mut meta = serde_json::json!({
        "took_ms": started.elapsed().as_secs_f64() * 1000.0,
        "plan": "raw",
    });
    if q.explain {
        meta["pipeline"] = Bson::Array(plan.pipeline.iter().cloned().map(Bson::Document).collect())
            .into_relaxed_extjson();
    }
    Ok(QueryResponse {
        columns: plan.columns,
        rows,
        meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentile_on_an_old_store_is_refused_with_the_version() {
        let q = parse_request(
            br#"{"app": "d", "measures": ["count", {"fn": "avg", "of": "x"}, {"fn": "p95", "of": "x"}]}"#,
        )
        .unwrap();
        let old = ServerVersion::from_build_info(Some("6.0.14"));
        match check_store(&q, Some(&old)) {
            Err(e @ QueryError::StoreTooOld(_)) => {
                let m = e.to_string();
                assert!(
                    m.contains("measures[2].fn: `p95`")
                        && m.contains("MongoDB 6.0.14")
                        && m.contains("7.0"),
                    "{m}"
                );
            }
            other => panic!("expected StoreTooOld, got {other:?}"),
        }
        for v in ["7.0.2", "8.0.0-rc1", "garbage"] {
            let v = ServerVersion::from_build_info(Some(v));
            assert!(check_store(&q, Some(&v)).is_ok(), "{v:?}");
        }
        assert!(
            check_store(&q, None).is_ok(),
            "an unread version is let through"
        );
        let no_percentile =
            parse_request(br#"{"app": "d", "measures": [{"fn": "max", "of": "x"}]}"#).unwrap();
        assert!(check_store(&no_percentile, Some(&old)).is_ok());
    }
}
