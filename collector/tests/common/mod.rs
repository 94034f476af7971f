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
use usagelens_collector::store::{Store, WriteAck};
use usagelens_collector::{app, AppState};

pub(crate) const ORIGIN: &str = "http://localhost:3000";
pub(crate) const CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

pub(crate) fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI").unwrap_or_else(|_| {
        panic!(
            "MONGODB_URI is not set: these tests need a MongoDB-compatible server. \
             Run them with `cargo xtask test`, which starts one, or set MONGODB_URI."
        )
    })
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique database name per test.
pub(crate) fn unique_db(prefix: &str) -> String {
    format!(
        "ul_test_{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub(crate) struct TestEnv {
    pub(crate) store: Store,
    pub(crate) state: AppState,
    pub(crate) router: Router,
    pub(crate) app: CreatedApp,
}

impl TestEnv {
    pub(crate) async fn new() -> Self {
        Self::with_config(ServeConfig {
            rate_limit_ip: 0,
            rate_limit_app: 0,
            ..ServeConfig::default()
        })
        .await
    }

    /// Like [`TestEnv::new`], serving the beacon from `dir` (`--beacon-dir`).
    pub(crate) async fn with_beacon_dir(dir: Option<PathBuf>) -> Self {
        Self::with_config(ServeConfig {
            rate_limit_ip: 0,
            rate_limit_app: 0,
            beacon_dir: dir,
            ..ServeConfig::default()
        })
        .await
    }

    pub(crate) async fn with_config(config: ServeConfig) -> Self {
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

    /// A collection as stored, for checks on the documents themselves.
    pub(crate) fn collection(&self, name: &str) -> mongodb::Collection<Document> {
        self.store.database().collection(name)
    }

    pub(crate) fn key(&self) -> &str {
        &self.app.write_key
    }

    /// POSTs `body` to /v1/batch with JSON content type and the write key header.
    pub(crate) async fn post_json(&self, body: impl Into<Vec<u8>>) -> Resp {
        self.send(
            Request::post("/v1/batch")
                .header("content-type", "application/json")
                .header("x-write-key", self.key())
                .body(Body::from(body.into()))
                .unwrap(),
        )
        .await
    }

    pub(crate) async fn send(&self, req: Request<Body>) -> Resp {
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

    pub(crate) async fn events(&self) -> Vec<Document> {
        self.events_as().await
    }

    /// The stored events in `_id` order, as `T` (`RawDocumentBuf` keeps a
    /// document's keys exactly as stored, repeats included).
    pub(crate) async fn events_as<T>(&self) -> Vec<T>
    where
        T: serde::de::DeserializeOwned + Send + Sync,
    {
        use futures_util::TryStreamExt;
        self.store
            .database()
            .collection::<T>("events")
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    }

    pub(crate) async fn event_count(&self) -> u64 {
        self.collection("events")
            .count_documents(doc! {})
            .await
            .unwrap()
    }

    pub(crate) async fn drop_db(self) {
        let _ = self.store.database().drop().await;
    }
}

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) json: Value,
    pub(crate) text: String,
}

impl Resp {
    /// A response header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    pub(crate) fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }

    /// Asserts a whole-request error with its status, code and a message part.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str, message_part: &str) {
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

/// A store on a loopback port nobody listens on: every operation fails
/// after `timeout` (server selection). Returns it and the port, which an
/// error shown to a client must not contain.
pub(crate) async fn unreachable_store(timeout: Duration) -> (Store, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = Store::connect(
        &format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        "x",
        WriteAck::default(),
        timeout,
    )
    .await
    .unwrap();
    (store, port)
}

/// A batch body for `app` with `events` (JSON values) and the key in the body.
pub(crate) fn batch(events: Value) -> Value {
    serde_json::json!({ "app": "demo", "events": events })
}

pub(crate) fn click(id: &str) -> Value {
    serde_json::json!({ "id": id, "type": "click", "props": { "widget": "w" } })
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}
