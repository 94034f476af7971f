//! Servers a task starts: a free port, waiting for one to listen, and
//! stopping it when the task ends.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until `child` listens on `port`; an error with the tail of its
/// `log` when it exits first, or after `within`.
pub(crate) fn wait_for_port(
    port: u16,
    child: &mut Child,
    what: &str,
    log: &Path,
    within: Duration,
) -> Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            bail!("{what} exited with {status} before listening:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{what} did not listen on port {port} within {} s (log: {})",
        within.as_secs(),
        log.display()
    )
}

/// The port of an `ADDR:PORT` option.
pub(crate) fn port_of(addr: &str, flag: &str) -> Result<u16> {
    use anyhow::Context;
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("{flag} must end in :PORT"))
}

/// A child process stopped when the task ends.
#[derive(Debug)]
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
