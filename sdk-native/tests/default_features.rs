//! What a user of the default features gets, with no feature named: an axum
//! app's routes are recorded by their template (the `axum` feature is on by
//! default). Without the tower layer there is nothing to test.

#![cfg(feature = "tower")]

mod common;

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use common::{events, flush, options, recorder};
use tower::ServiceExt;
use usagelens::{Client, UsageLensLayer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_route_is_named_by_its_template_with_the_default_features() {
    let (r, url) = recorder(vec![200]).await;
    let c = Client::new(options(&url)).unwrap();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ada" }))
        .layer(UsageLensLayer::new(c.clone()));
    let resp = app
        .oneshot(
            axum::http::Request::get("/users/42")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    flush(&c).await;
    let evs = events(&r);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["type"], "http");
    assert_eq!(evs[0]["props"]["route"], "/users/{id}");
    assert!(
        !evs[0].to_string().contains("/users/42"),
        "never the raw path"
    );
    c.shutdown(Duration::from_secs(5)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_template_extension_names_routes_without_axum_routing() {
    let (r, url) = recorder(vec![200]).await;
    let c = Client::new(options(&url)).unwrap();
    // A plain tower service, with the template set by the host's own router.
    let svc = tower::ServiceBuilder::new()
        .map_request(|mut req: axum::http::Request<axum::body::Body>| {
            req.extensions_mut()
                .insert(usagelens::RouteTemplate("/orders/:id".into()));
            req
        })
        .layer(UsageLensLayer::new(c.clone()))
        .service_fn(|_req| async {
            Ok::<_, std::convert::Infallible>(axum::http::Response::new(axum::body::Body::empty()))
        });
    let resp = svc
        .oneshot(
            axum::http::Request::get("/orders/7")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    flush(&c).await;
    let evs = events(&r);
    assert_eq!(evs[0]["props"]["route"], "/orders/:id");
    c.shutdown(Duration::from_secs(5)).unwrap();
}
