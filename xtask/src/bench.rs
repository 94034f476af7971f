//! `cargo xtask bench ingest|beacon|query|reports|rollups`: the benchmarks of BENCHMARKS.md,
//! each against a local store started for it (unless `MONGODB_URI` is set).

use anyhow::Result;

use crate::beacon::build_beacon;
use crate::store::{env_store_uri, rust_store, start_store, start_store_with, store_uri};
use crate::tools::ensure_browser_tools;
use crate::workspace::{cargo, run, step, target_dir, tools_dir};

/// The ingest benchmarks (`collector/benches/ingest.rs`).
pub(crate) fn ingest(extra: &[&str]) -> Result<()> {
    let (uri, _store) = store_uri(None)?;
    step("ingest benchmarks");
    run(cargo()
        .args([
            "bench",
            "-p",
            "usagelens-collector",
            "--bench",
            "ingest",
            "--",
        ])
        .args(extra)
        .env("MONGODB_URI", &uri))?;
    Ok(())
}

/// The beacon's main-thread cost in headless Chromium (`tests/benches/beacon.rs`),
/// against the release collector.
pub(crate) fn beacon(extra: &[&str]) -> Result<()> {
    ensure_browser_tools()?;
    let beacon_dir = build_beacon()?;
    run(cargo().args(["build", "--quiet", "--release", "-p", "usagelens-collector"]))?;
    let (uri, _store) = store_uri(None)?;
    step("beacon main-thread benchmark (headless Chromium)");
    let bin = target_dir().join("release").join("usagelens-collector");
    run(cargo()
        .args(["bench", "-p", "usagelens-e2e", "--bench", "beacon", "--"])
        .args(extra)
        .env("MONGODB_URI", &uri)
        .env("USAGELENS_COLLECTOR_BIN", &bin)
        .env("USAGELENS_BEACON_DIR", &beacon_dir))?;
    Ok(())
}

/// The query engine and API over a million events (`collector/benches/query.rs`),
/// on SecantusDB's Rust server when installed.
pub(crate) fn query(extra: &[&str]) -> Result<()> {
    million_event_bench(
        "query",
        "query benchmark (collector/benches/query.rs)",
        extra,
    )
}

/// Every report through the API against its own pipelines, over the same
/// million events (`collector/benches/reports.rs`).
pub(crate) fn reports(extra: &[&str]) -> Result<()> {
    million_event_bench(
        "reports",
        "reports benchmark (collector/benches/reports.rs)",
        extra,
    )
}

/// The rollups' materialization rate and the queries they answer against
/// raw, over the reports' data set (`collector/benches/rollups.rs`).
pub(crate) fn rollups(extra: &[&str]) -> Result<()> {
    million_event_bench(
        "rollups",
        "rollups benchmark (collector/benches/rollups.rs)",
        extra,
    )
}

/// A benchmark of `collector/benches/<name>.rs` over the million-event data
/// set, on SecantusDB's Rust server when installed.
fn million_event_bench(name: &str, what: &str, extra: &[&str]) -> Result<()> {
    let (uri, _store) = match env_store_uri() {
        Some(uri) => (uri, None),
        None => match rust_store() {
            Some(server) => {
                // On disk, kept between runs: the benchmark reuses the loaded events.
                let data = tools_dir().join("bench-store");
                let s = start_store_with(&server, Some(&data))?;
                (s.uri.clone(), Some(s))
            }
            None => {
                eprintln!(
                    "note: secantusd-rs is not installed; the Python server loads a million \
                     events slowly (set BENCH_EVENTS lower, or install it: \
                     `cargo +1.98.0 install secantus-mdb --version 0.5.3-beta.196`)"
                );
                let s = start_store(None)?;
                (s.uri.clone(), Some(s))
            }
        },
    };
    step(what);
    run(cargo()
        .args(["bench", "-p", "usagelens-collector", "--bench", name, "--"])
        .args(extra)
        .env("MONGODB_URI", &uri))?;
    Ok(())
}
