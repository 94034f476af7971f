//! The body of `POST /v1/batch`: its content type, its encoding, and its
//! size, checked before anything is parsed.

use std::io::Read;

use usagelens_protocol::limits::MAX_BODY_BYTES;

use super::IngestError;

/// The over-size error, at any stage (declared, read, or inflated).
pub(crate) fn too_large_body() -> IngestError {
    IngestError::TooLarge(format!(
        "the body is larger than {MAX_BODY_BYTES} bytes after decompression: send smaller batches"
    ))
}

/// Accepts `application/json` and `text/plain` (what `navigator.sendBeacon`
/// sends a string as), with any parameters.
pub(crate) fn check_content_type(content_type: Option<&str>) -> Result<(), IngestError> {
    let ct = content_type.unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence == "text/plain" {
        Ok(())
    } else {
        let got = if ct.is_empty() {
            "none".to_owned()
        } else {
            format!("`{ct}`")
        };
        Err(IngestError::UnsupportedMediaType(format!(
            "Content-Type {got} is not accepted: send application/json (or text/plain, as navigator.sendBeacon does)"
        )))
    }
}

/// Checks the content type and encoding and returns the decompressed body.
/// A gzip body stops inflating at [`MAX_BODY_BYTES`], so a gzip bomb costs
/// at most that much memory. `content_encoding` is the header's value
/// (`None` without one; a value that is not text reads as `?`).
pub fn decode_body(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, IngestError> {
    check_content_type(content_type)?;
    let encoding = content_encoding.map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") | Some("") => {
            if body.len() > MAX_BODY_BYTES {
                return Err(too_large_body());
            }
            Ok(body.to_vec())
        }
        Some("gzip") | Some("x-gzip") => {
            let mut out = Vec::with_capacity((body.len() * 4).min(MAX_BODY_BYTES));
            flate2::read::GzDecoder::new(body)
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| IngestError::InvalidBody(format!("the gzip body is corrupt: {e}")))?;
            if out.len() > MAX_BODY_BYTES {
                return Err(too_large_body());
            }
            Ok(out)
        }
        Some(other) => Err(IngestError::UnsupportedMediaType(format!(
            "Content-Encoding `{other}` is not supported: send gzip or no encoding"
        ))),
    }
}
