//! `cargo xtask test`: installs what the tests need, builds the beacon,
//! starts a throwaway local store (unless `MONGODB_URI` is set) and runs
//! every test: the workspace's, the beacon's in headless Chromium, the Python
//! and JavaScript clients', and the documentation examples.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::beacon::{build_beacon, check_size_budget};
use crate::store::store_uri;
use crate::tools::{
    ensure_browser_tools, ensure_node, ensure_wasm_target, tools_venv, CHROMEDRIVER,
};
use crate::workspace::{build_binaries, cargo, debug_bin, root, run, step};

pub(crate) fn task(extra: &[&str]) -> Result<()> {
    step("checking that the protocol crate builds for wasm32-unknown-unknown");
    ensure_wasm_target()?;
    run(cargo().args([
        "check",
        "--quiet",
        "-p",
        "usagelens-protocol",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    ensure_browser_tools()?;
    let beacon_dir = build_beacon()?;
    check_size_budget(&beacon_dir)?;
    let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.to_owned());
    step("building the collector and demo site binaries for the end-to-end tests");
    build_binaries()?;
    let (uri, _store) = store_uri(None)?;
    step("running the tests (unit, integration, end-to-end, browser; benchmarks once each, in test mode)");
    let bin = debug_bin("usagelens-collector");
    run(cargo()
        .args([
            "test",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--no-fail-fast",
        ])
        .args(extra)
        .env("MONGODB_URI", &uri)
        .env("USAGELENS_COLLECTOR_BIN", &bin)
        .env("USAGELENS_BEACON_DIR", &beacon_dir)
        .env("CHROMEDRIVER", &chromedriver))?;
    step("running the beacon's browser tests in headless Chromium (wasm-bindgen-test)");
    run(cargo()
        .args([
            "test",
            "-p",
            "usagelens-sdk-wasm",
            "--target",
            "wasm32-unknown-unknown",
            // `wasm-bindgen-test` brings `std`: without the shipped build's
            // own panic handler and allocator (the `standalone` feature).
            "--no-default-features",
        ])
        .env("CHROMEDRIVER", &chromedriver)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120"))?;
    client_tests(&uri, &bin)?;
    step("running the documentation examples");
    run(cargo()
        .args(["test", "--workspace", "--all-features", "--doc"])
        .env("MONGODB_URI", &uri))?;
    Ok(())
}

/// The Python client's pytest suite and the JavaScript client's type check
/// and `node --test` suite, each against collectors they start themselves
/// (`bin`) on the store at `uri`.
fn client_tests(uri: &str, bin: &Path) -> Result<()> {
    let root = root();
    step("installing the Python client with its test extras (pip) into the tools venv");
    let venv = tools_venv()?;
    run(Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("{}[test]", root.join("clients/python").display())))?;
    step("running the Python client's tests (pytest, clients/python/tests)");
    run(Command::new(venv.join("bin").join("python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("clients/python/tests"))
        .current_dir(&root)
        .env("MONGODB_URI", uri)
        .env("USAGELENS_COLLECTOR_BIN", bin))?;

    ensure_node()?;
    let js = root.join("clients/js");
    step("installing the JavaScript client's dev dependencies (npm ci, clients/js)");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&js))?;
    step("type-checking the JavaScript client's TypeScript declarations (tsc)");
    run(Command::new("npx")
        .args(["--no-install", "tsc", "-p", "."])
        .current_dir(&js))?;
    step("running the JavaScript client's tests (node --test, clients/js/test)");
    let tests: Vec<PathBuf> = std::fs::read_dir(js.join("test"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    if tests.is_empty() {
        bail!("clients/js/test has no *.test.js files");
    }
    run(Command::new("node")
        .arg("--test")
        .args(&tests)
        .current_dir(&js)
        .env("MONGODB_URI", uri)
        .env("USAGELENS_COLLECTOR_BIN", bin))?;
    Ok(())
}
