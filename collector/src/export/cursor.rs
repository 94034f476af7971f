//! The export's page cursor: an opaque, URL-safe, versioned position that
//! belongs to one app.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use usagelens_protocol::names::is_valid_app;
use usagelens_protocol::timestamp::{MAX_MILLIS, MIN_MILLIS};

use crate::apps::AppId;
use crate::query::QueryError;
use crate::store::EventKey;

/// Version byte of the cursor encoding.
const CURSOR_VERSION: u8 = 1;
/// Longest cursor accepted (an app id, `:`, an event id and 9 bytes fit well within).
const MAX_CURSOR_CHARS: usize = 512;

fn invalid(msg: impl Into<String>) -> QueryError {
    QueryError::Invalid(msg.into())
}

/// A position in an app's events: the `(ts, _id)` of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    /// The event's `ts`, epoch milliseconds.
    pub(crate) ts_ms: i64,
    /// The event's `_id` (`"<app>:<event id>"`).
    pub(crate) id: String,
}

impl Position {
    /// The opaque, URL-safe cursor: base64url (no padding) of a version
    /// byte, `ts` as 8 big-endian bytes, and the `_id`.
    pub(crate) fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(9 + self.id.len());
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(&self.ts_ms.to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cursor of `app`; any other string is an error naming `cursor`.
    pub(crate) fn decode(cursor: &str, app: &AppId) -> Result<Self, QueryError> {
        let bad = || {
            invalid("cursor: not a cursor of this endpoint; pass the previous page's UsageLens-Next-Cursor header unchanged")
        };
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        if bytes.len() < 11 || bytes[0] != CURSOR_VERSION {
            return Err(bad());
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&bytes[1..9]);
        let ts_ms = i64::from_be_bytes(ts);
        let id = std::str::from_utf8(&bytes[9..]).map_err(|_| bad())?;
        if !(MIN_MILLIS..=MAX_MILLIS).contains(&ts_ms) {
            return Err(bad());
        }
        match id.split_once(':') {
            Some((owner, rest)) if is_valid_app(owner) && !rest.is_empty() => {
                if owner == app.as_str() {
                    Ok(Self {
                        ts_ms,
                        id: id.to_owned(),
                    })
                } else {
                    Err(invalid(format!(
                        "cursor: this cursor belongs to another app, not `{app}`; start without a cursor"
                    )))
                }
            }
            _ => Err(bad()),
        }
    }
}

impl From<EventKey> for Position {
    fn from(k: EventKey) -> Self {
        Self {
            ts_ms: k.ts_ms,
            id: k.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str) -> AppId {
        AppId::parse(id).unwrap()
    }

    #[test]
    fn cursors_round_trip_and_belong_to_one_app() {
        let p = Position {
            ts_ms: 1_795_860_000_123,
            id: "demo:e-1/ü".into(),
        };
        let c = p.encode();
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(Position::decode(&c, &app("demo")).unwrap(), p);
        let e = Position::decode(&c, &app("other")).unwrap_err().to_string();
        assert!(e.starts_with("cursor:") && e.contains("another app"), "{e}");
        for bad in [
            "",
            "x",
            "!!!!",
            &"A".repeat(600),
            &URL_SAFE_NO_PAD.encode(b"\x02abcdefgh:demo:x"),
        ] {
            let e = Position::decode(bad, &app("demo")).unwrap_err().to_string();
            assert!(e.starts_with("cursor:"), "{bad}: {e}");
        }
        let no_app = Position {
            ts_ms: p.ts_ms,
            id: "no-colon".into(),
        };
        assert!(Position::decode(&no_app.encode(), &app("demo")).is_err());
        let out_of_range = Position {
            ts_ms: 0,
            id: "demo:x".into(),
        };
        assert!(Position::decode(&out_of_range.encode(), &app("demo")).is_err());
    }
}
