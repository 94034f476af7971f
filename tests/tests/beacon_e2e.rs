//! End to end in a real browser: a static page with the script tag, loaded in
//! headless Chromium (through chromedriver) against the real collector and
//! local store; clicks and choices made through WebDriver; the stored events
//! asserted exactly.

mod common;

use std::time::{Duration, Instant};

use common::browser::{app_and_collector, free_port, serve_pages, stored_events, Browser};
use common::*;
use mongodb::bson::{doc, Document};

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Reports</title>
<script>window.usagelens=window.usagelens||[];["track","identify","set","unset","mark","flush"].forEach(function(m){usagelens[m]=usagelens[m]||function(){usagelens.push([m].concat([].slice.call(arguments)))}});
usagelens.identify("u-42"); usagelens.set("roles", ["admin", "analyst"]);</script>
<script async src="@@COLLECTOR@@/beacon.js" data-app="demo" data-key="@@KEY@@" data-flush-interval="600000" data-flush-at="1000"></script>
</head><body>
<nav><button data-usage-widget="export-csv" id="export"><span>Export</span></button>
<button id="save-report">Save</button>
<button id="hidden" data-usage-ignore>Do not track</button>
<div id="plain">plain text</div></nav>
<form id="settings" onsubmit="event.preventDefault()">
  <select name="theme" id="theme"><option value="light">Light</option><option value="dark">Dark</option></select>
  <input type="checkbox" name="beta" id="beta">
  <input type="text" name="title" id="title" value="Untitled">
  <input type="password" name="pw" id="pw">
  <button type="submit" id="apply">Apply</button>
</form>
</body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_tag_captures_clicks_choices_and_the_load_breakdown() {
    assert!(
        std::env::var_os("USAGELENS_BEACON_DIR").is_some(),
        "USAGELENS_BEACON_DIR is not set: `cargo xtask test` builds the beacon and sets it"
    );
    let db_name = unique_db();
    // The page's origin must be allowed before the app exists, so pick its port first.
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    let (app, collector) = app_and_collector(&db_name, &origin, &[]).await;
    let key = app["write_key"].as_str().unwrap().to_owned();
    let html = PAGE
        .replace("@@COLLECTOR@@", &format!("http://{}", collector.addr))
        .replace("@@KEY@@", &key);
    serve_pages(page_port, vec![("/", html)]).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{origin}/")).await.unwrap();
    // Wait for the module to replace the stub.
    browser.wait_for_beacon().await;
    let init_ms = c
        .execute("var m = performance.getEntriesByName('usagelens:init'); return m.length ? m[0].duration : -1", vec![])
        .await
        .unwrap();
    assert!(
        init_ms.as_f64().unwrap() >= 0.0,
        "the loader measures start-up: {init_ms}"
    );

    // What a user does.
    browser.click("#export span").await;
    browser.click("#save-report").await;
    browser.click("#hidden").await;
    browser.click("#plain").await;
    browser.select("#theme", "dark").await;
    browser.type_into("#title", " Quarterly secret plan").await;
    browser.type_into("#pw", "hunter2").await;
    browser.click("#apply").await;
    c.execute(
        "usagelens.track('report.exported', {format: 'csv'}, {rows: 42})",
        vec![],
    )
    .await
    .unwrap();
    // Leaving the page hands everything to sendBeacon.
    c.goto("about:blank").await.unwrap();

    let store = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&db_name);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut events = Vec::new();
    while Instant::now() < deadline {
        events = stored_events(&store, doc! {"app": "demo"}).await;
        if events
            .iter()
            .any(|e| e.get_str("type") == Ok("report.exported"))
            && events.iter().any(|e| e.get_str("type") == Ok("load"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let of = |t: &str| {
        events
            .iter()
            .filter(|e| e.get_str("type") == Ok(t))
            .collect::<Vec<_>>()
    };
    let dims = |e: &Document| e.get_document("dims").unwrap().clone();

    let clicks: Vec<(String, String)> = of("click")
        .iter()
        .map(|e| {
            (
                dims(e).get_str("widget").unwrap().to_owned(),
                dims(e).get_str("tag").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        clicks,
        [("export-csv".into(), "button".into()), ("save-report".into(), "button".into()), ("apply".into(), "button".into())],
        "named widget, unnamed button by id, the submit button; nothing for the ignored element or plain text"
    );
    let choices = of("choice");
    let summary: Vec<(String, String, bool)> = choices
        .iter()
        .map(|e| {
            let d = dims(e);
            (
                d.get_str("control").unwrap().to_owned(),
                d.get_str("trigger").unwrap().to_owned(),
                d.get_bool("is_default").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("theme".into(), "change".into(), false),
            ("title".into(), "change".into(), false),
            ("theme".into(), "submit".into(), false),
            ("beta".into(), "submit".into(), true),
            ("title".into(), "submit".into(), false),
            ("theme".into(), "hide".into(), false),
            ("beta".into(), "hide".into(), true),
            ("title".into(), "hide".into(), false),
        ],
        "changes as they happen, one per control at submit, and the form as it is at the end of the view (page hide); nothing for the password"
    );
    let all = format!("{events:?}");
    assert!(
        !all.contains("Quarterly") && !all.contains("hunter2"),
        "what the user typed is never stored"
    );
    assert_eq!(dims(choices[0]).get_str("value").unwrap(), "dark");
    assert_eq!(dims(choices[0]).get_str("default").unwrap(), "light");

    assert_eq!(of("page").len(), 1);
    let load = of("load");
    assert_eq!(load.len(), 1, "one breakdown per page view");
    let m = load[0].get_document("metrics").unwrap();
    let total = m.get_f64("total_ms").unwrap();
    assert!(total > 0.0);
    for (k, v) in m {
        let v = v.as_f64().unwrap();
        assert!(v >= 0.0, "{k} = {v}");
        if k.ends_with("_ms") && k != "lcp_ms" && k != "fcp_ms" {
            assert!(v <= total, "{k} {v} > total {total}");
        }
    }
    assert_eq!(of("memory").len(), 1, "a memory sample on page hide");
    let vitals = of("timing");
    assert_eq!(vitals.len(), 1, "CLS and INP once, on page hide");
    let cls = vitals[0].get_document("metrics").unwrap().get_f64("cls");
    assert_eq!(cls, Ok(0.0), "nothing on the page moved");
    let custom = of("report.exported");
    assert_eq!(custom.len(), 1);
    assert_eq!(
        custom[0]
            .get_document("metrics")
            .unwrap()
            .get_f64("rows")
            .unwrap(),
        42.0
    );

    // Context on every event: the identified user, the multi-valued dimension
    // set before the module loaded (the stub replayed it), browser enrichment.
    for e in &events {
        let d = dims(e);
        assert_eq!(d.get_str("user").unwrap(), "u-42", "{e}");
        assert_eq!(d.get_array("roles").unwrap().len(), 2, "{e}");
        assert_eq!(d.get_str("browser").unwrap(), "Chrome");
        assert_eq!(d.get_str("page").unwrap(), "/");
        for k in ["anon", "session", "view", "lang", "tz"] {
            assert!(d.get_str(k).is_ok(), "{k} on {e}");
        }
    }
    // Exactly once each: every id distinct.
    let total_events = events.len();
    assert_eq!(total_events, 3 + 8 + 1 + 1 + 1 + 1 + 1, "{all}");
    store.drop().await.unwrap();
    drop(collector);
}
