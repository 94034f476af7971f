//! A rebuild's writes: a range's documents replaced by a build's, fenced
//! by the build generation (docs/storage.md).

use std::collections::{HashMap, HashSet};

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::error::ErrorKind;

use super::{int, Rollups};
use crate::store::error::DUPLICATE_KEY;
use crate::store::StoreError;

impl Rollups {
    /// Replaces the documents of rollup `name` for `app` with buckets in
    /// `[from_ms, to_ms)` by `docs`, built in generation `generation` (each
    /// has its `g`). The range's `_id`s and generations are read first; a
    /// new group is inserted, a stored one replaced unless it is of a later
    /// generation, and the groups no longer there deleted. A document is
    /// only ever replaced or deleted by a later generation's build, so two
    /// builds of one range, however their writes interleave, leave the
    /// later build's documents for every group it has (an earlier build
    /// that lost its lease can still add a group the later one did not
    /// see, from events since deleted), and a reader never sees a group
    /// missing (a rebuild's buckets are read raw until their marks clear
    /// in any case).
    pub(crate) async fn replace_range(
        &self,
        name: &str,
        app: &str,
        from_ms: i64,
        to_ms: i64,
        generation: i64,
        docs: Vec<Document>,
    ) -> Result<(), StoreError> {
        let range = doc! {
            "r": name, "app": app,
            "b": { "$gte": DateTime::from_millis(from_ms), "$lt": DateTime::from_millis(to_ms) },
        };
        // What the range holds: reading it is cheaper than an insert failing
        // on every stored `_id`, and names the groups that are gone.
        let mut held: HashMap<String, i64> = HashMap::new();
        let mut cursor = self
            .docs
            .find(range.clone())
            .projection(doc! { "_id": 1, "g": 1 })
            .batch_size(10_000)
            .await?;
        while let Some(d) = cursor.try_next().await? {
            if let Ok(id) = d.get_str("_id") {
                held.insert(id.to_owned(), int(&d, "g"));
            }
        }
        let (mut fresh, mut older) = (Vec::new(), Vec::new());
        for d in docs {
            match d.get_str("_id").ok().and_then(|id| held.remove(id)) {
                None => fresh.push(d),
                Some(g) if g < generation => older.push(d),
                Some(_) => {} // a later build's: it stays
            }
        }
        let gone: Vec<String> = held
            .into_iter()
            .filter(|(_, g)| *g < generation)
            .map(|(id, _)| id)
            .collect();

        // A duplicate here was written since the read: another build of the
        // range ran meanwhile (a lease lost mid-build). Replaced where older,
        // and the range swept of older documents at the end.
        let mut raced = false;
        if !fresh.is_empty() {
            match self.docs.insert_many(&fresh).ordered(false).await {
                Ok(_) => {}
                Err(e) => match e.kind.as_ref() {
                    ErrorKind::InsertMany(im)
                        if im.write_concern_error.is_none()
                            && im
                                .write_errors
                                .iter()
                                .flatten()
                                .all(|we| we.code == DUPLICATE_KEY) =>
                    {
                        raced = true;
                        let taken: HashSet<usize> = im
                            .write_errors
                            .iter()
                            .flatten()
                            .map(|we| we.index)
                            .collect();
                        older.extend(
                            fresh
                                .into_iter()
                                .enumerate()
                                .filter(|(i, _)| taken.contains(i))
                                .map(|(_, d)| d),
                        );
                    }
                    _ => return Err(e.into()),
                },
            }
        }
        self.replace_older(&older, generation).await?;
        for ids in gone.chunks(1000) {
            self.docs
                .delete_many(doc! { "_id": { "$in": ids }, "g": { "$lt": generation } })
                .await?;
        }
        if raced {
            let mut sweep = range;
            sweep.insert("g", doc! { "$lt": generation });
            self.docs.delete_many(sweep).await?;
        }
        Ok(())
    }

    /// Replaces the stored documents of `docs`' `_id`s that are older than
    /// `generation`, many statements to one `update` command (a round trip
    /// per document made a full rebuild crawl; the driver's `bulk_write`
    /// needs MongoDB 8.0).
    async fn replace_older(&self, docs: &[Document], generation: i64) -> Result<(), StoreError> {
        let ns = self.docs.namespace();
        let db = self.docs.client().database(&ns.db);
        let concern = match self.docs.write_concern() {
            Some(wc) => Some(
                mongodb::bson::to_document(wc)
                    .map_err(|e| StoreError::Failed(format!("a write concern: {e}")))?,
            ),
            None => None,
        };
        // A command is one BSON document (at most 16 MiB): statements are
        // sent in commands of at most 1000 and about 8 MiB.
        const COMMAND_BYTES: usize = 8 << 20;
        let (mut updates, mut bytes) = (Vec::new(), 0usize);
        for d in docs {
            let id = d.get("_id").cloned().unwrap_or(Bson::Null);
            let statement = doc! { "q": { "_id": id, "g": { "$lt": generation } }, "u": d };
            let len = mongodb::bson::to_vec(&statement).map_or(0, |v| v.len()) + 16;
            if !updates.is_empty() && (updates.len() == 1000 || bytes + len > COMMAND_BYTES) {
                self.run_updates(&db, &ns.coll, std::mem::take(&mut updates), &concern)
                    .await?;
                bytes = 0;
            }
            updates.push(statement);
            bytes += len;
        }
        self.run_updates(&db, &ns.coll, updates, &concern).await?;
        Ok(())
    }

    async fn run_updates(
        &self,
        db: &mongodb::Database,
        coll: &str,
        updates: Vec<Document>,
        concern: &Option<Document>,
    ) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut cmd = doc! { "update": coll, "updates": updates, "ordered": false };
        if let Some(wc) = concern {
            cmd.insert("writeConcern", wc.clone());
        }
        let reply = db.run_command(cmd).await?;
        if let Ok(errors) = reply.get_array("writeErrors") {
            if let Some(Bson::Document(e)) = errors.first() {
                return Err(StoreError::Failed(format!(
                    "replacing rollup documents: {}",
                    e.get_str("errmsg").unwrap_or("a write error")
                )));
            }
        }
        if let Ok(e) = reply.get_document("writeConcernError") {
            return Err(StoreError::Failed(format!(
                "replacing rollup documents: {}",
                e.get_str("errmsg").unwrap_or("a write concern error")
            )));
        }
        Ok(())
    }
}
