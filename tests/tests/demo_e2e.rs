//! The demo site end to end in headless Chromium, against the real collector
//! and local store: what a user does on the demo is stored once, with the
//! right names, defaults and timings; the API's `http` events carry route
//! templates and serialization times.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::browser::{app_and_collector, free_port, stored_events, Browser};
use common::*;
use mongodb::bson::{doc, Document};

fn site_bin() -> PathBuf {
    let bin = collector_bin().with_file_name("usagelens-demo-site");
    assert!(
        bin.exists(),
        "build the demo site first: `cargo build -p usagelens-demo-site` (cargo xtask test does)"
    );
    bin
}

struct Site(Child);

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dims(e: &Document) -> &Document {
    e.get_document("dims").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_user_does_on_the_demo_is_stored_once() {
    assert!(
        std::env::var_os("USAGELENS_BEACON_DIR").is_some(),
        "run with `cargo xtask test`"
    );
    let db_name = unique_db();
    let site_port = free_port();
    let origin = format!("http://127.0.0.1:{site_port}");
    let (app, collector) = app_and_collector(&db_name, &origin, &["--rate-limit-ip", "0"]).await;
    let _site = Site(
        Command::new(site_bin())
            .args(["--listen", &format!("127.0.0.1:{site_port}")])
            .args(["--collector", &format!("http://{}", collector.addr)])
            .args([
                "--app",
                "demo",
                "--write-key",
                app["write_key"].as_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", site_port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the demo site did not listen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let browser = Browser::start().await;
    let c = &browser.client;
    // The workspace: toolbar, export menu, a tab (an SPA route change), the ignored button.
    c.goto(&format!("{origin}/?as=e2e-user")).await.unwrap();
    browser.wait_for_beacon().await;
    for sel in [
        "[data-usage-widget=toolbar-new]",
        "[data-usage-widget=export-menu] summary",
        "[data-usage-widget=export-csv]",
        "[data-usage-widget=tab-trends]",
        "#help-button",
        "[data-usage-ignore]",
    ] {
        browser.click(sel).await;
    }
    // Settings: change the theme, keep the rest, save (the form navigates).
    c.goto(&format!("{origin}/settings?as=e2e-user"))
        .await
        .unwrap();
    browser.wait_for_beacon().await;
    browser.select("[name=theme]", "dark").await;
    browser.type_into("[name=api_password]", "s3cret").await;
    browser.click("[data-usage-widget=settings-save]").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c.current_url().await.unwrap().as_str().contains("saved=1") {
        assert!(Instant::now() < deadline, "the form did not navigate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.wait_for_beacon().await;
    // The slow page: the server's delay shows in ttfb_ms, the custom phase on the breakdown.
    c.goto(&format!("{origin}/slow?as=e2e-user")).await.unwrap();
    browser.wait_for_beacon().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while c
        .execute(
            "return document.getElementById('status').textContent.startsWith('Done')",
            vec![],
        )
        .await
        .unwrap()
        != serde_json::json!(true)
    {
        assert!(Instant::now() < deadline, "the slow page did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Closing the tab flushes through sendBeacon.
    c.goto("about:blank").await.unwrap();

    let store = mongodb::Client::with_uri_str(mongodb_uri())
        .await
        .unwrap()
        .database(&db_name);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut all = Vec::new();
    while Instant::now() < deadline {
        all = stored_events(&store, doc! {}).await;
        let slow_load = all
            .iter()
            .any(|e| e.get_str("type") == Ok("load") && dims(e).get_str("page") == Ok("/slow"));
        let api = all
            .iter()
            .filter(|e| e.get_str("type") == Ok("http"))
            .count();
        if slow_load && api >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let browser_events: Vec<&Document> = all
        .iter()
        .filter(|e| dims(e).get_str("user") == Ok("e2e-user"))
        .collect();
    let of = |t: &str| {
        browser_events
            .iter()
            .filter(|e| e.get_str("type") == Ok(t))
            .copied()
            .collect::<Vec<_>>()
    };

    let clicks: Vec<&str> = of("click")
        .iter()
        .map(|e| dims(e).get_str("widget").unwrap())
        .collect();
    assert_eq!(
        clicks,
        [
            "toolbar-new",
            "export-menu",
            "export-csv",
            "tab-trends",
            "help-button",
            "settings-save"
        ],
        "named widgets and an unnamed button (by its id), once each; nothing for the ignored button"
    );
    let pages: Vec<&str> = of("page")
        .iter()
        .map(|e| dims(e).get_str("page").unwrap())
        .collect();
    assert_eq!(
        pages,
        ["/", "/trends", "/settings", "/settings", "/slow"],
        "page views and the SPA route change"
    );

    let choices: Vec<(String, String, bool)> = of("choice")
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
    let expect = |c: &str, t: &str, d: bool| (c.to_owned(), t.to_owned(), d);
    assert_eq!(
        choices,
        [
            expect("theme", "change", false),
            expect("theme", "submit", false),
            expect("export_format", "submit", true),
            expect("notify", "submit", true),
            expect("compact", "submit", true),
            expect("columns", "submit", true),
            expect("signature", "submit", true),
            // The end of each view of /settings (page hide): every control as
            // it was then — the dark theme chosen, then (the page the submit
            // loads) the form as rendered again.
            expect("theme", "hide", false),
            expect("export_format", "hide", true),
            expect("notify", "hide", true),
            expect("compact", "hide", true),
            expect("columns", "hide", true),
            expect("signature", "hide", true),
            expect("theme", "hide", true),
            expect("export_format", "hide", true),
            expect("notify", "hide", true),
            expect("compact", "hide", true),
            expect("columns", "hide", true),
            expect("signature", "hide", true),
        ],
        "the changed default, every control once at submit and at the end of each view; never the password"
    );
    assert!(!format!("{all:?}").contains("s3cret"));

    let loads = of("load");
    let slow = loads
        .iter()
        .find(|e| dims(e).get_str("page") == Ok("/slow"))
        .expect("the slow page's breakdown");
    let m = slow.get_document("metrics").unwrap();
    assert!(
        m.get_f64("ttfb_ms").unwrap() >= 600.0,
        "the server's delay is in ttfb_ms: {m}"
    );
    assert!(m.get_f64("request_ms").unwrap() >= 600.0, "{m}");
    assert!(
        m.get_f64("app-ready_ms").unwrap() >= m.get_f64("ttfb_ms").unwrap(),
        "the custom phase: {m}"
    );
    assert!(m.get_f64("total_ms").unwrap() >= m.get_f64("ttfb_ms").unwrap());
    assert!(!of("memory").is_empty(), "memory samples");

    let api: Vec<&Document> = all
        .iter()
        .filter(|e| {
            e.get_str("type") == Ok("http") && dims(e).get_str("route") == Ok("/api/reports")
        })
        .collect();
    assert_eq!(api.len(), 1, "the workspace called the API once");
    assert_eq!(dims(api[0]).get_i64("status").unwrap(), 200);
    assert_eq!(dims(api[0]).get_str("source").unwrap(), "server");
    let am = api[0].get_document("metrics").unwrap();
    assert!(am.get_f64("serialize_ms").unwrap() >= 0.0);
    assert!(am.get_f64("response_bytes").unwrap() > 100.0);

    // Exactly once: every stored id is distinct by construction (_id), so check
    // there is no second copy of any event by its content.
    let mut seen = std::collections::HashSet::new();
    for e in &browser_events {
        assert!(
            seen.insert(format!(
                "{:?}{:?}{:?}",
                e.get("type"),
                e.get("client_ts"),
                e.get("dims")
            )),
            "a duplicate: {e}"
        );
    }
    store.drop().await.unwrap();
    drop(collector);
}
