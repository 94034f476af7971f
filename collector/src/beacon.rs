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

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use usagelens_protocol::ErrorBody;

use crate::server::AppState;

/// The build's index of hashed names.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The loader under its fixed name, the one the script tag points at.
pub const TAG_FILE: &str = "beacon.js";
/// Where the hashed files are served.
pub const FILES_PREFIX: &str = "/beacon/";

const JS_TYPE: &str = "text/javascript; charset=utf-8";
const WASM_TYPE: &str = "application/wasm";
const TAG_CACHE: &str = "public, max-age=300";
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// Hex digits of the content hash in a hashed file name.
const NAME_HASH_LEN: usize = 12;
/// Brotli's best compression; done once per file at startup.
const BROTLI_QUALITY: u32 = 11;
const BROTLI_WINDOW: u32 = 22;

/// A content coding the collector can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `br`.
    Brotli,
    /// `gzip`.
    Gzip,
    /// No content coding.
    Identity,
}

impl Encoding {
    /// The `Content-Encoding` token, `None` for identity.
    pub fn token(self) -> Option<&'static str> {
        match self {
            Self::Brotli => Some("br"),
            Self::Gzip => Some("gzip"),
            Self::Identity => None,
        }
    }
}

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

/// One file, in every encoding served.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    cache_control: &'static str,
    /// Hex SHA-256 of the uncompressed content.
    sha256: String,
    identity: Bytes,
    gzip: Bytes,
    br: Bytes,
}

impl Asset {
    fn new(
        dir: &Path,
        name: &str,
        content: Vec<u8>,
        content_type: &'static str,
        cache_control: &'static str,
    ) -> Result<Self, LoadError> {
        let compress_error = |source| LoadError::Compress {
            name: name.to_owned(),
            source,
        };
        let gzip = match precompressed(dir, name, &content) {
            Some(gz) => gz,
            None => gzip(&content).map_err(compress_error)?,
        };
        let br = brotli(&content).map_err(compress_error)?;
        Ok(Self {
            content_type,
            cache_control,
            sha256: hex::encode(Sha256::digest(&content)),
            identity: content.into(),
            gzip: gzip.into(),
            br: br.into(),
        })
    }

    fn body(&self, encoding: Encoding) -> &Bytes {
        match encoding {
            Encoding::Brotli => &self.br,
            Encoding::Gzip => &self.gzip,
            Encoding::Identity => &self.identity,
        }
    }

    /// The strong entity tag of one encoding: the content hash, suffixed
    /// for the compressed ones.
    fn etag(&self, encoding: Encoding) -> String {
        match encoding.token() {
            Some(t) => format!("\"{}-{t}\"", self.sha256),
            None => format!("\"{}\"", self.sha256),
        }
    }

    /// Whether an `If-None-Match` value names this content (in any
    /// encoding: they are the same file; weak comparison, as for GET).
    fn matches(&self, if_none_match: &str) -> bool {
        if_none_match.split(',').any(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*"
                || [Encoding::Identity, Encoding::Brotli, Encoding::Gzip]
                    .into_iter()
                    .any(|e| tag == self.etag(e))
        })
    }
}

/// A complete build in memory.
#[derive(Debug)]
struct Build {
    tag: Asset,
    js_name: String,
    js: Asset,
    wasm_name: String,
    wasm: Asset,
}

/// Why there is no build to serve; the client sees a message without paths.
#[derive(Debug)]
enum Unavailable {
    NotConfigured,
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

/// `dir/<name>.gz` if it is there and inflates to exactly `content`; a stale
/// or broken one is logged and ignored (the collector compresses instead).
fn precompressed(dir: &Path, name: &str, content: &[u8]) -> Option<Vec<u8>> {
    let path = dir.join(format!("{name}.gz"));
    let gz = std::fs::read(&path).ok()?;
    let mut inflated = Vec::with_capacity(content.len());
    let ok = std::io::Read::read_to_end(
        &mut std::io::Read::take(
            flate2::read::GzDecoder::new(&gz[..]),
            content.len() as u64 + 1,
        ),
        &mut inflated,
    )
    .is_ok()
        && inflated == content;
    if !ok {
        tracing::warn!(
            path = %path.display(),
            "ignoring a .gz that does not inflate to its file (rebuild with `cargo xtask beacon`)"
        );
        return None;
    }
    Some(gz)
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    enc.finish()
}

fn brotli(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = brotli::CompressorWriter::new(Vec::new(), 4096, BROTLI_QUALITY, BROTLI_WINDOW);
    enc.write_all(data)?;
    enc.flush()?;
    Ok(enc.into_inner())
}

/// Picks the encoding for a request: the acceptable one with the highest
/// `q` in `Accept-Encoding`, brotli before gzip before identity on a tie.
/// `q=0` excludes a coding, `*` stands for codings not named. Identity is
/// acceptable unless excluded and chosen only when nothing else is; when
/// even identity is excluded, it is sent anyway (RFC 9110 §12.5.3 lets a
/// server ignore an unsatisfiable header). No header: identity.
pub fn negotiate(headers: &HeaderMap) -> Encoding {
    // q-values in thousandths, as the RFC allows at most three decimals.
    let (mut br, mut gzip, mut identity, mut any) = (None, None, None, None);
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = Some(1000);
            for param in parts {
                if let Some((k, v)) = param.split_once('=') {
                    if k.trim().eq_ignore_ascii_case("q") {
                        q = parse_q(v.trim());
                    }
                }
            }
            let Some(q) = q else { continue };
            let slot = match coding.as_str() {
                "br" => &mut br,
                "gzip" | "x-gzip" => &mut gzip,
                "identity" => &mut identity,
                "*" => &mut any,
                _ => continue,
            };
            *slot = Some(q);
        }
    }
    let candidates = [
        (Encoding::Brotli, br.or(any).unwrap_or(0)),
        (Encoding::Gzip, gzip.or(any).unwrap_or(0)),
        // Unnamed identity: acceptable, but after any named coding.
        (Encoding::Identity, identity.or(any).unwrap_or(1)),
    ];
    let mut best = (Encoding::Identity, 0);
    for (encoding, q) in candidates {
        if q > best.1 {
            best = (encoding, q);
        }
    }
    best.0
}

/// A qvalue in thousandths; `None` if malformed.
fn parse_q(v: &str) -> Option<u16> {
    let q: f64 = v.parse().ok()?;
    (0.0..=1.0)
        .contains(&q)
        .then(|| (q * 1000.0).round() as u16)
}

/// `GET /beacon.js`.
pub async fn handle_tag(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match &state.beacon.0 {
        Ok(build) => respond(&build.tag, &headers),
        Err(why) => not_built(why),
    }
}

/// `GET /beacon/{*file}`: only the hashed names of the current build.
pub async fn handle_file(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let build = match &state.beacon.0 {
        Ok(build) => build,
        Err(why) => return not_built(why),
    };
    // The raw path: a percent-encoded or nested name matches nothing.
    match uri.path().strip_prefix(FILES_PREFIX) {
        Some(name) if name == build.js_name => respond(&build.js, &headers),
        Some(name) if name == build.wasm_name => respond(&build.wasm, &headers),
        _ => error(
            "not_found",
            "not a file of the current beacon build: /beacon/ serves only the hashed files that /beacon.js loads",
        ),
    }
}

fn respond(asset: &Asset, req: &HeaderMap) -> Response {
    let encoding = negotiate(req);
    let etag = asset.etag(encoding);
    let not_modified = req
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| asset.matches(v));
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut resp = Body::from(asset.body(encoding).clone()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if let Some(token) = encoding.token() {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
        }
        resp
    };
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache_control),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    cross_origin(h);
    resp
}

/// Pages on any origin load the beacon.
fn cross_origin(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn not_built(why: &Unavailable) -> Response {
    let message = match why {
        Unavailable::NotConfigured => {
            "the beacon is not served: the collector was started without --beacon-dir; \
             run `cargo xtask beacon` and pass --beacon-dir target/beacon (or USAGELENS_BEACON_DIR)"
        }
        Unavailable::NotLoaded => {
            "the beacon is not served: the collector's --beacon-dir holds no complete build (its log says why); \
             run `cargo xtask beacon` and pass --beacon-dir target/beacon (or USAGELENS_BEACON_DIR)"
        }
    };
    error("beacon_not_built", message)
}

fn error(code: &str, message: &str) -> Response {
    let mut resp = (StatusCode::NOT_FOUND, Json(ErrorBody::new(code, message))).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    cross_origin(h);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &[&str]) -> Encoding {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(header::ACCEPT_ENCODING, HeaderValue::from_str(a).unwrap());
        }
        negotiate(&h)
    }

    #[test]
    fn negotiation() {
        use Encoding::*;
        assert_eq!(pick(&[]), Identity);
        assert_eq!(pick(&[""]), Identity);
        assert_eq!(pick(&["gzip, deflate, br, zstd"]), Brotli);
        assert_eq!(pick(&["gzip, deflate"]), Gzip);
        assert_eq!(pick(&["GZIP"]), Gzip);
        assert_eq!(pick(&["x-gzip"]), Gzip);
        assert_eq!(pick(&["gzip", "br"]), Brotli, "repeated headers combine");
        assert_eq!(pick(&["br;q=0, gzip"]), Gzip);
        assert_eq!(pick(&["br; q=0.0, gzip;q=0.000"]), Identity);
        assert_eq!(pick(&["gzip;q=1.0, br;q=0.5"]), Gzip, "q decides");
        assert_eq!(pick(&["br;q=0.5, gzip;q=0.5"]), Brotli, "ties: br first");
        assert_eq!(pick(&["*"]), Brotli);
        assert_eq!(pick(&["*;q=0, gzip"]), Gzip);
        assert_eq!(pick(&["*;q=0, identity"]), Identity);
        assert_eq!(pick(&["identity;q=0, gzip;q=0.1"]), Gzip);
        assert_eq!(pick(&["*;q=0"]), Identity, "unsatisfiable: identity anyway");
        assert_eq!(pick(&["deflate, zstd"]), Identity);
        assert_eq!(
            pick(&["br;q=2, gzip"]),
            Gzip,
            "a malformed q drops the item"
        );
        assert_eq!(pick(&["br;q=abc"]), Identity);
        assert_eq!(pick(&["gzip;q=0.4, identity;q=0.5"]), Identity);
    }

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

    #[test]
    fn etags_per_encoding_and_if_none_match() {
        // No `x.js.gz` in a directory that does not exist: compressed here.
        let dir = Path::new("/nonexistent/usagelens-beacon");
        let a = Asset::new(dir, "x.js", b"hello".to_vec(), JS_TYPE, TAG_CACHE).unwrap();
        let id = a.etag(Encoding::Identity);
        assert_eq!(id, format!("\"{}\"", hex::encode(Sha256::digest(b"hello"))));
        assert_eq!(
            a.etag(Encoding::Brotli),
            format!("{}-br\"", &id[..id.len() - 1])
        );
        assert!(a.matches(&id));
        assert!(a.matches(&format!("W/{id}")));
        assert!(a.matches(&format!("\"other\", {}", a.etag(Encoding::Gzip))));
        assert!(a.matches("*"));
        assert!(!a.matches("\"other\""));
        assert!(!a.matches(""));
    }
}
