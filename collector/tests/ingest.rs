//! `POST /v1/batch` against the real local store.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use common::*;
use mongodb::bson::{doc, Bson};
use serde_json::json;
use usagelens_collector::config::ServeConfig;

#[tokio::test]
async fn accepted_duplicate_and_rejected_counts() {
    let env = TestEnv::new().await;
    let body = batch(json!([click("e1"), click("e2"), {"id": "e3", "type": "Bad"}, click("e1")]));
    let r = env.post_json(body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["accepted"], 2);
    assert_eq!(
        r.json["duplicates"], 1,
        "an id repeated in one batch is stored once"
    );
    assert_eq!(r.json["rejected"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["rejected"][0]["index"], 2);
    assert!(r.json["rejected"][0]["error"]
        .as_str()
        .unwrap()
        .contains("invalid event type `Bad`"));
    assert_eq!(env.event_count().await, 2);
    env.drop_db().await;
}

#[tokio::test]
async fn a_retried_batch_is_stored_once() {
    let env = TestEnv::new().await;
    let body = batch(json!([click("r1"), click("r2"), click("r3")])).to_string();
    let first = env.post_json(body.clone()).await;
    assert_eq!(
        (
            first.json["accepted"].as_u64(),
            first.json["duplicates"].as_u64()
        ),
        (Some(3), Some(0))
    );
    let retry = env.post_json(body).await;
    assert_eq!(retry.status, 200);
    assert_eq!(
        (
            retry.json["accepted"].as_u64(),
            retry.json["duplicates"].as_u64()
        ),
        (Some(0), Some(3))
    );
    // A partial overlap: one new event, two old.
    let mixed = env
        .post_json(batch(json!([click("r3"), click("r4"), click("r1")])).to_string())
        .await;
    assert_eq!(
        (
            mixed.json["accepted"].as_u64(),
            mixed.json["duplicates"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(env.event_count().await, 4);
    env.drop_db().await;
}

#[tokio::test]
async fn the_stored_document_layout() {
    let env = TestEnv::new().await;
    let body = json!({
        "app": "demo",
        "sent_at": "2026-11-28T10:00:00.000Z",
        "context": {"user": "u-42", "anon": "a-9f3e", "session": "s-1", "page": "/settings", "plan": "pro"},
        "events": [{
            "id": "0193a1b2-1", "type": "click", "ts": "2026-11-28T09:59:58.120Z",
            "props": {"widget": "export-csv", "tags": ["beta", "admin"], "plan": "enterprise",
                      "n": 3, "ratio": 0.5, "on": true, "mixed": ["a", 1, 2.5], "odd": "a\u{0}b 😀"},
            "metrics": {"duration_ms": 12.5, "count": 2}
        }]
    });
    let req = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .header("x-write-key", env.key())
        .header("user-agent", CHROME_UA)
        .body(Body::from(body.to_string()))
        .unwrap();
    let r = env.send(req).await;
    assert_eq!(r.json["accepted"], 1, "{}", r.text);
    let docs = env.events().await;
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    let keys: Vec<&str> = d.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
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
    assert_eq!(d.get_str("_id").unwrap(), "demo:0193a1b2-1");
    assert_eq!(d.get_str("app").unwrap(), "demo");
    assert_eq!(d.get_str("type").unwrap(), "click");
    let dims = d.get_document("dims").unwrap();
    assert_eq!(
        dims,
        &doc! {
            "widget": "export-csv", "tags": ["beta", "admin"], "plan": "enterprise",
            "n": 3_i64, "ratio": 0.5, "on": true, "mixed": ["a", 1_i64, 2.5], "odd": "a\u{0}b 😀",
            "user": "u-42", "anon": "a-9f3e", "session": "s-1", "page": "/settings",
            "browser": "Chrome", "os": "Linux", "device": "desktop",
        },
        "props first, then the context (the event wins `plan`), then enrichment"
    );
    assert_eq!(
        d.get_document("metrics").unwrap(),
        &doc! { "duration_ms": 12.5, "count": 2.0 }
    );
    // Skew: the client's clock said 10:00:00.000 when ours said received_at.
    let client_ts = d.get_datetime("client_ts").unwrap().timestamp_millis();
    let received = d.get_datetime("received_at").unwrap().timestamp_millis();
    let ts = d.get_datetime("ts").unwrap().timestamp_millis();
    assert_eq!(client_ts, 1_795_859_998_120);
    assert_eq!(ts, client_ts + (received - 1_795_860_000_000));
    assert_eq!(
        received - ts,
        1_880,
        "the event happened 1.88 s before the batch was sent"
    );
    // The client's address is not stored anywhere.
    assert!(!format!("{d:?}").contains("127.0.0.1"));
    env.drop_db().await;
}

#[tokio::test]
async fn timestamps_without_sent_at_or_from_the_future() {
    let env = TestEnv::new().await;
    let far_future = "2199-01-01T00:00:00Z";
    let body = json!({"app": "demo", "events": [
        {"id": "no-ts", "type": "page"},
        {"id": "future", "type": "page", "ts": far_future},
        {"id": "past", "type": "page", "ts": 1_700_000_000_000_i64},
    ]});
    let r = env.post_json(body.to_string()).await;
    assert_eq!(r.json["accepted"], 3, "{}", r.text);
    for d in env.events().await {
        let ts = d.get_datetime("ts").unwrap().timestamp_millis();
        let received = d.get_datetime("received_at").unwrap().timestamp_millis();
        match d.get_str("_id").unwrap() {
            "demo:no-ts" | "demo:future" => assert_eq!(ts, received, "{d}"),
            "demo:past" => assert_eq!(ts, 1_700_000_000_000, "no sent_at: no correction"),
            other => panic!("unexpected {other}"),
        }
    }
    env.drop_db().await;
}

#[tokio::test]
async fn gzip_text_plain_and_key_in_body() {
    let env = TestEnv::new().await;
    let mut body = batch(json!([click("g1"), click("g2")]));
    body["key"] = json!(env.key());
    let req = Request::post("/v1/batch")
        .header("content-type", "text/plain;charset=UTF-8")
        .header("content-encoding", "gzip")
        .body(Body::from(gzip(body.to_string().as_bytes())))
        .unwrap();
    let r = env.send(req).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["accepted"], 2);

    let req = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("x-write-key", env.key())
        .body(Body::from(b"\x1f\x8b\x08\x00garbage".to_vec()))
        .unwrap();
    env.send(req)
        .await
        .assert_error(400, "invalid_body", "gzip body is corrupt");
    assert_eq!(env.event_count().await, 2);
    env.drop_db().await;
}

#[tokio::test]
async fn auth_errors() {
    let env = TestEnv::new().await;
    let body = batch(json!([click("a1")])).to_string();
    let send = |key: Option<&str>, body: String| {
        let mut req = Request::post("/v1/batch").header("content-type", "application/json");
        if let Some(k) = key {
            req = req.header("x-write-key", k);
        }
        env.send(req.body(Body::from(body)).unwrap())
    };
    send(None, body.clone())
        .await
        .assert_error(401, "missing_key", "X-Write-Key");
    send(Some("wk_wrong"), body.clone()).await.assert_error(
        401,
        "wrong_key",
        "wrong write key for app `demo`",
    );
    let other = json!({"app": "nope", "events": [click("a1")]}).to_string();
    send(Some(env.key()), other)
        .await
        .assert_error(401, "unknown_app", "apps create nope");
    // A wrong key in the body is not rescued by a right one in the header.
    let mut wrong_in_body = batch(json!([click("a1")]));
    wrong_in_body["key"] = json!("wk_wrong");
    send(Some(env.key()), wrong_in_body.to_string())
        .await
        .assert_error(401, "wrong_key", "demo");
    assert_eq!(env.event_count().await, 0);
    env.drop_db().await;
}

#[tokio::test]
async fn content_type_and_encoding() {
    let env = TestEnv::new().await;
    let body = batch(json!([click("c1")])).to_string();
    for ct in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data"),
        Some("text/html"),
    ] {
        let mut req = Request::post("/v1/batch").header("x-write-key", env.key());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        env.send(req.body(Body::from(body.clone())).unwrap())
            .await
            .assert_error(415, "unsupported_media_type", "send application/json");
    }
    let req = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .header("content-encoding", "br")
        .header("x-write-key", env.key())
        .body(Body::from(body.clone()))
        .unwrap();
    env.send(req)
        .await
        .assert_error(415, "unsupported_media_type", "Content-Encoding `br`");
    let r = env
        .send(
            Request::post("/v1/batch")
                .header("content-type", "Application/JSON; charset=utf-8")
                .header("x-write-key", env.key())
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.drop_db().await;
}

#[tokio::test]
async fn cors_preflight_and_origin_check() {
    let env = TestEnv::new().await;
    let preflight = |origin: &str| {
        env.send(
            Request::options("/v1/batch")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .body(Body::empty())
                .unwrap(),
        )
    };
    let ok = preflight(ORIGIN).await;
    assert_eq!(ok.status, 204);
    assert_eq!(ok.headers["access-control-allow-origin"], ORIGIN);
    assert!(ok.headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(ok.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));
    assert_eq!(ok.headers["vary"], "Origin");
    let bad = preflight("https://evil.example").await;
    bad.assert_error(403, "origin_not_allowed", "https://evil.example");
    assert!(bad.headers.get("access-control-allow-origin").is_none());

    let post = |origin: &str, id: &str| {
        env.send(
            Request::post("/v1/batch")
                .header("content-type", "text/plain")
                .header("origin", origin)
                .header("x-write-key", env.key())
                .body(Body::from(batch(json!([click(id)])).to_string()))
                .unwrap(),
        )
    };
    let r = post(ORIGIN, "o1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["access-control-allow-origin"], ORIGIN);
    assert_eq!(r.headers["access-control-expose-headers"], "retry-after");
    let r = post("https://evil.example", "o2").await;
    r.assert_error(403, "origin_not_allowed", "not allowed for app `demo`");
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // An error for an allowed origin still carries CORS headers, so the page can read it.
    let r = env
        .send(
            Request::post("/v1/batch")
                .header("content-type", "text/plain")
                .header("origin", ORIGIN)
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    r.assert_error(400, "invalid_body", "not a valid batch");
    assert_eq!(r.headers["access-control-allow-origin"], ORIGIN);
    assert_eq!(env.event_count().await, 1);
    env.drop_db().await;
}

#[tokio::test]
async fn limits() {
    let env = TestEnv::new().await;
    // Body over 1 MiB, plain and gzip.
    let big = format!(
        r#"{{"app":"demo","events":[],"context":{{"x":"{}"}}}}"#,
        "a".repeat(1024 * 1024)
    );
    env.post_json(big.clone())
        .await
        .assert_error(413, "too_large", "larger than 1048576 bytes");
    let req = Request::post("/v1/batch")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("x-write-key", env.key())
        .body(Body::from(gzip(big.as_bytes())))
        .unwrap();
    env.send(req)
        .await
        .assert_error(413, "too_large", "after decompression");
    // 1000 events pass, 1001 do not.
    let ok: Vec<_> = (0..1000).map(|i| click(&format!("m{i}"))).collect();
    let r = env.post_json(batch(json!(ok)).to_string()).await;
    assert_eq!(
        r.json["accepted"],
        1000,
        "{}",
        &r.text[..r.text.len().min(300)]
    );
    let over: Vec<_> = (0..1001).map(|i| click(&format!("n{i}"))).collect();
    env.post_json(batch(json!(over)).to_string())
        .await
        .assert_error(413, "too_large", "1001 events; the limit is 1000");
    // Per-event limits reject that event only.
    let dims65: serde_json::Map<String, serde_json::Value> =
        (0..65).map(|i| (format!("d{i}"), json!(i))).collect();
    let dims64: serde_json::Map<String, serde_json::Value> =
        (0..64).map(|i| (format!("d{i}"), json!(i))).collect();
    let events = json!([
        {"id": "l0", "type": "x", "props": dims65},
        {"id": "l1", "type": "x", "props": {"s": "a".repeat(1025)}},
        {"id": "l2", "type": "x", "props": {"l": vec![1; 65]}},
        {"id": "l3", "type": "x", "props": dims64},
        {"id": "l4", "type": "x", "props": {"s": "a".repeat(1024), "l": vec!["x"; 64]}},
        {"id": "a".repeat(65), "type": "x"},
    ]);
    let r = env.post_json(batch(events).to_string()).await;
    assert_eq!(r.json["accepted"], 2, "{}", r.text);
    let errors: Vec<(u64, String)> = r.json["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["error"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [0, 1, 2, 5]);
    assert!(
        errors[0].1.contains("more than 64 dimensions"),
        "{errors:?}"
    );
    assert!(errors[1].1.contains("limit of 1024 bytes"), "{errors:?}");
    assert!(errors[2].1.contains("limit of 64 items"), "{errors:?}");
    assert!(errors[3].1.contains("invalid event id"), "{errors:?}");
    assert_eq!(env.event_count().await, 1002);
    env.drop_db().await;
}

#[tokio::test]
async fn all_events_rejected_is_a_400_and_stores_nothing() {
    let env = TestEnv::new().await;
    let r = env
        .post_json(
            batch(json!([{"id": "x", "type": "click", "props": {"$where": "1"}}, {"id": "y"}]))
                .to_string(),
        )
        .await;
    r.assert_error(
        400,
        "invalid_events",
        "all 2 events were rejected; event 0: invalid dimension name `$where`",
    );
    assert_eq!(env.event_count().await, 0);
    // An empty batch is fine.
    let r = env.post_json(batch(json!([])).to_string()).await;
    assert_eq!(
        (r.status.as_u16(), r.json["accepted"].as_u64()),
        (200, Some(0))
    );
    env.drop_db().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let env = TestEnv::with_config(ServeConfig {
        rate_limit_ip: 1,
        rate_limit_app: 0,
        ..ServeConfig::default()
    })
    .await;
    // Burst of 2 requests per address.
    for id in ["p1", "p2"] {
        assert_eq!(
            env.post_json(batch(json!([click(id)])).to_string())
                .await
                .status,
            200
        );
    }
    let r = env.post_json(batch(json!([click("p3")])).to_string()).await;
    r.assert_error(429, "rate_limited", "this client address");
    assert!(
        r.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    env.drop_db().await;

    let env = TestEnv::with_config(ServeConfig {
        rate_limit_ip: 0,
        rate_limit_app: 5,
        ..ServeConfig::default()
    })
    .await;
    let ten: Vec<_> = (0..10).map(|i| click(&format!("q{i}"))).collect();
    assert_eq!(
        env.post_json(batch(json!(ten)).to_string()).await.status,
        200
    );
    let r = env
        .post_json(batch(json!([click("q10")])).to_string())
        .await;
    r.assert_error(429, "rate_limited", "app `demo`");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(
        env.event_count().await,
        10,
        "nothing of the limited batch is stored"
    );
    env.drop_db().await;
}

#[tokio::test]
async fn store_unavailable_is_503_with_retry_after() {
    let (store, port) = unreachable_store(Duration::from_millis(300)).await;
    let state = usagelens_collector::AppState::new(store, ServeConfig::default());
    let router = usagelens_collector::app(state);
    use tower::ServiceExt;
    let resp = router
        .clone()
        .oneshot(
            Request::post("/v1/batch")
                .header("content-type", "application/json")
                .header("x-write-key", "k")
                .body(Body::from(batch(json!([click("s1")])).to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["code"], "store_unavailable");
    assert!(
        !json["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&port.to_string()),
        "internals stay in the log"
    );
    let ready = router
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn health_and_readiness() {
    let env = TestEnv::new().await;
    let r = env
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (200, "ok"));
    let r = env
        .send(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, 200);
    env.drop_db().await;
}

#[tokio::test]
async fn the_catalog_lists_every_name_without_a_write_per_event() {
    let env = TestEnv::new().await;
    let body = json!({"app": "demo", "context": {"user": "u1", "roles": ["admin", "dev"]}, "events": [
        {"id": "k1", "type": "click", "ts": 1_795_000_000_000_i64, "props": {"widget": "w", "n": 1}, "metrics": {"duration_ms": 3}},
        {"id": "k2", "type": "page", "ts": 1_795_000_100_000_i64, "props": {"n": "one"}},
    ]});
    let r = env.post_json(body.to_string()).await;
    assert_eq!(r.json["accepted"], 2, "{}", r.text);
    let catalog = env.collection("catalog");
    assert_eq!(
        catalog.count_documents(doc! {}).await.unwrap(),
        0,
        "not written on the ingest path"
    );
    assert_eq!(env.state.catalog.pending(), 5);
    assert_eq!(env.state.catalog.flush(&env.store).await.unwrap(), 5);
    let get = |id: &'static str| {
        let catalog = catalog.clone();
        async move {
            catalog
                .find_one(doc! {"_id": id})
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{id} missing"))
        }
    };
    let n = get("demo:d:n").await;
    assert_eq!(n.get_str("app").unwrap(), "demo");
    assert_eq!(n.get_str("name").unwrap(), "n");
    assert_eq!(n.get_str("field").unwrap(), "dimension");
    assert_eq!(
        n.get_array("kinds").unwrap(),
        &vec![Bson::from("number"), Bson::from("string")]
    );
    assert_eq!(
        n.get_array("types").unwrap(),
        &vec![Bson::from("click"), Bson::from("page")]
    );
    assert_eq!(
        n.get_datetime("first_seen").unwrap().timestamp_millis(),
        1_795_000_000_000
    );
    assert_eq!(
        n.get_datetime("last_seen").unwrap().timestamp_millis(),
        1_795_000_100_000
    );
    assert_eq!(
        get("demo:d:roles").await.get_array("kinds").unwrap(),
        &vec![Bson::from("list")]
    );
    let m = get("demo:m:duration_ms").await;
    assert_eq!(m.get_str("field").unwrap(), "metric");
    assert_eq!(m.get_array("types").unwrap(), &vec![Bson::from("click")]);
    get("demo:d:user").await;
    get("demo:d:widget").await;

    // A later batch widens first/last seen and adds kinds without duplicating entries.
    let body = json!({"app": "demo", "events": [
        {"id": "k3", "type": "custom.thing", "ts": 1_794_000_000_000_i64, "props": {"n": true}},
    ]});
    env.post_json(body.to_string()).await;
    env.state.catalog.flush(&env.store).await.unwrap();
    let n = get("demo:d:n").await;
    assert_eq!(n.get_array("kinds").unwrap().len(), 3);
    assert_eq!(n.get_array("types").unwrap().len(), 3);
    assert_eq!(
        n.get_datetime("first_seen").unwrap().timestamp_millis(),
        1_794_000_000_000
    );
    assert_eq!(
        n.get_datetime("last_seen").unwrap().timestamp_millis(),
        1_795_000_100_000
    );
    assert_eq!(catalog.count_documents(doc! {}).await.unwrap(), 5);
    env.drop_db().await;
}
