//! Processes for the end-to-end tests: the collector binary against the real
//! local store (`MONGODB_URI`, started and set by `cargo xtask test`).
// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

pub(crate) mod browser;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI").unwrap_or_else(|_| {
        panic!("MONGODB_URI is not set: run the tests with `cargo xtask test`, which starts the local store, or set it")
    })
}

/// The collector binary: `USAGELENS_COLLECTOR_BIN`, or the one beside this test's target dir.
pub(crate) fn collector_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("USAGELENS_COLLECTOR_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test exe path");
    // target/debug/deps/<test> -> target/debug/usagelens-collector
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("usagelens-collector"));
    match bin {
        Some(b) if b.exists() => b,
        _ => panic!("the collector binary is not built: run `cargo build -p usagelens-collector` (cargo xtask test does)"),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub(crate) fn unique_db() -> String {
    format!(
        "ul_e2e_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs `usagelens-collector <args>` against `db`.
pub(crate) fn cli(db: &str, args: &[&str]) -> Output {
    Command::new(collector_bin())
        .args(args)
        .env("MONGODB_URI", mongodb_uri())
        .env("USAGELENS_DATABASE", db)
        .output()
        .expect("run the collector binary")
}

/// Runs a CLI command that must succeed and print JSON.
pub(crate) fn cli_json(db: &str, args: &[&str]) -> serde_json::Value {
    let out = cli(db, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A running `usagelens-collector serve`; killed on drop.
pub(crate) struct Collector {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) logs: mpsc::Receiver<String>,
}

impl Collector {
    pub(crate) fn start(db: &str, extra: &[&str]) -> Self {
        Self::start_on(db, "127.0.0.1:0", extra)
    }

    /// Starts on a given address (to restart on the same one).
    pub(crate) fn start_on(db: &str, listen: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(collector_bin())
            .args(["serve", "--listen", listen, "--log-format", "json"])
            .args(extra)
            .env("MONGODB_URI", mongodb_uri())
            .env("USAGELENS_DATABASE", db)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the collector");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Owned (killed on drop) before waiting: a collector that never logs
        // its address is not left running when the test fails.
        let mut collector = Self {
            child,
            addr: String::new(),
            logs: rx,
        };
        collector.addr = loop {
            let line = collector
                .logs
                .recv_timeout(Duration::from_secs(30))
                .expect("the collector logs its address");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(a) = v["fields"]["listen"].as_str() {
                    break a.to_owned();
                }
            }
        };
        collector
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// Waits for the process to exit, at most `timeout`.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the collector did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking MongoDB handle on `db` for checking what was stored.
pub(crate) struct Db {
    rt: tokio::runtime::Runtime,
    db: mongodb::Database,
}

impl Db {
    pub(crate) fn open(name: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = rt.block_on(async {
            mongodb::Client::with_uri_str(mongodb_uri())
                .await
                .unwrap()
                .database(name)
        });
        Self { rt, db }
    }

    pub(crate) fn count(&self, coll: &str, filter: mongodb::bson::Document) -> u64 {
        self.rt
            .block_on(async {
                self.db
                    .collection::<mongodb::bson::Document>(coll)
                    .count_documents(filter)
                    .await
            })
            .unwrap()
    }

    pub(crate) fn drop_db(&self) {
        let _ = self.rt.block_on(async { self.db.drop().await });
    }
}
