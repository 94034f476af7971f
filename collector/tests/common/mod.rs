//! Shared test setup: a fresh database on the real MongoDB-compatible store
//! (`MONGODB_URI`, which `cargo xtask test` starts and sets), an app, and a
//! router driven without a socket.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use mongodb::bson::{doc, Document};
use serde_json::Value;
use tower::ServiceExt;
use usagelens_collector::apps::{self, CreatedApp};
use usagelens_collector::config::ServeConfig;
use usagelens_collector::server::{app, AppState};
use usagelens_collector::store::{Store, WriteAck};

pub const ORIGIN: &str = "http://localhost:3000";
pub const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

pub fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI").unwrap_or_else(|_| {
        panic!(
            "MONGODB_URI is not set: these tests need a MongoDB-compatible server. \
             Run them with `cargo xtask test`, which starts one, or set MONGODB_URI."
        )
    })
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique database name per test.
pub fn unique_db(prefix: &str) -> String {
    format!(
        "ul_test_{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub struct TestEnv {
    pub store: Store,
    pub state: AppState,
    pub router: Router,
    pub app: CreatedApp,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::with_config(ServeConfig {
            rate_limit_ip: 0,
            rate_limit_app: 0,
            ..ServeConfig::default()
        })
        .await
    }

    /// Like [`TestEnv::new`], serving the beacon from `dir` (`--beacon-dir`).
    pub async fn with_beacon_dir(dir: Option<PathBuf>) -> Self {
        Self::with_config(ServeConfig {
            rate_limit_ip: 0,
            rate_limit_app: 0,
            beacon_dir: dir,
            ..ServeConfig::default()
        })
        .await
    }

    pub async fn with_config(config: ServeConfig) -> Self {
        let store = Store::connect(
            &mongodb_uri(),
            &unique_db("c"),
            WriteAck::default(),
            Duration::from_secs(10),
        )
        .await
        .expect("connect to the store");
        store.ensure_indexes().await.expect("indexes");
        let created = apps::create(&store, "demo", &[ORIGIN.to_owned()])
            .await
            .expect("create app");
        let state = AppState::new(store.clone(), config);
        let router =
            app(state.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        Self {
            store,
            state,
            router,
            app: created,
        }
    }

    pub fn key(&self) -> &str {
        &self.app.write_key
    }

    /// POSTs `body` to /v1/batch with JSON content type and the write key header.
    pub async fn post_json(&self, body: impl Into<Vec<u8>>) -> Resp {
        self.send(
            Request::post("/v1/batch")
                .header("content-type", "application/json")
                .header("x-write-key", self.key())
                .body(Body::from(body.into()))
                .unwrap(),
        )
        .await
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn events(&self) -> Vec<Document> {
        use futures_util::TryStreamExt;
        self.store
            .collection("events")
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    }

    pub async fn event_count(&self) -> u64 {
        self.store
            .collection("events")
            .count_documents(doc! {})
            .await
            .unwrap()
    }

    pub async fn drop_db(self) {
        let _ = self.store.database().drop().await;
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }

    /// Asserts a whole-request error with its status, code and a message part.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, message_part: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.code(), code, "body: {}", self.text);
        assert!(
            self.message().contains(message_part),
            "message {:?} should contain {message_part:?}",
            self.message()
        );
        let keys: Vec<&String> = self.json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["error"],
            "the error body has only `error`: {}",
            self.text
        );
    }
}

/// A batch body for `app` with `events` (JSON values) and the key in the body.
pub fn batch(events: Value) -> Value {
    serde_json::json!({ "app": "demo", "events": events })
}

pub fn click(id: &str) -> Value {
    serde_json::json!({ "id": id, "type": "click", "props": { "widget": "w" } })
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}
