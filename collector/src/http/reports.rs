//! `POST /v1/reports/{name}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;

use super::auth::ReadAccess;
use super::ApiError;
use crate::reports::{Context, ReportRequest, REPORTS};
use crate::state::AppState;

/// `POST /v1/reports/{name}`: the body is the report's request (docs/reports.md).
pub(super) async fn post(
    State(state): State<AppState>,
    Path(name): Path<String>,
    access: ReadAccess,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    let Some(r) = ReportRequest::parse(&name, &body, now)? else {
        return Err(ApiError::UnknownReport(format!(
            "no report named `{}`: the reports are {}",
            name.escape_debug(),
            REPORTS.join(", ")
        )));
    };
    access.allow(r.app())?;
    let version = state.store_version().await;
    let cx = Context {
        store: &state.store,
        catalog: &state.catalog,
        store_version: version.as_ref(),
        time_limit: state.config.query_timeout,
    };
    Ok(Json(r.run(&cx).await?))
}
