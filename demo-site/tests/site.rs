//! The demo site's pages and API, driven through its router.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use usagelens::{Client, Options};
use usagelens_demo_site::{app, SiteConfig};

fn site() -> (axum::Router, Client) {
    // The SDK's collector is a closed port here: recording is what is checked.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut o = Options::new("demo", "wk_demo");
    o.endpoint = format!("http://127.0.0.1:{port}");
    o.flush_interval = Duration::from_secs(3600);
    let sdk = Client::new(o).unwrap();
    let cfg = SiteConfig {
        collector: "http://127.0.0.1:8080".into(),
        app: "demo".into(),
        write_key: "wk_demo".into(),
    };
    (app(cfg, sdk.clone()), sdk)
}

async fn get(app: &axum::Router, path: &str) -> (StatusCode, String) {
    let resp = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn every_page_carries_the_beacon_the_user_and_the_roles() {
    let (app, _) = site();
    for path in [
        "/",
        "/trends",
        "/reports",
        "/reports/2",
        "/settings",
        "/slow?as=grace",
    ] {
        let (status, html) = get(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains(r#"<script async src="http://127.0.0.1:8080/beacon.js" data-app="demo" data-key="wk_demo"></script>"#), "{path}");
        assert!(html.contains("usagelens.identify("), "{path}");
        assert!(html.contains(r#"usagelens.set("roles", ["#), "{path}");
    }
    let (_, html) = get(&app, "/?as=grace").await;
    assert!(html.contains(r#"usagelens.identify("grace")"#));
    let (_, html) = get(&app, "/?as=%3Cscript%3E").await;
    assert!(
        html.contains(r#"usagelens.identify("ada")"#),
        "odd user names fall back to the default"
    );
}

#[tokio::test]
async fn widgets_and_controls_with_defaults() {
    let (app, _) = site();
    let (_, home) = get(&app, "/").await;
    for w in [
        "toolbar-new",
        "toolbar-refresh",
        "export-menu",
        "export-csv",
        "archive-all",
        "tab-trends",
    ] {
        assert!(home.contains(&format!(r#"data-usage-widget="{w}""#)), "{w}");
    }
    assert!(home.contains("data-usage-ignore"));
    let (_, settings) = get(&app, "/settings").await;
    assert!(settings.contains(r#"<option value="light" selected>"#));
    assert!(settings.contains(r#"name="export_format" value="csv" checked"#));
    assert!(settings.contains(r#"name="columns" multiple"#));
    assert!(settings.contains(r#"type="password""#));
    let resp = app
        .clone()
        .oneshot(
            Request::post("/settings")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("theme=dark&notify=email&notify=sms"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_slow_page_is_slow_and_the_api_is_recorded_by_the_sdk() {
    let (app, sdk) = site();
    let t = Instant::now();
    let (status, html) = get(&app, "/slow").await;
    assert_eq!(status, 200);
    assert!(t.elapsed() >= Duration::from_millis(600));
    assert!(html.contains(r#"usagelens.mark('app-ready')"#));
    let (_, js) = get(&app, "/assets/heavy.js").await;
    assert!(js.len() > 300_000, "a heavy asset: {} bytes", js.len());

    let (status, json) = get(&app, "/api/reports").await;
    assert_eq!(status, 200);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 5);
    let (status, json) = get(&app, "/api/reports/5").await;
    assert_eq!(status, 200);
    assert!(json.len() > 100_000, "the big report is big");
    assert_eq!(get(&app, "/api/reports/99").await.0, 404);
    // Three API requests went through the SDK's layer; the pages did not.
    assert_eq!(sdk.stats().queued, 3);
}
