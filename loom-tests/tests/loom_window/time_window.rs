//! Time windows (`Buckets`): rollovers, clears, a clean window's skipped sum, a tag come round.

use crate::support;
use brama_core::engine::policy::Tallies;
use brama_core::engine::window::Buckets;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

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
