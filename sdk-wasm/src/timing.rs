//! The load-time breakdown from Navigation Timing Level 2, pure so the rules
//! are tested natively. Every value is in milliseconds from the navigation's
//! start (`startTime`, 0), as the browser reports them; a phase whose two
//! ends are not both known is left out, and no phase is negative.
//!
//! | metric | measures |
//! |---|---|
//! | `redirect_ms` | `redirectEnd - redirectStart`: following HTTP redirects |
//! | `dns_ms` | `domainLookupEnd - domainLookupStart`: the DNS lookup |
//! | `connect_ms` | `connectEnd - connectStart`: TCP connect, TLS included |
//! | `tls_ms` | `connectEnd - secureConnectionStart`: the TLS handshake (0 on http) |
//! | `request_ms` | `responseStart - requestStart`: request sent to first byte back: the server's think time plus a round trip |
//! | `ttfb_ms` | `responseStart`: navigation start to the first byte of the response |
//! | `response_ms` | `responseEnd - responseStart`: downloading the document |
//! | `dom_ms` | `domInteractive - responseEnd`: parsing the document until interactive |
//! | `dcl_ms` | `domContentLoadedEventEnd`: navigation start to DOMContentLoaded handled |
//! | `load_event_ms` | `loadEventEnd - loadEventStart`: the page's own load handlers |
//! | `total_ms` | `loadEventEnd`: navigation start to the load event handled |
//! | `fcp_ms` | first contentful paint, from navigation start |
//! | `lcp_ms` | largest contentful paint so far, from navigation start |
//! | `transfer_bytes` | bytes of the document over the network (headers included; 0 from cache) |
//! | `<phase>_ms` | `usagelens.mark(phase)`: from navigation start to the mark; a `performance.measure` named `usage:<phase>`: its duration |

use alloc::string::String;

/// The navigation entry's fields (0 where the browser reports none).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[allow(missing_docs)]
pub(crate) struct NavTiming {
    pub(crate) redirect_start: f64,
    pub(crate) redirect_end: f64,
    pub(crate) domain_lookup_start: f64,
    pub(crate) domain_lookup_end: f64,
    pub(crate) connect_start: f64,
    pub(crate) connect_end: f64,
    pub(crate) secure_connection_start: f64,
    pub(crate) request_start: f64,
    pub(crate) response_start: f64,
    pub(crate) response_end: f64,
    pub(crate) dom_interactive: f64,
    pub(crate) dom_content_loaded_event_end: f64,
    pub(crate) load_event_start: f64,
    pub(crate) load_event_end: f64,
    pub(crate) transfer_size: f64,
}

fn span(
    out: &mut impl FnMut(&'static str, f64),
    name: &'static str,
    start: f64,
    end: f64,
    start_known: bool,
) {
    if start_known && end > 0.0 && end >= start {
        out(name, round2(end - start));
    }
}

/// Rounds milliseconds to two decimals, half away from zero (`f64::round`
/// is not in `core`).
pub(crate) fn round2(v: f64) -> f64 {
    let x = v * 100.0;
    let r = if x >= 0.0 { x + 0.5 } else { x - 0.5 };
    (r as i64) as f64 / 100.0
}

/// The breakdown, handed to `out` metric by metric (no intermediate `Vec`).
pub(crate) fn breakdown_into(
    t: &NavTiming,
    fcp: Option<f64>,
    lcp: Option<f64>,
    mut out: impl FnMut(&'static str, f64),
) {
    let m = &mut out;
    span(
        m,
        "redirect_ms",
        t.redirect_start,
        t.redirect_end,
        t.redirect_end > 0.0,
    );
    // Lookup and connect start at 0 for a reused connection: still a valid (0 ms) phase.
    span(
        m,
        "dns_ms",
        t.domain_lookup_start,
        t.domain_lookup_end,
        true,
    );
    span(m, "connect_ms", t.connect_start, t.connect_end, true);
    if t.secure_connection_start > 0.0 {
        span(m, "tls_ms", t.secure_connection_start, t.connect_end, true);
    } else if t.connect_end > 0.0 {
        m("tls_ms", 0.0);
    }
    span(
        m,
        "request_ms",
        t.request_start,
        t.response_start,
        t.request_start > 0.0,
    );
    span(m, "ttfb_ms", 0.0, t.response_start, true);
    span(
        m,
        "response_ms",
        t.response_start,
        t.response_end,
        t.response_start > 0.0,
    );
    span(
        m,
        "dom_ms",
        t.response_end,
        t.dom_interactive,
        t.response_end > 0.0,
    );
    span(m, "dcl_ms", 0.0, t.dom_content_loaded_event_end, true);
    span(
        m,
        "load_event_ms",
        t.load_event_start,
        t.load_event_end,
        t.load_event_start > 0.0,
    );
    span(m, "total_ms", 0.0, t.load_event_end, true);
    if let Some(v) = fcp.filter(|v| *v > 0.0) {
        m("fcp_ms", round2(v));
    }
    if let Some(v) = lcp.filter(|v| *v > 0.0) {
        m("lcp_ms", round2(v));
    }
    if t.transfer_size >= 0.0 && t.response_end > 0.0 {
        m("transfer_bytes", t.transfer_size);
    }
}

/// A custom phase's metric name: `<phase>_ms`, with characters a metric name
/// cannot hold replaced by `_` (`app-ready` stays, `app ready` becomes `app_ready`).
/// `None` for an empty phase.
pub(crate) fn phase_metric(phase: &str) -> Option<String> {
    let mut s = String::with_capacity(phase.len() + 3);
    for c in phase.chars().take(60) {
        s.push(if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '_'
        });
    }
    if s.is_empty() {
        return None;
    }
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s.push_str("_ms");
    Some(s)
}

/// Garbage collection estimated from drops of the used heap between samples.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct GcEstimate {
    last_used: Option<f64>,
    /// Drops seen since the last report.
    count: u32,
    /// Bytes those drops released.
    reclaimed: f64,
}

impl GcEstimate {
    /// Notes a used-heap sample.
    pub(crate) fn observe(&mut self, used: f64) {
        if let Some(prev) = self.last_used {
            if used < prev {
                self.count += 1;
                self.reclaimed += prev - used;
            }
        }
        self.last_used = Some(used);
    }

    /// Returns (count, reclaimed bytes) since the last report and starts over.
    pub(crate) fn report(&mut self) -> (u32, f64) {
        let r = (self.count, self.reclaimed);
        self.count = 0;
        self.reclaimed = 0.0;
        r
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    /// The breakdown as `(metric, value)` pairs.
    fn breakdown(t: &NavTiming, fcp: Option<f64>, lcp: Option<f64>) -> Vec<(&'static str, f64)> {
        let mut m = Vec::with_capacity(16);
        breakdown_into(t, fcp, lcp, |name, v| m.push((name, v)));
        m
    }

    fn sample() -> NavTiming {
        NavTiming {
            redirect_start: 0.0,
            redirect_end: 0.0,
            domain_lookup_start: 2.0,
            domain_lookup_end: 5.0,
            connect_start: 5.0,
            connect_end: 30.0,
            secure_connection_start: 12.0,
            request_start: 30.5,
            response_start: 280.0,
            response_end: 300.0,
            dom_interactive: 450.0,
            dom_content_loaded_event_end: 470.0,
            load_event_start: 900.0,
            load_event_end: 905.5,
            transfer_size: 12_345.0,
        }
    }

    #[test]
    fn a_full_breakdown_is_consistent() {
        let m = breakdown(&sample(), Some(320.0), Some(610.25));
        let get = |k: &str| m.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get("redirect_ms"), None, "no redirect happened");
        assert_eq!(get("dns_ms"), Some(3.0));
        assert_eq!(get("connect_ms"), Some(25.0));
        assert_eq!(get("tls_ms"), Some(18.0));
        assert_eq!(get("request_ms"), Some(249.5));
        assert_eq!(get("ttfb_ms"), Some(280.0));
        assert_eq!(get("response_ms"), Some(20.0));
        assert_eq!(get("dom_ms"), Some(150.0));
        assert_eq!(get("dcl_ms"), Some(470.0));
        assert_eq!(get("load_event_ms"), Some(5.5));
        assert_eq!(get("total_ms"), Some(905.5));
        assert_eq!(get("fcp_ms"), Some(320.0));
        assert_eq!(get("lcp_ms"), Some(610.25));
        assert_eq!(get("transfer_bytes"), Some(12_345.0));
        let total = get("total_ms").unwrap();
        for (name, v) in &m {
            assert!(*v >= 0.0, "{name} negative");
            if name.ends_with("_ms") {
                assert!(*v <= total, "{name} {v} exceeds total {total}");
            }
        }
    }

    #[test]
    fn unknown_ends_are_left_out_not_negative() {
        let mut t = sample();
        t.load_event_end = 0.0; // the load event has not finished yet
        t.load_event_start = 0.0;
        let m = breakdown(&t, None, None);
        assert!(
            m.iter()
                .all(|(n, v)| *v >= 0.0 && *n != "total_ms" && *n != "load_event_ms"),
            "{m:?}"
        );
        let empty = breakdown(&NavTiming::default(), None, None);
        assert!(empty.iter().all(|(_, v)| *v == 0.0), "{empty:?}");
    }

    #[test]
    fn phase_names() {
        assert_eq!(phase_metric("app-ready").as_deref(), Some("app-ready_ms"));
        assert_eq!(phase_metric("app ready!").as_deref(), Some("app_ready__ms"));
        assert_eq!(phase_metric("1st").as_deref(), Some("_1st_ms"));
        assert_eq!(phase_metric(""), None);
        let long = phase_metric(&"a".repeat(200)).unwrap();
        assert!(usagelens_protocol::names::is_valid_name(&long), "{long}");
    }

    #[test]
    fn gc_estimate_counts_heap_drops() {
        let mut g = GcEstimate::default();
        for used in [10.0, 20.0, 15.0, 30.0, 5.0, 6.0] {
            g.observe(used);
        }
        assert_eq!(g.report(), (2, 30.0));
        assert_eq!(g.report(), (0, 0.0));
    }
}
