//! The partial state of one group of events: what a rollup document
//! stores, what the raw tail of a query computes, and what the planner
//! merges — counts, sums, min/max and first/last exactly; distinct users
//! and sessions as HyperLogLog (Apache DataSketches' byte format, lg k =
//! [`HLL_LG_K`]); each metric's values as a DDSketch (relative error
//! [`DD_ALPHA`], DataDog's byte format).
//!
//! Both sides come from the same two pipelines ([`pipelines`]): one
//! groups the events by the keys (each multi-valued dimension unwound to
//! its distinct values, as the raw engine does) into counts and the users'
//! and sessions' values; the other unwinds each event's metrics
//! (`$objectToArray`) and groups by the keys and the metric name into the
//! metric's count, sum, min, max and values.

use std::collections::BTreeMap;

use datasketches::hll::{HllSketch, HllType, HllUnion};
use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use sketches_ddsketch::{Config, DDSketch};

/// HyperLogLog's lg k: 4096 registers, a relative standard error of
/// 1.04/√4096 ≈ 1.6% once past its exact small-set modes.
pub(crate) const HLL_LG_K: u8 = 12;
/// DDSketch's relative accuracy: every percentile within 1% of a value of
/// the data at that rank.
pub(crate) const DD_ALPHA: f64 = 0.01;
const DD_MAX_BINS: u32 = 2048;
const DD_MIN_VALUE: f64 = 1e-9;

fn dd_config() -> Config {
    Config::new(DD_ALPHA, DD_MAX_BINS, DD_MIN_VALUE)
}

/// One metric's partial state.
#[derive(Clone)]
pub(crate) struct MetricPart {
    pub(crate) n: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) sketch: DDSketch,
}

impl std::fmt::Debug for MetricPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricPart")
            .field("n", &self.n)
            .field("sum", &self.sum)
            .finish_non_exhaustive()
    }
}

impl MetricPart {
    pub(crate) fn empty() -> Self {
        Self {
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketch: DDSketch::new(dd_config()),
        }
    }

    /// Adds one value (a non-finite one counts but has no rank).
    pub(crate) fn add(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        if x.is_finite() {
            self.sketch.add(x);
        }
    }

    fn merge(&mut self, o: &MetricPart) {
        self.n += o.n;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        // Same configuration on both sides: cannot fail.
        let _ = self.sketch.merge(&o.sketch);
    }

    /// The value of `p` (0–1), `None` without values.
    pub(crate) fn quantile(&self, p: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        self.sketch
            .quantile(p)
            .ok()
            .flatten()
            // The sketch's value is within α of the true one; never outside the data.
            .map(|v| v.clamp(self.min, self.max))
    }
}

/// A group's partial state.
#[derive(Debug, Default)]
pub(crate) struct Partial {
    pub(crate) n: u64,
    pub(crate) first: Option<i64>,
    pub(crate) last: Option<i64>,
    pub(crate) users: Option<HllUnion>,
    pub(crate) sessions: Option<HllUnion>,
    pub(crate) metrics: BTreeMap<String, MetricPart>,
}

fn new_union() -> HllUnion {
    HllUnion::new(HLL_LG_K).expect("a valid lg k")
}

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })
}

fn bytes_of(b: Option<&Bson>) -> Option<&[u8]> {
    match b {
        Some(Bson::Binary(b)) => Some(&b.bytes),
        _ => None,
    }
}

/// A number of a document as f64 (the server may answer int or double).
pub(crate) fn num(d: &Document, k: &str) -> Option<f64> {
    match d.get(k)? {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(f) => Some(*f),
        _ => None,
    }
}

fn date_ms(d: &Document, k: &str) -> Option<i64> {
    d.get_datetime(k).ok().map(|t| t.timestamp_millis())
}

/// The users' or sessions' values of a group as a sketch.
fn sketch_of_values(values: Option<&Bson>) -> HllSketch {
    let mut s = HllSketch::new(HLL_LG_K, HllType::Hll8).expect("a valid lg k");
    if let Some(Bson::Array(vs)) = values {
        for v in vs {
            match v {
                Bson::String(x) => s.update(x.as_str()),
                Bson::Null => {}
                // Ids are strings; anything else still counts, by its text.
                other => s.update(other.to_string().as_str()),
            }
        }
    }
    s
}

impl Partial {
    /// Merges `o` into this one.
    pub(crate) fn merge(&mut self, o: Partial) {
        self.n += o.n;
        self.first = match (self.first, o.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, o.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (mine, theirs) in [(&mut self.users, o.users), (&mut self.sessions, o.sessions)] {
            if let Some(t) = theirs {
                match mine {
                    Some(m) => m.update(&t.to_sketch(HllType::Hll8)),
                    None => *mine = Some(t),
                }
            }
        }
        for (k, m) in o.metrics {
            match self.metrics.get_mut(&k) {
                Some(mine) => mine.merge(&m),
                None => {
                    self.metrics.insert(k, m);
                }
            }
        }
    }

    /// The state of a group built from its events (the builder's side).
    pub(crate) fn from_sketches(
        n: u64,
        first: i64,
        last: i64,
        users: &HllSketch,
        sessions: &HllSketch,
        metrics: BTreeMap<String, MetricPart>,
    ) -> Self {
        let union = |s: &HllSketch| {
            let mut u = new_union();
            u.update(s);
            Some(u)
        };
        Partial {
            n,
            first: Some(first),
            last: Some(last),
            users: union(users),
            sessions: union(sessions),
            metrics,
        }
    }

    /// An empty users' or sessions' sketch (the builder's side).
    pub(crate) fn new_sketch() -> HllSketch {
        HllSketch::new(HLL_LG_K, HllType::Hll8).expect("a valid lg k")
    }

    /// The partial state of a row of the counts pipeline.
    pub(crate) fn from_counts(row: &Document) -> Self {
        let mut p = Partial {
            n: num(row, "n").unwrap_or(0.0) as u64,
            first: date_ms(row, "first"),
            last: date_ms(row, "last"),
            ..Partial::default()
        };
        for (key, slot) in [("u", &mut p.users), ("s", &mut p.sessions)] {
            if row.contains_key(key) {
                let mut u = new_union();
                u.update(&sketch_of_values(row.get(key)));
                *slot = Some(u);
            }
        }
        p
    }

    /// The partial state of a row of the metrics pipeline (one metric).
    pub(crate) fn add_metric_row(&mut self, name: String, row: &Document) {
        let mut m = MetricPart::empty();
        m.n = num(row, "n").unwrap_or(0.0) as u64;
        m.sum = num(row, "s").unwrap_or(0.0);
        m.min = num(row, "lo").unwrap_or(f64::INFINITY);
        m.max = num(row, "hi").unwrap_or(f64::NEG_INFINITY);
        if let Ok(vs) = row.get_array("v") {
            for v in vs {
                let x = match v {
                    Bson::Int32(n) => f64::from(*n),
                    Bson::Int64(n) => *n as f64,
                    Bson::Double(f) if f.is_finite() => *f,
                    _ => continue,
                };
                m.sketch.add(x);
            }
        }
        match self.metrics.get_mut(&name) {
            Some(mine) => mine.merge(&m),
            None => {
                self.metrics.insert(name, m);
            }
        }
    }

    /// The fields of a rollup document holding this state.
    pub(crate) fn to_fields(&self, doc: &mut Document) {
        doc.insert("n", self.n as i64);
        if let Some(f) = self.first {
            doc.insert("first", mongodb::bson::DateTime::from_millis(f));
        }
        if let Some(l) = self.last {
            doc.insert("last", mongodb::bson::DateTime::from_millis(l));
        }
        if let Some(u) = &self.users {
            doc.insert("u", binary(u.to_sketch(HllType::Hll8).serialize()));
        }
        if let Some(s) = &self.sessions {
            doc.insert("s", binary(s.to_sketch(HllType::Hll8).serialize()));
        }
        let mut m = Document::new();
        for (k, p) in &self.metrics {
            let mut e = doc! { "n": p.n as i64, "s": p.sum, "q": binary(p.sketch.to_java_bytes()) };
            if p.n > 0 {
                e.insert("lo", p.min);
                e.insert("hi", p.max);
            }
            m.insert(k, e);
        }
        if !m.is_empty() {
            doc.insert("m", m);
        }
    }

    /// The state a rollup document holds; a sketch that does not decode
    /// (a corrupt document) is an error, never a silently wrong answer.
    pub(crate) fn from_fields(doc: &Document) -> Result<Self, String> {
        let mut p = Partial {
            n: num(doc, "n").unwrap_or(0.0) as u64,
            first: date_ms(doc, "first"),
            last: date_ms(doc, "last"),
            ..Partial::default()
        };
        for (key, slot) in [("u", &mut p.users), ("s", &mut p.sessions)] {
            if let Some(b) = bytes_of(doc.get(key)) {
                let s = HllSketch::deserialize(b)
                    .map_err(|e| format!("a rollup document's `{key}` sketch: {e}"))?;
                let mut u = new_union();
                u.update(&s);
                *slot = Some(u);
            }
        }
        if let Ok(m) = doc.get_document("m") {
            for (k, e) in m {
                let Bson::Document(e) = e else { continue };
                let sketch = match bytes_of(e.get("q")) {
                    Some(b) => DDSketch::from_java_bytes(b)
                        .map_err(|e| format!("a rollup document's `{k}` sketch: {e:?}"))?,
                    None => DDSketch::new(dd_config()),
                };
                // Decoded sketches carry the stored mapping; re-add into our
                // configuration only if it differs (it does not today).
                p.metrics.insert(
                    k.clone(),
                    MetricPart {
                        n: num(e, "n").unwrap_or(0.0) as u64,
                        sum: num(e, "s").unwrap_or(0.0),
                        min: num(e, "lo").unwrap_or(f64::INFINITY),
                        max: num(e, "hi").unwrap_or(f64::NEG_INFINITY),
                        sketch,
                    },
                );
            }
        }
        Ok(p)
    }

    /// Distinct users (estimated; exact in the sketch's small-set modes).
    pub(crate) fn users(&self) -> u64 {
        self.users
            .as_ref()
            .map_or(0, |u| u.estimate().round() as u64)
    }

    /// Distinct sessions.
    pub(crate) fn sessions(&self) -> u64 {
        self.sessions
            .as_ref()
            .map_or(0, |u| u.estimate().round() as u64)
    }
}

/// One grouping key of the pipelines: its output name and the path of the
/// dimension (`type` or `dims.<name>`), unwound to its distinct values.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) out: String,
    pub(crate) path: String,
}

/// What the pipelines compute besides the counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wants {
    pub(crate) users: bool,
    pub(crate) sessions: bool,
    /// `None`: every metric; `Some([])`: none.
    pub(crate) metrics: Option<Vec<String>>,
    /// Note per key whether any event held an array (`mv<i>`).
    pub(crate) arrays: bool,
    /// Collect each metric's values (for its DDSketch).
    pub(crate) values: bool,
}

/// The counts pipeline and, when metrics are wanted, the metrics pipeline,
/// over the events `filter` selects, grouped by `keys` and `bucket` (an
/// expression of `$ts`, or none).
pub(crate) fn pipelines(
    filter: Document,
    keys: &[Key],
    bucket: Option<Bson>,
    wants: &Wants,
) -> (Vec<Document>, Option<Vec<Document>>) {
    let mut head = vec![doc! { "$match": filter }];
    let mut id = Document::new();
    for (i, k) in keys.iter().enumerate() {
        let path = format!("${}", k.path);
        if wants.arrays {
            head.push(doc! { "$addFields": { format!("mv{i}"): { "$isArray": &path } } });
        }
        head.push(doc! { "$addFields": { &k.out: { "$cond": [ { "$isArray": &path }, { "$setUnion": [ &path ] }, &path ] } } });
        head.push(
            doc! { "$unwind": { "path": format!("${}", k.out), "preserveNullAndEmptyArrays": true } },
        );
        id.insert(&k.out, format!("${}", k.out));
    }
    if let Some(b) = bucket {
        head.push(doc! { "$addFields": { "_b": b } });
        id.insert("b", "$_b");
    }

    let mut group = doc! { "_id": id.clone(), "n": { "$sum": 1 }, "first": { "$min": "$ts" }, "last": { "$max": "$ts" } };
    if wants.users {
        group.insert(
            "u",
            doc! { "$addToSet": { "$ifNull": [ "$dims.user", "$dims.anon" ] } },
        );
    }
    if wants.sessions {
        group.insert("s", doc! { "$addToSet": "$dims.session" });
    }
    if wants.arrays {
        for i in 0..keys.len() {
            group.insert(format!("mv{i}"), doc! { "$max": format!("$mv{i}") });
        }
    }
    let mut counts = head.clone();
    counts.push(doc! { "$group": group });

    let metrics = match &wants.metrics {
        Some(list) if list.is_empty() => None,
        sel => {
            let mut p = head;
            p.push(doc! { "$project": { "_k": { "$objectToArray": { "$ifNull": [ "$metrics", {} ] } }, "_g": &id } });
            p.push(doc! { "$unwind": "$_k" });
            if let Some(list) = sel {
                p.push(doc! { "$match": { "_k.k": { "$in": list.clone() } } });
            }
            let mut g = doc! {
                "_id": { "g": "$_g", "k": "$_k.k" },
                "n": { "$sum": 1 }, "s": { "$sum": "$_k.v" },
                "lo": { "$min": "$_k.v" }, "hi": { "$max": "$_k.v" },
            };
            if wants.values {
                g.insert("v", doc! { "$push": "$_k.v" });
            }
            p.push(doc! { "$group": g });
            Some(p)
        }
    };
    (counts, metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_state_reads_back_the_same() {
        let mut p = Partial::from_counts(&doc! {
            "n": 3_i64, "u": ["a", "b", "a", null], "s": ["s1"],
            "first": mongodb::bson::DateTime::from_millis(5),
            "last": mongodb::bson::DateTime::from_millis(9),
        });
        p.add_metric_row(
            "ms".into(),
            &doc! { "n": 3, "s": 6.0, "lo": 1, "hi": 3.0, "v": [1, 2.0, 3_i64] },
        );
        let mut d = Document::new();
        p.to_fields(&mut d);
        let q = Partial::from_fields(&d).unwrap();
        assert_eq!((q.n, q.users(), q.sessions()), (3, 2, 1));
        assert_eq!((q.first, q.last), (Some(5), Some(9)));
        let m = &q.metrics["ms"];
        assert_eq!((m.n, m.sum, m.min, m.max), (3, 6.0, 1.0, 3.0));
        let p50 = m.quantile(0.5).unwrap();
        assert!((p50 - 2.0).abs() <= 2.0 * DD_ALPHA, "{p50}");
    }

    #[test]
    fn merged_states_count_each_user_once() {
        let a = Partial::from_counts(&doc! { "n": 2, "u": ["a", "b"] });
        let mut b = Partial::from_counts(&doc! { "n": 2, "u": ["b", "c"] });
        b.merge(a);
        assert_eq!((b.n, b.users()), (4, 3));
    }

    #[test]
    fn a_corrupt_sketch_is_an_error() {
        let d = doc! { "n": 1, "u": binary(vec![1, 2, 3]) };
        assert!(Partial::from_fields(&d).is_err());
    }
}
