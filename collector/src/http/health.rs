//! `GET /healthz` (the process answers) and `GET /readyz` (the store
//! answers and every background job is within its deadline).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::ApiError;
use crate::state::AppState;

/// `GET /healthz`.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: `200 {"status": "ready", "jobs": [...], "store":
/// {"version", "warnings"}}`, else `503` with
/// `store_unavailable` or `not_ready` naming the unhealthy jobs.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "not ready: the store does not answer");
        return ApiError::StoreUnreachable.into_response();
    }
    let unhealthy = state.health.unhealthy();
    if !unhealthy.is_empty() {
        let names: Vec<String> = unhealthy
            .iter()
            .map(|j| match &j.last_error {
                Some(e) => format!("{} ({e})", j.name),
                None => format!("{} (no progress for {} ms)", j.name, j.since_alive_ms),
            })
            .collect();
        tracing::warn!(jobs = %names.join(", "), "not ready");
        return ApiError::NotReady(format!("background jobs behind: {}", names.join(", ")))
            .into_response();
    }
    let store = match state.store_version().await {
        Some(v) => serde_json::json!({ "version": v.version, "warnings": v.warnings }),
        None => serde_json::json!({
            "version": null,
            "warnings": ["the store's version could not be read (buildInfo); percentile measures need MongoDB 7.0"],
        }),
    };
    Json(serde_json::json!({ "status": "ready", "jobs": state.health.report(), "store": store }))
        .into_response()
}
