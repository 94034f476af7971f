//! Issue 11, capture correctness: what is stored and who is counted, as
//! the real local store sees it (the stored BSON itself, not a parse of it
//! that would hide a repeated key).
//!
//! SecantusDB keeps one of two repeated keys (at the first one's place,
//! with the last one's value), where MongoDB stores both; so the stored
//! key *order* is what shows a repeated key here, and the unit tests of
//! `ingest/documents.rs` check the documents as built, before the store.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::*;
use mongodb::bson::{RawDocument, RawDocumentBuf};
use serde_json::json;
use usagelens_collector::config::ServeConfig;

/// Every key of `doc` and of its sub-documents, as stored, in order.
fn keys(doc: &RawDocument) -> Vec<String> {
    doc.iter()
        .map(|e| e.unwrap().0.to_owned())
        .collect::<Vec<_>>()
}

#[track_caller]
fn assert_unique(what: &str, keys: &[String]) {
    let mut seen = std::collections::BTreeSet::new();
    for k in keys {
        assert!(seen.insert(k), "{what}: `{k}` appears twice in {keys:?}");
    }
}

/// A client that names its own `browser`, `os` and `device` (in `props`
/// and in the batch `context`), and server-set names (`app`, `ts`, `_id`…)
/// as dimensions and metrics.
fn clashing_batch(ids: [&str; 2]) -> serde_json::Value {
    json!({
        "app": "demo",
        "context": {"os": "ctx-os", "device": 7, "plan": "pro", "_id": "ctx"},
        "events": [
            {"id": ids[0], "type": "click",
             "props": {"browser": "MyBrowser", "os": "MyOS", "device": "fridge", "widget": "w",
                       "app": "x", "ts": 1, "received_at": "r", "type": "t"},
             "metrics": {"ts": 1.0, "app": 2.0, "browser": 3.0}},
            {"id": ids[1], "type": "page", "props": {"browser": ["a", "b"]}}
        ]
    })
}

#[tokio::test]
async fn enrichment_replaces_client_dimensions_of_the_same_name() {
    let env = TestEnv::new().await;
    let body = clashing_batch(["b1", "b2"]).to_string();
    let req = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .header("x-write-key", env.key())
        .header("user-agent", CHROME_UA)
        .body(Body::from(body))
        .unwrap();
    let r = env.send(req).await;
    assert_eq!(r.json["accepted"], 2, "{}", r.text);
    let docs = env.events_as::<RawDocumentBuf>().await;
    assert_eq!(docs.len(), 2);
    for d in &docs {
        let top = keys(d);
        assert_eq!(
            top,
            [
                "_id",
                "app",
                "type",
                "ts",
                "client_ts",
                "received_at",
                "dims",
                "metrics"
            ]
        );
        let dims = d.get_document("dims").unwrap();
        assert_unique("dims", &keys(dims));
        assert_unique("metrics", &keys(d.get_document("metrics").unwrap()));
        // Enrichment wins, for a browser's batch.
        assert_eq!(dims.get_str("browser").unwrap(), "Chrome");
        assert_eq!(dims.get_str("os").unwrap(), "Linux");
        assert_eq!(dims.get_str("device").unwrap(), "desktop");
        // Server-set top-level names are dimensions like any other.
        assert_eq!(d.get_str("app").unwrap(), "demo");
        assert_eq!(dims.get_str("_id").unwrap(), "ctx");
    }
    let first = docs[0].get_document("dims").unwrap();
    assert_eq!(
        keys(first),
        [
            "widget",
            "app",
            "ts",
            "received_at",
            "type",
            "plan",
            "_id",
            "browser",
            "os",
            "device"
        ],
        "the client's props, then its context, then enrichment; each name once"
    );
    assert_eq!(first.get_str("app").unwrap(), "x");
    assert_eq!(
        keys(docs[0].get_document("metrics").unwrap()),
        ["ts", "app", "browser"]
    );

    // The catalog knows `browser` as the string enrichment stored, not as
    // the client's list; `device` not as the context's number.
    env.state.catalog.flush(&env.store).await.unwrap();
    let req = Request::get("/v1/dimensions?app=demo")
        .header("authorization", format!("Bearer {}", env.app.read_token))
        .body(Body::empty())
        .unwrap();
    let cat = env.send(req).await;
    assert_eq!(cat.status, 200, "{}", cat.text);
    let entries = cat.json.as_array().unwrap();
    for name in ["browser", "device", "os"] {
        let e = entries
            .iter()
            .find(|e| e["name"] == name && e["field"] == "dimension")
            .unwrap_or_else(|| panic!("{name} in {}", cat.text));
        assert_eq!(e["kinds"], json!(["string"]), "{name}: {e}");
    }
    env.drop_db().await;
}

#[tokio::test]
async fn without_a_browser_the_clients_dimensions_are_kept() {
    let env = TestEnv::new().await;
    let body = clashing_batch(["n1", "n2"]).to_string();
    let req = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .header("x-write-key", env.key())
        .header("user-agent", "usagelens-sdk-native/0.1")
        .body(Body::from(body))
        .unwrap();
    let r = env.send(req).await;
    assert_eq!(r.json["accepted"], 2, "{}", r.text);
    let docs = env.events_as::<RawDocumentBuf>().await;
    let first = docs[0].get_document("dims").unwrap();
    assert_eq!(
        keys(first),
        [
            "browser",
            "os",
            "device",
            "widget",
            "app",
            "ts",
            "received_at",
            "type",
            "plan",
            "_id"
        ]
    );
    assert_eq!(first.get_str("browser").unwrap(), "MyBrowser");
    assert_eq!(first.get_str("os").unwrap(), "MyOS");
    let second = docs[1].get_document("dims").unwrap();
    assert_eq!(keys(second), ["browser", "os", "device", "plan", "_id"]);
    assert_eq!(second.get_str("os").unwrap(), "ctx-os");
    assert_eq!(second.get_i64("device").unwrap(), 7);
    env.drop_db().await;
}

/// POSTs an empty batch through a proxy (the router's peer is 127.0.0.1)
/// that sent these `X-Forwarded-For` headers.
async fn post_via_proxy(env: &TestEnv, forwarded_for: &[&str]) -> Resp {
    let mut req = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .header("x-write-key", env.key());
    for v in forwarded_for {
        req = req.header("x-forwarded-for", *v);
    }
    env.send(req.body(Body::from(batch(json!([])).to_string())).unwrap())
        .await
}

/// With a burst of 2 requests per address, a client behind our proxy is
/// limited at its third request, however it varies the entries it writes
/// itself; another client behind the same proxy has its own bucket.
async fn spoofing_does_not_escape_the_limit(config: ServeConfig, what: &str) {
    let env = TestEnv::with_config(ServeConfig {
        rate_limit_ip: 1,
        rate_limit_app: 0,
        ..config
    })
    .await;
    let client = "198.51.100.7";
    for i in 0..6 {
        // The client's own header, then what the proxy appended: in one
        // header, or as a header of its own.
        let spoofed = format!("203.0.113.{i}, 10.{i}.0.1");
        let both = format!("{spoofed}, {client}");
        let sent: Vec<&str> = if i % 2 == 0 {
            vec![&both]
        } else {
            vec![&spoofed, client]
        };
        let r = post_via_proxy(&env, &sent).await;
        if i < 2 {
            assert_eq!(r.status, 200, "{what}, request {i}: {}", r.text);
        } else {
            r.assert_error(429, "rate_limited", "this client address");
            assert!(r.header("retry-after").is_some());
        }
    }
    let other = post_via_proxy(&env, &["198.51.100.7, 198.51.100.8"]).await;
    assert_eq!(
        other.status, 200,
        "{what}: another client behind the proxy is counted apart: {}",
        other.text
    );
    env.drop_db().await;
}

#[tokio::test]
async fn a_spoofed_forwarded_for_cannot_change_the_rate_limit_key() {
    spoofing_does_not_escape_the_limit(
        ServeConfig {
            trusted_proxy_hops: 1,
            ..ServeConfig::default()
        },
        "--trusted-proxy-hops 1",
    )
    .await;
    spoofing_does_not_escape_the_limit(
        ServeConfig {
            trust_forwarded_for: true,
            ..ServeConfig::default()
        },
        "--trust-forwarded-for (one hop)",
    )
    .await;
    spoofing_does_not_escape_the_limit(
        ServeConfig {
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
            ..ServeConfig::default()
        },
        "--trusted-proxies 127.0.0.0/8",
    )
    .await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_a_proxy_is_trusted() {
    // Untrusted: every request is the peer's, whatever the header says.
    for config in [
        ServeConfig::default(),
        ServeConfig {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..ServeConfig::default()
        },
    ] {
        let env = TestEnv::with_config(ServeConfig {
            rate_limit_ip: 1,
            rate_limit_app: 0,
            ..config
        })
        .await;
        for i in 0..3 {
            let r = post_via_proxy(&env, &[&format!("198.51.100.{i}")]).await;
            assert_eq!(
                r.status.as_u16(),
                if i < 2 { 200 } else { 429 },
                "{}",
                r.text
            );
        }
        env.drop_db().await;
    }
}

#[tokio::test]
async fn a_malformed_forwarded_for_counts_as_the_peer() {
    let env = TestEnv::with_config(ServeConfig {
        rate_limit_ip: 1,
        rate_limit_app: 0,
        trusted_proxy_hops: 1,
        ..ServeConfig::default()
    })
    .await;
    for (i, bad) in ["unknown", "198.51.100.7,", "[::1", "1.2.3.4 5.6.7.8"]
        .iter()
        .enumerate()
    {
        let r = post_via_proxy(&env, &[bad]).await;
        assert_eq!(
            r.status.as_u16(),
            if i < 2 { 200 } else { 429 },
            "{bad}: {}",
            r.text
        );
    }
    env.drop_db().await;
}

#[tokio::test]
async fn readyz_shows_the_stores_version_and_keeps_its_fields() {
    let env = TestEnv::new().await;
    let r = env
        .send(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "ready");
    assert!(r.json["jobs"].is_array(), "{}", r.text);
    let version = r.json["store"]["version"].as_str().unwrap();
    // SecantusDB answers buildInfo as a MongoDB 8 (the floor is 7.0).
    let major: u32 = version.split('.').next().unwrap().parse().unwrap();
    assert!(major >= 7, "{version}");
    assert_eq!(r.json["store"]["warnings"], json!([]), "{}", r.text);
    // A percentile query runs on it.
    let q = Request::post("/v1/query")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", env.app.read_token))
        .body(Body::from(
            json!({"app": "demo", "measures": [{"fn": "p95", "of": "duration_ms"}]}).to_string(),
        ))
        .unwrap();
    let r = env.send(q).await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.drop_db().await;
}
