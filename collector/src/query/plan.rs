//! A typed query compiled into one MongoDB aggregation pipeline over
//! `events`: `$match` (app, types, time range, filters), for each group-by
//! dimension an `$addFields` + `$unwind` (one row per distinct value of a
//! multi-valued dimension), `$group` with the measures' accumulators,
//! `$project`, `$sort`, `$limit`. Every name was checked when the request
//! was read, so nothing a client sends becomes an operator or a path.
//!
//! `hour` and `weekday` are derived dimensions: computed from `ts` in the
//! query's `tz` (`$hour`, `$isoDayOfWeek`), grouped and filtered like any
//! other, never stored.

use mongodb::bson::{doc, Bson, Document};

use super::request::{Filter, Func, Measure, Op, QueryRequest, DEFAULT_LIMIT, MAX_LIMIT};
use super::QueryError;
use crate::store::json;

/// A compiled query: the pipeline and the answer's columns.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The aggregation pipeline.
    pub pipeline: Vec<Document>,
    /// Column names: the group-by dimensions, `bucket`, then the measures.
    pub columns: Vec<String>,
    /// How many leading columns are group-by dimensions (`g0`, `g1`, … in the output).
    pub(crate) group_count: usize,
    /// Whether `bucket` follows them.
    pub(crate) has_bucket: bool,
}

impl Plan {
    /// The field of the pipeline's output that holds column `i`.
    pub(crate) fn output_field(&self, i: usize) -> String {
        if i < self.group_count {
            format!("g{i}")
        } else {
            self.columns[i].clone()
        }
    }
}

fn invalid(msg: impl Into<String>) -> QueryError {
    QueryError::Invalid(msg.into())
}

/// Where a dimension lives in the event document: `type` is the event type
/// (a field of its own), every other name is under `dims`.
pub(crate) fn dim_path(name: &str) -> String {
    if name == "type" {
        "type".to_owned()
    } else {
        format!("dims.{name}")
    }
}

/// A derived dimension's expression, for `hour` (0–23) and `weekday` (ISO:
/// 1 = Monday … 7 = Sunday), in `tz`; `None` for a stored dimension.
fn derived(name: &str, tz: &str) -> Option<(Bson, i64, i64)> {
    let arg = doc! { "date": "$ts", "timezone": tz };
    match name {
        "hour" => Some((Bson::Document(doc! { "$hour": arg }), 0, 23)),
        "weekday" => Some((Bson::Document(doc! { "$isoDayOfWeek": arg }), 1, 7)),
        _ => None,
    }
}

/// The query's time zone, checked: an IANA name, default UTC.
pub(crate) fn time_zone(q: &QueryRequest) -> Result<&str, QueryError> {
    let tz = q.tz.as_deref().unwrap_or("UTC");
    if tz.is_empty() || tz.len() > 64 || tz.contains('$') {
        return Err(invalid(
            "tz: give an IANA time zone name, like Europe/Berlin",
        ));
    }
    Ok(tz)
}

/// A `where` entry on a derived dimension, as an `$expr`: its values are
/// whole numbers in the dimension's range.
fn derived_condition(
    field: &str,
    name: &str,
    (expr, lo, hi): (Bson, i64, i64),
    f: &Filter,
) -> Result<Document, QueryError> {
    let number =
        |v: &serde_json::Value| {
            v.as_i64()
                .filter(|n| (lo..=hi).contains(n))
                .map(Bson::Int64)
                .ok_or_else(|| {
                    invalid(format!(
                    "{field}: `{name}` is a whole number from {lo} to {hi} (in the query's tz{})",
                    if name == "weekday" { "; 1 is Monday" } else { "" }
                ))
                })
        };
    let list = |v: &serde_json::Value| -> Result<Bson, QueryError> {
        let items = v
            .as_array()
            .ok_or_else(|| invalid(format!("{field}: `{}` takes an array", f.op)))?
            .iter()
            .map(number)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Bson::Array(items))
    };
    let e = match f.op {
        Op::Eq | Op::Contains => doc! { "$eq": [ expr, number(&f.value)? ] },
        Op::Ne | Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            doc! { format!("${}", f.op): [ expr, number(&f.value)? ] }
        }
        Op::In => doc! { "$in": [ expr, list(&f.value)? ] },
        Op::Nin => doc! { "$not": [ { "$in": [ expr, list(&f.value)? ] } ] },
        Op::Exists => {
            let present = f
                .value
                .as_bool()
                .ok_or_else(|| invalid(format!("{field}: `exists` takes true or false")))?;
            // Every event has a time.
            return Ok(doc! { "$expr": present });
        }
    };
    Ok(doc! { "$expr": e })
}

fn operand(field: &str, v: &serde_json::Value) -> Result<Bson, QueryError> {
    json::scalar(v).ok_or_else(|| {
        invalid(format!(
            "{field}: the value must be a string, a number or a bool"
        ))
    })
}

/// One `where` entry as a `$match` condition.
fn condition(i: usize, f: &Filter, tz: &str) -> Result<Document, QueryError> {
    condition_at(i, f, tz, None)
}

/// One `where` entry as a `$match` condition, its dimension under
/// `prefix` when given (a rollup document's `d.`) instead of the event's.
fn condition_at(
    i: usize,
    f: &Filter,
    tz: &str,
    prefix: Option<&str>,
) -> Result<Document, QueryError> {
    let field = format!("where[{i}]");
    let path = match (&f.dim, &f.metric) {
        (Some(d), None) => {
            if let Some(d_expr) = derived(d.as_str(), tz) {
                return derived_condition(&field, d.as_str(), d_expr, f);
            }
            match prefix {
                Some(p) => format!("{p}{d}"),
                None => dim_path(d.as_str()),
            }
        }
        (None, Some(m)) => format!("metrics.{m}"),
        _ => {
            return Err(invalid(format!(
                "{field}: give exactly one of `dim` or `metric`"
            )))
        }
    };
    let cond = match f.op {
        Op::Eq | Op::Contains => doc! { "$eq": operand(&field, &f.value)? },
        Op::Ne | Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            doc! { format!("${}", f.op): operand(&field, &f.value)? }
        }
        Op::In | Op::Nin => {
            let items = f
                .value
                .as_array()
                .ok_or_else(|| invalid(format!("{field}: `{}` takes an array", f.op)))?
                .iter()
                .map(|v| operand(&field, v))
                .collect::<Result<Vec<_>, _>>()?;
            doc! { format!("${}", f.op): items }
        }
        Op::Exists => {
            let present = f
                .value
                .as_bool()
                .ok_or_else(|| invalid(format!("{field}: `exists` takes true or false")))?;
            doc! { "$exists": present }
        }
    };
    Ok(doc! { path: cond })
}

/// The `$match` conditions of `filters` (all must hold), in time zone `tz`
/// for the derived dimensions: for readers other than a query (the export).
pub(crate) fn conditions(filters: &[Filter], tz: &str) -> Result<Vec<Document>, QueryError> {
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| condition(i, f, tz))
        .collect()
}

/// The `$match` conditions of `filters` on a rollup document's
/// dimensions, under `prefix` (`d.`).
pub(crate) fn conditions_at(
    filters: &[Filter],
    tz: &str,
    prefix: &str,
) -> Result<Vec<Document>, QueryError> {
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| condition_at(i, f, tz, Some(prefix)))
        .collect()
}

/// The `$match` of the app, the types, the time range and the filters.
pub(crate) fn match_stage(q: &QueryRequest) -> Result<Document, QueryError> {
    let mut m = doc! { "app": q.app().as_str() };
    if let Some(types) = &q.types {
        let types: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        // One type as an equality: the same index bounds on MongoDB, and
        // SecantusDB scans an `$in` bound 15x slower.
        match types.as_slice() {
            [one] => m.insert("type", *one),
            _ => m.insert("type", doc! { "$in": types }),
        };
    }
    let mut ts = Document::new();
    if let Some(f) = q.from {
        ts.insert("$gte", json::date(f.as_millis()));
    }
    if let Some(t) = q.to {
        ts.insert("$lt", json::date(t.as_millis()));
    }
    if !ts.is_empty() {
        m.insert("ts", ts);
    }
    let tz = time_zone(q)?;
    let ands = q
        .filters
        .iter()
        .enumerate()
        .map(|(i, f)| condition(i, f, tz).map(Bson::Document))
        .collect::<Result<Vec<_>, _>>()?;
    if !ands.is_empty() {
        m.insert("$and", ands);
    }
    Ok(m)
}

/// The `$dateTrunc` of the bucket, or `None` without an interval.
pub(crate) fn bucket(q: &QueryRequest) -> Result<Option<Document>, QueryError> {
    let Some(unit) = q.interval else {
        return Ok(None);
    };
    let tz = time_zone(q)?;
    Ok(Some(
        doc! { "$dateTrunc": { "date": "$ts", "unit": unit.as_str(), "timezone": tz, "startOfWeek": "monday" } },
    ))
}

/// A measure's `$group` accumulator and its `$project` expression.
fn accumulator(m: &Measure) -> (Document, Bson) {
    let distinct = |list: &str| {
        Bson::Document(
            doc! { "$size": { "$filter": { "input": format!("${list}"), "cond": { "$ne": [ "$$this", null ] } } } },
        )
    };
    match m {
        Measure::Count => (doc! { "$sum": 1 }, Bson::String("$count".into())),
        Measure::Users => (
            doc! { "$addToSet": { "$ifNull": [ "$dims.user", "$dims.anon" ] } },
            distinct("users"),
        ),
        Measure::Sessions => (doc! { "$addToSet": "$dims.session" }, distinct("sessions")),
        Measure::FirstSeen => (doc! { "$min": "$ts" }, Bson::String("$first_seen".into())),
        Measure::LastSeen => (doc! { "$max": "$ts" }, Bson::String("$last_seen".into())),
        Measure::Of { func, of } => {
            let input = format!("$metrics.{of}");
            let name = m.column();
            if *func == Func::Count {
                // Numbers sort above null and a missing field: 1 per event with the metric.
                return (
                    doc! { "$sum": { "$cond": [ { "$gt": [ &input, null ] }, 1, 0 ] } },
                    Bson::String(format!("${name}")),
                );
            }
            match func.percentile() {
                Some(p) => (
                    doc! { "$percentile": { "input": &input, "p": [p], "method": "approximate" } },
                    Bson::Document(doc! { "$arrayElemAt": [ format!("${name}"), 0 ] }),
                ),
                None => (
                    doc! { format!("${func}"): &input },
                    Bson::String(format!("${name}")),
                ),
            }
        }
    }
}

/// The `$sort` of `order_by` (by bucket when there is none and there are buckets).
fn sort_stage(q: &QueryRequest, plan: &Plan) -> Result<Document, QueryError> {
    let mut sort = Document::new();
    for (i, o) in q.order_by.iter().enumerate() {
        let Some(pos) = plan.columns.iter().position(|c| *c == o.by) else {
            return Err(invalid(format!(
                "order_by[{i}].by: `{}` is not a column; the columns are {}",
                o.by.escape_debug(),
                plan.columns.join(", ")
            )));
        };
        sort.insert(plan.output_field(pos), if o.desc { -1 } else { 1 });
    }
    if sort.is_empty() && plan.has_bucket {
        sort.insert("bucket", 1);
    }
    Ok(sort)
}

/// Compiles a request into one pipeline.
pub fn compile(q: &QueryRequest) -> Result<Plan, QueryError> {
    let mut pipeline = vec![doc! { "$match": match_stage(q)? }];

    // Multi-valued dimensions: one row per distinct value the event holds.
    let mut group_id = Document::new();
    let mut columns = Vec::new();
    for (i, g) in q.group_by.iter().enumerate() {
        if q.group_by[..i].contains(g) {
            return Err(invalid(format!("group_by[{i}]: `{g}` appears twice")));
        }
        let key = format!("g{i}");
        if let Some((expr, _, _)) = derived(g.as_str(), time_zone(q)?) {
            pipeline.push(doc! { "$addFields": { &key: expr } });
        } else {
            let path = format!("${}", dim_path(g.as_str()));
            pipeline.push(doc! { "$addFields": { &key: { "$cond": [ { "$isArray": &path }, { "$setUnion": [ &path ] }, &path ] } } });
            pipeline.push(
                doc! { "$unwind": { "path": format!("${key}"), "preserveNullAndEmptyArrays": true } },
            );
        }
        group_id.insert(&key, format!("${key}"));
        columns.push(g.to_string());
    }
    let group_count = columns.len();
    let bucket = bucket(q)?;
    let has_bucket = bucket.is_some();
    if let Some(b) = bucket {
        group_id.insert("bucket", b);
        columns.push("bucket".into());
    }

    let default_measures = [Measure::Count];
    let measures = if q.measures.is_empty() {
        &default_measures[..]
    } else {
        &q.measures[..]
    };
    let mut group = doc! { "_id": group_id };
    let mut project = doc! { "_id": 0 };
    for (i, m) in measures.iter().enumerate() {
        let name = m.column();
        if columns.contains(&name) {
            return Err(invalid(format!(
                "measures[{i}]: the column `{name}` appears twice"
            )));
        }
        let (acc, proj) = accumulator(m);
        group.insert(&name, acc);
        project.insert(&name, proj);
        columns.push(name);
    }
    for i in 0..group_count {
        project.insert(format!("g{i}"), format!("$_id.g{i}"));
    }
    if has_bucket {
        project.insert("bucket", "$_id.bucket");
    }
    pipeline.push(doc! { "$group": group });
    pipeline.push(doc! { "$project": project });

    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(invalid(format!("limit: 1 to {MAX_LIMIT}")));
    }
    let mut plan = Plan {
        pipeline,
        columns,
        group_count,
        has_bucket,
    };
    let sort = sort_stage(q, &plan)?;
    if !sort.is_empty() {
        plan.pipeline.push(doc! { "$sort": sort });
    }
    plan.pipeline.push(doc! { "$limit": i64::from(limit) });
    Ok(plan)
}
