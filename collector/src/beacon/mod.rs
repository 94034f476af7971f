//! The browser beacon's files, served from memory.
//!
//! `cargo xtask beacon` writes a directory (`target/beacon`) with
//! `manifest.json` (`{"js": "beacon-<hash>.js", "wasm": "usagelens-<hash>.wasm"}`),
//! `beacon.js` and the two hashed files. With `--beacon-dir` pointing at it,
//! the collector reads them once at startup, compresses each with brotli and
//! gzip (or takes the gzip from a `<file>.gz` beside it: the build writes
//! them with zopfli, about 7% smaller than gzip -9, once it is checked to
//! inflate to the file's exact content), and serves:
//!
//! | path | what | `Cache-Control` |
//! |---|---|---|
//! | `GET /beacon.js` | the loader of the script tag (its name never changes) | `public, max-age=300` |
//! | `GET /beacon/<hashed name>` | the two hashed files of the current build, nothing else | `public, max-age=31536000, immutable` |
//!
//! Every answer negotiates `Accept-Encoding` (brotli, then gzip, then
//! none), carries `Vary: Accept-Encoding` and a strong `ETag` derived from the
//! content's SHA-256 (one per encoding, as HTTP requires of strong
//! validators), answers `If-None-Match` with 304, and may be loaded from any
//! origin (`Access-Control-Allow-Origin: *`,
//! `Cross-Origin-Resource-Policy: cross-origin`). Paths are compared with the
//! names of the files in memory, never mapped to the file system. Without a
//! complete build, both paths answer 404 `beacon_not_built`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

mod asset;

pub(crate) use asset::{negotiate, Asset};

/// The build's index of hashed names.
const MANIFEST_FILE: &str = "manifest.json";
/// The loader under its fixed name, the one the script tag points at.
const TAG_FILE: &str = "beacon.js";

const JS_TYPE: &str = "text/javascript; charset=utf-8";
const WASM_TYPE: &str = "application/wasm";
const TAG_CACHE: &str = "public, max-age=300";
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// Hex digits of the content hash in a hashed file name.
const NAME_HASH_LEN: usize = 12;

/// Why the beacon directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file is missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `manifest.json` is not what `cargo xtask beacon` writes.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A hashed file's content does not match the hash in its name.
    #[error("{} does not hash to its name (SHA-256 starts with {actual}): the build is corrupt", path.display())]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The first hex digits of the content's SHA-256.
        actual: String,
    },
    /// Compressing a file failed.
    #[error("cannot compress {name}: {source}")]
    Compress {
        /// The file name.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A complete build in memory.
#[derive(Debug)]
pub(crate) struct Build {
    pub(crate) tag: Asset,
    pub(crate) js_name: String,
    pub(crate) js: Asset,
    pub(crate) wasm_name: String,
    pub(crate) wasm: Asset,
}

/// Why there is no build to serve; the client sees a message without paths.
#[derive(Debug)]
pub(crate) enum Unavailable {
    /// No `--beacon-dir`.
    NotConfigured,
    /// `--beacon-dir` holds no complete build (the log says why).
    NotLoaded,
}

/// The beacon's files, or why there are none.
#[derive(Debug)]
pub struct Beacon(Result<Build, Unavailable>);

impl Beacon {
    /// Loads `dir` (from `--beacon-dir`), logging what it served or why it
    /// cannot: a missing or incomplete build is a warning, not a failure,
    /// and makes the beacon paths answer 404 `beacon_not_built`.
    pub fn load(dir: Option<&Path>) -> Self {
        let Some(dir) = dir else {
            tracing::info!(
                "no --beacon-dir: /beacon.js answers 404 (build it with `cargo xtask beacon`)"
            );
            return Self(Err(Unavailable::NotConfigured));
        };
        match Self::from_dir(dir) {
            Ok(beacon) => beacon,
            Err(e) => {
                tracing::warn!(
                    dir = %dir.display(),
                    error = %e,
                    "the beacon is not served: run `cargo xtask beacon` and pass --beacon-dir target/beacon"
                );
                Self(Err(Unavailable::NotLoaded))
            }
        }
    }

    /// Loads and compresses a complete build from `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest = read(&manifest_path)?;
        let bad_manifest = |message: String| LoadError::Manifest {
            path: manifest_path.clone(),
            message,
        };
        let manifest: serde_json::Value = serde_json::from_slice(&manifest)
            .map_err(|e| bad_manifest(format!("not JSON: {e}")))?;
        let name = |field: &str, prefix: &str, ext: &str| -> Result<String, LoadError> {
            let name = manifest[field]
                .as_str()
                .ok_or_else(|| bad_manifest(format!("`{field}` is missing or not a string")))?;
            if name_hash(name, prefix, ext).is_none() {
                return Err(bad_manifest(format!(
                    "`{field}` is `{name}`, not {prefix}<{NAME_HASH_LEN} hex digits>{ext}"
                )));
            }
            Ok(name.to_owned())
        };
        let js_name = name("js", "beacon-", ".js")?;
        let wasm_name = name("wasm", "usagelens-", ".wasm")?;

        let tag = read(&dir.join(TAG_FILE))?;
        let js = read_hashed(dir, &js_name, "beacon-", ".js")?;
        let wasm = read_hashed(dir, &wasm_name, "usagelens-", ".wasm")?;
        if tag != js {
            tracing::warn!(
                "{TAG_FILE} differs from {js_name}: serving both as they are (rebuild with `cargo xtask beacon`)"
            );
        }
        let build = Build {
            tag: Asset::new(dir, TAG_FILE, tag, JS_TYPE, TAG_CACHE)?,
            js: Asset::new(dir, &js_name, js, JS_TYPE, IMMUTABLE_CACHE)?,
            wasm: Asset::new(dir, &wasm_name, wasm, WASM_TYPE, IMMUTABLE_CACHE)?,
            js_name,
            wasm_name,
        };
        tracing::info!(
            dir = %dir.display(),
            js = %build.js_name,
            js_bytes = build.js.identity.len(),
            js_br = build.js.br.len(),
            js_gzip = build.js.gzip.len(),
            wasm = %build.wasm_name,
            wasm_bytes = build.wasm.identity.len(),
            wasm_br = build.wasm.br.len(),
            wasm_gzip = build.wasm.gzip.len(),
            "serving the beacon at /beacon.js"
        );
        Ok(Self(Ok(build)))
    }

    /// The build being served, or why there is none.
    pub(crate) fn build(&self) -> Result<&Build, &Unavailable> {
        self.0.as_ref()
    }

    /// The hashed names `(js, wasm)` being served, if any.
    pub fn names(&self) -> Option<(&str, &str)> {
        self.0
            .as_ref()
            .ok()
            .map(|b| (b.js_name.as_str(), b.wasm_name.as_str()))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads `dir/name` and checks its content against the hash in `name`
/// (`<prefix><hash><ext>`).
fn read_hashed(dir: &Path, name: &str, prefix: &str, ext: &str) -> Result<Vec<u8>, LoadError> {
    let path = dir.join(name);
    let content = read(&path)?;
    let actual = hex::encode(Sha256::digest(&content));
    let actual = &actual[..NAME_HASH_LEN];
    if name_hash(name, prefix, ext) != Some(actual) {
        return Err(LoadError::HashMismatch {
            path,
            actual: actual.to_owned(),
        });
    }
    Ok(content)
}

/// The hash of `<prefix><12 lowercase hex><ext>`, or `None` for any other name.
fn name_hash<'a>(name: &'a str, prefix: &str, ext: &str) -> Option<&'a str> {
    let hash = name.strip_prefix(prefix)?.strip_suffix(ext)?;
    (hash.len() == NAME_HASH_LEN && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert_eq!(
            name_hash("beacon-0123456789ab.js", "beacon-", ".js"),
            Some("0123456789ab")
        );
        for bad in [
            "beacon-0123456789AB.js",
            "beacon-0123456789a.js",
            "beacon-0123456789abc.js",
            "beacon-../../../etc.js",
            "beacon.js",
            "usagelens-0123456789ab.wasm",
        ] {
            assert_eq!(name_hash(bad, "beacon-", ".js"), None, "{bad}");
        }
    }
}
