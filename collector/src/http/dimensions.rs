//! The dimension catalog: `GET /v1/dimensions?app=` and
//! `POST /v1/dimensions/{name}/hide?app=`.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

use super::auth::ReadAccess;
use super::ApiError;
use crate::apps::AppId;
use crate::catalog::{CatalogEntry, CatalogError};
use crate::state::AppState;

/// `?app=` of the catalog endpoints.
#[derive(Debug, Deserialize)]
pub(super) struct AppParam {
    app: String,
}

impl AppParam {
    fn app(&self, access: &ReadAccess) -> Result<AppId, ApiError> {
        let app = AppId::parse(&self.app).map_err(CatalogError::Invalid)?;
        access.allow(&app)?;
        Ok(app)
    }
}

/// `GET /v1/dimensions?app=`: every dimension and metric name the app has
/// sent (hidden ones left out), so users discover custom dimensions.
pub(super) async fn list(
    State(state): State<AppState>,
    access: ReadAccess,
    Query(p): Query<AppParam>,
) -> Result<Json<Vec<CatalogEntry>>, ApiError> {
    let app = p.app(&access)?;
    Ok(Json(state.catalog.entries(&state.store, &app).await?))
}

/// `POST /v1/dimensions/{name}/hide?app=`: retires a name from the catalog;
/// the events keep their data.
pub(super) async fn hide(
    State(state): State<AppState>,
    access: ReadAccess,
    Path(name): Path<String>,
    Query(p): Query<AppParam>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = p.app(&access)?;
    state.catalog.hide(&state.store, &app, &name).await?;
    Ok(Json(serde_json::json!({ "name": name, "hidden": true })))
}
