//! Rate limits per client address (requests) and per app (events), with
//! governor's GCRA. `Retry-After` is the time until the request would pass.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// A request or batch over a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded for {scope}: retry after {retry_after} s")]
pub(crate) struct RateLimited {
    /// `this client address` or `app <id>`.
    pub(crate) scope: String,
    /// Seconds until it would pass.
    pub(crate) retry_after: u64,
}

/// A rate: so many per second, with a burst of twice that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate(pub(crate) u32);

impl Rate {
    fn quota(self) -> Option<Quota> {
        let per_sec = NonZeroU32::new(self.0)?;
        let burst = NonZeroU32::new(self.0.saturating_mul(2)).unwrap_or(per_sec);
        Some(Quota::per_second(per_sec).allow_burst(burst))
    }
}

/// The collector's rate limiters; a rate of 0 turns one off.
#[derive(Debug)]
pub(crate) struct Limits {
    ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    app: Option<DefaultKeyedRateLimiter<String>>,
    app_burst: u32,
}

fn check<K: Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    n: u32,
    scope: impl FnOnce() -> String,
) -> Result<(), RateLimited> {
    let Some(n) = NonZeroU32::new(n) else {
        return Ok(());
    };
    match limiter.check_key_n(key, n) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Err(RateLimited {
                scope: scope(),
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            })
        }
        // Unreachable: callers cap `n` at the burst.
        Err(_) => Err(RateLimited {
            scope: scope(),
            retry_after: 1,
        }),
    }
}

impl Limits {
    /// Limits of `ip_requests` requests/s per client address and
    /// `app_events` events/s per app (bursts of twice as many).
    pub(crate) fn new(ip_requests: Rate, app_events: Rate) -> Self {
        Self {
            ip: ip_requests.quota().map(DefaultKeyedRateLimiter::keyed),
            app: app_events.quota().map(DefaultKeyedRateLimiter::keyed),
            app_burst: app_events.0.saturating_mul(2),
        }
    }

    /// Counts one request from `ip`.
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), RateLimited> {
        match &self.ip {
            Some(l) => check(l, &ip, 1, || "this client address".to_owned()),
            None => Ok(()),
        }
    }

    /// Counts `events` events for `app`. A batch larger than the burst
    /// passes when the app's bucket is full (it counts as the whole burst),
    /// so a low rate never makes a valid batch impossible to send.
    pub(crate) fn check_app(&self, app: &str, events: usize) -> Result<(), RateLimited> {
        let n = events.min(self.app_burst as usize) as u32;
        match &self.app {
            Some(l) => check(l, &app.to_owned(), n, || format!("app `{app}`")),
            None => Ok(()),
        }
    }

    /// Forgets keys whose buckets are full again (bounded memory under many addresses).
    pub(crate) fn prune(&self) {
        if let Some(l) = &self.ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.app {
            l.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_with_retry_after() {
        let l = Limits::new(Rate(2), Rate(10));
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        // Burst of 4 requests, then limited; another address is independent.
        for _ in 0..4 {
            l.check_ip(a).unwrap();
        }
        match l.check_ip(a) {
            Err(RateLimited { retry_after, .. }) => assert!(retry_after >= 1),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        l.check_ip(b).unwrap();
        // 20 events burst per app, counted in events.
        l.check_app("x", 15).unwrap();
        assert!(l.check_app("x", 10).is_err());
        l.check_app("y", 20).unwrap();
        l.check_app("z", 500).unwrap();
        assert!(
            l.check_app("z", 1).is_err(),
            "a batch over the burst passes on a full bucket and takes all of it"
        );
        l.check_app("x", 0).unwrap();
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let l = Limits::new(Rate(0), Rate(0));
        for _ in 0..1000 {
            l.check_ip(IpAddr::from([1, 1, 1, 1])).unwrap();
            l.check_app("x", 1000).unwrap();
        }
    }
}
