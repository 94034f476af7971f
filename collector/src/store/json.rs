//! The one conversion between stored BSON and the JSON the API answers
//! with, so every surface writes a value the same way:
//!
//! | BSON | JSON |
//! |---|---|
//! | string, bool | the same |
//! | int32, int64 | an integer |
//! | double | a number; NaN and ±∞ as `null` (JSON has none) |
//! | null, undefined, missing | `null` |
//! | date | RFC 3339 in UTC with milliseconds, `2026-11-28T10:00:00.000Z` |
//! | array, document | an array, an object, recursively |
//! | anything else (ObjectId, Decimal128, …) | relaxed Extended JSON |
//!
//! And the other way, for the scalar operands of filters: a JSON string,
//! bool or number becomes the BSON of the same kind (integers as int64).

use mongodb::bson::raw::{RawArray, RawBsonRef, RawDocument};
use mongodb::bson::{Bson, DateTime};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use usagelens_protocol::Timestamp;

/// A stored value, serialized as the API's JSON (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Json<'a>(pub(crate) RawBsonRef<'a>);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            RawBsonRef::String(v) => s.serialize_str(v),
            RawBsonRef::Boolean(b) => s.serialize_bool(b),
            RawBsonRef::Int32(i) => s.serialize_i32(i),
            RawBsonRef::Int64(i) => s.serialize_i64(i),
            RawBsonRef::Double(f) if f.is_finite() => s.serialize_f64(f),
            RawBsonRef::Double(_) | RawBsonRef::Null | RawBsonRef::Undefined => s.serialize_none(),
            RawBsonRef::DateTime(d) => s.serialize_str(&rfc3339(d.timestamp_millis())),
            RawBsonRef::Array(a) => JsonArray(a).serialize(s),
            RawBsonRef::Document(d) => JsonDocument(d).serialize(s),
            other => {
                let b = Bson::try_from(other.to_raw_bson()).map_err(S::Error::custom)?;
                b.into_relaxed_extjson().serialize(s)
            }
        }
    }
}

struct JsonArray<'a>(&'a RawArray);

impl Serialize for JsonArray<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for v in self.0 {
            seq.serialize_element(&Json(v.map_err(S::Error::custom)?))?;
        }
        seq.end()
    }
}

/// A stored document as a JSON object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonDocument<'a>(pub(crate) &'a RawDocument);

impl Serialize for JsonDocument<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for kv in self.0 {
            let (k, v) = kv.map_err(S::Error::custom)?;
            map.serialize_entry(k, &Json(v))?;
        }
        map.end()
    }
}

/// A stored value as a `serde_json::Value`; a missing value is `null`.
pub(crate) fn to_value(v: Option<RawBsonRef<'_>>) -> serde_json::Value {
    match v {
        None => serde_json::Value::Null,
        // Only a corrupt document fails here; its value reads as null.
        Some(v) => serde_json::to_value(Json(v)).unwrap_or(serde_json::Value::Null),
    }
}

/// Epoch milliseconds as the API writes a time: RFC 3339, UTC, milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    Timestamp::from_millis(ms).to_rfc3339()
}

/// Epoch milliseconds as a BSON date.
pub(crate) fn date(ms: i64) -> Bson {
    Bson::DateTime(DateTime::from_millis(ms))
}

/// A JSON scalar (string, bool, number) as BSON; `None` for null, arrays
/// and objects, which are never operands (so a client's `{"$ne": …}`
/// cannot become an operator).
pub(crate) fn scalar(v: &serde_json::Value) -> Option<Bson> {
    match v {
        serde_json::Value::String(s) => Some(Bson::String(s.clone())),
        serde_json::Value::Bool(b) => Some(Bson::Boolean(*b)),
        serde_json::Value::Number(n) => Some(
            n.as_i64()
                .map(Bson::Int64)
                .or_else(|| n.as_f64().map(Bson::Double))
                .unwrap_or(Bson::Null),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{doc, oid::ObjectId, RawDocumentBuf};
    use serde_json::json;

    #[test]
    fn every_kind_as_the_api_writes_it() {
        let oid = ObjectId::parse_str("0123456789abcdef01234567").unwrap();
        let d = doc! {
            "s": "x", "b": true, "i": 3_i32, "l": 4_i64, "f": 1.5, "nan": f64::NAN,
            "inf": f64::INFINITY, "n": Bson::Null,
            "t": DateTime::from_millis(1_795_860_000_123),
            "a": [1_i32, "two", [3.5]], "o": { "k": "v" }, "oid": oid,
        };
        let raw = RawDocumentBuf::from_document(&d).unwrap();
        assert_eq!(
            serde_json::to_value(JsonDocument(&raw)).unwrap(),
            json!({
                "s": "x", "b": true, "i": 3, "l": 4, "f": 1.5, "nan": null, "inf": null, "n": null,
                "t": "2026-11-28T10:00:00.123Z", "a": [1, "two", [3.5]], "o": {"k": "v"},
                "oid": {"$oid": "0123456789abcdef01234567"},
            })
        );
        assert_eq!(
            to_value(raw.get("t").unwrap()),
            json!("2026-11-28T10:00:00.123Z")
        );
        assert_eq!(to_value(raw.get("missing").unwrap()), json!(null));
        assert_eq!(rfc3339(1_795_860_000_000), "2026-11-28T10:00:00.000Z");
    }

    #[test]
    fn only_scalars_become_operands() {
        assert_eq!(scalar(&json!("a")), Some(Bson::String("a".into())));
        assert_eq!(scalar(&json!(7)), Some(Bson::Int64(7)));
        assert_eq!(scalar(&json!(0.5)), Some(Bson::Double(0.5)));
        assert_eq!(scalar(&json!(false)), Some(Bson::Boolean(false)));
        for v in [json!(null), json!([1]), json!({"$ne": null})] {
            assert_eq!(scalar(&v), None, "{v}");
        }
    }
}
