//! Serialization timing: how long a response took to serialize, and its size.

use std::time::Instant;

use serde::Serialize;

/// How long serializing a value took and how large it came out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SerializeTiming {
    /// Milliseconds spent in `serde_json`.
    pub serialize_ms: f64,
    /// Bytes produced.
    pub bytes: usize,
}

/// Serializes `value` to JSON and measures it.
///
/// ```
/// let (json, t) = usagelens::timed_json(&vec![1, 2, 3]).unwrap();
/// assert_eq!(json, b"[1,2,3]");
/// assert_eq!(t.bytes, 7);
/// assert!(t.serialize_ms >= 0.0);
/// ```
pub fn timed_json<T: Serialize + ?Sized>(
    value: &T,
) -> Result<(Vec<u8>, SerializeTiming), serde_json::Error> {
    let start = Instant::now();
    let json = serde_json::to_vec(value)?;
    let timing = SerializeTiming {
        serialize_ms: start.elapsed().as_secs_f64() * 1000.0,
        bytes: json.len(),
    };
    Ok((json, timing))
}

impl crate::Client {
    /// Serializes `value` to JSON, records a `timing` event (`name`,
    /// `serialize_ms`, `bytes`) and returns the JSON.
    pub fn serialize_json<T: Serialize + ?Sized>(
        &self,
        name: &'static str,
        value: &T,
    ) -> Result<Vec<u8>, serde_json::Error> {
        let (json, t) = timed_json(value)?;
        self.record(
            "timing",
            crate::Attrs::new()
                .with("name", name)
                .with("kind", "serialize"),
            crate::Measures::new()
                .with("serialize_ms", t.serialize_ms)
                .with("bytes", t.bytes as f64),
        );
        Ok(json)
    }
}

#[cfg(feature = "axum")]
mod axum_json {
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};
    use serde::Serialize;

    use super::timed_json;

    /// A JSON response whose serialization time and size are attached to the
    /// request's `http` event (as `serialize_ms` and `response_bytes`) by the
    /// [`UsageLensLayer`](crate::UsageLensLayer).
    ///
    /// ```no_run
    /// use usagelens::TimedJson;
    /// async fn users() -> TimedJson<Vec<&'static str>> {
    ///     TimedJson(vec!["ada", "grace"])
    /// }
    /// ```
    #[derive(Debug, Clone, Copy, Default)]
    pub struct TimedJson<T>(pub T);

    impl<T: Serialize> IntoResponse for TimedJson<T> {
        fn into_response(self) -> Response {
            match timed_json(&self.0) {
                Ok((json, timing)) => {
                    let mut resp = (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        json,
                    )
                        .into_response();
                    resp.extensions_mut().insert(timing);
                    resp
                }
                Err(e) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot serialize the response: {e}"),
                )
                    .into_response(),
            }
        }
    }
}

#[cfg(feature = "axum")]
pub use axum_json::TimedJson;
