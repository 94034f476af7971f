//! `POST /v1/reports/{name}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;

use super::auth::ReadAccess;
use super::ApiError;
use crate::reports::{ReportRequest, REPORTS};
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
    r.check_store(state.store_version().await.as_ref())?;
    Ok(Json(
        r.run(&state.store, &state.catalog, state.config.query_timeout)
            .await?,
    ))
}
