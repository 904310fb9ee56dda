//! SPEC §8 (issue #15): the rate windows' lock-free updates. Two reports racing on one
//! slot of a count window, a report racing an absorbed one or a clear in place, and
//! reports racing a time window's bucket rollover or clear, lose no outcome and count
//! none twice, and a success that skips the sum of a clean time window is counted by
//! the failure racing it, and reports into a bucket whose tag came round again count
//! nothing of the epoch it held; the twins (a plain store in place of the slot's
//! compare-and-swap, a clear that does not claim the ring, a clean-window mark raised
//! too late, `head` moved before a stale bucket is emptied) are caught.
#![cfg(brama_loom)]

mod support;

use brama_core::engine::counter::Lane;
use brama_core::engine::policy::Tallies;
use brama_core::engine::window::{Buckets, CountRing, Fate};
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
        assert_eq!(ring.taken(), 2);
        assert_eq!(ring.in_flight(), 0);
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
        assert_eq!(3, b.held() + b.evicted(), "none lost, none twice");
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

#[test]
fn a_report_racing_a_time_window_clear() {
    support::check("window/time clear", || {
        let b = Arc::new(Buckets::new(Duration::from_nanos(10)));
        b.record(true, false, 5);
        let clear = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.clear(5))
        };
        let report = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.record(false, true, 5);
            })
        };
        clear.join().unwrap();
        report.join().unwrap();
        assert_eq!(2, b.held() + b.evicted(), "none lost, none twice");
        // The failure before the clear is gone; the report is before it or after.
        let t = b.tallies(5);
        assert_eq!(t.failures, 0);
        assert!(t.calls <= 1 && t.slow == t.calls);
    });
}

#[test]
fn a_success_that_skips_the_sum_is_seen_by_a_racing_failure() {
    support::check("window/clean success", || {
        // A success that finds the window clean decides without summing; a failure
        // racing it in the same bucket must then count it in its own sum.
        let b = Arc::new(Buckets::new(Duration::from_nanos(10)));
        let failure = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.record_unless_clean(true, false, 5))
        };
        let success = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.record_unless_clean(false, false, 5))
        };
        let f = failure
            .join()
            .unwrap()
            .expect("a failure's window is not clean");
        let s = success.join().unwrap();
        assert!(
            s.is_some_and(|t| t.failures == 1) || f.calls == 2,
            "the later report decides on both: success {s:?}, failure {f:?}"
        );
        assert_eq!(b.tallies(5).calls, 2);
    });
}

#[test]
fn reports_racing_into_a_bucket_whose_tag_came_round() {
    support::check("window/stale tag", || {
        // Buckets of 1 ns: epoch 10,230 is bucket 0 with epoch 0's tag. Two reports
        // race into it; the failure of epoch 0 must be emptied before either counts,
        // whichever moves `head` and whichever finds it moved.
        let b = Arc::new(Buckets::new(Duration::from_nanos(10)));
        b.record(true, false, 0);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = Arc::clone(&b);
                thread::spawn(move || b.record(false, false, 10_230))
            })
            .collect();
        for h in handles {
            let t = h.join().unwrap();
            assert_eq!(t.failures, 0, "a report counted the stale failure: {t:?}");
        }
        assert_eq!(3, b.held() + b.evicted(), "none lost, none twice");
        assert_eq!(
            b.tallies(10_230),
            Tallies {
                calls: 2,
                failures: 0,
                slow: 0
            }
        );
    });
}

// ----- quiet successes (`window/buckets/quiet.rs`) ---------------------------------------

/// A window of 1 ns buckets (stamp = epoch) with one success recorded at 5 and the
/// window opened to quiet successes at that stamp.
fn opened_at_5() -> Arc<Buckets> {
    let b = Arc::new(Buckets::new(Duration::from_nanos(10)));
    assert_eq!(b.record_unless_clean(false, false, 5), None);
    assert_eq!(b.open_quiet(5), None);
    assert!(b.is_quiet(5));
    b
}

/// A quiet success at 5, as `circuit/quiet.rs` makes it if `look` is `Fenced` (through the shared lane:
/// under loom no thread owns one): `Some(tallies)` if it settled and must decide.
fn quiet_success(b: &Buckets, look: Look) -> Option<Tallies> {
    if !b.is_quiet(5) {
        return Some(b.record(false, false, 5));
    }
    b.count_quiet(Lane::SHARED);
    let still = match look {
        Look::Fenced => b.still_quiet(5),
        Look::Unfenced => b.is_quiet(5),
        Look::Not => true,
    };
    if !still {
        return b.settle_quiet(5);
    }
    None
}

/// How a quiet success looks at the stamp again after counting.
#[derive(Clone, Copy)]
enum Look {
    /// As `Buckets::still_quiet` does: a light fence, then the load.
    Fenced,
    /// The load alone.
    Unfenced,
    /// Not at all.
    Not,
}

/// Runs a quiet success (looking again as `look` says) against the failure that ends
/// the window's clean spell, and checks that the later decides on both and the window
/// holds all three calls.
fn quiet_success_racing_a_failure(look: Look) {
    let b = opened_at_5();
    let failure = {
        let b = Arc::clone(&b);
        thread::spawn(move || b.record_unless_clean(true, false, 5))
    };
    let success = {
        let b = Arc::clone(&b);
        thread::spawn(move || quiet_success(&b, look))
    };
    let f = failure
        .join()
        .unwrap()
        .expect("a failure's window is not clean");
    let s = success.join().unwrap();
    assert!(
        f.calls == 3 || s.is_some_and(|t| t.calls == 3 && t.failures == 1),
        "the later report decides on both: success {s:?}, failure {f:?}"
    );
    assert!(
        !b.is_quiet(5),
        "a dirty window is closed to quiet successes"
    );
    assert_eq!(b.tallies(5).calls, 3);
    assert_eq!(3, b.held() + b.evicted(), "none lost, none twice");
}

#[test]
fn a_quiet_success_racing_the_failure_that_ends_the_clean_spell() {
    support::check("window/quiet success", || {
        quiet_success_racing_a_failure(Look::Fenced)
    });
}

#[test]
fn an_opening_racing_the_failure_that_ends_the_clean_spell() {
    support::check("window/quiet opening", || {
        // A success recorded at 5 (clean), about to open the window at 5, against a
        // failure at 5: whatever the order, the window ends closed to quiet
        // successes, and a quiet success counted meanwhile is decided on.
        let b = Arc::new(Buckets::new(Duration::from_nanos(10)));
        assert_eq!(b.record_unless_clean(false, false, 5), None);
        let opener = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                let reopened = b.open_quiet(5);
                (reopened, quiet_success(&b, Look::Fenced))
            })
        };
        let failure = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.record_unless_clean(true, false, 5))
        };
        let (reopened, s) = opener.join().unwrap();
        let f = failure.join().unwrap().expect("not clean");
        assert!(
            !b.is_quiet(5),
            "a dirty window is closed to quiet successes"
        );
        assert!(
            f.calls == 3
                || s.is_some_and(|t| t.calls == 3)
                || reopened.is_some_and(|t| t.calls == 3),
            "someone decides on all three: failure {f:?}, success {s:?}, opener {reopened:?}"
        );
        assert_eq!(3, b.held() + b.evicted(), "none lost, none twice");
    });
}

#[test]
fn flushes_racing_add_each_quiet_success_once() {
    support::check("window/quiet flushes", || {
        // Two quiet successes at 5; then a failure at 5 (closing, flushing into 5)
        // races an opening at 6 (flushing the successes of 5 into their bucket).
        let b = opened_at_5();
        b.count_quiet(Lane::SHARED);
        b.count_quiet(Lane::SHARED);
        let failure = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.record_unless_clean(true, false, 5);
            })
        };
        let opener = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.record_unless_clean(false, false, 6);
                b.open_quiet(6);
            })
        };
        failure.join().unwrap();
        opener.join().unwrap();
        // The first success, two quiet ones, the failure, the opener's success.
        assert_eq!(5, b.held() + b.evicted(), "none lost, none twice");
        assert_eq!(b.tallies(6).calls, 5);
    });
}

#[test]
fn a_failure_deciding_while_another_closes_counts_the_quiet_successes() {
    support::check("window/quiet second failure", || {
        // A quiet success counted before two failures race: the one that ends the
        // clean spell closes and flushes; the other, finding the window dirty, sums
        // meanwhile. Neither decides on a window without the success.
        let b = opened_at_5();
        b.count_quiet(Lane::SHARED);
        let failure = |b: Arc<Buckets>| {
            thread::spawn(move || b.record_unless_clean(true, false, 5).expect("dirty"))
        };
        let first = failure(Arc::clone(&b));
        let second = failure(Arc::clone(&b));
        for t in [first.join().unwrap(), second.join().unwrap()] {
            assert!(
                t.calls - t.failures >= 2,
                "a failure decided without the quiet success: {t:?}"
            );
        }
        assert_eq!(4, b.held() + b.evicted(), "none lost, none twice");
    });
}

#[test]
fn a_quiet_success_racing_a_clear_is_in_the_window_or_evicted() {
    support::check("window/quiet clear", || {
        let b = opened_at_5();
        let success = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                quiet_success(&b, Look::Fenced);
            })
        };
        let clear = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.clear(5))
        };
        success.join().unwrap();
        clear.join().unwrap();
        // Once both are done nothing is left unflushed: the success is in the
        // window's sums (it landed after the clear) or evicted with the rest.
        assert_eq!(
            2,
            u64::from(b.tallies(5).calls) + b.evicted(),
            "the success is in the window or evicted"
        );
        assert_eq!(2, b.held() + b.evicted(), "none lost, none twice");
    });
}

// ----- the broken twins ---------------------------------------------------------------

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

/// One bucket (calls in the low half, failures in the high) and its `dirty` mark, as
/// `Buckets` keeps them, with the mark raised after the failure's sum instead of
/// before its compare-and-swap.
struct TwinBucket {
    word: AtomicU64,
    dirty: AtomicU64,
}

impl TwinBucket {
    fn add(&self, failure: bool) -> u64 {
        let add = 1 | u64::from(failure) << 32;
        self.word.fetch_add(add, Ordering::AcqRel) + add
    }

    /// A failure: its calls after it.
    fn failure_broken(&self) -> u64 {
        self.add(true);
        let calls = self.word.load(Ordering::Acquire) & 0xffff_ffff;
        // BROKEN: `Buckets::record_unless_clean` raises `dirty` before its CAS.
        self.dirty.store(1, Ordering::Release);
        calls
    }

    /// A success: whether it saw the failure (else it skipped the sum).
    fn success(&self) -> bool {
        self.add(false);
        self.dirty.load(Ordering::Acquire) != 0
    }
}

#[test]
#[should_panic(expected = "the later report decides on both")]
fn broken_late_dirty_mark_is_caught() {
    support::check("window/broken dirty twin", || {
        let b = Arc::new(TwinBucket {
            word: AtomicU64::new(0),
            dirty: AtomicU64::new(0),
        });
        let failure = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.failure_broken())
        };
        let success = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.success())
        };
        let f_calls = failure.join().unwrap();
        let s_saw = success.join().unwrap();
        // The failure summed before the success landed, and the success looked for
        // the mark before it was raised: neither decided on both.
        assert!(s_saw || f_calls == 2, "the later report decides on both");
    });
}

/// One bucket and `head`, as `Buckets` keeps them (a tag of `epoch % 2 + 1` in the low
/// byte, calls and failures above it), with `head` moved before the stale bucket is
/// emptied instead of after.
struct TwinTagged {
    head: AtomicU64,
    word: AtomicU64,
}

impl TwinTagged {
    /// A success at `epoch`: the failures its window holds after it.
    fn success_broken(&self, epoch: u64) -> u64 {
        let tag = epoch % 2 + 1;
        if self.head.load(Ordering::Acquire) < epoch {
            // BROKEN: `Buckets::advance` empties the stale bucket, then moves `head`.
            self.head.fetch_max(epoch, Ordering::AcqRel);
            let stale = self.word.load(Ordering::Acquire);
            let _ = self
                .word
                .compare_exchange(stale, 0, Ordering::AcqRel, Ordering::Acquire);
        }
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let next = if current & 0xff == tag {
                current + (1 << 8)
            } else {
                tag | 1 << 8
            };
            match self
                .word
                .compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next >> 32,
                Err(c) => current = c,
            }
        }
    }
}

#[test]
#[should_panic(expected = "counted the stale failure")]
fn broken_head_moved_before_the_stale_bucket_is_emptied_is_caught() {
    support::check("window/broken stale twin", || {
        // Epoch 0's failure (one call, one failure), then two successes at epoch 2,
        // whose tag is epoch 0's.
        let b = Arc::new(TwinTagged {
            head: AtomicU64::new(0),
            word: AtomicU64::new(1 | 1 << 8 | 1 << 32),
        });
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = Arc::clone(&b);
                thread::spawn(move || b.success_broken(2))
            })
            .collect();
        for h in handles {
            let failures = h.join().unwrap();
            assert_eq!(failures, 0, "a report counted the stale failure");
        }
    });
}

#[test]
#[should_panic(expected = "the later report decides on both")]
fn broken_quiet_success_that_does_not_look_again_is_caught() {
    // BROKEN: a quiet success loads the stamp again after counting (`still_quiet`).
    support::check("window/broken quiet twin", || {
        quiet_success_racing_a_failure(Look::Not)
    });
}

#[test]
#[should_panic(expected = "the later report decides on both")]
fn broken_quiet_success_that_looks_again_without_the_fence_is_caught() {
    // BROKEN: `Buckets::still_quiet` runs a light fence before its load.
    support::check("window/broken quiet fence twin", || {
        quiet_success_racing_a_failure(Look::Unfenced)
    });
}

/// The window's quiet stamp and `dirty` mark, as `Buckets` keeps them, with an
/// opening that does not look at the mark again after setting the stamp.
struct TwinQuiet {
    dirty: AtomicU64,
    quiet: AtomicU64,
}

impl TwinQuiet {
    fn open_broken(&self) {
        if self.dirty.load(Ordering::Acquire) != 0 {
            return;
        }
        let _ = self
            .quiet
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed);
        // BROKEN: `Buckets::open_quiet` fences, loads `dirty` again and closes if it
        // was raised meanwhile.
    }

    fn failure(&self) {
        self.dirty.fetch_max(1, Ordering::Relaxed);
        loom::sync::atomic::fence(Ordering::SeqCst);
        if self.quiet.load(Ordering::Relaxed) != 0 {
            self.quiet.swap(0, Ordering::AcqRel);
        }
    }
}

#[test]
#[should_panic(expected = "closed to quiet successes")]
fn broken_opening_that_does_not_look_again_is_caught() {
    support::check("window/broken opening twin", || {
        let t = Arc::new(TwinQuiet {
            dirty: AtomicU64::new(0),
            quiet: AtomicU64::new(0),
        });
        let opener = {
            let t = Arc::clone(&t);
            thread::spawn(move || t.open_broken())
        };
        let failure = {
            let t = Arc::clone(&t);
            thread::spawn(move || t.failure())
        };
        opener.join().unwrap();
        failure.join().unwrap();
        assert_eq!(
            t.quiet.load(Ordering::Acquire),
            0,
            "a dirty window is closed to quiet successes"
        );
    });
}
