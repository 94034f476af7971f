//! The process memory sampler (opt-in): `memory` events with
//! `source=server` and `rss_bytes` (resident set, from `/proc/self/statm` on
//! Linux) every interval, on a named thread that stops with the client.

use std::time::Duration;

use usagelens_protocol::{Dims, Metrics};

use crate::Client;

/// The resident set size of this process, where the platform tells it.
pub fn rss_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        // statm counts pages; 4 KiB on x86_64 and most aarch64 kernels.
        Some(pages * 4096)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

impl Client {
    /// Starts sampling process memory every `interval` as `memory` events
    /// (`source=server`, `rss_bytes`). The sampler stops when the client is
    /// shut down.
    pub fn start_memory_sampler(&self, interval: Duration) -> std::io::Result<()> {
        let client = self.clone();
        std::thread::Builder::new()
            .name("usagelens-memory".into())
            .spawn(move || loop {
                if let Some(rss) = rss_bytes() {
                    client.track(
                        "memory",
                        Dims::new().with("source", "server"),
                        Metrics::new().with("rss_bytes", rss),
                    );
                }
                if client.is_shut_down() {
                    return;
                }
                std::thread::sleep(interval);
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn rss_is_read() {
        let rss = super::rss_bytes().unwrap();
        assert!(rss > 1024 * 1024, "{rss}");
    }
}
