//! Read-API authentication: `Authorization: Bearer <read token>`, as an
//! extractor. The token names its app (one lookup by the token's SHA-256);
//! a handler then checks that app against the one the request reads.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::ApiError;
use crate::apps::{self, AppId};
use crate::state::AppState;

/// The app a request's read token belongs to.
#[derive(Debug, Clone)]
pub(crate) struct ReadAccess {
    app: String,
}

impl ReadAccess {
    /// Allows reading `app`: the token is `app`'s, or [`ApiError::Forbidden`].
    pub(crate) fn allow(&self, app: &AppId) -> Result<(), ApiError> {
        if self.app == app.as_str() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(app.to_string()))
        }
    }
}

impl FromRequestParts<AppState> for ReadAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::MissingToken)?;
        match apps::owner_of_read_token(&state.store, token).await? {
            Some(app) => Ok(Self { app }),
            None => Err(ApiError::BadToken),
        }
    }
}
