//! Rollups an app declares (`POST /v1/rollups`, `rollups declare`), beside
//! the built-in ones: checked, stored in `rollup_state`, built for that app
//! from the hour after the next one on (a backfill builds earlier history),
//! and dropped with their documents.

use mongodb::bson::{doc, DateTime};
use serde::Deserialize;

use super::{builtin, grain_ceil, Grain, Rollup, MAX_DECLARED};
use crate::apps::AppId;
use crate::query::{self, QueryError};
use crate::store::{Store, StoreError};

const HOUR_MS: i64 = 3_600_000;

/// Why a declaration or a drop failed.
#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    /// The declaration is malformed; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The name is taken (by a built-in rollup or a declared one).
    #[error("{0}")]
    Exists(String),
    /// No declared rollup has that name.
    #[error("{0}")]
    Unknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<QueryError> for RollupError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Store(s) => Self::Store(s),
            other => Self::Invalid(other.to_string()),
        }
    }
}

/// The body of `POST /v1/rollups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(deserialize_with = "query::app_id")]
    app: AppId,
    name: String,
    types: Vec<String>,
    #[serde(default)]
    dims: Vec<String>,
    #[serde(default)]
    metrics: Option<Vec<String>>,
    grain: Grain,
}

/// A declaration read from a request body: the app and the rollup, checked.
pub(crate) fn parse_declaration(body: &[u8]) -> Result<(AppId, Rollup), RollupError> {
    let b: Body = query::parse_json(body, "", "the body is not a valid rollup declaration")?;
    let r = Rollup {
        name: b.name,
        types: b.types,
        dims: b.dims,
        metrics: b.metrics.unwrap_or_else(|| vec!["*".into()]),
        grain: b.grain,
        app: Some(b.app.as_str().to_owned()),
    };
    r.check()?;
    Ok((b.app, r))
}

/// The state document of a declared rollup.
pub(crate) fn declared_id(app: &str, name: &str) -> String {
    format!("declared:{app}:{name}")
}

/// Records `r` (declared by its app) at `now_ms`; built from the first
/// bucket an hour after the next hour boundary. Returns that time.
pub async fn declare(store: &Store, r: &Rollup, now_ms: i64) -> Result<i64, RollupError> {
    let app = r
        .app
        .as_deref()
        .ok_or_else(|| RollupError::Invalid("app: a declared rollup names its app".into()))?;
    if builtin().iter().any(|b| b.name == r.name) {
        return Err(RollupError::Exists(format!(
            "name: `{}` is a built-in rollup; choose another name",
            r.name
        )));
    }
    let have = declared(store, app).await?;
    if have.iter().any(|d| d.name == r.name) {
        return Err(RollupError::Exists(format!(
            "name: app `{app}` already has a rollup `{}`; drop it first to change it",
            r.name
        )));
    }
    if have.len() >= MAX_DECLARED {
        return Err(RollupError::Invalid(format!(
            "app `{app}` has {MAX_DECLARED} declared rollups, the most it may: drop one first"
        )));
    }
    let since = grain_ceil(grain_ceil(now_ms, Grain::Hour) + HOUR_MS, r.grain);
    let def = mongodb::bson::to_bson(r).map_err(|e| StoreError::Failed(e.to_string()))?;
    let created = store
        .rollups()
        .insert_state(doc! {
            "_id": declared_id(app, &r.name), "declared": true, "app": app, "name": &r.name,
            "def": def, "hash": r.hash(), "since": DateTime::from_millis(since),
            "created_at": DateTime::from_millis(now_ms),
        })
        .await?;
    if !created {
        return Err(RollupError::Exists(format!(
            "name: app `{app}` already has a rollup `{}`",
            r.name
        )));
    }
    Ok(since)
}

/// The rollups `app` declared.
pub async fn declared(store: &Store, app: &str) -> Result<Vec<Rollup>, StoreError> {
    let docs = store.rollups().declared(app).await?;
    Ok(docs
        .iter()
        .filter_map(|d| {
            let def = d.get_document("def").ok()?;
            let mut r: Rollup = mongodb::bson::from_document(def.clone())
                .map_err(
                    |e| tracing::warn!(error = %e, "a declared rollup does not read back; skipped"),
                )
                .ok()?;
            if builtin().iter().any(|b| b.name == r.name) {
                // Declared before a built-in took the name: the two would
                // share their documents, so the built-in one is read.
                tracing::warn!(app, rollup = %r.name, "a declared rollup has a built-in rollup's name; skipped (declare it again under another name)");
                return None;
            }
            r.app = Some(app.to_owned());
            Some(r)
        })
        .collect())
}

/// The built-in rollups and those `app` declared.
pub async fn for_app(store: &Store, app: &str) -> Result<Vec<Rollup>, StoreError> {
    let mut all = builtin();
    all.extend(declared(store, app).await?);
    Ok(all)
}

/// Drops `app`'s declared rollup `name` and its documents; returns how
/// many documents went.
pub async fn drop_declared(store: &Store, app: &str, name: &str) -> Result<u64, RollupError> {
    if builtin().iter().any(|b| b.name == name) {
        return Err(RollupError::Invalid(format!(
            "`{}` is a built-in rollup: it cannot be dropped",
            name.escape_debug()
        )));
    }
    if !store
        .rollups()
        .delete_state(&declared_id(app, name))
        .await?
    {
        return Err(RollupError::Unknown(format!(
            "app `{app}` has no declared rollup `{}`",
            name.escape_debug()
        )));
    }
    let _ = store
        .rollups()
        .delete_state(&format!("{name}:{app}"))
        .await?;
    Ok(store.rollups().delete_rollup_of(name, app).await?)
}
