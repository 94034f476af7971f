//! The JavaScript client (`clients/js`) in a real browser: a page on one
//! origin imports the ES module and queries and exports from the collector
//! on another origin (the read API's CORS, the exposed cursor header), in
//! headless Chromium against the real collector and local store. Node.js
//! runs the client's own suite (`cargo xtask test`); this is the browser half
//! of "works in browsers and Node".

mod common;

use std::time::{Duration, Instant};

use axum::routing::get;
use common::browser::{app_and_collector, free_port, Browser};
use common::*;
use serde_json::{json, Value};

const INDEX_JS: &str = include_str!("../../clients/js/index.js");
const ERRORS_JS: &str = include_str!("../../clients/js/errors.js");
const NDJSON_JS: &str = include_str!("../../clients/js/ndjson.js");

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Dashboard</title></head><body>
<script type="module">
import { UsageClient, Unauthorized } from "/client/index.js";
const usage = new UsageClient("@@COLLECTOR@@", "@@TOKEN@@");
try {
  const r = await usage.query({ app: "demo", types: ["click"], group_by: ["widget"],
    order_by: [{ by: "count", desc: true }, { by: "widget" }] });
  const ids = [];
  for await (const e of usage.export({ app: "demo", pageSize: 2 })) ids.push(e.id);
  let denied = null;
  try { await new UsageClient("@@COLLECTOR@@", "rt_wrong").query({ app: "demo" }); }
  catch (e) { denied = e instanceof Unauthorized ? e.code : String(e); }
  window.__result = { records: r.records(), ids, denied };
} catch (e) {
  window.__result = { error: String(e) + " " + (e.cause ? String(e.cause) : "") };
}
</script></body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_client_queries_and_exports_from_a_page_on_another_origin() {
    let db_name = unique_db();
    let page_port = free_port();
    let origin = format!("http://127.0.0.1:{page_port}");
    let (app, collector) = app_and_collector(&db_name, &origin, &[]).await;
    let collector_url = format!("http://{}", collector.addr);

    // Five clicks: export-csv 3, save 2.
    let events: Vec<Value> = ["export-csv", "save", "export-csv", "save", "export-csv"]
        .iter()
        .enumerate()
        .map(|(i, w)| {
            json!({"id": format!("e{i}"), "type": "click", "ts": 1_795_000_000_000_i64 + i as i64,
                   "props": {"widget": w}})
        })
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{collector_url}/v1/batch"))
        .header("x-write-key", app["write_key"].as_str().unwrap())
        .json(&json!({"app": "demo", "events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let html = PAGE
        .replace("@@COLLECTOR@@", &collector_url)
        .replace("@@TOKEN@@", app["read_token"].as_str().unwrap());
    let js = |body: &'static str| {
        get(move || async move { ([("content-type", "text/javascript; charset=utf-8")], body) })
    };
    let router = axum::Router::new()
        .route(
            "/",
            get(move || async move { ([("content-type", "text/html; charset=utf-8")], html) }),
        )
        .route("/client/index.js", js(INDEX_JS))
        .route("/client/errors.js", js(ERRORS_JS))
        .route("/client/ndjson.js", js(NDJSON_JS));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", page_port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&format!("{origin}/")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let result = loop {
        let v = c
            .execute("return window.__result || null", vec![])
            .await
            .unwrap();
        if !v.is_null() {
            break v;
        }
        assert!(Instant::now() < deadline, "the page never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(result.get("error").is_none(), "{result}");
    assert_eq!(
        result["records"],
        json!([{"widget": "export-csv", "count": 3}, {"widget": "save", "count": 2}])
    );
    // Three pages of two: the cursor header is readable cross-origin.
    assert_eq!(result["ids"], json!(["e0", "e1", "e2", "e3", "e4"]));
    assert_eq!(result["denied"], "unauthorized");
    drop(collector);
    tokio::task::spawn_blocking(move || Db::open(&db_name).drop_db())
        .await
        .unwrap();
}
