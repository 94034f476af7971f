//! The pure core of ingest: a parsed batch into MongoDB documents and
//! per-event rejections, with no IO. `benches/ingest.rs` measures
//! [`decode_body`](super::decode_body) + [`parse_events`] + [`build_documents`].

use mongodb::bson::{DateTime, RawArrayBuf, RawDocumentBuf};
use usagelens_protocol::batch::parse_event;
use usagelens_protocol::value::{DimValue, ListItem, ValueKind};
use usagelens_protocol::{Event, RawBatch, Rejected};

use super::enrich::UserAgentDims;
use crate::catalog::{BatchNames, Field};

/// Server-side facts added to each event of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchMeta<'a> {
    /// When the collector received the batch (epoch ms).
    pub received_ms: i64,
    /// The browser dimensions, for a browser's batch.
    pub user_agent: Option<&'a UserAgentDims>,
}

/// The events of a batch, each parsed and checked on its own.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The valid events.
    pub events: Vec<Event>,
    /// For each valid event, its index in the batch.
    pub index: Vec<usize>,
    /// The events that break a rule.
    pub rejected: Vec<Rejected>,
}

/// Parses every event of a batch; one bad event does not stop the others.
pub fn parse_events(batch: &RawBatch<'_>) -> Parsed {
    let mut parsed = Parsed {
        events: Vec::with_capacity(batch.events.len()),
        index: Vec::with_capacity(batch.events.len()),
        rejected: Vec::new(),
    };
    for (i, raw) in batch.events.iter().enumerate() {
        match parse_event(raw, &batch.context) {
            Ok(e) => {
                parsed.events.push(e);
                parsed.index.push(i);
            }
            Err(error) => parsed.rejected.push(Rejected { index: i, error }),
        }
    }
    parsed
}

/// Turns valid events into documents for `insert_many` (layout:
/// `docs/storage.md`), correcting timestamps for client clock skew, and
/// notes their names for the catalog.
pub fn build_documents<'a>(
    batch: &'a RawBatch<'_>,
    events: &'a [Event],
    meta: BatchMeta<'_>,
    names: &mut BatchNames<'a>,
) -> Vec<RawDocumentBuf> {
    let mut docs = Vec::with_capacity(events.len());
    // Client clock skew: the client's clock read `sent_at` when ours read `received`.
    let skew = batch
        .sent_at
        .map_or(0, |s| meta.received_ms - s.as_millis());
    let default_ts = batch.sent_at.map_or(meta.received_ms, |s| s.as_millis());
    let received = DateTime::from_millis(meta.received_ms);
    // Context and enrichment names are the same on every event: they are noted
    // once per event type, with that type's time range, not once per event.
    let mut type_ranges: Vec<(&'a str, i64, i64)> = Vec::new();
    let enriched = meta.user_agent.is_some();
    // Looked up once per batch, so a context without these names costs nothing per event.
    let context_clashes = enriched && ENRICHED.iter().any(|n| batch.context.get(n).is_some());
    let mut id = String::new();
    for e in events {
        let client_ts = e.ts.map_or(default_ts, |t| t.as_millis());
        // Never later than the receive time: an event cannot come from the future.
        let ts = (client_ts + skew).min(meta.received_ms);
        let kind = e.kind.0.as_str();
        match type_ranges.iter_mut().find(|r| r.0 == kind) {
            Some(r) => {
                r.1 = r.1.min(ts);
                r.2 = r.2.max(ts);
            }
            None => type_ranges.push((kind, ts, ts)),
        }
        let mut dims = RawDocumentBuf::new();
        for (name, value) in e.props.iter() {
            // Enrichment replaces a client dimension of the same name: BSON
            // would keep both keys, and readers would see either.
            if enriched && is_enriched(name) {
                continue;
            }
            names.note(Field::Dimension, name, value.kind(), kind, ts);
            append_dim(&mut dims, name, value);
        }
        for (name, value) in batch.context.iter() {
            if (context_clashes && is_enriched(name)) || e.props.get(name).is_some() {
                continue;
            }
            append_dim(&mut dims, name, value);
        }
        if let Some(ua) = meta.user_agent {
            dims.append_ref(ENRICHED[0], ua.browser.as_str());
            dims.append_ref(ENRICHED[1], ua.os.as_str());
            dims.append_ref(ENRICHED[2], ua.device);
        }
        let mut metrics = RawDocumentBuf::new();
        for (name, value) in e.metrics.iter() {
            names.note(Field::Metric, name, ValueKind::Number, kind, ts);
            metrics.append_ref(name, value.0);
        }
        id.clear();
        id.push_str(&batch.app);
        id.push(':');
        id.push_str(&e.id.0);
        let mut doc = RawDocumentBuf::new();
        doc.append_ref("_id", id.as_str());
        doc.append_ref("app", batch.app.as_str());
        doc.append_ref("type", kind);
        doc.append_ref("ts", DateTime::from_millis(ts));
        doc.append_ref("client_ts", DateTime::from_millis(client_ts));
        doc.append_ref("received_at", received);
        doc.append_ref("dims", &dims);
        doc.append_ref("metrics", &metrics);
        docs.push(doc);
    }
    for (kind, first, last) in type_ranges {
        for (name, value) in batch.context.iter() {
            if context_clashes && is_enriched(name) {
                continue;
            }
            names.note(Field::Dimension, name, value.kind(), kind, first);
            names.note(Field::Dimension, name, value.kind(), kind, last);
        }
        if enriched {
            for name in ENRICHED {
                names.note(Field::Dimension, name, ValueKind::String, kind, first);
                names.note(Field::Dimension, name, ValueKind::String, kind, last);
            }
        }
    }
    docs
}

/// The dimensions enrichment sets, in the order it appends them.
const ENRICHED: [&str; 3] = ["browser", "os", "device"];

fn is_enriched(name: &str) -> bool {
    matches!(name, "browser" | "os" | "device")
}

fn append_dim(doc: &mut RawDocumentBuf, name: &str, v: &DimValue) {
    match v {
        DimValue::Str(s) => doc.append_ref(name, s.as_str()),
        DimValue::Int(i) => doc.append_ref(name, *i),
        DimValue::Float(f) => doc.append_ref(name, *f),
        DimValue::Bool(b) => doc.append_ref(name, *b),
        DimValue::List(items) => {
            let mut arr = RawArrayBuf::new();
            for i in items {
                match i {
                    ListItem::Str(s) => arr.push(s.as_str()),
                    ListItem::Int(n) => arr.push(*n),
                    ListItem::Float(f) => arr.push(*f),
                }
            }
            doc.append_ref(name, &arr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(doc: &mongodb::bson::RawDocument) -> Vec<&str> {
        doc.iter().map(|e| e.unwrap().0).collect()
    }

    fn build(json: &str, ua: Option<&UserAgentDims>) -> Vec<RawDocumentBuf> {
        let batch = RawBatch::parse(json.as_bytes()).unwrap();
        let parsed = parse_events(&batch);
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        let mut names = BatchNames::default();
        let meta = BatchMeta {
            received_ms: 1_795_860_000_000,
            user_agent: ua,
        };
        build_documents(&batch, &parsed.events, meta, &mut names)
    }

    const CLASHING: &str = r#"{"app":"demo","context":{"device":1,"plan":"pro","os":"c"},
        "events":[{"id":"a","type":"click","props":{"browser":"B","os":"O","app":"x","_id":"y","ts":2},
                   "metrics":{"app":1,"ts":2}},
                  {"id":"b","type":"click"}]}"#;

    #[test]
    fn each_key_once_and_enrichment_wins_for_a_browser() {
        let ua = UserAgentDims {
            browser: "Chrome".into(),
            os: "Linux".into(),
            device: "desktop",
        };
        let docs = build(CLASHING, Some(&ua));
        for d in &docs {
            assert_eq!(
                keys(d),
                [
                    "_id",
                    "app",
                    "type",
                    "ts",
                    "client_ts",
                    "received_at",
                    "dims",
                    "metrics"
                ]
            );
            let dims = d.get_document("dims").unwrap();
            let k = keys(dims);
            let mut unique = k.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), k.len(), "a key twice: {k:?}");
            assert_eq!(dims.get_str("browser").unwrap(), "Chrome");
            assert_eq!(dims.get_str("os").unwrap(), "Linux");
            assert_eq!(dims.get_str("device").unwrap(), "desktop");
            assert_eq!(d.get_str("app").unwrap(), "demo");
        }
        assert_eq!(
            keys(docs[0].get_document("dims").unwrap()),
            ["app", "_id", "ts", "plan", "browser", "os", "device"]
        );
        assert_eq!(
            keys(docs[0].get_document("metrics").unwrap()),
            ["app", "ts"]
        );
        assert_eq!(
            keys(docs[1].get_document("dims").unwrap()),
            ["plan", "browser", "os", "device"]
        );
    }

    #[test]
    fn without_a_browser_the_clients_values_stay() {
        let docs = build(CLASHING, None);
        let dims = docs[0].get_document("dims").unwrap();
        assert_eq!(
            keys(dims),
            ["browser", "os", "app", "_id", "ts", "device", "plan"]
        );
        assert_eq!(dims.get_str("os").unwrap(), "O");
        assert_eq!(dims.get_i64("device").unwrap(), 1);
        let dims = docs[1].get_document("dims").unwrap();
        assert_eq!(keys(dims), ["device", "plan", "os"]);
    }
}
