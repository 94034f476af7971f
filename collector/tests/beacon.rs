//! Serving the browser beacon: `/beacon.js` and `/beacon/<hashed name>`
//! from a directory laid out as `cargo xtask beacon` writes it. The files
//! here are small fixtures made by the test: this tests the serving, not the
//! beacon.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

/// A beacon build in a temporary directory, removed on drop.
struct Fixture {
    dir: PathBuf,
    js: Vec<u8>,
    js_name: String,
    wasm: Vec<u8>,
    wasm_name: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn hash12(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))[..12].to_owned()
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Fixture {
    /// A complete build, as `cargo xtask beacon` lays it out.
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "usagelens-beacon-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let js = "/* fixture */ (function(){ var wasm = '/beacon/@@'; })();\n"
            .repeat(40)
            .into_bytes();
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend((0..4000u32).map(|i| (i % 7) as u8));
        let js_name = format!("beacon-{}.js", hash12(&js));
        let wasm_name = format!("usagelens-{}.wasm", hash12(&wasm));
        std::fs::write(dir.join("beacon.js"), &js).unwrap();
        std::fs::write(dir.join(&js_name), &js).unwrap();
        std::fs::write(dir.join(&wasm_name), &wasm).unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            format!(r#"{{"js":"{js_name}","wasm":"{wasm_name}"}}"#),
        )
        .unwrap();
        Self {
            dir,
            js,
            js_name,
            wasm,
            wasm_name,
        }
    }

    async fn env(&self) -> TestEnv {
        TestEnv::with_beacon_dir(Some(self.dir.clone())).await
    }
}

struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body without its content coding.
    fn decoded(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.header("content-encoding") {
            None => out.extend_from_slice(&self.body),
            Some("gzip") => {
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Some("br") => {
                brotli::Decompressor::new(&self.body[..], 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Some(other) => panic!("unexpected content-encoding {other}"),
        }
        out
    }

    #[track_caller]
    fn assert_not_found(&self, code: &str) {
        assert_eq!(self.status, StatusCode::NOT_FOUND);
        assert_eq!(self.json()["error"]["code"], code, "{:?}", self.json());
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("access-control-allow-origin"), Some("*"));
    }
}

async fn request(env: &TestEnv, method: Method, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = env
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .expect("router answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

async fn get(env: &TestEnv, path: &str, headers: &[(&str, &str)]) -> Raw {
    request(env, Method::GET, path, headers).await
}

const JS: &str = "text/javascript; charset=utf-8";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[tokio::test]
async fn files_with_their_types_and_caching() {
    let f = Fixture::new();
    let env = f.env().await;
    let js_path = format!("/beacon/{}", f.js_name);
    let wasm_path = format!("/beacon/{}", f.wasm_name);
    for (path, content, ctype, cache) in [
        ("/beacon.js", &f.js, JS, "public, max-age=300"),
        (js_path.as_str(), &f.js, JS, IMMUTABLE),
        (wasm_path.as_str(), &f.wasm, "application/wasm", IMMUTABLE),
    ] {
        let r = get(&env, path, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(&r.body, content, "{path}");
        assert_eq!(r.header("content-type"), Some(ctype), "{path}");
        assert_eq!(r.header("cache-control"), Some(cache), "{path}");
        assert_eq!(r.header("content-encoding"), None, "{path}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{path}");
        assert_eq!(
            r.header("etag"),
            Some(format!("\"{}\"", sha256(content)).as_str()),
            "{path}"
        );
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(
            r.header("cross-origin-resource-policy"),
            Some("cross-origin")
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    env.drop_db().await;
}

#[tokio::test]
async fn content_negotiation() {
    let f = Fixture::new();
    let env = f.env().await;
    let wasm_path = format!("/beacon/{}", f.wasm_name);
    // (Accept-Encoding, the Content-Encoding expected)
    let cases = [
        ("gzip, deflate, br, zstd", Some("br")),
        ("br", Some("br")),
        ("gzip, deflate", Some("gzip")),
        ("br;q=0, gzip", Some("gzip")),
        ("gzip;q=1, br;q=0.5", Some("gzip")),
        ("*", Some("br")),
        ("*;q=0, gzip", Some("gzip")),
        ("gzip;q=0, br;q=0", None),
        ("*;q=0, identity", None),
        ("identity", None),
        ("deflate, zstd", None),
        ("", None),
    ];
    for (path, content) in [("/beacon.js", &f.js), (wasm_path.as_str(), &f.wasm)] {
        let mut etags = std::collections::HashSet::new();
        for (accept, expected) in cases {
            let r = get(&env, path, &[("accept-encoding", accept)]).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(
                r.header("content-encoding"),
                expected,
                "{path} with Accept-Encoding: {accept:?}"
            );
            assert_eq!(&r.decoded(), content, "{path} with {accept:?}");
            if expected.is_some() {
                assert!(
                    r.body.len() < content.len(),
                    "{path}: compressed with {accept:?}"
                );
            }
            assert_eq!(r.header("vary"), Some("Accept-Encoding"));
            assert_eq!(
                r.header("content-length"),
                Some(r.body.len().to_string().as_str())
            );
            etags.insert(r.header("etag").unwrap().to_owned());
        }
        assert_eq!(
            etags,
            ["", "-br", "-gzip"]
                .map(|s| format!("\"{}{s}\"", sha256(content)))
                .into(),
            "one strong ETag per encoding"
        );
    }
    env.drop_db().await;
}

#[tokio::test]
async fn etag_and_not_modified() {
    let f = Fixture::new();
    let env = f.env().await;
    let br = get(&env, "/beacon.js", &[("accept-encoding", "br")]).await;
    let br_tag = br.header("etag").unwrap().to_owned();
    let id_tag = format!("\"{}\"", sha256(&f.js));

    // The tag of any encoding of the same content validates it.
    for (inm, accept) in [
        (br_tag.as_str(), "br"),
        (br_tag.as_str(), ""),
        (id_tag.as_str(), "gzip"),
        ("*", "br"),
    ] {
        let r = get(
            &env,
            "/beacon.js",
            &[("if-none-match", inm), ("accept-encoding", accept)],
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{inm} / {accept}");
        assert!(r.body.is_empty());
        assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert!(r.header("etag").is_some());
    }
    let weak_list = format!("\"nope\", W/{id_tag}");
    let r = get(&env, "/beacon.js", &[("if-none-match", &weak_list)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED, "weak comparison");

    // Another content's tag: the full answer.
    let wasm_tag = format!("\"{}\"", sha256(&f.wasm));
    let r = get(&env, "/beacon.js", &[("if-none-match", &wasm_tag)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, f.js);

    let wasm_path = format!("/beacon/{}", f.wasm_name);
    let r = get(&env, &wasm_path, &[("if-none-match", &wasm_tag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.header("cache-control"), Some(IMMUTABLE));
    env.drop_db().await;
}

#[tokio::test]
async fn head_answers_headers_only() {
    let f = Fixture::new();
    let env = f.env().await;
    let wasm_path = format!("/beacon/{}", f.wasm_name);
    for path in ["/beacon.js", wasm_path.as_str()] {
        let full = get(&env, path, &[("accept-encoding", "gzip")]).await;
        let head = request(&env, Method::HEAD, path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.body.is_empty());
        for h in [
            "content-type",
            "content-encoding",
            "cache-control",
            "etag",
            "vary",
            "content-length",
        ] {
            assert_eq!(head.header(h), full.header(h), "{path}: {h}");
        }
    }
    let post = request(&env, Method::POST, "/beacon.js", &[]).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    env.drop_db().await;
}

#[tokio::test]
async fn only_the_hashed_names_are_served() {
    let f = Fixture::new();
    let env = f.env().await;
    std::fs::write(f.dir.join("secret.txt"), "not for the web").unwrap();
    let upper = format!("/beacon/{}", f.wasm_name.to_uppercase());
    let nested = format!("/beacon/{}/x", f.js_name);
    let encoded = format!("/beacon/{}", f.js_name.replace('.', "%2e"));
    for path in [
        "/beacon/manifest.json",
        "/beacon/beacon.js",
        "/beacon/secret.txt",
        "/beacon/..%2fCargo.toml",
        "/beacon/..%2F..%2FCargo.toml",
        "/beacon/../Cargo.toml",
        "/beacon/%2e%2e/manifest.json",
        "/beacon//etc/passwd",
        "/beacon/usagelens-000000000000.wasm",
        "/beacon/beacon-000000000000.js",
        upper.as_str(),
        nested.as_str(),
        encoded.as_str(),
    ] {
        let r = get(&env, path, &[]).await;
        r.assert_not_found("not_found");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("hashed"),
            "{path}"
        );
    }
    // Paths the route does not cover at all.
    for path in ["/beacon/", "/beacon", "/beacon.js/x", "/manifest.json"] {
        let r = get(&env, path, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    env.drop_db().await;
}

async fn assert_not_built(dir: Option<PathBuf>) {
    let env = TestEnv::with_beacon_dir(dir).await;
    for path in ["/beacon.js", "/beacon/usagelens-000000000000.wasm"] {
        let r = get(&env, path, &[("accept-encoding", "br")]).await;
        r.assert_not_found("beacon_not_built");
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains("cargo xtask beacon") && message.contains("--beacon-dir"),
            "{message}"
        );
        assert!(!message.contains("/tmp"), "no server path in {message}");
    }
    // The rest of the collector is unaffected.
    assert_eq!(get(&env, "/healthz", &[]).await.status, StatusCode::OK);
    env.drop_db().await;
}

#[tokio::test]
async fn not_built() {
    // Not configured.
    assert_not_built(None).await;
    // A directory that does not exist.
    assert_not_built(Some(
        std::env::temp_dir().join("usagelens-no-such-beacon-dir"),
    ))
    .await;

    // Incomplete or inconsistent builds: each is refused as a whole.
    type Breakage = (&'static str, fn(&Fixture));
    let breakages: [Breakage; 6] = [
        ("no manifest", |f| rm(&f.dir, "manifest.json")),
        ("no wasm", |f| rm(&f.dir, &f.wasm_name)),
        ("no beacon.js", |f| rm(&f.dir, "beacon.js")),
        ("manifest not JSON", |f| {
            std::fs::write(f.dir.join("manifest.json"), "{").unwrap()
        }),
        ("a name that is not hashed", |f| {
            let m = format!(r#"{{"js":"../beacon.js","wasm":"{}"}}"#, f.wasm_name);
            std::fs::write(f.dir.join("manifest.json"), m).unwrap()
        }),
        ("content that does not match its name", |f| {
            std::fs::write(f.dir.join(&f.wasm_name), b"\0asm changed").unwrap()
        }),
    ];
    for (what, breakage) in breakages {
        let f = Fixture::new();
        breakage(&f);
        eprintln!("case: {what}");
        assert_not_built(Some(f.dir.clone())).await;
    }
}

fn rm(dir: &Path, name: &str) {
    std::fs::remove_file(dir.join(name)).unwrap();
}

#[test]
fn load_errors_say_what_is_wrong() {
    use usagelens_collector::beacon::{Beacon, LoadError};
    let f = Fixture::new();
    let names = Beacon::from_dir(&f.dir).unwrap();
    assert_eq!(
        names.names(),
        Some((f.js_name.as_str(), f.wasm_name.as_str()))
    );
    std::fs::write(f.dir.join(&f.js_name), b"tampered").unwrap();
    match Beacon::from_dir(&f.dir) {
        Err(e @ LoadError::HashMismatch { .. }) => {
            assert!(e.to_string().contains(&f.js_name), "{e}")
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    std::fs::write(f.dir.join(&f.js_name), &f.js).unwrap();
    rm(&f.dir, &f.wasm_name);
    match Beacon::from_dir(&f.dir) {
        Err(e @ LoadError::Read { .. }) => assert!(e.to_string().contains(&f.wasm_name), "{e}"),
        other => panic!("expected Read, got {other:?}"),
    }
}

fn gzip_fast(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, data).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn a_precompressed_gz_is_served_as_is_when_it_matches() {
    let f = Fixture::new();
    // The build's `.gz` (zopfli there): recognisable here by being a fast
    // gzip, unlike the collector's own best-compression one.
    let wasm_gz = gzip_fast(&f.wasm);
    std::fs::write(f.dir.join(format!("{}.gz", f.wasm_name)), &wasm_gz).unwrap();
    // A stale `.gz` (of other content) must be ignored, never served.
    std::fs::write(f.dir.join("beacon.js.gz"), gzip_fast(b"stale")).unwrap();
    let env = f.env().await;

    let r = get(
        &env,
        &format!("/beacon/{}", f.wasm_name),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.body, wasm_gz, "the precompressed file, byte for byte");
    assert_eq!(r.decoded(), f.wasm);

    let r = get(&env, "/beacon.js", &[("accept-encoding", "gzip")]).await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.decoded(), f.js, "the stale .gz is ignored");
    env.drop_db().await;
}
