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
            names.note(Field::Dimension, name, value.kind(), kind, ts);
            append_dim(&mut dims, name, value);
        }
        for (name, value) in batch.context.iter() {
            if e.props.get(name).is_none() {
                append_dim(&mut dims, name, value);
            }
        }
        if let Some(ua) = meta.user_agent {
            dims.append_ref("browser", ua.browser.as_str());
            dims.append_ref("os", ua.os.as_str());
            dims.append_ref("device", ua.device);
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
            names.note(Field::Dimension, name, value.kind(), kind, first);
            names.note(Field::Dimension, name, value.kind(), kind, last);
        }
        if meta.user_agent.is_some() {
            for name in ["browser", "os", "device"] {
                names.note(Field::Dimension, name, ValueKind::String, kind, first);
                names.note(Field::Dimension, name, ValueKind::String, kind, last);
            }
        }
    }
    docs
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
