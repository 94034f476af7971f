//! `serve`: the HTTP API and the background jobs, with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::http;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SystemClock;
use crate::jobs::{CatalogFlush, Indexes, LimitsPrune, RollupBuilder, Supervisor};
use crate::lease::{Lease, DEFAULT_TTL};
use crate::state::AppState;

/// Serves until `shutdown` resolves, then finishes in-flight requests
/// (bounded by `shutdown_timeout`), stops the jobs and flushes the catalog.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let every = state.config.catalog_flush;
    // Says, in the log, what does not work on an old server (and caches it for /readyz).
    let _ = state.store_version().await;
    let mut jobs = Supervisor::new(state.health.clone());
    if let Err(e) = state.store.ensure_indexes().await {
        tracing::warn!(error = %e, "could not create indexes yet; serving and retrying in the background");
        jobs.spawn(Indexes {
            store: state.store.clone(),
            every,
        });
    }
    jobs.spawn(CatalogFlush {
        store: state.store.clone(),
        catalog: state.catalog.clone(),
        every,
    });
    jobs.spawn(LimitsPrune {
        limits: state.limits.clone(),
        every,
    });

    let clock = Arc::new(SystemClock);
    jobs.spawn_singleton(
        RollupBuilder {
            store: state.store.clone(),
            clock: clock.clone(),
            rollups: crate::rollups::builtin(),
            every: state.config.rollup_build_every,
            // A burst of batches into one hour is built once.
            settle: state.config.rollup_build_every.min(Duration::from_secs(1)),
            ensured: false,
        },
        Lease::new(
            state.store.clone(),
            crate::jobs::ROLLUP_LEASE,
            DEFAULT_TTL,
            clock,
        ),
    );

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let timeout = state.config.shutdown_timeout;
    let server = axum::serve(
        listener,
        http::app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    tokio::select! {
        r = server => r?,
        _ = async {
            let _ = stop_rx.wait_for(|s| *s).await;
            tokio::time::sleep(timeout).await;
        } => tracing::warn!("in-flight requests did not finish within {timeout:?}"),
    }
    // The catalog job's last step flushes what the last batches noted.
    jobs.shutdown(timeout).await;
    Ok(())
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
