//! Zero allocations on the hot paths: a counting global allocator (this test binary
//! only) around `available`, `success`, `failure`, and `acquire` + report, by handle and
//! by key, on a closed circuit, with and without a subscriber to state changes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use brama_sync::{Brama, EventType, Filter, Key, ManualClock, OpenOptions, Options};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed to the system allocator with the caller's arguments; the
// wrapper only counts (per thread, so tests running in parallel do not see each other).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(mut f: impl FnMut()) -> u64 {
    // Warm up: thread-local lanes and the like are set up once per thread.
    f();
    let before = ALLOCS.with(Cell::get);
    for _ in 0..1_000 {
        f();
    }
    ALLOCS.with(Cell::get) - before
}

fn brama() -> (Brama, ManualClock) {
    let clock = ManualClock::new();
    let b = Brama::builder()
        .failure_threshold(u32::MAX)
        .clock(clock.clone())
        .build()
        .unwrap();
    b.register(Key::scoped("payments", "stripe"), Options::new())
        .unwrap();
    b.success(Key::scoped("payments", "stripe")).unwrap();
    (b, clock)
}

#[test]
fn the_counter_sees_allocations() {
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8]))), 1_000);
    let (b, _clock) = brama();
    // Reports with a reason to a Failure subscriber build events: they must be seen.
    let _sub = b.subscribe(Filter::new().event_types([EventType::Failure]));
    assert!(allocations(|| b.failure_with("payments/x", "nope").map_or((), drop)) == 0);
    assert!(
        allocations(|| b
            .failure_with(Key::scoped("payments", "stripe"), "timeout")
            .unwrap())
            >= 1_000
    );
}

#[test]
fn by_key_hot_paths_allocate_nothing() {
    let (b, _clock) = brama();
    let key = Key::scoped("payments", "stripe");
    assert_eq!(
        allocations(|| assert!(b.available(key))),
        0,
        "available by key"
    );
    assert_eq!(allocations(|| b.success(key).unwrap()), 0, "success by key");
    assert_eq!(allocations(|| b.failure(key).unwrap()), 0, "failure by key");
    b.success(key).unwrap();
    assert_eq!(
        allocations(|| assert!(!b.available("missing"))),
        0,
        "unknown key"
    );
}

#[test]
fn by_handle_hot_paths_allocate_nothing() {
    let (b, _clock) = brama();
    let h = b.connection(Key::scoped("payments", "stripe")).unwrap();
    assert_eq!(
        allocations(|| assert!(h.available())),
        0,
        "available by handle"
    );
    assert_eq!(allocations(|| h.success().unwrap()), 0, "success by handle");
    assert_eq!(allocations(|| h.failure().unwrap()), 0, "failure by handle");
    h.success().unwrap();
    assert_eq!(
        allocations(|| h.acquire().unwrap().success().unwrap()),
        0,
        "acquire + success"
    );
    assert_eq!(
        allocations(|| h.acquire().unwrap().failure().unwrap()),
        0,
        "acquire + failure"
    );
    assert_eq!(
        allocations(|| h.acquire().unwrap().ignore().unwrap()),
        0,
        "acquire + ignore"
    );
}

#[test]
fn open_rejection_allocates_nothing() {
    let (b, _clock) = brama();
    let key = Key::scoped("payments", "stripe");
    b.open_circuit(key, OpenOptions::new().duration(Duration::from_secs(60)))
        .unwrap();
    let h = b.connection(key).unwrap();
    assert_eq!(
        allocations(|| assert!(!h.available())),
        0,
        "open reject by handle"
    );
    assert_eq!(
        allocations(|| assert!(!b.available(key))),
        0,
        "open reject by key"
    );
    assert_eq!(
        allocations(|| assert!(h.acquire().is_err())),
        0,
        "acquire rejected"
    );
}

#[test]
fn a_state_change_subscriber_costs_reports_no_allocation() {
    let (b, _clock) = brama();
    let _sub = b.subscribe(Filter::new().event_types([EventType::StateChanged]));
    let h = b.connection(Key::scoped("payments", "stripe")).unwrap();
    assert_eq!(
        allocations(|| h.success().unwrap()),
        0,
        "success with a StateChanged subscriber"
    );
    assert_eq!(
        allocations(|| h.failure().unwrap()),
        0,
        "failure with a StateChanged subscriber"
    );
}
