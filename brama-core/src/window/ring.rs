//! [`CountRing`]: exactly the last `n` outcomes, lock-free.
//!
//! Every report that takes a place in the ring takes a unique sequence number `i` and
//! writes slot `i % n` with a compare-and-swap that refuses to replace a later call's
//! outcome, so each slot ends holding the latest of the calls that map to it: once the
//! reports in flight have finished, the ring holds exactly the last `n` calls. The sums
//! of the ring's outcomes are one packed word, changed by the difference between the
//! outcome written and the one it replaced (one `fetch_add`, skipped when the
//! difference is zero). Each field carries a bias so that a difference applied before
//! the one it follows (two reports racing on one slot) dips below the bias, never below
//! zero: a reader clamps, and sees the sums exact once the reports in flight finish.
//!
//! The `next` word counts the reports in flight beside the sequence, which buys two
//! things without a lock:
//!
//! - **Absorbing.** An outcome equal to every outcome of a full ring changes nothing
//!   the window will ever say (its tallies now and after any later reports are the
//!   same with it or without it: it would evict an equal outcome, and leave after the
//!   same number of later calls as the one it evicts). When no report is in flight
//!   before and after the sums are read (`next` read twice, unchanged), the sums are
//!   exact, and such an outcome is absorbed with three loads and no write: the common
//!   case of a healthy dependency, a full window of successes.
//! - **Clearing in place.** [`try_clear`](CountRing::try_clear) claims the ring when
//!   no report is in flight (a report that finds it claimed is not recorded: it ran
//!   concurrently with the clear and is ordered before it), moves `base` to the current
//!   sequence (slots written before it count as empty) and zeroes the sums: O(1), and
//!   no report in flight can carry a difference across the clear.
//!
//! Limits: 2^15 - 1 reports in flight on one connection at once (the field's width),
//! and 2^48 outcomes taken into one ring over the connection's life (the sequence's).

use crate::policy::Tallies;
use crate::sync::{AtomicU64, Ordering};

const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
/// Added to each field, so that racing differences never borrow from the next field:
/// fewer than `2^15` reports are in flight at once, and a field never exceeds
/// `BIAS + MAX_WINDOW_CALLS` (under `2^21`).
const BIAS: u64 = 1 << 20;
const BIASED_ZERO: u64 = BIAS | BIAS << FIELD_BITS | BIAS << (2 * FIELD_BITS);
/// Bit 63, above the three fields: set on sums returned by a report a clear refused.
const CLEARED_MARK: u64 = 1 << 63;

/// A slot holds `(sequence + 1) << 2 | slow << 1 | failure`; 0 is empty.
const FAILURE: u64 = 1;
const SLOW: u64 = 2;

/// `next`: bit 0 claimed (a clear is under way), bits 1..16 the reports in flight,
/// bits 16.. the next sequence number.
const CLAIMED: u64 = 1;
const IN_FLIGHT_ONE: u64 = 1 << 1;
const IN_FLIGHT_MASK: u64 = ((1 << 15) - 1) << 1;
const SEQ_SHIFT: u32 = 16;
const SEQ_ONE: u64 = 1 << SEQ_SHIFT;

/// What became of one outcome offered to the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It took a slot (and may have been evicted on arrival by a later call).
    Taken,
    /// It equalled every outcome of the full ring: absorbed, changing nothing.
    Absorbed,
    /// A clear held the ring: the outcome is ordered before the clear, so not kept.
    Cleared,
}

/// The last `n` call outcomes.
#[derive(Debug)]
pub struct CountRing {
    next: AtomicU64,
    sums: AtomicU64,
    // Sequence of the last clear: a slot whose call came before it is empty. Written
    // only while the ring is claimed, so a report in flight reads one value throughout.
    base: AtomicU64,
    slots: Box<[AtomicU64]>,
    // floor(2^64 / n): `slot_of` takes `i % n` by multiplying (the division was 17 % of
    // a report that takes a slot, in `perf`).
    inverse: u64,
}

/// What a slot's outcome adds to the sums since `base`: one call, and a failure and a
/// slow call if it is one.
#[inline]
fn weight(slot: u64, base: u64) -> u64 {
    if slot >> 2 <= base {
        return 0;
    }
    1 | (slot & FAILURE) << FIELD_BITS | ((slot & SLOW) >> 1) << (2 * FIELD_BITS)
}

impl CountRing {
    /// An empty ring of `n` slots (`n` at least 1, validated by the caller).
    pub fn new(n: u32) -> CountRing {
        let n = n.max(1);
        CountRing {
            inverse: (u128::from(u64::MAX) + 1)
                .div_euclid(u128::from(n))
                .min(u128::from(u64::MAX)) as u64,
            next: AtomicU64::new(0),
            sums: AtomicU64::new(BIASED_ZERO),
            base: AtomicU64::new(0),
            slots: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records one outcome; returns the tallies after it and what became of it.
    #[inline]
    pub fn record(&self, failure: bool, slow: bool) -> (Tallies, Fate) {
        if let Some(t) = self.absorb(failure, slow) {
            return (t, Fate::Absorbed);
        }
        self.record_in_slot(failure, slow)
    }

    /// [`record`](Self::record) without trying to absorb the outcome first (the caller
    /// tried): it takes a slot, unless a clear holds the ring.
    #[inline]
    pub fn record_in_slot(&self, failure: bool, slow: bool) -> (Tallies, Fate) {
        // Relaxed: a first guess for the start's compare-and-swap, which orders.
        let sums = self.take(self.next.load(Ordering::Relaxed), failure, slow);
        let fate = if sums & CLEARED_MARK != 0 {
            Fate::Cleared
        } else {
            Fate::Taken
        };
        (unbias(sums & !CLEARED_MARK), fate)
    }

    /// Absorbs the outcome if the ring is full of outcomes equal to it and no report
    /// is in flight (three loads, no write); returns the tallies it left unchanged.
    #[inline]
    pub fn absorb(&self, failure: bool, slow: bool) -> Option<Tallies> {
        // Acquire (both loads of `next`): sees the sums of every report whose end
        // (a Release on `next`) it reads.
        let seen = self.next.load(Ordering::Acquire);
        if seen & (CLAIMED | IN_FLIGHT_MASK) != 0 {
            return None;
        }
        // With no report in flight between two equal loads of `next` the sums are
        // exact, so a full ring of this outcome has one value: compared whole, not
        // unbiased field by field.
        let n = self.slots.len() as u64;
        let full = BIASED_ZERO
            + n * (1 | u64::from(failure) << FIELD_BITS | u64::from(slow) << (2 * FIELD_BITS));
        // Acquire: a report's sums change that this reads happened after its start,
        // so the second load of `next` below sees that start.
        if self.sums.load(Ordering::Acquire) != full || self.next.load(Ordering::Acquire) != seen {
            return None;
        }
        Some(Tallies::uniform(n as u32, failure, slow))
    }

    /// Records the outcome in a slot; `seen` is a recent value of `next`. Returns the
    /// sums after it, with [`CLEARED_MARK`] if a clear held the ring: one word, in a
    /// register (a `Tallies` returned through memory and read back whole stalled store
    /// forwarding, 44 % of a report in `perf`).
    #[inline(never)]
    fn take(&self, mut seen: u64, failure: bool, slow: bool) -> u64 {
        loop {
            if seen & CLAIMED != 0 {
                return self.sums() | CLEARED_MARK;
            }
            // Acquire: sees `base` as the clear that released the claim left it.
            match self.next.compare_exchange_weak(
                seen,
                seen + SEQ_ONE + IN_FLIGHT_ONE,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(current) => seen = current,
            }
        }
        let i = seen >> SEQ_SHIFT;
        // Relaxed: written only while claimed, and the start's Acquire saw the release.
        let base = self.base.load(Ordering::Relaxed);
        let sums = self.write_slot(i, base, failure, slow);
        // Release: a reader that sees this report out of flight sees its sums.
        self.next.fetch_sub(IN_FLIGHT_ONE, Ordering::Release);
        sums
    }

    /// Writes call `i`'s outcome into its slot and the difference into the sums;
    /// returns the sums after it.
    #[inline]
    fn write_slot(&self, i: u64, base: u64, failure: bool, slow: bool) -> u64 {
        let slot = &self.slots[self.slot_of(i)];
        let mine = (i + 1) << 2 | u64::from(slow) << 1 | u64::from(failure);
        // Relaxed: the CAS below decides; no other memory is published through slots.
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            if current >> 2 > i + 1 {
                // A later call already holds the slot: this outcome is older than the
                // window, evicted as soon as it arrived.
                return self.sums();
            }
            // Relaxed: the sums' fetch_add below is the only thing ordered after this,
            // and it is an atomic RMW on its own word.
            match slot.compare_exchange_weak(current, mine, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(c) => current = c,
            }
        }
        let delta = weight(mine, base).wrapping_sub(weight(current, base));
        if delta == 0 {
            return self.sums();
        }
        // AcqRel: a reader's Acquire load sees every difference applied before it.
        self.sums
            .fetch_add(delta, Ordering::AcqRel)
            .wrapping_add(delta)
    }

    /// `i % n`, by a multiplication and at most one correction (the estimate of the
    /// quotient is exact or one less: the inverse is rounded down).
    #[inline]
    fn slot_of(&self, i: u64) -> usize {
        let n = self.slots.len() as u64;
        let q = ((u128::from(i) * u128::from(self.inverse)) >> 64) as u64;
        let r = i - q * n;
        (if r >= n { r - n } else { r }) as usize
    }

    /// The packed sums now.
    #[inline]
    fn sums(&self) -> u64 {
        // Acquire: pairs with the AcqRel of `write_slot`.
        self.sums.load(Ordering::Acquire)
    }

    /// Empties the ring in place if no report is in flight (then `true`); under the
    /// cell's transition lock, so never two clears at once. A report racing the clear
    /// is ordered before it ([`Fate::Cleared`]).
    pub fn try_clear(&self) -> bool {
        // Relaxed: the claim's compare-and-swap below orders.
        let seen = self.next.load(Ordering::Relaxed);
        if seen & IN_FLIGHT_MASK != 0 {
            return false;
        }
        // Acquire: the sums and slots of every finished report are visible before
        // they are reset.
        if self
            .next
            .compare_exchange(seen, seen | CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // Relaxed (both): published by the Release store that ends the claim.
        self.base.store(seen >> SEQ_SHIFT, Ordering::Relaxed);
        self.sums.store(BIASED_ZERO, Ordering::Relaxed);
        // Release: a report that starts after this sees the new base and sums. Nobody
        // else writes `next` while it is claimed (a report refuses, `take`).
        self.next.store(seen, Ordering::Release);
        true
    }

    /// The tallies now.
    pub fn tallies(&self) -> Tallies {
        unbias(self.sums())
    }

    /// The window's size, in calls.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Never: a ring has at least one slot.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Outcomes that took a slot over the ring's life (not the absorbed ones).
    pub fn taken(&self) -> u64 {
        // Relaxed: a count for tests and status.
        self.next.load(Ordering::Relaxed) >> SEQ_SHIFT
    }

    /// Reports in flight now (for tests: 0 once every report has returned).
    pub fn in_flight(&self) -> u64 {
        // Relaxed: a count for tests.
        (self.next.load(Ordering::Relaxed) & IN_FLIGHT_MASK) >> 1
    }

    /// The tallies recounted from the slots (for tests: equal to [`tallies`](Self::tallies)
    /// once no report is in flight).
    pub fn recount(&self) -> Tallies {
        // Relaxed: a test reads this with no report in flight.
        let base = self.base.load(Ordering::Relaxed);
        let mut sum = BIASED_ZERO;
        for s in self.slots.iter() {
            // Relaxed: as above.
            sum = sum.wrapping_add(weight(s.load(Ordering::Relaxed), base));
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

    fn t(calls: u32, failures: u32, slow: u32) -> Tallies {
        Tallies {
            calls,
            failures,
            slow,
        }
    }

    #[test]
    fn holds_exactly_the_last_n_outcomes() {
        let r = CountRing::new(3);
        assert_eq!(r.tallies(), Tallies::default());
        assert_eq!(r.record(true, false), (t(1, 1, 0), Fate::Taken));
        assert_eq!(r.record(false, true), (t(2, 1, 1), Fate::Taken));
        assert_eq!(r.record(true, true), (t(3, 2, 2), Fate::Taken));
        // The first (a failure) leaves as the fourth arrives.
        assert_eq!(r.record(false, false).0, t(3, 1, 2));
        assert_eq!(r.record(false, false).0, t(3, 1, 1));
        assert_eq!(r.recount(), r.tallies());
        assert_eq!(r.taken(), 5);
        assert_eq!(r.in_flight(), 0);
    }

    #[test]
    fn a_full_ring_of_equal_outcomes_absorbs_one_more() {
        let r = CountRing::new(2);
        // Not full: a success takes a slot.
        assert_eq!(r.record(false, false).1, Fate::Taken);
        assert_eq!(r.record(false, false).1, Fate::Taken);
        // Full of plain successes: another is absorbed, a failure is not.
        assert_eq!(r.record(false, false), (t(2, 0, 0), Fate::Absorbed));
        assert_eq!(r.taken(), 2);
        assert_eq!(r.record(true, false), (t(2, 1, 0), Fate::Taken));
        // Mixed: nothing is absorbed.
        assert_eq!(r.record(true, false), (t(2, 2, 0), Fate::Taken));
        // Full of failures: a failure is absorbed, a slow failure is not.
        assert_eq!(r.record(true, false), (t(2, 2, 0), Fate::Absorbed));
        assert_eq!(r.record(true, true), (t(2, 2, 1), Fate::Taken));
        assert_eq!(r.recount(), r.tallies());
    }

    #[test]
    fn absorbing_changes_no_later_tally() {
        // The same outcomes into two rings, one of which may absorb; a second ring
        // records every outcome by hand into a plain model of the last n.
        let outcomes = [
            (false, false),
            (false, false),
            (false, false),
            (false, false),
            (true, false),
            (false, false),
            (false, true),
            (false, false),
            (false, false),
            (false, false),
            (false, false),
            (true, true),
            (true, true),
            (true, true),
            (true, true),
            (false, false),
        ];
        let r = CountRing::new(3);
        let mut model: Vec<(bool, bool)> = Vec::new();
        for (f, s) in outcomes {
            let (got, _) = r.record(f, s);
            model.push((f, s));
            let last = &model[model.len().saturating_sub(3)..];
            let want = t(
                last.len() as u32,
                last.iter().filter(|o| o.0).count() as u32,
                last.iter().filter(|o| o.1).count() as u32,
            );
            assert_eq!(got, want, "after {} outcomes", model.len());
        }
    }

    #[test]
    fn a_clear_empties_in_place_and_old_slots_count_as_empty() {
        let r = CountRing::new(3);
        r.record(true, false);
        r.record(true, true);
        r.record(false, false);
        assert!(r.try_clear());
        assert_eq!(r.tallies(), Tallies::default());
        assert_eq!(r.recount(), Tallies::default());
        // New outcomes replace the old slots' as if they were empty.
        assert_eq!(r.record(false, true).0, t(1, 0, 1));
        assert_eq!(r.record(true, false).0, t(2, 1, 1));
        assert_eq!(r.record(false, false).0, t(3, 1, 1));
        assert_eq!(r.record(false, false).0, t(3, 1, 0));
        assert_eq!(r.recount(), r.tallies());
    }

    #[test]
    fn a_clear_waits_for_no_report_and_refuses_one_in_flight() {
        let r = CountRing::new(2);
        r.record(true, false);
        // A report between its start and its end.
        r.next.fetch_add(SEQ_ONE + IN_FLIGHT_ONE, Ordering::Relaxed);
        assert!(!r.try_clear(), "a report is in flight");
        assert_eq!(r.tallies().failures, 1, "nothing changed");
        r.next.fetch_sub(IN_FLIGHT_ONE, Ordering::Relaxed);
        assert!(r.try_clear());
        // A report that finds the ring claimed is ordered before the clear.
        r.next.fetch_or(CLAIMED, Ordering::Relaxed);
        assert_eq!(r.record(true, false), (Tallies::default(), Fate::Cleared));
        r.next.fetch_and(!CLAIMED, Ordering::Relaxed);
        assert_eq!(r.record(true, false).1, Fate::Taken);
    }

    #[test]
    fn a_late_writer_never_replaces_a_later_call() {
        let r = CountRing::new(1);
        // Sequence 0 is taken but its writer is slow; sequence 1 writes first.
        assert_eq!(unbias(r.write_slot(1, 0, true, false)).failures, 1);
        // Now the writer of sequence 0 arrives: evicted on arrival.
        assert_eq!(unbias(r.write_slot(0, 0, false, false)), t(1, 1, 0));
        assert_eq!(r.recount(), r.tallies());
    }

    #[test]
    fn the_slot_is_the_remainder_for_every_size() {
        for n in [1u32, 2, 3, 7, 100, 1_000, 999_999, 1_000_000] {
            let r = CountRing::new(n);
            let n = u64::from(n);
            let seqs = [
                0,
                1,
                n - 1,
                n,
                n + 1,
                2 * n - 1,
                1 << 47,
                (1 << 48) - 1,
                u64::MAX,
            ];
            for i in seqs.into_iter().chain((0..3 * n.min(5_000)).step_by(7)) {
                assert_eq!(r.slot_of(i) as u64, i % n, "{i} % {n}");
            }
        }
    }

    #[test]
    fn a_difference_applied_early_is_clamped_not_wrapped() {
        // A field below its bias (a replacement's difference before the write it
        // replaced) reads as 0, never as a huge count.
        let dipped = BIASED_ZERO.wrapping_sub(1 << FIELD_BITS);
        assert_eq!(unbias(dipped), Tallies::default());
    }
}
