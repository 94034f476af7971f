//! Dimension values, dimension maps and metric maps, each validated as it is parsed.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::limits::{MAX_ARRAY_ITEMS, MAX_DIMS_PER_EVENT, MAX_METRICS_PER_EVENT, MAX_STRING_BYTES};
use crate::names::{is_valid_name, NAME_RULE};

/// One item of a multi-valued dimension: a string or a finite number.
#[derive(Debug, Clone, PartialEq)]
pub enum ListItem {
    /// A string of at most [`MAX_STRING_BYTES`].
    Str(String),
    /// A whole number that fits `i64`.
    Int(i64),
    /// A finite floating-point number.
    Float(f64),
}

/// A dimension value: a string, a finite number, a bool, or an array of
/// strings or numbers (a multi-valued dimension).
#[derive(Debug, Clone, PartialEq)]
pub enum DimValue {
    /// A string of at most [`MAX_STRING_BYTES`].
    Str(String),
    /// A whole number that fits `i64`.
    Int(i64),
    /// A finite floating-point number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A multi-valued dimension, at most [`MAX_ARRAY_ITEMS`] items.
    List(Vec<ListItem>),
}

/// The kind of a dimension value, as the dimension catalog reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueKind {
    /// A string.
    String,
    /// A number.
    Number,
    /// A bool.
    Bool,
    /// An array (a multi-valued dimension).
    List,
}

impl ValueKind {
    /// The name used in the catalog and in docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Bool => "bool",
            Self::List => "list",
        }
    }
}

impl DimValue {
    /// A multi-valued dimension of strings.
    pub fn strings<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::List(items.into_iter().map(|s| ListItem::Str(s.into())).collect())
    }

    /// The kind of this value.
    pub fn kind(&self) -> ValueKind {
        match self {
            Self::Str(_) => ValueKind::String,
            Self::Int(_) | Self::Float(_) => ValueKind::Number,
            Self::Bool(_) => ValueKind::Bool,
            Self::List(_) => ValueKind::List,
        }
    }

    /// Checks the limits and finiteness of a value built in code.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Str(s) => check_str(s),
            Self::Float(f) => check_finite(*f),
            Self::Int(_) | Self::Bool(_) => Ok(()),
            Self::List(items) => {
                if items.len() > MAX_ARRAY_ITEMS {
                    return Err(too_many_items(items.len()));
                }
                items.iter().try_for_each(|i| match i {
                    ListItem::Str(s) => check_str(s),
                    ListItem::Float(f) => check_finite(*f),
                    ListItem::Int(_) => Ok(()),
                })
            }
        }
    }
}

fn check_str(s: &str) -> Result<(), String> {
    if s.len() > MAX_STRING_BYTES {
        Err(format!(
            "a string of {} bytes is longer than the limit of {MAX_STRING_BYTES} bytes",
            s.len()
        ))
    } else {
        Ok(())
    }
}

fn check_finite(f: f64) -> Result<(), String> {
    if f.is_finite() {
        Ok(())
    } else {
        Err("numbers must be finite".to_owned())
    }
}

fn too_many_items(n: usize) -> String {
    format!("an array of {n} items is longer than the limit of {MAX_ARRAY_ITEMS} items")
}

fn u64_to_number(v: u64) -> Result<i64, f64> {
    i64::try_from(v).map_err(|_| v as f64)
}

impl From<&str> for DimValue {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}
impl From<String> for DimValue {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}
impl From<bool> for DimValue {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}
impl From<i64> for DimValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<i32> for DimValue {
    fn from(v: i32) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<u32> for DimValue {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<&String> for DimValue {
    fn from(s: &String) -> Self {
        Self::Str(s.clone())
    }
}
impl From<f64> for DimValue {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl Serialize for ListItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Str(v) => s.serialize_str(v),
            Self::Int(v) => s.serialize_i64(*v),
            Self::Float(v) => s.serialize_f64(*v),
        }
    }
}

impl Serialize for DimValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Str(v) => s.serialize_str(v),
            Self::Int(v) => s.serialize_i64(*v),
            Self::Float(v) => s.serialize_f64(*v),
            Self::Bool(v) => s.serialize_bool(*v),
            Self::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
        }
    }
}

struct ListItemSeed;

impl<'de> Visitor<'de> for ListItemSeed {
    type Value = ListItem;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a finite number (arrays hold only strings and numbers)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ListItem, E> {
        check_str(v).map_err(E::custom)?;
        Ok(ListItem::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<ListItem, E> {
        check_str(&v).map_err(E::custom)?;
        Ok(ListItem::Str(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ListItem, E> {
        Ok(ListItem::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ListItem, E> {
        Ok(u64_to_number(v).map_or_else(ListItem::Float, ListItem::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ListItem, E> {
        check_finite(v).map_err(E::custom)?;
        Ok(ListItem::Float(v))
    }
}

impl<'de> Deserialize<'de> for ListItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListItemSeed)
    }
}

struct DimValueVisitor;

impl<'de> Visitor<'de> for DimValueVisitor {
    type Value = DimValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a finite number, a bool, or an array of strings or numbers")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<DimValue, E> {
        check_str(v).map_err(E::custom)?;
        Ok(DimValue::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<DimValue, E> {
        check_str(&v).map_err(E::custom)?;
        Ok(DimValue::Str(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<DimValue, E> {
        Ok(DimValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DimValue, E> {
        Ok(DimValue::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DimValue, E> {
        Ok(u64_to_number(v).map_or_else(DimValue::Float, DimValue::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DimValue, E> {
        check_finite(v).map_err(E::custom)?;
        Ok(DimValue::Float(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DimValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_ARRAY_ITEMS));
        while let Some(item) = seq.next_element::<ListItem>()? {
            if items.len() == MAX_ARRAY_ITEMS {
                return Err(de::Error::custom(too_many_items(MAX_ARRAY_ITEMS + 1)));
            }
            items.push(item);
        }
        Ok(DimValue::List(items))
    }
}

impl<'de> Deserialize<'de> for DimValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DimValueVisitor)
    }
}

fn check_name<E: de::Error>(what: &str, name: &str) -> Result<(), E> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(E::custom(format!(
            "invalid {what} name `{}`: names match {NAME_RULE} (no `$`, no `.`)",
            name.escape_debug()
        )))
    }
}

macro_rules! name_map {
    ($(#[$doc:meta])* $ty:ident, $val:ty, $what:literal, $limit:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $ty(Vec<(String, $val)>);

        impl $ty {
            /// An empty map.
            pub const fn new() -> Self {
                Self(Vec::new())
            }

            /// Sets `name` to `value`, replacing an earlier value of the same name.
            pub fn insert(&mut self, name: impl Into<String>, value: impl Into<$val>) {
                let name = name.into();
                let value = value.into();
                match self.0.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = value,
                    None => self.0.push((name, value)),
                }
            }

            /// Builder style: `Dims::new().with("route", "/users/{id}")`.
            #[must_use]
            pub fn with(mut self, name: impl Into<String>, value: impl Into<$val>) -> Self {
                self.insert(name, value);
                self
            }

            /// Removes `name`, returning its value.
            pub fn remove(&mut self, name: &str) -> Option<$val> {
                let i = self.0.iter().position(|(n, _)| n == name)?;
                Some(self.0.remove(i).1)
            }

            /// The value of `name`.
            pub fn get(&self, name: &str) -> Option<&$val> {
                self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }

            /// How many entries.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// No entries.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// Entries in insertion order.
            pub fn iter(&self) -> impl Iterator<Item = (&str, &$val)> {
                self.0.iter().map(|(n, v)| (n.as_str(), v))
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in &self.0 {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "an object of {}s", $what)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        let mut out: Vec<(String, $val)> = Vec::new();
                        while let Some(name) = map.next_key::<String>()? {
                            check_name::<A::Error>($what, &name)?;
                            if out.iter().any(|(n, _)| *n == name) {
                                return Err(de::Error::custom(format!(
                                    "{} `{name}` appears twice", $what
                                )));
                            }
                            if out.len() == $limit {
                                return Err(de::Error::custom(format!(
                                    "more than {} {}s", $limit, $what
                                )));
                            }
                            let value = map.next_value::<$val>()?;
                            out.push((name, value));
                        }
                        Ok($ty(out))
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

name_map!(
    /// Dimensions by name, in insertion order. Names follow [`NAME_RULE`];
    /// at most [`MAX_DIMS_PER_EVENT`] entries.
    Dims, DimValue, "dimension", MAX_DIMS_PER_EVENT
);

/// A finite metric value; deserializing rejects anything else.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct MetricValue(pub f64);

impl From<f64> for MetricValue {
    fn from(v: f64) -> Self {
        Self(v)
    }
}
impl From<i64> for MetricValue {
    fn from(v: i64) -> Self {
        Self(v as f64)
    }
}
impl From<i32> for MetricValue {
    fn from(v: i32) -> Self {
        Self(f64::from(v))
    }
}
impl From<u32> for MetricValue {
    fn from(v: u32) -> Self {
        Self(f64::from(v))
    }
}
impl From<usize> for MetricValue {
    fn from(v: usize) -> Self {
        Self(v as f64)
    }
}
impl From<u64> for MetricValue {
    fn from(v: u64) -> Self {
        Self(v as f64)
    }
}

impl Serialize for MetricValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for MetricValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MetricValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a finite number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MetricValue, E> {
                Ok(MetricValue(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MetricValue, E> {
                Ok(MetricValue(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MetricValue, E> {
                check_finite(v).map_err(E::custom)?;
                Ok(MetricValue(v))
            }
        }
        d.deserialize_any(V)
    }
}

name_map!(
    /// Metrics by name: finite numbers. Names follow [`NAME_RULE`]; at most
    /// [`MAX_METRICS_PER_EVENT`] entries.
    Metrics, MetricValue, "metric", MAX_METRICS_PER_EVENT
);

impl Dims {
    /// Checks names, values and the count of a map built in code.
    pub fn validate(&self) -> Result<(), String> {
        if self.len() > MAX_DIMS_PER_EVENT {
            return Err(format!("more than {MAX_DIMS_PER_EVENT} dimensions"));
        }
        for (name, value) in self.iter() {
            check_name::<serde::de::value::Error>("dimension", name).map_err(|e| e.to_string())?;
            value
                .validate()
                .map_err(|e| format!("dimension `{name}`: {e}"))?;
        }
        Ok(())
    }
}

impl Metrics {
    /// Checks names, values and the count of a map built in code.
    pub fn validate(&self) -> Result<(), String> {
        if self.len() > MAX_METRICS_PER_EVENT {
            return Err(format!("more than {MAX_METRICS_PER_EVENT} metrics"));
        }
        for (name, value) in self.iter() {
            check_name::<serde::de::value::Error>("metric", name).map_err(|e| e.to_string())?;
            check_finite(value.0).map_err(|e| format!("metric `{name}`: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(json: &str) -> Result<Dims, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn accepted_values() {
        let d = dims(
            r#"{"s":"x","i":-3,"u":18446744073709551615,"f":1.5,"b":true,
                "l":["a",1,2.5],"e":[],"_x":"","a-b":"y"}"#,
        )
        .unwrap();
        assert_eq!(d.get("s"), Some(&DimValue::Str("x".into())));
        assert_eq!(d.get("i"), Some(&DimValue::Int(-3)));
        assert_eq!(d.get("u"), Some(&DimValue::Float(18446744073709551615.0)));
        assert_eq!(d.get("f"), Some(&DimValue::Float(1.5)));
        assert_eq!(d.get("b"), Some(&DimValue::Bool(true)));
        assert_eq!(
            d.get("l"),
            Some(&DimValue::List(vec![
                ListItem::Str("a".into()),
                ListItem::Int(1),
                ListItem::Float(2.5)
            ]))
        );
        assert_eq!(d.get("e"), Some(&DimValue::List(vec![])));
        assert_eq!(d.len(), 9);
        let at_limit = format!(r#"{{"s":"{}","l":{:?}}}"#, "x".repeat(1024), vec![1; 64]);
        assert!(dims(&at_limit).is_ok());
    }

    #[test]
    fn rejected_values() {
        let long = "x".repeat(1025);
        let many: Vec<String> = (0..65).map(|i| format!(r#""d{i}":1"#)).collect();
        let cases: Vec<(String, &str)> = vec![
            (
                r#"{"$where":"1"}"#.into(),
                "invalid dimension name `$where`",
            ),
            (r#"{"a.b":"1"}"#.into(), "invalid dimension name `a.b`"),
            (r#"{"":"1"}"#.into(), "invalid dimension name ``"),
            (r#"{"1a":"1"}"#.into(), "invalid dimension name"),
            (r#"{"a":null}"#.into(), "invalid type: null"),
            (r#"{"a":{"b":1}}"#.into(), "invalid type: map"),
            (r#"{"a":[[1]]}"#.into(), "invalid type: sequence"),
            (r#"{"a":[true]}"#.into(), "invalid type: boolean"),
            (r#"{"a":[null]}"#.into(), "invalid type: null"),
            (r#"{"a":1e400}"#.into(), "number out of range"),
            (
                format!(r#"{{"a":"{long}"}}"#),
                "longer than the limit of 1024 bytes",
            ),
            (
                format!(r#"{{"a":["{long}"]}}"#),
                "longer than the limit of 1024 bytes",
            ),
            (
                format!(r#"{{"a":{:?}}}"#, vec![1; 65]),
                "longer than the limit of 64 items",
            ),
            (format!("{{{}}}", many.join(",")), "more than 64 dimensions"),
            (r#"{"a":1,"a":2}"#.into(), "dimension `a` appears twice"),
            (r#"["a"]"#.into(), "invalid type: sequence"),
            (r#""a""#.into(), "invalid type: string"),
        ];
        for (json, want) in cases {
            let err = dims(&json).expect_err(&json);
            assert!(err.contains(want), "{json}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn metrics_are_finite_numbers() {
        let m: Metrics =
            serde_json::from_str(r#"{"a":1,"b":-2.5,"c":18446744073709551615}"#).unwrap();
        assert_eq!(m.get("b"), Some(&MetricValue(-2.5)));
        for (json, want) in [
            (r#"{"a":"1"}"#, "invalid type: string"),
            (r#"{"a":true}"#, "invalid type: boolean"),
            (r#"{"a":null}"#, "invalid type: null"),
            (r#"{"a":[1]}"#, "invalid type: sequence"),
            (r#"{"a":1e999}"#, "number out of range"),
            (r#"{"a.b":1}"#, "invalid metric name `a.b`"),
            (r#"{"$inc":1}"#, "invalid metric name `$inc`"),
        ] {
            let err = serde_json::from_str::<Metrics>(json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{json}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn built_in_code_values_are_validated() {
        let mut d = Dims::new();
        d.insert("ok", "x");
        assert!(d.validate().is_ok());
        d.insert("f", f64::NAN);
        assert!(d.validate().unwrap_err().contains("finite"));
        d.remove("f");
        d.insert("a.b", 1i64);
        assert!(d.validate().unwrap_err().contains("invalid dimension name"));
        let mut m = Metrics::new();
        m.insert("x", f64::INFINITY);
        assert!(m.validate().unwrap_err().contains("finite"));
    }

    #[test]
    fn insert_replaces() {
        let mut d = Dims::new();
        d.insert("a", 1i64);
        d.insert("a", "two");
        assert_eq!(d.len(), 1);
        assert_eq!(d.get("a"), Some(&DimValue::Str("two".into())));
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"a":"two"}"#);
    }
}
