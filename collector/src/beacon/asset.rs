//! One file served from memory in every content coding: identity, gzip
//! (the build's zopfli `.gz` when it matches, else gzip -9), and brotli,
//! each with its strong entity tag; and the choice of coding for a request.

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::LoadError;

/// Brotli's best compression; done once per file at startup.
const BROTLI_QUALITY: u32 = 11;
const BROTLI_WINDOW: u32 = 22;

/// A content coding the collector can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `br`.
    Brotli,
    /// `gzip`.
    Gzip,
    /// No content coding.
    Identity,
}

impl Encoding {
    /// The `Content-Encoding` token, `None` for identity.
    pub(crate) fn token(self) -> Option<&'static str> {
        match self {
            Self::Brotli => Some("br"),
            Self::Gzip => Some("gzip"),
            Self::Identity => None,
        }
    }
}

/// One file, in every encoding served.
#[derive(Debug)]
pub(crate) struct Asset {
    pub(crate) content_type: &'static str,
    pub(crate) cache_control: &'static str,
    /// Hex SHA-256 of the uncompressed content.
    sha256: String,
    pub(super) identity: Bytes,
    pub(super) gzip: Bytes,
    pub(super) br: Bytes,
}

impl Asset {
    pub(super) fn new(
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

    pub(crate) fn body(&self, encoding: Encoding) -> &Bytes {
        match encoding {
            Encoding::Brotli => &self.br,
            Encoding::Gzip => &self.gzip,
            Encoding::Identity => &self.identity,
        }
    }

    /// The strong entity tag of one encoding: the content hash, suffixed
    /// for the compressed ones.
    pub(crate) fn etag(&self, encoding: Encoding) -> String {
        match encoding.token() {
            Some(t) => format!("\"{}-{t}\"", self.sha256),
            None => format!("\"{}\"", self.sha256),
        }
    }

    /// Whether an `If-None-Match` value names this content (in any
    /// encoding: they are the same file; weak comparison, as for GET).
    pub(crate) fn matches(&self, if_none_match: &str) -> bool {
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
pub(crate) fn negotiate<'a>(accept_encoding: impl IntoIterator<Item = &'a str>) -> Encoding {
    // q-values in thousandths, as the RFC allows at most three decimals.
    let (mut br, mut gzip, mut identity, mut any) = (None, None, None, None);
    for value in accept_encoding {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &[&str]) -> Encoding {
        negotiate(accept.iter().copied())
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
    fn etags_per_encoding_and_if_none_match() {
        // No `x.js.gz` in a directory that does not exist: compressed here.
        let dir = Path::new("/nonexistent/usagelens-beacon");
        let a = Asset::new(
            dir,
            "x.js",
            b"hello".to_vec(),
            "text/javascript",
            "no-cache",
        )
        .unwrap();
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
