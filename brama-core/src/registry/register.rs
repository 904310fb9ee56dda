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
        // `inherit_*` marks clear nothing here: there is nothing to inherit over yet.
        let (cell, now) = self.insert(owned, &options.without_inherit())?;
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
        let cell = Arc::new(ConnectionCell::new(owned, now, options));
        // The place under `max_connections` is taken once the key is known to be
        // absent, under its shard's lock: at capacity, a duplicate is still the
        // duplicate it is, even while another thread registers it.
        let slot = self.enter(
            &cell,
            || self.reserve(),
            |cell| {
                self.emit(
                    EventType::Registered,
                    cell,
                    EventKind::Registered,
                    Counts::default(),
                    now,
                )
            },
        )?;
        slot.keep();
        Ok((cell, now))
    }

    /// Puts a new `cell` in the map, resolved against the layers (scope templates, the
    /// default mode), if its key is absent and `admit` (run under the shard's write lock,
    /// once the key is known to be absent) gives what it gives; runs `announce` once it
    /// is in, and returns what `admit` gave. The cell's transition lock is
    /// held from before the connection is visible until `announce` has run: every
    /// other event of a connection is published under this lock, so none can come
    /// before its `Registered`. The layers are resolved before the connection is
    /// visible, and again if a layer's writer bumped the epoch meanwhile (see
    /// `crate::layers`: its walk may have missed this connection).
    ///
    /// # Errors
    /// [`Error::AlreadyRegistered`] if the key is taken, or what `admit` returned
    /// (nothing changed).
    pub(super) fn enter<R>(
        &self,
        cell: &CellRef,
        admit: impl FnOnce() -> Result<R, Error>,
        announce: impl FnOnce(&ConnectionCell),
    ) -> Result<R, Error> {
        let held = cell.hold_transitions();
        let layers = &self.cx.layers;
        let epoch = layers.epoch();
        if layers.active() {
            cell.refresh_layers(&self.cx);
        } else if self.cx.default_threshold() == 1 || cell.has_rate_override() {
            // A rate policy's window and word flags (SPEC §8), before anyone sees the
            // connection: its own policy, or the defaults' (word threshold 1, a plain
            // load; a consecutive threshold of 1 just costs this sync).
            cell.sync_policy_held(&self.cx);
        }
        let admitted = self
            .map
            .insert_new_with(cell, admit)?
            .ok_or(Error::AlreadyRegistered)?;
        if layers.epoch() != epoch {
            cell.refresh_layers(&self.cx);
        }
        announce(cell);
        drop(held);
        Ok(admitted)
    }

    /// A handle to the connection of `key` (its handle count raised), registering it
    /// with `options` first if it is not there: exactly one of many racing callers
    /// registers it, and every one gets the same connection. `options` are checked
    /// even when the connection exists, and then unused.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::InvalidConfig`], [`Error::CapacityExceeded`].
    pub fn handle_or_register(&self, key: Key<'_>, options: &Options) -> Result<CellRef, Error> {
        let owned = key.to_owned_key()?;
        if !options.is_empty() {
            options.apply(&self.cx.defaults())?;
        }
        let options = options.without_inherit();
        loop {
            let found = self.find(key, |cell| {
                cell.retain_handle();
                CellRef::clone(cell)
            });
            if let Some(cell) = found {
                return Ok(cell);
            }
            match self.insert(owned.clone(), &options) {
                Ok((cell, _)) => {
                    // As `handle` does after an auto-registration: a removal between the
                    // insert and this count would leave a handle to a removed connection.
                    cell.retain_handle();
                    if !cell.is_removed() {
                        return Ok(cell);
                    }
                    cell.release_handle();
                }
                // Registered by another caller (or at capacity while it is there): the
                // next lookup finds it, unless it was removed since.
                Err(Error::AlreadyRegistered) => {}
                Err(e) => return Err(e),
            }
        }
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
