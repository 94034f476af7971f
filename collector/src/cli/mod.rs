//! The command line: `serve`, the `apps` and `rollups` commands, `query` (on the store)
//! and `report` (through a collector's HTTP API).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod apps;
mod query;
mod report;
mod report_tables;
mod rollups;
mod table;

use crate::config::{LogFormat, ServeConfig, StoreConfig};
use crate::server::{serve, shutdown_signal};
use crate::state::AppState;
use crate::store::Store;

/// UsageLens collector: ingest usage and performance events into MongoDB.
#[derive(Debug, Parser)]
#[command(name = "usagelens-collector", version)]
struct Cli {
    #[command(flatten)]
    store: StoreConfig,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(ServeConfig),
    /// Manage apps: their write keys, read tokens and allowed origins.
    #[command(subcommand)]
    Apps(apps::AppsCommand),
    /// Query the events directly in the store (the same engine as POST /v1/query).
    Query(query::QueryArgs),
    /// The rollups on the store: their status, and the backfill of an app's history.
    #[command(subcommand)]
    Rollups(rollups::RollupsCommand),
    /// A report from a collector's HTTP API (POST /v1/reports/<name>), as tables or JSON.
    Report(Box<report::ReportArgs>),
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,mongodb=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Through the HTTP API, like any client: no store of its own.
    let cli = match cli.command {
        Command::Report(a) => return report::run(*a).await,
        _ => cli,
    };
    let s = &cli.store;
    let store = Store::connect(&s.mongodb_uri, &s.database, s.write_ack(), s.store_timeout).await?;
    match cli.command {
        Command::Serve(config) => {
            init_tracing(config.log_format);
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
            // Loads and compresses the beacon's files, if any, before saying so.
            let state = AppState::new(store, config);
            tracing::info!(
                listen = %listener.local_addr()?,
                database = %s.database,
                "usagelens-collector serving"
            );
            serve(state, listener, shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        Command::Apps(cmd) => apps::run(&store, cmd).await?,
        Command::Query(q) => query::run(&store, q).await?,
        Command::Rollups(cmd) => rollups::run(&store, cmd).await?,
        Command::Report(_) => unreachable!("answered before the store is opened"),
    }
    Ok(())
}
