//! Ingest: a batch from `POST /v1/batch` checked, authenticated, validated,
//! enriched and stored, one MongoDB document per event.
//!
//! | module | concept |
//! |---|---|
//! | `decode.rs` | content type, encoding, size; gzip inflated within the limit |
//! | `documents.rs` | the pure core: events parsed one by one, documents built, skew corrected |
//! | `enrich.rs` | `browser`, `os`, `device` from a browser's User-Agent |
//! | `error.rs` | why a batch failed as a whole |
//!
//! The HTTP handler (`http/batch.rs`) reads the request and calls
//! `Ingest::admit` before it reads the body, then `Ingest::ingest` with it.

mod decode;
mod documents;
mod enrich;
mod error;

use std::net::IpAddr;

use usagelens_protocol::batch::{check_app, check_event_count};
use usagelens_protocol::limits::MAX_BODY_BYTES;
use usagelens_protocol::{BatchResponse, RawBatch, Rejected};

pub use decode::decode_body;
pub(crate) use decode::too_large_body;
pub use documents::{build_documents, parse_events, BatchMeta, Parsed};
pub use enrich::UserAgentDims;
pub use error::IngestError;

use crate::apps::AppCache;
use crate::catalog::{BatchNames, Catalog};
use crate::limits::Limits;
use crate::store::Store;

const HOUR_MS: i64 = 3_600_000;

/// The distinct hours (epoch ms of their starts, UTC) of the events' `ts`.
fn dirty_hours(docs: &[mongodb::bson::RawDocumentBuf]) -> Vec<i64> {
    let mut hours: Vec<i64> = docs
        .iter()
        .filter_map(|d| d.get_datetime("ts").ok())
        .map(|t| t.timestamp_millis().div_euclid(HOUR_MS) * HOUR_MS)
        .collect();
    hours.sort_unstable();
    hours.dedup();
    hours
}

/// What ingest works with; borrowed from the collector's state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ingest<'a> {
    /// The event store.
    pub(crate) store: &'a Store,
    /// Apps, cached.
    pub(crate) apps: &'a AppCache,
    /// Names waiting for the catalog.
    pub(crate) catalog: &'a Catalog,
    /// Rate limiters.
    pub(crate) limits: &'a Limits,
}

/// A batch as it arrived: its body and the facts of the request around it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchRequest<'a> {
    /// The body as sent (maybe gzip).
    pub(crate) body: &'a [u8],
    /// `Content-Type`.
    pub(crate) content_type: Option<&'a str>,
    /// `Content-Encoding`.
    pub(crate) content_encoding: Option<&'a str>,
    /// The write key header, if sent.
    pub(crate) write_key: Option<&'a str>,
    /// The browser's `Origin`, if any.
    pub(crate) origin: Option<&'a str>,
    /// `User-Agent`.
    pub(crate) user_agent: Option<&'a str>,
}

/// What [`ingest`] did, and whether the request's origin was verified as
/// one the batch's app allows (so a browser may read the answer).
#[derive(Debug)]
pub(crate) struct Ingested {
    /// The answer, or why the batch failed as a whole.
    pub(crate) result: Result<BatchResponse, IngestError>,
    /// Whether the origin is one the app allows.
    pub(crate) origin_allowed: bool,
}

impl Ingest<'_> {
    /// The checks made before the body is read: the client address's rate,
    /// the content type, the declared length.
    pub(crate) fn admit(
        &self,
        client: IpAddr,
        content_type: Option<&str>,
        content_length: Option<u64>,
    ) -> Result<(), IngestError> {
        self.limits.check_ip(client)?;
        decode::check_content_type(content_type)?;
        if content_length.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            return Err(too_large_body());
        }
        Ok(())
    }

    /// Decodes, authenticates, validates, enriches and stores one batch.
    pub(crate) async fn ingest(&self, req: BatchRequest<'_>) -> Ingested {
        let mut origin_allowed = false;
        let result = self.run(req, &mut origin_allowed).await;
        Ingested {
            result,
            origin_allowed,
        }
    }

    async fn run(
        &self,
        req: BatchRequest<'_>,
        origin_allowed: &mut bool,
    ) -> Result<BatchResponse, IngestError> {
        let body = decode_body(req.content_type, req.content_encoding, req.body)?;
        let batch: RawBatch<'_> = serde_json::from_slice(&body)
            .map_err(|e| IngestError::InvalidBody(format!("the body is not a valid batch: {e}")))?;
        check_app(&batch.app).map_err(IngestError::InvalidBody)?;
        check_event_count(batch.events.len()).map_err(IngestError::TooLarge)?;

        let app = self
            .apps
            .get(self.store, &batch.app)
            .await?
            .ok_or_else(|| IngestError::UnknownApp(batch.app.clone()))?;
        if let Some(o) = req.origin {
            if !app.allows_origin(o) {
                return Err(IngestError::OriginNotAllowed {
                    app: app.id,
                    origin: o.to_owned(),
                });
            }
            *origin_allowed = true;
        }
        match batch.key.as_deref().or(req.write_key) {
            None => return Err(IngestError::MissingKey),
            Some(k) if !app.key_matches(k) => return Err(IngestError::WrongKey(app.id)),
            Some(_) => {}
        }
        self.limits.check_app(&app.id, batch.events.len())?;

        // Enrich only batches whose User-Agent is a browser's (SDKs, curl and scripts are not).
        let ua = req.user_agent.and_then(enrich::from_user_agent);
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
        let outcome = self.store.events().insert(&docs).await?;
        // The hours these events fall in are to be rebuilt in the rollups
        // (duplicates too: a retry after a failed mark marks them again).
        // Marked after the insert, so a build that clears a mark has read
        // the events that made it; a failed mark fails the batch, and its
        // retry stores nothing twice.
        let hours = dirty_hours(&docs);
        self.store
            .rollups()
            .mark_dirty(&batch.app, &hours, meta.received_ms)
            .await?;
        self.catalog.record(&batch.app, names);
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

    /// Whether any app allows `origin` (a preflight names no app).
    pub(crate) async fn any_app_allows(&self, origin: &str) -> Result<bool, IngestError> {
        Ok(self.apps.any_allows_origin(self.store, origin).await?)
    }
}
