//! A recording HTTP endpoint standing in for the collector: it answers as
//! told (200, 503 or 429 with `Retry-After`, 400) and keeps every batch.

#![allow(dead_code, unreachable_pub)] // each test file uses part of it

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use usagelens::{Client, Options};

#[derive(Clone, Default)]
pub struct Recorder {
    pub batches: Arc<Mutex<Vec<Value>>>,
    /// Statuses to answer, in order; the last one repeats.
    script: Arc<Mutex<Vec<u16>>>,
    /// The `Retry-After` sent with a 429 or a 503.
    retry_after: &'static str,
}

async fn collect(State(r): State<Recorder>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    assert_eq!(headers["content-encoding"], "gzip");
    let mut json = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut json)
        .unwrap();
    let status = {
        let mut s = r.script.lock().unwrap();
        if s.len() > 1 {
            s.remove(0)
        } else {
            s.first().copied().unwrap_or(200)
        }
    };
    r.batches
        .lock()
        .unwrap()
        .push(serde_json::from_str(&json).unwrap());
    let mut h = HeaderMap::new();
    if status == 503 || status == 429 {
        h.insert("retry-after", r.retry_after.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), h, "{}")
}

/// A recorder answering `script` (429 and 503 with `Retry-After: 1`).
pub async fn recorder(script: Vec<u16>) -> (Recorder, String) {
    recorder_with(script, "1").await
}

/// A recorder answering `script`, 429 and 503 with `Retry-After: retry_after`.
pub async fn recorder_with(script: Vec<u16>, retry_after: &'static str) -> (Recorder, String) {
    let r = Recorder {
        script: Arc::new(Mutex::new(script)),
        retry_after,
        ..Recorder::default()
    };
    let app = Router::new()
        .route("/v1/batch", post(collect))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}

pub fn options(endpoint: &str) -> Options {
    let mut o = Options::new("shop", "wk_test");
    o.endpoint = endpoint.to_owned();
    o.flush_interval = Duration::from_secs(3600);
    o
}

/// Every event the recorder was sent, in order (retries included).
pub fn events(r: &Recorder) -> Vec<Value> {
    r.batches
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| b["events"].as_array().unwrap().clone())
        .collect()
}

/// Flushes from async code, as the docs say: in `spawn_blocking`.
pub async fn flush(c: &Client) {
    let c = c.clone();
    tokio::task::spawn_blocking(move || c.flush(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
}
