//! The answer's rows from merged partial states: each group's values, its
//! bucket and its measures, ordered and limited as the raw engine does.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use mongodb::bson::Bson;
use serde_json::{json, Value};

use super::partial::Partial;
use crate::query::{Func, Measure, QueryRequest};
use crate::store::json::rfc3339;

/// A dimension's value as the answer writes it.
pub(super) fn value_of(b: Option<&Bson>) -> Value {
    match b {
        None | Some(Bson::Null) => Value::Null,
        Some(Bson::String(s)) => Value::String(s.clone()),
        Some(Bson::Boolean(x)) => Value::Bool(*x),
        Some(Bson::Int32(n)) => json!(n),
        Some(Bson::Int64(n)) => json!(n),
        Some(Bson::Double(f)) if f.is_finite() => json!(f),
        Some(Bson::Double(_)) => Value::Null,
        Some(Bson::DateTime(t)) => Value::String(rfc3339(t.timestamp_millis())),
        Some(other) => other.clone().into_relaxed_extjson(),
    }
}

/// A whole f64 as an integer, as the raw engine writes sums of integers.
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// Rows keyed by their group values and bucket.
pub(super) type Groups = BTreeMap<String, (Vec<Value>, Option<i64>, Partial)>;

pub(super) fn add(groups: &mut Groups, values: Vec<Value>, bucket: Option<i64>, p: Partial) {
    let key = json!([values, bucket]).to_string();
    match groups.get_mut(&key) {
        Some((_, _, mine)) => mine.merge(p),
        None => {
            groups.insert(key, (values, bucket, p));
        }
    }
}

/// The measure's value of a merged group.
pub(super) fn measure(m: &Measure, p: &Partial) -> Value {
    match m {
        Measure::Count => json!(p.n),
        Measure::Users => json!(p.users()),
        Measure::Sessions => json!(p.sessions()),
        Measure::FirstSeen => p.first.map_or(Value::Null, |t| Value::String(rfc3339(t))),
        Measure::LastSeen => p.last.map_or(Value::Null, |t| Value::String(rfc3339(t))),
        Measure::Of { func, of } => {
            let mp = p.metrics.get(of.as_str()).filter(|m| m.n > 0);
            match (func, mp) {
                (Func::Count, _) => json!(mp.map_or(0, |m| m.n)),
                (Func::Sum, None) => json!(0),
                (_, None) => Value::Null,
                (Func::Sum, Some(m)) => number(m.sum),
                (Func::Avg, Some(m)) => json!(m.sum / m.n as f64),
                (Func::Min, Some(m)) => number(m.min),
                (Func::Max, Some(m)) => number(m.max),
                (f, Some(m)) => f
                    .percentile()
                    .and_then(|p| m.quantile(p))
                    .map_or(Value::Null, |v| json!(v)),
            }
        }
    }
}

/// MongoDB's order of the kinds the answer holds: null, numbers, strings, bools.
fn compare(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Number(_) => 1,
            Value::String(_) => 2,
            Value::Object(_) => 3,
            Value::Array(_) => 4,
            Value::Bool(_) => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Orders `rows` by the query's `order_by` (by bucket when it has none and
/// has buckets) and keeps its `limit`.
pub(super) fn order_rows(
    rows: &mut Vec<Vec<Value>>,
    q: &QueryRequest,
    columns: &[String],
    groups: usize,
) {
    let mut order: Vec<(usize, bool)> = Vec::new();
    for o in &q.order_by {
        if let Some(i) = columns.iter().position(|c| *c == o.by) {
            order.push((i, o.desc));
        }
    }
    if order.is_empty() && q.interval.is_some() {
        order.push((groups, false));
    }
    rows.sort_by(|a, b| {
        for &(i, desc) in &order {
            let c = compare(&a[i], &b[i]);
            let c = if desc { c.reverse() } else { c };
            if c != Ordering::Equal {
                return c;
            }
        }
        Ordering::Equal
    });
    rows.truncate(q.limit.unwrap_or(1000) as usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_sort_as_mongodb_sorts_them() {
        let mut v = vec![
            json!("b"),
            json!(2),
            Value::Null,
            json!(true),
            json!("a"),
            json!(1.5),
        ];
        v.sort_by(compare);
        assert_eq!(
            v,
            vec![
                Value::Null,
                json!(1.5),
                json!(2),
                json!("a"),
                json!("b"),
                json!(true)
            ]
        );
    }
}
