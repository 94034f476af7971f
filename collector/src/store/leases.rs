//! The `leases` collection: one document per singleton job,
//! `{_id: "<job>", holder, epoch, until, taken_at, renewed_at}`.
//!
//! Every change is one atomic `findOneAndUpdate` on the job's document, so
//! two collectors racing for a lease cannot both win: a take matches only
//! an expired (or missing) lease, and a renewal only the holder's own
//! `epoch`, which every take increments. Times are the caller's clock
//! ([`crate::clock`]), written as BSON dates.

use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use mongodb::Collection;

use super::StoreError;

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The job (`_id`).
    pub name: String,
    /// Who holds (or last held) it.
    pub holder: String,
    /// Incremented by every take: a holder's renewal names its epoch, so a
    /// holder that lost the lease cannot renew it back.
    pub epoch: i64,
    /// Held until then, epoch ms (a released lease's `until` is its release).
    pub until_ms: i64,
    /// When the holder took it, epoch ms.
    pub taken_at_ms: i64,
}

fn record_of(d: &Document) -> LeaseRecord {
    let ms = |k: &str| d.get_datetime(k).map_or(0, |t| t.timestamp_millis());
    LeaseRecord {
        name: d.get_str("_id").unwrap_or_default().to_owned(),
        holder: d.get_str("holder").unwrap_or_default().to_owned(),
        epoch: d
            .get_i64("epoch")
            .or_else(|_| d.get_i32("epoch").map(i64::from))
            .unwrap_or(0),
        until_ms: ms("until"),
        taken_at_ms: ms("taken_at"),
    }
}

/// Typed access to `leases`.
#[derive(Debug, Clone)]
pub(crate) struct Leases {
    coll: Collection<Document>,
}

impl Leases {
    pub(super) fn new(coll: Collection<Document>) -> Self {
        Self { coll }
    }

    /// Takes `name` for `holder` until `until_ms` if nobody holds it at
    /// `now_ms` (no lease yet, or its `until` has passed); `None` if someone
    /// does. The epoch goes up by one.
    pub(crate) async fn take(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<LeaseRecord>, StoreError> {
        let now = DateTime::from_millis(now_ms);
        let taken = self
            .coll
            .find_one_and_update(
                doc! { "_id": name, "until": { "$lte": now } },
                doc! {
                    "$set": {
                        "holder": holder,
                        "until": DateTime::from_millis(until_ms),
                        "taken_at": now,
                        "renewed_at": now,
                    },
                    "$inc": { "epoch": 1_i64 },
                },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        match taken {
            Ok(d) => Ok(d.as_ref().map(record_of)),
            // The lease exists and has not expired: the upsert's insert
            // collides with it. Someone else holds it.
            Err(e) => match StoreError::from(e) {
                StoreError::DuplicateKey(_) => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Extends `holder`'s lease of `name` at `epoch` to `until_ms`; `None`
    /// if it is no longer theirs (another collector took it since).
    pub(crate) async fn renew(
        &self,
        name: &str,
        holder: &str,
        epoch: i64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<LeaseRecord>, StoreError> {
        let d = self
            .coll
            .find_one_and_update(
                doc! { "_id": name, "holder": holder, "epoch": epoch },
                doc! { "$set": {
                    "until": DateTime::from_millis(until_ms),
                    "renewed_at": DateTime::from_millis(now_ms),
                } },
            )
            .return_document(ReturnDocument::After)
            .await?;
        Ok(d.as_ref().map(record_of))
    }

    /// Ends `holder`'s lease of `name` at `epoch` now, so another collector
    /// takes it at once; `false` if it was no longer theirs.
    pub(crate) async fn release(
        &self,
        name: &str,
        holder: &str,
        epoch: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let r = self
            .coll
            .update_one(
                doc! { "_id": name, "holder": holder, "epoch": epoch },
                doc! { "$set": { "until": DateTime::from_millis(now_ms) } },
            )
            .await?;
        Ok(r.matched_count == 1)
    }

    /// The lease of `name` as stored, if it was ever taken.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        let d = self.coll.find_one(doc! { "_id": name }).await?;
        Ok(d.as_ref().map(record_of))
    }
}
