//! `POST /v1/query`: group and filter by any dimension. Every request
//! compiles to one MongoDB aggregation pipeline over `events`; every name in
//! it is checked with the protocol's name rules first, so nothing a client
//! sends can become an operator or a path.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use serde::{Deserialize, Serialize};
use usagelens_protocol::names::{is_valid_name, is_valid_type, NAME_RULE};
use usagelens_protocol::{ErrorBody, Timestamp};

use crate::apps::hash_token;
use crate::server::AppState;
use crate::store::{bson_date, StoreError, APPS, EVENTS};

/// Most rows a query answers.
pub const MAX_LIMIT: u32 = 10_000;
/// The default server-side time limit of one query (`--query-timeout`).
pub const QUERY_TIME_LIMIT: Duration = Duration::from_secs(30);

/// A filter on a dimension or a metric.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// A dimension name (or `metric`).
    #[serde(default)]
    pub dim: Option<String>,
    /// A metric name (or `dim`).
    #[serde(default)]
    pub metric: Option<String>,
    /// `eq, ne, in, nin, gt, gte, lt, lte, exists, contains`.
    pub op: String,
    /// The operand (`exists`: a bool; `in`/`nin`: an array).
    #[serde(default)]
    pub value: serde_json::Value,
}

/// A measure: `count`, `users`, `sessions`, or `{"fn", "of"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Measure {
    /// `count`, `users`, `sessions`.
    Named(String),
    /// `sum, avg, min, max, p50, p75, p90, p95, p99` of a metric.
    Of {
        /// The function.
        #[serde(rename = "fn")]
        func: String,
        /// The metric.
        of: String,
    },
}

/// An ordering column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// A column name of the answer.
    pub by: String,
    /// Descending.
    #[serde(default)]
    pub desc: bool,
}

/// A query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// The app.
    pub app: String,
    /// Event types (all when absent).
    #[serde(default)]
    pub types: Option<Vec<String>>,
    /// From (inclusive).
    #[serde(default)]
    pub from: Option<Timestamp>,
    /// To (exclusive).
    #[serde(default)]
    pub to: Option<Timestamp>,
    /// Filters, all of which must hold.
    #[serde(default, rename = "where")]
    pub filters: Vec<Filter>,
    /// Dimensions to group by.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// `minute | hour | day | week | month`.
    #[serde(default)]
    pub interval: Option<String>,
    /// Time zone of the interval buckets (IANA name), default UTC.
    #[serde(default)]
    pub tz: Option<String>,
    /// Measures, default `["count"]`.
    #[serde(default)]
    pub measures: Vec<Measure>,
    /// Ordering.
    #[serde(default)]
    pub order_by: Vec<Order>,
    /// Most rows, default 1000.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Answer with the pipeline too.
    #[serde(default)]
    pub explain: bool,
}

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

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// No or a malformed token.
    #[error("no read token: send `Authorization: Bearer <read token>` (from `apps create` or `apps rotate-key --read-token`)")]
    MissingToken,
    /// The token is not the app's.
    #[error("the read token is not valid for app `{0}`")]
    Forbidden(String),
    /// Unknown token.
    #[error("unknown read token")]
    BadToken,
    /// Over the time limit.
    #[error("the query ran over the server's {} limit: narrow `from`/`to`, add `types` or filters, or group by fewer dimensions", humantime::format_duration(*.0))]
    TooSlow(Duration),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            Self::MissingToken | Self::BadToken => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::TooSlow(_) => (StatusCode::UNPROCESSABLE_ENTITY, "query_too_slow"),
            Self::Store(e) if e.is_retryable() => {
                (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
            }
            Self::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let message = match &self {
            Self::Store(e) => {
                tracing::warn!(error = %e, "query failed in the store");
                "the event store failed; try again".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = (status, Json(ErrorBody::new(code, message))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, 5.into());
        }
        resp
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> QueryError {
    QueryError::Invalid(msg.into())
}

fn check_name(field: &str, name: &str) -> Result<(), QueryError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{field}: `{}` is not a valid name: names match {NAME_RULE}",
            name.escape_debug()
        )))
    }
}

fn json_to_bson(field: &str, v: &serde_json::Value) -> Result<Bson, QueryError> {
    match v {
        serde_json::Value::String(s) => Ok(Bson::String(s.clone())),
        serde_json::Value::Bool(b) => Ok(Bson::Boolean(*b)),
        serde_json::Value::Number(n) => Ok(n
            .as_i64()
            .map(Bson::Int64)
            .or_else(|| n.as_f64().map(Bson::Double))
            .unwrap_or(Bson::Null)),
        _ => Err(invalid(format!(
            "{field}: the value must be a string, a number or a bool"
        ))),
    }
}

/// Percentile functions and their fraction.
fn percentile(func: &str) -> Option<f64> {
    Some(match func {
        "p50" => 0.5,
        "p75" => 0.75,
        "p90" => 0.9,
        "p95" => 0.95,
        "p99" => 0.99,
        _ => return None,
    })
}

/// A compiled query: the pipeline and the answer's columns.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The aggregation pipeline.
    pub pipeline: Vec<Document>,
    /// Column names.
    pub columns: Vec<String>,
    group_count: usize,
    has_bucket: bool,
}

/// Where a dimension lives in the event document: `type` is the event type
/// (a field of its own), every other name is under `dims`.
fn dim_path(name: &str) -> String {
    if name == "type" {
        "type".to_owned()
    } else {
        format!("dims.{name}")
    }
}

/// Compiles a request into one pipeline, validating every name.
pub fn compile(q: &QueryRequest) -> Result<Plan, QueryError> {
    usagelens_protocol::batch::check_app(&q.app).map_err(|e| invalid(format!("app: {e}")))?;
    let mut m = doc! { "app": &q.app };
    if let Some(types) = &q.types {
        for t in types {
            if !is_valid_type(t) {
                return Err(invalid(format!(
                    "types: `{}` is not a valid event type",
                    t.escape_debug()
                )));
            }
        }
        m.insert("type", doc! { "$in": types.clone() });
    }
    let mut ts = Document::new();
    if let Some(f) = q.from {
        ts.insert("$gte", bson_date(f.as_millis()));
    }
    if let Some(t) = q.to {
        ts.insert("$lt", bson_date(t.as_millis()));
    }
    if !ts.is_empty() {
        m.insert("ts", ts);
    }
    let mut ands: Vec<Bson> = Vec::new();
    for (i, f) in q.filters.iter().enumerate() {
        let field = format!("where[{i}]");
        let path = match (&f.dim, &f.metric) {
            (Some(d), None) => {
                check_name(&format!("{field}.dim"), d)?;
                dim_path(d)
            }
            (None, Some(mname)) => {
                check_name(&format!("{field}.metric"), mname)?;
                format!("metrics.{mname}")
            }
            _ => {
                return Err(invalid(format!(
                    "{field}: give exactly one of `dim` or `metric`"
                )))
            }
        };
        let cond = match f.op.as_str() {
            "eq" | "contains" => doc! { "$eq": json_to_bson(&field, &f.value)? },
            "ne" => doc! { "$ne": json_to_bson(&field, &f.value)? },
            "gt" | "gte" | "lt" | "lte" => {
                let op = format!("${}", f.op);
                doc! { op: json_to_bson(&field, &f.value)? }
            }
            "in" | "nin" => {
                let items = f
                    .value
                    .as_array()
                    .ok_or_else(|| invalid(format!("{field}: `{}` takes an array", f.op)))?
                    .iter()
                    .map(|v| json_to_bson(&field, v))
                    .collect::<Result<Vec<_>, _>>()?;
                let op = format!("${}", f.op);
                doc! { op: items }
            }
            "exists" => doc! { "$exists": f.value.as_bool().ok_or_else(|| invalid(format!("{field}: `exists` takes true or false")))? },
            other => {
                return Err(invalid(format!(
                    "{field}.op: `{}` is not an operator: use eq, ne, in, nin, gt, gte, lt, lte, exists, contains",
                    other.escape_debug()
                )))
            }
        };
        ands.push(Bson::Document(doc! { path: cond }));
    }
    if !ands.is_empty() {
        m.insert("$and", ands);
    }
    let mut pipeline = vec![doc! { "$match": m }];

    // Multi-valued dimensions: one row per distinct value the event holds.
    let mut group_id = Document::new();
    let mut columns = Vec::new();
    for (i, g) in q.group_by.iter().enumerate() {
        check_name(&format!("group_by[{i}]"), g)?;
        if q.group_by[..i].contains(g) {
            return Err(invalid(format!("group_by[{i}]: `{g}` appears twice")));
        }
        let key = format!("g{i}");
        let path = format!("${}", dim_path(g));
        pipeline.push(doc! { "$addFields": { &key: { "$cond": [ { "$isArray": &path }, { "$setUnion": [ &path ] }, &path ] } } });
        pipeline.push(
            doc! { "$unwind": { "path": format!("${key}"), "preserveNullAndEmptyArrays": true } },
        );
        group_id.insert(&key, format!("${key}"));
        columns.push(g.clone());
    }
    let has_bucket = match &q.interval {
        None => false,
        Some(unit) => {
            if !matches!(unit.as_str(), "minute" | "hour" | "day" | "week" | "month") {
                return Err(invalid(format!(
                    "interval: `{}` is not one of minute, hour, day, week, month",
                    unit.escape_debug()
                )));
            }
            let tz = q.tz.clone().unwrap_or_else(|| "UTC".into());
            if tz.is_empty() || tz.len() > 64 || tz.contains('$') {
                return Err(invalid(
                    "tz: give an IANA time zone name, like Europe/Berlin",
                ));
            }
            group_id.insert("bucket", doc! { "$dateTrunc": { "date": "$ts", "unit": unit, "timezone": tz, "startOfWeek": "monday" } });
            columns.push("bucket".into());
            true
        }
    };
    let group_count = q.group_by.len();

    let measures = if q.measures.is_empty() {
        vec![Measure::Named("count".into())]
    } else {
        q.measures.clone()
    };
    let mut group = doc! { "_id": group_id };
    let mut project = doc! { "_id": 0 };
    for (i, me) in measures.iter().enumerate() {
        let field = format!("measures[{i}]");
        let (name, acc, proj): (String, Document, Bson) = match me {
            Measure::Named(n) if n == "count" => ("count".into(), doc! { "$sum": 1 }, Bson::String("$count".into())),
            Measure::Named(n) if n == "users" => (
                "users".into(),
                doc! { "$addToSet": { "$ifNull": [ "$dims.user", "$dims.anon" ] } },
                Bson::Document(doc! { "$size": { "$filter": { "input": "$users", "cond": { "$ne": [ "$$this", null ] } } } }),
            ),
            Measure::Named(n) if n == "sessions" => (
                "sessions".into(),
                doc! { "$addToSet": "$dims.session" },
                Bson::Document(doc! { "$size": { "$filter": { "input": "$sessions", "cond": { "$ne": [ "$$this", null ] } } } }),
            ),
            Measure::Named(other) => {
                return Err(invalid(format!(
                    "{field}: `{}` is not a measure: use count, users, sessions, or {{\"fn\": …, \"of\": metric}}",
                    other.escape_debug()
                )))
            }
            Measure::Of { func, of } => {
                check_name(&format!("{field}.of"), of)?;
                let input = format!("$metrics.{of}");
                let name = format!("{func}_{of}");
                let acc = match func.as_str() {
                    "sum" | "avg" | "min" | "max" => {
                        let op = format!("${func}");
                        doc! { op: &input }
                    }
                    f => match percentile(f) {
                        Some(p) => doc! { "$percentile": { "input": &input, "p": [p], "method": "approximate" } },
                        None => {
                            return Err(invalid(format!(
                                "{field}.fn: `{}` is not one of sum, avg, min, max, p50, p75, p90, p95, p99",
                                func.escape_debug()
                            )))
                        }
                    },
                };
                let proj = if percentile(func).is_some() {
                    Bson::Document(doc! { "$arrayElemAt": [ format!("${name}"), 0 ] })
                } else {
                    Bson::String(format!("${name}"))
                };
                (name, acc, proj)
            }
        };
        if columns.contains(&name) {
            return Err(invalid(format!(
                "{field}: the column `{name}` appears twice"
            )));
        }
        group.insert(&name, acc);
        project.insert(&name, proj);
        columns.push(name);
    }
    for (i, g) in (0..group_count).enumerate() {
        project.insert(format!("g{i}"), format!("$_id.g{g}"));
    }
    if has_bucket {
        project.insert("bucket", "$_id.bucket");
    }
    pipeline.push(doc! { "$group": group });
    pipeline.push(doc! { "$project": project });

    let mut sort = Document::new();
    for (i, o) in q.order_by.iter().enumerate() {
        let Some(pos) = columns.iter().position(|c| *c == o.by) else {
            return Err(invalid(format!(
                "order_by[{i}].by: `{}` is not a column; the columns are {}",
                o.by.escape_debug(),
                columns.join(", ")
            )));
        };
        let key = if pos < group_count {
            format!("g{pos}")
        } else {
            columns[pos].clone()
        };
        sort.insert(key, if o.desc { -1 } else { 1 });
    }
    if sort.is_empty() && has_bucket {
        sort.insert("bucket", 1);
    }
    if !sort.is_empty() {
        pipeline.push(doc! { "$sort": sort });
    }
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(invalid(format!("limit: 1 to {MAX_LIMIT}")));
    }
    pipeline.push(doc! { "$limit": i64::from(limit) });
    Ok(Plan {
        pipeline,
        columns,
        group_count,
        has_bucket,
    })
}

fn bson_to_json(b: Option<&Bson>) -> serde_json::Value {
    match b {
        None | Some(Bson::Null) => serde_json::Value::Null,
        Some(Bson::DateTime(d)) => {
            serde_json::Value::String(Timestamp::from_millis(d.timestamp_millis()).to_rfc3339())
        }
        Some(Bson::Int32(i)) => (*i).into(),
        Some(Bson::Int64(i)) => (*i).into(),
        Some(Bson::Double(f)) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Some(other) => other.clone().into_relaxed_extjson(),
    }
}

/// Runs a compiled plan, for at most `time_limit` on the server
/// (`maxTimeMS`); past it, [`QueryError::TooSlow`].
pub async fn execute(
    store: &crate::store::Store,
    plan: &Plan,
    time_limit: Duration,
) -> Result<Vec<Vec<serde_json::Value>>, QueryError> {
    let over = |e| map_time_limit(e, time_limit);
    let cursor = store
        .collection(EVENTS)
        .aggregate(plan.pipeline.clone())
        .max_time(time_limit)
        .await
        .map_err(over)?;
    let docs: Vec<Document> = cursor.try_collect().await.map_err(over)?;
    Ok(docs
        .iter()
        .map(|d| {
            plan.columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i < plan.group_count {
                        bson_to_json(d.get(format!("g{i}")))
                    } else if plan.has_bucket && c == "bucket" {
                        bson_to_json(d.get("bucket"))
                    } else {
                        bson_to_json(d.get(c))
                    }
                })
                .collect()
        })
        .collect())
}

/// MongoDB's `MaxTimeMSExpired`.
const MAX_TIME_MS_EXPIRED: i32 = 50;

fn map_time_limit(e: mongodb::error::Error, limit: Duration) -> QueryError {
    if let mongodb::error::ErrorKind::Command(c) = e.kind.as_ref() {
        if c.code == MAX_TIME_MS_EXPIRED {
            return QueryError::TooSlow(limit);
        }
    }
    QueryError::Store(e.into())
}

/// Checks `Authorization: Bearer <read token>` against `app`.
pub(crate) async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    app: &str,
) -> Result<(), QueryError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(QueryError::MissingToken)?;
    let hash = hash_token(token);
    let owner = state
        .store
        .collection(APPS)
        .find_one(doc! { "read_token_sha256": &hash })
        .projection(doc! { "_id": 1 })
        .await
        .map_err(StoreError::from)?;
    match owner.as_ref().and_then(|d| d.get_str("_id").ok()) {
        Some(id) if id == app => Ok(()),
        Some(_) => Err(QueryError::Forbidden(app.to_owned())),
        None => Err(QueryError::BadToken),
    }
}

/// The request body, with the field at fault named in the error
/// (`from: …`, `measures[1].fn: …`), as serde alone does not say where.
pub fn parse_request(body: &[u8]) -> Result<QueryRequest, QueryError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            invalid(format!("the body is not a valid query: {inner}"))
        } else {
            invalid(format!("{path}: {inner}"))
        }
    })
}

/// `POST /v1/query`.
pub async fn handle_query(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let q = parse_request(&body)?;
        authorize(&state, &headers, &q.app).await?;
        let plan = compile(&q)?;
        let rows = execute(&state.store, &plan, state.config.query_timeout).await?;
        let mut meta = serde_json::json!({ "took_ms": started.elapsed().as_secs_f64() * 1000.0, "plan": "raw" });
        if q.explain {
            meta["pipeline"] = Bson::Array(plan.pipeline.iter().cloned().map(Bson::Document).collect()).into_relaxed_extjson();
        }
        Ok::<_, QueryError>(QueryResponse { columns: plan.columns, rows, meta })
    }
    .await;
    match result {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `?app=` of the catalog endpoints.
#[derive(Debug, Deserialize)]
pub struct AppParam {
    /// The app.
    pub app: String,
}

/// One catalog entry as `GET /v1/dimensions` answers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogEntry {
    /// The name.
    pub name: String,
    /// `dimension` or `metric`.
    pub field: String,
    /// Value kinds seen: `string`, `number`, `bool`, `list`.
    pub kinds: Vec<String>,
    /// Event types it appeared on.
    pub types: Vec<String>,
    /// First seen (RFC 3339).
    pub first_seen: String,
    /// Last seen (RFC 3339).
    pub last_seen: String,
}

fn strings(d: &Document, k: &str) -> Vec<String> {
    d.get_array(k)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn rfc3339(d: &Document, k: &str) -> String {
    d.get_datetime(k)
        .map(|t| Timestamp::from_millis(t.timestamp_millis()).to_rfc3339())
        .unwrap_or_default()
}

/// `GET /v1/dimensions?app=`: every dimension and metric name the app has
/// sent (hidden ones left out), so users discover custom dimensions.
pub async fn handle_dimensions(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(p): axum::extract::Query<AppParam>,
) -> Response {
    let result = async {
        usagelens_protocol::batch::check_app(&p.app).map_err(|e| invalid(format!("app: {e}")))?;
        authorize(&state, &headers, &p.app).await?;
        // Names noted since the last flush are part of the answer.
        state.catalog.flush(&state.store).await?;
        let docs: Vec<Document> = state
            .store
            .collection(crate::store::CATALOG)
            .find(doc! { "app": &p.app, "hidden": { "$ne": true } })
            .sort(doc! { "name": 1, "field": 1 })
            .await
            .map_err(StoreError::from)?
            .try_collect()
            .await
            .map_err(StoreError::from)?;
        let entries: Vec<CatalogEntry> = docs
            .iter()
            .map(|d| CatalogEntry {
                name: d.get_str("name").unwrap_or_default().to_owned(),
                field: d.get_str("field").unwrap_or_default().to_owned(),
                kinds: strings(d, "kinds"),
                types: strings(d, "types"),
                first_seen: rfc3339(d, "first_seen"),
                last_seen: rfc3339(d, "last_seen"),
            })
            .collect();
        Ok::<_, QueryError>(entries)
    }
    .await;
    match result {
        Ok(e) => Json(e).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/dimensions/{name}/hide?app=`: retires a name from the catalog;
/// the events keep their data.
pub async fn handle_hide(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
    axum::extract::Query(p): axum::extract::Query<AppParam>,
) -> Response {
    let result = async {
        usagelens_protocol::batch::check_app(&p.app).map_err(|e| invalid(format!("app: {e}")))?;
        check_name("name", &name)?;
        authorize(&state, &headers, &p.app).await?;
        state.catalog.flush(&state.store).await?;
        let r = state
            .store
            .collection(crate::store::CATALOG)
            .update_many(
                doc! { "app": &p.app, "name": &name },
                doc! { "$set": { "hidden": true } },
            )
            .await
            .map_err(StoreError::from)?;
        if r.matched_count == 0 {
            return Err(invalid(format!(
                "name: app `{}` has no dimension or metric `{name}`",
                p.app
            )));
        }
        Ok(serde_json::json!({ "name": name, "hidden": true }))
    }
    .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
