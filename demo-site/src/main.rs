//! `usagelens-demo-site`: run with `cargo xtask demo` (which passes the
//! collector's address and the app's write key), or by hand:
//! `usagelens-demo-site --collector http://127.0.0.1:8080 --write-key wk_…`.

use clap::Parser;
use usagelens::Options;
use usagelens_demo_site::{app, SiteConfig};

/// The UsageLens demo site: a reports workspace instrumented with the beacon and the native SDK.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "DEMO_LISTEN", default_value = "127.0.0.1:3000")]
    listen: std::net::SocketAddr,
    /// The collector's base URL.
    #[arg(
        long,
        env = "USAGELENS_ENDPOINT",
        default_value = "http://127.0.0.1:8080"
    )]
    collector: String,
    /// The app id.
    #[arg(long, env = "USAGELENS_APP", default_value = "demo")]
    app: String,
    /// The app's write key.
    #[arg(long, env = "USAGELENS_WRITE_KEY")]
    write_key: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut options = Options::new(args.app.clone(), args.write_key.clone());
    options.endpoint = args.collector.clone();
    let guard = usagelens::init(options)?;
    let sdk = guard.client().clone();
    sdk.start_memory_sampler(std::time::Duration::from_secs(30))?;
    let cfg = SiteConfig {
        collector: args.collector,
        app: args.app,
        write_key: args.write_key,
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(listen = %listener.local_addr()?, "demo site serving");
    axum::serve(listener, app(cfg, sdk))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // Dropping the guard delivers what the SDK still holds (bounded).
    tokio::task::spawn_blocking(move || drop(guard)).await?;
    Ok(())
}
