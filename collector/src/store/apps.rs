//! The `apps` collection: one document per app,
//! `{_id: "<app id>", write_key, read_token_sha256, origins: [..], created_at}`.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::ReturnDocument;
use mongodb::Collection;

use super::StoreError;

/// An app as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppRecord {
    /// The app id (`_id`).
    pub(crate) id: String,
    /// The write key, as is (it is embedded in web pages anyway).
    pub(crate) write_key: String,
    /// Allowed browser origins, normalized, or `*`.
    pub(crate) origins: Vec<String>,
    /// When it was created, epoch ms (`None` if the stored document has no date).
    pub(crate) created_at_ms: Option<i64>,
}

/// What the ingest path reads of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppKeys {
    /// The write key.
    pub(crate) write_key: String,
    /// Allowed browser origins.
    pub(crate) origins: Vec<String>,
}

/// Typed access to `apps`.
#[derive(Debug, Clone)]
pub(crate) struct Apps {
    coll: Collection<Document>,
}

/// How [`Apps::update_origins`] changes an app's origins (normalized,
/// without repeats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OriginsChange<'a> {
    /// The list becomes this one.
    Replace(&'a [String]),
    /// `remove` leaves the list, then each of `add` not in it joins its end.
    Edit {
        /// Origins to allow.
        add: &'a [String],
        /// Origins to stop allowing.
        remove: &'a [String],
    },
}

fn record_of(d: &Document) -> AppRecord {
    AppRecord {
        id: d.get_str("_id").unwrap_or_default().to_owned(),
        write_key: d.get_str("write_key").unwrap_or_default().to_owned(),
        origins: origins_of(d),
        created_at_ms: d
            .get_datetime("created_at")
            .ok()
            .map(|t| t.timestamp_millis()),
    }
}

fn origins_of(d: &Document) -> Vec<String> {
    d.get_array("origins")
        .map(|a| {
            a.iter()
                .filter_map(|o| o.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Apps {
    pub(super) fn new(coll: Collection<Document>) -> Self {
        Self { coll }
    }

    /// Inserts a new app; [`StoreError::DuplicateKey`] if the id is taken.
    pub(crate) async fn insert(
        &self,
        app: &AppRecord,
        read_token_sha256: &str,
    ) -> Result<(), StoreError> {
        let created_at = app
            .created_at_ms
            .map_or_else(DateTime::now, DateTime::from_millis);
        self.coll
            .insert_one(doc! {
                "_id": &app.id,
                "write_key": &app.write_key,
                "read_token_sha256": read_token_sha256,
                "origins": &app.origins,
                "created_at": created_at,
            })
            .await?;
        Ok(())
    }

    /// Every app, by id.
    pub(crate) async fn list(&self) -> Result<Vec<AppRecord>, StoreError> {
        let docs: Vec<Document> = self
            .coll
            .find(doc! {})
            .projection(doc! { "read_token_sha256": 0 })
            .sort(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().map(record_of).collect())
    }

    /// Changes the origins of `id` in one atomic update and returns the app
    /// as it is now (its read token's hash left out); `None` if there is no
    /// such app. An edit is one pipeline update, so a concurrent edit of
    /// the same app cannot interleave between its removal and its addition.
    pub(crate) async fn update_origins(
        &self,
        id: &str,
        change: OriginsChange<'_>,
    ) -> Result<Option<AppRecord>, StoreError> {
        let filter = doc! { "_id": id };
        let action = match change {
            OriginsChange::Replace(origins) => self
                .coll
                .find_one_and_update(filter, doc! { "$set": { "origins": origins } }),
            OriginsChange::Edit { add, remove } => {
                // `$literal`: the lists are data, never read as `$` paths.
                let kept = doc! { "$filter": {
                    "input": { "$ifNull": ["$origins", []] },
                    "cond": { "$not": [{ "$in": ["$$this", { "$literal": remove }] }] },
                } };
                let origins = doc! { "$let": {
                    "vars": { "kept": kept },
                    "in": { "$concatArrays": ["$$kept", { "$filter": {
                        "input": { "$literal": add },
                        "cond": { "$not": [{ "$in": ["$$this", "$$kept"] }] },
                    } }] },
                } };
                self.coll
                    .find_one_and_update(filter, vec![doc! { "$set": { "origins": origins } }])
            }
        };
        let updated = action
            .projection(doc! { "read_token_sha256": 0 })
            .return_document(ReturnDocument::After)
            .await?;
        Ok(updated.as_ref().map(record_of))
    }

    /// The write key and origins of `id`, `None` if there is no such app.
    pub(crate) async fn keys(&self, id: &str) -> Result<Option<AppKeys>, StoreError> {
        let found = self
            .coll
            .find_one(doc! { "_id": id })
            .projection(doc! { "write_key": 1, "origins": 1 })
            .await?;
        Ok(found.map(|d| AppKeys {
            write_key: d.get_str("write_key").unwrap_or_default().to_owned(),
            origins: origins_of(&d),
        }))
    }

    /// The app whose read token hashes to `sha256`, if any.
    pub(crate) async fn owner_of_token(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        let found = self
            .coll
            .find_one(doc! { "read_token_sha256": sha256 })
            .projection(doc! { "_id": 1 })
            .await?;
        Ok(found.and_then(|d| d.get_str("_id").ok().map(str::to_owned)))
    }

    /// Every origin any app allows.
    pub(crate) async fn all_origins(&self) -> Result<Vec<String>, StoreError> {
        let docs: Vec<Document> = self
            .coll
            .find(doc! {})
            .projection(doc! { "origins": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().flat_map(origins_of).collect())
    }

    /// Sets the write key of `id`; `false` if there is no such app.
    pub(crate) async fn set_write_key(&self, id: &str, key: &str) -> Result<bool, StoreError> {
        self.set(id, "write_key", key).await
    }

    /// Sets the read token's hash of `id`; `false` if there is no such app.
    pub(crate) async fn set_read_token_sha256(
        &self,
        id: &str,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        self.set(id, "read_token_sha256", sha256).await
    }

    async fn set(&self, id: &str, field: &str, value: &str) -> Result<bool, StoreError> {
        let r = self
            .coll
            .update_one(doc! { "_id": id }, doc! { "$set": { field: value } })
            .await?;
        Ok(r.matched_count > 0)
    }

    /// Deletes the app `id`; `false` if there was none.
    pub(crate) async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .coll
            .delete_one(doc! { "_id": id })
            .await?
            .deleted_count
            > 0)
    }
}
