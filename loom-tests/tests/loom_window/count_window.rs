//! Count windows (`CountRing`): reports racing on a slot, an absorbed report, a clear in place.

use crate::support;
use brama_core::engine::window::{CountRing, Fate};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

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
        assert_eq!(ring.taken(), 2);
        assert_eq!(ring.in_flight(), 0);
        let t = ring.tallies();
        assert_eq!(t.calls, 1, "the window holds exactly one call");
        assert_eq!(t, ring.recount(), "the sums are the slot's outcome");
    });
}

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
fn an_absorbed_report_racing_another_is_ordered_before_it() {
    support::check("window/absorb", || {
        // A full ring of one success: another success may be absorbed, a failure not.
        let ring = Arc::new(CountRing::new(1));
        ring.record(false, false);
        let a = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.record(false, false).1)
        };
        let b = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.record(true, false).1)
        };
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        assert_eq!(b, Fate::Taken);
        let t = ring.tallies();
        assert_eq!(t, ring.recount());
        assert_eq!(t.calls, 1);
        if a == Fate::Absorbed {
            // Absorbed only while nothing was in flight: before the failure, which
            // is then the last outcome.
            assert_eq!(t.failures, 1, "an absorbed success came after the failure");
            assert_eq!(ring.taken(), 2);
        } else {
            assert_eq!(ring.taken(), 3);
        }
    });
}

#[test]
fn a_clear_racing_a_report() {
    support::check("window/clear", || {
        let ring = Arc::new(CountRing::new(2));
        ring.record(true, false);
        ring.record(false, false);
        let clear = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.try_clear())
        };
        let report = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.record(true, false).1)
        };
        let (cleared, fate) = (clear.join().unwrap(), report.join().unwrap());
        assert_eq!(ring.in_flight(), 0);
        let t = ring.tallies();
        assert_eq!(t, ring.recount(), "sums match the slots");
        match (cleared, fate) {
            // The report went first and was in flight at the clear: nothing cleared.
            (false, _) => assert_eq!((t.calls, t.failures), (2, 1)),
            // The report found the ring claimed: ordered before the clear.
            (true, Fate::Cleared) => assert_eq!(t.calls, 0),
            // Before the clear (cleared with the rest) or after it (alone).
            (true, _) => assert!(t.calls == 0 || (t.calls, t.failures) == (1, 1)),
        }
    });
}

/// A one-slot ring as `CountRing` keeps it (`next` with reports in flight in bits
/// 1..16, `base`, `sums` of calls and failures), with a clear that checks for reports
/// in flight and then resets, without claiming the ring first.
struct TwinRing {
    next: AtomicU64,
    base: AtomicU64,
    sums: AtomicU64,
    slot: AtomicU64,
}

impl TwinRing {
    fn weight(v: u64, base: u64) -> u64 {
        if v >> 2 <= base {
            0
        } else {
            1 | (v & 1) << 21
        }
    }

    fn record(&self, failure: bool) {
        let i = self.next.fetch_add((1 << 16) + 2, Ordering::Acquire) >> 16;
        let base = self.base.load(Ordering::Relaxed);
        let mine = (i + 1) << 2 | u64::from(failure);
        let mut cur = self.slot.load(Ordering::Relaxed);
        while let Err(c) =
            self.slot
                .compare_exchange_weak(cur, mine, Ordering::Relaxed, Ordering::Relaxed)
        {
            cur = c;
        }
        let delta = Self::weight(mine, base).wrapping_sub(Self::weight(cur, base));
        self.sums.fetch_add(delta, Ordering::AcqRel);
        self.next.fetch_sub(2, Ordering::Release);
    }

    fn clear_broken(&self) {
        let seen = self.next.load(Ordering::Acquire);
        if seen & 0xfffe != 0 {
            return;
        }
        // BROKEN: `CountRing::try_clear` claims the ring with a compare-and-swap here,
        // so that no report can start between the check and the reset.
        self.base.store(seen >> 16, Ordering::Relaxed);
        self.sums.store(0, Ordering::Release);
    }
}

#[test]
#[should_panic(expected = "sums match the slot")]
fn broken_unclaimed_clear_is_caught() {
    support::check("window/broken clear twin", || {
        let ring = Arc::new(TwinRing {
            next: AtomicU64::new(0),
            base: AtomicU64::new(0),
            sums: AtomicU64::new(0),
            slot: AtomicU64::new(0),
        });
        ring.record(true);
        let clear = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.clear_broken())
        };
        let report = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || ring.record(true))
        };
        clear.join().unwrap();
        report.join().unwrap();
        // A report that starts after the check and reads the old base adds nothing
        // (a failure replacing a failure) to the reset sums, though its slot counts.
        let base = ring.base.load(Ordering::Acquire);
        let recount = TwinRing::weight(ring.slot.load(Ordering::Acquire), base);
        assert_eq!(
            ring.sums.load(Ordering::Acquire),
            recount,
            "sums match the slot"
        );
    });
}
