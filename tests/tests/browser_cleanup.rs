//! Nothing a browser test starts outlives it: not when the test panics with
//! its browser open, and not when chromedriver is gone before the session
//! could be closed (killing chromedriver alone used to leave Chrome running,
//! parented to init). Needs only chromedriver and Chromium.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::browser::Browser;
use usagelens_e2e::processes::{self, Process};

/// Chromium's browser process (not one of its helpers) is among `found`.
fn has_browser(found: &[Process]) -> bool {
    found.iter().any(|p| {
        p.cmdline.contains("chrom")
            && !p.cmdline.contains("--type=")
            && !p.cmdline.contains("chromedriver")
    })
}

/// Waits (10 s at most) until none of `pids` runs; the ones still running.
fn survivors(found: &[Process]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = found
            .iter()
            .filter(|p| processes::is_running(p.pid))
            .map(|p| format!("{} {}", p.pid, p.cmdline))
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_that_panics_leaves_no_browser_behind() {
    let (tx, rx) = std::sync::mpsc::channel();
    let test = tokio::spawn(async move {
        let browser = Browser::start().await;
        browser.client.goto("about:blank").await.unwrap();
        tx.send(browser.driver().processes()).unwrap();
        panic!("deliberately, with the browser open");
    });
    assert!(test.await.unwrap_err().is_panic());
    let found = rx.recv().unwrap();
    assert!(has_browser(&found), "Chromium was running: {found:?}");
    let left = survivors(&found);
    assert!(left.is_empty(), "left running: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chrome_ends_even_when_chromedriver_died_first() {
    let browser = Browser::start().await;
    browser.client.goto("about:blank").await.unwrap();
    let found = browser.driver().processes();
    assert!(has_browser(&found), "Chromium was running: {found:?}");
    // chromedriver gone with its session open: the session cannot be closed.
    let killed = Command::new("kill")
        .args(["-KILL", &browser.driver().pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let orphans = browser.driver().processes();
    assert!(
        has_browser(&orphans),
        "Chromium outlives a killed chromedriver (what the drop must handle): {orphans:?}"
    );
    drop(browser);
    let left = survivors(&found);
    assert!(left.is_empty(), "left running: {left:?}");
}
