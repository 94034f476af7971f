//! CLS, INP and long animation frames end to end, in headless Chromium
//! against the real collector and local store: a page that shifts its layout
//! by known amounts and has a slow click handler; the stored `timing` and
//! `memory` events checked against what the test computes from what the page
//! did (its geometry, the viewport, the handler's own measured busy time).

mod common;

use std::time::{Duration, Instant};

use common::browser::{app_and_collector, free_port, serve_pages, stored_events, Browser};
use common::*;
use mongodb::bson::{doc, Document};
use serde_json::json;

/// The busy loop of the slow click handler.
const BUSY_MS: f64 = 150.0;
/// `#box`: 600 × 200 px at the left edge, below the 60 px header and the banner.
const BOX_W: f64 = 600.0;
const BOX_H: f64 = 200.0;
const HEADER_H: f64 = 60.0;
/// The banner's heights, one shift each: 0 -> 150 -> 300 px 200 ms apart (one
/// session window), then 360 px 1.5 s later (a window of its own: the gap is
/// over 1 s).
const BANNER: [f64; 4] = [0.0, 150.0, 300.0, 360.0];

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Vitals</title>
<style>html, body { margin: 0; overflow: hidden }
#head { height: 60px } #banner { height: 0 } #box { width: 600px; height: 200px; background: #468 }</style>
<script async src="@@COLLECTOR@@/beacon.js" data-app="demo" data-key="@@KEY@@" data-flush-interval="600000" data-flush-at="1000"></script>
</head><body>
<div id="head"><button data-usage-widget="slow-report" id="slow"><span>Run report</span></button></div>
<div id="banner"></div><div id="box"></div>
<script>
var banner = document.getElementById("banner");
window.__busy = [];
document.getElementById("slow").addEventListener("click", function () {
  var t0 = performance.now();
  while (performance.now() - t0 < @@BUSY@@) {}
  __busy.push(performance.now() - t0);
});
addEventListener("load", function () {
  setTimeout(function () {
    banner.style.height = "150px";
    setTimeout(function () {
      banner.style.height = "300px";
      setTimeout(function () {
        banner.style.height = "360px";
        requestAnimationFrame(function () { setTimeout(function () { window.__shifted = true; }, 100); });
      }, 1500);
    }, 200);
  }, 300);
});
</script>
</body></html>"#;

/// The layout shift score of `#box` moving down from `top_before` to
/// `top_after` in a `vw` × `vh` viewport, as the Layout Instability spec
/// defines it: the impact fraction (the union of its visible rects before
/// and after, over the viewport's area) times the distance fraction (the
/// distance moved over the viewport's larger side).
fn shift_score(top_before: f64, top_after: f64, vw: f64, vh: f64) -> f64 {
    let visible = |top: f64| (top.max(0.0), (top + BOX_H).min(vh));
    let (a0, a1) = visible(top_before);
    let (b0, b1) = visible(top_after);
    let overlap = (a1.min(b1) - a0.max(b0)).max(0.0);
    let union_h = (a1 - a0) + (b1 - b0) - overlap;
    let impact = BOX_W.min(vw) * union_h / (vw * vh);
    let distance = (top_after - top_before).abs() / vw.max(vh);
    impact * distance
}

#[test]
fn shift_scores_follow_the_spec() {
    // The spec's example: an element of half the viewport (600 x 200 in
    // 600 x 400) moving down by a quarter of its height has an impact
    // fraction of 0.75; the distance fraction is over the larger side.
    let s = shift_score(0.0, 100.0, 600.0, 400.0);
    assert!((s - 0.75 * 100.0 / 600.0).abs() < 1e-12, "{s}");
    // Only what is in the viewport counts: half of the moved box is below it.
    let s = shift_score(200.0, 300.0, 1000.0, 400.0);
    assert!((s - 600.0 * 200.0 / 400_000.0 * 0.1).abs() < 1e-12, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cls_inp_and_long_animation_frames_are_what_the_page_did() {
    assert!(
        std::env::var_os("USAGELENS_BEACON_DIR").is_some(),
        "USAGELENS_BEACON_DIR is not set: `cargo xtask test` builds the beacon and sets it"
    );
    let db_name = unique_db();
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    let (app, collector) = app_and_collector(&db_name, &origin, &[]).await;
    let html = PAGE
        .replace("@@COLLECTOR@@", &format!("http://{}", collector.addr))
        .replace("@@KEY@@", app["write_key"].as_str().unwrap())
        .replace("@@BUSY@@", &BUSY_MS.to_string());
    serve_pages(page_port, vec![("/", html)]).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    c.set_window_size(1000, 800).await.unwrap();
    c.goto(&format!("{origin}/")).await.unwrap();
    browser.wait_for_beacon().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while c
        .execute("return !!window.__shifted", vec![])
        .await
        .unwrap()
        != json!(true)
    {
        assert!(
            Instant::now() < deadline,
            "the page did not finish its shifts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let viewport = c
        .execute("return [innerWidth, innerHeight]", vec![])
        .await
        .unwrap();
    let (vw, vh) = (viewport[0].as_f64().unwrap(), viewport[1].as_f64().unwrap());
    assert!(
        vh >= HEADER_H + BANNER[3] + BOX_H,
        "the box stays in view: {vw}x{vh}"
    );

    // A slow click, on the widget's inner span, then leave the page once
    // the interaction's next paint is past (its entry is reported then).
    browser.click("#slow span").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let busy = c
        .execute("return __busy", vec![])
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(busy.len(), 1, "one click handled: {busy:?}");
    let busy = busy[0];
    c.goto("about:blank").await.unwrap();

    let store = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&db_name);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut events = Vec::new();
    while Instant::now() < deadline {
        events = stored_events(&store, doc! {"app": "demo"}).await;
        let has = |t: &str| events.iter().any(|e| e.get_str("type") == Ok(t));
        if has("timing") && has("memory") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let of = |t: &str| {
        events
            .iter()
            .filter(|e| e.get_str("type") == Ok(t))
            .collect::<Vec<&Document>>()
    };
    let timing = of("timing");
    assert_eq!(timing.len(), 1, "one timing event at the hide: {events:?}");
    let m = timing[0].get_document("metrics").unwrap();
    let d = timing[0].get_document("dims").unwrap();
    let view = of("page")[0]
        .get_document("dims")
        .unwrap()
        .get_str("view")
        .unwrap();
    assert_eq!(d.get_str("view").unwrap(), view, "of the page view");

    // CLS: the largest session window, computed from the geometry.
    let tops: Vec<f64> = BANNER.iter().map(|b| HEADER_H + b).collect();
    let scores: Vec<f64> = tops
        .windows(2)
        .map(|w| shift_score(w[0], w[1], vw, vh))
        .collect();
    let expected = (scores[0] + scores[1]).max(scores[2]);
    let cls = m.get_f64("cls").unwrap();
    assert!(
        (cls - expected).abs() <= 0.002 + 0.02 * expected,
        "cls {cls}, expected {expected} (shifts {scores:?}; all summed would be {})",
        scores.iter().sum::<f64>()
    );
    assert!(
        (cls - scores.iter().sum::<f64>()).abs() > 0.002 + 0.02 * expected,
        "the later shift is a window of its own"
    );

    // INP: the one slow interaction, at least the handler's busy time (the
    // browser rounds durations to 8 ms: 4 ms below at most) and not far
    // above it (input delay and the next paint).
    let inp = m.get_f64("inp_ms").unwrap();
    assert!(
        inp >= busy - 4.0 && inp <= busy + 250.0,
        "inp_ms {inp}, busy {busy}"
    );
    assert_eq!(d.get_str("inp_widget"), Ok("slow-report"), "{d}");
    assert_eq!(d.get_str("inp_tag").unwrap(), "button");
    let event = d.get_str("inp_event").unwrap();
    assert!(
        ["pointerdown", "pointerup", "mousedown", "mouseup", "click"].contains(&event),
        "inp_event {event}"
    );

    // The long animation frame of the click, on the memory sample of the hide.
    let memory = of("memory");
    assert_eq!(memory.len(), 1, "{memory:?}");
    let mm = memory[0].get_document("metrics").unwrap();
    assert_eq!(
        memory[0]
            .get_document("dims")
            .unwrap()
            .get_str("longtask_type")
            .unwrap(),
        "long-animation-frame"
    );
    let count = mm.get_f64("longtask_count").unwrap();
    let total = mm.get_f64("longtask_ms").unwrap();
    let max = mm.get_f64("longtask_max_ms").unwrap();
    let blocking = mm.get_f64("blocking_ms").unwrap();
    assert!(count >= 1.0, "{mm}");
    assert!(
        max >= busy,
        "the frame holds the handler: {mm}, busy {busy}"
    );
    assert!(total >= max, "{mm}");
    assert!(
        blocking >= busy - 50.0 && blocking <= total,
        "blocking is what exceeds 50 ms: {mm}, busy {busy}"
    );
    store.drop().await.unwrap();
    drop(collector);
}
