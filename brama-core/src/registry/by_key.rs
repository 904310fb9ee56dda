//! Checks and reports by key: the per-thread cache, then the map.

use super::*;
use crate::circuit::{CellRef, ConnectionCell, Fast, Ticket};
use crate::clock::Nanos;
use crate::error::Error;
use crate::key::Key;
#[cfg(not(brama_loom))]
use crate::registry::cache::{self, Cached, Miss};
use crate::rules::Outcome;
use crate::status::Status;

impl Registry {
    // ----- checks and reports by key ------------------------------------------------

    /// `available(key)`: false for an unknown or invalid key (unless auto-registering).
    ///
    /// The key is hashed once. A hot key is answered from a per-thread cache that
    /// writes nothing shared; other keys take one load under the shard's read lock;
    /// anything slower runs after the guard is dropped.
    ///
    /// What a caller inlines is the hash and the cache look-up; the map path is one
    /// call away.
    #[inline(always)]
    pub fn available(&self, key: Key<'_>) -> bool {
        let hash = key.key_hash();
        match self.cache_check(hash, key) {
            Ok(admitted) => admitted,
            Err(fill) => self.available_by(key, hash, fill),
        }
    }

    /// The per-thread cache's answer to a check: `Ok` with the answer if it had one (a
    /// free admission, or the refusal of an open circuit before its deadline), else
    /// `Err` with whether the map path should fill the slot. (No cache under loom.)
    #[inline(always)]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    pub(super) fn cache_check(&self, hash: u64, key: Key<'_>) -> Result<bool, bool> {
        #[cfg(not(brama_loom))]
        return match cache::with_cell(self.id, hash, key, Miss::Note, |cell| {
            cell.available_unlocked(&self.cx)
        }) {
            Ok(Some(admitted)) => Ok(admitted),
            Ok(None) => Err(true),
            Err(c) => Err(c == Cached::Fill),
        };
        #[cfg(brama_loom)]
        return Err(false);
    }

    /// A success by key through the per-thread cache (the unlocked, sealed attempt on
    /// the cached cell): `None` if it counted, else whether the map path should fill
    /// the slot. (No cache under loom.)
    #[inline(always)]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    pub(super) fn cache_success(&self, hash: u64, key: Key<'_>) -> Option<bool> {
        #[cfg(not(brama_loom))]
        return match cache::with_cell(self.id, hash, key, Miss::Ignore, |cell| {
            cell.success_unlocked(&self.cx)
        }) {
            Ok(Fast::Counted) => None,
            Ok(_) => Some(true),
            Err(c) => Some(c == Cached::Fill),
        };
        #[cfg(brama_loom)]
        return Some(false);
    }

    /// `available` through the map, after the per-thread cache did not answer. `hash`
    /// is the key's; `fill` says whether the cache wants the cell if it admits freely.
    #[inline(never)]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    pub(super) fn available_by(&self, key: Key<'_>, hash: u64, fill: bool) -> bool {
        // Under the shard's read lock only what changes no state: a free admission, or
        // the refusal of an open circuit before its deadline (no `Arc` cloned for it).
        let found = self
            .map
            .get(hash, key, |cell| match cell.available_unlocked(&self.cx) {
                Some(admitted) => {
                    #[cfg(not(brama_loom))]
                    if admitted && fill {
                        crate::registry::cache::fill(self.id, &self.cx, hash, cell);
                    }
                    Ok(admitted)
                }
                None => Err(CellRef::clone(cell)),
            });
        match found {
            Some(Ok(admitted)) => admitted,
            Some(Err(cell)) => cell.available(&self.cx),
            // Without auto-registration an unknown key is simply refused: no error (and
            // so no allocation of its name) is built for a check.
            None => self.auto_register && self.auto(key).is_ok_and(|cell| cell.available(&self.cx)),
        }
    }

    /// Runs `f` on the connection of `key` under its shard's read lock.
    #[inline]
    pub(super) fn find<R>(&self, key: Key<'_>, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
        self.map.get(key.key_hash(), key, f)
    }

    /// `acquire(key)`: the cell and its admission ticket.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::Rejected`].
    pub fn acquire(&self, key: Key<'_>) -> Result<(CellRef, Ticket), Error> {
        let cell = self.lookup(key)?;
        let ticket = cell.acquire(&self.cx)?;
        Ok((cell, ticket))
    }

    /// A success by key.
    ///
    /// What a caller inlines is the hash and the per-thread cache's look-up, with
    /// [`ConnectionCell::success_unlocked`] (the word, the subscribers' mask, one CAS on
    /// the sealed counter). The map path is one call away.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    #[inline(always)]
    pub fn success(&self, key: Key<'_>) -> Result<(), Error> {
        let hash = key.key_hash();
        // A success on a hot key: the cell this thread cached, with no map lock. Exact
        // against removal through the sealed counter (`ConnectionCell::success_unlocked`);
        // a removed or re-registered cell is never counted here.
        match self.cache_success(hash, key) {
            None => Ok(()),
            Some(fill) => self.report_by(key, hash, fill, Outcome::Success, None, None),
        }
    }

    /// A failure by key, with an optional reason for the events.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    #[inline]
    pub fn failure(&self, key: Key<'_>, reason: Option<&str>) -> Result<(), Error> {
        self.report_by(key, key.key_hash(), false, Outcome::Failure, reason, None)
    }

    /// A success or failure by key of a call that took `elapsed` (SPEC §8: what a rate
    /// policy's slow-call rule reads).
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn report_after(
        &self,
        key: Key<'_>,
        outcome: Outcome,
        elapsed: Nanos,
    ) -> Result<(), Error> {
        self.report_by(key, key.key_hash(), false, outcome, None, Some(elapsed))
    }

    /// A report through the map, after the per-thread cache did not take it. `hash` is
    /// the key's; `fill` says whether the cache wants the cell if the report leaves it
    /// admitting freely.
    #[inline(never)]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    pub(super) fn report_by(
        &self,
        key: Key<'_>,
        hash: u64,
        fill: bool,
        outcome: Outcome,
        reason: Option<&str>,
        elapsed: Option<Nanos>,
    ) -> Result<(), Error> {
        // The fast path runs under the shard's read lock: removal cannot interleave.
        let found = self.map.get(hash, key, |cell| {
            match cell.report_fast_timed(&self.cx, outcome, None, elapsed) {
                Fast::Counted => {
                    #[cfg(not(brama_loom))]
                    if fill && cell.available_fast() {
                        crate::registry::cache::fill(self.id, &self.cx, hash, cell);
                    }
                    None
                }
                fast => Some((CellRef::clone(cell), fast == Fast::Recorded)),
            }
        });
        self.report_rest(found, key, outcome, reason, elapsed)
    }

    /// A report by key after the map's fast path: done (`Some(None)`), the cell for the
    /// locked path, or not found.
    pub(super) fn report_rest(
        &self,
        found: Option<Option<(CellRef, bool)>>,
        key: Key<'_>,
        outcome: Outcome,
        reason: Option<&str>,
        elapsed: Option<Nanos>,
    ) -> Result<(), Error> {
        // `recorded`: the fast path put the report in the cell's rate window already.
        let (cell, recorded) = match found {
            Some(None) => return Ok(()),
            Some(Some(found)) => found,
            None => (self.auto(key)?, false),
        };
        // Off the guard, only the locked path may count: removal takes the same lock,
        // so the report is either in the final counts or answered NotFound. (A second
        // lock-free attempt here could count after the removal's snapshot; the loom
        // model `two_reports_racing_eviction_are_never_lost` found exactly that.)
        cell.report_locked(&self.cx, outcome, None, reason, elapsed, recorded)
    }

    /// A success by key as a thread that holds `held` (the cell it found for `key`
    /// earlier, as the per-thread cache does) reports it: the unlocked, sealed attempt
    /// on `held`, then the by-key path under the map lock. For the loom models, which
    /// run without the cache.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    #[doc(hidden)]
    pub fn success_held(&self, held: &ConnectionCell, key: Key<'_>) -> Result<(), Error> {
        if held.success_unlocked(&self.cx) == Fast::Counted {
            return Ok(());
        }
        let found = self.find(key, |cell| {
            match cell.report_fast(&self.cx, Outcome::Success, None) {
                Fast::Counted => None,
                fast => Some((CellRef::clone(cell), fast == Fast::Recorded)),
            }
        });
        self.report_rest(found, key, Outcome::Success, None, None)
    }

    /// The cell registered under `key`, as the per-thread cache holds it (no handle is
    /// taken, so it does not keep the connection from eviction). For the loom models.
    #[doc(hidden)]
    pub fn cell(&self, key: Key<'_>) -> Option<CellRef> {
        self.find(key, CellRef::clone)
    }

    /// A status snapshot.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn status(&self, key: Key<'_>) -> Result<Status, Error> {
        key.validate()?;
        Ok(self.existing(key)?.status(&self.cx))
    }

    pub(super) fn existing(&self, key: Key<'_>) -> Result<CellRef, Error> {
        key.validate()?;
        self.find(key, CellRef::clone)
            .ok_or_else(|| Error::not_found(key))
    }

    /// A handle to the connection: the cell, with its live-handle count raised (under the
    /// shard lock, so eviction cannot slip in between). Release it with
    /// [`ConnectionCell::release_handle`].
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn handle(&self, key: Key<'_>) -> Result<CellRef, Error> {
        key.validate()?;
        let found = self.find(key, |cell| {
            cell.retain_handle();
            CellRef::clone(cell)
        });
        match found {
            Some(cell) => Ok(cell),
            None => {
                let cell = self.auto(key)?;
                cell.retain_handle();
                if cell.is_removed() {
                    cell.release_handle();
                    return Err(Error::not_found(key));
                }
                Ok(cell)
            }
        }
    }
}
