//! `cargo xtask simulate`: drives the demo that `cargo xtask demo` runs
//! (`demo-site/src/bin/simulate.rs`), with the app's write key from
//! `.usagelens/demo-app.json`.

use std::net::TcpStream;

use anyhow::{bail, Context, Result};

use crate::tools::ensure_browser_tools;
use crate::workspace::{cargo, json_field, root, run};

pub(crate) fn task(args: &[&str]) -> Result<()> {
    let keys_file = root().join(".usagelens").join("demo-app.json");
    let keys = std::fs::read_to_string(&keys_file).with_context(|| {
        format!(
            "{} is missing: start the demo first (`cargo xtask demo` in another terminal)",
            keys_file.display()
        )
    })?;
    let write_key = json_field(&keys, "write_key").context("no write key in demo-app.json")?;
    if TcpStream::connect("127.0.0.1:3000").is_err() {
        bail!("the demo site is not running on 127.0.0.1:3000: start `cargo xtask demo` in another terminal first");
    }
    if !args.contains(&"--history") {
        ensure_browser_tools()?;
    }
    run(cargo()
        .args([
            "run",
            "--quiet",
            "-p",
            "usagelens-demo-site",
            "--bin",
            "usagelens-simulate",
            "--",
        ])
        .args(["--write-key", &write_key])
        .args(args))
}
