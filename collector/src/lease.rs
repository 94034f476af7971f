//! Leases: how exactly one collector at a time runs a singleton job (the
//! rollup builder, the alert evaluator) when several share a store.
//!
//! A lease is a document in MongoDB (`leases`, docs/storage.md) naming its
//! holder and an expiry. A collector takes it only when it has expired, in
//! one atomic `findOneAndUpdate`, so two never take it together; the holder
//! renews it every third of its time to live; a holder that dies stops
//! renewing, and another collector takes it over once it expires (within
//! [`Lease::ttl`] plus one renewal period). Every take increments the
//! lease's `epoch`: a holder that was paused past its expiry finds its
//! renewal refused and stops, rather than running on beside the new holder.
//!
//! Expiry is wall-clock time, each collector's own ([`Clock`]), and the
//! holder stops counting itself the holder a [`Lease::margin`] (a third of
//! the time to live) before the expiry it wrote: the collectors' clocks
//! may disagree by up to that much (NTP keeps them within milliseconds).
//!
//! ```no_run
//! # async fn run(store: usagelens_collector::Store) -> Result<(), usagelens_collector::StoreError> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use usagelens_collector::clock::SystemClock;
//! use usagelens_collector::lease::Lease;
//!
//! let mut lease = Lease::new(store, "rollups", Duration::from_secs(10), Arc::new(SystemClock));
//! if lease.keep().await? {
//!     // This collector holds it: do the work, calling `keep` every `renew_every()`.
//! }
//! lease.release().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::store::{LeaseRecord, Store, StoreError};

/// The time to live of the collector's leases unless configured.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// One collector's handle on a lease.
#[derive(Debug)]
pub struct Lease {
    store: Store,
    clock: Arc<dyn Clock>,
    name: String,
    holder: String,
    ttl: Duration,
    held: Option<LeaseRecord>,
}

/// This process's holder id: host, process id and a random part (two
/// collectors in one process, as in tests, hold different ids).
fn holder_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "collector".into());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

impl Lease {
    /// A handle on the lease `name` (not taken yet: call [`Lease::keep`]).
    /// `ttl` is at least 3 ms.
    pub fn new(
        store: Store,
        name: impl Into<String>,
        ttl: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            clock,
            name: name.into(),
            holder: holder_id(),
            ttl: ttl.max(Duration::from_millis(3)),
            held: None,
        }
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This handle's holder id, as the lease document records it.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How long a take or a renewal holds the lease.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How often the holder renews it, and a standby collector tries to
    /// take it: a third of the time to live.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// How long before the expiry it wrote the holder stops counting itself
    /// the holder: the clock skew between collectors the lease tolerates.
    pub fn margin(&self) -> Duration {
        self.ttl / 3
    }

    /// Renews the lease if this handle holds it, else takes it if it is
    /// free; whether this handle holds it now. On a store error nothing
    /// changes: a held lease stays held until its margin, and the error is
    /// returned.
    pub async fn keep(&mut self) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let until = now.saturating_add(self.ttl.as_millis() as i64);
        let leases = self.store.leases();
        if let Some(h) = &self.held {
            match leases
                .renew(&self.name, &self.holder, h.epoch, now, until)
                .await?
            {
                Some(r) => {
                    self.held = Some(r);
                    return Ok(true);
                }
                None => {
                    tracing::warn!(
                        lease = self.name,
                        epoch = h.epoch,
                        "lost the lease: another collector took it"
                    );
                    self.held = None;
                }
            }
        }
        self.held = leases.take(&self.name, &self.holder, now, until).await?;
        if let Some(r) = &self.held {
            tracing::info!(lease = self.name, epoch = r.epoch, "took the lease");
        }
        Ok(self.held.is_some())
    }

    /// Whether this handle holds the lease now: it took or renewed it, and
    /// the expiry it wrote is more than [`Lease::margin`] away.
    pub fn is_held(&self) -> bool {
        let margin = self.margin().as_millis() as i64;
        self.held
            .as_ref()
            .is_some_and(|h| self.clock.now_ms() < h.until_ms.saturating_sub(margin))
    }

    /// How long this handle may still count itself the holder (zero when it
    /// does not hold the lease): until the expiry it wrote, less the margin.
    pub fn held_for(&self) -> Duration {
        let margin = self.margin().as_millis() as i64;
        let left = self.held.as_ref().map_or(0, |h| {
            h.until_ms.saturating_sub(margin) - self.clock.now_ms()
        });
        Duration::from_millis(left.max(0) as u64)
    }

    /// The epoch of the lease this handle holds (a fencing token: writes a
    /// holder makes can carry it).
    pub fn epoch(&self) -> Option<i64> {
        self.held.as_ref().map(|h| h.epoch)
    }

    /// Gives the lease up now, so another collector takes it at once (at
    /// shutdown). Nothing to do if this handle does not hold it.
    pub async fn release(&mut self) -> Result<(), StoreError> {
        if let Some(h) = self.held.take() {
            let now = self.clock.now_ms();
            if self
                .store
                .leases()
                .release(&self.name, &self.holder, h.epoch, now)
                .await?
            {
                tracing::info!(lease = self.name, epoch = h.epoch, "released the lease");
            }
        }
        Ok(())
    }

    /// The lease as stored (whoever holds it), if it was ever taken.
    pub async fn current(&self) -> Result<Option<LeaseRecord>, StoreError> {
        self.store.leases().get(&self.name).await
    }
}
