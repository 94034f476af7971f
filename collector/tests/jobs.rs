//! The background jobs against the real local store: a catalog flush that
//! is cancelled loses no name, the jobs' health is what `/readyz` answers,
//! and shutdown runs the last flush.

mod common;

use std::time::Duration;

use common::*;
use mongodb::bson::doc;
use serde_json::json;
use usagelens_collector::{serve, AppState, ServeConfig};

#[tokio::test]
async fn a_cancelled_catalog_flush_loses_no_name() {
    let env = TestEnv::new().await;
    let body = json!({"app": "demo", "context": {"plan": "pro"}, "events": [
        {"id": "f1", "type": "click", "props": {"widget": "w"}, "metrics": {"duration_ms": 2}},
    ]});
    assert_eq!(env.post_json(body.to_string()).await.status, 200);
    let pending = env.state.catalog.pending();
    assert_eq!(pending, 3, "plan, widget, duration_ms");

    // A store nobody answers: the flush waits for server selection (10 s)
    // and is dropped — as a shutdown cancels a step — long before.
    let (dead, _) = unreachable_store(Duration::from_secs(10)).await;
    let cancelled =
        tokio::time::timeout(Duration::from_millis(300), env.state.catalog.flush(&dead)).await;
    assert!(cancelled.is_err(), "the flush was still waiting");
    assert_eq!(env.state.catalog.pending(), pending, "nothing lost");

    // A flush that fails outright keeps them too.
    let (failing, _) = unreachable_store(Duration::from_millis(200)).await;
    assert!(env.state.catalog.flush(&failing).await.is_err());
    assert_eq!(env.state.catalog.pending(), pending);

    assert_eq!(env.state.catalog.flush(&env.store).await.unwrap(), pending);
    assert_eq!(env.state.catalog.pending(), 0);
    let stored = env
        .collection("catalog")
        .count_documents(doc! { "app": "demo" })
        .await
        .unwrap();
    assert_eq!(stored, pending as u64);
    env.drop_db().await;
}

#[tokio::test]
async fn readyz_reports_the_jobs() {
    let env = TestEnv::with_config(ServeConfig {
        rate_limit_ip: 0,
        rate_limit_app: 0,
        catalog_flush: Duration::from_millis(100),
        rollup_build_every: Duration::from_millis(100),
        ..ServeConfig::default()
    })
    .await;
    let state: AppState = env.state.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(state, listener, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ready: serde_json::Value = r.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let jobs = ready["jobs"].as_array().unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["catalog-flush", "limits-prune", "rollup-builder"],
        "the indexes were created at start: no indexes job"
    );
    // The only collector on the store holds the builder's lease.
    assert_eq!(jobs[2]["lease"], "held", "{}", jobs[2]);
    for j in jobs {
        assert_eq!(j["healthy"], true, "{j}");
        assert!(j["runs"].as_u64().unwrap() >= 2, "{j}");
        assert_eq!(j["failures"], 0, "{j}");
        assert_eq!(j["every_ms"], 100, "{j}");
    }

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    env.drop_db().await;
}

#[tokio::test]
async fn shutdown_runs_the_last_catalog_flush() {
    // No periodic flush during the test: only the one at shutdown.
    let env = TestEnv::with_config(ServeConfig {
        rate_limit_ip: 0,
        rate_limit_app: 0,
        catalog_flush: Duration::from_secs(3600),
        ..ServeConfig::default()
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(env.state.clone(), listener, async move {
        let _ = stopped.await;
    }));
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v1/batch"))
        .header("content-type", "application/json")
        .header("x-write-key", env.key())
        .body(
            json!({"app": "demo", "events": [{"id": "s1", "type": "click", "props": {"late_name": 1}}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(env.state.catalog.pending(), 1, "not flushed yet");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let late = env
        .collection("catalog")
        .count_documents(doc! { "app": "demo", "name": "late_name" })
        .await
        .unwrap();
    assert_eq!(late, 1);
    assert_eq!(env.state.catalog.pending(), 0);
    env.drop_db().await;
}

#[tokio::test]
async fn readyz_without_a_store_says_so_without_its_internals() {
    let (store, port) = unreachable_store(Duration::from_millis(200)).await;
    let config = ServeConfig {
        catalog_flush: Duration::from_millis(50),
        ..ServeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(AppState::new(store, config), listener, async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let text = r.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable", "{text}");
    assert_eq!(body["error"]["message"], "the event store is not reachable");
    assert!(
        !text.contains(&port.to_string()),
        "internals stay in the log: {text}"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
