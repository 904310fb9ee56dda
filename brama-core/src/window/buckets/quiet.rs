//! Quiet successes: plain successes into a clean window, counted in the calling
//! thread's own lane of the window's quiet count, with no write to the buckets.
//!
//! While the window holds no failure and no slow call (it is clean), a plain success
//! crosses no rate, so all the window needs of it is that it is counted in the right
//! epoch. A bucket's compare-and-swap on every success is what made a time window cost
//! a locked instruction a report; instead, a success that finds the window's quiet
//! stamp equal to the clock stamp it reports at (the bus's quiet stamp, which the
//! janitor moves every millisecond) adds one to its thread's lane of `quiet_count` (a
//! plain load and store, `counter/mod.rs`). The window is the buckets plus the quiet
//! successes not yet in them, `quiet_count - flushed`, which belong to the epoch of the
//! stamp they were counted at.
//!
//! **Opening** ([`Buckets::open_quiet`]). A success reported the ordinary way (into
//! its bucket) that found the window clean opens it at its stamp: first the successes
//! counted at the previous stamp go into their bucket if the epoch moved on
//! (`flush`), then, if `head` is at the stamp's epoch, no clear is past it and the
//! window is still clean, the quiet stamp is set with a compare-and-swap, and the
//! window's `dirty` mark and floor are loaded again after a `SeqCst` fence.
//!
//! **Closing** ([`Buckets::end_quiet_spell`]). The failure or slow call that makes a
//! clean window dirty runs a `SeqCst` fence after raising `dirty`, then loads the
//! quiet stamp: with the opener's fence, either the opener sees the mark (and closes
//! again) or the failure sees the stamp and closes it. Closing swaps the stamp out,
//! runs a heavy fence ([`crate::barrier::heavy`]) and flushes the count into the open
//! stamp's bucket; the failure sums the window after that.
//!
//! **Why no success is missed.** A quiet success counts, runs a light fence, and loads
//! the stamp again ([`Buckets::still_quiet`]). That is the store-then-load pair the
//! closer's swap, heavy fence and flush make on the other side: either the flush (and
//! so the failure's sum) sees the count, or the success sees the stamp gone and, in
//! [`Buckets::settle_quiet`], flushes its count itself and decides on the window,
//! failure included. As with two reports into one bucket (module docs), of a success
//! and a failure racing, the later decides on both.
//!
//! **Clears.** A clear (under the transition lock) closes the quiet stamp and flushes
//! the count into the window before emptying it, so those successes are evicted with
//! the rest. A success that loaded the stamp before the clear and counts after it is a
//! report racing the clear, and lands after it, as one into a bucket may.
//!
//! The cost: a `SeqCst` fence per opening (once per stamp, a millisecond, per busy
//! connection), and a fence and a `membarrier` per clean spell a failure ends.

use super::{is_clean, Buckets, N};
use crate::circuit::counter::{Lane, OwnedLane};
use crate::clock::{Nanos, NOT_A_READING};
use crate::policy::Tallies;
use crate::sync::{fence, Ordering};

impl Buckets {
    /// The quiet count's one counter, in a [`quiet_lane`](Self::quiet_lane).
    pub const QUIET: usize = 0;

    /// The calling thread's lane of the quiet count, if successes may count at `stamp`
    /// now (the window is open at that stamp and the thread owns a lane): the caller
    /// adds one to counter [`QUIET`](Self::QUIET) of it, then asks
    /// [`still_quiet`](Self::still_quiet).
    #[inline(always)]
    pub fn quiet_lane(&self, stamp: Nanos) -> Option<OwnedLane<'_>> {
        if !self.is_quiet(stamp) {
            return None;
        }
        self.quiet_count.owned_here()
    }

    /// Whether the window is open to quiet successes at `stamp` (one load, no fence).
    #[inline(always)]
    pub fn is_quiet(&self, stamp: Nanos) -> bool {
        // Relaxed: the success writes nothing the opener's state guards; what orders
        // it against a closer is the fence pair in `still_quiet`.
        self.quiet.load(Ordering::Relaxed) == stamp
    }

    /// After a quiet count at `stamp`: whether the window is still open at it. False
    /// means a closer may have missed the count; the caller then settles
    /// ([`settle_quiet`](Self::settle_quiet)).
    #[inline(always)]
    pub fn still_quiet(&self, stamp: Nanos) -> bool {
        // Pairs with the closer's heavy fence (module docs).
        crate::barrier::light();
        // Acquire: a closer's swap is seen with what it did before (its failure's
        // bucket), for the settle that follows.
        self.quiet.load(Ordering::Acquire) == stamp
    }

    /// A quiet count through `lane` (owned by the calling thread, or the shared lane),
    /// for callers that hold their lane by other means than the thread's (the loom
    /// models).
    pub fn count_quiet(&self, lane: Lane) {
        self.quiet_count.incr(Self::QUIET, lane);
    }

    /// Every quiet success ever counted here (whatever the window holds now).
    pub fn quiet_successes(&self) -> u64 {
        self.quiet_count.sum(Self::QUIET)
    }

    /// The heap bytes of the quiet count's lanes, once a success counted there.
    pub fn quiet_heap_bytes(&self) -> usize {
        self.quiet_count.lanes_heap_bytes()
    }

    /// Freezes the quiet count (the connection was removed; see
    /// [`Tally::seal`](crate::circuit::counter::Tally::seal)).
    pub fn seal_quiet(&self, racing: bool) {
        self.quiet_count.seal(racing);
    }

    /// After a quiet count by this thread on a connection since removed: whether the
    /// sealed count holds it ([`Tally::kept_here`](crate::circuit::counter::Tally::kept_here)).
    pub fn kept_quiet(&self) -> bool {
        self.quiet_count.kept_here(Self::QUIET)
    }

    /// Opens the window to quiet successes at `stamp`, after a plain success at that
    /// stamp was recorded in a clean window. `Some(tallies)` when a failure raced the
    /// opening and the window was closed again: successes counted meanwhile may have
    /// been missed by the failure's decision, so the caller decides on these tallies.
    #[cold]
    #[inline(never)]
    pub fn open_quiet(&self, stamp: Nanos) -> Option<Tallies> {
        if stamp == NOT_A_READING {
            return None;
        }
        // Acquire: as in `still_quiet`.
        let seen = self.quiet.load(Ordering::Acquire);
        if seen == stamp || (seen != NOT_A_READING && seen > stamp) {
            // Open already, or at a later stamp than this report's.
            return None;
        }
        let epoch = self.epoch(stamp);
        if seen != NOT_A_READING && self.epoch(seen) < epoch {
            // Successes counted at an earlier epoch's stamp go into its bucket.
            self.flush(self.epoch(seen));
        }
        // Acquire (these three): as in `record_unless_clean`.
        let floor = self.floor.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Acquire);
        let dirty = self.dirty.load(Ordering::Acquire);
        if head != epoch || epoch < floor || !is_clean(dirty, epoch, floor) {
            return None;
        }
        // The lanes the quiet successes will count in, made now (once per window).
        self.quiet_count.prepare_lanes();
        // AcqRel: acquires a closer's swap it replaces (and what came before it);
        // Relaxed on failure: another report opened or closed it meanwhile.
        if self
            .quiet
            .compare_exchange(seen, stamp, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        // The store-load pair with the failure that ends a clean spell (module docs).
        fence(Ordering::SeqCst);
        // Acquire (both): as above.
        let dirty = self.dirty.load(Ordering::Acquire);
        let floor_now = self.floor.load(Ordering::Acquire);
        if floor_now == floor && is_clean(dirty, epoch, floor) {
            return None;
        }
        self.close_quiet();
        Some(self.tallies_at(epoch))
    }

    /// Called by the failure or slow call that made a clean window dirty, after its
    /// bucket CAS: closes the window to quiet successes if it was open (module docs).
    #[cold]
    #[inline(never)]
    pub(super) fn end_quiet_spell(&self) {
        // The store-load pair with `open_quiet`.
        fence(Ordering::SeqCst);
        // Relaxed: the fence orders it; only an open stamp needs the swap.
        if self.quiet.load(Ordering::Relaxed) != NOT_A_READING {
            self.close_quiet();
        }
    }

    /// Closes the window to quiet successes and, if it was open, puts what they
    /// counted into the open stamp's bucket once every count a success did not see
    /// the close after is visible (the heavy fence).
    fn close_quiet(&self) {
        // AcqRel: a success that sees the close (Acquire) sees what came before it.
        let was = self.quiet.swap(NOT_A_READING, Ordering::AcqRel);
        if was != NOT_A_READING {
            crate::barrier::heavy();
            self.flush(self.epoch(was));
        }
    }

    /// For a quiet success at `stamp` that found the window no longer open at it:
    /// puts the quiet count into the window (its own included) and returns the
    /// window's tallies if they must be decided on (the window is dirty), else `None`.
    #[cold]
    #[inline(never)]
    pub fn settle_quiet(&self, stamp: Nanos) -> Option<Tallies> {
        // Acquire: as in `still_quiet`.
        if self.quiet.load(Ordering::Acquire) != NOT_A_READING {
            // Opened again at a later stamp: the window was clean then, and only a
            // clear or a whole window without failures makes it so.
            return None;
        }
        let epoch = self.epoch(stamp);
        self.flush(epoch);
        // Acquire (both): as in `record_unless_clean`.
        let floor = self.floor.load(Ordering::Acquire);
        let dirty = self.dirty.load(Ordering::Acquire);
        if is_clean(dirty, epoch, floor) {
            return None;
        }
        Some(self.tallies_at(epoch))
    }

    /// A clear at `epoch`: the quiet successes stop and what they counted goes into
    /// the window, which the clear then empties (under the transition lock).
    pub(super) fn clear_quiet(&self, epoch: u64) {
        // AcqRel: as in `close_quiet`.
        let was = self.quiet.swap(NOT_A_READING, Ordering::AcqRel);
        let at = if was == NOT_A_READING {
            epoch
        } else {
            self.epoch(was)
        };
        self.flush(at);
    }

    /// Moves the quiet successes not yet in the buckets into `epoch`'s bucket (or
    /// evicts them if `epoch` is out of the window): claimed by a compare-and-swap of
    /// `flushed`, so each is added once.
    fn flush(&self, epoch: u64) {
        // Acquire: the flush that set it read every lane it counted, and so does ours
        // after it (each lane only grows).
        let mut done = self.flushed.load(Ordering::Acquire);
        loop {
            let total = self.quiet_count.sum(Self::QUIET);
            let n = total.wrapping_sub(done);
            if n == 0 || n > u64::from(u32::MAX) {
                // Nothing new (or a sum older than the claim: another flusher's).
                return;
            }
            // AcqRel: as the load above; Acquire on failure: retry from the newer claim.
            match self.flushed.compare_exchange_weak(
                done,
                total,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break self.add_flushed(epoch, n as u32),
                Err(d) => done = d,
            }
        }
    }

    /// `n` flushed successes into `epoch`'s bucket, or evicted if a clear came after
    /// that epoch.
    fn add_flushed(&self, epoch: u64, n: u32) {
        // Acquire: as in `record_unless_clean`.
        if epoch < self.floor.load(Ordering::Acquire) {
            self.evict(u64::from(n));
            return;
        }
        self.add_tallies(
            epoch,
            Tallies {
                calls: n,
                ..Tallies::default()
            },
        );
    }

    /// The quiet successes not yet in the buckets that the window ending at `epoch`
    /// holds: while the window is open, those counted at the open stamp if its epoch
    /// is in that window. While it is closed, none: its closer flushed them, and a
    /// success that counted after that (it loaded the stamp before the close) is a
    /// report in flight until it flushes its count itself (`settle_quiet`). One load
    /// on a dirty window's sums.
    #[inline]
    pub(super) fn pending(&self, epoch: u64) -> u32 {
        // Acquire: as in `still_quiet`.
        let open = self.quiet.load(Ordering::Acquire);
        if open == NOT_A_READING || self.epoch(open) + N <= epoch {
            return 0;
        }
        self.unflushed().min(u64::from(self.layout.max_calls())) as u32
    }

    /// The quiet successes not yet in the buckets.
    pub(super) fn unflushed(&self) -> u64 {
        // Acquire: as in `flush`; the lanes are read after it.
        let done = self.flushed.load(Ordering::Acquire);
        let n = self.quiet_count.sum(Self::QUIET).wrapping_sub(done);
        if n > u64::from(u32::MAX) {
            0
        } else {
            n
        }
    }
}
