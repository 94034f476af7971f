//! Leases against the real local store, time moved by hand: one holder at a
//! time, renewals, takeover once the holder stops renewing, the margin
//! that covers clock skew, the epoch that fences a holder who lost it,
//! release, and a race of many collectors for one lease.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::future::join_all;
use mongodb::bson::doc;
use usagelens_collector::clock::ManualClock;
use usagelens_collector::lease::Lease;
use usagelens_collector::store::{Store, WriteAck};

const T0: i64 = 1_800_000_000_000;

async fn store() -> Store {
    Store::connect(
        &mongodb_uri(),
        &unique_db("lease"),
        WriteAck::default(),
        Duration::from_secs(10),
    )
    .await
    .expect("connect to the store")
}

fn lease(store: &Store, clock: &ManualClock) -> Lease {
    Lease::new(
        store.clone(),
        "rollups",
        Duration::from_secs(9),
        Arc::new(clock.clone()),
    )
}

#[tokio::test]
async fn one_holder_renews_and_another_takes_over_only_once_it_expires() {
    let store = store().await;
    let clock = ManualClock::at(T0);
    let (mut a, mut b) = (lease(&store, &clock), lease(&store, &clock));
    assert_ne!(a.holder(), b.holder(), "each handle is its own holder");

    assert!(a.keep().await.unwrap(), "a free lease is taken");
    assert!(!b.keep().await.unwrap(), "a held lease is not");
    assert!(a.is_held() && !b.is_held());
    let stored = a.current().await.unwrap().unwrap();
    assert_eq!(
        (stored.holder.as_str(), stored.epoch, stored.until_ms),
        (a.holder(), 1, T0 + 9_000)
    );

    // a renews at +5 s: held until +14 s.
    clock.advance(Duration::from_secs(5));
    assert!(a.keep().await.unwrap());
    assert_eq!(a.epoch(), Some(1), "a renewal keeps the epoch");
    assert_eq!(a.current().await.unwrap().unwrap().until_ms, T0 + 14_000);

    // a stops renewing (it died, or is paused). At +13 s the lease has not
    // expired, so b cannot take it; a no longer counts itself the holder
    // (3 s margin for clock skew), so the two never overlap.
    clock.set(T0 + 11_000);
    assert!(
        !a.is_held(),
        "a stops counting itself the holder a margin before the expiry"
    );
    clock.set(T0 + 13_000);
    assert!(!b.keep().await.unwrap(), "not expired yet");

    // At +14 s it has.
    clock.set(T0 + 14_000);
    assert!(b.keep().await.unwrap(), "b takes over the expired lease");
    assert_eq!(b.epoch(), Some(2), "a take increments the epoch");

    // a wakes up: its renewal names epoch 1 and is refused, and it cannot
    // take the lease b holds.
    assert!(!a.keep().await.unwrap(), "a lost it");
    assert!(!a.is_held() && a.epoch().is_none());
    let stored = b.current().await.unwrap().unwrap();
    assert_eq!((stored.holder.as_str(), stored.epoch), (b.holder(), 2));

    // b releases it at shutdown: a takes it at once, without waiting for
    // the expiry b wrote.
    b.release().await.unwrap();
    assert!(!b.is_held());
    assert!(a.keep().await.unwrap(), "a released lease is free at once");
    assert_eq!(a.epoch(), Some(3));
    let _ = store.database().drop().await;
}

#[tokio::test]
async fn of_many_collectors_racing_for_a_lease_exactly_one_wins() {
    let store = store().await;
    let clock = ManualClock::at(T0);
    let mut handles: Vec<Lease> = (0..8).map(|_| lease(&store, &clock)).collect();

    // A lease nobody took yet, then (twice) one that just expired.
    for round in 0..3 {
        let won: Vec<bool> = join_all(
            handles
                .iter_mut()
                .map(|h| async move { h.keep().await.unwrap() }),
        )
        .await;
        let winners: Vec<usize> = (0..won.len()).filter(|&i| won[i]).collect();
        assert_eq!(winners.len(), 1, "round {round}: {won:?}");
        let winner = &handles[winners[0]];
        let stored = winner.current().await.unwrap().unwrap();
        assert_eq!(stored.holder, winner.holder(), "round {round}");
        assert_eq!(stored.epoch, round as i64 + 1, "round {round}");
        assert_eq!(
            handles.iter().filter(|h| h.is_held()).count(),
            1,
            "round {round}: one handle counts itself the holder"
        );
        // The winner dies: nobody renews until the lease expires.
        let winner = winners[0];
        handles.remove(winner);
        clock.advance(Duration::from_secs(9));
    }
    let _ = store.database().drop().await;
}

#[tokio::test]
async fn a_holder_whose_lease_was_taken_while_it_was_paused_cannot_renew_it_back() {
    let store = store().await;
    let clock = ManualClock::at(T0);
    let (mut a, mut b) = (lease(&store, &clock), lease(&store, &clock));
    assert!(a.keep().await.unwrap());
    // a is paused past its expiry (a long GC, a frozen VM); b takes over
    // and renews once.
    clock.advance(Duration::from_secs(20));
    assert!(b.keep().await.unwrap());
    clock.advance(Duration::from_secs(1));
    assert!(b.keep().await.unwrap());
    // a resumes and renews with the epoch it had: refused.
    assert!(!a.keep().await.unwrap());
    let stored = b.current().await.unwrap().unwrap();
    assert_eq!((stored.holder.as_str(), stored.epoch), (b.holder(), 2));
    assert!(b.is_held());
    // One document per job, however many holders it had.
    let docs = store
        .database()
        .collection::<mongodb::bson::Document>("leases")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(docs, 1);
    let _ = store.database().drop().await;
}
