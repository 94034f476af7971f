//! The reports: the answers users came for, each one endpoint
//! (`POST /v1/reports/<name>`), computed by asking the query engine — a
//! report is a few [`QueryRequest`]s and the arithmetic that joins their
//! rows, never a pipeline of its own, so whatever speeds up the engine
//! (the rollups) speeds up every report. Only aggregated rows reach the
//! collector; no event is copied into its memory.
//!
//! | module | report |
//! |---|---|
//! | `widgets.rs` | `widgets`: the most and the least used widgets |
//! | `defaults.rs` | `defaults`: per control, kept defaults, the values chosen, a suggestion |
//! | `load_time.rs` | `load-time`: the load-time waterfall per page, the app's phases, the vitals, a trend |
//! | `correlation.rs` | `correlation`: per session, a performance metric against a usage outcome |
//! | `user_story.rs` | `user-story`: one user's sessions, week, paths, distinctive actions and experience |
//! | `performance.rs` | `performance`: browser memory, GC and long tasks; API routes' times, errors and serialization; server memory |
//!
//! Every report's body has the common scope ([`Scope`]): `app`, `from`/`to`
//! (half-open, default the last 7 days), `where` (the query API's filters,
//! so any report is segmentable by any dimension) and `tz`; each report adds
//! its own fields. The method of each report is in docs/reports.md.

mod correlation;
mod defaults;
mod load_time;
mod performance;
mod stats;
mod user_story;
mod widgets;

use std::time::{Duration, Instant};

use usagelens_protocol::Timestamp;

use crate::apps::AppId;
use crate::catalog::Catalog;
use crate::query::{self, EventType, Filter, Name, Op, Order, QueryError, QueryRequest};
use crate::rollups;
use crate::store::json::rfc3339;
use crate::store::{ServerVersion, Store};

/// One report: its name, as `POST /v1/reports/<name>` takes it, and how
/// its body is parsed. The one list of the reports: [`REPORTS`],
/// [`ReportRequest::parse`] and [`ReportRequest::name`] all read it.
struct Kind {
    name: &'static str,
    parse: fn(&[u8], i64) -> Result<Report, QueryError>,
}

const KINDS: [Kind; 6] = [
    Kind {
        name: "widgets",
        parse: |b, now| Ok(Report::Widgets(widgets::parse(b, now)?)),
    },
    Kind {
        name: "defaults",
        parse: |b, now| Ok(Report::Defaults(defaults::parse(b, now)?)),
    },
    Kind {
        name: "load-time",
        parse: |b, now| Ok(Report::LoadTime(load_time::parse(b, now)?)),
    },
    Kind {
        name: "performance",
        parse: |b, now| Ok(Report::Performance(performance::parse(b, now)?)),
    },
    Kind {
        name: "correlation",
        parse: |b, now| Ok(Report::Correlation(correlation::parse(b, now)?)),
    },
    Kind {
        name: "user-story",
        parse: |b, now| Ok(Report::UserStory(user_story::parse(b, now)?)),
    },
];

/// The names of the reports, as `POST /v1/reports/<name>` takes them.
pub const REPORTS: [&str; KINDS.len()] = {
    let mut names = [""; KINDS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = KINDS[i].name;
        i += 1;
    }
    names
};

/// The default range: the last 7 days.
const DEFAULT_RANGE_MS: i64 = 7 * 86_400_000;

/// The fields every report's body has.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) app: AppId,
    /// Inclusive, epoch ms.
    pub(crate) from: i64,
    /// Exclusive, epoch ms.
    pub(crate) to: i64,
    pub(crate) filters: Vec<Filter>,
    pub(crate) tz: Option<String>,
    /// Answer with each query's pipeline (`meta.pipelines`).
    pub(crate) explain: bool,
    /// `raw`: every query from the raw events.
    pub(crate) plan: Option<query::PlanChoice>,
}

impl Scope {
    /// The scope of a body's common fields; `now_ms` sets the default range.
    pub(crate) fn new(
        app: AppId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        filters: Vec<Filter>,
        tz: Option<String>,
        explain: bool,
        now_ms: i64,
    ) -> Result<Self, QueryError> {
        let to = to.map_or(now_ms, Timestamp::as_millis);
        let from = from.map_or(to - DEFAULT_RANGE_MS, Timestamp::as_millis);
        if from >= to {
            return Err(QueryError::Invalid(
                "from: must be earlier than `to` (from is inclusive, to exclusive)".into(),
            ));
        }
        Ok(Self {
            app,
            from,
            to,
            filters,
            tz,
            explain,
            plan: None,
        })
    }

    /// The scope with the body's `plan` (`raw`: every query exact).
    pub(crate) fn with_plan(mut self, plan: Option<query::PlanChoice>) -> Self {
        self.plan = plan;
        self
    }

    /// A query of the scope's app, segment and time zone over `[from, to)`.
    pub(crate) fn query(&self, from: i64, to: i64) -> QueryRequest {
        QueryRequest {
            app: self.app.clone(),
            types: None,
            from: Some(Timestamp::from_millis(from)),
            to: Some(Timestamp::from_millis(to)),
            filters: self.filters.clone(),
            group_by: Vec::new(),
            interval: None,
            tz: self.tz.clone(),
            measures: Vec::new(),
            order_by: Vec::new(),
            limit: Some(query::MAX_LIMIT),
            explain: false,
            plan: self.plan,
        }
    }
}

/// What a report runs against.
pub(crate) struct Context<'a> {
    pub(crate) store: &'a Store,
    /// The dimension catalog (load-time's custom phases).
    pub(crate) catalog: &'a Catalog,
    /// The store's MongoDB version, when known: every query is checked
    /// against it ([`query::check_store`]) before it runs.
    pub(crate) store_version: Option<&'a ServerVersion>,
    /// For the report as a whole.
    pub(crate) time_limit: Duration,
}

/// Runs the queries of a report, counting them and their time for `meta`.
pub(crate) struct Runner<'a> {
    store: &'a Store,
    store_version: Option<&'a ServerVersion>,
    time_limit: Duration,
    started: Instant,
    queries: u32,
    /// With `explain`: the pipeline of each query run.
    pipelines: Option<Vec<serde_json::Value>>,
    /// Each query's `meta.plan`.
    plans: Vec<String>,
    /// Whether a sketch answered any query.
    approximate: bool,
}

impl<'a> Runner<'a> {
    pub(crate) fn new(cx: &Context<'a>, explain: bool) -> Self {
        Self {
            store: cx.store,
            store_version: cx.store_version,
            time_limit: cx.time_limit,
            started: Instant::now(),
            queries: 0,
            pipelines: explain.then(Vec::new),
            plans: Vec::new(),
            approximate: false,
        }
    }

    /// Runs `q` under what is left of the report's time limit: a report as
    /// a whole runs at most as long as one query may. A query the store
    /// cannot run (a percentile on MongoDB < 7.0) is refused first, as
    /// `/v1/query` refuses it.
    pub(crate) async fn run(
        &mut self,
        q: &QueryRequest,
    ) -> Result<query::QueryResponse, QueryError> {
        query::check_store(q, self.store_version)?;
        self.queries += 1;
        let left = self.time_limit.saturating_sub(self.started.elapsed());
        if left.is_zero() {
            return Err(QueryError::TooSlow(self.time_limit));
        }
        let mut answer = match &mut self.pipelines {
            None => rollups::answer(self.store, q, left).await,
            Some(_) => {
                let mut q = q.clone();
                q.explain = true;
                rollups::answer(self.store, &q, left).await
            }
        }
        .map_err(|e| match e {
            QueryError::TooSlow(_) => QueryError::TooSlow(self.time_limit),
            other => other,
        })?;
        if let Some(list) = &mut self.pipelines {
            list.push(answer.meta["pipeline"].take());
        }
        self.plans
            .push(answer.meta["plan"].as_str().unwrap_or("raw").to_owned());
        self.approximate |= answer.meta["approximate"].as_bool().unwrap_or(false);
        Ok(answer)
    }

    /// Time since the report started.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Queries run so far.
    pub(crate) fn queries(&self) -> u32 {
        self.queries
    }

    /// The answer's `meta`.
    pub(crate) fn meta(&self, scope: &Scope) -> serde_json::Value {
        let mut meta = serde_json::json!({
            "took_ms": self.started.elapsed().as_secs_f64() * 1000.0,
            // One plan when every query had it, else `mixed` (each in `plans`).
            "plan": match self.plans.first() {
                Some(p) if self.plans.iter().all(|x| x == p) => p.as_str(),
                Some(_) => "mixed",
                None => "raw",
            },
            "plans": self.plans,
            "approximate": self.approximate,
            "queries": self.queries,
            "from": rfc3339(scope.from),
            "to": rfc3339(scope.to),
        });
        if let Some(p) = &self.pipelines {
            meta["pipelines"] = serde_json::json!(p);
        }
        meta
    }
}

/// A name known to be valid (the reports' own field names).
fn name(s: &str) -> Name {
    Name::try_from(s.to_owned()).unwrap_or_else(|e| unreachable!("{e}"))
}

/// An event type known to be valid.
fn event_type(s: &str) -> EventType {
    EventType::try_from(s.to_owned()).unwrap_or_else(|e| unreachable!("{e}"))
}

/// A `where` entry on a dimension: `dim op value`.
fn dim_filter(dim: &str, op: Op, value: serde_json::Value) -> Filter {
    Filter {
        dim: Some(name(dim)),
        metric: None,
        op,
        value,
    }
}

/// Descending by a column.
fn desc(by: &str) -> Order {
    Order {
        by: by.to_owned(),
        desc: true,
    }
}

/// A report's request, parsed and checked.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// Its name, from [`KINDS`].
    name: &'static str,
    report: Report,
}

/// The parsed body of each report.
#[derive(Debug, Clone)]
enum Report {
    Widgets(widgets::WidgetsRequest),
    LoadTime(load_time::LoadTimeRequest),
    Performance(performance::PerformanceRequest),
    UserStory(user_story::UserStoryRequest),
    Correlation(correlation::CorrelationRequest),
    Defaults(defaults::DefaultsRequest),
}

impl ReportRequest {
    /// The request for report `name`; `Ok(None)` when there is no such
    /// report. `now_ms` sets the default range.
    pub fn parse(name: &str, body: &[u8], now_ms: i64) -> Result<Option<Self>, QueryError> {
        let Some(kind) = KINDS.iter().find(|k| k.name == name) else {
            return Ok(None);
        };
        Ok(Some(Self {
            name: kind.name,
            report: (kind.parse)(body, now_ms)?,
        }))
    }

    /// The app it reads.
    pub(crate) fn app(&self) -> &AppId {
        match &self.report {
            Report::Widgets(r) => &r.scope.app,
            Report::LoadTime(r) => &r.scope.app,
            Report::Performance(r) => &r.scope.app,
            Report::UserStory(r) => &r.scope.app,
            Report::Correlation(r) => &r.scope.app,
            Report::Defaults(r) => &r.scope.app,
        }
    }

    /// The report's name, as in its path.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether its queries use percentiles (`$percentile`, MongoDB 7.0):
    /// load-time's phases, performance's heap and route times,
    /// correlation's per-session median, user-story's experience. The
    /// [`Runner`] checks every query as well, so a report missed here
    /// still gets the same clear refusal, only after its earlier queries.
    fn uses_percentiles(&self) -> bool {
        !matches!(self.report, Report::Widgets(_) | Report::Defaults(_))
    }

    /// Refuses, before any query runs, a report that needs percentiles on
    /// a store known to be older than MongoDB 7.0 (as `/v1/query` does for
    /// a percentile measure); an unknown version is let through.
    pub(crate) fn check_store(&self, store: Option<&ServerVersion>) -> Result<(), QueryError> {
        if !self.uses_percentiles() {
            return Ok(());
        }
        query::require_percentiles(store, || {
            format!("the `{}` report computes percentiles: it", self.name)
        })
    }

    /// Runs it: the report's answer, with `meta`. A report that needs
    /// percentiles is refused on an older store before any query runs.
    pub(crate) async fn run(&self, cx: &Context<'_>) -> Result<serde_json::Value, QueryError> {
        self.check_store(cx.store_version)?;
        match &self.report {
            Report::Widgets(r) => widgets::run(cx, r).await,
            Report::LoadTime(r) => load_time::run(cx, r).await,
            Report::Performance(r) => performance::run(cx, r).await,
            Report::UserStory(r) => user_story::run(cx, r).await,
            Report::Correlation(r) => correlation::run(cx, r).await,
            Report::Defaults(r) => defaults::run(cx, r).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: &str, below_floor: bool) -> ServerVersion {
        ServerVersion {
            version: v.into(),
            warnings: Vec::new(),
            below_floor,
        }
    }

    #[test]
    fn reports_with_percentiles_are_refused_on_an_old_store_and_the_others_run() {
        let old = version("6.0.14", true);
        let body = |extra: &str| format!(r#"{{"app": "d"{extra}}}"#);
        for (name, extra, refused) in [
            ("widgets", "", false),
            ("defaults", "", false),
            ("load-time", "", true),
            ("performance", "", true),
            (
                "correlation",
                r#", "metric": {"type": "load", "of": "total_ms"}"#,
                true,
            ),
            ("user-story", r#", "user": "u-1""#, true),
        ] {
            let r = ReportRequest::parse(name, body(extra).as_bytes(), 0)
                .unwrap()
                .unwrap();
            assert_eq!(r.name(), name);
            match r.check_store(Some(&old)) {
                Err(QueryError::StoreTooOld(m)) => {
                    assert!(refused, "{name}: {m}");
                    assert!(
                        m.contains(name) && m.contains("6.0.14") && m.contains("7.0"),
                        "{m}"
                    );
                }
                Ok(()) => assert!(!refused, "{name} should be refused"),
                Err(e) => panic!("{name}: {e}"),
            }
            assert!(r.check_store(Some(&version("7.0.2", false))).is_ok());
            assert!(
                r.check_store(None).is_ok(),
                "an unknown version is let through"
            );
        }
    }
}
