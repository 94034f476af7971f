//! `POST /v1/batch`: decode, authenticate, validate, enrich, store.
//!
//! The pure part, [`build_documents`], turns a parsed batch into MongoDB
//! documents and per-event rejections; the handler around it does the HTTP
//! and the store. The benchmark `benches/ingest.rs` measures
//! [`decode_body`] + [`build_documents`]: the ingest path without the store.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mongodb::bson::{DateTime, RawArrayBuf, RawDocumentBuf};
use usagelens_protocol::batch::{check_app, check_event_count, parse_event};
use usagelens_protocol::limits::MAX_BODY_BYTES;
use usagelens_protocol::value::ValueKind;
use usagelens_protocol::value::{DimValue, ListItem};
use usagelens_protocol::{BatchResponse, Event, RawBatch, Rejected};

use crate::catalog::{BatchNames, Field};
use crate::enrich::{from_user_agent, UserAgentDims};
use crate::error::IngestError;
use crate::server::AppState;

/// The header that may carry the write key instead of the body.
pub const WRITE_KEY_HEADER: &str = "x-write-key";

/// Checks the content type and encoding and returns the decompressed body.
/// A gzip body stops inflating at [`MAX_BODY_BYTES`], so a gzip bomb costs
/// at most that much memory.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, IngestError> {
    check_content_type(headers)?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") | Some("") => {
            if body.len() > MAX_BODY_BYTES {
                return Err(too_large_body());
            }
            Ok(body.to_vec())
        }
        Some("gzip") | Some("x-gzip") => {
            let mut out = Vec::with_capacity((body.len() * 4).min(MAX_BODY_BYTES));
            flate2::read::GzDecoder::new(body)
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| IngestError::InvalidBody(format!("the gzip body is corrupt: {e}")))?;
            if out.len() > MAX_BODY_BYTES {
                return Err(too_large_body());
            }
            Ok(out)
        }
        Some(other) => Err(IngestError::UnsupportedMediaType(format!(
            "Content-Encoding `{other}` is not supported: send gzip or no encoding"
        ))),
    }
}

fn too_large_body() -> IngestError {
    IngestError::TooLarge(format!(
        "the body is larger than {MAX_BODY_BYTES} bytes after decompression: send smaller batches"
    ))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), IngestError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence == "text/plain" {
        Ok(())
    } else {
        let got = if ct.is_empty() {
            "none".to_owned()
        } else {
            format!("`{ct}`")
        };
        Err(IngestError::UnsupportedMediaType(format!(
            "Content-Type {got} is not accepted: send application/json (or text/plain, as navigator.sendBeacon does)"
        )))
    }
}

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

fn client_ip(state: &AppState, req: &Request) -> IpAddr {
    if state.config.trust_forwarded_for {
        if let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// `POST /v1/batch`.
pub async fn handle_batch(State(state): State<AppState>, req: Request) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut cors_ok = false;
    let result = ingest(&state, req, origin.as_deref(), &mut cors_ok).await;
    let mut resp = match result {
        Ok(r) => Json(r).into_response(),
        Err(e) => {
            // Let the browser show the error to the developer when the origin is
            // one some app allows (it cannot read the body otherwise).
            if let (Some(o), false) = (origin.as_deref(), cors_ok) {
                cors_ok = state
                    .apps
                    .any_allows_origin(&state.store, o)
                    .await
                    .unwrap_or(false);
            }
            e.into_response()
        }
    };
    if let (Some(o), true) = (origin, cors_ok) {
        add_cors_headers(resp.headers_mut(), &o);
    }
    resp
}

async fn ingest(
    state: &AppState,
    req: Request,
    origin: Option<&str>,
    cors_ok: &mut bool,
) -> Result<BatchResponse, IngestError> {
    state.limits.check_ip(client_ip(state, &req))?;
    let (parts, body) = req.into_parts();
    check_content_type(&parts.headers)?;
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > MAX_BODY_BYTES as u64 {
            return Err(too_large_body());
        }
    }
    let raw = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large_body())?;
    let body = decode_body(&parts.headers, &raw)?;
    let batch: RawBatch<'_> = serde_json::from_slice(&body)
        .map_err(|e| IngestError::InvalidBody(format!("the body is not a valid batch: {e}")))?;
    check_app(&batch.app).map_err(IngestError::InvalidBody)?;
    check_event_count(batch.events.len()).map_err(IngestError::TooLarge)?;

    let app = state
        .apps
        .get(&state.store, &batch.app)
        .await?
        .ok_or_else(|| IngestError::UnknownApp(batch.app.clone()))?;
    if let Some(o) = origin {
        if !app.allows_origin(o) {
            return Err(IngestError::OriginNotAllowed {
                app: app.id,
                origin: o.to_owned(),
            });
        }
        *cors_ok = true;
    }
    let key = batch.key.as_deref().or_else(|| {
        parts
            .headers
            .get(WRITE_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
    });
    match key {
        None => return Err(IngestError::MissingKey),
        Some(k) if !app.key_matches(k) => return Err(IngestError::WrongKey(app.id)),
        Some(_) => {}
    }
    state.limits.check_app(&app.id, batch.events.len())?;

    // Enrich only batches whose User-Agent is a browser's (SDKs, curl and scripts are not).
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(from_user_agent);
    let meta = BatchMeta {
        received_ms: mongodb::bson::DateTime::now().timestamp_millis(),
        user_agent: ua.as_ref(),
    };
    let parsed = parse_events(&batch);
    if parsed.events.is_empty() && !parsed.rejected.is_empty() {
        let first = &parsed.rejected[0];
        return Err(IngestError::InvalidEvents(format!(
            "all {} events were rejected; event {}: {}",
            parsed.rejected.len(),
            first.index,
            first.error
        )));
    }
    let mut names = BatchNames::default();
    let docs = build_documents(&batch, &parsed.events, meta, &mut names);
    let outcome = state.store.insert_events(&docs).await?;
    state.catalog.record(&batch.app, names);
    let mut rejected = parsed.rejected;
    for (i, msg) in &outcome.failed {
        tracing::error!(app = %batch.app, error = %msg, "the store refused an event");
        rejected.push(Rejected {
            index: parsed.index[*i],
            error: "the store refused this event".into(),
        });
    }
    rejected.sort_by_key(|r| r.index);
    Ok(BatchResponse {
        accepted: outcome.inserted,
        duplicates: outcome.duplicates.len() as u64,
        rejected,
    })
}

fn add_cors_headers(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// `OPTIONS /v1/batch`: the CORS preflight. It names no app, so an origin
/// passes when any app allows it; the POST then checks it against its app.
pub async fn handle_preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    match state.apps.any_allows_origin(&state.store, origin).await {
        Ok(true) => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            let h = resp.headers_mut();
            add_cors_headers(h, origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type, content-encoding, x-write-key"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            resp
        }
        Ok(false) => IngestError::OriginUnknown(origin.to_owned()).into_response(),
        Err(e) => IngestError::from(e).into_response(),
    }
}
