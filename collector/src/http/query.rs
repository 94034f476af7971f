//! `POST /v1/query`.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;

use super::auth::ReadAccess;
use super::ApiError;
use crate::query::{self, QueryResponse};
use crate::rollups;
use crate::state::AppState;

/// `POST /v1/query`: the body is a [`query::QueryRequest`].
pub(super) async fn post(
    State(state): State<AppState>,
    access: ReadAccess,
    body: Bytes,
) -> Result<Json<QueryResponse>, ApiError> {
    let q = query::parse_request(&body)?;
    access.allow(q.app())?;
    query::check_store(&q, state.store_version().await.as_ref())?;
    Ok(Json(
        rollups::answer(&state.store, &q, state.config.query_timeout).await?,
    ))
}
