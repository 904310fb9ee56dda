//! Zero allocations on the hot paths: a counting global allocator (this test binary
//! only) around `available`, `success`, `failure`, and `acquire` + report, by handle and
//! by key, on a closed circuit, with and without a subscriber to state changes, and
//! under the rate policies' count and time windows (SPEC §8). An
//! error that is returned names its connection (SPEC §10), and that is its only
//! allocation: the identifier, and the scope when there is one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use brama_sync::{
    Brama, EventType, Filter, Key, ManualClock, OpenOptions, Options, State, TripPolicy, Window,
};

#[path = "common/poll.rs"]
mod poll;

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
    // An unknown key builds no event; its `NotFound` names it: one allocation.
    assert_eq!(
        allocations(|| b.failure_with("payments/x", "nope").map_or((), drop)),
        1_000
    );
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

/// Reports under a failure-rate policy, over a count window and a time window, by
/// handle and by key: successes alone, then a success and a failure an iteration, which
/// keeps the rate at one half (the policy opens at all failures). Under a manual clock
/// every report records in its window; under the system clock, with the janitor ticking
/// its cached reading, a time window's successes also take the quiet count
/// (`window/buckets/quiet.rs`), whose lanes are made by the warm-up's opening.
#[test]
fn rate_window_reports_allocate_nothing() {
    let count = TripPolicy::failure_rate(1.0)
        .window(Window::count(100))
        .minimum_calls(10);
    let time = TripPolicy::failure_rate(1.0)
        .window(Window::time(Duration::from_secs(60)))
        .minimum_calls(10);
    let manual = Brama::builder().clock(ManualClock::new()).build().unwrap();
    let system = Brama::builder().build().unwrap();
    for (b, clock) in [(&manual, "manual clock"), (&system, "system clock")] {
        for (name, policy) in [("count", count), ("time", time)] {
            // Successes alone first, while the window is clean (a time window's go
            // quiet under the system clock), then mixed.
            let key = Key::scoped("rate", name);
            b.register(key, Options::new().trip_policy(policy)).unwrap();
            b.success(key).unwrap();
            let h = b.connection(key).unwrap();
            // Once per window, not per call: the first opening to quiet successes (the
            // second success at a stamp; the first writes the stamp) makes the quiet
            // count's lanes (192 bytes, docs/configuration.md).
            for _ in 0..3 {
                h.success().unwrap();
            }
            assert_eq!(
                allocations(|| h.success().unwrap()),
                0,
                "{name} window, clean, successes by handle, {clock}"
            );
            assert_eq!(
                allocations(|| {
                    assert!(b.available(key));
                    b.success(key).unwrap();
                }),
                0,
                "{name} window, clean, successes by key, {clock}"
            );
            assert_eq!(
                allocations(|| {
                    h.success().unwrap();
                    h.failure().unwrap();
                }),
                0,
                "{name} window by handle, {clock}"
            );
            assert_eq!(
                allocations(|| {
                    assert!(b.available(key));
                    b.success(key).unwrap();
                    b.failure(key).unwrap();
                }),
                0,
                "{name} window by key, {clock}"
            );
            assert_eq!(b.state(key).unwrap(), State::Closed, "{name}, {clock}");
        }
    }
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
fn open_rejection_allocates_nothing_but_the_errors_names() {
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
    // The `Rejected` error names the connection: its identifier and its scope.
    assert_eq!(
        allocations(|| assert!(h.acquire().is_err())),
        2_000,
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

/// A waker that does nothing, made once outside the counted loops.
/// Polls `fut` to completion by hand (no executor, so nothing but the future itself
/// can allocate): pending once, then ready.
fn run<F: std::future::Future>(fut: F, waker: &std::task::Waker) -> F::Output {
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A future that is pending once (waking itself), then ready with `Ok(1)`.
fn yielding() -> impl std::future::Future<Output = Result<u32, ()>> {
    let mut polled = false;
    std::future::poll_fn(move |cx| {
        if polled {
            std::task::Poll::Ready(Ok(1))
        } else {
            polled = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}

/// SPEC §9: no allocation per guarded async call (the future is held in place).
#[test]
fn a_guarded_async_call_allocates_nothing() {
    let (b, _clock) = brama();
    let key = Key::scoped("payments", "stripe");
    let h = b.connection(key).unwrap();
    let waker = poll::noop_waker();
    assert_eq!(
        allocations(|| assert_eq!(run(h.call_async(yielding()), &waker), Ok(1))),
        0,
        "conn.call_async"
    );
    assert_eq!(
        allocations(|| {
            let out = run(
                h.call_async_with(
                    |_: &Result<u32, ()>| brama_sync::Outcome::Success,
                    yielding(),
                ),
                &waker,
            );
            assert_eq!(out.ok(), Some(1));
        }),
        0,
        "conn.call_async_with"
    );
    assert_eq!(
        allocations(|| assert!(run(b.call_async(key, yielding()), &waker).is_ok())),
        0,
        "brama.call_async by key"
    );
    let owned = || h.acquire_owned().unwrap().success().unwrap();
    assert_eq!(allocations(owned), 0, "acquire_owned + success");
    // Rejected on an open circuit: the refusal is an error value; what it allocates is
    // the identifier and the scope it names.
    b.open_circuit(key, OpenOptions::new()).unwrap();
    assert_eq!(
        allocations(|| assert!(run(h.call_async(yielding()), &waker).is_err())),
        2_000,
        "conn.call_async rejected"
    );
}

/// The tower layer's call path (feature `tower`): admitted calls allocate nothing
/// beyond what the inner service does (here, nothing).
#[cfg(feature = "tower")]
#[test]
fn a_call_through_the_tower_layer_allocates_nothing() {
    use tower::{Layer, Service};
    let (b, _clock) = brama();
    let layer = brama_sync::tower::BramaLayer::new(b.clone(), |_: &u32| {
        brama_sync::KeyBuf::from(("payments", "stripe"))
    });
    let mut svc = layer.layer(tower::service_fn(|n: u32| {
        std::future::ready(Ok::<_, ()>(n))
    }));
    let waker = poll::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert_eq!(
        allocations(|| {
            assert!(svc.poll_ready(&mut cx).is_ready());
            assert_eq!(run(svc.call(7), &waker), Ok(7));
        }),
        0,
        "BramaService::call"
    );
    // A failure and an ignored result are reported on the cell with the call's cycle
    // (not through the per-thread cache): nothing allocated either.
    let layer = brama_sync::tower::BramaLayer::new(b.clone(), |_: &u32| {
        brama_sync::KeyBuf::from(("payments", "stripe"))
    })
    .classify(|r: &Result<u32, u32>| match r {
        Ok(0) => brama_sync::Outcome::Ignore,
        Ok(_) => brama_sync::Outcome::Success,
        Err(_) => brama_sync::Outcome::Failure,
    });
    let mut svc = layer.layer(tower::service_fn(|n: u32| {
        std::future::ready(if n % 2 == 1 { Err(n) } else { Ok(n) })
    }));
    let mut n = 0u32;
    assert_eq!(
        allocations(|| {
            n += 1;
            assert!(svc.poll_ready(&mut cx).is_ready());
            let _ = run(svc.call(n % 4), &waker);
            b.success(("payments", "stripe")).unwrap(); // keep the circuit closed
        }),
        0,
        "BramaService::call failing and ignored"
    );
    // Refused on an open circuit: the rejection names the connection, and that is all
    // it allocates (the future keeps the names until its first poll, not copied).
    b.open_circuit(
        ("payments", "stripe"),
        OpenOptions::new().duration(Duration::from_secs(60)),
    )
    .unwrap();
    assert_eq!(
        allocations(|| {
            assert!(svc.poll_ready(&mut cx).is_ready());
            let refused = run(svc.call(2), &waker).unwrap_err();
            assert!(refused.is_rejected());
        }),
        2_000,
        "BramaService::call rejected"
    );
}
