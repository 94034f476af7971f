//! Allocation-free event fields for the hot path: names and string values
//! borrowed when `'static`, up to four dimensions and two metrics inline.
//! The worker turns them into protocol [`Dims`]/[`Metrics`] off the host's thread.

use std::borrow::Cow;

use smallvec::SmallVec;
use usagelens_protocol::{DimValue, Dims, Metrics};

/// A dimension value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string; borrowed when `'static`.
    Str(Cow<'static, str>),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// A bool.
    Bool(bool),
    /// Any protocol value (a multi-valued dimension, for one); boxed to keep
    /// the common variants small.
    Dim(Box<DimValue>),
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Self::Str(Cow::Borrowed(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Str(Cow::Owned(v))
    }
}
impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Self {
        Self::Str(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<u16> for Value {
    fn from(v: u16) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<DimValue> for Value {
    fn from(v: DimValue) -> Self {
        Self::Dim(Box::new(v))
    }
}

impl Value {
    fn into_dim(self) -> DimValue {
        match self {
            Self::Str(s) => DimValue::Str(s.into_owned()),
            Self::Int(i) => DimValue::Int(i),
            Self::Float(f) => DimValue::Float(f),
            Self::Bool(b) => DimValue::Bool(b),
            Self::Dim(d) => *d,
        }
    }
}

/// Dimensions of one event; the first four need no allocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs(SmallVec<[(Cow<'static, str>, Value); 4]>);

impl Attrs {
    /// No dimensions.
    pub fn new() -> Self {
        Self(SmallVec::new())
    }

    /// Adds a dimension (builder style).
    #[must_use]
    pub fn with(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.0.push((name.into(), value.into()));
        self
    }

    /// Adds a dimension.
    pub fn push(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.0.push((name.into(), value.into()));
    }

    pub(crate) fn into_dims(self) -> Dims {
        let mut d = Dims::new();
        for (k, v) in self.0 {
            d.insert(k.into_owned(), v.into_dim());
        }
        d
    }
}

impl From<Dims> for Attrs {
    fn from(d: Dims) -> Self {
        Self(
            d.iter()
                .map(|(k, v)| (Cow::Owned(k.to_owned()), Value::Dim(Box::new(v.clone()))))
                .collect(),
        )
    }
}

/// Metrics of one event; the first two need no allocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measures(SmallVec<[(Cow<'static, str>, f64); 2]>);

impl Measures {
    /// No metrics.
    pub fn new() -> Self {
        Self(SmallVec::new())
    }

    /// Adds a metric (builder style).
    #[must_use]
    pub fn with(mut self, name: impl Into<Cow<'static, str>>, value: f64) -> Self {
        self.0.push((name.into(), value));
        self
    }

    /// Adds a metric.
    pub fn push(&mut self, name: impl Into<Cow<'static, str>>, value: f64) {
        self.0.push((name.into(), value));
    }

    pub(crate) fn into_metrics(self) -> Metrics {
        let mut m = Metrics::new();
        for (k, v) in self.0 {
            m.insert(k.into_owned(), v);
        }
        m
    }
}

impl From<Metrics> for Measures {
    fn from(m: Metrics) -> Self {
        Self(
            m.iter()
                .map(|(k, v)| (Cow::Owned(k.to_owned()), v.0))
                .collect(),
        )
    }
}
