//! What the tasks install when it is missing: the Python virtualenv, the
//! wasm32 target, the `wasm-bindgen` CLI, Chromium and chromedriver (with
//! binaryen), Node.js and npm.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::workspace::{cargo_home, locked_version, run, step, tools_dir};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The project-local Python virtualenv (`target/usagelens-tools/venv`),
/// created when missing: SecantusDB and the Python client's tests live there.
pub(crate) fn tools_venv() -> Result<PathBuf> {
    let venv = venv_dir();
    if venv.join("bin").join("pip").exists() {
        return Ok(venv);
    }
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .context("python3 is needed for the local store (SecantusDB) and the Python client; install Python 3.10+")?;
    run(Command::new(python).args(["-m", "venv"]).arg(&venv))?;
    Ok(venv)
}

/// Where [`tools_venv`] is, whether or not it exists yet.
pub(crate) fn venv_dir() -> PathBuf {
    tools_dir().join("venv")
}

pub(crate) fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match out {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("wasm32-unknown-unknown") => Ok(()),
        Ok(_) => run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"])),
        Err(e) => bail!("rustup is needed to add the wasm32-unknown-unknown target: {e}"),
    }
}

/// The `wasm-bindgen` CLI at the version of the `wasm-bindgen` crate in
/// Cargo.lock (the two must match exactly), installed when needed.
pub(crate) fn ensure_wasm_bindgen() -> Result<PathBuf> {
    let version = locked_version("wasm-bindgen")?;
    let installed = cargo_home().join("bin").join("wasm-bindgen");
    for candidate in [PathBuf::from("wasm-bindgen"), installed.clone()] {
        if bindgen_version(&candidate).as_deref() == Some(version.as_str()) {
            return Ok(candidate);
        }
    }
    step(&format!(
        "installing wasm-bindgen-cli {version} (the version of wasm-bindgen in Cargo.lock)"
    ));
    run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &version,
    ]))
    .context("cannot install wasm-bindgen-cli: crates.io must be reachable (or install it by hand with the command above)")?;
    match bindgen_version(&installed) {
        Some(v) if v == version => Ok(installed),
        found => bail!(
            "after `cargo install wasm-bindgen-cli --version {version}`, {} reports {found:?}, not {version}",
            installed.display()
        ),
    }
}

/// `wasm-bindgen --version` prints `wasm-bindgen 0.2.130` (maybe followed
/// by a commit); `None` when it cannot run.
fn bindgen_version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).map(str::to_owned)
}

/// Headless Chromium and chromedriver for the browser tests (and binaryen's
/// wasm-opt for the beacon), from Debian's packages when missing.
pub(crate) fn ensure_browser_tools() -> Result<()> {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return Ok(());
    }
    step("installing chromium, chromium-driver and binaryen (apt-get) for the browser tests");
    let hint = "the browser tests need /usr/bin/chromium and /usr/bin/chromedriver: \
                as root, run `apt-get update && apt-get install -y chromium chromium-driver binaryen`";
    run(Command::new("apt-get").args(["update", "-q"])).context(hint)?;
    run(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-q",
            "chromium",
            "chromium-driver",
            "binaryen",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context(hint)?;
    for p in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(p).exists() {
            bail!("{p} is still missing after apt-get install; {hint}");
        }
    }
    Ok(())
}

/// Node.js 18 or later (the JavaScript client's tests), from Debian's
/// packages when missing.
pub(crate) fn ensure_node() -> Result<()> {
    let major = |out: &[u8]| -> Option<u32> {
        String::from_utf8_lossy(out)
            .trim()
            .strip_prefix('v')?
            .split('.')
            .next()?
            .parse()
            .ok()
    };
    let version = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| major(&o.stdout));
    let has_npm = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    match version {
        Some(v) if v >= 18 && has_npm => return Ok(()),
        Some(v) if v < 18 => {
            bail!("Node.js {v} is installed; the JavaScript client needs 18 or later")
        }
        _ => {}
    }
    step("installing nodejs and npm (apt-get) for the JavaScript client's tests");
    run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends", "nodejs", "npm"]))
        .context("the JavaScript client's tests need Node.js 18+ and npm: install them")
}
