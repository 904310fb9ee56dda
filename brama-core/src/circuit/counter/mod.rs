//! Exact counters that two reporting cores do not fight over.
//!
//! A [`Counter`] has [`LANES`] cells. Each of the first [`OWNED_LANES`] cells is written
//! by at most one thread at a time: the thread that owns that lane in the process-wide
//! [`LaneTable`]. The owner increments with a plain load and store (no locked
//! instruction), which is exact because nobody else writes the cell. Threads that could
//! not claim a lane use the last, shared cell with `fetch_add`. A total is the sum of
//! the cells.
//!
//! Lane ownership passes between threads only through the table's release/acquire
//! pair, so a new owner sees every increment of the previous one.
//!
//! # Removal
//!
//! A removed connection's counts are final: [`Tally::seal`] freezes them, and every
//! increment either is in the frozen totals or reports that it is not. The shared lane
//! is sealed by a flag bit that [`Tally::incr_unless_sealed`] respects (one RMW each
//! side). An owned lane is written with no RMW, so the seal copies each owned cell
//! into a snapshot cell of the same lane (the upper half of its cache line) after a
//! [`heavy`](crate::barrier::heavy) fence, and totals read after the seal add the
//! snapshots. An owner that counted and then, after a
//! [`light`](crate::barrier::light) fence, sees its connection removed asks
//! [`Tally::kept_here`]: its increment is in the totals if the snapshot of its cell
//! already holds it. The two fences are the store-load pair: if the owner's re-check
//! does not see the removal, the seal's copy sees the increment.

use crate::snapshot::MAX_SNAPSHOT_TOTAL;
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// Adds a restored total `n` to `total`, taking it no higher than
/// [`MAX_SNAPSHOT_TOTAL`] (2⁶²): restores repeated onto one connection then never
/// reach a counter's top bit (its seal) nor wrap it. The caller holds the connection's
/// transition lock, which every restore takes, so only counts of one can race this.
pub(crate) fn add_restored(total: &AtomicU64, n: u64) {
    // Relaxed: restores are serialized by the caller's lock; a count racing this load
    // only raises the total, by far less than the 2⁶² left below the top bit.
    let room = MAX_SNAPSHOT_TOTAL.saturating_sub(total.load(Ordering::Relaxed));
    // Relaxed: an independent count, as in `Tally::incr`.
    total.fetch_add(n.min(room), Ordering::Relaxed);
}

/// Lanes that a thread can own exclusively.
pub const OWNED_LANES: usize = 3;
/// All lanes: the owned ones plus one shared lane.
pub const LANES: usize = OWNED_LANES + 1;

/// The top bit of a shared lane: set by [`Tally::seal`], never part of the count.
const SEALED: u64 = 1 << 63;

/// Counter cells per lane: one cache line of `u64`s. The first half counts, the second
/// holds the seal's snapshot of the first (see "Removal"), so a [`Tally`] has at most
/// `SNAPSHOT` counters.
const STRIDE: usize = 8;
/// Where a lane's snapshot cells start: counter `kind`'s snapshot is `kind + SNAPSHOT`.
const SNAPSHOT: usize = STRIDE / 2;

/// A lane, as the index of its first cell in the owned lanes' block: lane `i` of
/// `0..OWNED_LANES` is `i * STRIDE`, owned by the calling thread; `OWNED_LANES * STRIDE`
/// is the shared lane. Kept pre-multiplied so that counting through a lane is one
/// addition, no shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lane(u8);

impl Lane {
    /// The shared lane, always safe to use from any thread.
    pub const SHARED: Lane = Lane((OWNED_LANES * STRIDE) as u8);

    /// Owned lane `i` (`i < OWNED_LANES`).
    const fn owned(i: usize) -> Lane {
        Lane((i * STRIDE) as u8)
    }

    /// Whether this lane is exclusively owned by its holder. (Written as "at most the
    /// last owned lane" so that the compiler sees every owned cell index in bounds.)
    #[inline]
    pub fn is_owned(self) -> bool {
        (self.0 as usize) <= (OWNED_LANES - 1) * STRIDE
    }

    /// Which owned lane this is (`0..OWNED_LANES`); only for owned lanes.
    fn index(self) -> usize {
        self.0 as usize / STRIDE
    }
}

/// Who owns which lane.
#[derive(Debug)]
pub struct LaneTable {
    owned: [AtomicBool; OWNED_LANES],
}

impl LaneTable {
    /// A table with every lane free.
    pub fn new() -> LaneTable {
        LaneTable {
            owned: std::array::from_fn(|_| AtomicBool::new(false)),
        }
    }

    /// Claims a free lane for the calling thread, or returns [`Lane::SHARED`].
    /// The caller must give an owned lane back with [`LaneTable::release`] and must not
    /// let another thread use it meanwhile.
    pub fn claim(&self) -> Lane {
        for (i, flag) in self.owned.iter().enumerate() {
            // Acquire on success: pairs with the Release in `release`, so this thread sees
            // every increment the previous owner made in this lane.
            if flag
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Lane::owned(i);
            }
        }
        Lane::SHARED
    }

    /// Gives an owned lane back; the shared lane is ignored.
    pub fn release(&self, lane: Lane) {
        if lane.is_owned() {
            // Release: publishes this owner's increments to the next claimer.
            self.owned[lane.index()].store(false, Ordering::Release);
        }
    }
}

impl Default for LaneTable {
    fn default() -> LaneTable {
        LaneTable::new()
    }
}

/// The owned lanes of one [`Tally`], lane after lane, each on its own cache line (so two
/// reporting cores never write the same line): counter `kind` of a lane is at index
/// `lane.0 + kind`.
#[repr(align(64))]
#[derive(Debug)]
struct LaneCells([AtomicU64; OWNED_LANES * STRIDE]);

impl LaneCells {
    /// Counter `kind` of owned lane `lane`.
    #[inline(always)]
    fn cell(&self, lane: Lane, kind: usize) -> &AtomicU64 {
        &self.0[lane.0 as usize + kind]
    }

    /// Adds one to counter `kind` of `lane`, which the calling thread must own (the
    /// callers have checked [`Lane::is_owned`], which also bounds the index).
    #[inline(always)]
    fn bump(&self, lane: Lane, kind: usize) {
        let cell = self.cell(lane, kind);
        // Relaxed: only this thread writes the cell (lane ownership), so load+store is
        // exact; readers are ordered by whatever publishes the report (a later Release
        // on the connection's word, handle count, map lock or thread join).
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }
}

/// The calling thread's own lane of one [`Tally`] ([`Tally::owned_here`]).
#[derive(Clone, Copy, Debug)]
pub struct OwnedLane<'a> {
    cells: &'a LaneCells,
    lane: Lane,
}

impl OwnedLane<'_> {
    /// Adds one to counter `kind` (a plain load and store: the lane is this thread's).
    #[inline(always)]
    pub fn incr(self, kind: usize) {
        self.cells.bump(self.lane, kind);
    }
}

/// `N` exact counters sharing one set of lanes.
///
/// The shared lane lives inline; the owned lanes are allocated on the first increment
/// through one, so a connection that is never reported on costs `8 * N + 8` bytes and a
/// hot one gets a cache line per lane.
#[derive(Debug)]
pub struct Tally<const N: usize> {
    shared: [AtomicU64; N],
    // `OnceBox` rather than std's `OnceLock<Box<_>>`: one pointer (8 bytes, not 16),
    // and asking whether the lanes exist is one Acquire load of that pointer, not a load
    // of the once-state followed by a load of the box.
    #[cfg(not(brama_loom))]
    lanes: once_cell::race::OnceBox<LaneCells>,
    // Under loom the lanes are allocated up front: once_cell's atomics are std's, which
    // loom cannot see, and what the models check is the lane protocol, not the
    // (trusted) one-time allocation.
    #[cfg(brama_loom)]
    lanes: Box<LaneCells>,
}

fn new_lanes() -> Box<LaneCells> {
    Box::new(LaneCells(std::array::from_fn(|_| AtomicU64::new(0))))
}

impl<const N: usize> Tally<N> {
    /// Every counter at zero.
    pub fn new() -> Tally<N> {
        const { assert!(N <= SNAPSHOT, "a lane holds at most SNAPSHOT counters") };
        Tally {
            shared: std::array::from_fn(|_| AtomicU64::new(0)),
            #[cfg(not(brama_loom))]
            lanes: once_cell::race::OnceBox::new(),
            #[cfg(brama_loom)]
            lanes: new_lanes(),
        }
    }

    /// The owned lanes, allocated on first use.
    #[inline]
    fn lanes(&self) -> &LaneCells {
        #[cfg(not(brama_loom))]
        return self.lanes.get_or_init(new_lanes);
        #[cfg(brama_loom)]
        return &self.lanes;
    }

    /// The owned lanes, if any were allocated.
    #[inline]
    fn lanes_if_any(&self) -> Option<&LaneCells> {
        #[cfg(not(brama_loom))]
        return self.lanes.get();
        #[cfg(brama_loom)]
        return Some(&self.lanes);
    }

    /// Adds one to counter `kind` through `lane`. An owned lane must be owned by the
    /// calling thread.
    #[inline]
    pub fn incr(&self, kind: usize, lane: Lane) {
        if lane.is_owned() {
            self.lanes().bump(lane, kind);
        } else {
            // Relaxed: an independent count; see `LaneCells::bump` for how readers are
            // ordered.
            self.shared[kind].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds `n` to counter `kind` through the shared lane (a restore), taking the lane
    /// no higher than [`MAX_SNAPSHOT_TOTAL`] (2⁶²), so that restores repeated onto one
    /// connection never reach the seal bit and counting goes on above them. The caller
    /// keeps the counter unsealed and holds the transition lock (what removal and every
    /// other restore take), so only counts of one can race this.
    pub fn add(&self, kind: usize, n: u64) {
        add_restored(&self.shared[kind], n);
    }

    /// Adds one to counter `kind` through the calling thread's lane: one thread-local
    /// byte and one compare when the thread owns a lane; claiming one, or the shared
    /// lane, is out of line. Returns false if it went to the shared lane and found it
    /// sealed (nothing counted); an owned lane always counts, and a caller that must be
    /// exact against a seal asks [`kept_here`](Self::kept_here) once it sees one.
    #[inline]
    pub fn incr_here(&self, kind: usize) -> bool {
        match current::owned_lane() {
            Some(lane) => {
                self.incr(kind, lane);
                true
            }
            None => self.incr_unowned(kind),
        }
    }

    /// After [`incr_here`](Self::incr_here) counted and the seal has happened (the
    /// caller saw the removal after a light fence, and holds what orders it after the
    /// seal): whether that increment is in the sealed totals. Only the owner writes its
    /// cell, so the cell holds this thread's latest increment, and the seal's snapshot
    /// holds it if and only if the seal's copy came after it.
    #[cold]
    pub fn kept_here(&self, kind: usize) -> bool {
        match current::owned_lane() {
            Some(lane) => self.kept_in(lane, kind),
            // Counted on the shared lane before its seal: in the totals.
            None => true,
        }
    }

    /// [`kept_here`](Self::kept_here) for an increment through `lane`, which the
    /// calling thread owns (or the shared lane, whose counted increments are kept).
    pub fn kept_in(&self, lane: Lane, kind: usize) -> bool {
        let Some(lanes) = self.lanes_if_any().filter(|_| lane.is_owned()) else {
            return true;
        };
        // Relaxed: the cell is this thread's own; the snapshot was written before the
        // seal, which the caller's lock orders before this load.
        let live = lanes.cell(lane, kind).load(Ordering::Relaxed);
        lanes.cell(lane, kind + SNAPSHOT).load(Ordering::Relaxed) == live
    }

    /// Adds one to counter `kind` if the calling thread owns a lane and this tally's
    /// lanes are allocated (one thread-local byte, one compare, one pointer); otherwise
    /// counts nothing and returns false.
    #[inline]
    pub fn incr_if_owned(&self, kind: usize) -> bool {
        self.owned_here().map(|lane| lane.incr(kind)).is_some()
    }

    /// The calling thread's own lane of this tally, if it owns a lane and this tally's
    /// lanes are allocated (one thread-local byte, one compare, one pointer): for a
    /// caller that must know a count will go there before it changes anything else.
    #[inline]
    pub fn owned_here(&self) -> Option<OwnedLane<'_>> {
        let lane = current::owned_lane()?;
        Some(OwnedLane {
            cells: self.lanes_if_any()?,
            lane,
        })
    }

    /// Whether the owned lanes are allocated: only then can a thread count here with a
    /// plain store (the seal's heavy fence is needed for such counts, see "Removal").
    pub fn has_lanes(&self) -> bool {
        self.lanes_if_any().is_some()
    }

    /// The heap bytes of the owned lanes: none until they are allocated.
    pub fn lanes_heap_bytes(&self) -> usize {
        if self.has_lanes() {
            std::mem::size_of::<LaneCells>()
        } else {
            0
        }
    }

    /// Allocates the owned lanes now if the calling thread owns a lane (claiming one
    /// if it has none yet), so that [`incr_if_owned`](Self::incr_if_owned) counts
    /// there from then on. For a connection a thread is about to count on often
    /// without a handle (one it puts in its per-thread cache); cold.
    pub fn prepare_lanes(&self) {
        if lane().is_owned() {
            let _ = self.lanes();
        }
    }

    #[cold]
    #[inline(never)]
    fn incr_unowned(&self, kind: usize) -> bool {
        match lane() {
            owned if owned.is_owned() => {
                self.incr(kind, owned);
                true
            }
            _ => self.incr_unless_sealed(kind),
        }
    }

    /// Adds one to counter `kind` through the shared lane, unless [`Tally::seal`] came
    /// first; returns whether it counted. Exact against `seal` whatever the ordering:
    /// both are read-modify-writes of the same atomic, so one is first in its
    /// modification order. If the increment is, the seal returns it and every later read
    /// of the sealer sees it; if the seal is, the increment does not happen.
    #[inline]
    pub fn incr_unless_sealed(&self, kind: usize) -> bool {
        let cell = &self.shared[kind];
        // Relaxed: exactness against `seal` rests on the order of RMWs on this one
        // atomic (see above); nothing else is published through it.
        let mut v = cell.load(Ordering::Relaxed);
        loop {
            if v & SEALED != 0 {
                return false;
            }
            // Relaxed: as above.
            match cell.compare_exchange_weak(v, v + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// Freezes the totals (see "Removal"): [`Tally::incr_unless_sealed`] counts
    /// nothing after this, each owned cell is copied into its snapshot, and
    /// [`Tally::sum`] reads the snapshots from then on. The caller has just published
    /// the removal that owners re-check after their light fence. `racing` says whether
    /// an owner may be counting without anything that orders it before this call (a
    /// live handle); only then is the heavy fence run. Called once.
    pub fn seal(&self, racing: bool) {
        if racing {
            crate::barrier::heavy();
        }
        if let Some(lanes) = self.lanes_if_any() {
            for i in 0..OWNED_LANES {
                for kind in 0..N {
                    let lane = Lane::owned(i);
                    // Relaxed: the heavy fence orders these loads after the removal's
                    // store, against the owners' light fences; the Release below
                    // publishes the copies.
                    let v = lanes.cell(lane, kind).load(Ordering::Relaxed);
                    lanes
                        .cell(lane, kind + SNAPSHOT)
                        .store(v, Ordering::Relaxed);
                }
            }
        }
        for cell in &self.shared {
            // Release: publishes the snapshots to `sum`'s Acquire; the RMW itself is
            // what makes `incr_unless_sealed` exact.
            cell.fetch_or(SEALED, Ordering::Release);
        }
    }

    /// The total of counter `kind` over every lane (after a seal, the frozen total).
    pub fn sum(&self, kind: usize) -> u64 {
        // Acquire: pairs with `seal`'s Release, so a sealed total reads its snapshots.
        let shared = self.shared[kind].load(Ordering::Acquire);
        let cell = if shared & SEALED != 0 {
            kind + SNAPSHOT
        } else {
            kind
        };
        let shared = shared & !SEALED;
        self.lanes_if_any().map_or(shared, |lanes| {
            (0..OWNED_LANES).fold(shared, |acc, i| {
                // Relaxed: a snapshot; see `incr`.
                acc.wrapping_add(lanes.cell(Lane::owned(i), cell).load(Ordering::Relaxed))
            })
        })
    }
}

impl<const N: usize> Default for Tally<N> {
    fn default() -> Tally<N> {
        Tally::new()
    }
}

/// One exact, monotonically increasing counter (a [`Tally`] of one).
#[derive(Debug, Default)]
pub struct Counter(Tally<1>);

impl Counter {
    /// A counter at zero.
    pub fn new() -> Counter {
        Counter(Tally::new())
    }

    /// Adds one through `lane`. An owned lane must be owned by the calling thread.
    #[inline]
    pub fn incr(&self, lane: Lane) {
        self.0.incr(0, lane);
    }

    /// The total over every lane.
    pub fn sum(&self) -> u64 {
        self.0.sum(0)
    }
}

#[cfg(not(brama_loom))]
mod current;

#[cfg(brama_loom)]
mod current {
    use super::Lane;

    /// Under loom, threads share one OS thread's locals, so every thread uses the
    /// shared lane; the owned-lane protocol is checked through `LaneTable` directly.
    #[inline]
    pub fn lane() -> Lane {
        Lane::SHARED
    }

    /// Under loom no thread owns a lane.
    #[inline]
    pub fn owned_lane() -> Option<Lane> {
        None
    }
}

pub use current::lane;

#[cfg(all(test, not(brama_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_seal_stops_sealed_increments_and_keeps_every_earlier_one() {
        let t: Tally<3> = Tally::new();
        assert!(t.incr_unless_sealed(0));
        assert!(t.incr_unless_sealed(0));
        t.incr(1, Lane::SHARED);
        t.seal(true);
        assert_eq!(t.sum(0), 2, "the seal bit is not part of the count");
        assert!(!t.incr_unless_sealed(0));
        assert!(!t.incr_unless_sealed(2));
        assert_eq!((t.sum(0), t.sum(1), t.sum(2)), (2, 1, 0));
        // Plain increments (reports through a handle) still count after the seal.
        t.incr(0, Lane::SHARED);
        assert_eq!(t.sum(0), 3);
        t.seal(true);
        assert_eq!(t.sum(0), 3, "sealing twice changes nothing");
    }

    #[test]
    fn sealed_increments_racing_a_seal_are_counted_exactly_when_they_say_so() {
        for _ in 0..50 {
            let t = Arc::new(Tally::<1>::new());
            let counters: Vec<_> = (0..2)
                .map(|_| {
                    let t = Arc::clone(&t);
                    std::thread::spawn(move || {
                        (0..500).filter(|_| t.incr_unless_sealed(0)).count() as u64
                    })
                })
                .collect();
            let sealer = {
                let t = Arc::clone(&t);
                std::thread::spawn(move || {
                    std::thread::yield_now();
                    t.seal(true);
                    t.sum(0)
                })
            };
            let at_seal = sealer.join().unwrap();
            let counted: u64 = counters.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(
                at_seal, counted,
                "the sealer saw exactly the increments that counted"
            );
            assert_eq!(t.sum(0), counted);
        }
    }

    #[test]
    fn table_hands_out_each_owned_lane_once() {
        let t = LaneTable::new();
        let lanes: Vec<Lane> = (0..OWNED_LANES + 2).map(|_| t.claim()).collect();
        for (i, lane) in lanes.iter().enumerate().take(OWNED_LANES) {
            assert_eq!(*lane, Lane::owned(i));
            assert!(lane.is_owned());
        }
        assert_eq!(lanes[OWNED_LANES], Lane::SHARED);
        assert_eq!(lanes[OWNED_LANES + 1], Lane::SHARED);
        t.release(lanes[1]);
        assert_eq!(t.claim(), Lane::owned(1));
    }

    #[test]
    fn many_threads_count_exactly() {
        let c = Arc::new(Counter::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.incr(lane());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.sum(), 80_000);
    }
}
