//! `cargo xtask test` and `bench` end by checking that they left nothing
//! running: every process they start inherits a marker in its environment
//! (and so do the processes those start: the store, collectors, the demo
//! site, chromedriver, Chromium and its crash handlers, node, python). What
//! still carries it at the end, or descends from such a process or from
//! xtask (Chromium's helpers overwrite their environment), is listed by pid
//! and command line, killed, and fails the task, also when the task failed
//! already.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use usagelens_e2e::processes::{self, Process};

/// The environment variable that marks what one xtask run started.
const MARKER: &str = "USAGELENS_XTASK_RUN";

/// Runs `task` with the marker set, then checks what it left running.
pub(crate) fn checked(task: impl FnOnce() -> Result<()>) -> Result<()> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let run = format!("{}-{nanos}", std::process::id());
    // Before any thread or child exists: every command after inherits it.
    std::env::set_var(MARKER, &run);
    let result = task();
    let left = end_what_is_left(&run);
    result?;
    left
}

/// The processes of this run other than xtask itself.
fn ours(run: &str) -> Vec<Process> {
    let me = std::process::id();
    processes::with_descendants(&processes::snapshot(), |p| {
        p.ppid == me || p.has_env(MARKER, run)
    })
}

fn end_what_is_left(run: &str) -> Result<()> {
    let left = processes::end_all(|| ours(run), Duration::from_secs(10));
    if left.is_empty() {
        return Ok(());
    }
    eprintln!("\nxtask: left running by this run, now killed:");
    for p in &left {
        let cmdline: String = p.cmdline.chars().take(200).collect();
        eprintln!("  pid {}: {cmdline}", p.pid);
    }
    bail!(
        "{} processes were left running (listed above): a test or task must end what it starts, \
         also when it fails",
        left.len()
    )
}
