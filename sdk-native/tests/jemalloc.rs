//! The `jemalloc` feature with jemalloc as the global allocator, as a host
//! sets it: `memory` samples carry jemalloc's own counters.
//! Run with `cargo test -p usagelens-sdk-native --features jemalloc --test jemalloc`.

#![cfg(feature = "jemalloc")]

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[test]
fn allocated_grows_by_what_the_test_allocates() {
    const SIZE: u64 = 64 << 20;
    let before = usagelens::memory_sample().jemalloc.expect("jemalloc stats");
    let block = std::hint::black_box(vec![1u8; SIZE as usize]);
    let after = usagelens::memory_sample().jemalloc.expect("jemalloc stats");
    assert!(
        after.allocated >= before.allocated + SIZE,
        "{before:?} -> {after:?}"
    );
    assert!(after.active >= after.allocated, "{after:?}");
    assert!(
        after.resident >= SIZE && after.mapped >= after.active,
        "{after:?}"
    );
    assert!(after.metadata > 0, "{after:?}");
    let m = usagelens::memory_sample();
    assert!(
        m.rss_bytes.unwrap() >= SIZE,
        "the touched block is resident: {m:?}"
    );
    drop(block);
    let freed = usagelens::memory_sample().jemalloc.unwrap();
    assert!(
        freed.allocated + SIZE <= after.allocated + (1 << 20),
        "{freed:?}"
    );
}
