//! chromedriver, and every browser it starts, ended on drop (the browser
//! tests, the beacon benchmark and the demo's simulator).
//!
//! Killing chromedriver alone leaves Chrome running, parented to init (seen:
//! SIGTERM or SIGKILL to chromedriver with a session open leaves the browser,
//! its helpers and two crash handlers). So on drop a [`ChromeDriver`]
//! 1. closes the sessions it was told of ([`ChromeDriver::track_session`]):
//!    chromedriver then quits each Chrome and removes its profile;
//! 2. kills, whether or not that worked, every process that carries its
//!    marker (chromedriver, Chrome and its crash handlers inherit it) and
//!    their descendants (Chrome's helpers), see [`crate::processes`].
//!
//! The session is closed with a blocking HTTP request of its own rather than
//! through the async WebDriver client: at drop, after a test failed or
//! panicked, the runtime may be shutting down, and the client's own close on
//! drop is a task that is then never run.
//!
//! chromedriver stays in the caller's process group, so that Ctrl-C reaches
//! it and Chrome as before (a group of its own would need the caller to catch
//! the signal; the crash handlers leave any group anyway).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::processes::{self, Process};

/// The environment variable that marks what one [`ChromeDriver`] started.
pub const MARKER: &str = "USAGELENS_CHROMEDRIVER";

/// How long closing a session may take (chromedriver waits for Chrome to quit).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

static STARTED: AtomicU32 = AtomicU32::new(0);

/// A running chromedriver on loopback; it and its browsers end on drop.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    port: u16,
    marker: String,
    sessions: Mutex<Vec<String>>,
}

impl ChromeDriver {
    /// Starts `bin` on a free port and waits (20 s at most) until it listens.
    pub fn start(bin: &str) -> std::io::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let marker = format!(
            "{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::SeqCst)
        );
        let child = Command::new(bin)
            .arg(format!("--port={port}"))
            .env(MARKER, &marker)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Owned before anything can fail: a driver that never listens is ended too.
        let mut driver = Self {
            child,
            port,
            marker,
            sessions: Mutex::new(Vec::new()),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = driver.child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "{bin} exited with {status} before listening"
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "{bin} did not listen within 20 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(driver)
    }

    /// The WebDriver URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// chromedriver's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The value of [`MARKER`] in the environment of what this driver started.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// A session to close on drop, unless [`Self::close_session`] closed it.
    pub fn track_session(&self, id: String) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id);
    }

    /// Stops tracking the session `id`, which its client closed itself.
    pub fn forget_session(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s != id);
    }

    /// Closes the session `id` (`DELETE /session/{id}`): chromedriver quits
    /// its browser and waits for it.
    pub fn close_session(&self, id: &str) -> std::io::Result<()> {
        self.forget_session(id);
        let mut conn = TcpStream::connect(("127.0.0.1", self.port))?;
        conn.set_read_timeout(Some(CLOSE_TIMEOUT))?;
        conn.set_write_timeout(Some(CLOSE_TIMEOUT))?;
        write!(
            conn,
            "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        // The status line is all that is needed: chromedriver answers once
        // Chrome has quit, and keeps the connection open despite `close`.
        let mut answer = Vec::new();
        let mut chunk = [0; 512];
        while !answer.contains(&b'\n') {
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        let status = answer.split(|b| *b == b'\n').next().unwrap_or_default();
        if status.starts_with(b"HTTP/1.1 200") {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "DELETE /session/{id}: {}",
                String::from_utf8_lossy(status).trim()
            )))
        }
    }

    /// Closes every session still tracked.
    pub fn close_sessions(&self) {
        let open = std::mem::take(&mut *self.sessions.lock().unwrap_or_else(|e| e.into_inner()));
        for id in open {
            let _ = self.close_session(&id);
        }
    }

    /// The processes this driver started that are running, with the driver.
    pub fn processes(&self) -> Vec<Process> {
        processes::marked(MARKER, &self.marker)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        self.close_sessions();
        processes::end_all(|| self.processes(), Duration::from_secs(10));
        // Where /proc is missing, at least the driver.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
