//! Process and allocator memory: [`memory_sample`] and the opt-in sampler
//! ([`Client::start_memory_sampler`]), which records one `memory` event per
//! interval from the worker thread, so it stops with the worker.
//!
//! The process figures come from the `memory-stats` crate: the resident set
//! (`/proc/self/statm` with the real page size on Linux, `task_info` on
//! macOS, the working set on Windows) and the virtual size. With the
//! `jemalloc` or `mimalloc` feature the allocator's own counters are added;
//! the SDK only reads them: the global allocator is the host's choice.

use crate::attrs::{Attrs, Measures};
use crate::client::FlushError;
use crate::Client;

/// One reading of the process's memory (see [`memory_sample`]). A figure the
/// platform does not give is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemorySample {
    /// Resident set size: bytes of the process in RAM (the working set on
    /// Windows). Measure `rss_bytes`.
    pub rss_bytes: Option<u64>,
    /// Virtual size: bytes of address space mapped (the pagefile usage on
    /// Windows). Measure `virtual_bytes`.
    pub virtual_bytes: Option<u64>,
    /// jemalloc's counters (feature `jemalloc`).
    #[cfg(feature = "jemalloc")]
    pub jemalloc: Option<JemallocStats>,
    /// mimalloc's counters (feature `mimalloc`).
    #[cfg(feature = "mimalloc")]
    pub mimalloc: Option<MimallocStats>,
}

/// jemalloc's statistics (`stats.*` after an `epoch` advance), in bytes.
/// Meaningful when the host's global allocator is jemalloc
/// (`tikv-jemallocator`); otherwise they describe an unused jemalloc.
#[cfg(feature = "jemalloc")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JemallocStats {
    /// Bytes allocated by the application (`stats.allocated`): live heap.
    pub allocated: u64,
    /// Bytes in active pages (`stats.active`): `allocated` plus the rest of
    /// the pages those allocations occupy.
    pub active: u64,
    /// Bytes in physically resident data pages mapped by the allocator
    /// (`stats.resident`), its metadata included.
    pub resident: u64,
    /// Bytes in chunks mapped by the allocator (`stats.mapped`).
    pub mapped: u64,
    /// Bytes of virtual memory retained for reuse rather than returned to
    /// the system (`stats.retained`); not resident.
    pub retained: u64,
    /// Bytes of the allocator's own metadata (`stats.metadata`).
    pub metadata: u64,
}

/// mimalloc's statistics (`mi_process_info`), in bytes. Meaningful when the
/// host's global allocator is mimalloc (the `mimalloc` crate). A release
/// build of mimalloc does not count allocated bytes, so its committed memory
/// is the closest figure.
#[cfg(feature = "mimalloc")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MimallocStats {
    /// Memory mimalloc holds committed (read/write accessible) now.
    pub committed: u64,
    /// The most it has held committed since the process started.
    pub peak_committed: u64,
}

/// The resident set size of this process in bytes, where the platform
/// tells it (Linux, macOS, Windows).
///
/// ```
/// # #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
/// assert!(usagelens::rss_bytes().unwrap() > 0);
/// ```
pub fn rss_bytes() -> Option<u64> {
    memory_stats::memory_stats().map(|m| m.physical_mem as u64)
}

/// Reads the process's memory and, with the `jemalloc` or `mimalloc`
/// feature, the allocator's counters: what a `memory` sample records.
///
/// ```
/// let m = usagelens::memory_sample();
/// # #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
/// assert!(m.rss_bytes.unwrap() > 0 && m.virtual_bytes.unwrap() >= m.rss_bytes.unwrap());
/// ```
pub fn memory_sample() -> MemorySample {
    let process = memory_stats::memory_stats();
    MemorySample {
        rss_bytes: process.map(|m| m.physical_mem as u64),
        virtual_bytes: process.map(|m| m.virtual_mem as u64),
        #[cfg(feature = "jemalloc")]
        jemalloc: jemalloc_stats(),
        #[cfg(feature = "mimalloc")]
        mimalloc: Some(mimalloc_stats()),
    }
}

#[cfg(feature = "jemalloc")]
fn jemalloc_stats() -> Option<JemallocStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // jemalloc caches its statistics; advancing the epoch refreshes them.
    epoch::advance().ok()?;
    Some(JemallocStats {
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
        mapped: stats::mapped::read().ok()? as u64,
        retained: stats::retained::read().ok()? as u64,
        metadata: stats::metadata::read().ok()? as u64,
    })
}

#[cfg(feature = "mimalloc")]
#[allow(unsafe_code)]
fn mimalloc_stats() -> MimallocStats {
    let null = std::ptr::null_mut();
    let (mut committed, mut peak_committed) = (0usize, 0usize);
    // SAFETY: every out-parameter of `mi_process_info` may be null; the two
    // that are not point to live, writable `usize`s. It is thread-safe.
    unsafe {
        libmimalloc_sys::mi_process_info(
            null,
            null,
            null,
            null,
            null,
            &mut committed,
            &mut peak_committed,
            null,
        );
    }
    MimallocStats {
        committed: committed as u64,
        peak_committed: peak_committed as u64,
    }
}

impl MemorySample {
    /// The sample as a `memory` event's metrics (names in the crate docs).
    pub(crate) fn measures(&self) -> Measures {
        let mut m = Measures::new();
        let mut put = |name: &'static str, v: Option<u64>| {
            if let Some(v) = v {
                m.push(name, v as f64);
            }
        };
        put("rss_bytes", self.rss_bytes);
        put("virtual_bytes", self.virtual_bytes);
        #[cfg(feature = "jemalloc")]
        if let Some(j) = self.jemalloc {
            put("jemalloc_allocated_bytes", Some(j.allocated));
            put("jemalloc_active_bytes", Some(j.active));
            put("jemalloc_resident_bytes", Some(j.resident));
            put("jemalloc_mapped_bytes", Some(j.mapped));
            put("jemalloc_retained_bytes", Some(j.retained));
            put("jemalloc_metadata_bytes", Some(j.metadata));
        }
        #[cfg(feature = "mimalloc")]
        if let Some(mi) = self.mimalloc {
            put("mimalloc_committed_bytes", Some(mi.committed));
            put("mimalloc_peak_committed_bytes", Some(mi.peak_committed));
        }
        m
    }
}

/// Records one `memory` sample into `queue` (the worker does, at each tick of the sampler).
pub(crate) fn record_sample(queue: &crate::queue::Queue) {
    let measures = memory_sample().measures();
    queue.push(
        "memory".into(),
        Attrs::new().with("source", "server"),
        measures,
    );
}

impl Client {
    /// Samples process memory every `interval` as `memory` events
    /// (`source=server`; the metrics are listed in the crate docs), the
    /// first one now. The samples are taken by the worker thread, so they
    /// stop when the client is shut down, or when every handle to it is
    /// dropped; calling it again changes the interval.
    ///
    /// ```no_run
    /// # let client = usagelens::Client::new(usagelens::Options::new("shop", "wk_…")).unwrap();
    /// client.start_memory_sampler(std::time::Duration::from_secs(30))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// Errors: the client is shut down, or `interval` is zero.
    pub fn start_memory_sampler(&self, interval: std::time::Duration) -> std::io::Result<()> {
        if interval.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the memory sampler's interval must be above 0",
            ));
        }
        self.send_control(crate::queue::Control::SampleMemory(interval))
            .map_err(|e: FlushError| std::io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    fn rss_is_plausible_and_grows_with_touched_memory() {
        let own = memory_stats::memory_stats().unwrap();
        let before = rss_bytes().unwrap();
        // The same reading as the crate's, give or take what moved between the two calls.
        assert!(
            before.abs_diff(own.physical_mem as u64) < 16 << 20,
            "{before} vs {}",
            own.physical_mem
        );
        let m = memory_sample();
        assert!(m.virtual_bytes.unwrap() >= m.rss_bytes.unwrap(), "{m:?}");
        const SIZE: usize = 64 << 20;
        // `vec![1; n]` writes every byte, so every page becomes resident.
        let block = std::hint::black_box(vec![1u8; SIZE]);
        let after = rss_bytes().unwrap();
        let own_after = memory_stats::memory_stats().unwrap().physical_mem as u64;
        assert!(
            after >= before + (SIZE as u64) * 3 / 4,
            "64 MiB touched: {before} -> {after}"
        );
        assert!(
            after.abs_diff(own_after) < 16 << 20,
            "{after} vs {own_after}"
        );
        drop(block);
    }

    #[test]
    fn a_sample_names_its_measures() {
        let m = MemorySample {
            rss_bytes: Some(10),
            virtual_bytes: None,
            ..MemorySample::default()
        };
        assert_eq!(m.measures(), Measures::new().with("rss_bytes", 10.0));
    }
}
