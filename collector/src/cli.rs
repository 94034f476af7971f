//! The command line: `serve` and the `apps` commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::apps;
use crate::config::{LogFormat, ServeConfig, StoreConfig};
use crate::server::{serve, shutdown_signal, AppState};
use crate::store::Store;

/// UsageLens collector: ingest usage and performance events into MongoDB.
#[derive(Debug, Parser)]
#[command(name = "usagelens-collector", version)]
pub struct Cli {
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
    Apps(AppsCommand),
}

#[derive(Debug, Subcommand)]
enum AppsCommand {
    /// Create an app; prints {"id","write_key","read_token"}. The read token is shown only now.
    Create {
        /// App id: ^[a-z0-9][a-z0-9_-]{0,63}$
        id: String,
        /// A browser origin allowed to send events (scheme://host[:port], or *). Repeatable.
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
    /// List apps as JSON (ids, write keys, origins; never read tokens).
    List,
    /// Issue a new write key (or, with --read-token, a new read token).
    RotateKey {
        /// App id.
        id: String,
        /// Rotate the read token instead of the write key.
        #[arg(long)]
        read_token: bool,
    },
    /// Delete an app and its catalog (its events stay unless --purge-events).
    Delete {
        /// App id.
        id: String,
        /// Delete the app's events too.
        #[arg(long)]
        purge_events: bool,
    },
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
        Command::Apps(cmd) => apps_command(&store, cmd).await?,
    }
    Ok(())
}

async fn apps_command(store: &Store, cmd: AppsCommand) -> anyhow::Result<()> {
    let out = match cmd {
        AppsCommand::Create { id, origins } => {
            serde_json::to_value(apps::create(store, &id, &origins).await?)?
        }
        AppsCommand::List => serde_json::to_value(apps::list(store).await?)?,
        AppsCommand::RotateKey {
            id,
            read_token: false,
        } => {
            serde_json::json!({ "id": id, "write_key": apps::rotate_write_key(store, &id).await? })
        }
        AppsCommand::RotateKey {
            id,
            read_token: true,
        } => {
            serde_json::json!({ "id": id, "read_token": apps::rotate_read_token(store, &id).await? })
        }
        AppsCommand::Delete { id, purge_events } => {
            let purged = apps::delete(store, &id, purge_events).await?;
            serde_json::json!({ "id": id, "deleted": true, "events_deleted": purged })
        }
    };
    println!("{out}");
    Ok(())
}
