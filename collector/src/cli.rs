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
    /// Query the events directly in the store (the same engine as POST /v1/query).
    Query(QueryArgs),
}

/// `usagelens-collector query --app demo --type click --group-by widget --measure count --since 7d`
#[derive(Debug, clap::Args)]
struct QueryArgs {
    /// App id.
    #[arg(long)]
    app: String,
    /// Event type (repeatable).
    #[arg(long = "type")]
    types: Vec<String>,
    /// Group by this dimension (repeatable).
    #[arg(long = "group-by")]
    group_by: Vec<String>,
    /// `count`, `users`, `sessions`, or `<fn>:<metric>` like `p95:duration_ms` (repeatable; default count).
    #[arg(long = "measure")]
    measures: Vec<String>,
    /// Only events of the last N minutes/hours/days (`30m`, `12h`, `7d`).
    #[arg(long)]
    since: Option<String>,
    /// Bucket by `minute | hour | day | week | month`.
    #[arg(long)]
    interval: Option<String>,
    /// Time zone of the buckets.
    #[arg(long)]
    tz: Option<String>,
    /// Most rows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
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
        Command::Query(q) => query_command(&store, q).await?,
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

fn since_ms(s: &str) -> anyhow::Result<i64> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("--since: write like 30m, 12h or 7d"))?;
    let ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => anyhow::bail!("--since: write like 30m, 12h or 7d"),
    };
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    Ok(now - n * ms)
}

async fn query_command(store: &Store, a: QueryArgs) -> anyhow::Result<()> {
    let measures: Vec<serde_json::Value> = a
        .measures
        .iter()
        .map(|m| match m.split_once(':') {
            Some((f, of)) => serde_json::json!({"fn": f, "of": of}),
            None => serde_json::json!(m),
        })
        .collect();
    let mut q = serde_json::json!({
        "app": a.app, "group_by": a.group_by, "measures": measures, "limit": a.limit,
    });
    if !a.types.is_empty() {
        q["types"] = serde_json::json!(a.types);
    }
    if let Some(s) = &a.since {
        q["from"] = serde_json::json!(since_ms(s)?);
    }
    if let Some(i) = &a.interval {
        q["interval"] = serde_json::json!(i);
    }
    if let Some(tz) = &a.tz {
        q["tz"] = serde_json::json!(tz);
    }
    if !a.group_by.is_empty() && a.interval.is_none() {
        // Most first, as a ranking is what a grouped query usually asks.
        let first = match a.measures.first().map(String::as_str) {
            None | Some("count") => "count".to_owned(),
            Some(m) => m.replace(':', "_"),
        };
        q["order_by"] = serde_json::json!([{"by": first, "desc": true}]);
    }
    let req: crate::query::QueryRequest = serde_json::from_value(q)?;
    let plan = crate::query::compile(&req)?;
    let rows = crate::query::execute(store, &plan, crate::query::QUERY_TIME_LIMIT).await?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"columns": plan.columns, "rows": rows})
        );
        return Ok(());
    }
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "(none)".into(),
        other => other.to_string(),
    };
    let table: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    let widths: Vec<usize> = plan
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(&plan.columns));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    );
    for r in &table {
        println!("{}", line(r));
    }
    Ok(())
}
