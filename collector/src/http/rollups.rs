//! `GET /v1/rollups?app=`: the rollups, what each is built from, and the
//! hours waiting to be rebuilt (the watermark); `POST /v1/rollups` and
//! `DELETE /v1/rollups/{name}?app=`: an app's own rollups.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::ReadAccess;
use super::ApiError;
use crate::apps::AppId;
use crate::query::QueryError;
use crate::rollups;
use crate::state::AppState;
use crate::store::json::rfc3339;

/// `?app=`.
#[derive(Debug, Deserialize)]
pub(super) struct AppParam {
    app: String,
}

/// `GET /v1/rollups?app=`.
pub(super) async fn list(
    State(state): State<AppState>,
    access: ReadAccess,
    Query(p): Query<AppParam>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = AppId::parse(&p.app).map_err(QueryError::Invalid)?;
    access.allow(&app)?;
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    Ok(Json(
        rollups::status(
            &state.store,
            &rollups::for_app(&state.store, app.as_str())
                .await
                .map_err(QueryError::Store)?,
            app.as_str(),
            now,
        )
        .await
        .map_err(QueryError::Store)?,
    ))
}

/// `POST /v1/rollups`: declares a rollup of the app (`{app, name, types,
/// dims, metrics?, grain}`); 201 with it and the time it is built from.
pub(super) async fn declare(
    State(state): State<AppState>,
    access: ReadAccess,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (app, r) = rollups::parse_declaration(&body)?;
    access.allow(&app)?;
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    let since = rollups::declare(&state.store, &r, now).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "app": app.as_str(), "name": r.name, "types": r.types, "dims": r.dims,
            "metrics": r.metrics, "grain": r.grain.as_str(), "builtin": false,
            "built_from": rfc3339(since),
        })),
    ))
}

/// `DELETE /v1/rollups/{name}?app=`: drops a declared rollup and its documents.
pub(super) async fn drop_rollup(
    State(state): State<AppState>,
    access: ReadAccess,
    Path(name): Path<String>,
    Query(p): Query<AppParam>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = AppId::parse(&p.app).map_err(QueryError::Invalid)?;
    access.allow(&app)?;
    let documents = rollups::drop_declared(&state.store, app.as_str(), &name).await?;
    Ok(Json(
        serde_json::json!({ "app": app.as_str(), "name": name, "dropped": true, "documents": documents }),
    ))
}
