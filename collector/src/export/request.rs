//! The parameters of `GET /v1/events`, validated: each error names its
//! parameter first. And the page filter they select on `app_ts_id`.

use std::collections::HashMap;

use mongodb::bson::{doc, Document};
use usagelens_protocol::names::{is_valid_type, TYPE_RULE};
use usagelens_protocol::Timestamp;

use super::cursor::Position;
use crate::apps::AppId;
use crate::query::{self, QueryError};
use crate::store::json::date;

/// Page size when `limit` is absent.
pub(crate) const DEFAULT_LIMIT: u32 = 10_000;
/// Largest page.
pub(crate) const MAX_LIMIT: u32 = 100_000;
/// The parameters of the endpoint.
const PARAMS: [&str; 8] = [
    "app", "from", "to", "types", "where", "format", "limit", "cursor",
];

fn invalid(msg: impl Into<String>) -> QueryError {
    QueryError::Invalid(msg.into())
}

/// The body's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// One JSON object per line (`application/x-ndjson`).
    Ndjson,
    /// RFC 4180 CSV with a header row (`text/csv`).
    Csv,
}

impl Format {
    /// The body's `Content-Type`.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// The query string as `(name, value)` pairs, each name once and known.
#[derive(Debug, Clone)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// Checks that every name is a parameter of the endpoint, given once.
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Result<Self, QueryError> {
        let mut out = HashMap::new();
        for (k, v) in pairs {
            if !PARAMS.contains(&k.as_str()) {
                return Err(invalid(format!(
                    "`{}` is not a parameter of /v1/events: use {}",
                    k.escape_debug(),
                    PARAMS.join(", ")
                )));
            }
            if out.contains_key(&k) {
                return Err(invalid(format!("{k}: given more than once")));
            }
            out.insert(k, v);
        }
        Ok(Self(out))
    }

    /// The app the request names.
    pub(crate) fn app(&self) -> Result<AppId, QueryError> {
        let app = self
            .0
            .get("app")
            .ok_or_else(|| invalid("app: required, e.g. /v1/events?app=demo"))?;
        AppId::parse(app).map_err(QueryError::Invalid)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A validated request.
#[derive(Debug, Clone)]
pub(crate) struct ExportRequest {
    /// The app.
    pub(crate) app: AppId,
    /// From (inclusive), epoch ms.
    from: Option<i64>,
    /// To (exclusive), epoch ms.
    to: Option<i64>,
    /// Event types (all when absent).
    types: Option<Vec<String>>,
    /// The `where` filters (the query API's, in UTC) as `$match` conditions.
    conditions: Vec<Document>,
    /// The body's format.
    pub(crate) format: Format,
    /// Whether `format` came from the `Accept` header (the next page's
    /// link then names it).
    pub(crate) format_from_accept: bool,
    /// Page size.
    pub(crate) limit: u32,
    /// Where this page starts (inclusive).
    cursor: Option<Position>,
}

/// `from`/`to`: RFC 3339 or epoch milliseconds, as in `/v1/query`. A `+`
/// of an offset that arrives as a space (an unencoded `+` in a query
/// string) is read as `+`.
fn parse_time(field: &str, s: &str) -> Result<i64, QueryError> {
    let t = s.trim();
    let parsed = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = t
            .parse()
            .map_err(|_| invalid(format!("{field}: `{t}` is too large")))?;
        serde_json::from_value::<Timestamp>(serde_json::Value::from(n)).map_err(|e| e.to_string())
    } else {
        Timestamp::parse_rfc3339(&s.replace(' ', "+"))
    };
    parsed
        .map(Timestamp::as_millis)
        .map_err(|e| invalid(format!("{field}: {e}")))
}

fn parse_types(list: &str) -> Result<Vec<String>, QueryError> {
    let mut types: Vec<String> = Vec::new();
    for t in list.split(',') {
        let t = t.trim();
        if !is_valid_type(t) {
            return Err(invalid(format!(
                "types: `{}` is not a valid event type: types match {TYPE_RULE}; separate them with commas",
                t.escape_debug()
            )));
        }
        if !types.iter().any(|x| x == t) {
            types.push(t.to_owned());
        }
    }
    Ok(types)
}

impl ExportRequest {
    /// Validates the parameters other than `app`; `accepts_csv` is whether
    /// the `Accept` header asks for CSV (used when there is no `format`).
    pub(crate) fn parse(app: AppId, p: &Params, accepts_csv: bool) -> Result<Self, QueryError> {
        let from = p.get("from").map(|s| parse_time("from", s)).transpose()?;
        let to = p.get("to").map(|s| parse_time("to", s)).transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(invalid(
                    "from: later than `to` (from is inclusive, to exclusive)",
                ));
            }
        }
        let types = p.get("types").map(parse_types).transpose()?;
        let conditions = match p.get("where") {
            None => Vec::new(),
            Some(w) => query::conditions(&query::parse_filters(w)?, "UTC")?,
        };
        let (format, format_from_accept) = match p.get("format") {
            Some("ndjson") => (Format::Ndjson, false),
            Some("csv") => (Format::Csv, false),
            Some(other) => {
                return Err(invalid(format!(
                    "format: `{}` is not ndjson or csv",
                    other.escape_debug()
                )))
            }
            None if accepts_csv => (Format::Csv, true),
            None => (Format::Ndjson, false),
        };
        let limit = match p.get("limit") {
            None => DEFAULT_LIMIT,
            Some(s) => match s.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(invalid(format!(
                        "limit: `{}` is not a page size from 1 to {MAX_LIMIT}",
                        s.escape_debug()
                    )))
                }
            },
        };
        let cursor = p
            .get("cursor")
            .map(|c| Position::decode(c, &app))
            .transpose()?;
        Ok(Self {
            app,
            from,
            to,
            types,
            conditions,
            format,
            format_from_accept,
            limit,
            cursor,
        })
    }

    /// The filter of the events from `cursor` (inclusive) to `end`
    /// (exclusive), within `from`/`to`, `types` and `where`. On `app_ts_id` its
    /// bounds are `app` and a `ts` range; the `_id` tie-breaks at both ends
    /// are residual conditions on keys the index scan already reads.
    pub(crate) fn filter(&self, end: Option<&Position>) -> Document {
        let mut f = doc! { "app": self.app.as_str() };
        if let Some(types) = &self.types {
            f.insert("type", doc! { "$in": types.clone() });
        }
        let mut ts = Document::new();
        let lower = match (self.from, &self.cursor) {
            (Some(a), Some(c)) => Some(a.max(c.ts_ms)),
            (a, c) => a.or(c.as_ref().map(|c| c.ts_ms)),
        };
        if let Some(l) = lower {
            ts.insert("$gte", date(l));
        }
        if let Some(t) = self.to {
            ts.insert("$lt", date(t));
        }
        if let Some(e) = end {
            ts.insert("$lte", date(e.ts_ms));
        }
        if !ts.is_empty() {
            f.insert("ts", ts);
        }
        let mut and = self.conditions.clone();
        if let Some(c) = &self.cursor {
            and.push(doc! { "$or": [ { "ts": { "$gt": date(c.ts_ms) } }, { "_id": { "$gte": &c.id } } ] });
        }
        if let Some(e) = end {
            and.push(
                doc! { "$or": [ { "ts": { "$lt": date(e.ts_ms) } }, { "_id": { "$lt": &e.id } } ] },
            );
        }
        if !and.is_empty() {
            f.insert("$and", and);
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_a_query_string() {
        assert_eq!(
            parse_time("from", "1795860000000").unwrap(),
            1_795_860_000_000
        );
        assert_eq!(
            parse_time("from", "2026-11-28T10:00:00Z").unwrap(),
            1_795_860_000_000
        );
        // An unencoded `+` arrives as a space.
        assert_eq!(
            parse_time("from", "2026-11-28T11:00:00 01:00").unwrap(),
            1_795_860_000_000
        );
        for bad in ["", "yesterday", "1795860000", "99999999999999999999", "-1"] {
            let e = parse_time("to", bad).unwrap_err().to_string();
            assert!(e.starts_with("to:"), "{bad}: {e}");
        }
    }
}
