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
//! again) or the failure sees the stamp and closes it. Closing replaces the stamp with
//! `CLOSING` (a compare-and-swap: one closer), runs a heavy fence
//! ([`crate::barrier::heavy`]), flushes the count into the open stamp's bucket and
//! stores `CLOSED`; the failure sums the window after that. While `CLOSING`, every sum
//! still adds the count not yet flushed, so a second failure deciding meanwhile (one
//! that found the window dirty already) counts the quiet successes too.
//!
//! **Why no success is missed.** A quiet success counts, runs a light fence, and loads
//! the stamp again ([`Buckets::still_quiet`]). That is the store-then-load pair the
//! closer's compare-and-swap, heavy fence and flush make on the other side: either the
//! flush (and so the failure's sum) sees the count, or the success sees the stamp gone
//! and, in [`Buckets::settle_quiet`], flushes its count itself and decides on the
//! window, failure included. As with two reports into one bucket (module docs), of a
//! success and a failure racing in one epoch, the later decides on both (reports racing
//! across an epoch boundary may each miss the other, as any two may).
//!
//! **Clears.** A clear (under the transition lock) closes the window the same way,
//! heavy fence included, before emptying it, so the quiet successes are evicted with
//! the rest, and one that counted without seeing the clear is in the flush. A success
//! that saw the close settles its count itself, after the clear: a report racing the
//! clear lands after it, as one into a bucket may.
//!
//! **Precision.** The count is put into the bucket of the stamp it was open at when
//! the next epoch opens the window, or when it is closed. A success that stalls between
//! its count and its settle puts into its own stamp's bucket whatever is unflushed then
//! (counts of later stamps too, which then leave the window early), and counts made
//! between an opening's flush and its compare-and-swap go into the new stamp's bucket:
//! both only around a stall or an epoch boundary, never a count lost or made twice.
//!
//! The cost: a `SeqCst` fence per opening (once per stamp, a millisecond, per busy
//! connection), and a `membarrier` per clean spell a failure or a clear ends.

use super::{is_clean, Buckets, N};
use crate::circuit::counter::{Lane, OwnedLane};
use crate::clock::{Nanos, NOT_A_READING};
use crate::policy::Tallies;
use crate::sync::{fence, Ordering};

/// The quiet stamp of a window closed to quiet successes, with nothing counted there
/// that is not in its buckets (but a straggler's, see `settle_quiet`).
pub(super) const CLOSED: Nanos = NOT_A_READING;
/// The quiet stamp of a window being closed: its count is being flushed, and every sum
/// still adds what is not in the buckets yet. No reading takes either value.
const CLOSING: Nanos = NOT_A_READING + 1;

/// Whether a quiet stamp is a reading: the window is open at it.
#[inline]
fn is_open(stamp: Nanos) -> bool {
    stamp < NOT_A_READING
}

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
    /// `stamp` is a clock reading: the callers compare it with a success stamp first,
    /// which never holds `NOT_A_READING`.
    #[inline(always)]
    pub fn is_quiet(&self, stamp: Nanos) -> bool {
        debug_assert!(is_open(stamp), "a quiet stamp that is not a reading");
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
        // Acquire: a close is seen with what its closer did before (its failure's
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

    /// The heap bytes of the quiet count's lanes, once an opening made them.
    pub fn quiet_heap_bytes(&self) -> usize {
        self.quiet_count.lanes_heap_bytes()
    }

    /// Whether the quiet count has lanes, where a thread may count with a plain store.
    pub fn has_quiet_lanes(&self) -> bool {
        self.quiet_count.has_lanes()
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
        if !is_open(stamp) {
            return None;
        }
        // Acquire: as in `still_quiet`.
        let seen = self.quiet.load(Ordering::Acquire);
        if seen == stamp || seen == CLOSING || (is_open(seen) && seen > stamp) {
            // Open already, being closed, or open at a later stamp than this report's.
            return None;
        }
        let epoch = self.epoch(stamp);
        if is_open(seen) && self.epoch(seen) < epoch {
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
        // AcqRel: acquires the close it replaces (and its flush before it); Relaxed on
        // failure: another report opened or closed it meanwhile.
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
        self.close_quiet();
    }

    /// Closes the window to quiet successes if it is open: marks it `CLOSING` (every
    /// sum keeps adding the count meanwhile), runs the heavy fence, after which every
    /// count a success made without seeing the close is visible, puts the count into
    /// the open stamp's bucket, and marks it `CLOSED`. Returns the stamp it was open
    /// at, if it was.
    fn close_quiet(&self) -> Option<Nanos> {
        // Relaxed: the CAS below decides; a stale value only costs a retry.
        let mut was = self.quiet.load(Ordering::Relaxed);
        while is_open(was) {
            // AcqRel: a success that sees the close (Acquire) sees what came before
            // it; Relaxed on failure: retried from the value found.
            match self.quiet.compare_exchange_weak(
                was,
                CLOSING,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    crate::barrier::heavy();
                    self.flush(self.epoch(was));
                    // Release: the flush is seen by whoever sees `CLOSED`. Only this
                    // closer leaves `CLOSING` (openers and closers skip it).
                    self.quiet.store(CLOSED, Ordering::Release);
                    return Some(was);
                }
                Err(now) => was = now,
            }
        }
        None
    }

    /// For a quiet success at `stamp` that found the window no longer open at it:
    /// puts the quiet count into the window (its own included) and returns the
    /// window's tallies if they must be decided on (the window is dirty), else `None`.
    #[cold]
    #[inline(never)]
    pub fn settle_quiet(&self, stamp: Nanos) -> Option<Tallies> {
        // Acquire: as in `still_quiet`.
        if is_open(self.quiet.load(Ordering::Acquire)) {
            // Opened again (at a later stamp, or at this one after a clear): the
            // window was clean then, and only a clear or a whole window without
            // failures makes it so. The count is in that opening's.
            return None;
        }
        // Being closed or closed: the closer's flush may have missed this count (this
        // success saw the close), so it goes into the window here.
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
        if self.close_quiet().is_none() {
            // Closed already (or being closed by a failure, whose flush goes before
            // the floor, evicted): a straggler's count, if any, goes in now.
            self.flush(epoch);
        }
    }

    /// Moves the quiet successes not yet in the buckets into `epoch`'s bucket (or
    /// evicts them if `epoch` is out of the window): claimed by a compare-and-swap of
    /// `claimed`, so each is added once.
    ///
    /// A flush claims its part first (`claimed`, so two flushes never add the same
    /// successes), adds it to the bucket, and only then counts it in `flushed`, which a
    /// sum reads before the buckets: a sum racing a flush may count its successes twice
    /// (more calls, for an instant: a decision then can only come later), never miss
    /// them.
    fn flush(&self, epoch: u64) {
        // Acquire: the flush that claimed it read every lane it counted, and so does
        // ours after it (each lane only grows).
        let mut done = self.claimed.load(Ordering::Acquire);
        loop {
            let total = self.quiet_count.sum(Self::QUIET);
            let Some(n) = ahead(total, done) else {
                // Nothing new (or a sum older than another flusher's claim).
                return;
            };
            // AcqRel: as the load above; Acquire on failure: retry from the newer claim.
            match self.claimed.compare_exchange_weak(
                done,
                total,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.add_flushed(epoch, n);
                    // Release: a sum that reads this (Acquire) sees the bucket add.
                    self.flushed.fetch_add(n, Ordering::Release);
                    return;
                }
                Err(d) => done = d,
            }
        }
    }

    /// `n` flushed successes into `epoch`'s bucket (what it has no room for evicted),
    /// or evicted if a clear came after that epoch.
    fn add_flushed(&self, epoch: u64, n: u64) {
        // Acquire: as in `record_unless_clean`.
        if epoch < self.floor.load(Ordering::Acquire) {
            self.evict(n);
            return;
        }
        // More than a bucket holds is evicted anyway; a u32 of it goes to the bucket.
        let calls = u32::try_from(n).unwrap_or(u32::MAX);
        self.evict(n - u64::from(calls));
        self.add_tallies(
            epoch,
            Tallies {
                calls,
                ..Tallies::default()
            },
        );
    }

    /// The quiet successes not yet in the buckets that the window ending at `epoch`
    /// holds (at most a bucket's capacity): while the window is open, those counted at
    /// the open stamp unless its epoch is older than that window (a stamp newer than
    /// `epoch` is a report racing this sum: counted); while it is being closed, all of
    /// them, until the closer has flushed them. Once it is closed, none: the closer
    /// flushed them, and a success that counted after that (it loaded the stamp before
    /// the close) is a report in flight until it flushes its count itself
    /// (`settle_quiet`). One load on a dirty window's sums.
    ///
    /// In two steps around the bucket sum: [`pending_from`](Self::pending_from) before
    /// it (`flushed`, if the window holds any pending successes), then
    /// [`pending_since`](Self::pending_since) after it (the count since).
    #[inline]
    pub(super) fn pending_from(&self, epoch: u64) -> Option<u64> {
        // Acquire: as in `still_quiet`.
        let open = self.quiet.load(Ordering::Acquire);
        if open == CLOSED || (is_open(open) && self.epoch(open) + N <= epoch) {
            return None;
        }
        // Acquire: pairs with the flushes' Release, so the buckets read after this hold
        // every flush it counts.
        Some(self.flushed.load(Ordering::Acquire))
    }

    /// The second step of [`pending_from`](Self::pending_from): the quiet count past
    /// `flushed`, at most a bucket's capacity.
    #[inline]
    pub(super) fn pending_since(&self, flushed: u64) -> u32 {
        let n = ahead(self.quiet_count.sum(Self::QUIET), flushed).unwrap_or(0);
        n.min(u64::from(self.layout.max_calls())) as u32
    }

    /// The quiet successes not yet in the buckets (for tests, with no report in
    /// flight).
    pub(super) fn unflushed(&self) -> u64 {
        // Acquire: as in `pending_from`.
        let done = self.flushed.load(Ordering::Acquire);
        ahead(self.quiet_count.sum(Self::QUIET), done).unwrap_or(0)
    }
}

/// How far a quiet total is past a flushed one, if it is: the count only grows, so a
/// total "behind" the flushed one (read before another flusher's claim) is none.
#[inline]
fn ahead(total: u64, done: u64) -> Option<u64> {
    let n = total.wrapping_sub(done);
    (n != 0 && n < 1 << 63).then_some(n)
}
