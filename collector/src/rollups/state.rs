//! What each rollup has built: its definition's hash and the first bucket
//! it is built from (`since`, for every app; earlier for an app after a
//! backfill), and the backfill that marks an app's history to be built.

use mongodb::bson::{doc, DateTime};
use serde_json::{json, Value};

use super::{grain_ceil, Grain, Rollup};
use crate::store::json::rfc3339;
use crate::store::{Store, StoreError};

const HOUR_MS: i64 = 3_600_000;

/// Records each rollup's definition. A new one, or one whose definition
/// changed (its old documents deleted), is built from the first bucket
/// starting an hour after `now_ms`: every event of that time on is marked
/// by ingest, so nothing before it is claimed until a backfill builds it.
pub async fn ensure(store: &Store, rollups: &[Rollup], now_ms: i64) -> Result<(), StoreError> {
    for r in rollups.iter().filter(|r| r.app.is_none()) {
        let since = grain_ceil(grain_ceil(now_ms, Grain::Hour) + HOUR_MS, r.grain);
        let hash = r.hash();
        let fields = doc! { "hash": &hash, "since": DateTime::from_millis(since), "def": mongodb::bson::to_bson(r).unwrap_or_default() };
        let stored = store.rollups().init_state(&r.name, fields.clone()).await?;
        if stored.get_str("hash").ok() != Some(hash.as_str()) {
            let gone = store.rollups().delete_rollup(&r.name).await?;
            tracing::info!(rollup = %r.name, deleted = gone, "the rollup's definition changed; rebuilding it from the next hour");
            store.rollups().set_state(&r.name, fields).await?;
        }
    }
    Ok(())
}

/// Marks every hour of `app` with events in `[since_ms, now_ms)` to be
/// (re)built in every rollup, and records that the rollups cover the app
/// from `since_ms` on (the hours not yet rebuilt are read raw meanwhile).
/// Returns the hours marked.
pub async fn backfill(
    store: &Store,
    rollups: &[Rollup],
    app: &str,
    since_ms: i64,
    now_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    let hours = store.events().hours(app, since_ms, now_ms).await?;
    for chunk in hours.chunks(500) {
        store.rollups().mark_dirty(app, chunk, now_ms).await?;
    }
    for r in rollups {
        let (id, hash) = (format!("{}:{app}", r.name), r.hash());
        // A backfill of less history keeps what an earlier one of the same
        // definition built: `--since 7d` after `--since 90d` narrows nothing.
        let earlier = store
            .rollups()
            .state(&id)
            .await?
            .filter(|d| d.get_str("hash").ok() == Some(hash.as_str()))
            .and_then(|d| d.get_datetime("from").ok().map(|t| t.timestamp_millis()));
        let from = grain_ceil(since_ms, r.grain);
        let from = earlier.map_or(from, |e| e.min(from));
        store
            .rollups()
            .set_state(
                &id,
                doc! { "hash": hash, "from": DateTime::from_millis(from), "app": app, "r": &r.name },
            )
            .await?;
    }
    Ok(hours)
}

/// Where `r` is built from for `app`: its `since` or, after a backfill,
/// the app's earlier `from`; `None` while its current definition is not
/// recorded (a new or changed rollup, before the builder records it).
pub(crate) async fn built_from(
    store: &Store,
    r: &Rollup,
    app: &str,
) -> Result<Option<i64>, StoreError> {
    let hash = r.hash();
    let current = |d: &mongodb::bson::Document| d.get_str("hash").ok() == Some(hash.as_str());
    let Some(own) = store.rollups().state(&r.state_id()).await?.filter(current) else {
        return Ok(None);
    };
    let since = own.get_datetime("since").ok().map(|t| t.timestamp_millis());
    let app_from = store
        .rollups()
        .state(&format!("{}:{app}", r.name))
        .await?
        .filter(current)
        .and_then(|d| d.get_datetime("from").ok().map(|t| t.timestamp_millis()));
    Ok(match (since, app_from) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Dirty hours listed in a status.
const LISTED: i64 = 100;

/// `GET /v1/rollups`: each rollup's definition, what it is built from,
/// its documents, and the hours waiting to be rebuilt (of `app`).
pub async fn status(
    store: &Store,
    rollups: &[Rollup],
    app: &str,
    now_ms: i64,
) -> Result<Value, StoreError> {
    let (marks, total) = store.rollups().marks(Some(app), LISTED).await?;
    let mut list = Vec::new();
    for r in rollups {
        let from = built_from(store, r, app).await?;
        list.push(json!({
            "name": r.name, "types": r.types, "dims": r.dims, "metrics": r.metrics,
            "grain": r.grain.as_str(), "builtin": r.app.is_none(),
            "built_from": from.map(rfc3339),
            "documents": store.rollups().count(&r.name, Some(app)).await?,
        }));
    }
    // Everything before the oldest hour waiting is built.
    let watermark = rfc3339(marks.first().map_or(now_ms, |m| m.hour_ms.min(now_ms)));
    Ok(json!({
        "app": app,
        "rollups": list,
        "watermark": watermark,
        "dirty": {
            "count": total,
            "hours": marks.iter().map(|m| json!({"hour": rfc3339(m.hour_ms), "marked_at": rfc3339(m.at_ms)})).collect::<Vec<_>>(),
        },
    }))
}
