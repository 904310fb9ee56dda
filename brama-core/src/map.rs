//! The registry's map from key to connection, behind one small facade.
//!
//! Normally a sharded `dashmap` (readers of different shards never meet; a shard's read
//! lock is held only for the length of a closure that runs no user code), plus a sweep
//! list (`slots::Slots`) that keeps every connection in registration order for the
//! janitor. Under `--cfg brama_loom` a loom `Mutex<HashMap>` stands in, because loom
//! cannot model dashmap's locks; the facade's contract (closures run under the entry's
//! lock, conditional removal is atomic with the condition, a sweep visits every entry
//! present for its whole length exactly once, in segments) holds for both.

use std::time::Duration;

use crate::cell::CellRef;
use crate::key::KeyView;

/// Entries the sweep reads before it acts on what it found (ticks, evictions), so that
/// its lists of candidates stay small.
pub const SEGMENT: usize = 1024;

#[cfg(not(brama_loom))]
/// Shards: more than dashmap's default so that a sweep of a million connections holds
/// any one shard for a short time.
pub const SHARDS: usize = 512;

#[cfg(not(brama_loom))]
mod imp {
    use super::*;
    use std::borrow::Borrow;
    use std::hash::Hash;

    use dashmap::mapref::entry::Entry as MapEntry;
    use dashmap::DashMap;

    type Hasher = foldhash::fast::RandomState;

    pub use super::slots::Segment;
    use super::slots::Slots;

    /// A map entry is the connection itself: its key lives once, in the cell, and the
    /// table holds one pointer per connection.
    #[derive(Debug)]
    struct Entry(CellRef);

    impl Hash for Entry {
        fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
            (self.0.key() as &dyn KeyView).hash(h);
        }
    }

    impl PartialEq for Entry {
        fn eq(&self, other: &Entry) -> bool {
            self.0.key() == other.0.key()
        }
    }

    impl Eq for Entry {}

    impl<'a> Borrow<dyn KeyView + 'a> for Entry {
        fn borrow(&self) -> &(dyn KeyView + 'a) {
            self.0.key()
        }
    }

    #[derive(Debug)]
    pub struct Map {
        inner: DashMap<Entry, (), Hasher>,
        /// Every entry again, in registration order, for the sweep.
        slots: Slots,
    }

    impl Map {
        pub fn new() -> Map {
            Map {
                inner: DashMap::with_hasher_and_shard_amount(Hasher::default(), SHARDS),
                slots: Slots::new(),
            }
        }

        /// The map's hash of `key`.
        #[inline]
        pub fn hash(&self, key: &dyn KeyView) -> u64 {
            use std::hash::BuildHasher;
            self.inner.hasher().hash_one(key)
        }

        /// Runs `f` on the entry under its shard's read lock.
        #[inline]
        pub fn get<R>(&self, key: &dyn KeyView, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            self.inner.get(key).map(|r| f(&r.key().0))
        }

        /// Inserts `cell` under its own key unless that key is present.
        ///
        /// The cell enters the sweep list first, so that it has its slot before anyone
        /// can find it in the map (and so remove it); a loser of a duplicate race
        /// leaves the list again. A sweep that meets it in between only reads it, and
        /// its eviction would find no entry for it (`remove_if` compares pointers).
        pub fn insert_new(&self, cell: &CellRef) -> bool {
            self.slots.insert(cell);
            match self.inner.entry(Entry(CellRef::clone(cell))) {
                MapEntry::Occupied(o) => {
                    drop(o);
                    self.slots.remove(cell);
                    false
                }
                MapEntry::Vacant(v) => {
                    v.insert(());
                    true
                }
            }
        }

        /// Removes the entry if `pred` holds, atomically with the check; then the
        /// connection leaves the sweep list (after the shard lock is released: a sweep
        /// that sees it in between finds it marked removed and skips it).
        pub fn remove_if(
            &self,
            key: &dyn KeyView,
            pred: impl FnOnce(&CellRef) -> bool,
        ) -> Option<CellRef> {
            let removed = self
                .inner
                .remove_if(key, |k, _| pred(&k.0))
                .map(|(k, _)| k.0);
            if let Some(cell) = &removed {
                self.slots.remove(cell);
            }
            removed
        }

        /// Removes the entry if `pred` holds, atomically with the check, leaving the
        /// sweep list alone: for the sweep's own evictions, which free the slot through
        /// the [`Segment`] the cell was found in.
        pub fn remove_swept(
            &self,
            key: &dyn KeyView,
            pred: impl FnOnce(&CellRef) -> bool,
        ) -> Option<CellRef> {
            self.inner
                .remove_if(key, |k, _| pred(&k.0))
                .map(|(k, _)| k.0)
        }

        /// The sweep's walk: every connection, in registration order, handed to `f`
        /// a [`Segment`] of at most [`SEGMENT`] at a time. No lock is held while `f`
        /// runs (see `slots`). Returns the longest a stripe lock was held.
        pub fn sweep(&self, f: impl FnMut(&mut Segment<'_>)) -> Duration {
            self.slots.sweep(f)
        }

        /// Visits every entry, holding one shard's read lock at a time.
        pub fn for_each(&self, mut f: impl FnMut(&CellRef)) {
            for r in self.inner.iter() {
                f(&r.key().0);
            }
        }
    }
}

#[cfg(brama_loom)]
mod imp {
    use super::*;
    use crate::key::OwnedKey;
    use crate::sync::{lock, Mutex};
    use std::collections::HashMap;

    #[derive(Debug)]
    pub struct Map {
        inner: Mutex<HashMap<OwnedKey, CellRef>>,
    }

    impl Map {
        pub fn new() -> Map {
            Map {
                inner: Mutex::new(HashMap::new()),
            }
        }

        pub fn get<R>(&self, key: &dyn KeyView, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            lock(&self.inner).get(key).map(f)
        }

        pub fn insert_new(&self, cell: &CellRef) -> bool {
            let mut map = lock(&self.inner);
            if map.contains_key(cell.key()) {
                return false;
            }
            map.insert(cell.key().clone(), CellRef::clone(cell));
            true
        }

        pub fn remove_if(
            &self,
            key: &dyn KeyView,
            pred: impl FnOnce(&CellRef) -> bool,
        ) -> Option<CellRef> {
            let mut map = lock(&self.inner);
            if map.get(key).is_some_and(pred) {
                map.remove(key)
            } else {
                None
            }
        }

        pub fn for_each(&self, mut f: impl FnMut(&CellRef)) {
            let cells: Vec<CellRef> = lock(&self.inner).values().cloned().collect();
            for c in &cells {
                f(c);
            }
        }

        pub fn remove_swept(
            &self,
            key: &dyn KeyView,
            pred: impl FnOnce(&CellRef) -> bool,
        ) -> Option<CellRef> {
            self.remove_if(key, pred)
        }

        /// Segments of a snapshot taken under the lock (loom cannot time the hold).
        pub fn sweep(&self, mut f: impl FnMut(&mut Segment<'_>)) -> Duration {
            let cells: Vec<CellRef> = lock(&self.inner).values().cloned().collect();
            for (i, chunk) in cells.chunks(SEGMENT).enumerate() {
                f(&mut Segment {
                    cells: chunk,
                    base: i * SEGMENT,
                });
            }
            Duration::ZERO
        }
    }

    /// A run of the sweep's snapshot.
    pub struct Segment<'a> {
        cells: &'a [CellRef],
        base: usize,
    }

    impl Segment<'_> {
        pub fn cells(&self) -> impl Iterator<Item = (usize, &CellRef)> {
            let base = self.base;
            self.cells
                .iter()
                .enumerate()
                .map(move |(i, c)| (base + i, c))
        }

        /// Nothing to free: the snapshot is dropped after the sweep.
        pub fn release(&mut self, _pos: usize) {}
    }
}

#[cfg(not(brama_loom))]
mod slots {
    //! The sweep list: every connection in registration order, so that the sweep walks
    //! memory in (roughly) the order it was allocated instead of in hash order.
    //!
    //! The list is striped; a registering thread keeps to one stripe. A sweep takes a
    //! stripe's whole list *out* (one `mem::take` under the stripe lock), walks it with
    //! no lock held, and puts it back under the lock. Meanwhile registrations and
    //! removals of that stripe are queued as `Change`s under the lock and applied when
    //! the list comes back; the sweep frees the slots of its own evictions itself. So
    //! the sweep holds a stripe lock only to take a list and to put it back (applying
    //! what was queued), however many connections it walks, and never a shard lock
    //! while walking.

    use std::time::{Duration, Instant};

    use super::SEGMENT;
    use crate::cell::{CellRef, ConnectionCell};
    use crate::sync::{lock, Mutex};

    /// Stripes: a registering thread keeps to one, so registrations from different
    /// threads rarely meet on a lock, and one thread's connections sit side by side.
    const STRIPES: usize = 16;
    const STRIPE_BITS: u32 = STRIPES.trailing_zeros();
    /// A cell's slot before it has one.
    const NO_SLOT: u64 = u64::MAX;

    /// One stripe on its own cache line.
    #[repr(align(64))]
    #[derive(Debug, Default)]
    struct Stripe(Mutex<List>);

    #[derive(Debug, Default)]
    struct List {
        /// `None` where a connection left (reused through `free`). Empty while out.
        cells: Vec<Option<CellRef>>,
        /// Slots handed out: `cells.len()` while the list is home.
        len: usize,
        free: Vec<usize>,
        /// Whether a sweep has the list out.
        out: bool,
        /// What happened while the list was out, in order.
        pending: Vec<Change>,
    }

    #[derive(Debug)]
    enum Change {
        /// A registration took this slot.
        Put(usize, CellRef),
        /// The connection at this address left this slot. The address cannot be reused
        /// by another connection meanwhile: the list that is out still holds this one.
        Take(usize, usize),
    }

    fn address(cell: &ConnectionCell) -> usize {
        std::ptr::from_ref(cell) as usize
    }

    fn holds(entry: Option<&Option<CellRef>>, addr: usize) -> bool {
        entry.and_then(Option::as_deref).map(address) == Some(addr)
    }

    /// Striped lists of every connection, each slot recorded in its cell.
    #[derive(Debug)]
    pub struct Slots {
        stripes: Box<[Stripe]>,
        /// One sweep at a time (a manual sweep and the janitor's wait for each other).
        /// Only sweeps take it; no check, report or registration ever waits on it.
        turn: Mutex<()>,
    }

    /// The calling thread's stripe, dealt round-robin on first use.
    fn home_stripe() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            // Relaxed: only the spread of the values matters.
            static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
        }
        HOME.with(|h| *h)
    }

    impl Slots {
        pub fn new() -> Slots {
            Slots {
                stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
                turn: Mutex::new(()),
            }
        }

        /// Adds `cell` to the calling thread's stripe and records the slot in the cell.
        pub fn insert(&self, cell: &CellRef) {
            let stripe = home_stripe();
            let mut list = lock(&self.stripes[stripe].0);
            let index = list.free.pop().unwrap_or_else(|| {
                list.len += 1;
                list.len - 1
            });
            if list.out {
                list.pending.push(Change::Put(index, CellRef::clone(cell)));
            } else if index == list.cells.len() {
                list.cells.push(Some(CellRef::clone(cell)));
            } else {
                list.cells[index] = Some(CellRef::clone(cell));
            }
            // Under the stripe lock, which a remover takes too.
            cell.set_slot(((index as u64) << STRIPE_BITS) | stripe as u64);
        }

        /// Takes `cell` out of its slot, if it is there, and frees the slot.
        pub fn remove(&self, cell: &ConnectionCell) {
            let slot = cell.slot();
            if slot == NO_SLOT {
                return;
            }
            let stripe = (slot & (STRIPES as u64 - 1)) as usize;
            let index = (slot >> STRIPE_BITS) as usize;
            let taken = {
                let mut list = lock(&self.stripes[stripe].0);
                if list.out {
                    list.pending.push(Change::Take(index, address(cell)));
                    None
                } else if holds(list.cells.get(index), address(cell)) {
                    list.free.push(index);
                    list.cells[index].take()
                } else {
                    None
                }
            };
            // The list's reference is dropped here, off the lock.
            drop(taken);
        }

        /// See `Map::sweep`.
        pub fn sweep(&self, mut f: impl FnMut(&mut Segment<'_>)) -> Duration {
            let _turn = lock(&self.turn);
            let mut longest = Duration::ZERO;
            for stripe in self.stripes.iter() {
                let mut out = Out::take(stripe);
                longest = longest.max(out.held);
                let len = out.cells.len();
                for base in (0..len).step_by(SEGMENT) {
                    let end = len.min(base + SEGMENT);
                    f(&mut Segment {
                        cells: &mut out.cells[base..end],
                        base,
                        freed: &mut out.freed,
                    });
                }
                longest = longest.max(out.put_back());
            }
            longest
        }
    }

    /// A stripe's list while a sweep has it out; put back on drop, even if the sweep
    /// panics.
    struct Out<'a> {
        stripe: &'a Stripe,
        cells: Vec<Option<CellRef>>,
        /// Slots the sweep's own evictions freed.
        freed: Vec<usize>,
        held: Duration,
        home: bool,
    }

    impl<'a> Out<'a> {
        fn take(stripe: &'a Stripe) -> Out<'a> {
            let mut list = lock(&stripe.0);
            let start = Instant::now();
            list.out = true;
            let cells = std::mem::take(&mut list.cells);
            let held = start.elapsed();
            drop(list);
            Out {
                stripe,
                cells,
                freed: Vec::new(),
                held,
                home: false,
            }
        }

        /// Applies what was queued, puts the list back; returns how long that held the
        /// stripe lock.
        fn put_back(&mut self) -> Duration {
            let mut cells = std::mem::take(&mut self.cells);
            let mut dropped = Vec::new();
            let mut list = lock(&self.stripe.0);
            let start = Instant::now();
            let pending = std::mem::take(&mut list.pending);
            for change in pending {
                match change {
                    Change::Put(index, cell) => {
                        if index >= cells.len() {
                            cells.resize_with(index + 1, || None);
                        }
                        cells[index] = Some(cell);
                    }
                    Change::Take(index, addr) => {
                        if holds(cells.get(index), addr) {
                            dropped.push(cells[index].take());
                            list.free.push(index);
                        }
                    }
                }
            }
            list.free.append(&mut self.freed);
            list.cells = cells;
            list.out = false;
            self.home = true;
            let held = start.elapsed();
            drop(list);
            drop(dropped);
            held
        }
    }

    impl Drop for Out<'_> {
        fn drop(&mut self) {
            if !self.home {
                self.put_back();
            }
        }
    }

    /// A run of a stripe's list, as the sweep reads it (no lock held).
    pub struct Segment<'a> {
        cells: &'a mut [Option<CellRef>],
        base: usize,
        freed: &'a mut Vec<usize>,
    }

    impl Segment<'_> {
        /// The connections of the run, with their positions for [`release`](Self::release).
        pub fn cells(&self) -> impl Iterator<Item = (usize, &CellRef)> {
            let base = self.base;
            self.cells
                .iter()
                .enumerate()
                .filter_map(move |(i, c)| c.as_ref().map(|c| (base + i, c)))
        }

        /// Frees the slot at `pos` after the sweep evicted its connection (through
        /// `Map::remove_swept`).
        pub fn release(&mut self, pos: usize) {
            let entry = pos
                .checked_sub(self.base)
                .and_then(|i| self.cells.get_mut(i));
            if let Some(entry) = entry {
                if entry.take().is_some() {
                    self.freed.push(pos);
                }
            }
        }
    }
}

pub(crate) use imp::Map;
