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
pub use plan::{compile, Plan};
pub(crate) use request::parse_request;
pub use request::{EventType, Filter, Func, Interval, Measure, Name, Op, Order, QueryRequest};

use crate::store::Store;

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
