//! The body of `POST /v1/query`, typed: names, event types, operators,
//! intervals and measures are checked while the body is read, and each
//! error names the field at fault (`where[0].op: …`, `measures[1].fn: …`).

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use usagelens_protocol::names::{is_valid_name, is_valid_type, NAME_RULE, TYPE_RULE};
use usagelens_protocol::Timestamp;

use super::QueryError;
use crate::apps::AppId;

/// Most rows a query answers.
pub(crate) const MAX_LIMIT: u32 = 10_000;
/// Rows a query answers when it gives no `limit`.
pub(crate) const DEFAULT_LIMIT: u32 = 1000;

/// A dimension or metric name (`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`): never an
/// operator (`$…`) nor a path (`a.b`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(String);

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if is_valid_name(&s) {
            Ok(Self(s))
        } else {
            Err(format!(
                "`{}` is not a valid name: names match {NAME_RULE}",
                s.escape_debug()
            ))
        }
    }
}

impl Name {
    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event type (`^[a-z][a-z0-9_.-]{0,63}$`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct EventType(String);

impl TryFrom<String> for EventType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if is_valid_type(&s) {
            Ok(Self(s))
        } else {
            Err(format!(
                "`{}` is not a valid event type: types match {TYPE_RULE}",
                s.escape_debug()
            ))
        }
    }
}

impl EventType {
    /// The type.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Declares a string enum read from its lower-case name, with an error
/// that lists the names.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
        #[serde(try_from = "String")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The name as the API writes it.
            pub(crate) fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                match s.as_str() {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        concat!("`{}` is not ", $what, ": use {}"),
                        other.escape_debug(),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// A filter's operator.
    Op, "an operator", {
        /// Equal (a multi-valued dimension: holds the value).
        Eq = "eq",
        /// Not equal.
        Ne = "ne",
        /// One of an array of values.
        In = "in",
        /// None of an array of values.
        Nin = "nin",
        /// Greater than.
        Gt = "gt",
        /// Greater than or equal.
        Gte = "gte",
        /// Less than.
        Lt = "lt",
        /// Less than or equal.
        Lte = "lte",
        /// Present (`true`) or absent (`false`).
        Exists = "exists",
        /// A multi-valued dimension holds the value (the same as `eq`).
        Contains = "contains",
    }
);

string_enum!(
    /// The width of a time bucket.
    Interval, "an interval", {
        /// A minute.
        Minute = "minute",
        /// An hour.
        Hour = "hour",
        /// A day.
        Day = "day",
        /// A week from Monday.
        Week = "week",
        /// A calendar month.
        Month = "month",
    }
);

string_enum!(
    /// A function of a metric.
    Func, "a function", {
        /// How many events have the metric.
        Count = "count",
        /// The sum.
        Sum = "sum",
        /// The mean.
        Avg = "avg",
        /// The least value.
        Min = "min",
        /// The greatest value.
        Max = "max",
        /// The median.
        P50 = "p50",
        /// The 75th percentile.
        P75 = "p75",
        /// The 90th percentile.
        P90 = "p90",
        /// The 95th percentile.
        P95 = "p95",
        /// The 99th percentile.
        P99 = "p99",
    }
);

string_enum!(
    /// Which data answers a query.
    PlanChoice, "a plan", {
        /// A rollup where one covers the query, else the raw events.
        Auto = "auto",
        /// The raw events (exact).
        Raw = "raw",
    }
);

impl Func {
    /// The fraction of a percentile function, `None` for the others.
    pub(crate) fn percentile(self) -> Option<f64> {
        Some(match self {
            Self::P50 => 0.5,
            Self::P75 => 0.75,
            Self::P90 => 0.9,
            Self::P95 => 0.95,
            Self::P99 => 0.99,
            Self::Count | Self::Sum | Self::Avg | Self::Min | Self::Max => return None,
        })
    }
}

/// A measure: `"count"`, `"users"`, `"sessions"`, `"first_seen"`,
/// `"last_seen"`, or `{"fn", "of"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// Events.
    Count,
    /// Distinct users (`user`, else `anon`).
    Users,
    /// Distinct sessions.
    Sessions,
    /// The time of the group's first event.
    FirstSeen,
    /// The time of the group's last event.
    LastSeen,
    /// A function of a metric.
    Of {
        /// The function.
        func: Func,
        /// The metric.
        of: Name,
    },
}

impl Measure {
    /// The answer's column: `count`, `users`, `sessions`, `<fn>_<metric>`.
    pub(crate) fn column(&self) -> String {
        match self {
            Self::Count => "count".into(),
            Self::Users => "users".into(),
            Self::Sessions => "sessions".into(),
            Self::FirstSeen => "first_seen".into(),
            Self::LastSeen => "last_seen".into(),
            Self::Of { func, of } => format!("{func}_{of}"),
        }
    }
}

impl<'de> Deserialize<'de> for Measure {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MeasureVisitor;
        impl<'de> Visitor<'de> for MeasureVisitor {
            type Value = Measure;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#"count, users, sessions, first_seen, last_seen, or {"fn": …, "of": metric}"#,
                )
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Measure, E> {
                match s {
                    "count" => Ok(Measure::Count),
                    "users" => Ok(Measure::Users),
                    "sessions" => Ok(Measure::Sessions),
                    "first_seen" => Ok(Measure::FirstSeen),
                    "last_seen" => Ok(Measure::LastSeen),
                    other => Err(E::custom(format!(
                        r#"`{}` is not a measure: use count, users, sessions, first_seen, last_seen, or {{"fn": …, "of": metric}}"#,
                        other.escape_debug()
                    ))),
                }
            }

            // Reads the fields one by one, so an error names `fn` or `of`.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Measure, A::Error> {
                let (mut func, mut of) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "fn" if func.is_none() => func = Some(map.next_value::<Func>()?),
                        "of" if of.is_none() => of = Some(map.next_value::<Name>()?),
                        "fn" | "of" => return Err(de::Error::duplicate_field("fn or of")),
                        other => return Err(de::Error::unknown_field(other, &["fn", "of"])),
                    }
                }
                Ok(Measure::Of {
                    func: func.ok_or_else(|| de::Error::missing_field("fn"))?,
                    of: of.ok_or_else(|| de::Error::missing_field("of"))?,
                })
            }
        }
        d.deserialize_any(MeasureVisitor)
    }
}

/// A filter on a dimension or a metric.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// A dimension name (or `metric`).
    #[serde(default)]
    pub dim: Option<Name>,
    /// A metric name (or `dim`).
    #[serde(default)]
    pub metric: Option<Name>,
    /// The operator.
    pub op: Op,
    /// The operand (`exists`: a bool; `in`/`nin`: an array; else a scalar).
    #[serde(default)]
    pub value: serde_json::Value,
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
    #[serde(deserialize_with = "app_id")]
    pub(crate) app: AppId,
    /// Event types (all when absent).
    #[serde(default, deserialize_with = "event_types")]
    pub types: Option<Vec<EventType>>,
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
    pub group_by: Vec<Name>,
    /// Time buckets.
    #[serde(default)]
    pub interval: Option<Interval>,
    /// Time zone of the interval buckets (IANA name), default UTC.
    #[serde(default)]
    pub tz: Option<String>,
    /// Measures, default `["count"]`.
    #[serde(default)]
    pub measures: Vec<Measure>,
    /// Ordering.
    #[serde(default)]
    pub order_by: Vec<Order>,
    /// Most rows, default 1000, at most 10,000.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Answer with the pipeline too.
    #[serde(default)]
    pub explain: bool,
    /// `raw` forces the exact answer from the raw events; default `auto`.
    #[serde(default)]
    pub plan: Option<PlanChoice>,
}

/// The types, each checked; an error names the field `types` (as the
/// export's `types` parameter does), not the index.
fn event_types<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<EventType>>, D::Error> {
    let types: Option<Vec<String>> = Option::deserialize(d)?;
    types
        .map(|list| {
            list.into_iter()
                .map(|t| EventType::try_from(t).map_err(de::Error::custom))
                .collect()
        })
        .transpose()
}

pub(crate) fn app_id<'de, D: Deserializer<'de>>(d: D) -> Result<AppId, D::Error> {
    let s = String::deserialize(d)?;
    AppId::parse(&s).map_err(|e| de::Error::custom(e.trim_start_matches("app: ")))
}

impl QueryRequest {
    /// The app the query reads.
    pub(crate) fn app(&self) -> &AppId {
        &self.app
    }
}

/// The request body, with the field at fault named in the error
/// (`from: …`, `measures[1].fn: …`), as serde alone does not say where.
pub(crate) fn parse_request(body: &[u8]) -> Result<QueryRequest, QueryError> {
    parse_json(body, "", "the body is not a valid query")
}

/// Most filters in a `where` given outside a query body (the export's).
pub(crate) const MAX_FILTERS: usize = 32;

/// A `where` list given as JSON text (the raw export's `where` parameter):
/// the query API's filters, with errors naming `where[i]…` as in a query.
pub(crate) fn parse_filters(text: &str) -> Result<Vec<Filter>, QueryError> {
    let filters: Vec<Filter> = parse_json(
        text.as_bytes(),
        "where",
        r#"where: give a JSON array of filters as in /v1/query, e.g. [{"dim":"user","op":"eq","value":"u-1"}]"#,
    )?;
    if filters.len() > MAX_FILTERS {
        return Err(QueryError::Invalid(format!(
            "where: at most {MAX_FILTERS} filters"
        )));
    }
    Ok(filters)
}

/// `T` from JSON, the error prefixed with `field` and the path inside it;
/// `whole` when the text itself is not what was asked for.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    text: &[u8],
    field: &str,
    whole: &str,
) -> Result<T, QueryError> {
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // A value's error already names its field; the position helps only
        // to find a syntax error.
        let inner = if inner.is_data() {
            let text = inner.to_string();
            let suffix = format!(" at line {} column {}", inner.line(), inner.column());
            text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
        } else {
            inner.to_string()
        };
        if path.is_empty() || path == "." {
            QueryError::Invalid(format!("{whole}: {inner}"))
        } else if field.is_empty() {
            QueryError::Invalid(format!("{path}: {inner}"))
        } else {
            QueryError::Invalid(format!("{field}{path}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(body: &str) -> String {
        parse_request(body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn each_error_names_its_field() {
        for (body, start) in [
            (r#"{"app": "Demo"}"#, "app: invalid app `Demo`"),
            (
                r#"{"app": "d", "types": ["ok", "$where"]}"#,
                "types: `$where` is not a valid event type",
            ),
            (
                r#"{"app": "d", "group_by": ["a.b"]}"#,
                "group_by[0]: `a.b` is not a valid name",
            ),
            (
                r#"{"app": "d", "where": [{"dim": "a", "op": "$regex"}]}"#,
                "where[0].op: `$regex` is not an operator: use eq, ne,",
            ),
            (
                r#"{"app": "d", "interval": "fortnight"}"#,
                "interval: `fortnight` is not an interval: use minute, hour, day, week, month",
            ),
            (
                r#"{"app": "d", "measures": ["count", {"fn": "p42", "of": "x"}]}"#,
                "measures[1].fn: `p42` is not a function: use count, sum, avg,",
            ),
            (
                r#"{"app": "d", "measures": [{"fn": "sum", "of": "$x"}]}"#,
                "measures[0].of: `$x` is not a valid name",
            ),
            (
                r#"{"app": "d", "measures": [{"fn": "sum"}]}"#,
                "measures[0]: missing field `of`",
            ),
            (
                r#"{"app": "d", "measures": [{"fn": "sum", "of": "x", "as": "y"}]}"#,
                "measures[0]: unknown field `as`",
            ),
            (
                r#"{"app": "d", "measures": ["all"]}"#,
                "measures[0]: `all` is not a measure",
            ),
            (
                r#"{"app": "d", "measures": [7]}"#,
                "measures[0]: invalid type: integer",
            ),
            (
                r#"{"app": "d", "limit": "#,
                "limit: EOF while parsing a value at line 1 column",
            ),
        ] {
            let e = error(body);
            assert!(e.starts_with(start), "{body}: {e}");
            assert!(
                e.contains("EOF") || !e.contains(" at line "),
                "a value's error names its field, not a position: {e}"
            );
        }
    }

    #[test]
    fn typed_measures() {
        let q = parse_request(
            br#"{"app": "d", "measures": ["count", "users", "sessions", {"of": "ms", "fn": "p95"}]}"#,
        )
        .unwrap();
        assert_eq!(
            q.measures.iter().map(Measure::column).collect::<Vec<_>>(),
            ["count", "users", "sessions", "p95_ms"]
        );
        assert_eq!(Func::P95.percentile(), Some(0.95));
        assert_eq!(Func::Avg.percentile(), None);
    }
}
