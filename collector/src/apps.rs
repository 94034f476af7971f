//! Apps: who may send events, with which key, from which browser origins.
//!
//! An app document in the `apps` collection:
//! `{_id: "<app id>", write_key, read_token_sha256, origins: [..], created_at}`.
//! The write key is embedded in web pages, so it is stored as is; the read
//! token is shown once and stored as its SHA-256 (it is 256 random bits, so a
//! fast hash is the right one: nothing to brute-force).
//!
//! The `create`, `list`, `update_origins`, `rotate_*` and `delete`
//! functions are what the `apps` commands run; the ingest path reads apps
//! through `AppCache`, so a running collector sees a change within its
//! `--app-cache-ttl` (default 5 s).

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use usagelens_protocol::batch::check_app;

use crate::store::{json, AppRecord, OriginsChange, Store, StoreError};

/// A valid app id (`^[a-z0-9][a-z0-9_-]{0,63}$`), checked where a request
/// names one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AppId(String);

impl AppId {
    /// Checks `id`; the error names the `app` field and the rule.
    pub(crate) fn parse(id: &str) -> Result<Self, String> {
        check_app(id).map_err(|e| format!("app: {e}"))?;
        Ok(Self(id.to_owned()))
    }

    /// The id.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AppId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An app as the ingest path needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct App {
    /// The app id.
    pub(crate) id: String,
    /// The write key.
    write_key: String,
    /// Allowed browser origins (`scheme://host[:port]`), or `*`.
    origins: Vec<String>,
}

impl App {
    /// Whether `key` is this app's write key (constant time).
    pub(crate) fn key_matches(&self, key: &str) -> bool {
        self.write_key.as_bytes().ct_eq(key.as_bytes()).into()
    }

    /// Whether a browser at `origin` may post for this app.
    pub(crate) fn allows_origin(&self, origin: &str) -> bool {
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
    /// When it was created (RFC 3339, UTC, milliseconds).
    pub created_at: String,
}

/// What `apps update` changes: `set` replaces the origins, or `add` and
/// `remove` edit them (not both ways at once). Each origin is written as
/// for `apps create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginsUpdate {
    /// The new list (`--origin`, repeatable).
    pub set: Vec<String>,
    /// Origins to allow (`--add-origin`).
    pub add: Vec<String>,
    /// Origins to stop allowing (`--remove-origin`).
    pub remove: Vec<String>,
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

/// SHA-256 of a read token, hex: what `apps` stores instead of the token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The app a read token belongs to, if any.
pub(crate) async fn owner_of_read_token(
    store: &Store,
    token: &str,
) -> Result<Option<String>, StoreError> {
    store.apps().owner_of_token(&hash_token(token)).await
}

/// Normalizes an allowed origin: `scheme://host[:port]`, lower case, no
/// default port, no path. `*` allows any origin.
fn normalize_origin(origin: &str) -> Result<String, String> {
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

/// Normalizes each origin; the first error names the bad one.
fn normalize_origins(origins: &[String]) -> Result<Vec<String>, AppsError> {
    origins
        .iter()
        .map(|o| normalize_origin(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(AppsError::Invalid)
}

/// Normalized origins without repeats, in their first order.
fn distinct_origins(origins: &[String]) -> Result<Vec<String>, AppsError> {
    let mut out: Vec<String> = Vec::with_capacity(origins.len());
    for o in normalize_origins(origins)? {
        if !out.contains(&o) {
            out.push(o);
        }
    }
    Ok(out)
}

/// Creates the app `id` allowing browsers at `origins`; the answer holds
/// the read token, shown only now.
pub async fn create(store: &Store, id: &str, origins: &[String]) -> Result<CreatedApp, AppsError> {
    check_app(id).map_err(AppsError::Invalid)?;
    let origins = normalize_origins(origins)?;
    let created = CreatedApp {
        id: id.to_owned(),
        write_key: random_token("wk_"),
        read_token: random_token("rt_"),
    };
    let record = AppRecord {
        id: id.to_owned(),
        write_key: created.write_key.clone(),
        origins,
        created_at_ms: None,
    };
    match store
        .apps()
        .insert(&record, &hash_token(&created.read_token))
        .await
    {
        Ok(()) => Ok(created),
        Err(e) if e.is_duplicate_key() => Err(AppsError::Exists(id.to_owned())),
        Err(e) => Err(e.into()),
    }
}

fn summary(a: AppRecord) -> AppSummary {
    AppSummary {
        id: a.id,
        write_key: a.write_key,
        origins: a.origins,
        created_at: a.created_at_ms.map(json::rfc3339).unwrap_or_default(),
    }
}

/// All apps, by id.
pub async fn list(store: &Store) -> Result<Vec<AppSummary>, AppsError> {
    Ok(store
        .apps()
        .list()
        .await?
        .into_iter()
        .map(summary)
        .collect())
}

/// Changes the origins of the app `id` in one atomic store update and
/// returns the app as `apps list` shows it. Removing an origin the app does
/// not allow, or adding one it does, changes nothing. Running collectors
/// see the change once their app cache refreshes (`--app-cache-ttl`).
pub async fn update_origins(
    store: &Store,
    id: &str,
    update: &OriginsUpdate,
) -> Result<AppSummary, AppsError> {
    check_app(id).map_err(AppsError::Invalid)?;
    let set = distinct_origins(&update.set)?;
    let add = distinct_origins(&update.add)?;
    let remove = distinct_origins(&update.remove)?;
    let change = match (set.is_empty(), add.is_empty() && remove.is_empty()) {
        (true, true) => {
            return Err(AppsError::Invalid(
                "nothing to update: give --origin (repeatable, replaces the list), or --add-origin / --remove-origin (repeatable)".into(),
            ))
        }
        (false, false) => {
            return Err(AppsError::Invalid(
                "--origin replaces the whole list; it cannot be combined with --add-origin or --remove-origin".into(),
            ))
        }
        (false, true) => OriginsChange::Replace(&set),
        (true, false) => {
            if let Some(both) = add.iter().find(|o| remove.contains(o)) {
                return Err(AppsError::Invalid(format!(
                    "origin `{both}` is both added and removed; give it once"
                )));
            }
            OriginsChange::Edit {
                add: &add,
                remove: &remove,
            }
        }
    };
    match store.apps().update_origins(id, change).await? {
        Some(app) => Ok(summary(app)),
        None => Err(AppsError::NotFound(id.to_owned())),
    }
}

/// Issues a new write key; the old one stops working once collectors'
/// app caches refresh (`--app-cache-ttl`).
pub async fn rotate_write_key(store: &Store, id: &str) -> Result<String, AppsError> {
    let key = random_token("wk_");
    if !store.apps().set_write_key(id, &key).await? {
        return Err(AppsError::NotFound(id.to_owned()));
    }
    Ok(key)
}

/// Issues a new read token, printed once.
pub async fn rotate_read_token(store: &Store, id: &str) -> Result<String, AppsError> {
    let token = random_token("rt_");
    if !store
        .apps()
        .set_read_token_sha256(id, &hash_token(&token))
        .await?
    {
        return Err(AppsError::NotFound(id.to_owned()));
    }
    Ok(token)
}

/// Deletes an app and its catalog; with `purge_events`, its events and
/// its rollups too.
/// Returns how many events were deleted.
pub async fn delete(store: &Store, id: &str, purge_events: bool) -> Result<u64, AppsError> {
    if !store.apps().delete(id).await? {
        return Err(AppsError::NotFound(id.to_owned()));
    }
    store.catalog().delete_app(id).await?;
    if purge_events {
        let n = store.events().delete_app(id).await?;
        // What was built from them goes too (sketches hold user ids).
        store.rollups().delete_app(id).await?;
        return Ok(n);
    }
    Ok(0)
}

/// A read-through cache of apps for the ingest path: one store read per app
/// per `ttl`, unknown ids included (so random ids cannot hammer the store).
#[derive(Debug)]
pub(crate) struct AppCache {
    ttl: Duration,
    apps: RwLock<HashMap<String, (Option<App>, Instant)>>,
    origins: RwLock<Option<(HashSet<String>, Instant)>>,
}

/// Most entries the cache holds before it starts over.
const CACHE_CAPACITY: usize = 10_000;

impl AppCache {
    /// A cache whose entries live `ttl`.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            apps: RwLock::new(HashMap::new()),
            origins: RwLock::new(None),
        }
    }

    /// The app `id`, or `None` if there is no such app.
    pub(crate) async fn get(&self, store: &Store, id: &str) -> Result<Option<App>, StoreError> {
        if let Some((app, at)) = self.apps.read().ok().and_then(|m| m.get(id).cloned()) {
            if at.elapsed() < self.ttl {
                return Ok(app);
            }
        }
        let app = store.apps().keys(id).await?.map(|k| App {
            id: id.to_owned(),
            write_key: k.write_key,
            origins: k.origins,
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
    pub(crate) async fn any_allows_origin(
        &self,
        store: &Store,
        origin: &str,
    ) -> Result<bool, StoreError> {
        if let Some((set, at)) = self.origins.read().ok().and_then(|o| o.clone()) {
            if at.elapsed() < self.ttl {
                return Ok(set.contains("*") || set.contains(origin));
            }
        }
        let set: HashSet<String> = store.apps().all_origins().await?.into_iter().collect();
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
