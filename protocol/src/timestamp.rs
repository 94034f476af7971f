//! [`Timestamp`]: milliseconds since the Unix epoch, read from an RFC 3339
//! string or a JSON number, written as RFC 3339 with milliseconds.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Earliest accepted timestamp: 2000-01-01T00:00:00Z.
pub const MIN_MILLIS: i64 = 946_684_800_000;
/// Latest accepted timestamp: 2200-01-01T00:00:00Z.
pub const MAX_MILLIS: i64 = 7_258_118_400_000;

/// A point in time with millisecond precision (UTC).
///
/// ```
/// use usagelens_protocol::Timestamp;
/// let a: Timestamp = serde_json::from_str(r#""2026-11-28T10:00:00.000Z""#).unwrap();
/// let b: Timestamp = serde_json::from_str("1795860000000").unwrap();
/// assert_eq!(a, b);
/// assert_eq!(serde_json::to_string(&a).unwrap(), r#""2026-11-28T10:00:00.000Z""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (`2026-11-28T10:00:00.000Z`, any offset).
    pub fn parse_rfc3339(s: &str) -> Result<Self, String> {
        let dt = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|e| format!("`{s}` is not an RFC 3339 timestamp ({e})"))?;
        let ms = dt.unix_timestamp_nanos() / 1_000_000;
        Self::checked(ms as i64)
    }

    fn checked(ms: i64) -> Result<Self, String> {
        if (MIN_MILLIS..=MAX_MILLIS).contains(&ms) {
            Ok(Self(ms))
        } else {
            Err(format!(
                "timestamp {ms} ms is outside the accepted range (years 2000 to 2200; epoch timestamps are in milliseconds)"
            ))
        }
    }

    /// RFC 3339 with milliseconds, in UTC.
    pub fn to_rfc3339(self) -> String {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let date = dt.date();
        let t = dt.time();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            date.year(),
            u8::from(date.month()),
            date.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp or epoch milliseconds")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(s).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Timestamp::checked(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                Timestamp::checked(i64::try_from(v).unwrap_or(i64::MAX)).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Timestamp::checked(v as i64).map_err(E::custom)
                } else {
                    Err(E::custom(format!(
                        "timestamp {v} is not a whole number of epoch milliseconds"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Timestamp, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn accepted_forms() {
        let want = Timestamp::from_millis(1_795_860_000_000);
        for json in [
            r#""2026-11-28T10:00:00Z""#,
            r#""2026-11-28T10:00:00.000Z""#,
            r#""2026-11-28T11:00:00+01:00""#,
            r#""2026-11-28T10:00:00.000000Z""#,
            "1795860000000",
            "1795860000000.0",
        ] {
            assert_eq!(parse(json), Ok(want), "{json}");
        }
    }

    #[test]
    fn rejected_forms() {
        for json in [
            r#""yesterday""#,
            r#""2026-11-28""#,
            r#""2026-11-28 10:00:00""#,
            "1795860000", // seconds, not milliseconds: year 1970
            "-1",
            "1795860000000.5",
            "1e300",
            "true",
            "null",
            "[]",
            r#""1999-12-31T23:59:59Z""#,
        ] {
            assert!(parse(json).is_err(), "{json} should be rejected");
        }
    }

    #[test]
    fn round_trips_with_millis() {
        let t = Timestamp::from_millis(1_795_860_000_123);
        assert_eq!(t.to_rfc3339(), "2026-11-28T10:00:00.123Z");
        assert_eq!(parse(&serde_json::to_string(&t).unwrap()), Ok(t));
    }
}
