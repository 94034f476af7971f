//! The `mimalloc` feature with mimalloc as the global allocator, as a host
//! sets it: `memory` samples carry mimalloc's committed memory.
//! Run with `cargo test -p usagelens-sdk-native --features mimalloc --test mimalloc`.

#![cfg(feature = "mimalloc")]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[test]
fn committed_grows_by_what_the_test_allocates() {
    const SIZE: u64 = 64 << 20;
    let before = usagelens::memory_sample().mimalloc.expect("mimalloc stats");
    let block = std::hint::black_box(vec![1u8; SIZE as usize]);
    let after = usagelens::memory_sample().mimalloc.expect("mimalloc stats");
    assert!(
        after.committed >= before.committed + SIZE,
        "{before:?} -> {after:?}"
    );
    assert!(after.peak_committed >= after.committed, "{after:?}");
    drop(block);
}
