//! The page's one thread: statics for the beacon's state, and (in the
//! `standalone` build) the allocator and panic handler of a `no_std` wasm.
//!
//! This module holds the crate's only `unsafe`.
#![allow(unsafe_code)]

use core::cell::RefCell;

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
compile_error!(
    "the beacon assumes one thread: build it without the `atomics` target feature \
     (wasm32-unknown-unknown's default)"
);

/// A static that lives on the page's one thread.
///
/// `RefCell` is not `Sync`, so a `static` cannot hold one; `std`'s
/// `thread_local!` would, but the shipped beacon links no `std`.
#[derive(Debug)]
pub(crate) struct PageLocal<T>(RefCell<T>);

// SAFETY: wasm32-unknown-unknown without the `atomics` target feature (checked
// above) has no threads: the value is only ever touched from the page's main
// thread, so sharing the reference cannot race. Natively (the crate's unit
// tests) no `PageLocal` is ever created.
unsafe impl<T> Sync for PageLocal<T> {}

impl<T> PageLocal<T> {
    /// A static holding `value`.
    pub(crate) const fn new(value: T) -> Self {
        Self(RefCell::new(value))
    }

    /// The cell.
    pub(crate) fn cell(&self) -> &RefCell<T> {
        &self.0
    }
}

#[cfg(all(target_arch = "wasm32", feature = "standalone"))]
mod standalone {
    use lol_alloc::{AssumeSingleThreaded, FreeListAllocator};

    // SAFETY: single threaded, as `PageLocal` above.
    #[global_allocator]
    static ALLOCATOR: AssumeSingleThreaded<FreeListAllocator> =
        unsafe { AssumeSingleThreaded::new(FreeListAllocator::new()) };

    /// The beacon never panics on purpose (every entry point gives up quietly
    /// instead). Should a bug panic anyway, the module traps without
    /// formatting a message (which would add kilobytes of `core::fmt`); the
    /// loader catches the trap, so the page never sees it.
    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        core::arch::wasm32::unreachable()
    }

    /// An allocation the allocator cannot serve traps too. `alloc`'s own
    /// handler formats "memory allocation of {size} bytes failed", which
    /// keeps integer formatting (600 B gzipped of `core::fmt`) in the wasm
    /// for a message no one reads. Only the shipped build sets the cfg
    /// (ADR 008); without it the beacon behaves the same, a little larger.
    #[cfg(usagelens_trap_oom)]
    #[alloc_error_handler]
    fn out_of_memory(_: core::alloc::Layout) -> ! {
        core::arch::wasm32::unreachable()
    }
}
