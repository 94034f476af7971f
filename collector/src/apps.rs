//! Apps: who may send events, with which key, from which browser origins.
//!
//! An app document in the `apps` collection:
//! `{_id: "<app id>", write_key, read_token_sha256, origins: [..], created_at}`.
//! The write key is embedded in web pages, so it is stored as is; the read
//! token is shown once and stored as its SHA-256 (it is 256 random bits, so a
//! fast hash is the right one: nothing to brute-force).

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Store, StoreError, APPS, CATALOG, EVENTS};
use usagelens_protocol::batch::check_app;

/// An app as the ingest path needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The app id.
    pub id: String,
    /// The write key.
    pub write_key: String,
    /// Allowed browser origins (`scheme://host[:port]`), or `*`.
    pub origins: Vec<String>,
}

impl App {
    /// Whether `key` is this app's write key (constant time).
    pub fn key_matches(&self, key: &str) -> bool {
        self.write_key.as_bytes().ct_eq(key.as_bytes()).into()
    }

    /// Whether a browser at `origin` may post for this app.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }
}

/// What `apps create` prints; the read token appears only here.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedApp {
    /// The app id.
    pub id: String,
    /// The write key for SDKs.
    pub write_key: String,
    /// The read token for the query API. Shown once; only its hash is stored.
    pub read_token: String,
}

/// What `apps list` prints for each app.
#[derive(Debug, Clone, Serialize)]
pub struct AppSummary {
    /// The app id.
    pub id: String,
    /// The write key.
    pub write_key: String,
    /// Allowed origins.
    pub origins: Vec<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

/// An error of the apps commands.
#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    /// The id or an origin is malformed.
    #[error("{0}")]
    Invalid(String),
    /// `create` for an id that exists.
    #[error("app `{0}` exists already; `apps rotate-key {0}` issues a new write key")]
    Exists(String),
    /// The app does not exist.
    #[error("no app `{0}`; `apps list` shows the apps")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// SHA-256 of a read token, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Normalizes an allowed origin: `scheme://host[:port]`, lower case, no
/// default port, no path. `*` allows any origin.
pub fn normalize_origin(origin: &str) -> Result<String, String> {
    if origin == "*" {
        return Ok(origin.to_owned());
    }
    let bad = || {
        format!("invalid origin `{origin}`: write scheme://host[:port], e.g. https://app.example.com or http://localhost:3000")
    };
    let uri: http::Uri = origin.parse().map_err(|_| bad())?;
    let scheme = uri.scheme_str().ok_or_else(bad)?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let host = uri.host().ok_or_else(bad)?.to_ascii_lowercase();
    if uri
        .path_and_query()
        .is_some_and(|p| p.as_str() != "/" && !p.as_str().is_empty())
    {
        return Err(bad());
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    Ok(match uri.port_u16() {
        Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The `apps` commands, on the store.
pub async fn create(store: &Store, id: &str, origins: &[String]) -> Result<CreatedApp, AppsError> {
    check_app(id).map_err(AppsError::Invalid)?;
    let origins = origins
        .iter()
        .map(|o| normalize_origin(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(AppsError::Invalid)?;
    let created = CreatedApp {
        id: id.to_owned(),
        write_key: random_token("wk_"),
        read_token: random_token("rt_"),
    };
    let doc = doc! {
        "_id": id,
        "write_key": &created.write_key,
        "read_token_sha256": hash_token(&created.read_token),
        "origins": &origins,
        "created_at": mongodb::bson::DateTime::now(),
    };
    match store.collection(APPS).insert_one(doc).await {
        Ok(_) => Ok(created),
        Err(e) => match StoreError::from(e) {
            e if e.is_duplicate_key() => Err(AppsError::Exists(id.to_owned())),
            e => Err(e.into()),
        },
    }
}

/// All apps, by id.
pub async fn list(store: &Store) -> Result<Vec<AppSummary>, AppsError> {
    let docs: Vec<Document> = store
        .collection(APPS)
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .map_err(StoreError::from)?
        .try_collect()
        .await
        .map_err(StoreError::from)?;
    Ok(docs
        .iter()
        .map(|d| AppSummary {
            id: d.get_str("_id").unwrap_or_default().to_owned(),
            write_key: d.get_str("write_key").unwrap_or_default().to_owned(),
            origins: origins_of(d),
            created_at: d
                .get_datetime("created_at")
                .ok()
                .and_then(|t| t.try_to_rfc3339_string().ok())
                .unwrap_or_default(),
        })
        .collect())
}

/// Issues a new write key; the old one stops working once collectors'
/// app caches refresh (`--app-cache-ttl`).
pub async fn rotate_write_key(store: &Store, id: &str) -> Result<String, AppsError> {
    let key = random_token("wk_");
    set_field(store, id, "write_key", &key).await?;
    Ok(key)
}

/// Issues a new read token, printed once.
pub async fn rotate_read_token(store: &Store, id: &str) -> Result<String, AppsError> {
    let token = random_token("rt_");
    set_field(store, id, "read_token_sha256", &hash_token(&token)).await?;
    Ok(token)
}

async fn set_field(store: &Store, id: &str, field: &str, value: &str) -> Result<(), AppsError> {
    let r = store
        .collection(APPS)
        .update_one(doc! { "_id": id }, doc! { "$set": { field: value } })
        .await
        .map_err(StoreError::from)?;
    if r.matched_count == 0 {
        return Err(AppsError::NotFound(id.to_owned()));
    }
    Ok(())
}

/// Deletes an app and its catalog; with `purge_events`, its events too.
/// Returns how many events were deleted.
pub async fn delete(store: &Store, id: &str, purge_events: bool) -> Result<u64, AppsError> {
    let r = store
        .collection(APPS)
        .delete_one(doc! { "_id": id })
        .await
        .map_err(StoreError::from)?;
    if r.deleted_count == 0 {
        return Err(AppsError::NotFound(id.to_owned()));
    }
    store
        .collection(CATALOG)
        .delete_many(doc! { "app": id })
        .await
        .map_err(StoreError::from)?;
    if purge_events {
        let r = store
            .collection(EVENTS)
            .delete_many(doc! { "app": id })
            .await
            .map_err(StoreError::from)?;
        return Ok(r.deleted_count);
    }
    Ok(0)
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

/// A read-through cache of apps for the ingest path: one store read per app
/// per `ttl`, unknown ids included (so random ids cannot hammer the store).
#[derive(Debug)]
pub struct AppCache {
    ttl: Duration,
    apps: RwLock<HashMap<String, (Option<App>, Instant)>>,
    origins: RwLock<Option<(HashSet<String>, Instant)>>,
}

/// Most entries the cache holds before it starts over.
const CACHE_CAPACITY: usize = 10_000;

impl AppCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            apps: RwLock::new(HashMap::new()),
            origins: RwLock::new(None),
        }
    }

    /// The app `id`, or `None` if there is no such app.
    pub async fn get(&self, store: &Store, id: &str) -> Result<Option<App>, StoreError> {
        if let Some((app, at)) = self.apps.read().ok().and_then(|m| m.get(id).cloned()) {
            if at.elapsed() < self.ttl {
                return Ok(app);
            }
        }
        let doc = store
            .collection(APPS)
            .find_one(doc! { "_id": id })
            .projection(doc! { "write_key": 1, "origins": 1 })
            .await?;
        let app = doc.map(|d| App {
            id: id.to_owned(),
            write_key: d.get_str("write_key").unwrap_or_default().to_owned(),
            origins: origins_of(&d),
        });
        if let Ok(mut m) = self.apps.write() {
            if m.len() >= CACHE_CAPACITY {
                m.clear();
            }
            m.insert(id.to_owned(), (app.clone(), Instant::now()));
        }
        Ok(app)
    }

    /// Whether any app allows `origin` (for CORS preflight, which names no app).
    pub async fn any_allows_origin(&self, store: &Store, origin: &str) -> Result<bool, StoreError> {
        if let Some((set, at)) = self.origins.read().ok().and_then(|o| o.clone()) {
            if at.elapsed() < self.ttl {
                return Ok(set.contains("*") || set.contains(origin));
            }
        }
        let docs: Vec<Document> = store
            .collection(APPS)
            .find(doc! {})
            .projection(doc! { "origins": 1 })
            .await?
            .try_collect()
            .await?;
        let set: HashSet<String> = docs.iter().flat_map(origins_of).collect();
        let allowed = set.contains("*") || set.contains(origin);
        if let Ok(mut o) = self.origins.write() {
            *o = Some((set, Instant::now()));
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalize() {
        let ok = [
            ("https://App.Example.com", "https://app.example.com"),
            ("https://app.example.com/", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://127.0.0.1:80", "http://127.0.0.1"),
            ("*", "*"),
        ];
        for (given, want) in ok {
            assert_eq!(normalize_origin(given).as_deref(), Ok(want), "{given}");
        }
        for bad in [
            "app.example.com",
            "ftp://x",
            "https://x/path",
            "",
            "https://",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = random_token("rt_");
        let b = random_token("rt_");
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
        let app = App {
            id: "x".into(),
            write_key: a.clone(),
            origins: vec!["https://a.example".into()],
        };
        assert!(app.key_matches(&a));
        assert!(!app.key_matches(&b));
        assert!(!app.key_matches(""));
        assert!(app.allows_origin("https://a.example"));
        assert!(!app.allows_origin("https://b.example"));
    }
}
