//! [`Registry::peek`]: a look at a connection's cell by key, holding nothing after;
//! [`Registry::peek_at`]: the same cell again, by the [`Spot`] the first look gave.

use super::*;
use crate::circuit::CellRef;
use crate::key::Key;
#[cfg(not(brama_loom))]
use crate::registry::cache::{self, Cached, Miss};

/// Where [`Registry::peek`] found a connection: its key's hash and its cell's address.
/// Enough for [`Registry::peek_at`] to find that cell again with no key: no hash to
/// compute, no key to compare. The address is compared, never dereferenced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
///
/// Two whole words, no padding: a spot is copied with the future that holds it, and
/// padding bytes are copied in pieces that a wider load then stalls on (perf annotate
/// of the tower benchmark). Whether it was found in the cache is the address's low
/// bit (a cell is aligned to more than two bytes).
pub struct Spot {
    hash: u64,
    /// The cell's address, its low bit set if found in this thread's cache.
    at: usize,
}

/// `Spot::at`'s flag.
const CACHED: usize = 1;

impl Spot {
    #[inline]
    fn of(hash: u64, cell: &CellRef, cached: bool) -> Spot {
        Spot {
            hash,
            at: cell.address() | if cached { CACHED } else { 0 },
        }
    }

    /// The cell's address.
    #[inline]
    fn address(&self) -> usize {
        self.at & !CACHED
    }

    /// Whether the cell was found in this thread's cache (else in the map): then
    /// [`Registry::peek_cached`] finds it again on this thread, with no registry.
    #[inline]
    pub fn cached(&self) -> bool {
        self.at & CACHED != 0
    }

    /// Whether `cell` is the cell this spot was taken on.
    #[inline]
    pub fn is(&self, cell: &CellRef) -> bool {
        cell.address() == self.address()
    }
}

impl Registry {
    /// Runs `f` on the cell of `key` without taking a handle: on the cell this thread's
    /// cache holds for the key (no map lock), and if that answers `None` (or nothing is
    /// cached), on the map's cell under its shard's read lock. `None` if `f` declined
    /// both or the key is unknown; otherwise `f`'s answer and the [`Spot`] of the cell
    /// that gave it. `f` may run twice (once per place), so it should change nothing
    /// when it answers `None`; a cached cell may have been removed since, so `f` must
    /// look at the word before it trusts the cell.
    ///
    /// `check` says whether this is a check (its miss is noted, and the cache filled
    /// on the key's second miss in a row if the map's cell then admits freely) or a
    /// report (its miss is not noted: see `cache.rs`). What the tower layer admits a
    /// call on a healthy circuit through, with no permit.
    #[inline]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    pub fn peek<R>(
        &self,
        key: Key<'_>,
        check: bool,
        f: impl Fn(&CellRef) -> Option<R>,
    ) -> Option<(R, Spot)> {
        let hash = key.key_hash();
        let in_cache = |cell: &CellRef| f(cell).map(|r| (r, Spot::of(hash, cell, true)));
        let in_map = |cell: &CellRef| f(cell).map(|r| (r, Spot::of(hash, cell, false)));
        #[cfg(not(brama_loom))]
        let fill = {
            let miss = if check { Miss::Note } else { Miss::Ignore };
            match cache::with_cell(self.id, hash, key, miss, in_cache) {
                Ok(Some(r)) => return Some(r),
                // Cached but declined: the map's cell decides, and replaces a removed
                // one in the slot if it admits.
                Ok(None) => check,
                Err(c) => check && c == Cached::Fill,
            }
        };
        self.map
            .get(hash, key, |cell| {
                let r = in_map(cell);
                #[cfg(not(brama_loom))]
                if fill && r.is_some() && cell.available_fast() {
                    cache::fill(self.id, &self.cx, hash, cell);
                }
                r
            })
            .flatten()
    }

    /// Runs `f` on the cell found at `spot` by [`peek`](Self::peek), if it is still in
    /// the registry or in this thread's cache: on the cached cell when this thread's
    /// cache holds that very cell (no map lock, no key compared), else on the map's
    /// entry for it under its shard's read lock. `None` if `f` declined or the cell is
    /// in neither (removed, and not cached here). Like `peek`, a cached cell may have
    /// been removed since, so `f` must look at the word before it trusts the cell.
    ///
    /// The cell is known by its address alone: were it freed and another connection's
    /// cell allocated at the same address, under a key with the same hash, that cell
    /// would be found. What the tower layer reports a call admitted by `peek` through.
    #[inline]
    pub fn peek_at<R>(&self, spot: Spot, f: impl Fn(&CellRef) -> Option<R>) -> Option<R> {
        #[cfg(not(brama_loom))]
        if let Some(r) = cache::with_cell_at(self.id, spot.hash, spot.address(), |c, _| f(c)) {
            // The map could only hold this same cell: its answer would be the same.
            return r;
        }
        self.map.get_at(spot.hash, spot.address(), f).flatten()
    }

    /// Runs `f` on the cell found at `spot` in registry `registry` (its
    /// [`id`](Self::id)), and that registry's context, if this thread's cache holds
    /// that very cell; `None` if not (another thread, or the slot was taken by another
    /// key since). Needs no registry: the cache's slot holds the cell and the context,
    /// so a call admitted through the cache can be reported with nothing held but the
    /// id and the spot (the tower layer's free admission). As with
    /// [`peek_at`](Self::peek_at), `f` must look at the word before it trusts the cell.
    #[inline]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    pub fn peek_cached<R>(
        registry: u64,
        spot: Spot,
        f: impl FnOnce(&CellRef, &Arc<Context>) -> R,
    ) -> Option<R> {
        #[cfg(not(brama_loom))]
        return cache::with_cell_at(registry, spot.hash, spot.address(), f);
        #[cfg(brama_loom)]
        None
    }

    /// The registry's process-unique id, for [`peek_cached`](Self::peek_cached).
    #[inline]
    pub fn id(&self) -> u64 {
        #[cfg(not(brama_loom))]
        return self.id;
        #[cfg(brama_loom)]
        0
    }
}
