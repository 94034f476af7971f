//! Name rules. Every name a client sends ends up as a field name or a value in
//! MongoDB, so the rules exclude `$` (an operator) and `.` (a path) from field
//! names outright. Checked by hand: these run for every dimension of every event.

use crate::limits::MAX_NAME_BYTES;

/// The rule for dimension and metric names, for error messages.
pub const NAME_RULE: &str = "^[A-Za-z_][A-Za-z0-9_-]{0,63}$";
/// The rule for event types, for error messages.
pub const TYPE_RULE: &str = "^[a-z][a-z0-9_.-]{0,63}$";
/// The rule for app ids, for error messages.
pub const APP_RULE: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";

/// A dimension or metric name: `^[A-Za-z_][A-Za-z0-9_-]{0,63}$`.
///
/// ```
/// use usagelens_protocol::names::is_valid_name;
/// assert!(is_valid_name("duration_ms"));
/// assert!(!is_valid_name("$where"));
/// assert!(!is_valid_name("a.b"));
/// ```
pub fn is_valid_name(name: &str) -> bool {
    // `split_first`, not `b[1..]`: no panic path (the beacon links no `core::fmt`).
    let Some((first, rest)) = name.as_bytes().split_first() else {
        return false;
    };
    (first.is_ascii_alphabetic() || *first == b'_')
        && name.len() <= MAX_NAME_BYTES
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// An event type: `^[a-z][a-z0-9_.-]{0,63}$`.
pub fn is_valid_type(name: &str) -> bool {
    let Some((first, rest)) = name.as_bytes().split_first() else {
        return false;
    };
    first.is_ascii_lowercase()
        && name.len() <= MAX_NAME_BYTES
        && rest.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'-')
        })
}

/// An app id: `^[a-z0-9][a-z0-9_-]{0,63}$`. App ids appear in storage keys
/// (`<app>:<event id>`), so they never hold a `:`.
pub fn is_valid_app(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => {}
        _ => return false,
    }
    b.len() <= MAX_NAME_BYTES
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-'))
}

/// An event id: 1 to 64 bytes, no control characters.
pub fn is_valid_event_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= crate::limits::MAX_ID_BYTES && !id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_names() {
        let ok = [
            "a",
            "A",
            "_",
            "_x",
            "widget",
            "duration_ms",
            "x-y",
            "a1",
            "Z9_-",
            &"a".repeat(64),
        ];
        for n in ok {
            assert!(is_valid_name(n), "{n:?} should be valid");
        }
        let bad = [
            "",
            "1a",
            "-a",
            "$where",
            "a$",
            "a.b",
            ".a",
            "a b",
            "é",
            "a\0",
            "a/b",
            "a:b",
            &"a".repeat(65),
        ];
        for n in bad {
            assert!(!is_valid_name(n), "{n:?} should be invalid");
        }
    }

    #[test]
    fn event_types() {
        for t in ["page", "click", "a", "my.custom-type_2", &"x".repeat(64)] {
            assert!(is_valid_type(t), "{t:?} should be valid");
        }
        for t in [
            "",
            "Click",
            "1x",
            ".x",
            "_x",
            "a b",
            "a$",
            "a/b",
            &"x".repeat(65),
        ] {
            assert!(!is_valid_type(t), "{t:?} should be invalid");
        }
    }

    #[test]
    fn app_ids() {
        for a in ["demo", "0", "my-app_2", &"a".repeat(64)] {
            assert!(is_valid_app(a), "{a:?} should be valid");
        }
        for a in ["", "Demo", "-a", "a:b", "a.b", "a$", "a b", &"a".repeat(65)] {
            assert!(!is_valid_app(a), "{a:?} should be invalid");
        }
    }

    #[test]
    fn event_ids() {
        assert!(is_valid_event_id("0193a1b2-0000-7000-8000-000000000000"));
        assert!(is_valid_event_id("x"));
        assert!(is_valid_event_id(&"a".repeat(64)));
        assert!(!is_valid_event_id(""));
        assert!(!is_valid_event_id(&"a".repeat(65)));
        assert!(!is_valid_event_id("a\nb"));
    }
}
