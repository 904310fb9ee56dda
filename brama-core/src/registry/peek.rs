//! [`Registry::peek`]: a look at a connection's cell by key, holding nothing after.

use super::*;
use crate::circuit::CellRef;
use crate::key::Key;
#[cfg(not(brama_loom))]
use crate::registry::cache::{self, Cached, Miss};

impl Registry {
    /// Runs `f` on the cell of `key` without taking a handle: on the cell this thread's
    /// cache holds for the key (no map lock), and if that answers `None` (or nothing is
    /// cached), on the map's cell under its shard's read lock. `None` if `f` declined
    /// both or the key is unknown. `f` may run twice (once per place), so it should
    /// change nothing when it answers `None`; a cached cell may have been removed since,
    /// so `f` must look at the word before it trusts the cell.
    ///
    /// `check` says whether this is a check (its miss is noted, and the cache filled
    /// on the key's second miss in a row if the map's cell then admits freely) or a
    /// report (its miss is not noted: see `cache.rs`). What the tower layer admits and
    /// reports a call on a healthy circuit through, with no permit.
    #[inline]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    pub fn peek<R>(
        &self,
        key: Key<'_>,
        check: bool,
        f: impl Fn(&CellRef) -> Option<R>,
    ) -> Option<R> {
        let hash = key.key_hash();
        #[cfg(not(brama_loom))]
        let fill = {
            let miss = if check { Miss::Note } else { Miss::Ignore };
            match cache::with_cell(self.id, hash, key, miss, &f) {
                Ok(Some(r)) => return Some(r),
                // Cached but declined: the map's cell decides, and replaces a removed
                // one in the slot if it admits.
                Ok(None) => check,
                Err(c) => check && c == Cached::Fill,
            }
        };
        self.map
            .get(hash, key, |cell| {
                let r = f(cell);
                #[cfg(not(brama_loom))]
                if fill && r.is_some() && cell.available_fast() {
                    cache::fill(self.id, hash, cell);
                }
                r
            })
            .flatten()
    }
}
