//! The raw export: an app's events, page by page, as NDJSON or CSV.
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
//!
//! | module | concept |
//! |---|---|
//! | `request.rs` | the parameters, validated, and the page's filter |
//! | `cursor.rs` | the opaque, app-bound, versioned page cursor |
//! | `encode.rs` | documents into NDJSON or CSV chunks |

mod cursor;
mod encode;
mod request;

use bytes::Bytes;
use futures_util::Stream;

pub(crate) use request::{ExportRequest, Format, Params};

use crate::catalog::Catalog;
use crate::query::QueryError;
use crate::store::{Store, StoreError};
use encode::Encoder;

/// Documents per batch the driver fetches (bounds the memory of a stream).
const BATCH_SIZE: u32 = 1000;

/// One page, ready to stream.
pub(crate) struct Page {
    /// The body's format.
    pub(crate) format: Format,
    /// The next page's cursor, if there is a next page.
    pub(crate) next_cursor: Option<String>,
    /// The body, chunk by chunk; an error aborts it.
    pub(crate) body: Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("format", &self.format)
            .field("next_cursor", &self.next_cursor)
            .finish_non_exhaustive()
    }
}

/// The page `req` asks for.
pub(crate) async fn page(
    store: &Store,
    catalog: &Catalog,
    req: &ExportRequest,
) -> Result<Page, QueryError> {
    let (dims, metrics) = match req.format {
        // Names noted since the last flush belong in the header.
        Format::Csv => catalog.columns(store, &req.app).await?,
        Format::Ndjson => (Vec::new(), Vec::new()),
    };
    let next: Option<cursor::Position> = store
        .events()
        .key_after(req.filter(None), u64::from(req.limit))
        .await?
        .map(Into::into);
    let scan = store
        .events()
        .scan(req.filter(next.as_ref()), BATCH_SIZE)
        .await?;
    let encoder = Encoder::new(req.app.as_str(), req.format, dims, metrics);
    let preamble = encoder
        .preamble()
        .map_err(|e| QueryError::Store(StoreError::Failed(e)))?;
    let body = futures_util::stream::try_unfold(
        (encoder, scan, Some(preamble)),
        |(mut encoder, mut scan, preamble)| async move {
            if let Some(p) = preamble.filter(|p| !p.is_empty()) {
                return Ok(Some((Bytes::from(p), (encoder, scan, None))));
            }
            Ok::<_, std::io::Error>(
                encoder
                    .chunk(&mut scan)
                    .await?
                    .map(|b| (b, (encoder, scan, None))),
            )
        },
    );
    Ok(Page {
        format: req.format,
        next_cursor: next.as_ref().map(cursor::Position::encode),
        body: Box::new(Box::pin(body)),
    })
}
