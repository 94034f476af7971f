//! Headless Chromium through chromedriver, and a static page server, for the
//! browser tests and the beacon benchmark.

use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use usagelens_e2e::chromedriver::ChromeDriver;

/// A free port on loopback (for a server whose address must be known first).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves `pages` (path, HTML) on `127.0.0.1:port` until the test ends.
pub(crate) async fn serve_pages(port: u16, pages: Vec<(&'static str, String)>) {
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

/// A WebDriver session on headless Chromium. On drop, also when the test
/// failed or panicked, the session is closed and chromedriver, Chrome and
/// everything Chrome started are killed (`usagelens_e2e::chromedriver`).
pub(crate) struct Browser {
    /// The WebDriver client.
    pub(crate) client: Client,
    driver: ChromeDriver,
}

impl Browser {
    pub(crate) async fn start() -> Self {
        Self::start_with(json!({})).await
    }

    /// A session with `extra` capabilities: its `goog:chromeOptions` members
    /// are added to the usual ones, its other members to the capabilities.
    pub(crate) async fn start_with(extra: serde_json::Value) -> Self {
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let mut caps = json!({"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-quic", "--no-first-run", "--enable-precise-memory-info"]
        }});
        for (k, v) in extra.as_object().into_iter().flatten() {
            match (k.as_str(), v.as_object()) {
                ("goog:chromeOptions", Some(options)) => {
                    for (ok, ov) in options {
                        caps[k][ok] = ov.clone();
                    }
                }
                _ => caps[k] = v.clone(),
            }
        }
        // A busy machine (a CI run) once saw chromedriver reset the new
        // session's connection: a second driver is tried before failing.
        let mut attempt = 0;
        let (client, driver) = loop {
            attempt += 1;
            let driver = ChromeDriver::start(&bin).unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}): `cargo xtask test` installs chromium and chromium-driver")
            });
            // chromedriver is on loopback: plain HTTP, no TLS stack.
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.as_object().unwrap().clone().into_iter().collect())
                .connect(&driver.url())
                .await
            {
                Ok(client) => break (client, driver),
                Err(e) if attempt < 2 => {
                    eprintln!("a WebDriver session, attempt {attempt}: {e}; again")
                }
                Err(e) => panic!("a WebDriver session: {e:?}"),
            }
        };
        if let Some(id) = client.session_id().await.ok().flatten() {
            driver.track_session(id);
        }
        Self { client, driver }
    }

    /// chromedriver, with what it started.
    pub(crate) fn driver(&self) -> &ChromeDriver {
        &self.driver
    }

    /// Clicks the element `css` selects.
    pub(crate) async fn click(&self, css: &str) {
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
    pub(crate) async fn type_into(&self, css: &str, text: &str) {
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
    pub(crate) async fn select(&self, css: &str, value: &str) {
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
    pub(crate) async fn wait_for_beacon(&self) {
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
    /// The session is closed before the client drops (whose own close is a
    /// task the ending runtime may never run); the driver's drop then kills
    /// whatever is left.
    fn drop(&mut self) {
        self.driver.close_sessions();
    }
}

/// An app `demo` whose allowed origin is `origin`, and a collector for it
/// (started off the async runtime: the CLI and the process start block).
pub(crate) async fn app_and_collector(
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
pub(crate) async fn stored_events(
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
