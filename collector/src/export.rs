//! `GET /v1/events`: an app's raw events, page by page, as NDJSON or CSV.
//!
//! Pages follow the index `app_ts_id` (`{app: 1, ts: 1, _id: 1}`), so the
//! order `(ts, _id)` comes from the index, never from an in-memory sort.
//! Before a page is streamed, one small query finds the first key of the
//! next page (`skip(limit)`, `limit(1)`); the page is then streamed from a
//! MongoDB cursor bounded by that key, and the key goes to the client as an
//! opaque cursor. Each page is the half-open key range `[cursor, next)`, so
//! consecutive pages neither repeat nor skip an event, however many events
//! share a `ts`. The body is encoded chunk by chunk as the cursor yields
//! documents; a store error mid-stream aborts the body rather than ending
//! it early.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::TryStreamExt;
use mongodb::bson::raw::{RawArray, RawBsonRef, RawDocument};
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::options::Hint;
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use usagelens_protocol::names::{is_valid_app, is_valid_name, is_valid_type, TYPE_RULE};
use usagelens_protocol::Timestamp;

use crate::query::{authorize, invalid, QueryError};
use crate::server::AppState;
use crate::store::{bson_date, StoreError, APP_TS_ID, CATALOG, EVENTS};

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 10_000;
/// Largest page.
pub const MAX_LIMIT: u32 = 100_000;
/// The response header that carries the next page's cursor.
pub const NEXT_CURSOR_HEADER: &str = "usagelens-next-cursor";
/// The CSV columns every row starts with.
pub const FIXED_COLUMNS: [&str; 5] = ["id", "type", "ts", "client_ts", "received_at"];

/// Body chunks are sent when they reach this size (and at the end).
const CHUNK_BYTES: usize = 32 * 1024;
/// Documents per batch the driver fetches (bounds the memory of a stream).
const BATCH_SIZE: u32 = 1000;
/// Version byte of the cursor encoding.
const CURSOR_VERSION: u8 = 1;
/// Longest cursor accepted (an app id, `:`, an event id and 9 bytes fit well within).
const MAX_CURSOR_CHARS: usize = 512;
/// The parameters of the endpoint.
const PARAMS: [&str; 7] = ["app", "from", "to", "types", "format", "limit", "cursor"];

/// A position in an app's events: the `(ts, _id)` of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The event's `ts`, epoch milliseconds.
    pub ts_ms: i64,
    /// The event's `_id` (`"<app>:<event id>"`).
    pub id: String,
}

impl Position {
    /// The opaque, URL-safe cursor: base64url (no padding) of a version
    /// byte, `ts` as 8 big-endian bytes, and the `_id`.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(9 + self.id.len());
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(&self.ts_ms.to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cursor of `app`; any other string is an error naming `cursor`.
    pub fn decode(cursor: &str, app: &str) -> Result<Self, QueryError> {
        let bad = || {
            invalid("cursor: not a cursor of this endpoint; pass the previous page's UsageLens-Next-Cursor header unchanged")
        };
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        if bytes.len() < 11 || bytes[0] != CURSOR_VERSION {
            return Err(bad());
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&bytes[1..9]);
        let ts_ms = i64::from_be_bytes(ts);
        let id = std::str::from_utf8(&bytes[9..]).map_err(|_| bad())?;
        if !(usagelens_protocol::timestamp::MIN_MILLIS..=usagelens_protocol::timestamp::MAX_MILLIS)
            .contains(&ts_ms)
        {
            return Err(bad());
        }
        match id.split_once(':') {
            Some((owner, rest)) if is_valid_app(owner) && !rest.is_empty() => {
                if owner == app {
                    Ok(Self {
                        ts_ms,
                        id: id.to_owned(),
                    })
                } else {
                    Err(invalid(format!(
                        "cursor: this cursor belongs to another app, not `{app}`; start without a cursor"
                    )))
                }
            }
            _ => Err(bad()),
        }
    }
}

/// The body's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`application/x-ndjson`).
    Ndjson,
    /// RFC 4180 CSV with a header row (`text/csv`).
    Csv,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// A validated request.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The app.
    pub app: String,
    /// From (inclusive), epoch ms.
    pub from: Option<i64>,
    /// To (exclusive), epoch ms.
    pub to: Option<i64>,
    /// Event types (all when absent).
    pub types: Option<Vec<String>>,
    /// The body's format.
    pub format: Format,
    /// Whether `format` came from the `Accept` header.
    pub format_from_accept: bool,
    /// Page size.
    pub limit: u32,
    /// Where this page starts (inclusive).
    pub cursor: Option<Position>,
}

/// The query string as `(name, value)` pairs, each name once and known.
fn params(uri: &Uri) -> Result<HashMap<String, String>, QueryError> {
    let axum::extract::Query(pairs) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| invalid(format!("the query string is malformed: {e}")))?;
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
    Ok(out)
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

/// Whether `Accept` asks for CSV (`text/csv`, not with `q=0`).
fn accepts_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("text/csv")
                && !parts.any(|p| {
                    let p = p.trim().replace(' ', "");
                    matches!(p.as_str(), "q=0" | "q=0." | "q=0.0" | "q=0.00" | "q=0.000")
                })
        })
}

impl ExportRequest {
    /// Validates the parameters other than `app`; each error names its parameter.
    fn parse(
        app: String,
        p: &HashMap<String, String>,
        headers: &HeaderMap,
    ) -> Result<Self, QueryError> {
        let from = p.get("from").map(|s| parse_time("from", s)).transpose()?;
        let to = p.get("to").map(|s| parse_time("to", s)).transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(invalid(
                    "from: later than `to` (from is inclusive, to exclusive)",
                ));
            }
        }
        let types = match p.get("types") {
            None => None,
            Some(list) => {
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
                Some(types)
            }
        };
        let (format, format_from_accept) = match p.get("format").map(String::as_str) {
            Some("ndjson") => (Format::Ndjson, false),
            Some("csv") => (Format::Csv, false),
            Some(other) => {
                return Err(invalid(format!(
                    "format: `{}` is not ndjson or csv",
                    other.escape_debug()
                )))
            }
            None if accepts_csv(headers) => (Format::Csv, true),
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
            format,
            format_from_accept,
            limit,
            cursor,
        })
    }

    /// The filter of the events from `cursor` (inclusive) to `end`
    /// (exclusive), within `from`/`to` and `types`. On `app_ts_id` its
    /// bounds are `app` and a `ts` range; the `_id` tie-breaks at both ends
    /// are residual conditions on keys the index scan already reads.
    fn filter(&self, end: Option<&Position>) -> Document {
        let mut f = doc! { "app": &self.app };
        if let Some(types) = &self.types {
            f.insert("type", doc! { "$in": types.clone() });
        }
        let mut ts = Document::new();
        let lower = match (self.from, &self.cursor) {
            (Some(a), Some(c)) => Some(a.max(c.ts_ms)),
            (a, c) => a.or(c.as_ref().map(|c| c.ts_ms)),
        };
        if let Some(l) = lower {
            ts.insert("$gte", bson_date(l));
        }
        if let Some(t) = self.to {
            ts.insert("$lt", bson_date(t));
        }
        if let Some(e) = end {
            ts.insert("$lte", bson_date(e.ts_ms));
        }
        if !ts.is_empty() {
            f.insert("ts", ts);
        }
        let mut and = Vec::new();
        if let Some(c) = &self.cursor {
            and.push(doc! { "$or": [ { "ts": { "$gt": bson_date(c.ts_ms) } }, { "_id": { "$gte": &c.id } } ] });
        }
        if let Some(e) = end {
            and.push(doc! { "$or": [ { "ts": { "$lt": bson_date(e.ts_ms) } }, { "_id": { "$lt": &e.id } } ] });
        }
        if !and.is_empty() {
            f.insert("$and", and);
        }
        f
    }

    /// The `Link` of the next page: this request's query string with the new cursor.
    fn next_link(&self, uri: &Uri, cursor: &str) -> String {
        let mut q: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("cursor"))
            .collect();
        if self.format_from_accept {
            q.push("format=csv");
        }
        let mut link = format!("</v1/events?{}", q.join("&"));
        if !q.is_empty() {
            link.push('&');
        }
        let _ = write!(link, "cursor={cursor}>; rel=\"next\"");
        link
    }
}

fn map_store(e: mongodb::error::Error) -> StoreError {
    if let mongodb::error::ErrorKind::Command(c) = e.kind.as_ref() {
        if c.code == 2 && c.message.contains("hint") {
            // `ensure_indexes` has not succeeded yet; it retries in the background.
            return StoreError::Unavailable(format!(
                "the index {APP_TS_ID} does not exist yet: {}",
                c.message
            ));
        }
    }
    e.into()
}

/// The first key of the page after the one starting at `req.cursor`.
async fn next_position(
    state: &AppState,
    req: &ExportRequest,
) -> Result<Option<Position>, QueryError> {
    let next = state
        .store
        .collection(EVENTS)
        .find_one(req.filter(None))
        .sort(doc! { "ts": 1, "_id": 1 })
        .hint(Hint::Name(APP_TS_ID.into()))
        .skip(u64::from(req.limit))
        .projection(doc! { "ts": 1, "_id": 1 })
        .await
        .map_err(map_store)?;
    let Some(d) = next else { return Ok(None) };
    match (d.get_datetime("ts"), d.get_str("_id")) {
        (Ok(ts), Ok(id)) => Ok(Some(Position {
            ts_ms: ts.timestamp_millis(),
            id: id.to_owned(),
        })),
        _ => Err(StoreError::Failed(format!(
            "an event of app `{}` has no date `ts` or no string `_id`: {d}",
            req.app
        ))
        .into()),
    }
}

/// The CSV columns of `app`: its catalog's dimensions, then its metrics,
/// each sorted by name, hidden names left out.
async fn catalog_columns(
    state: &AppState,
    app: &str,
) -> Result<(Vec<String>, Vec<String>), QueryError> {
    // Names noted since the last flush belong in the header.
    state.catalog.flush(&state.store).await?;
    let docs: Vec<Document> = state
        .store
        .collection(CATALOG)
        .find(doc! { "app": app, "hidden": { "$ne": true } })
        .sort(doc! { "name": 1, "field": 1 })
        .projection(doc! { "name": 1, "field": 1 })
        .await
        .map_err(StoreError::from)?
        .try_collect()
        .await
        .map_err(StoreError::from)?;
    let (mut dims, mut metrics) = (Vec::new(), Vec::new());
    for d in &docs {
        let (Ok(name), Ok(field)) = (d.get_str("name"), d.get_str("field")) else {
            continue;
        };
        if !is_valid_name(name) {
            continue;
        }
        let list = match field {
            "dimension" => &mut dims,
            "metric" => &mut metrics,
            _ => continue,
        };
        if list.last() != Some(&name.to_owned()) {
            list.push(name.to_owned());
        }
    }
    Ok((dims, metrics))
}

/// A raw BSON value as JSON: strings, bools, integers and doubles keep
/// their kind, dates are RFC 3339 (UTC, milliseconds), arrays and
/// documents recurse; anything else is relaxed Extended JSON.
struct JsonValue<'a>(RawBsonRef<'a>);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            RawBsonRef::String(v) => s.serialize_str(v),
            RawBsonRef::Boolean(b) => s.serialize_bool(b),
            RawBsonRef::Int32(i) => s.serialize_i32(i),
            RawBsonRef::Int64(i) => s.serialize_i64(i),
            RawBsonRef::Double(f) if f.is_finite() => s.serialize_f64(f),
            RawBsonRef::Double(_) | RawBsonRef::Null | RawBsonRef::Undefined => s.serialize_none(),
            RawBsonRef::DateTime(d) => {
                s.serialize_str(&Timestamp::from_millis(d.timestamp_millis()).to_rfc3339())
            }
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
            seq.serialize_element(&JsonValue(v.map_err(S::Error::custom)?))?;
        }
        seq.end()
    }
}

struct JsonDocument<'a>(&'a RawDocument);

impl Serialize for JsonDocument<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for kv in self.0 {
            let (k, v) = kv.map_err(S::Error::custom)?;
            map.serialize_entry(k, &JsonValue(v))?;
        }
        map.end()
    }
}

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
            map.serialize_entry(k, &get(k)?.map(JsonValue))?;
        }
        for k in ["dims", "metrics"] {
            match get(k)? {
                Some(v) => map.serialize_entry(k, &JsonValue(v))?,
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
            out.push_str(&Timestamp::from_millis(d.timestamp_millis()).to_rfc3339());
        }
        other => {
            let text = serde_json::to_string(&JsonValue(other)).map_err(|e| e.to_string())?;
            out.push_str(&text);
        }
    }
    Ok(())
}

/// Turns event documents into body bytes.
#[derive(Debug)]
struct Encoder {
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
    fn new(app: &str, format: Format, dims: Vec<String>, metrics: Vec<String>) -> Self {
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
    fn preamble(&self) -> Result<Vec<u8>, String> {
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
    async fn chunk(
        &mut self,
        cursor: &mut mongodb::Cursor<RawDocumentBuf>,
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
            let doc = match cursor.try_next().await {
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

/// `GET /v1/events`.
pub async fn handle_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match export(&state, &headers, &uri).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn export(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Response, QueryError> {
    let p = params(uri)?;
    let app = p
        .get("app")
        .cloned()
        .ok_or_else(|| invalid("app: required, e.g. /v1/events?app=demo"))?;
    usagelens_protocol::batch::check_app(&app).map_err(|e| invalid(format!("app: {e}")))?;
    authorize(state, headers, &app).await?;
    let req = ExportRequest::parse(app, &p, headers)?;
    let (dims, metrics) = match req.format {
        Format::Csv => catalog_columns(state, &req.app).await?,
        Format::Ndjson => (Vec::new(), Vec::new()),
    };
    let next = next_position(state, &req).await?;
    let cursor = state
        .store
        .database()
        .collection::<RawDocumentBuf>(EVENTS)
        .find(req.filter(next.as_ref()))
        .sort(doc! { "ts": 1, "_id": 1 })
        .hint(Hint::Name(APP_TS_ID.into()))
        .batch_size(BATCH_SIZE)
        .await
        .map_err(map_store)?;
    let encoder = Encoder::new(&req.app, req.format, dims, metrics);
    let preamble = encoder
        .preamble()
        .map_err(|e| QueryError::Store(StoreError::Failed(e)))?;
    let body = futures_util::stream::try_unfold(
        (encoder, cursor, Some(preamble)),
        |(mut encoder, mut cursor, preamble)| async move {
            if let Some(p) = preamble.filter(|p| !p.is_empty()) {
                return Ok(Some((Bytes::from(p), (encoder, cursor, None))));
            }
            Ok::<_, std::io::Error>(
                encoder
                    .chunk(&mut cursor)
                    .await?
                    .map(|b| (b, (encoder, cursor, None))),
            )
        },
    );
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(req.format.content_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    if let Some(n) = &next {
        let c = n.encode();
        let link = req.next_link(uri, &c);
        if let (Ok(cv), Ok(lv)) = (HeaderValue::from_str(&c), HeaderValue::from_str(&link)) {
            h.insert(NEXT_CURSOR_HEADER, cv);
            h.insert(header::LINK, lv);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_one_app() {
        let p = Position {
            ts_ms: 1_795_860_000_123,
            id: "demo:e-1/ü".into(),
        };
        let c = p.encode();
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Position::decode(&c, "demo").unwrap(), p);
        let e = Position::decode(&c, "other").unwrap_err().to_string();
        assert!(e.starts_with("cursor:") && e.contains("another app"), "{e}");
        for bad in [
            "",
            "x",
            "!!!!",
            &"A".repeat(600),
            &URL_SAFE_NO_PAD.encode(b"\x02abcdefgh:demo:x"),
        ] {
            let e = Position::decode(bad, "demo").unwrap_err().to_string();
            assert!(e.starts_with("cursor:"), "{bad}: {e}");
        }
        let no_app = Position {
            ts_ms: p.ts_ms,
            id: "no-colon".into(),
        };
        assert!(Position::decode(&no_app.encode(), "demo").is_err());
        let out_of_range = Position {
            ts_ms: 0,
            id: "demo:x".into(),
        };
        assert!(Position::decode(&out_of_range.encode(), "demo").is_err());
    }

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

    #[test]
    fn accept_selects_csv() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts_csv(&h("text/csv")));
        assert!(accepts_csv(&h("application/json, Text/CSV;q=0.5")));
        assert!(!accepts_csv(&h("text/csv;q=0")));
        assert!(!accepts_csv(&h("*/*")));
        assert!(!accepts_csv(&HeaderMap::new()));
    }
}
