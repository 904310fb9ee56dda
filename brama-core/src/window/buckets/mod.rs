//! [`Buckets`]: the outcomes of the last `d`, lock-free, in ten buckets of `d / 10`.
//!
//! Time is cut into epochs of `d / 10`; epoch `e` lives in bucket `e % 10`, one packed
//! word: a tag naming the epoch (`e % 1023 + 1`; 0 is a bucket never written), and its
//! calls, failures and slow calls, 18 bits each ([`Layout`]), or 27 bits each of calls
//! and failures under a policy with no slow-call rule. A report adds to its epoch's
//! bucket with one CAS; the first report of a new epoch replaces the old epoch's word
//! in the same CAS (the rollover), so an outcome is counted in exactly one epoch or
//! evicted, never both.
//! The window is the buckets of the current epoch and the nine before it: an outcome
//! counts for between `0.9 d` and `d` (precision: one bucket).
//!
//! `head` is the newest epoch any report has written, raised before its CAS: a report
//! whose epoch is ten or more behind it (a writer that stalled for a whole window)
//! counts as evicted instead of rolling a bucket back. A bucket holds at most
//! `2^18 - 1` calls, or `2^27 - 1` with no slow-call field; past that, its outcomes
//! are evicted (documented limit: a bucket keeps its first calls, so its rates are
//! those of its first 262,143 or 134,217,727 calls).
//!
//! Plain successes into a clean window usually skip all of this: they are counted in
//! the calling thread's lane of the window's quiet count, with no compare-and-swap
//! here, and put into their epoch's bucket in bulk later (`quiet.rs`). Every sum adds
//! the ones not yet in a bucket.
//!
//! `dirty` is one more than the newest epoch a failure or slow call was recorded in,
//! raised before that report's CAS. A report that finds it out of the window knows the
//! window holds only plain successes, so no rate can be crossed and the ten buckets
//! need no summing ([`Buckets::record_unless_clean`]). Why that cannot miss a failure
//! racing the report: if the report's CAS reads the failure's bucket word (or a later
//! one), it acquires the failure's `dirty` too; if not, both wrote the same bucket and
//! the failure's CAS came later, so the failure's own sum counts the report. Reports
//! racing in different buckets (an epoch boundary) may each miss the other, as any two
//! racing reports may; the next report decides on both.
//!
//! Stale buckets. A tag names an epoch only among the 1,023 epochs that share its
//! bucket and tag cycle: a bucket that no report writes for 1,023 of its own epochs
//! (a connection idle for that long, or periodic traffic that always lands in other
//! buckets) would be taken for a current one, and its outcomes come back into the
//! window. So the first reports of each new epoch empty, before they move `head` to
//! it (`Buckets::advance`), every bucket whose tag is not that of the epoch it holds
//! in the new window (all of them if the window was idle for a whole window): every
//! bucket then holds an epoch within one window of `head`, or nothing, and its tag
//! names that epoch. They stop as soon as `head` reaches the epoch (whoever moved it
//! emptied the same buckets), and a bucket written since their load (a report at the
//! new epoch, which moved `head` first) fails their compare-and-swap. A read sums
//! epochs up to `head` only, so a window read after an idle spell, before any report,
//! holds nothing stale either. Once per epoch, ten loads: off the per-report path.
//!
//! A clear works in place: it raises `floor` to the current epoch (older buckets are
//! out of the window from then on, and evicted when their bucket rolls over) and
//! empties the current epoch's bucket with a CAS. A report stamped before the floor
//! is evicted; one racing the clear in the current epoch may land after it (the race
//! every transition has with a report in flight, docs/guarantees.md).

use crate::circuit::counter::Tally;
use crate::clock::Nanos;
use crate::config::TIME_WINDOW_BUCKETS;
use crate::policy::Tallies;
use crate::sync::{AtomicU64, Ordering};
use std::time::Duration;

mod quiet;

const N: u64 = TIME_WINDOW_BUCKETS as u64;

/// The largest bucket number: a window's sums add up to `N` to bucket numbers, so they
/// stay far below `u64::MAX`. Only 1 ns buckets (windows of 10–19 ns) reach it, after
/// 292 years of clock; from there such a window keeps every outcome in one bucket.
const MAX_EPOCH: u64 = u64::MAX / 2;
const TAG_BITS: u32 = 10;
const TAG_MOD: u64 = (1 << TAG_BITS) - 1;

/// How a bucket's word holds its tallies: after the tag, calls and failures, and slow
/// calls if the policy has a slow-call rule, `bits` each. Failures and slow calls never
/// exceed calls, so the calls field is the one that fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    bits: u32,
    slow: bool,
}

impl Layout {
    /// Calls, failures and slow calls, 18 bits each.
    pub const WITH_SLOW: Layout = Layout {
        bits: 18,
        slow: true,
    };
    /// Calls and failures, 27 bits each (no slow calls to count).
    pub const WITHOUT_SLOW: Layout = Layout {
        bits: 27,
        slow: false,
    };

    const fn mask(self) -> u64 {
        (1 << self.bits) - 1
    }

    /// The most calls a bucket counts.
    pub const fn max_calls(self) -> u32 {
        self.mask() as u32
    }

    #[inline]
    fn pack(self, tag: u64, t: Tallies) -> u64 {
        debug_assert!(
            self.slow || t.slow == 0,
            "a slow call in a layout without them"
        );
        let slow = if self.slow {
            u64::from(t.slow) << (TAG_BITS + 2 * self.bits)
        } else {
            0
        };
        tag | u64::from(t.calls) << TAG_BITS
            | u64::from(t.failures) << (TAG_BITS + self.bits)
            | slow
    }

    #[inline]
    fn unpack(self, word: u64) -> (u64, Tallies) {
        let field = |k: u32| ((word >> (TAG_BITS + k * self.bits)) & self.mask()) as u32;
        (
            word & ((1 << TAG_BITS) - 1),
            Tallies {
                calls: field(0),
                failures: field(1),
                slow: if self.slow { field(2) } else { 0 },
            },
        )
    }
}

/// The outcomes of the last `d`.
#[derive(Debug)]
pub struct Buckets {
    width: Nanos,
    layout: Layout,
    // floor(2^64 / width): `epoch` divides by multiplying (a u64 division costs tens of
    // cycles, twice per report).
    inverse: u64,
    head: AtomicU64,
    // The epoch of the last clear: older epochs are out of the window.
    floor: AtomicU64,
    // 1 + the newest epoch with a failure or slow call recorded (0: none yet).
    dirty: AtomicU64,
    evicted: AtomicU64,
    slots: [AtomicU64; TIME_WINDOW_BUCKETS as usize],
    // Quiet successes (`quiet.rs`): the stamp they may count at (or `CLOSED`,
    // `CLOSING`), their count, how much of it flushes have claimed, and how much the
    // buckets hold.
    quiet: AtomicU64,
    quiet_count: Tally<1>,
    claimed: AtomicU64,
    flushed: AtomicU64,
}

/// Whether a window ending at `epoch`, cleared at `floor`, holds no failure and no
/// slow call, by the mark `dirty` (one more than the newest epoch that had one; 0:
/// none).
#[inline]
fn is_clean(dirty: u64, epoch: u64, floor: u64) -> bool {
    dirty == 0 || dirty + (N - 1) <= epoch || dirty <= floor
}

#[inline]
fn tag_of(epoch: u64) -> u64 {
    epoch % TAG_MOD + 1
}

impl Buckets {
    /// An empty window of `d` (at least 10 ns, validated by the caller) that counts
    /// slow calls.
    pub fn new(d: Duration) -> Buckets {
        Buckets::with_layout(d, Layout::WITH_SLOW)
    }

    /// An empty window of `d` for a policy with no slow-call rule: its buckets count
    /// 512 times as many calls.
    pub fn without_slow_calls(d: Duration) -> Buckets {
        Buckets::with_layout(d, Layout::WITHOUT_SLOW)
    }

    fn with_layout(d: Duration, layout: Layout) -> Buckets {
        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let width = (d / N).max(1);
        Buckets {
            width,
            layout,
            inverse: (u128::from(u64::MAX) + 1)
                .div_euclid(u128::from(width))
                .min(u128::from(u64::MAX)) as u64,
            head: AtomicU64::new(0),
            floor: AtomicU64::new(0),
            dirty: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            quiet: AtomicU64::new(quiet::CLOSED),
            quiet_count: Tally::new(),
            claimed: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
        }
    }

    /// The bucket width.
    pub fn width(&self) -> Nanos {
        self.width
    }

    /// `now / width`, by a multiplication and at most one correction, and at most
    /// [`MAX_EPOCH`].
    #[inline]
    fn epoch(&self, now: Nanos) -> u64 {
        // The estimate is the quotient or one less (the inverse is rounded down).
        let q = ((u128::from(now) * u128::from(self.inverse)) >> 64) as u64;
        let q = if now - q * self.width >= self.width {
            q + 1
        } else {
            q
        };
        q.min(MAX_EPOCH)
    }

    /// Records one outcome at `now`; returns the window's tallies after it.
    pub fn record(&self, failure: bool, slow: bool, now: Nanos) -> Tallies {
        self.record_unless_clean(failure, slow, now)
            .unwrap_or_else(|| self.tallies(now))
    }

    /// Records one outcome at `now`; returns the window's tallies after it, or `None`
    /// when the window holds no failure and no slow call: it crosses no rate, so a
    /// closed circuit stays closed whatever its tallies, and they are not summed.
    #[inline]
    pub fn record_unless_clean(&self, failure: bool, slow: bool, now: Nanos) -> Option<Tallies> {
        let epoch = self.epoch(now);
        // Acquire: a clear's floor is seen by the reports that follow it in time.
        let floor = self.floor.load(Ordering::Acquire);
        if epoch < floor {
            // Stamped before the last clear: ordered before it.
            self.evict(1);
            return Some(self.tallies_at(epoch));
        }
        let mut dirtied = false;
        if failure || slow {
            // Relaxed load: `dirty` only grows, so a report that acquires ours sees
            // this value or a later one (coherence); Relaxed RMW: our bucket CAS below
            // (Release) publishes it.
            if self.dirty.load(Ordering::Relaxed) <= epoch {
                let was = self.dirty.fetch_max(epoch + 1, Ordering::Relaxed);
                dirtied = is_clean(was, epoch, floor);
            }
        }
        // Acquire: a report that later sees this report's bucket sees `head` at least
        // this high (it loads `head` after an Acquire of the bucket): either it was
        // already (read with Acquire, so the raise happened before our CAS) or
        // `advance` raises it here (AcqRel). Loaded first, as `head` moves once per
        // epoch.
        let head = self.head.load(Ordering::Acquire);
        if head < epoch {
            self.advance(epoch);
        }
        self.add(epoch, failure, slow);
        if dirtied {
            // This report ended a clean spell: quiet successes stop (`quiet.rs`).
            self.end_quiet_spell();
        }
        // Acquire: after our bucket CAS (AcqRel), so it sees the `dirty` of every
        // failure whose bucket word that CAS read (module docs).
        let dirty = self.dirty.load(Ordering::Acquire);
        if is_clean(dirty, epoch, floor) {
            return None;
        }
        Some(self.tallies_at(epoch))
    }

    /// Adds one outcome to `epoch`'s bucket, rolling it over if it holds an older
    /// epoch; evicts it instead if the bucket is full or holds a newer epoch.
    #[inline]
    fn add(&self, epoch: u64, failure: bool, slow: bool) {
        self.add_tallies(
            epoch,
            Tallies {
                calls: 1,
                failures: u32::from(failure),
                slow: u32::from(slow),
            },
        );
    }

    /// [`add`](Self::add) for `add`'s calls at once (a flush of quiet successes is
    /// many, with no failure): what the bucket has no room for is evicted.
    #[inline]
    fn add_tallies(&self, epoch: u64, add: Tallies) {
        let slot = &self.slots[(epoch % N) as usize];
        let tag = tag_of(epoch);
        // Acquire: pairs with the AcqRel CAS of the report that wrote the bucket.
        let mut current = slot.load(Ordering::Acquire);
        loop {
            let (current_tag, t) = self.layout.unpack(current);
            let (held, room) = if current_tag == tag {
                (t, self.layout.max_calls() - t.calls)
            } else {
                // Another epoch's word: older than ours unless ours is out of the
                // window already (this writer stalled behind a rollover).
                // Acquire: see `head` above.
                if epoch + N <= self.head.load(Ordering::Acquire) {
                    self.evict(u64::from(add.calls));
                    return;
                }
                (Tallies::default(), self.layout.max_calls())
            };
            if room == 0 {
                self.evict(u64::from(add.calls));
                return;
            }
            // Only a flush adds more than one call, and it adds no failure.
            let taken = Tallies {
                calls: add.calls.min(room),
                ..add
            };
            let next = self.layout.pack(tag, held.plus(taken));
            // AcqRel: publishes the bucket (and, through `head`'s order, the epoch, and
            // a failure's `dirty`); acquires those of the word it replaces.
            match slot.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if current_tag != tag {
                        self.evict(u64::from(t.calls));
                    }
                    self.evict(u64::from(add.calls - taken.calls));
                    return;
                }
                Err(c) => current = c,
            }
        }
    }

    /// Moves `head` to `epoch`, first emptying every bucket that holds an
    /// epoch out of the window ending at `epoch` (module docs, "Stale buckets"). Once
    /// per epoch, by the first reports of it; stops as soon as another report has
    /// moved `head` to `epoch` or past it, which emptied the same buckets first.
    #[cold]
    #[inline(never)]
    fn advance(&self, epoch: u64) {
        for (j, slot) in (0..N).zip(&self.slots) {
            // The epoch of the window ending at `epoch` that bucket `j` holds, if any.
            let live = epoch.checked_sub((epoch % N + N - j) % N).map(tag_of);
            // Acquire: as in `add`.
            let mut current = slot.load(Ordering::Acquire);
            while current != 0 {
                // Loaded after the bucket: a report that wrote that word after moving
                // `head` to `epoch` or past it is seen here, and the bucket left alone.
                // Acquire: as above.
                let head = self.head.load(Ordering::Acquire);
                if head >= epoch {
                    return;
                }
                // Untouched for a whole window, every bucket is stale, whatever its tag
                // (after 1,023 epochs of its own a bucket's tag comes round again).
                let (tag, t) = self.layout.unpack(current);
                if epoch - head < N && Some(tag) == live {
                    break;
                }
                // AcqRel: as the writers' CAS; a write since our load fails it.
                match slot.compare_exchange_weak(current, 0, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        self.evict(u64::from(t.calls));
                        break;
                    }
                    Err(c) => current = c,
                }
            }
        }
        // AcqRel: a report that acquires this `head` sees the buckets emptied above.
        self.head.fetch_max(epoch, Ordering::AcqRel);
    }

    fn evict(&self, calls: u64) {
        if calls > 0 {
            // Relaxed: a count for tests and status.
            self.evicted.fetch_add(calls, Ordering::Relaxed);
        }
    }

    /// Empties the window in place at `now` (under the cell's transition lock).
    pub fn clear(&self, now: Nanos) {
        let epoch = self.epoch(now);
        // AcqRel: a report that sees the floor (Acquire) sees what came before it.
        self.floor.fetch_max(epoch, Ordering::AcqRel);
        // Quiet successes stop, and those counted go into the window first, to be
        // evicted by the clear with the rest (a straggler lands after it, `quiet.rs`).
        self.clear_quiet(epoch);
        let slot = &self.slots[(epoch % N) as usize];
        let tag = tag_of(epoch);
        // Acquire: as in `record`.
        let mut current = slot.load(Ordering::Acquire);
        loop {
            let (current_tag, t) = self.layout.unpack(current);
            if current_tag != tag || t.calls == 0 {
                return;
            }
            // AcqRel: as the writers' CAS.
            match slot.compare_exchange_weak(
                current,
                self.layout.pack(tag, Tallies::default()),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.evict(u64::from(t.calls));
                    return;
                }
                Err(c) => current = c,
            }
        }
    }

    /// The tallies of the window ending at `now`'s epoch.
    pub fn tallies(&self, now: Nanos) -> Tallies {
        let epoch = self.epoch(now);
        // Acquire: as in `record`. No report has written an epoch past `head`, and
        // the buckets of those epochs may hold stale ones that no report has emptied
        // yet (`advance`): they are not summed.
        let head = self.head.load(Ordering::Acquire);
        self.sum(epoch, epoch.min(head))
    }

    /// The tallies of the window ending at `epoch`, written by a report at `epoch`
    /// (so `head` is at least `epoch`).
    #[inline]
    fn tallies_at(&self, epoch: u64) -> Tallies {
        self.sum(epoch, epoch)
    }

    /// The buckets of the window ending at `epoch`, up to `newest` (at most `head`:
    /// every bucket then holds an epoch within a window of `head`, or none, so its tag
    /// names its epoch; see `advance`).
    #[inline]
    fn sum(&self, epoch: u64, newest: u64) -> Tallies {
        // What the buckets hold of the quiet count is read first (`quiet.rs`).
        let pending = self.pending_from(epoch);
        // One loop for each layout, its shifts constants.
        let mut sum = if self.layout.slow {
            self.sum_in(Layout::WITH_SLOW, epoch, newest)
        } else {
            self.sum_in(Layout::WITHOUT_SLOW, epoch, newest)
        };
        if let Some(flushed) = pending {
            sum.calls += self.pending_since(flushed);
        }
        sum
    }

    #[inline(always)]
    fn sum_in(&self, layout: Layout, epoch: u64, newest: u64) -> Tallies {
        // Acquire: as in `record`.
        let floor = self.floor.load(Ordering::Acquire);
        let oldest = epoch.saturating_sub(N - 1).max(floor);
        if oldest > newest {
            return Tallies::default();
        }
        // Walk back from `newest`, stepping the bucket and the tag down with it (no
        // division per bucket); fields add without overflow (10 × 2^27 < 2^32).
        let (mut e, mut index, mut tag) = (newest, (newest % N) as usize, tag_of(newest));
        let mut sum = Tallies::default();
        loop {
            // Acquire: pairs with the writers' CAS.
            let (t_tag, t) = layout.unpack(self.slots[index].load(Ordering::Acquire));
            if t_tag == tag {
                sum.calls += t.calls;
                sum.failures += t.failures;
                sum.slow += t.slow;
            }
            if e == oldest {
                return sum;
            }
            e -= 1;
            index = index.checked_sub(1).unwrap_or(N as usize - 1);
            tag = if tag == 1 { TAG_MOD } else { tag - 1 };
        }
    }

    /// Outcomes that left the window by a rollover or a clear, or arrived too late
    /// for it.
    pub fn evicted(&self) -> u64 {
        // Relaxed: a count for tests and status.
        self.evicted.load(Ordering::Relaxed)
    }

    /// Every bucket's calls, whatever its epoch (for tests: the outcomes recorded
    /// equal `held() + evicted()` once no report is in flight).
    pub fn held(&self) -> u64 {
        self.slots
            .iter()
            // Relaxed: a test reads this with no report in flight.
            .map(|s| u64::from(self.layout.unpack(s.load(Ordering::Relaxed)).1.calls))
            .sum::<u64>()
            + self.unflushed()
    }
}

#[cfg(all(test, not(brama_loom)))]
mod tests;
