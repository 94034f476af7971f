//! The project's task runner: `cargo xtask <task>`.
//!
//! | task | what it does | file |
//! |---|---|---|
//! | `demo` | builds the beacon, starts the local store (unless `MONGODB_URI` is set), the collector, creates or reuses the app `demo`, prints URLs and keys, runs until Ctrl-C | `demo.rs` |
//! | `test` | installs what the tests need, builds the beacon, starts a throwaway local store (unless `MONGODB_URI` is set), runs every test | `test.rs` |
//! | `beacon` | builds the browser beacon into `target/beacon/` | `beacon.rs`, `beacon/` |
//! | `bench ingest`, `bench beacon`, `bench query`, `bench reports`, `bench rollups` | the benchmarks of `BENCHMARKS.md` | `bench.rs` |
//! | `store` | just the local store, on a free port, until Ctrl-C | `store.rs` |
//! | `simulate` | drives the running demo like real users | `simulate.rs` |
//!
//! Below the tasks: `store.rs` (the local store, SecantusDB, installed from
//! PyPI into a project-local virtualenv under `target/usagelens-tools/`),
//! `tools.rs` (what is installed when missing), `process.rs` (servers a task
//! starts), `leftovers.rs` (the check that `test` and `bench` left nothing
//! running) and `workspace.rs` (paths, cargo, running commands). Imports go
//! from the tasks down to those, never back.

use std::process::ExitCode;

mod beacon;
mod bench;
mod demo;
mod leftovers;
mod process;
mod simulate;
mod store;
mod test;
mod tools;
mod workspace;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test", rest @ ..] => leftovers::checked(|| test::task(rest)),
        ["demo", rest @ ..] => demo::task(rest),
        ["beacon"] => beacon::build_beacon().map(|_| ()),
        ["bench", "ingest", rest @ ..] => leftovers::checked(|| bench::ingest(rest)),
        ["bench", "beacon", rest @ ..] => leftovers::checked(|| bench::beacon(rest)),
        ["bench", "query", rest @ ..] => leftovers::checked(|| bench::query(rest)),
        ["bench", "reports", rest @ ..] => leftovers::checked(|| bench::reports(rest)),
        ["bench", "rollups", rest @ ..] => leftovers::checked(|| bench::rollups(rest)),
        ["store", rest @ ..] => store::task(rest),
        ["simulate", rest @ ..] => simulate::task(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 demo              run the system: local store, collector, app `demo`\n  \
                 test [ARGS..]     run every test (ARGS go to `cargo test`)\n  \
                 beacon            build the browser beacon into target/beacon\n  \
                 bench ingest      the ingest benchmarks (see BENCHMARKS.md)\n  \
                 bench beacon      the beacon's main-thread cost in headless Chromium\n  \
                 bench query       the query engine and API over 1 M events against the bare pipelines\n  \
                 bench reports     every report through the API against its own pipelines, over 1 M events\n  \
                 bench rollups     rollups built over 1 M events (BENCH_EVENTS), queries by rollup against raw\n  \
                 store             run only the local store\n  \
                 simulate [--users N] [--history 7d]   drive the running demo like real users\n\n\
                 With MONGODB_URI set, tasks use that server instead of a local store."
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
