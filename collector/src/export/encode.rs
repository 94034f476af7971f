//! Event documents into body bytes, chunk by chunk: NDJSON (one object per
//! event) or CSV (fixed columns, then one per catalog name).

use std::collections::HashMap;

use bytes::Bytes;
use mongodb::bson::raw::{RawBsonRef, RawDocument};
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};

use super::request::Format;
use crate::store::json::{rfc3339, Json};
use crate::store::EventScan;

/// The CSV columns every row starts with.
pub(crate) const FIXED_COLUMNS: [&str; 5] = ["id", "type", "ts", "client_ts", "received_at"];
/// Body chunks are sent when they reach this size (and at the end).
const CHUNK_BYTES: usize = 32 * 1024;

/// One event document as an NDJSON object.
struct EventLine<'a> {
    doc: &'a RawDocument,
    prefix_len: usize,
}

impl Serialize for EventLine<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let get = |k: &str| self.doc.get(k).map_err(S::Error::custom);
        let mut map = s.serialize_map(Some(7))?;
        let id = match get("_id")? {
            Some(RawBsonRef::String(id)) => id.get(self.prefix_len..).unwrap_or(id),
            _ => return Err(S::Error::custom("an event without a string _id")),
        };
        map.serialize_entry("id", id)?;
        for k in ["type", "ts", "client_ts", "received_at"] {
            map.serialize_entry(k, &get(k)?.map(Json))?;
        }
        for k in ["dims", "metrics"] {
            match get(k)? {
                Some(v) => map.serialize_entry(k, &Json(v))?,
                None => map.serialize_entry(k, &serde_json::Map::new())?,
            }
        }
        map.end()
    }
}

/// A value as a CSV cell: strings as they are, numbers and arrays as JSON text.
fn cell(v: RawBsonRef<'_>, out: &mut String) -> Result<(), String> {
    out.clear();
    match v {
        RawBsonRef::String(s) => out.push_str(s),
        RawBsonRef::Null | RawBsonRef::Undefined => {}
        RawBsonRef::DateTime(d) => {
            out.push_str(&rfc3339(d.timestamp_millis()));
        }
        other => {
            let text = serde_json::to_string(&Json(other)).map_err(|e| e.to_string())?;
            out.push_str(&text);
        }
    }
    Ok(())
}

/// Turns event documents into body bytes.
#[derive(Debug)]
pub(crate) struct Encoder {
    format: Format,
    /// `"<app>:"`.
    prefix_len: usize,
    /// CSV: column of each dimension name, after the fixed columns.
    dim_columns: HashMap<String, usize>,
    /// CSV: column of each metric name.
    metric_columns: HashMap<String, usize>,
    /// CSV: the header row.
    header: Vec<String>,
    /// CSV: the cells of the row being written.
    cells: Vec<String>,
}

impl Encoder {
    pub(crate) fn new(app: &str, format: Format, dims: Vec<String>, metrics: Vec<String>) -> Self {
        let mut header: Vec<String> = FIXED_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        let mut dim_columns = HashMap::new();
        for d in dims {
            dim_columns.insert(d.clone(), header.len());
            header.push(format!("dims.{d}"));
        }
        let mut metric_columns = HashMap::new();
        for m in metrics {
            metric_columns.insert(m.clone(), header.len());
            header.push(format!("metrics.{m}"));
        }
        Self {
            format,
            prefix_len: app.len() + 1,
            dim_columns,
            metric_columns,
            cells: vec![String::new(); header.len()],
            header,
        }
    }

    fn csv_writer(buf: Vec<u8>) -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(CHUNK_BYTES)
            .from_writer(buf)
    }

    /// The CSV header row, or nothing for NDJSON.
    pub(crate) fn preamble(&self) -> Result<Vec<u8>, String> {
        match self.format {
            Format::Ndjson => Ok(Vec::new()),
            Format::Csv => {
                let mut w = Self::csv_writer(Vec::new());
                w.write_record(&self.header).map_err(|e| e.to_string())?;
                w.into_inner().map_err(|e| e.to_string())
            }
        }
    }

    /// Appends one NDJSON line.
    fn ndjson(&self, doc: &RawDocument, out: &mut Vec<u8>) -> Result<(), String> {
        serde_json::to_writer(
            &mut *out,
            &EventLine {
                doc,
                prefix_len: self.prefix_len,
            },
        )
        .map_err(|e| e.to_string())?;
        out.push(b'\n');
        Ok(())
    }

    fn csv_row(&mut self, doc: &RawDocument, w: &mut csv::Writer<Vec<u8>>) -> Result<(), String> {
        for c in &mut self.cells {
            c.clear();
        }
        let get = |k: &str| doc.get(k).map_err(|e| e.to_string());
        match get("_id")? {
            Some(RawBsonRef::String(id)) => {
                self.cells[0].push_str(id.get(self.prefix_len..).unwrap_or(id));
            }
            _ => return Err("an event without a string _id".into()),
        }
        for (i, k) in ["type", "ts", "client_ts", "received_at"]
            .into_iter()
            .enumerate()
        {
            if let Some(v) = get(k)? {
                cell(v, &mut self.cells[i + 1])?;
            }
        }
        for (k, columns) in [
            ("dims", &self.dim_columns),
            ("metrics", &self.metric_columns),
        ] {
            if let Some(RawBsonRef::Document(d)) = get(k)? {
                for kv in d {
                    let (name, v) = kv.map_err(|e| e.to_string())?;
                    if let Some(&i) = columns.get(name) {
                        cell(v, &mut self.cells[i])?;
                    }
                }
            }
        }
        w.write_record(&self.cells).map_err(|e| e.to_string())
    }

    /// Encodes documents from `cursor` into one chunk of about
    /// [`CHUNK_BYTES`]; `None` when the cursor is exhausted and nothing is left.
    pub(crate) async fn chunk(
        &mut self,
        cursor: &mut EventScan,
    ) -> Result<Option<Bytes>, std::io::Error> {
        let fail = |what: String| {
            tracing::warn!(error = %what, "export aborted mid-stream");
            std::io::Error::other(what)
        };
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 1024);
        let mut csv = match self.format {
            Format::Csv => Some(Self::csv_writer(std::mem::take(&mut buf))),
            Format::Ndjson => None,
        };
        loop {
            let len = match &csv {
                Some(w) => w.get_ref().len(),
                None => buf.len(),
            };
            if len >= CHUNK_BYTES {
                break;
            }
            let doc = match cursor.next().await {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(e) => return Err(fail(format!("the store failed: {e}"))),
            };
            match &mut csv {
                Some(w) => {
                    self.csv_row(&doc, w).map_err(fail)?;
                    // Moves the row from the writer's buffer into the chunk.
                    w.flush().map_err(|e| fail(e.to_string()))?;
                }
                None => self.ndjson(&doc, &mut buf).map_err(fail)?,
            }
        }
        if let Some(w) = csv {
            buf = w.into_inner().map_err(|e| fail(e.to_string()))?;
        }
        Ok((!buf.is_empty()).then(|| Bytes::from(buf)))
    }
}
