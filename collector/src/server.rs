//! The router, its state, and `serve` with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::apps::AppCache;
use crate::beacon::{self, Beacon};
use crate::catalog::Catalog;
use crate::config::ServeConfig;
use crate::ingest::{handle_batch, handle_preflight};
use crate::ratelimit::{Limits, Rate};
use crate::store::Store;

/// Everything a request handler needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The MongoDB store.
    pub store: Store,
    /// The serve options.
    pub config: Arc<ServeConfig>,
    /// Apps by id, cached.
    pub apps: Arc<AppCache>,
    /// Names waiting for the catalog.
    pub catalog: Arc<Catalog>,
    /// Rate limiters.
    pub limits: Arc<Limits>,
    /// The browser beacon's files (from `--beacon-dir`), or why there are none.
    pub beacon: Arc<Beacon>,
}

impl AppState {
    /// State over `store` with `config`. Reads and compresses the beacon's
    /// files from `config.beacon_dir`, if set.
    pub fn new(store: Store, config: ServeConfig) -> Self {
        Self {
            beacon: Arc::new(Beacon::load(config.beacon_dir.as_deref())),
            apps: Arc::new(AppCache::new(config.app_cache_ttl)),
            catalog: Arc::new(Catalog::default()),
            limits: Arc::new(Limits::new(
                Rate(config.rate_limit_ip),
                Rate(config.rate_limit_app),
            )),
            config: Arc::new(config),
            store,
        }
    }
}

/// The router, without a socket (tests drive it with `tower::ServiceExt::oneshot`).
pub fn app(state: AppState) -> Router {
    // The read API answers any origin: it is authorized by the Bearer read
    // token alone, never by cookies, so a page elsewhere reads nothing
    // without the token (and a dashboard on another origin can use it).
    let read_api_cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::header::ACCEPT,
        ])
        .expose_headers([
            axum::http::HeaderName::from_static("usagelens-next-cursor"),
            axum::http::header::LINK,
            axum::http::header::RETRY_AFTER,
        ])
        .max_age(std::time::Duration::from_secs(600));
    let read_api = Router::new()
        .route("/v1/query", post(crate::query::handle_query))
        .route("/v1/events", get(crate::export::handle_events))
        .route("/v1/dimensions", get(crate::query::handle_dimensions))
        .route(
            "/v1/dimensions/{name}/hide",
            post(crate::query::handle_hide),
        )
        .layer(read_api_cors);
    Router::new()
        .route("/v1/batch", post(handle_batch).options(handle_preflight))
        .merge(read_api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/beacon.js", get(beacon::handle_tag))
        .route("/beacon/{*file}", get(beacon::handle_file))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(usagelens_protocol::ErrorBody::new(
                    "store_unavailable",
                    "the event store is not reachable",
                )),
            )
                .into_response()
        }
    }
}

/// Serves until `shutdown` resolves, then finishes in-flight requests
/// (bounded by `shutdown_timeout`) and flushes the catalog.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let indexes_ready = match state.store.ensure_indexes().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not create indexes yet; serving and retrying in the background");
            false
        }
    };
    let background = tokio::spawn(background(state.clone(), indexes_ready));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let timeout = state.config.shutdown_timeout;
    let server = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    let mut stop_rx2 = stop_rx.clone();
    tokio::select! {
        r = server => r?,
        _ = async {
            let _ = stop_rx2.wait_for(|s| *s).await;
            tokio::time::sleep(timeout).await;
        } => tracing::warn!("in-flight requests did not finish within {timeout:?}"),
    }
    background.abort();
    match state.catalog.flush(&state.store).await {
        Ok(n) => tracing::info!(entries = n, "catalog flushed"),
        Err(e) => tracing::warn!(error = %e, "catalog flush at shutdown failed"),
    }
    Ok(())
}

async fn background(state: AppState, mut indexes_ready: bool) {
    let mut tick = tokio::time::interval(state.config.catalog_flush);
    tick.tick().await;
    loop {
        tick.tick().await;
        if !indexes_ready {
            indexes_ready = state.store.ensure_indexes().await.is_ok();
            if indexes_ready {
                tracing::info!("indexes created");
            }
        }
        if let Err(e) = state.catalog.flush(&state.store).await {
            tracing::warn!(error = %e, "catalog flush failed; will retry");
        }
        state.limits.prune();
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
