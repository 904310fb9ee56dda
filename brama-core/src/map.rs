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
use crate::key::{Key, KeyView, OwnedKey, ShortLookup};

/// What the map can be asked with: an inline [`OwnedKey`] (a short key), or a borrowed
/// [`Key`] (a long one). See `key::Lookup`.
pub(crate) trait MapKey {
    /// Runs `f` on the entry under its lock, if present.
    fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R>;
}

/// Entries the sweep reads before it acts on what it found (ticks, evictions), so that
/// its lists of candidates stay small.
pub const SEGMENT: usize = 1024;

#[cfg(not(brama_loom))]
/// Shards: more than dashmap's default, so that writers (registration, removal) meet
/// readers of the same shard rarely. (The sweep no longer walks the shards; see
/// `slots`.)
pub const SHARDS: usize = 512;

#[cfg(not(brama_loom))]
mod imp {
    use super::*;
    use std::borrow::Borrow;
    use std::hash::Hash;

    use dashmap::mapref::entry::Entry as MapEntry;
    use dashmap::DashMap;

    use crate::key::Lookup;

    /// Keys hash themselves with the process-seeded foldhash (`key.rs`); the map keeps
    /// that one `u64`.
    type Hasher = crate::key::KeyHashBuilder;

    pub use super::slots::Segment;
    use super::slots::Slots;

    /// A map entry is the connection itself, with its key's hash: the key lives once, in
    /// the cell, and the table holds the pointer and the hash. Keeping the hash is what
    /// lets a shard's table grow without reading the cells: hashbrown rehashes every
    /// entry when it resizes, and a cell is cold (a DRAM miss) by then. See
    /// docs/architecture.md, "Memory per connection".
    #[derive(Debug)]
    pub(super) struct Entry {
        /// `cell.key()`'s hash, the one `u64` its `Hash` writes (`key::Lookup`).
        hash: u64,
        cell: CellRef,
    }

    impl Entry {
        pub(super) fn new(cell: CellRef) -> Entry {
            Entry {
                hash: cell.key().lookup_hash(),
                cell,
            }
        }
    }

    /// Writes the cached hash: the same single `u64` an `OwnedKey` or a `dyn KeyView`
    /// writes for the same key, so a probe of either form finds the entry.
    impl Hash for Entry {
        #[inline]
        fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
            h.write_u64(self.hash);
        }
    }

    /// Hashes first: two entries with different hashes are different keys, and the
    /// cells need not be read.
    impl PartialEq for Entry {
        #[inline]
        fn eq(&self, other: &Entry) -> bool {
            self.hash == other.hash && self.cell.key() == other.cell.key()
        }
    }

    impl Eq for Entry {}

    impl<'a> Borrow<dyn KeyView + 'a> for Entry {
        fn borrow(&self) -> &(dyn KeyView + 'a) {
            self.cell.key()
        }
    }

    /// Lookups by short keys: the probe is an inline `OwnedKey`, compared as words.
    impl Borrow<OwnedKey> for Entry {
        #[inline]
        fn borrow(&self) -> &OwnedKey {
            self.cell.key()
        }
    }

    /// Lookups by hash alone ([`ShortLookup`]): the probe is the key's 64-bit hash,
    /// compared with the entry's stored one, so the probe never touches a cell. This is
    /// looser than `Borrow` asks (two keys with one hash would be "equal" here), so a
    /// lookup this way checks the key of what it found, and on a mismatch asks again by
    /// the key itself (see `MapKey for ShortLookup`). Inserts and removals never use it.
    impl Borrow<u64> for Entry {
        #[inline]
        fn borrow(&self) -> &u64 {
            &self.hash
        }
    }

    #[derive(Debug)]
    pub struct Map {
        inner: DashMap<Entry, (), Hasher>,
        /// Every entry again, in registration order, for the sweep.
        slots: Slots,
    }

    /// A short key: compared as words through `Borrow<OwnedKey>`.
    impl MapKey for OwnedKey {
        #[inline(always)]
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            map.inner.get(self).map(|r| f(&r.key().cell))
        }
    }

    /// A long key: compared by parts through `Borrow<dyn KeyView>`.
    impl MapKey for Key<'_> {
        #[inline]
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            map.inner
                .get(self as &dyn KeyView)
                .map(|r| f(&r.key().cell))
        }
    }

    /// A short key by its hash: the table is probed with the stored hashes only
    /// (`Borrow<u64>`), and the key is compared once, in the one connection found.
    /// Nothing is written to the stack for the probe to be read back from, and a slot
    /// whose tag matches by chance costs no read of its connection. If the connection
    /// found is another key with the same 64-bit hash, the lookup is made again with
    /// the key itself, which compares keys (never in practice, but exact).
    impl MapKey for ShortLookup<'_> {
        #[inline(always)]
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            match map.inner.get(&self.hash()) {
                Some(r) if self.is(r.key().cell.key()) => Some(f(&r.key().cell)),
                Some(r) => {
                    drop(r);
                    self.by_key(map, f)
                }
                None => None,
            }
        }
    }

    impl ShortLookup<'_> {
        /// The lookup by the key itself, after a hash matched another key.
        #[cold]
        #[inline(never)]
        fn by_key<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            self.to_owned_key()?.find(map, f)
        }
    }

    impl Map {
        pub fn new() -> Map {
            Map {
                inner: DashMap::with_hasher_and_shard_amount(Hasher::default(), SHARDS),
                slots: Slots::new(),
            }
        }

        /// Runs `f` on the entry under its shard's read lock.
        #[inline(always)]
        pub fn get<K: MapKey + ?Sized, R>(
            &self,
            key: &K,
            f: impl FnOnce(&CellRef) -> R,
        ) -> Option<R> {
            key.find(self, f)
        }

        /// Inserts `cell` under its own key unless that key is present.
        ///
        /// The cell enters the sweep list first, so that it has its slot before anyone
        /// can find it in the map (and so remove it); a loser of a duplicate race
        /// leaves the list again. A sweep that meets it in between only reads it, and
        /// its eviction would find no entry for it (`remove_if` compares pointers).
        pub fn insert_new(&self, cell: &CellRef) -> bool {
            self.slots.insert(cell);
            match self.inner.entry(Entry::new(CellRef::clone(cell))) {
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
                .remove_if(key, |k, _| pred(&k.cell))
                .map(|(k, _)| k.cell);
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
                .remove_if(key, |k, _| pred(&k.cell))
                .map(|(k, _)| k.cell)
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
                f(&r.key().cell);
            }
        }
    }
}

#[cfg(brama_loom)]
mod imp {
    use super::*;
    use crate::sync::{lock, Mutex};
    use std::collections::HashMap;

    #[derive(Debug)]
    pub struct Map {
        inner: Mutex<HashMap<OwnedKey, CellRef>>,
    }

    impl MapKey for OwnedKey {
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            lock(&map.inner).get(self).map(f)
        }
    }

    impl MapKey for Key<'_> {
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            lock(&map.inner).get(self as &dyn KeyView).map(f)
        }
    }

    impl MapKey for ShortLookup<'_> {
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            self.to_owned_key()?.find(map, f)
        }
    }

    impl Map {
        pub fn new() -> Map {
            Map {
                inner: Mutex::new(HashMap::new()),
            }
        }

        pub fn get<K: MapKey + ?Sized, R>(
            &self,
            key: &K,
            f: impl FnOnce(&CellRef) -> R,
        ) -> Option<R> {
            key.find(self, f)
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
            // The longer list is kept and the shorter one appended, so that putting back
            // the slots of a sweep that evicted many does not grow (and page-fault in) a
            // new free list under the lock.
            if list.free.len() < self.freed.len() {
                std::mem::swap(&mut list.free, &mut self.freed);
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

#[cfg(all(test, not(brama_loom)))]
mod tests {
    use std::collections::HashMap;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::thread;

    use super::imp::Entry;
    use super::{Map, SEGMENT};
    use crate::cell::{CellRef, ConnectionCell};
    use crate::config::Options;
    use crate::key::{Key, KeyHashBuilder, KeyView, Lookup, OwnedKey, ShortLookup, ShortProbe};

    fn cell(id: &str) -> CellRef {
        let key = Key::new(id).to_owned_key().expect("valid key");
        Arc::new(ConnectionCell::new(key, 0, &Options::new()))
    }

    /// The identifier of the connection a short-key lookup finds.
    fn found(map: &Map, lookup: &ShortLookup<'_>) -> Option<String> {
        map.get(lookup, |c| c.key().identifier().to_owned())
    }

    /// A short key is looked up by its hash alone and its key compared in the one
    /// connection found; when that connection is another key with the same hash (a
    /// 64-bit collision, forced here), the lookup asks again by key and still finds the
    /// right connection, or none.
    #[test]
    fn a_lookup_by_hash_checks_the_key_and_survives_a_collision() {
        let map = Map::new();
        for id in ["alpha", "beta"] {
            assert!(map.insert_new(&cell(id)));
        }
        let probe = |id: &str| ShortProbe::new(Key::new(id)).expect("short");
        let (alpha, beta, gamma) = (probe("alpha"), probe("beta"), probe("gamma"));
        let own = |p: &ShortProbe| p.lookup_hash();

        assert_eq!(
            found(&map, &ShortLookup::new(&alpha, own(&alpha))).as_deref(),
            Some("alpha")
        );
        assert_eq!(
            found(&map, &ShortLookup::new(&beta, own(&beta))).as_deref(),
            Some("beta")
        );
        assert_eq!(found(&map, &ShortLookup::new(&gamma, own(&gamma))), None);
        // "beta" asked with "alpha"'s hash: the table yields alpha's entry first.
        assert_eq!(
            found(&map, &ShortLookup::colliding(&beta, own(&alpha))).as_deref(),
            Some("beta")
        );
        // An absent key with a present key's hash is still absent.
        assert_eq!(
            found(&map, &ShortLookup::colliding(&gamma, own(&alpha))),
            None
        );
    }

    fn address(c: &ConnectionCell) -> usize {
        std::ptr::from_ref(c) as usize
    }

    /// How many times one sweep visited each cell, by address.
    fn visits(map: &Map) -> HashMap<usize, u32> {
        let mut seen = HashMap::new();
        map.sweep(|segment| {
            for (_, c) in segment.cells() {
                *seen.entry(address(c)).or_insert(0) += 1;
            }
        });
        seen
    }

    #[test]
    fn the_slot_costs_the_cell_no_bytes() {
        // 184 bytes + the Arc's two counts = a 208-byte malloc chunk; one byte more is 224.
        assert!(std::mem::size_of::<ConnectionCell>() <= 184);
    }

    fn key_of<'a>(scope: Option<&'a str>, id: &'a str) -> Key<'a> {
        match scope {
            Some(s) => Key::scoped(s, id),
            None => Key::new(id),
        }
    }

    /// Finds `key` through the probe a lookup would use: an inline `OwnedKey` for a
    /// short key, the borrowed key (`dyn KeyView`) for a long one.
    fn find(map: &Map, key: Key<'_>) -> Option<CellRef> {
        match OwnedKey::short(key) {
            Some(short) => map.get(&short, CellRef::clone),
            None => map.get(&key, CellRef::clone),
        }
    }

    /// The entry's cached hash is what every probe of its key hashes to, through the
    /// map's hasher and through any other (the entry writes the same one `u64`).
    fn assert_entry_hashes_like_its_probes(scope: Option<&str>, id: &str) {
        use std::hash::BuildHasher;
        let key = key_of(scope, id);
        let owned = key.to_owned_key().expect("valid key");
        let entry = Entry::new(Arc::new(ConnectionCell::new(
            owned.clone(),
            0,
            &Options::new(),
        )));
        let other = std::collections::hash_map::RandomState::new();
        let view: &dyn KeyView = &key;
        let by_map = KeyHashBuilder::default();
        assert_eq!(by_map.hash_one(&entry), by_map.hash_one(&owned), "{key:?}");
        assert_eq!(by_map.hash_one(&entry), by_map.hash_one(view), "{key:?}");
        assert_eq!(other.hash_one(&entry), other.hash_one(&owned), "{key:?}");
        assert_eq!(other.hash_one(&entry), other.hash_one(view), "{key:?}");
        if let Some(short) = OwnedKey::short(key) {
            assert_eq!(by_map.hash_one(&entry), by_map.hash_one(&short), "{key:?}");
        }
        let twin = Entry::new(Arc::new(ConnectionCell::new(owned, 0, &Options::new())));
        assert_eq!(entry, twin, "same key, same entry");
    }

    #[test]
    fn an_entry_hashes_like_every_probe_of_its_key_at_every_length_and_split() {
        let text: String = ('a'..='z').cycle().take(40).collect();
        for n in 1..=30 {
            assert_entry_hashes_like_its_probes(None, &text[..n]);
            for s in 1..n {
                assert_entry_hashes_like_its_probes(Some(&text[..s]), &text[s..n]);
            }
        }
    }

    mod prop {
        use super::*;
        use crate::key::tests::prop::part;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn an_entry_hashes_like_every_probe_of_its_key(
                scope in proptest::option::of(part()),
                id in part(),
            ) {
                assert_entry_hashes_like_its_probes(scope.as_deref(), &id);
                // And the map finds it by the probe a lookup uses, and removes it by view.
                let map = Map::new();
                let key = key_of(scope.as_deref(), &id);
                let c = Arc::new(ConnectionCell::new(
                    key.to_owned_key().expect("valid key"),
                    0,
                    &Options::new(),
                ));
                prop_assert!(map.insert_new(&c));
                prop_assert!(find(&map, key).is_some_and(|f| Arc::ptr_eq(&f, &c)));
                prop_assert!(map.remove_if(&key, |_| true).is_some());
                prop_assert!(find(&map, key).is_none());
            }
        }
    }

    /// Growing a shard's table rehashes its entries from the cached hashes; every key
    /// must still be found, by both probe forms, and still be refused as a duplicate.
    #[test]
    fn a_map_that_grew_finds_every_key_by_every_form() {
        let map = Map::new();
        let long = "l".repeat(30);
        let parts: Vec<(Option<&str>, String)> = (0..20_000)
            .map(|i| match i % 4 {
                0 => (None, format!("conn-{i:07}")),
                1 => (Some("scope"), format!("{i}")),
                2 => (None, format!("{long}-{i}")),
                _ => (Some(long.as_str()), format!("{i}")),
            })
            .collect();
        let keys: Vec<Key<'_>> = parts.iter().map(|(s, id)| key_of(*s, id)).collect();
        let cells: Vec<CellRef> = keys
            .iter()
            .map(|k| {
                let c = Arc::new(ConnectionCell::new(
                    k.to_owned_key().expect("valid key"),
                    0,
                    &Options::new(),
                ));
                assert!(map.insert_new(&c), "{k:?}");
                c
            })
            .collect();
        for (k, c) in keys.iter().zip(&cells) {
            let found = find(&map, *k).expect("registered");
            assert!(Arc::ptr_eq(&found, c), "{k:?}");
            let twin = Arc::new(ConnectionCell::new(
                k.to_owned_key().expect("valid key"),
                0,
                &Options::new(),
            ));
            assert!(!map.insert_new(&twin), "{k:?} is a duplicate");
        }
        for k in keys.iter().step_by(2) {
            assert!(map.remove_if(k, |_| true).is_some(), "{k:?}");
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(find(&map, *k).is_some(), i % 2 == 1, "{k:?}");
        }
    }

    #[test]
    fn a_sweep_visits_every_connection_present_throughout_exactly_once() {
        let map = Arc::new(Map::new());
        let stable: Vec<CellRef> = (0..3 * SEGMENT + 7)
            .map(|i| cell(&format!("stable-{i}")))
            .collect();
        for c in &stable {
            assert!(map.insert_new(c));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let churn: Vec<_> = (0..2)
            .map(|t| {
                let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
                thread::spawn(move || {
                    let mut i = 0u32;
                    // Relaxed: a flag polled in a loop; the join orders the rest.
                    while !stop.load(Ordering::Relaxed) || i < 200 {
                        let c = cell(&format!("churn-{t}-{}", i % 50));
                        assert!(map.insert_new(&c));
                        assert!(map.remove_if(c.key(), |_| true).is_some());
                        i += 1;
                    }
                })
            })
            .collect();
        for _ in 0..20 {
            let seen = visits(&map);
            for c in &stable {
                assert_eq!(seen.get(&address(c)), Some(&1), "visited exactly once");
            }
            assert!(seen.values().all(|&n| n == 1), "no cell twice");
        }
        // Relaxed: see above.
        stop.store(true, Ordering::Relaxed);
        for t in churn {
            t.join().expect("churn thread");
        }
        let seen = visits(&map);
        assert_eq!(seen.len(), stable.len(), "the churn left nothing behind");
    }

    #[test]
    fn a_freed_slot_is_reused() {
        let map = Map::new();
        let a = cell("a");
        assert!(map.insert_new(&a));
        let slot = a.slot();
        assert!(map.remove_if(a.key(), |_| true).is_some());
        assert_eq!(
            Arc::strong_count(&a),
            1,
            "neither the map nor the list holds it"
        );
        let b = cell("b");
        assert!(map.insert_new(&b));
        assert_eq!(b.slot(), slot);
    }

    #[test]
    fn a_duplicate_leaves_the_list_again() {
        let map = Map::new();
        let (a, twin) = (cell("a"), cell("a"));
        assert!(map.insert_new(&a));
        assert!(!map.insert_new(&twin));
        assert_eq!(Arc::strong_count(&twin), 1);
        assert_eq!(visits(&map).len(), 1);
    }

    #[test]
    fn changes_while_a_sweep_has_the_list_out_are_applied_when_it_comes_back() {
        let map = Map::new();
        let (a, b, c) = (cell("a"), cell("b"), cell("c"));
        assert!(map.insert_new(&a));
        assert!(map.insert_new(&b));
        let slot_a = a.slot();
        let mut visited = Vec::new();
        map.sweep(|segment| {
            if segment.cells().any(|(_, x)| Arc::ptr_eq(x, &a)) {
                // This thread's stripe is out: both changes are queued.
                assert!(map.remove_if(a.key(), |_| true).is_some());
                assert!(map.insert_new(&c));
            }
            visited.extend(segment.cells().map(|(_, x)| address(x)));
        });
        assert_eq!(
            visited,
            [address(&a), address(&b)],
            "the list as it was taken"
        );
        let seen = visits(&map);
        assert_eq!(seen.len(), 2);
        assert!(seen.contains_key(&address(&b)) && seen.contains_key(&address(&c)));
        assert_eq!(Arc::strong_count(&a), 1, "a's queued removal was applied");
        let d = cell("d");
        assert!(map.insert_new(&d));
        assert_eq!(d.slot(), slot_a, "and its slot freed");
    }

    #[test]
    fn a_slot_released_by_the_sweep_is_reused() {
        let map = Map::new();
        let (a, b) = (cell("a"), cell("b"));
        assert!(map.insert_new(&a));
        assert!(map.insert_new(&b));
        let slot_a = a.slot();
        map.sweep(|segment| {
            let pos = segment
                .cells()
                .find(|(_, x)| Arc::ptr_eq(x, &a))
                .map(|(pos, _)| pos);
            if let Some(pos) = pos {
                assert!(map.remove_swept(a.key(), |_| true).is_some());
                segment.release(pos);
            }
        });
        assert_eq!(Arc::strong_count(&a), 1);
        assert_eq!(visits(&map).len(), 1);
        let c = cell("c");
        assert!(map.insert_new(&c));
        assert_eq!(c.slot(), slot_a);
    }

    #[test]
    fn a_panicking_sweep_puts_the_list_back() {
        let map = Map::new();
        let cells: Vec<CellRef> = (0..10).map(|i| cell(&format!("c{i}"))).collect();
        for c in &cells {
            assert!(map.insert_new(c));
        }
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            map.sweep(|_| panic!("a sweep that fails"));
        }));
        assert!(panicked.is_err());
        let late = cell("late");
        assert!(map.insert_new(&late));
        assert_eq!(visits(&map).len(), 11);
    }

    #[test]
    fn concurrent_sweeps_each_visit_every_connection_once() {
        let map = Arc::new(Map::new());
        let cells: Vec<CellRef> = (0..2 * SEGMENT).map(|i| cell(&format!("c{i}"))).collect();
        for c in &cells {
            assert!(map.insert_new(c));
        }
        let sweepers: Vec<_> = (0..2)
            .map(|_| {
                let map = Arc::clone(&map);
                thread::spawn(move || (0..10).map(|_| visits(&map)).collect::<Vec<_>>())
            })
            .collect();
        for s in sweepers {
            for seen in s.join().expect("sweeper") {
                assert_eq!(seen.len(), cells.len());
                assert!(seen.values().all(|&n| n == 1));
            }
        }
    }
}
