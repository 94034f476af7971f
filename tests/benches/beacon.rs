//! The beacon's main-thread cost in headless Chromium (BENCHMARKS.md).
//! Run with `cargo xtask bench beacon`.
//!
//! Two pages, the same but for the script tag, served from one origin and
//! measured in the same run: the per-click cost is the difference of the
//! mean time of `N` synthetic clicks on a named widget with and without the
//! beacon; start-up is the `usagelens:init` measure the loader records around
//! the module's `start_beacon`; long tasks (> 50 ms) are counted on both pages
//! by a `PerformanceObserver` registered before anything else.
//!
//! The largest main-thread task: the same two pages, each loaded in a fresh
//! browser (a visitor's first page: nothing warmed up in the renderer), with
//! Chrome's trace on (chromedriver's performance log); the longest `RunTask`
//! of a renderer main thread from the navigation until 10 s after the load
//! event (`goto` returning), with the beacon and without it, alternating, `TRACE_ROUNDS` each.
//! Long-task observers see only tasks of 50 ms or more; the trace sees all.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::browser::{app_and_collector, free_port, serve_pages, Browser};
use common::*;
use serde_json::{json, Value};

const CLICKS: u32 = 2000;
const ROUNDS: usize = 7;
const TRACE_ROUNDS: usize = 3;
/// How long after the load event the trace runs: past the first send (5 s).
const TRACE_WINDOW: Duration = Duration::from_secs(10);
/// The issue's target for the largest task the beacon causes.
const TASK_TARGET_MS: f64 = 16.0;

fn page(beacon: Option<(&str, &str)>) -> String {
    let tag = beacon.map_or(String::new(), |(collector, key)| {
        format!(r#"<script async src="{collector}/beacon.js" data-app="demo" data-key="{key}"></script>"#)
    });
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8">
<script>window.__longtasks=[];try{{new PerformanceObserver(function(l){{l.getEntries().forEach(function(e){{__longtasks.push(e.duration)}})}}).observe({{type:"longtask",buffered:true}})}}catch(e){{}}</script>
{tag}</head><body>
<div class="toolbar"><button data-usage-widget="export-csv" id="w"><span>Export</span></button></div>
<p>Some content.</p></body></html>"#
    )
}

const CLICK_LOOP: &str = r#"
var el = document.getElementById('w');
var n = arguments[0];
var t0 = performance.now();
for (var i = 0; i < n; i++) el.click();
return (performance.now() - t0) / n;
"#;

async fn longtasks(c: &fantoccini::Client) -> f64 {
    c.execute("return __longtasks.length", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

/// chromedriver's performance log since the last read (the trace events
/// are collected when it is read).
async fn performance_log(browser: &Browser) -> Vec<Value> {
    let session = browser.client.session_id().await.unwrap().unwrap();
    let url = format!("{}/session/{session}/se/log", browser.driver().url());
    let body: Value = reqwest::Client::new()
        .post(url)
        .json(&json!({"type": "performance"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["value"]
        .as_array()
        .expect("a performance log")
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
        .map(|m| m["message"].clone())
        .collect()
}

/// A task of a renderer main thread: its duration, and whether the beacon's
/// code ran in it (a script event inside it names a `/beacon` URL).
#[derive(Debug, Clone, Copy)]
struct Task {
    ms: f64,
    /// When it started, in ms from the document's request.
    at_ms: f64,
    beacon: bool,
}

/// The tasks run by the renderer main threads in the trace from the
/// navigation to `url` on (the trace also holds the browser's start-up),
/// longest first.
fn renderer_tasks(log: &[Value], url: &str) -> Vec<Task> {
    let events: Vec<&Value> = log
        .iter()
        .filter(|m| m["method"] == "Tracing.dataCollected")
        .map(|m| &m["params"])
        .collect();
    let navigation = events
        .iter()
        .filter(|e| e["name"] == "ResourceSendRequest" && e["args"]["data"]["url"] == url)
        .filter_map(|e| e["ts"].as_f64())
        .reduce(f64::min)
        .expect("the trace has the document's request");
    let thread = |e: &Value| Some((e["pid"].as_u64()?, e["tid"].as_u64()?));
    let renderer_mains: Vec<(u64, u64)> = events
        .iter()
        .filter(|e| {
            e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == "CrRendererMain"
        })
        .filter_map(|e| thread(e))
        .collect();
    // The page's renderer: the main thread whose events name the page (its
    // parse, its scripts), not Chrome's own renderers (the omnibox's WebUI).
    let main_threads: Vec<(u64, u64)> = renderer_mains
        .into_iter()
        .filter(|t| {
            events.iter().any(|e| {
                thread(e) == Some(*t)
                    && e["ts"].as_f64().is_some_and(|ts| ts >= navigation)
                    && e["args"].to_string().contains(url)
            })
        })
        .collect();
    // When the beacon's script ran (function calls, evaluation, timers and
    // callbacks carry the script's URL), by thread.
    let mut beacon_code: Vec<((u64, u64), f64)> = events
        .iter()
        .filter(|e| {
            let data = &e["args"]["data"];
            ["url", "scriptName"]
                .iter()
                .any(|k| data[*k].as_str().is_some_and(|u| u.contains("/beacon")))
        })
        .filter_map(|e| Some((thread(e)?, e["ts"].as_f64()?)))
        .collect();
    beacon_code.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut tasks: Vec<Task> = events
        .iter()
        .filter(|e| {
            e["ph"] == "X"
                && (e["name"] == "RunTask" || e["name"] == "ThreadControllerImpl::RunTask")
        })
        .filter_map(|e| {
            let t = thread(e).filter(|t| main_threads.contains(t))?;
            let (start, dur) = (e["ts"].as_f64()?, e["dur"].as_f64()?);
            if start < navigation {
                return None;
            }
            let first = beacon_code.partition_point(|(bt, ts)| (*bt, *ts) < (t, start));
            let beacon = beacon_code
                .get(first)
                .is_some_and(|(bt, ts)| *bt == t && *ts <= start + dur);
            Some(Task {
                ms: dur / 1000.0,
                at_ms: (start - navigation) / 1000.0,
                beacon,
            })
        })
        .collect();
    tasks.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    tasks
}

/// The renderer main thread's tasks from the navigation to `url` until
/// [`TRACE_WINDOW`] after its load event, in a fresh browser, longest first.
async fn traced_tasks(url: &str) -> Vec<Task> {
    let browser = Browser::start_with(json!({
        "goog:loggingPrefs": {"performance": "ALL"},
        "goog:chromeOptions": {"perfLoggingPrefs": {
            "enableNetwork": false,
            "enablePage": false,
            "traceCategories": "devtools.timeline,disabled-by-default-devtools.timeline"
        }}
    }))
    .await;
    // One read at the end: chromedriver collects the trace when the log is
    // read, and a second trace after a read comes back nearly empty.
    browser.client.goto(url).await.unwrap();
    tokio::time::sleep(TRACE_WINDOW).await;
    renderer_tasks(&performance_log(&browser).await, url)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches` builds and runs this once: nothing to measure then.
    }
    assert!(
        std::env::var_os("USAGELENS_BEACON_DIR").is_some(),
        "run with `cargo xtask bench beacon`"
    );
    let db = unique_db();
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    let (app, collector) = app_and_collector(&db, &origin, &["--rate-limit-ip", "0"]).await;
    let with = page(Some((
        &format!("http://{}", collector.addr),
        app["write_key"].as_str().unwrap(),
    )));
    let without = page(None);
    serve_pages(page_port, vec![("/with", with), ("/without", without)]).await;
    let browser = Browser::start().await;
    let c = &browser.client;

    let mut per_click_with = Vec::new();
    let mut per_click_without = Vec::new();
    let mut inits = Vec::new();
    let mut ready_ms = Vec::new();
    let mut longtasks_with = 0.0;
    let mut longtasks_without = 0.0;
    for _ in 0..ROUNDS {
        c.goto(&format!("{origin}/with")).await.unwrap();
        browser.wait_for_beacon().await;
        let init: Value = c
            .execute("var m=performance.getEntriesByName('usagelens:init');return [m[0].duration, m[0].startTime+m[0].duration]", vec![])
            .await
            .unwrap();
        inits.push(init[0].as_f64().unwrap());
        // Long tasks while the page loads and the beacon starts (the click loop
        // below is itself one long task on purpose: it is not counted).
        tokio::time::sleep(Duration::from_millis(300)).await;
        longtasks_with += longtasks(c).await;
        ready_ms.push(init[1].as_f64().unwrap());
        per_click_with.push(
            c.execute(CLICK_LOOP, vec![json!(CLICKS)])
                .await
                .unwrap()
                .as_f64()
                .unwrap(),
        );

        c.goto(&format!("{origin}/without")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        longtasks_without += longtasks(c).await;
        per_click_without.push(
            c.execute(CLICK_LOOP, vec![json!(CLICKS)])
                .await
                .unwrap()
                .as_f64()
                .unwrap(),
        );
    }

    let (w, wo) = (median(&mut per_click_with), median(&mut per_click_without));
    println!(
        "beacon main-thread cost, headless Chromium, {ROUNDS} rounds, {CLICKS} clicks per round"
    );
    println!(
        "  start_beacon (usagelens:init measure):  median {:.3} ms  (all: {:?})",
        median(&mut inits.clone()),
        inits
    );
    println!(
        "  page start to beacon ready:             median {:.1} ms",
        median(&mut ready_ms)
    );
    println!(
        "  per click with the beacon:              median {:.4} ms",
        w
    );
    println!(
        "  per click without it (same page):       median {:.4} ms",
        wo
    );
    println!(
        "  added per click:                        {:.4} ms   (ratio with/without {:.2})",
        w - wo,
        w / wo
    );
    println!("  long tasks (> 50 ms) during load and start-up: with {longtasks_with}, without {longtasks_without} (summed over rounds)");
    drop(browser);

    // With the beacon: the largest task its code ran in, and the largest
    // of all; without it: the largest of all (the same-run baseline).
    let (mut beacon_largest, mut largest_with, mut largest_without) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut over_beacon, mut over_without) = (0, 0);
    for round in 0..TRACE_ROUNDS {
        // Alternating which page goes first.
        for beacon in [round % 2 == 0, round % 2 == 1] {
            let path = if beacon { "with" } else { "without" };
            let tasks = traced_tasks(&format!("{origin}/{path}")).await;
            let longest: Vec<String> = tasks
                .iter()
                .take(5)
                .map(|t| {
                    let whose = if t.beacon { ", beacon" } else { "" };
                    format!("{:.1} ms (at {:.0} ms{whose})", t.ms, t.at_ms)
                })
                .collect();
            println!(
                "  trace, {path} the beacon: {} main-thread tasks, longest: {}",
                tasks.len(),
                longest.join(", ")
            );
            if beacon {
                let ours: Vec<&Task> = tasks.iter().filter(|t| t.beacon).collect();
                assert!(!ours.is_empty(), "the trace shows the beacon's code");
                beacon_largest.push(ours[0].ms);
                largest_with.push(tasks[0].ms);
                over_beacon += ours.iter().filter(|t| t.ms > TASK_TARGET_MS).count();
            } else {
                largest_without.push(tasks[0].ms);
                over_without += tasks.iter().filter(|t| t.ms > TASK_TARGET_MS).count();
            }
        }
    }
    let (b, lw, lwo) = (
        median(&mut beacon_largest),
        median(&mut largest_with),
        median(&mut largest_without),
    );
    println!(
        "  largest main-thread task, navigation to load + {} s, a fresh browser each, {TRACE_ROUNDS} rounds (medians):",
        TRACE_WINDOW.as_secs()
    );
    println!(
        "    a task running the beacon's code:  {b:.1} ms  (all: {beacon_largest:.1?}); over {TASK_TARGET_MS} ms: {over_beacon}"
    );
    println!("    any task, with the beacon:         {lw:.1} ms  (all: {largest_with:.1?})");
    println!(
        "    any task, without it (same page):  {lwo:.1} ms  (all: {largest_without:.1?}); over {TASK_TARGET_MS} ms: {over_without}"
    );
    println!(
        "    ratio, beacon's largest / largest without: {:.2}; largest with / without: {:.2}",
        b / lwo,
        lw / lwo
    );
    let store = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&db);
    let _ = store.drop().await;
    drop(collector);
}
