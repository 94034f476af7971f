//! The local store: SecantusDB, pinned below, installed from PyPI into the
//! project-local virtualenv; started on a free port for a task, stopped when
//! it ends. `cargo xtask store` runs only the store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::process::{free_port, wait_for_port};
use crate::tools::{tools_venv, venv_dir};
use crate::workspace::{cargo_home, root, run, step, tools_dir};

/// The SecantusDB release the project is tested against.
const SECANTUS_VERSION: &str = "0.7.0b3";

/// A running local store; stopped on drop.
#[derive(Debug)]
pub(crate) struct LocalStore {
    child: Child,
    pub(crate) uri: String,
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs SecantusDB into the project-local virtualenv (once).
fn install_store() -> Result<PathBuf> {
    let venv = venv_dir();
    let server = venv.join("bin").join("secantusd-py");
    let marker = venv.join(format!(".secantus-{SECANTUS_VERSION}"));
    if server.exists() && marker.exists() {
        return Ok(server);
    }
    step(&format!(
        "installing SecantusDB {SECANTUS_VERSION} into {}",
        venv.display()
    ));
    let venv = tools_venv()?;
    run(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("SecantusDB=={SECANTUS_VERSION}"),
    ]))?;
    if !server.exists() {
        bail!("SecantusDB installed, but {} is missing", server.display());
    }
    std::fs::write(&marker, SECANTUS_VERSION)?;
    Ok(server)
}

/// Starts the local store on a free port. `data`: a directory that persists,
/// or `None` for an in-memory store that vanishes with the process.
pub(crate) fn start_store(data: Option<&Path>) -> Result<LocalStore> {
    start_store_with(&install_store()?, data)
}

/// Starts `server` (`secantusd-py` or `secantusd-rs`, which take the same
/// flags) on a free port.
pub(crate) fn start_store_with(server: &Path, data: Option<&Path>) -> Result<LocalStore> {
    let port = free_port()?;
    let logs = tools_dir().join("logs");
    std::fs::create_dir_all(&logs)?;
    let log = logs.join(format!("store-{port}.log"));
    let storage = match data {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.display().to_string()
        }
        None => ":memory:".to_owned(),
    };
    step(&format!(
        "starting the local store (SecantusDB) on 127.0.0.1:{port}"
    ));
    let child = Command::new(server)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--storage-path", &storage, "--log-level", "WARNING"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::options().append(true).open(&log)?)
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))?;
    // Owned first: a store that never listens is stopped too.
    let mut store = LocalStore {
        child,
        uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
    };
    // A store on disk recovers its WiredTiger files first: secantusd-rs took
    // 50-90 s on the benchmarks' 8 GB directory.
    let within = Duration::from_secs(if data.is_some() { 600 } else { 90 });
    wait_for_port(port, &mut store.child, "the local store", &log, within)?;
    Ok(store)
}

/// `MONGODB_URI` if set, else a local store started now.
pub(crate) fn store_uri(data: Option<&Path>) -> Result<(String, Option<LocalStore>)> {
    if let Some(uri) = env_store_uri() {
        return Ok((uri, None));
    }
    let s = start_store(data)?;
    Ok((s.uri.clone(), Some(s)))
}

/// `MONGODB_URI`, when set: then no local store is started.
pub(crate) fn env_store_uri() -> Option<String> {
    let uri = std::env::var("MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())?;
    eprintln!("using MONGODB_URI (no local store started)");
    Some(uri)
}

/// SecantusDB's Rust server, when installed (`cargo +1.98.0 install
/// secantus-mdb --version 0.5.3-beta.196`): about 7x the Python server's
/// insert rate, which makes a million events practical.
pub(crate) fn rust_store() -> Option<PathBuf> {
    let installed = cargo_home().join("bin").join("secantusd-rs");
    [PathBuf::from("secantusd-rs"), installed]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--help")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// `cargo xtask store`: the local store on a free port, until Ctrl-C.
pub(crate) fn task(_args: &[&str]) -> Result<()> {
    let mut s = start_store(Some(&root().join(".usagelens").join("store")))?;
    println!("MONGODB_URI={}\nCtrl-C stops it.", s.uri);
    s.child.wait()?;
    Ok(())
}
