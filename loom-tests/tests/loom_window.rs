//! SPEC §8 (issue #15): the rate windows' lock-free updates. Two reports racing on one
//! slot of a count window, and reports racing a time window's bucket rollover, lose no
//! outcome and count none twice; the twins with a plain store in place of the
//! compare-and-swap are caught.
#![cfg(brama_loom)]

mod support;

use brama_core::engine::policy::Tallies;
use brama_core::engine::window::{Buckets, CountRing};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

#[test]
fn two_reports_racing_on_one_count_slot() {
    support::check("window/count slot", || {
        // One slot: the two reports replace each other; whichever is later stays.
        let ring = Arc::new(CountRing::new(1));
        let handles: Vec<_> = [true, false]
            .into_iter()
            .map(|failure| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || {
                    ring.record(failure, false);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(ring.recorded(), 2);
        let t = ring.tallies();
        assert_eq!(t.calls, 1, "the window holds exactly one call");
        assert_eq!(t, ring.recount(), "the sums are the slot's outcome");
    });
}

#[test]
fn reports_racing_into_a_two_slot_window() {
    support::check("window/count two", || {
        let ring = Arc::new(CountRing::new(2));
        ring.record(true, true);
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || {
                    ring.record(i == 0, false);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let t = ring.tallies();
        assert_eq!(t, ring.recount());
        assert_eq!(t.calls, 2);
        assert_eq!(t.slow, 0, "the first outcome left the window");
    });
}

#[test]
fn reports_racing_a_bucket_rollover() {
    support::check("window/rollover", || {
        // Buckets of 1 ns: epoch 0 and epoch 10 share bucket 0.
        let b = Arc::new(Buckets::new(Duration::from_nanos(10)));
        b.record(true, false, 0);
        let handles: Vec<_> = [0u64, 10]
            .into_iter()
            .map(|now| {
                let b = Arc::clone(&b);
                thread::spawn(move || {
                    b.record(false, false, now);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.recorded(), 3);
        assert_eq!(
            b.recorded(),
            b.held() + b.evicted(),
            "none lost, none twice"
        );
        // Whatever the order, epoch 10 holds its own report and nothing older.
        assert_eq!(
            b.tallies(10),
            Tallies {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    });
}

// ----- the broken twin ----------------------------------------------------------------

/// A count slot replaced by load-then-store instead of a compare-and-swap, with the
/// sums changed by the difference, as `CountRing::record` does.
fn record_broken(slot: &AtomicU64, sums: &AtomicU64, next: &AtomicU64, failure: bool) {
    let i = next.fetch_add(1, Ordering::Relaxed);
    let mine = (i + 1) << 2 | u64::from(failure);
    let old = slot.load(Ordering::Acquire);
    // BROKEN: `CountRing::record` replaces with compare_exchange and retries.
    slot.store(mine, Ordering::Release);
    let weight = |v: u64| if v == 0 { 0 } else { 1 | (v & 1) << 21 };
    sums.fetch_add(weight(mine).wrapping_sub(weight(old)), Ordering::AcqRel);
}

#[test]
#[should_panic(expected = "sums match the slot")]
fn broken_store_replacement_is_caught() {
    support::check("window/broken twin", || {
        let slot = Arc::new(AtomicU64::new(0));
        let sums = Arc::new(AtomicU64::new(0));
        let next = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = [true, false]
            .into_iter()
            .map(|failure| {
                let (slot, sums, next) = (Arc::clone(&slot), Arc::clone(&sums), Arc::clone(&next));
                thread::spawn(move || record_broken(&slot, &sums, &next, failure))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Both read the empty slot: each adds a call, one outcome is overwritten, and
        // the sums count two calls for one slot.
        let calls = sums.load(Ordering::Acquire) & ((1 << 21) - 1);
        assert_eq!(calls, 1, "sums match the slot");
    });
}
