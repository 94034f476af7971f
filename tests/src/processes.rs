//! The processes a test or a task started, found in `/proc` and ended.
//!
//! A process is marked by a variable in its environment, which its children
//! inherit: the mark survives a child being parented to init, as Chromium's
//! crash handlers are (they also leave the process group and the session).
//! Chromium's helpers (zygote, renderers, GPU, network) overwrite their
//! environment with their process title, so they are found as descendants of
//! a marked process instead; they exit by themselves once the browser process
//! is gone. Linux only: where `/proc` is missing, nothing is found.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running process (zombies are not listed: they are already dead).
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// Its command line, arguments separated by spaces.
    pub cmdline: String,
    environ: Vec<u8>,
}

impl Process {
    /// Whether its environment holds `name=value`.
    pub fn has_env(&self, name: &str, value: &str) -> bool {
        let entry = format!("{name}={value}");
        self.environ
            .split(|b| *b == 0)
            .any(|e| e == entry.as_bytes())
    }
}

/// Every running process but this one, or none where `/proc` is missing.
pub fn snapshot() -> Vec<Process> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(read)
        .collect()
}

/// One process from `/proc/<pid>`; `None` when it is gone or a zombie.
fn read(pid: u32) -> Option<Process> {
    let base = format!("/proc/{pid}");
    let stat = std::fs::read_to_string(format!("{base}/stat")).ok()?;
    // `pid (comm) state ppid ...`: the name may hold spaces and parentheses.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let ppid = fields.next()?.parse().ok()?;
    let cmdline = std::fs::read(format!("{base}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline)
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let environ = std::fs::read(format!("{base}/environ")).unwrap_or_default();
    Some(Process {
        pid,
        ppid,
        cmdline,
        environ,
    })
}

/// The processes of `all` that `is_root` selects, and their descendants.
pub fn with_descendants(all: &[Process], is_root: impl Fn(&Process) -> bool) -> Vec<Process> {
    let mut found: Vec<Process> = all.iter().filter(|p| is_root(p)).cloned().collect();
    loop {
        let more: Vec<Process> = all
            .iter()
            .filter(|p| {
                found.iter().any(|f| f.pid == p.ppid) && !found.iter().any(|f| f.pid == p.pid)
            })
            .cloned()
            .collect();
        if more.is_empty() {
            return found;
        }
        found.extend(more);
    }
}

/// The running processes whose environment holds `name=value`, and their
/// descendants.
pub fn marked(name: &str, value: &str) -> Vec<Process> {
    with_descendants(&snapshot(), |p| p.has_env(name, value))
}

/// Sends SIGKILL to `pids` (through `kill`: the workspace forbids `unsafe`,
/// so no `libc::kill`). Errors, such as a process already gone, are ignored.
pub fn kill(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills what `find` returns until it returns nothing, for at most
/// `timeout`; returns every process it found, each once, in the order seen.
pub fn end_all(find: impl Fn() -> Vec<Process>, timeout: Duration) -> Vec<Process> {
    let deadline = Instant::now() + timeout;
    let mut ended: Vec<Process> = Vec::new();
    loop {
        let found = find();
        if found.is_empty() {
            return ended;
        }
        kill(&found.iter().map(|p| p.pid).collect::<Vec<_>>());
        for p in found {
            if !ended.iter().any(|e| e.pid == p.pid) {
                ended.push(p);
            }
        }
        if Instant::now() > deadline {
            return ended;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` is running (a zombie is not).
pub fn is_running(pid: u32) -> bool {
    read(pid).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, ppid: u32, environ: &[u8]) -> Process {
        Process {
            pid,
            ppid,
            cmdline: format!("p{pid}"),
            environ: environ.to_vec(),
        }
    }

    #[test]
    fn env_entries_match_whole() {
        let p = process(1, 0, b"A=1\0MARK=run-7\0B=2\0");
        assert!(p.has_env("MARK", "run-7"));
        assert!(!p.has_env("MARK", "run-"));
        assert!(!p.has_env("MARK", "run-77"));
        assert!(!p.has_env("ARK", "run-7"));
    }

    #[test]
    fn descendants_follow_the_parents_in_any_order() {
        // 4 is listed before its parent 3; 9 is another tree.
        let all = [
            process(4, 3, b""),
            process(2, 1, b"MARK=x\0"),
            process(3, 2, b""),
            process(9, 1, b""),
        ];
        let mut pids: Vec<u32> = with_descendants(&all, |p| p.has_env("MARK", "x"))
            .iter()
            .map(|p| p.pid)
            .collect();
        pids.sort();
        assert_eq!(pids, [2, 3, 4]);
    }

    #[test]
    fn a_marked_child_is_found_and_ended() {
        let mut child = Command::new("sleep")
            .arg("30")
            .env("USAGELENS_PROCESSES_TEST", std::process::id().to_string())
            .spawn()
            .unwrap();
        let mark = std::process::id().to_string();
        // Until the child has exec'd, /proc shows it with this process's
        // environment (no mark): on a busy machine that takes a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let found = loop {
            let found = marked("USAGELENS_PROCESSES_TEST", &mark);
            if !found.is_empty() && found[0].cmdline.starts_with("sleep")
                || std::time::Instant::now() > deadline
            {
                break found;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            found.iter().map(|p| p.pid).collect::<Vec<_>>(),
            [child.id()]
        );
        assert!(found[0].cmdline.starts_with("sleep 30"), "{found:?}");
        let ended = end_all(
            || marked("USAGELENS_PROCESSES_TEST", &mark),
            Duration::from_secs(5),
        );
        assert_eq!(ended.len(), 1);
        // Killed: reaped here (it is this test's child), then not running.
        assert!(!child.wait().unwrap().success());
        assert!(!is_running(child.id()));
    }
}
