//! Registration and removal.

use super::*;
use crate::circuit::{CellRef, ConnectionCell};
use crate::clock::Nanos;
use crate::config::Options;
use crate::error::Error;
use crate::events::{Counts, EventKind, EventType};
use crate::key::{Key, OwnedKey};
use crate::status::Status;
use crate::sync::{Arc, Ordering};

impl Registry {
    // ----- registration --------------------------------------------------------------

    /// Registers a connection.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::InvalidConfig`] (options), [`Error::AlreadyRegistered`],
    /// [`Error::CapacityExceeded`]. On error nothing changes.
    pub fn register(&self, key: Key<'_>, options: &Options) -> Result<Status, Error> {
        let owned = key.to_owned_key()?;
        // Empty options leave the defaults, which were validated when they were set.
        if !options.is_empty() {
            options.apply(&self.cx.defaults())?;
        }
        let (cell, now) = self.insert(owned, options)?;
        // The snapshot as of the registration, named by the caller's key: no second
        // clock reading, and the stored key is not decoded again.
        Ok(cell.status_at(&self.cx, now, key))
    }

    /// Inserts a new connection; returns it and the time it was registered at.
    pub(super) fn insert(
        &self,
        owned: OwnedKey,
        options: &Options,
    ) -> Result<(CellRef, Nanos), Error> {
        // Read before anything changes: a custom clock is user code, and one that
        // panics must leave nothing behind (issue #20, defect 3).
        let now = self.cx.clock.now();
        let slot = match self.reserve() {
            Ok(slot) => slot,
            // At capacity, a duplicate is still reported as the duplicate it is.
            Err(full) => {
                return Err(if self.find(owned.as_key(), |_| ()).is_some() {
                    Error::AlreadyRegistered
                } else {
                    full
                })
            }
        };
        let cell = Arc::new(ConnectionCell::new(owned, now, options));
        // Held from before the connection is visible until `Registered` is published:
        // every other event of a connection is published under this lock, so none can
        // come before it.
        let held = cell.hold_transitions();
        // A rate policy's window and word flags, before anyone sees the connection.
        if options
            .trip_policy_value()
            .is_some_and(|p| p.consecutive_threshold().is_none())
            || self.cx.defaults().trip_policy.is_some()
        {
            cell.sync_policy_held(&self.cx);
        }
        if !self.map.insert_new(&cell) {
            return Err(Error::AlreadyRegistered); // `slot` is given back on drop
        }
        slot.keep();
        self.emit(
            EventType::Registered,
            &cell,
            EventKind::Registered,
            Counts::default(),
            now,
        );
        drop(held);
        Ok((cell, now))
    }

    /// Takes one of `max_connections`; the [`Slot`] gives it back when dropped unless
    /// [`Slot::keep`] is called, so an error or a panic between the reservation and the
    /// insert never leaks it.
    pub(super) fn reserve(&self) -> Result<Slot<'_>, Error> {
        match self.max_connections {
            None => {
                // Relaxed: a gauge without a limit.
                self.len.fetch_add(1, Ordering::Relaxed);
            }
            Some(max) => {
                self.len
                    // Relaxed: the CAS on the gauge alone enforces the limit; nothing
                    // else is published through it.
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < max).then_some(n + 1)
                    })
                    .map_err(|_| Error::CapacityExceeded)?;
            }
        }
        Ok(Slot(Some(self)))
    }

    pub(super) fn unreserve(&self) {
        // Relaxed: see `reserve`.
        self.len.fetch_sub(1, Ordering::Relaxed);
    }

    /// The cell for `key`, registering it first when `auto_register` is on.
    pub(super) fn lookup(&self, key: Key<'_>) -> Result<CellRef, Error> {
        if let Some(cell) = self.find(key, CellRef::clone) {
            return Ok(cell);
        }
        self.auto(key)
    }

    pub(super) fn auto(&self, key: Key<'_>) -> Result<CellRef, Error> {
        if !self.auto_register {
            key.validate()?;
            return Err(Error::not_found(key));
        }
        let owned = key.to_owned_key()?;
        match self.insert(owned, &Options::new()) {
            Ok((cell, _)) => Ok(cell),
            // Another thread registered it first: use theirs.
            Err(Error::AlreadyRegistered) => self
                .find(key, CellRef::clone)
                .ok_or_else(|| Error::not_found(key)),
            Err(e) => Err(e),
        }
    }

    /// Unregisters a connection; returns its last status.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn unregister(&self, key: Key<'_>) -> Result<Status, Error> {
        key.validate()?;
        let now = self.cx.clock.now();
        // The `Unregistered` event is published under the shard's write lock: async
        // receivers are woken once it is released.
        let cell = crate::events::defer_wakes(|| {
            self.map.remove_if(&key, |c| {
                self.retire(c, Removal::Unregistered, now);
                true
            })
        })
        .ok_or_else(|| Error::not_found(key))?;
        self.unreserve();
        Ok(cell.status(&self.cx))
    }

    /// Marks a connection removed and publishes its `Unregistered`/`Evicted` event with
    /// its final counts. Runs inside the removal, under the shard's write lock, so the
    /// event is out before the key can be registered again: the next connection's
    /// `Registered`, and every event of it, come after it (SPEC §5, "in the order of
    /// the changes"). `mark_removed` waits for a state change in progress, so the
    /// connection's own events come before it too. This is the one place a shard lock
    /// is held across an event (STYLE 2): nothing else takes a transition lock under a
    /// shard lock, publishing takes only the bus's sequencer, and `now` is read before
    /// the lock, so no user code runs under it and the nesting cannot deadlock.
    pub(super) fn retire(&self, cell: &ConnectionCell, why: Removal, now: Nanos) {
        cell.mark_removed();
        self.announce_removal(cell, why, now);
    }

    /// The removal event of `cell`, which this thread has just marked removed (see
    /// [`retire`](Self::retire)).
    pub(super) fn announce_removal(&self, cell: &ConnectionCell, why: Removal, now: Nanos) {
        let counts = cell.counts();
        let (ty, kind) = match why {
            Removal::Unregistered => (EventType::Unregistered, EventKind::Unregistered),
            Removal::Evicted => (EventType::Evicted, EventKind::Evicted),
        };
        self.emit(ty, cell, kind, counts, now);
    }
}

/// One reserved place under `max_connections` (see [`Registry::reserve`]).
pub(super) struct Slot<'a>(Option<&'a Registry>);

impl Slot<'_> {
    /// The connection is in the map: the place stays taken.
    pub(super) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(registry) = self.0 {
            registry.unreserve();
        }
    }
}
