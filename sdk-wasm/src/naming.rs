//! Widget names and value sanitising, pure so the rules are tested natively.

use alloc::string::String;

use usagelens_protocol::limits::{MAX_ARRAY_ITEMS, MAX_STRING_BYTES};

/// Longest widget name taken from an element's text.
const MAX_TEXT_NAME_CHARS: usize = 64;

/// A stable name from an element's visible text: whitespace runs collapsed to
/// one space, trimmed, at most 64 characters. `None` when nothing is left.
pub(crate) fn text_name(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut n = 0;
    for word in text.split_whitespace() {
        for (i, c) in core::iter::once(' ').chain(word.chars()).enumerate() {
            if i == 0 && out.is_empty() {
                continue;
            }
            if n == MAX_TEXT_NAME_CHARS {
                return Some(out);
            }
            out.push(c);
            n += 1;
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Cuts a string value to the protocol's limit, on a character boundary.
pub(crate) fn clip(s: &str) -> &str {
    if s.len() <= MAX_STRING_BYTES {
        return s;
    }
    // `get` rather than `&s[..end]`: no formatted panic path in the beacon.
    (0..=MAX_STRING_BYTES)
        .rev()
        .find_map(|end| s.get(..end))
        .unwrap_or_default()
}

/// Most items kept of a multi-valued dimension.
pub(crate) const MAX_ITEMS: usize = MAX_ARRAY_ITEMS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names() {
        assert_eq!(
            text_name("  Export\n   as  CSV \t").as_deref(),
            Some("Export as CSV")
        );
        assert_eq!(text_name(" \n\t "), None);
        assert_eq!(text_name(""), None);
        let long = "word ".repeat(40);
        let name = text_name(&long).unwrap();
        assert_eq!(name.chars().count(), 64);
        assert!(!name.starts_with(' '));
        assert_eq!(text_name("日本語 ボタン").as_deref(), Some("日本語 ボタン"));
    }

    #[test]
    fn clipping_respects_char_boundaries() {
        let s = "é".repeat(600); // 1200 bytes
        let c = clip(&s);
        assert!(c.len() <= 1024 && c.len() >= 1023);
        assert!(c.chars().all(|ch| ch == 'é'));
        assert_eq!(clip("short"), "short");
    }
}
