//! The HTTP API: the router, one error type, read-token auth as an
//! extractor, CORS, static assets, and one thin handler file per surface.
//! A handler extracts, calls one domain function, and maps its error.
//!
//! | module | surface |
//! |---|---|
//! | `batch.rs` | `POST /v1/batch`, its `OPTIONS` preflight |
//! | `query.rs` | `POST /v1/query` |
//! | `reports.rs` | `POST /v1/reports/{name}` |
//! | `events.rs` | `GET /v1/events` |
//! | `dimensions.rs` | `GET /v1/dimensions`, `POST /v1/dimensions/{name}/hide` |
//! | `health.rs` | `GET /healthz`, `GET /readyz` |
//! | `assets.rs` | `GET /beacon.js`, `GET /beacon/{file}` |
//! | `auth.rs` | `Authorization: Bearer <read token>` |
//! | `cors.rs` | CORS per surface |
//! | `forwarded.rs` | the client's address behind trusted proxies (`X-Forwarded-For`) |
//! | `error.rs` | [`ApiError`]: status, code, `Retry-After`, logging |

mod assets;
mod auth;
mod batch;
mod cors;
mod dimensions;
mod error;
mod events;
mod forwarded;
mod health;
mod query;
mod reports;
mod rollups;

use axum::routing::{delete, get, post};
use axum::Router;

pub(crate) use error::ApiError;

use crate::state::AppState;

/// The router, without a socket (tests drive it with `tower::ServiceExt::oneshot`).
pub fn app(state: AppState) -> Router {
    let read_api = Router::new()
        .route("/v1/query", post(query::post))
        .route("/v1/reports/{name}", post(reports::post))
        .route("/v1/rollups", get(rollups::list).post(rollups::declare))
        .route("/v1/rollups/{name}", delete(rollups::drop_rollup))
        .route("/v1/events", get(events::get))
        .route("/v1/dimensions", get(dimensions::list))
        .route("/v1/dimensions/{name}/hide", post(dimensions::hide))
        .layer(cors::read_api());
    Router::new()
        .route("/v1/batch", post(batch::post).options(batch::preflight))
        .merge(read_api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/beacon.js", get(assets::beacon_tag))
        .route("/beacon/{*file}", get(assets::beacon_file))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
