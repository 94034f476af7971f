//! Headless Chromium through chromedriver, and a static page server, for the
//! browser tests and the beacon benchmark.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A free port on loopback (for a server whose address must be known first).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves `pages` (path, HTML) on `127.0.0.1:port` until the test ends.
pub async fn serve_pages(port: u16, pages: Vec<(&'static str, String)>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let mut router = axum::Router::new();
    for (path, html) in pages {
        router = router.route(
            path,
            axum::routing::get(move || {
                let html = html.clone();
                async move { ([("content-type", "text/html; charset=utf-8")], html) }
            }),
        );
    }
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
}

/// A WebDriver session on headless Chromium; chromedriver stops on drop.
pub struct Browser {
    driver: Child,
    /// The WebDriver client.
    pub client: Client,
}

impl Browser {
    pub async fn start() -> Self {
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = free_port();
        let mut driver = Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}): `cargo xtask test` installs chromium and chromium-driver")
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver did not listen within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-quic", "--no-first-run", "--enable-precise-memory-info"]
        }});
        // chromedriver is on loopback: plain HTTP, no TLS stack.
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.as_object().unwrap().clone().into_iter().collect())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Self { driver, client }
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Selects the option of value `value` in the select `css` selects.
    pub async fn select(&self, css: &str, value: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        el.select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Waits until the beacon has replaced the stub on the current page.
    pub async fn wait_for_beacon(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = self
                .client
                .execute(
                    "return !!(window.usagelens && window.usagelens.__usagelens)",
                    vec![],
                )
                .await
                .unwrap();
            if ready == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "the beacon did not load");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An app `demo` whose allowed origin is `origin`, and a collector for it
/// (started off the async runtime: the CLI and the process start block).
pub async fn app_and_collector(
    db: &str,
    origin: &str,
    extra: &'static [&'static str],
) -> (serde_json::Value, super::Collector) {
    let (db, origin) = (db.to_owned(), origin.to_owned());
    tokio::task::spawn_blocking(move || {
        let app = super::cli_json(&db, &["apps", "create", "demo", "--origin", &origin]);
        (app, super::Collector::start(&db, extra))
    })
    .await
    .unwrap()
}

/// The events stored in `db` matching `filter`, oldest first.
pub async fn stored_events(
    db: &mongodb::Database,
    filter: mongodb::bson::Document,
) -> Vec<mongodb::bson::Document> {
    use futures_util::TryStreamExt;
    db.collection::<mongodb::bson::Document>("events")
        .find(filter)
        .sort(mongodb::bson::doc! {"ts": 1, "_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}
