//! [`Buckets`]: the outcomes of the last `d`, lock-free, in ten buckets of `d / 10`.
//!
//! Time is cut into epochs of `d / 10`; epoch `e` lives in bucket `e % 10`, one packed
//! word: a tag naming the epoch (`e % 1023 + 1`; 0 is a bucket never written), and its
//! calls, failures and slow calls. A report adds to its epoch's bucket with one CAS;
//! the first report of a new epoch replaces the old epoch's word in the same CAS (the
//! rollover), so an outcome is counted in exactly one epoch or evicted, never both.
//! The window is the buckets of the current epoch and the nine before it: an outcome
//! counts for between `0.9 d` and `d` (precision: one bucket).
//!
//! `head` is the newest epoch any report has written, raised before its CAS: a report
//! whose epoch is ten or more behind it (a writer that stalled for a whole window)
//! counts as evicted instead of rolling a bucket back. A bucket holds at most
//! `2^18 - 1` calls; past that, its outcomes are evicted (documented limit).

use crate::clock::Nanos;
use crate::config::TIME_WINDOW_BUCKETS;
use crate::policy::Tallies;
use crate::sync::{AtomicU64, Ordering};
use std::time::Duration;

const N: u64 = TIME_WINDOW_BUCKETS as u64;
const TAG_BITS: u32 = 10;
const TAG_MOD: u64 = (1 << TAG_BITS) - 1;
const FIELD_BITS: u32 = 18;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
/// The most calls one bucket counts.
pub const MAX_BUCKET_CALLS: u32 = FIELD_MASK as u32;

/// The outcomes of the last `d`.
#[derive(Debug)]
pub struct Buckets {
    width: Nanos,
    head: AtomicU64,
    recorded: AtomicU64,
    evicted: AtomicU64,
    slots: [AtomicU64; TIME_WINDOW_BUCKETS as usize],
}

#[inline]
fn tag_of(epoch: u64) -> u64 {
    epoch % TAG_MOD + 1
}

#[inline]
fn pack(tag: u64, t: Tallies) -> u64 {
    tag | u64::from(t.calls) << TAG_BITS
        | u64::from(t.failures) << (TAG_BITS + FIELD_BITS)
        | u64::from(t.slow) << (TAG_BITS + 2 * FIELD_BITS)
}

#[inline]
fn unpack(word: u64) -> (u64, Tallies) {
    let field = |k: u32| ((word >> (TAG_BITS + k * FIELD_BITS)) & FIELD_MASK) as u32;
    (
        word & ((1 << TAG_BITS) - 1),
        Tallies {
            calls: field(0),
            failures: field(1),
            slow: field(2),
        },
    )
}

impl Buckets {
    /// An empty window of `d` (at least 10 ns, validated by the caller).
    pub fn new(d: Duration) -> Buckets {
        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Buckets {
            width: (d / N).max(1),
            head: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The bucket width.
    pub fn width(&self) -> Nanos {
        self.width
    }

    /// Records one outcome at `now`; returns the window's tallies after it.
    pub fn record(&self, failure: bool, slow: bool, now: Nanos) -> Tallies {
        // Relaxed: a count for tests and status.
        self.recorded.fetch_add(1, Ordering::Relaxed);
        let epoch = now / self.width;
        // AcqRel: a report that later sees this report's bucket sees `head` at least
        // this high (it loads `head` after an Acquire of the bucket).
        self.head.fetch_max(epoch, Ordering::AcqRel);
        let slot = &self.slots[(epoch % N) as usize];
        let tag = tag_of(epoch);
        let add = Tallies {
            calls: 1,
            failures: u32::from(failure),
            slow: u32::from(slow),
        };
        // Acquire: pairs with the AcqRel CAS of the report that wrote the bucket.
        let mut current = slot.load(Ordering::Acquire);
        loop {
            let (current_tag, t) = unpack(current);
            let next = if current_tag == tag {
                if t.calls >= MAX_BUCKET_CALLS {
                    self.evict(1);
                    break;
                }
                pack(tag, t.plus(add))
            } else {
                // Another epoch's word: older than ours unless ours is out of the
                // window already (this writer stalled behind a rollover).
                // Acquire: see `head` above.
                if epoch + N <= self.head.load(Ordering::Acquire) {
                    self.evict(1);
                    break;
                }
                pack(tag, add)
            };
            // AcqRel: publishes the bucket (and, through `head`'s order, the epoch).
            match slot.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if current_tag != tag {
                        self.evict(u64::from(t.calls));
                    }
                    break;
                }
                Err(c) => current = c,
            }
        }
        self.tallies(now)
    }

    fn evict(&self, calls: u64) {
        if calls > 0 {
            // Relaxed: a count for tests and status.
            self.evicted.fetch_add(calls, Ordering::Relaxed);
        }
    }

    /// The tallies of the window ending at `now`'s epoch.
    pub fn tallies(&self, now: Nanos) -> Tallies {
        let epoch = now / self.width;
        let mut sum = Tallies::default();
        for back in 0..N {
            let Some(e) = epoch.checked_sub(back) else {
                break;
            };
            // Acquire: pairs with the writers' CAS.
            let (tag, t) = unpack(self.slots[(e % N) as usize].load(Ordering::Acquire));
            if tag == tag_of(e) {
                sum = sum.plus(t);
            }
        }
        sum
    }

    /// Outcomes recorded since the window was made.
    pub fn recorded(&self) -> u64 {
        // Relaxed: a count for tests and status.
        self.recorded.load(Ordering::Relaxed)
    }

    /// Outcomes that left the window by a rollover, or arrived too late for it.
    pub fn evicted(&self) -> u64 {
        // Relaxed: a count for tests and status.
        self.evicted.load(Ordering::Relaxed)
    }

    /// Every bucket's calls, whatever its epoch (for tests: `recorded() ==
    /// held() + evicted()` once no report is in flight).
    pub fn held(&self) -> u64 {
        self.slots
            .iter()
            // Relaxed: a test reads this with no report in flight.
            .map(|s| u64::from(unpack(s.load(Ordering::Relaxed)).1.calls))
            .sum()
    }
}

#[cfg(all(test, not(brama_loom)))]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    #[test]
    fn outcomes_leave_after_the_window() {
        let b = Buckets::new(Duration::from_secs(10)); // ten buckets of 1 s
        assert_eq!(b.width(), S);
        assert_eq!(b.record(true, false, 0).failures, 1);
        assert_eq!(
            b.record(false, true, S / 2),
            Tallies {
                calls: 2,
                failures: 1,
                slow: 1
            }
        );
        assert_eq!(b.record(false, false, 9 * S).calls, 3);
        // At 10 s the first second's bucket is out of the window.
        assert_eq!(
            b.tallies(10 * S),
            Tallies {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        // A report at 10 s rolls bucket 0 over, evicting its two calls.
        assert_eq!(
            b.record(true, false, 10 * S),
            Tallies {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(b.evicted(), 2);
        assert_eq!(b.recorded(), b.held() + b.evicted());
        // Long idle: everything is out of the window.
        assert_eq!(b.tallies(100 * S), Tallies::default());
    }

    #[test]
    fn a_stalled_writer_does_not_roll_a_bucket_back() {
        let b = Buckets::new(Duration::from_secs(10));
        b.record(false, false, 12 * S);
        // A report stamped 2 s (same bucket as 12 s, a window earlier) arrives late.
        let t = b.record(true, false, 2 * S);
        assert_eq!(t, b.tallies(2 * S));
        assert_eq!(
            b.tallies(12 * S),
            Tallies {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(b.evicted(), 1);
        assert_eq!(b.recorded(), b.held() + b.evicted());
    }

    #[test]
    fn packing_round_trips() {
        let t = Tallies {
            calls: MAX_BUCKET_CALLS,
            failures: 7,
            slow: MAX_BUCKET_CALLS,
        };
        assert_eq!(unpack(pack(tag_of(5), t)), (tag_of(5), t));
        assert_eq!(unpack(pack(TAG_MOD, t)).0, TAG_MOD);
    }
}
