//! # usagelens-demo-site
//!
//! The reference integration: a small reports workspace. Every page carries
//! the beacon (see [`pages`]); the JSON API runs behind the native SDK's
//! tower layer (see [`api`]). `cargo xtask demo` runs it beside the
//! collector; the end-to-end tests drive it in headless Chromium.

pub mod api;
pub mod pages;

use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use usagelens::{Client, UsageLensLayer};

use pages::User;

/// Where the demo sends its data.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// The collector's base URL (the beacon is loaded from it).
    pub collector: String,
    /// The app id.
    pub app: String,
    /// The app's write key.
    pub write_key: String,
}

#[derive(Debug, Clone)]
struct SiteState {
    cfg: SiteConfig,
}

/// `?as=<user>` picks the signed-in user (the simulator uses it); the
/// default is `ada`. Roles follow from the name, so they are stable.
#[derive(Debug, Deserialize)]
struct AsUser {
    #[serde(rename = "as")]
    user: Option<String>,
}

fn user_of(q: &AsUser) -> User {
    let id = q
        .user
        .as_deref()
        .filter(|u| {
            !u.is_empty()
                && u.len() <= 64
                && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .unwrap_or("ada")
        .to_owned();
    let roles = match id.bytes().map(u32::from).sum::<u32>() % 3 {
        0 => vec!["analyst".to_owned()],
        1 => vec!["analyst".to_owned(), "admin".to_owned()],
        _ => vec!["viewer".to_owned()],
    };
    User { id, roles }
}

async fn home(State(s): State<SiteState>, Query(q): Query<AsUser>) -> Html<String> {
    Html(pages::home(&s.cfg, &user_of(&q)))
}

async fn reports(State(s): State<SiteState>, Query(q): Query<AsUser>) -> Html<String> {
    Html(pages::reports(&s.cfg, &user_of(&q)))
}

async fn report(
    State(s): State<SiteState>,
    Path(id): Path<u32>,
    Query(q): Query<AsUser>,
) -> Html<String> {
    Html(pages::report(&s.cfg, &user_of(&q), id))
}

#[derive(Debug, Deserialize)]
struct Saved {
    saved: Option<u8>,
    #[serde(rename = "as")]
    user: Option<String>,
}

async fn settings(State(s): State<SiteState>, Query(q): Query<Saved>) -> Html<String> {
    let user = user_of(&AsUser { user: q.user });
    Html(pages::settings(&s.cfg, &user, q.saved.is_some()))
}

async fn save_settings(
    Query(q): Query<AsUser>,
    Form(_form): Form<Vec<(String, String)>>,
) -> Redirect {
    // The signed-in user stays signed in (`user_of` only lets safe names through).
    Redirect::to(&format!("/settings?saved=1&as={}", user_of(&q).id))
}

async fn slow(State(s): State<SiteState>, Query(q): Query<AsUser>) -> Html<String> {
    // The server's own delay: it shows in the page's `ttfb_ms` and `request_ms`.
    tokio::time::sleep(Duration::from_millis(600)).await;
    Html(pages::slow(&s.cfg, &user_of(&q)))
}

async fn heavy() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        pages::heavy_asset(),
    )
}

/// The site's router: pages, the heavy asset, and the API behind the SDK's layer.
pub fn app(cfg: SiteConfig, sdk: Client) -> Router {
    let api = Router::new()
        .route("/api/reports", get(api::list))
        .route("/api/reports/{id}", get(api::get))
        .layer(UsageLensLayer::new(sdk));
    Router::new()
        .route("/", get(home))
        .route("/overview", get(home))
        .route("/trends", get(home))
        .route("/raw-data", get(home))
        .route("/reports", get(reports))
        .route("/reports/{id}", get(report))
        .route("/settings", get(settings).post(save_settings))
        .route("/slow", get(slow))
        .route("/assets/heavy.js", get(heavy))
        .merge(api)
        .with_state(SiteState { cfg })
}
