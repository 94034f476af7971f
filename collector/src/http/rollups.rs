//! `GET /v1/rollups?app=`: the rollups, what each is built from, and the
//! hours waiting to be rebuilt (the watermark).

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use super::auth::ReadAccess;
use super::ApiError;
use crate::apps::AppId;
use crate::query::QueryError;
use crate::rollups;
use crate::state::AppState;

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
        rollups::status(&state.store, &rollups::builtin(), app.as_str(), now)
            .await
            .map_err(QueryError::Store)?,
    ))
}
