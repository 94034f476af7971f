//! Rollups: pre-computed buckets of an app's events, so the frequent
//! queries and every report over large data read a few documents instead
//! of every event, transparently.
//!
//! A rollup is declared ([`Rollup`]): the event types it covers, the
//! dimensions it keeps, the metrics it summarizes (`["*"]`: all of them)
//! and a grain (`minute`, `hour`, `day`, always in UTC). For each (app,
//! bucket, dimension values, event type) it keeps one document: the count,
//! the first and last time, distinct users and sessions as HyperLogLog
//! sketches, and per metric the count of events carrying it, sum, min, max
//! and a DDSketch for percentiles (the error bounds are in docs/rollups.md).
//!
//! | module | concept |
//! |---|---|
//! | `declared.rs` | the rollups an app declares: checked, recorded, dropped |
//! | `partial.rs` | the partial state of a group — what a rollup stores and a raw tail computes — merged and finished into measures |
//! | `build.rs` | a bucket range rebuilt from raw events; the builder job's step over the dirty hours |
//! | `plan.rs` | the planner: which rollup covers a query, the raw tail, the merged answer |
//! | `rows.rs` | the answer's rows: measures of the merged states, ordered and limited |
//! | `state.rs` | what each rollup is built from; the backfill; the status `GET /v1/rollups` shows |
//!
//! **Rebuild, never increment.** Ingest marks the hours its events fall in
//! dirty; the builder (one collector at a time, under a lease) recomputes
//! those buckets from the raw events and replaces them, so a retried batch
//! or a late event never counts twice (ADR 010). Until a bucket is rebuilt
//! the planner reads it raw.
//!
//! ```
//! use usagelens_collector::rollups::{builtin, Grain};
//! let clicks = builtin().into_iter().find(|r| r.name == "clicks").unwrap();
//! assert_eq!(clicks.grain, Grain::Hour);
//! assert!(clicks.dims.iter().any(|d| d == "widget"));
//! ```

mod build;
mod declared;
mod partial;
mod plan;
mod rows;
mod state;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use usagelens_protocol::names::{is_valid_name, is_valid_type};

pub use build::build_pending;
pub use build::BuildOutcome;
pub(crate) use declared::parse_declaration;
pub use declared::{declare, declared, drop_declared, for_app, RollupError};
pub use plan::answer;
pub(crate) use plan::grain_ceil;
pub use state::ensure;
pub use state::{backfill, status};

use crate::query::QueryError;

/// The width of a rollup's buckets, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    /// A minute.
    Minute,
    /// An hour.
    Hour,
    /// A UTC day.
    Day,
}

impl Grain {
    /// The bucket's length in milliseconds.
    pub fn ms(self) -> i64 {
        match self {
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
        }
    }

    /// The name, as `$dateTrunc`'s `unit` and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// Most dimensions one rollup keeps (each multiplies its documents).
pub const MAX_DIMS: usize = 8;
/// Most user-declared rollups.
pub const MAX_DECLARED: usize = 32;

/// A rollup's definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollup {
    /// Its name (a dimension name's rules).
    pub name: String,
    /// The event types it covers (at least one).
    pub types: Vec<String>,
    /// The dimensions it keeps (the event type is always kept too).
    pub dims: Vec<String>,
    /// The metrics it summarizes; `["*"]` for every metric an event has.
    #[serde(default = "all_metrics")]
    pub metrics: Vec<String>,
    /// The bucket width.
    pub grain: Grain,
    /// The app that declared it; `None` for a built-in one (every app's).
    #[serde(skip)]
    pub app: Option<String>,
}

fn all_metrics() -> Vec<String> {
    vec!["*".into()]
}

impl Rollup {
    /// Whether it summarizes every metric.
    pub(crate) fn all_metrics(&self) -> bool {
        self.metrics.iter().any(|m| m == "*")
    }

    /// Whether it summarizes `metric`.
    pub(crate) fn has_metric(&self, metric: &str) -> bool {
        self.all_metrics() || self.metrics.iter().any(|m| m == metric)
    }

    /// Whether it keeps dimension `dim` (`type` is always kept).
    pub(crate) fn has_dim(&self, dim: &str) -> bool {
        dim == "type" || self.dims.iter().any(|d| d == dim)
    }

    /// Its state document's `_id` in `rollup_state`.
    pub(crate) fn state_id(&self) -> String {
        match &self.app {
            None => self.name.clone(),
            Some(app) => declared::declared_id(app, &self.name),
        }
    }

    /// A hash of what it builds: a changed definition is rebuilt from scratch.
    pub(crate) fn hash(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }

    /// Checks a declared rollup; the error names the field.
    pub fn check(&self) -> Result<(), QueryError> {
        let bad = |m: String| Err(QueryError::Invalid(m));
        if !is_valid_name(&self.name) {
            return bad(format!(
                "name: `{}` is not a valid name (letters, digits, _ and -, at most 64)",
                self.name.escape_debug()
            ));
        }
        if self.types.is_empty() || self.types.len() > 16 {
            return bad("types: give 1 to 16 event types".into());
        }
        for (i, t) in self.types.iter().enumerate() {
            if !is_valid_type(t) {
                return bad(format!(
                    "types[{i}]: `{}` is not a valid event type",
                    t.escape_debug()
                ));
            }
        }
        if self.dims.len() > MAX_DIMS {
            return bad(format!("dims: at most {MAX_DIMS} dimensions"));
        }
        for (i, d) in self.dims.iter().enumerate() {
            if !is_valid_name(d) {
                return bad(format!(
                    "dims[{i}]: `{}` is not a valid name",
                    d.escape_debug()
                ));
            }
            if matches!(d.as_str(), "type" | "hour" | "weekday") {
                return bad(format!(
                    "dims[{i}]: `{d}` is always derived (type is kept in every rollup; hour and weekday come from the time)"
                ));
            }
            if self.dims[..i].contains(d) {
                return bad(format!("dims[{i}]: `{d}` appears twice"));
            }
        }
        if self.metrics.is_empty() || self.metrics.len() > 64 {
            return bad(r#"metrics: give 1 to 64 metric names, or ["*"] for all"#.into());
        }
        for (i, m) in self.metrics.iter().enumerate() {
            if m != "*" && !is_valid_name(m) {
                return bad(format!(
                    "metrics[{i}]: `{}` is not a valid name (or \"*\" for all)",
                    m.escape_debug()
                ));
            }
        }
        Ok(())
    }
}

fn def(name: &str, types: &[&str], dims: &[&str], grain: Grain) -> Rollup {
    Rollup {
        name: name.into(),
        types: types.iter().map(|s| (*s).into()).collect(),
        dims: dims.iter().map(|s| (*s).into()).collect(),
        metrics: all_metrics(),
        grain,
        app: None,
    }
}

/// The built-in rollups, on by default: one for each report's queries, at
/// hour grain (which serves day buckets in any whole-hour time zone), and
/// the widget ranking and API routes also by UTC day. The most frequent
/// queries, the widget ranking and the routes' latencies, have their own
/// rollups by widget and by route alone: one document per widget (route)
/// and bucket, however many pages (methods, statuses) it has.
pub fn builtin() -> Vec<Rollup> {
    use Grain::{Day, Hour};
    vec![
        def("widgets", &["click"], &["widget"], Hour),
        def("widgets_daily", &["click"], &["widget"], Day),
        def("clicks", &["click"], &["widget", "page"], Hour),
        def("clicks_daily", &["click"], &["widget", "page"], Day),
        def(
            "choices",
            &["choice"],
            &[
                "control",
                "form",
                "page",
                "value",
                "is_default",
                "control_type",
            ],
            Hour,
        ),
        def("loads", &["load", "timing"], &["page"], Hour),
        def("routes", &["http"], &["route"], Hour),
        def("routes_daily", &["http"], &["route"], Day),
        def("http", &["http"], &["route", "method", "status"], Hour),
        def("http_daily", &["http"], &["route", "method", "status"], Day),
        def("memory", &["memory"], &["page", "source"], Hour),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtins_are_valid_and_distinct() {
        let all = builtin();
        for r in &all {
            r.check().unwrap();
        }
        let mut names: Vec<_> = all.iter().map(|r| &r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn a_declared_rollup_is_checked_field_by_field() {
        let ok = def("mine", &["click"], &["widget"], Grain::Hour);
        ok.check().unwrap();
        for (change, start) in [
            (
                Box::new(|r: &mut Rollup| r.name = "$x".into()) as Box<dyn Fn(&mut Rollup)>,
                "name:",
            ),
            (Box::new(|r: &mut Rollup| r.types.clear()), "types:"),
            (
                Box::new(|r: &mut Rollup| r.types = vec!["Click".into()]),
                "types[0]:",
            ),
            (
                Box::new(|r: &mut Rollup| r.dims = vec!["a.b".into()]),
                "dims[0]:",
            ),
            (
                Box::new(|r: &mut Rollup| r.dims = vec!["hour".into()]),
                "dims[0]: `hour`",
            ),
            (
                Box::new(|r: &mut Rollup| r.dims = vec!["a".into(), "a".into()]),
                "dims[1]:",
            ),
            (
                Box::new(|r: &mut Rollup| r.metrics = vec!["$sum".into()]),
                "metrics[0]:",
            ),
        ] {
            let mut r = ok.clone();
            change(&mut r);
            let e = r.check().unwrap_err().to_string();
            assert!(e.starts_with(start), "{e}");
        }
    }
}
