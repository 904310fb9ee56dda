//! Issue #20, defects 4 and 5: event memory is bounded by size, not only by count.
//! Reasons are cut to `MAX_REASON_BYTES` and stored once per event; an event queued by
//! many subscribers is one allocation, not one per subscriber; a subscription
//! allocates nothing for its queue until events come, whatever its capacity.
//!
//! A global allocator (this test binary only) tracks the bytes live; the tests take
//! one lock so that none measures while another allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Mutex;

use brama_sync::{
    Brama, EventKind, EventType, Filter, ManualClock, OpenOptions, Options, Subscription,
    MAX_EVENT_QUEUE_CAPACITY, MAX_REASON_BYTES, TRUNCATED_REASON_MARK,
};

struct Live;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

// SAFETY: every call is passed to the system allocator with the caller's arguments; the
// wrapper only adds up the sizes.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn brama() -> Brama {
    let b = Brama::builder()
        .failure_threshold(u32::MAX)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    b.register("db", Options::new()).unwrap();
    b
}

#[test]
fn a_long_reason_is_cut_marked_and_stored_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let b = Brama::builder()
        .failure_threshold(1)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    b.register("db", Options::new()).unwrap();
    let sub = b.subscribe(Filter::new());
    let long = "é".repeat(100_000); // 200,000 bytes, two per character
    b.failure_with("db", &long).unwrap(); // trips: a Failure and a StateChanged
    b.close_circuit("db").unwrap();
    b.open_circuit("db", OpenOptions::new().reason(long.as_str()))
        .unwrap();
    let events: Vec<_> = sub.try_iter().collect();
    let failure = events
        .iter()
        .find(|e| e.event_type() == EventType::Failure)
        .unwrap();
    let EventKind::Failure { reason: Some(kept) } = &failure.kind else {
        panic!("the failure's reason is in its kind: {failure:?}");
    };
    assert!(kept.len() <= MAX_REASON_BYTES, "{} bytes", kept.len());
    assert!(kept.ends_with(TRUNCATED_REASON_MARK));
    let prefix = kept.strip_suffix(TRUNCATED_REASON_MARK).unwrap();
    assert!(long.starts_with(prefix) && prefix.len() > MAX_REASON_BYTES / 2);
    assert_eq!(failure.reason, None, "stored once: not again on the event");
    assert_eq!(failure.reason_text(), Some(kept.as_str()));
    // The trip and the manual open carry the same cut reason.
    let changes: Vec<_> = events
        .iter()
        .filter(|e| e.event_type() == EventType::StateChanged)
        .filter_map(|e| e.reason.as_deref())
        .collect();
    assert_eq!(changes, [kept.as_str(), kept.as_str()]);
    // A reason at the limit is kept whole.
    let exact = "x".repeat(MAX_REASON_BYTES);
    b.close_circuit("db").unwrap();
    b.configure("db", Options::new().failure_threshold(1000))
        .unwrap();
    let sub2 = b.subscribe(Filter::new().event_type(EventType::Failure));
    b.failure_with("db", &exact).unwrap();
    assert_eq!(sub2.try_recv().unwrap().reason_text(), Some(exact.as_str()));
}

#[test]
fn a_full_queue_of_failures_with_huge_reasons_stays_small() {
    // Before: each queued Failure kept its whole reason twice; 1,024 of 64 KiB held
    // 128 MiB (with 1 MiB reasons, the reported 2 GiB).
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let b = brama();
    let sub = b.subscribe(Filter::new().event_type(EventType::Failure));
    let reason = "r".repeat(64 * 1024);
    let before = live();
    for _ in 0..1024 {
        b.failure_with("db", &reason).unwrap();
    }
    let grown = live() - before;
    assert_eq!(sub.try_iter().count(), 1024);
    // An event is a few hundred bytes plus its reason (at most MAX_REASON_BYTES).
    let bound = 1024 * (MAX_REASON_BYTES + 1024);
    assert!(
        grown < bound as isize,
        "{grown} bytes for 1,024 queued events"
    );
}

#[test]
fn an_event_queued_by_many_subscribers_is_stored_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let grown = |subscribers: usize| {
        let b = brama();
        let subs: Vec<Subscription> = (0..subscribers)
            .map(|_| b.subscribe(Filter::new().event_type(EventType::Failure)))
            .collect();
        let reason = "r".repeat(MAX_REASON_BYTES);
        let before = live();
        for _ in 0..512 {
            b.failure_with("db", &reason).unwrap();
        }
        let grown = live() - before;
        assert!(subs.iter().all(|s| s.try_iter().count() == 512));
        grown
    };
    let one = grown(1);
    let ten = grown(10);
    // Ten queues add a queue slot per event each (an event-sized slot, at most twice
    // over for the queue's growth), not a copy of its key and reason.
    let slots = 9 * 512 * 2 * std::mem::size_of::<brama_sync::Event>() as isize;
    assert!(
        ten < one + slots,
        "one subscriber: {one} bytes; ten: {ten} bytes (slots: {slots}; a copy each \
         would be ~{})",
        one * 10
    );
}

#[test]
fn a_subscription_allocates_its_queue_as_events_come() {
    // Before: the whole queue up front, 160 MiB at the largest capacity.
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let b = brama();
    b.set_event_queue_capacity(MAX_EVENT_QUEUE_CAPACITY)
        .unwrap();
    let before = live();
    let sub = b.subscribe(Filter::new());
    let grown = live() - before;
    assert_eq!(sub.capacity(), MAX_EVENT_QUEUE_CAPACITY);
    assert!(grown < 4096, "{grown} bytes for an empty subscription");
}
