//! `rollups …`: an app's rollups on the store — their status, and the
//! backfill that builds their history.

use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;

use crate::apps::AppId;
use crate::clock::{Clock, SystemClock};
use crate::jobs::ROLLUP_LEASE;
use crate::lease::Lease;
use crate::rollups;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub(super) enum RollupsCommand {
    /// Build the rollups over an app's history: mark its hours with events
    /// since `--since` to be rebuilt, then build them — here when no
    /// collector holds the builder's lease, else by that collector — with
    /// the hours left and an ETA. Answers stay right meanwhile (the hours
    /// not rebuilt yet are read raw).
    Backfill {
        /// The app.
        #[arg(long)]
        app: String,
        /// How far back, e.g. 90d, 12h.
        #[arg(long, default_value = "90d", value_parser = humantime::parse_duration)]
        since: Duration,
        /// Mark the hours and return, leaving the building to the collectors.
        #[arg(long)]
        no_wait: bool,
    },
    /// The app's rollups, what each is built from, the dirty hours and the
    /// watermark (as `GET /v1/rollups`), as JSON.
    Status {
        /// The app.
        #[arg(long)]
        app: String,
    },
    /// Declare a rollup of the app (as `POST /v1/rollups`); it is built
    /// for new events from the hour after the next, and by a backfill.
    Declare {
        /// The app.
        #[arg(long)]
        app: String,
        /// The rollup's name.
        #[arg(long)]
        name: String,
        /// Event types, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        types: Vec<String>,
        /// Dimensions it keeps, comma-separated.
        #[arg(long, value_delimiter = ',')]
        dims: Vec<String>,
        /// Metrics it summarizes, comma-separated (default: all, `*`).
        #[arg(long, value_delimiter = ',')]
        metrics: Vec<String>,
        /// Bucket width: minute, hour or day (UTC).
        #[arg(long, default_value = "hour")]
        grain: String,
    },
    /// Drop a rollup the app declared, and its documents.
    Drop {
        /// The app.
        #[arg(long)]
        app: String,
        /// The rollup's name.
        #[arg(long)]
        name: String,
    },
}

/// The CLI's hold on the builder's lease: long enough for a day of hours.
const CLI_LEASE_TTL: Duration = Duration::from_secs(120);
/// Hours built between two renewals of the lease.
const HOURS_PER_PASS: i64 = 24;

pub(super) async fn run(store: &Store, cmd: RollupsCommand) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cmd {
        RollupsCommand::Status { app } => {
            let app = AppId::parse(&app).map_err(|e| anyhow::anyhow!(e))?;
            let all = rollups::for_app(store, app.as_str()).await?;
            let s = rollups::status(store, &all, app.as_str(), clock.now_ms()).await?;
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
        RollupsCommand::Backfill {
            app,
            since,
            no_wait,
        } => {
            let app = AppId::parse(&app).map_err(|e| anyhow::anyhow!(e))?;
            let now = clock.now_ms();
            store.ensure_indexes().await?;
            let all = rollups::for_app(store, app.as_str()).await?;
            rollups::ensure(store, &all, now).await?;
            let since_ms = now - since.as_millis() as i64;
            let hours = rollups::backfill(store, &all, app.as_str(), since_ms, now).await?;
            eprintln!(
                "{} hours of {} with events since {} marked to be rebuilt in {} rollups",
                hours.len(),
                app.as_str(),
                crate::store::json::rfc3339(since_ms),
                all.len()
            );
            if no_wait || hours.is_empty() {
                return Ok(());
            }
            let builtins = rollups::builtin();
            wait_and_build(store, &builtins, app.as_str(), now, clock).await?;
        }
        RollupsCommand::Declare {
            app,
            name,
            types,
            dims,
            metrics,
            grain,
        } => {
            // Read as the API reads a body, so an error names its field.
            let mut body = serde_json::json!({
                "app": app, "name": name, "types": types, "dims": dims, "grain": grain,
            });
            if !metrics.is_empty() {
                body["metrics"] = serde_json::json!(metrics);
            }
            let (app, r) = rollups::parse_declaration(&serde_json::to_vec(&body)?)?;
            let since = rollups::declare(store, &r, clock.now_ms()).await?;
            println!(
                "declared rollup {} of {}: built from {} on; `rollups backfill --app {}` builds the history",
                r.name,
                app.as_str(),
                crate::store::json::rfc3339(since),
                app.as_str()
            );
        }
        RollupsCommand::Drop { app, name } => {
            let app = AppId::parse(&app).map_err(|e| anyhow::anyhow!(e))?;
            let n = rollups::drop_declared(store, app.as_str(), &name).await?;
            println!("dropped rollup {name} of {} ({n} documents)", app.as_str());
        }
    }
    Ok(())
}

/// Builds (or waits for the lease holder to build) the app's hours and
/// days marked that ended by `marked_at` (the backfill's, and any older),
/// showing those left and an ETA.
async fn wait_and_build(
    store: &Store,
    builtins: &[rollups::Rollup],
    app: &str,
    marked_at: i64,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let total = store.rollups().count_ended(app, marked_at).await?;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} hours and days built, {elapsed} so far, about {eta} left  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut lease = Lease::new(store.clone(), ROLLUP_LEASE, CLI_LEASE_TTL, clock.clone());
    let result = async {
        loop {
            let left = store.rollups().count_ended(app, marked_at).await?;
            bar.set_position(total.saturating_sub(left));
            if left == 0 {
                break;
            }
            if lease.keep().await? {
                bar.set_message("building here");
                rollups::build_pending(
                    store,
                    builtins,
                    clock.now_ms(),
                    clock.now_ms(),
                    HOURS_PER_PASS,
                    || bar.tick(),
                )
                .await?;
            } else {
                bar.set_message("a collector holds the builder's lease: it builds");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        anyhow::Ok(())
    }
    .await;
    if lease.is_held() {
        let _ = lease.release().await;
    }
    bar.finish();
    result
}
