//! The client's address behind proxies, for the per-address rate limit
//! (ADR 007). Each proxy appends the address it was connected from to
//! `X-Forwarded-For`, so only the right end of the list was written by
//! proxies we trust; everything to the left of the client's own entry is
//! the client's to choose. So the list is read from the right:
//!
//! - `--trusted-proxy-hops N`: the entry `N` from the right (fewer entries:
//!   the left-most, as Express does);
//! - `--trusted-proxies NETS`: when the peer is in `NETS`, the right-most
//!   entry outside them (all inside: the left-most), as nginx's
//!   `real_ip_recursive` does.
//!
//! Several `X-Forwarded-For` headers are one list, in order. An entry is an
//! address, optionally with a port (`203.0.113.7:5123`, `[2001:db8::1]:443`)
//! or brackets; an entry that is not (`unknown`, empty, not text) where the
//! client's entry is looked for falls back to the TCP peer. IPv4-mapped
//! IPv6 addresses count as their IPv4 address.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::config::ForwardedFor;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address: the TCP `peer`, or the entry of `X-Forwarded-For`
/// that `policy` trusts.
pub(super) fn client_ip(policy: ForwardedFor<'_>, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.to_canonical();
    match policy {
        ForwardedFor::Ignored => peer,
        ForwardedFor::Hops(n) => {
            let mut left_most = None;
            for (i, entry) in entries_from_right(headers).enumerate() {
                let Some(ip) = entry else {
                    return peer;
                };
                if i + 1 >= n as usize {
                    return ip;
                }
                left_most = Some(ip);
            }
            left_most.unwrap_or(peer)
        }
        ForwardedFor::Networks(nets) => {
            if !trusted(nets, peer) {
                return peer;
            }
            let mut left_most = None;
            for entry in entries_from_right(headers) {
                match entry {
                    None => return peer,
                    Some(ip) if trusted(nets, ip) => left_most = Some(ip),
                    Some(ip) => return ip,
                }
            }
            left_most.unwrap_or(peer)
        }
    }
}

fn trusted(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

/// The entries of every `X-Forwarded-For` header, right to left; `None` for
/// one that is not an address (a header value that is not text is one).
fn entries_from_right(headers: &HeaderMap) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        .flat_map(|value| {
            let (entries, not_text) = match value.to_str() {
                Ok(text) => (Some(text.rsplit(',')), None),
                Err(_) => (None, Some(None)),
            };
            entries
                .into_iter()
                .flatten()
                .map(parse_entry)
                .chain(not_text)
        })
}

/// `203.0.113.7`, `203.0.113.7:5123`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse::<IpAddr>().ok())
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                X_FORWARDED_FOR,
                axum::http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        h
    }

    const PEER: &str = "10.0.0.2";

    fn hops(n: u32, values: &[&[u8]]) -> IpAddr {
        client_ip(ForwardedFor::Hops(n), ip(PEER), &headers(values))
    }

    fn nets(values: &[&[u8]]) -> IpAddr {
        let nets: Vec<IpNet> = ["10.0.0.0/8", "fd00::/8"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        client_ip(ForwardedFor::Networks(&nets), ip(PEER), &headers(values))
    }

    #[test]
    fn ignored_unless_configured() {
        let h = headers(&[b"1.2.3.4"]);
        assert_eq!(client_ip(ForwardedFor::Ignored, ip(PEER), &h), ip(PEER));
        assert_eq!(
            client_ip(ForwardedFor::Ignored, ip("::ffff:10.0.0.9"), &h),
            ip("10.0.0.9"),
            "an IPv4-mapped peer is its IPv4 address"
        );
    }

    #[test]
    fn hops_count_from_the_right() {
        // The client wrote `6.6.6.6`; our one proxy appended the real address.
        assert_eq!(hops(1, &[b"6.6.6.6, 203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(hops(1, &[b"203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(
            hops(2, &[b"6.6.6.6, 203.0.113.7, 10.1.1.1"]),
            ip("203.0.113.7")
        );
        // Several headers are one list, in order.
        assert_eq!(
            hops(2, &[b"6.6.6.6", b"203.0.113.7", b"10.1.1.1"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            hops(1, &[b"203.0.113.7", b"6.6.6.6, 7.7.7.7"]),
            ip("7.7.7.7")
        );
        // Fewer entries than hops: the left-most.
        assert_eq!(hops(3, &[b"203.0.113.7, 10.1.1.1"]), ip("203.0.113.7"));
        // No header: the peer.
        assert_eq!(hops(1, &[]), ip(PEER));
    }

    #[test]
    fn networks_take_the_right_most_untrusted() {
        assert_eq!(
            nets(&[b"6.6.6.6, 203.0.113.7, 10.1.1.1, fd00::5"]),
            ip("203.0.113.7")
        );
        assert_eq!(nets(&[b"10.9.9.9, 10.1.1.1"]), ip("10.9.9.9"), "all ours");
        assert_eq!(nets(&[]), ip(PEER));
        // A peer outside the networks is the client, whatever it sends.
        let nets_: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[b"6.6.6.6"]);
        assert_eq!(
            client_ip(ForwardedFor::Networks(&nets_), ip("203.0.113.9"), &h),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ForwardedFor::Networks(&nets_), ip("::ffff:10.0.0.1"), &h),
            ip("6.6.6.6"),
            "an IPv4-mapped peer matches an IPv4 network"
        );
    }

    #[test]
    fn ports_brackets_and_ipv6() {
        for (entry, want) in [
            ("203.0.113.7:5123", "203.0.113.7"),
            (" 2001:db8::1 ", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
        ] {
            assert_eq!(hops(1, &[entry.as_bytes()]), ip(want), "{entry}");
        }
    }

    #[test]
    fn malformed_entries_fall_back_to_the_peer() {
        for bad in [
            &b"unknown"[..],
            b"",
            b"6.6.6.6,",
            b"203.0.113.7 6.6.6.6",
            b"[2001:db8::1",
            b"fe80::1%eth0",
            b"999.1.1.1",
            b"\xff\xfe",
            b"_hidden",
        ] {
            assert_eq!(hops(1, &[bad]), ip(PEER), "{bad:?}");
            assert_eq!(nets(&[bad]), ip(PEER), "{bad:?}");
        }
        // Only the entries up to the client's are read: junk to its left is
        // the client's own and does not matter.
        assert_eq!(hops(1, &[b"junk, 203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(nets(&[b"junk, 203.0.113.7, 10.1.1.1"]), ip("203.0.113.7"));
        // A malformed entry where a proxy's should be: the peer.
        assert_eq!(hops(2, &[b"203.0.113.7, junk"]), ip(PEER));
        assert_eq!(nets(&[b"203.0.113.7, junk"]), ip(PEER));
        // A long header of garbage costs one pass and no panic.
        let long = "x,".repeat(100_000);
        assert_eq!(hops(1, &[long.as_bytes()]), ip(PEER));
    }
}
