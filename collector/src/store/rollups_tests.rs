//! `Rollups::replace_range` against the real local store: a rebuild
//! inserts new groups, replaces older ones, deletes the groups that are
//! gone, and never replaces a later build's document.

use std::time::Duration;

use mongodb::bson::{doc, DateTime, Document};

use super::{Store, WriteAck};

/// 2026-01-05T00:00:00Z and the hour after.
const B0: i64 = 1_767_571_200_000;
const B1: i64 = B0 + 3_600_000;

fn group(id: &str, b: i64, g: i64, n: i64) -> Document {
    doc! { "_id": format!("t:demo:{b}:{id}"), "r": "t", "app": "demo",
    "b": DateTime::from_millis(b), "d": { "k": id }, "g": g, "n": n }
}

async fn held(store: &Store) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    let mut c = store
        .database()
        .collection::<Document>("rollups")
        .find(doc! { "r": "t" })
        .await
        .unwrap();
    while c.advance().await.unwrap() {
        let d = c.deserialize_current().unwrap();
        out.push((
            d.get_str("_id").unwrap().to_owned(),
            d.get_i64("g").unwrap(),
            d.get_i64("n").unwrap(),
        ));
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_rebuild_replaces_older_groups_deletes_gone_ones_and_keeps_later_builds() {
    let uri = std::env::var("MONGODB_URI")
        .expect("MONGODB_URI: run the tests with `cargo xtask test`, which starts a store");
    let db = format!("ul_test_replace_{}", std::process::id());
    let store = Store::connect(&uri, &db, WriteAck::default(), Duration::from_secs(10))
        .await
        .unwrap();
    store.ensure_indexes().await.unwrap();
    let r = store.rollups();
    let id = |k: &str, b: i64| format!("t:demo:{b}:{k}");

    // A first build of two hours.
    r.replace_range(
        "t",
        "demo",
        B0,
        B1 + 3_600_000,
        5,
        vec![
            group("a", B0, 5, 1),
            group("b", B0, 5, 2),
            group("c", B1, 5, 3),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        held(&store).await,
        vec![
            (id("a", B0), 5, 1),
            (id("b", B0), 5, 2),
            (id("c", B1), 5, 3),
        ]
    );

    // A rebuild of the first hour: `a` replaced, `b` gone, `d` new; the
    // second hour, outside the range, untouched.
    r.replace_range(
        "t",
        "demo",
        B0,
        B1,
        7,
        vec![group("a", B0, 7, 10), group("d", B0, 7, 4)],
    )
    .await
    .unwrap();
    assert_eq!(
        held(&store).await,
        vec![
            (id("a", B0), 7, 10),
            (id("d", B0), 7, 4),
            (id("c", B1), 5, 3),
        ]
    );

    // An older build that finishes late never replaces the later one's
    // documents, nor deletes them.
    r.replace_range("t", "demo", B0, B1, 6, vec![group("a", B0, 6, 99)])
        .await
        .unwrap();
    assert_eq!(
        held(&store).await,
        vec![
            (id("a", B0), 7, 10),
            (id("d", B0), 7, 4),
            (id("c", B1), 5, 3),
        ]
    );

    // An empty rebuild empties the range.
    r.replace_range("t", "demo", B0, B1, 8, Vec::new())
        .await
        .unwrap();
    assert_eq!(held(&store).await, vec![(id("c", B1), 5, 3)]);
    store.database().drop().await.unwrap();
}
