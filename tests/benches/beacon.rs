//! The beacon's main-thread cost in headless Chromium (BENCHMARKS.md).
//! Run with `cargo xtask bench beacon`.
//!
//! Two pages, the same but for the script tag, served from one origin and
//! measured in the same run: the per-click cost is the difference of the
//! mean time of `N` synthetic clicks on a named widget with and without the
//! beacon; start-up is the `usagelens:init` measure the loader records around
//! the module's `start_beacon`; long tasks (> 50 ms) are counted on both pages
//! by a `PerformanceObserver` registered before anything else.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::browser::{app_and_collector, free_port, serve_pages, Browser};
use common::*;
use serde_json::{json, Value};

const CLICKS: u32 = 2000;
const ROUNDS: usize = 7;

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
    let store = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&db);
    let _ = store.drop().await;
    drop(collector);
}
