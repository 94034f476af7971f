//! The apps commands' logic against the real local store.

mod common;

use std::time::Duration;

use common::*;
use mongodb::bson::doc;
use serde_json::json;
use usagelens_collector::apps::{self, hash_token, AppsError};
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
