//! SPEC §8 (issue #15): the rate windows under many threads at once lose no outcome and
//! count none twice. Exact counts, no timing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use brama_core::engine::policy::Tallies;
use brama_core::engine::window::{Buckets, CountRing};

const THREADS: u64 = 4;
const REPORTS: u64 = 20_000;

#[test]
fn a_count_window_keeps_exactly_its_size_and_sums_what_it_holds() {
    for n in [1u32, 7, 100, 1_000] {
        let ring = Arc::new(CountRing::new(n));
        let start = Arc::new(Barrier::new(THREADS as usize));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (ring, start) = (Arc::clone(&ring), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for i in 0..REPORTS {
                        // Each thread its own mix, so replacements change the sums.
                        ring.record((i + t) % 3 == 0, (i * t) % 5 == 0);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let t = ring.tallies();
        // threads × reports == what the window holds + what it evicted.
        assert_eq!(ring.recorded(), THREADS * REPORTS, "n = {n}");
        assert_eq!(u64::from(t.calls), u64::from(n), "n = {n}");
        let evicted = ring.recorded() - u64::from(t.calls);
        assert_eq!(evicted, THREADS * REPORTS - u64::from(n));
        // The sums are the slots' outcomes, none lost, none twice.
        assert_eq!(t, ring.recount(), "n = {n}");
    }
}

#[test]
fn a_time_window_counts_every_outcome_once_across_rollovers() {
    let buckets = Arc::new(Buckets::new(Duration::from_millis(10))); // 1 ms buckets
    let now = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS as usize + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (b, now, start) = (Arc::clone(&buckets), Arc::clone(&now), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for i in 0..REPORTS {
                    b.record((i + t) % 2 == 0, false, now.load(Ordering::Relaxed));
                }
            })
        })
        .collect();
    start.wait();
    // The clock runs while they report: rollovers race the writers.
    for step in 1..=2_000u64 {
        now.store(step * 100_000, Ordering::Relaxed); // 0.1 ms steps
        std::hint::spin_loop();
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(buckets.recorded(), THREADS * REPORTS);
    assert_eq!(
        buckets.recorded(),
        buckets.held() + buckets.evicted(),
        "threads × reports == held + evicted"
    );
    let t: Tallies = buckets.tallies(now.load(Ordering::Relaxed));
    assert!(u64::from(t.calls) <= buckets.held());
}
