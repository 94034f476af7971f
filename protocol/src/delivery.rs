//! The SDKs' delivery contract with the collector, shared by the beacon and
//! the native SDK: what an answer means, how long to back off, and how to
//! cut queued events into bodies under a size limit.
//!
//! - 2xx: delivered (duplicates of a retry are delivered too).
//! - 429 and 503: pause for `Retry-After` seconds, then send again.
//! - a network error, 408 and other 5xx: retry with exponential backoff and jitter.
//! - other 4xx: the collector will never take it: drop and count.

use alloc::string::String;
use alloc::vec::Vec;

/// What to do with a batch after the collector answered (or did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or stored earlier: duplicates count as success).
    Done,
    /// Try again after a backoff: network error, 5xx other than 503.
    Retry,
    /// Stop sending for this many seconds, then retry (429 or 503 with `Retry-After`).
    Pause(u32),
    /// The collector will never take it (4xx): drop it and count it.
    Drop,
}

/// Seconds to pause after a 429/503 without a usable `Retry-After`.
pub const DEFAULT_PAUSE_SECS: u32 = 5;
/// Longest pause honoured, so a bad header cannot silence the beacon for long.
pub const MAX_PAUSE_SECS: u32 = 600;
/// Attempts before a batch is given up and counted as dropped.
pub const MAX_ATTEMPTS: u32 = 8;

/// Classifies an HTTP status (`0`: the request failed before an answer).
pub fn classify(status: u16, retry_after: Option<&str>) -> Outcome {
    match status {
        200..=299 => Outcome::Done,
        429 | 503 => Outcome::Pause(parse_retry_after(retry_after).unwrap_or(DEFAULT_PAUSE_SECS)),
        0 | 408 | 500..=599 => Outcome::Retry,
        _ => Outcome::Drop,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the collector).
pub fn parse_retry_after(v: Option<&str>) -> Option<u32> {
    let secs: u32 = v?.trim().parse().ok()?;
    Some(secs.clamp(1, MAX_PAUSE_SECS))
}

/// Backoff before retry `attempt` (1-based): 1 s, 2 s, 4 s … capped at 60 s,
/// scaled by `jitter` in [0, 1) to between 50% and 100%, in milliseconds.
#[allow(clippy::manual_clamp)] // `f64::clamp` would link float formatting (its panic message)
pub fn backoff_ms(attempt: u32, jitter: f64) -> f64 {
    let base = 1000.0 * f64::from(1u32 << attempt.saturating_sub(1).min(6));
    let base = base.min(60_000.0);
    // `f64::clamp` would link float formatting (its panic message) into the beacon.
    base * (0.5 + 0.5 * jitter.max(0.0).min(1.0))
}

/// Cuts `events` (each one event's JSON) into batch bodies of at most `max`
/// bytes once wrapped as `head` + events joined by `,` + `tail`. An event too
/// large for any body is skipped (its index returned), never sent.
pub fn chunk<E: AsRef<str>>(
    events: &[E],
    head: &str,
    tail: &str,
    max: usize,
) -> (Vec<String>, Vec<usize>) {
    let mut bodies = Vec::new();
    let mut skipped = Vec::new();
    let mut cur = String::new();
    let overhead = head.len() + tail.len();
    for (i, e) in events.iter().enumerate() {
        let e = e.as_ref();
        if overhead + e.len() > max {
            skipped.push(i);
            continue;
        }
        if !cur.is_empty() && overhead + cur.len() + 1 + e.len() > max {
            bodies.push(wrap(head, &cur, tail));
            cur.clear();
        }
        if !cur.is_empty() {
            cur.push(',');
        }
        cur.push_str(e);
    }
    if !cur.is_empty() {
        bodies.push(wrap(head, &cur, tail));
    }
    (bodies, skipped)
}

fn wrap(head: &str, events: &str, tail: &str) -> String {
    let mut s = String::with_capacity(head.len() + events.len() + tail.len());
    s.push_str(head);
    s.push_str(events);
    s.push_str(tail);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(200, None), Outcome::Done);
        assert_eq!(classify(503, Some("7")), Outcome::Pause(7));
        assert_eq!(classify(429, Some(" 2 ")), Outcome::Pause(2));
        assert_eq!(classify(429, None), Outcome::Pause(DEFAULT_PAUSE_SECS));
        assert_eq!(
            classify(503, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Outcome::Pause(DEFAULT_PAUSE_SECS)
        );
        assert_eq!(
            classify(503, Some("999999")),
            Outcome::Pause(MAX_PAUSE_SECS)
        );
        assert_eq!(classify(503, Some("0")), Outcome::Pause(1));
        for s in [0, 408, 500, 502, 504] {
            assert_eq!(classify(s, None), Outcome::Retry, "{s}");
        }
        for s in [400, 401, 403, 404, 413, 415] {
            assert_eq!(classify(s, None), Outcome::Drop, "{s}");
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        assert_eq!(backoff_ms(1, 1.0 - f64::EPSILON).round(), 1000.0);
        assert_eq!(backoff_ms(1, 0.0), 500.0);
        assert_eq!(backoff_ms(3, 0.0), 2000.0);
        assert_eq!(backoff_ms(30, 0.99).round(), (60_000.0 * 0.995f64).round());
        assert!(backoff_ms(2, 0.3) < backoff_ms(2, 0.6));
    }

    #[test]
    fn chunks_stay_under_the_limit() {
        let events: Vec<String> = (0..100)
            .map(|i| format!("{{\"id\":\"{i:04}\",\"pad\":\"{}\"}}", "x".repeat(900)))
            .collect();
        let (bodies, skipped) = chunk(&events, "{\"events\":[", "]}", 10_000);
        assert!(skipped.is_empty());
        assert!(bodies.len() >= 10);
        let mut seen = 0;
        for b in &bodies {
            assert!(b.len() <= 10_000, "{}", b.len());
            let v: serde_json::Value = serde_json::from_str(b).unwrap();
            seen += v["events"].as_array().unwrap().len();
        }
        assert_eq!(seen, 100, "every event in exactly one body");
        let huge = vec![
            "\"a\"".to_owned(),
            format!("\"{}\"", "x".repeat(20_000)),
            "\"b\"".to_owned(),
        ];
        let (bodies, skipped) = chunk(&huge, "[", "]", 10_000);
        assert_eq!(skipped, [1]);
        assert_eq!(bodies, ["[\"a\",\"b\"]"]);
    }
}
