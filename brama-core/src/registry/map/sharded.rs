//! The map as it ships: a sharded `dashmap` keyed by the connection, plus the sweep list.

use super::*;
use std::borrow::Borrow;
use std::hash::Hash;

use dashmap::mapref::entry::Entry as MapEntry;
use dashmap::DashMap;

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
    /// `cell.key()`'s hash, the one `u64` its `Hash` writes (`Key::key_hash`).
    hash: u64,
    cell: CellRef,
}

impl Entry {
    pub(super) fn new(cell: CellRef) -> Entry {
        Entry {
            hash: cell.key().key_hash(),
            cell,
        }
    }

    /// An entry stored under `hash`, whatever its key's: a forced collision.
    #[cfg(test)]
    pub(super) fn with_hash(hash: u64, cell: CellRef) -> Entry {
        Entry { hash, cell }
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

/// Exact lookups by an owned key (a registration's duplicate check).
impl Borrow<OwnedKey> for Entry {
    #[inline]
    fn borrow(&self) -> &OwnedKey {
        self.cell.key()
    }
}

/// Lookups by hash alone ([`Map::get`]): the probe is the key's 64-bit hash, compared
/// with the entry's stored one, so the table's probe never touches a cell. This is
/// looser than `Borrow` asks (two keys with one hash would be "equal" here), so a
/// lookup this way checks the key of what it found, and on a mismatch asks again by
/// the key itself. Inserts and removals never use it.
impl Borrow<u64> for Entry {
    #[inline]
    fn borrow(&self) -> &u64 {
        &self.hash
    }
}

/// What a lookup by connection ([`Map::get_at`]) compares: a key's hash and a cell's
/// address. An entry gives its stored hash and its cell's address, a probe
/// ([`At`]) the ones it was given, so the table's probe compares the hash as it
/// does for a key, and then the address, never the key.
trait Located {
    fn hash(&self) -> u64;
    fn address(&self) -> usize;
}

impl Located for Entry {
    #[inline]
    fn hash(&self) -> u64 {
        self.hash
    }

    #[inline]
    fn address(&self) -> usize {
        self.cell.address()
    }
}

/// The probe of [`Map::get_at`].
struct At {
    hash: u64,
    address: usize,
}

impl Located for At {
    #[inline]
    fn hash(&self) -> u64 {
        self.hash
    }

    #[inline]
    fn address(&self) -> usize {
        self.address
    }
}

/// The same single `u64` an entry's `Hash` writes.
impl Hash for dyn Located + '_ {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(Located::hash(self));
    }
}

/// One connection (one address) has one key, so one hash: equal addresses are
/// equal entries. Every entry with the probe's hash is compared, so a key that
/// shares it (a 64-bit collision) does not hide the connection looked for.
impl PartialEq for dyn Located + '_ {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        Located::hash(self) == Located::hash(other) && self.address() == other.address()
    }
}

impl Eq for dyn Located + '_ {}

impl<'a> Borrow<dyn Located + 'a> for Entry {
    #[inline]
    fn borrow(&self) -> &(dyn Located + 'a) {
        self
    }
}

#[derive(Debug)]
pub struct Map {
    pub(super) inner: DashMap<Entry, (), Hasher>,
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

    /// Runs `f` on the connection of `key`, whose [`Key::key_hash`] is `hash`, under its
    /// shard's read lock. (Any `hash` gives a right answer when the key is absent or
    /// its entry has that hash; the tests use that to force a collision.) The table is probed with the stored hashes only
    /// (`Borrow<u64>`) and the key is compared once, in the one connection found. If
    /// that connection is another key with the same 64-bit hash, the lookup is made
    /// again by the key itself (never in practice, but exact).
    #[inline(always)]
    pub fn get<R>(&self, hash: u64, key: Key<'_>, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
        match self.inner.get(&hash) {
            Some(r) if r.key().cell.key().is_called(key) => Some(f(&r.key().cell)),
            Some(r) => {
                drop(r);
                self.get_exact(key, f)
            }
            None => None,
        }
    }

    /// Runs `f` on the connection whose cell is at `address` and whose key's
    /// [`Key::key_hash`] is `hash`, under its shard's read lock; `None` if no entry
    /// holds that cell (removed). No key is read or compared: a report that kept the
    /// hash and the address of the cell it was admitted on finds it with these alone.
    #[inline]
    pub fn get_at<R>(&self, hash: u64, address: usize, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
        let at = At { hash, address };
        self.inner
            .get(&at as &dyn Located)
            .map(|r| f(&r.key().cell))
    }

    /// The index (`0..SHARDS`) of the shard that holds, or would hold, the key whose
    /// [`Key::key_hash`] is `hash`. A test and benchmark hook only (the writer-wait
    /// harness puts its writer's keys in the hot key's shard): it repeats dashmap's
    /// `determine_map` (the top bits below the 7 hashbrown keeps for its tag), which
    /// is not public without dashmap's `raw-api`; a test checks the two agree.
    pub fn shard_of(&self, hash: u64) -> usize {
        let h = self.inner.hash_usize(&hash);
        (h << 7) >> (usize::BITS - SHARDS.trailing_zeros())
    }

    /// The lookup by the key itself, after its hash matched another key.
    #[cold]
    #[inline(never)]
    fn get_exact<R>(&self, key: Key<'_>, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
        self.inner
            .get(&key as &dyn KeyView)
            .map(|r| f(&r.key().cell))
    }

    /// Inserts `cell` under its own key unless that key is present.
    ///
    /// The cell enters the sweep list first, so that it has its slot before anyone
    /// can find it in the map (and so remove it); a loser of a duplicate race, or a
    /// registration refused by `admit`, leaves the list again. A walk that took the
    /// list in between meets it there, so the cell is marked entered
    /// ([`ConnectionCell::mark_entered`](crate::circuit::ConnectionCell::mark_entered))
    /// under the shard's write lock that inserts it, and [`Segment::cells`] gives
    /// only entered cells: a refused one is never a connection to any walk, and one
    /// being registered is one to every thread that found it in the map (or was
    /// refused as its duplicate) before it walked.
    #[cfg(test)]
    pub fn insert_new(&self, cell: &CellRef) -> bool {
        matches!(self.insert_new_with(cell, || Ok::<_, ()>(())), Ok(Some(())))
    }

    /// [`insert_new`](Self::insert_new), taking what `admit` gives (a place under
    /// `max_connections`) only once the key is known to be absent, under the shard's
    /// write lock: `Ok(None)` if the key is present, `Err` if `admit` refused (then the
    /// key was absent at that moment). `admit` must take no lock.
    pub fn insert_new_with<R, E>(
        &self,
        cell: &CellRef,
        admit: impl FnOnce() -> Result<R, E>,
    ) -> Result<Option<R>, E> {
        self.slots.insert(cell);
        let inserted = match self.inner.entry(Entry::new(CellRef::clone(cell))) {
            MapEntry::Occupied(o) => {
                drop(o);
                Ok(None)
            }
            MapEntry::Vacant(v) => admit().map(|r| {
                // Admitted: nothing refuses it from here on.
                cell.mark_entered();
                v.insert(());
                Some(r)
            }),
        };
        if !matches!(inserted, Ok(Some(_))) {
            self.slots.remove(cell);
        }
        inserted
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
}
