//! [`CountRing`]: exactly the last `n` outcomes, lock-free.
//!
//! Every report takes a unique sequence number `i` (`fetch_add`) and writes slot
//! `i % n` with a compare-and-swap that refuses to replace a later call's outcome, so
//! each slot ends holding the latest of the calls that map to it: once the reports in
//! flight have finished, the ring holds exactly the last `n` calls. The sums of the
//! ring's outcomes are one packed word, changed by the difference between the outcome
//! written and the one it replaced (one `fetch_add`, skipped when the difference is
//! zero, as when a success replaces a success). Each field carries a bias so that a
//! difference applied before the one it follows (two reports racing on one slot) dips
//! below the bias, never below zero: a reader clamps, and sees the sums exact once the
//! reports in flight have finished.

use crate::policy::Tallies;
use crate::sync::{AtomicU64, Ordering};

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
/// Added to each field, so that racing differences never borrow from the next field:
/// at most `2^20` reports can be in flight on one connection, and a field never
/// exceeds `BIAS + MAX_WINDOW_CALLS` (under `2^21`).
const BIAS: u64 = 1 << 20;
const BIASED_ZERO: u64 = BIAS | BIAS << FIELD_BITS | BIAS << (2 * FIELD_BITS);

/// A slot holds `(sequence + 1) << 2 | slow << 1 | failure`; 0 is empty.
const FAILURE: u64 = 1;
const SLOW: u64 = 2;

/// The last `n` call outcomes.
#[derive(Debug)]
pub struct CountRing {
    next: AtomicU64,
    slots: Box<[AtomicU64]>,
    sums: AtomicU64,
}

/// What a slot's outcome adds to the sums: one call, and a failure and a slow call if
/// it is one.
#[inline]
fn weight(slot: u64) -> u64 {
    if slot == 0 {
        return 0;
    }
    1 | (slot & FAILURE) << FIELD_BITS | ((slot & SLOW) >> 1) << (2 * FIELD_BITS)
}

impl CountRing {
    /// An empty ring of `n` slots (`n` at least 1, validated by the caller).
    pub fn new(n: u32) -> CountRing {
        CountRing {
            next: AtomicU64::new(0),
            slots: (0..n.max(1)).map(|_| AtomicU64::new(0)).collect(),
            sums: AtomicU64::new(BIASED_ZERO),
        }
    }

    /// Records one outcome; returns the tallies after it.
    #[inline]
    pub fn record(&self, failure: bool, slow: bool) -> Tallies {
        // Relaxed: only uniqueness is needed; the slot's CAS orders the write.
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.slots.len() as u64;
        let slot = &self.slots[(i % n) as usize];
        let mine = (i + 1) << 2 | u64::from(slow) << 1 | u64::from(failure);
        // Relaxed: the CAS below decides; no other memory is published through slots.
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            if current >> 2 > i + 1 {
                // A later call already holds the slot: this outcome is older than the
                // window, evicted as soon as it arrived.
                return self.tallies();
            }
            // Relaxed: the sums' fetch_add below is the only thing ordered after this,
            // and it is an atomic RMW on its own word.
            match slot.compare_exchange_weak(current, mine, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(c) => current = c,
            }
        }
        let delta = weight(mine).wrapping_sub(weight(current));
        if delta == 0 {
            return self.tallies();
        }
        // AcqRel: a reader's Acquire load sees every difference applied before it.
        let sums = self
            .sums
            .fetch_add(delta, Ordering::AcqRel)
            .wrapping_add(delta);
        unbias(sums)
    }

    /// The tallies now.
    pub fn tallies(&self) -> Tallies {
        // Acquire: pairs with the AcqRel of `record`.
        unbias(self.sums.load(Ordering::Acquire))
    }

    /// The window's size, in calls.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Never: a ring has at least one slot.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Outcomes recorded (in the ring or evicted).
    pub fn recorded(&self) -> u64 {
        // Relaxed: a count for tests and status.
        self.next.load(Ordering::Relaxed)
    }

    /// The tallies recounted from the slots (for tests: equal to [`tallies`](Self::tallies)
    /// once no report is in flight).
    pub fn recount(&self) -> Tallies {
        let mut sum = BIASED_ZERO;
        for s in self.slots.iter() {
            // Relaxed: a test reads this with no report in flight.
            sum = sum.wrapping_add(weight(s.load(Ordering::Relaxed)));
        }
        unbias(sum)
    }
}

/// Sums without their bias, each clamped to what it can be (a reader racing two
/// reports on one slot may see a field briefly below its bias).
#[inline]
fn unbias(sums: u64) -> Tallies {
    let field = |k: u32| ((sums >> (k * FIELD_BITS)) & FIELD_MASK).saturating_sub(BIAS) as u32;
    let calls = field(0);
    Tallies {
        calls,
        failures: field(1).min(calls),
        slow: field(2).min(calls),
    }
}

#[cfg(all(test, not(brama_loom)))]
mod tests {
    use super::*;

    #[test]
    fn holds_exactly_the_last_n_outcomes() {
        let r = CountRing::new(3);
        assert_eq!(r.tallies(), Tallies::default());
        assert_eq!(
            r.record(true, false),
            Tallies {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(
            r.record(false, true),
            Tallies {
                calls: 2,
                failures: 1,
                slow: 1
            }
        );
        assert_eq!(
            r.record(true, true),
            Tallies {
                calls: 3,
                failures: 2,
                slow: 2
            }
        );
        // The first (a failure) leaves as the fourth arrives.
        assert_eq!(
            r.record(false, false),
            Tallies {
                calls: 3,
                failures: 1,
                slow: 2
            }
        );
        assert_eq!(
            r.record(false, false),
            Tallies {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        assert_eq!(r.recount(), r.tallies());
        assert_eq!(r.recorded(), 5);
    }

    #[test]
    fn a_late_writer_never_replaces_a_later_call() {
        let r = CountRing::new(1);
        // Sequence 0 is taken but its writer is slow; sequence 1 writes first.
        r.next.store(1, Ordering::Relaxed);
        assert_eq!(r.record(true, false).failures, 1);
        // Now the writer of sequence 0 arrives: evicted on arrival.
        r.next.store(0, Ordering::Relaxed);
        assert_eq!(
            r.record(false, false),
            Tallies {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(r.recount(), r.tallies());
    }

    #[test]
    fn a_difference_applied_early_is_clamped_not_wrapped() {
        // A field below its bias (a replacement's difference before the write it
        // replaced) reads as 0, never as a huge count.
        let dipped = BIASED_ZERO.wrapping_sub(1 << FIELD_BITS);
        assert_eq!(unbias(dipped), Tallies::default());
    }
}
