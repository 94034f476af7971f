//! The apps commands' logic against the real local store.

mod common;

use std::time::Duration;

use common::*;
use mongodb::bson::doc;
use serde_json::json;
use usagelens_collector::apps::{self, hash_token, AppsError, OriginsUpdate};
use usagelens_collector::config::ServeConfig;

#[tokio::test]
async fn create_list_rotate_delete() {
    let env = TestEnv::new().await;
    let s = &env.store;
    // `demo` exists (TestEnv made it); creating it again is refused.
    match apps::create(s, "demo", &[]).await {
        Err(AppsError::Exists(id)) => assert_eq!(id, "demo"),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert!(
        matches!(apps::create(s, "Bad App", &[]).await, Err(AppsError::Invalid(m)) if m.contains("invalid app"))
    );
    assert!(
        matches!(apps::create(s, "x", &["ftp://nope".into()]).await, Err(AppsError::Invalid(m)) if m.contains("invalid origin"))
    );
    let shop = apps::create(s, "shop", &["https://Shop.Example:443/".into(), "*".into()])
        .await
        .unwrap();
    assert!(shop.write_key.starts_with("wk_") && shop.read_token.starts_with("rt_"));

    let list = apps::list(s).await.unwrap();
    let ids: Vec<&str> = list.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["demo", "shop"]);
    assert_eq!(list[1].origins, ["https://shop.example", "*"]);
    assert_eq!(list[1].write_key, shop.write_key);
    let listed = serde_json::to_string(&list).unwrap();
    assert!(
        !listed.contains(&shop.read_token),
        "the read token is never listed"
    );

    // Only the read token's hash is stored.
    let stored = s
        .database()
        .collection::<mongodb::bson::Document>("apps")
        .find_one(doc! {"_id": "shop"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.get_str("read_token_sha256").unwrap(),
        hash_token(&shop.read_token)
    );
    assert!(!format!("{stored}").contains(&shop.read_token));

    let new_key = apps::rotate_write_key(s, "shop").await.unwrap();
    assert_ne!(new_key, shop.write_key);
    let new_token = apps::rotate_read_token(s, "shop").await.unwrap();
    let stored = s
        .database()
        .collection::<mongodb::bson::Document>("apps")
        .find_one(doc! {"_id": "shop"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.get_str("read_token_sha256").unwrap(),
        hash_token(&new_token)
    );
    assert_eq!(stored.get_str("write_key").unwrap(), new_key);
    assert!(matches!(
        apps::rotate_write_key(s, "ghost").await,
        Err(AppsError::NotFound(_))
    ));

    assert_eq!(apps::delete(s, "shop", false).await.unwrap(), 0);
    assert!(matches!(
        apps::delete(s, "shop", false).await,
        Err(AppsError::NotFound(_))
    ));
    assert_eq!(apps::list(s).await.unwrap().len(), 1);
    env.drop_db().await;
}

#[tokio::test]
async fn a_rotated_key_takes_effect_and_delete_can_purge_events() {
    let env = TestEnv::with_config(ServeConfig {
        rate_limit_ip: 0,
        rate_limit_app: 0,
        app_cache_ttl: Duration::ZERO,
        ..ServeConfig::default()
    })
    .await;
    let old = env.key().to_owned();
    let r = env.post_json(batch(json!([click("k1")])).to_string()).await;
    assert_eq!(r.status, 200);
    let new = apps::rotate_write_key(&env.store, "demo").await.unwrap();
    // The old key no longer works; the new one does.
    env.post_json(batch(json!([click("k2")])).to_string())
        .await
        .assert_error(401, "wrong_key", "demo");
    let mut body = batch(json!([click("k3")]));
    body["key"] = json!(new);
    let req = axum::http::Request::post("/v1/batch")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    assert_eq!(env.send(req).await.status, 200);
    assert_ne!(old, new);
    assert_eq!(env.event_count().await, 2);
    env.state.catalog.flush(&env.store).await.unwrap();
    assert_eq!(apps::delete(&env.store, "demo", true).await.unwrap(), 2);
    assert_eq!(env.event_count().await, 0);
    assert_eq!(
        env.collection("catalog")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );
    env.drop_db().await;
}

fn update(set: &[&str], add: &[&str], remove: &[&str]) -> OriginsUpdate {
    let v = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
    OriginsUpdate {
        set: v(set),
        add: v(add),
        remove: v(remove),
    }
}

#[tokio::test]
async fn update_origins_replaces_adds_and_removes() {
    let env = TestEnv::new().await;
    let s = &env.store;
    // demo allows ORIGIN (http://localhost:3000).
    let app = apps::update_origins(
        s,
        "demo",
        &update(
            &[],
            &["https://A.example:443/", "https://b.example", ORIGIN],
            &[],
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        app.origins,
        [ORIGIN, "https://a.example", "https://b.example"],
        "added at the end, normalized as `create` does, an allowed one not twice"
    );
    assert_eq!(app.id, "demo");
    assert_eq!(app.write_key, env.key());
    assert!(!app.created_at.is_empty());
    let printed = serde_json::to_string(&app).unwrap();
    assert!(!printed.contains("read_token"), "{printed}");

    let app = apps::update_origins(
        s,
        "demo",
        &update(
            &[],
            &["http://c.example:8080"],
            &["https://A.example", "https://nowhere.example"],
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        app.origins,
        [ORIGIN, "https://b.example", "http://c.example:8080"],
        "one update removes and adds; removing an origin not allowed is no change"
    );

    let app = apps::update_origins(
        s,
        "demo",
        &update(&["*", "https://d.example/", "*"], &[], &[]),
    )
    .await
    .unwrap();
    assert_eq!(app.origins, ["*", "https://d.example"], "replaced");
    let app = apps::update_origins(s, "demo", &update(&[], &[], &["*", "https://d.example"]))
        .await
        .unwrap();
    assert!(app.origins.is_empty());
    assert_eq!(
        apps::list(s).await.unwrap()[0].origins,
        Vec::<String>::new()
    );

    // The read token's hash is still stored: the update only touched origins.
    let stored = env
        .collection("apps")
        .find_one(doc! {"_id": "demo"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.get_str("read_token_sha256").unwrap(),
        hash_token(&env.app.read_token)
    );

    for (bad, part) in [
        (update(&[], &["ftp://x"], &[]), "invalid origin `ftp://x`"),
        (
            update(&[], &[], &["https://x/path"]),
            "invalid origin `https://x/path`",
        ),
        (
            update(&["https://x"], &["https://y"], &[]),
            "cannot be combined",
        ),
        (update(&[], &[], &[]), "nothing to update"),
        (
            update(&[], &["https://x.example"], &["https://X.example/"]),
            "both added and removed",
        ),
    ] {
        match apps::update_origins(s, "demo", &bad).await {
            Err(AppsError::Invalid(m)) => assert!(m.contains(part), "{m}"),
            other => panic!("{bad:?}: expected Invalid, got {other:?}"),
        }
    }
    assert!(matches!(
        apps::update_origins(s, "Bad App", &update(&[], &["*"], &[])).await,
        Err(AppsError::Invalid(m)) if m.contains("invalid app")
    ));
    match apps::update_origins(s, "ghost", &update(&[], &["*"], &[])).await {
        Err(e @ AppsError::NotFound(_)) => {
            assert!(e.to_string().contains("no app `ghost`"), "{e}")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(
        apps::list(s).await.unwrap().iter().all(|a| a.id != "ghost"),
        "an update never creates an app"
    );
    env.drop_db().await;
}

#[tokio::test]
async fn the_collector_sees_updated_origins_and_the_403_says_how() {
    let env = TestEnv::with_config(ServeConfig {
        rate_limit_ip: 0,
        rate_limit_app: 0,
        app_cache_ttl: Duration::ZERO,
        ..ServeConfig::default()
    })
    .await;
    let post_from = |origin: &'static str, id: &'static str| {
        axum::http::Request::post("/v1/batch")
            .header("content-type", "application/json")
            .header("x-write-key", env.key())
            .header("origin", origin)
            .body(axum::body::Body::from(
                batch(json!([click(id)])).to_string(),
            ))
            .unwrap()
    };
    let new = "https://shop.example";
    let r = env.send(post_from(new, "o1")).await;
    r.assert_error(
        403,
        "origin_not_allowed",
        "usagelens-collector apps update demo --add-origin https://shop.example",
    );
    apps::update_origins(&env.store, "demo", &update(&[], &[new], &[ORIGIN]))
        .await
        .unwrap();
    assert_eq!(env.send(post_from(new, "o2")).await.status, 200);
    env.send(post_from(ORIGIN, "o3")).await.assert_error(
        403,
        "origin_not_allowed",
        "--add-origin http://localhost:3000",
    );
    let preflight = axum::http::Request::options("/v1/batch")
        .header("origin", new)
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(env.send(preflight).await.status, 204);
    env.drop_db().await;
}

/// `apps update` as a user runs it: the binary, its JSON, its errors.
#[tokio::test]
async fn the_apps_update_command() {
    let env = TestEnv::new().await;
    let db = env.store.database().name().to_owned();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_usagelens-collector"))
            .args([
                "--mongodb-uri",
                &mongodb_uri(),
                "--database",
                &db,
                "--store-timeout",
                "10s",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "apps",
        "update",
        "demo",
        "--add-origin",
        "https://a.example",
        "--add-origin",
        "https://b.example",
        "--remove-origin",
        ORIGIN,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["id"], "demo");
    assert_eq!(
        printed["origins"],
        json!(["https://a.example", "https://b.example"])
    );
    assert_eq!(printed["write_key"], env.key());
    assert!(printed.get("read_token").is_none() && printed.get("read_token_sha256").is_none());

    let out = run(&["apps", "update", "demo", "--origin", "*"]);
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["origins"], json!(["*"]));

    let out = run(&[
        "apps",
        "update",
        "ghost",
        "--add-origin",
        "https://a.example",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no app `ghost`") && err.contains("apps list"),
        "{err}"
    );

    let out = run(&[
        "apps",
        "update",
        "demo",
        "--origin",
        "https://a.example",
        "--add-origin",
        "https://b.example",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used with"), "{err}");

    let out = run(&["apps", "update", "demo", "--add-origin", "not an origin"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid origin `not an origin`"), "{err}");
    assert_eq!(apps::list(&env.store).await.unwrap()[0].origins, ["*"]);
    env.drop_db().await;
}
