//! Taking a [`Snapshot`] of the registry, and restoring one (SPEC §11).

use std::collections::{HashMap, HashSet};

use super::*;
use crate::circuit::{CellRef, ConnectionCell, Rebase};
use crate::events::{Counts, EventKind, EventType};
use crate::snapshot::{ConnectionSnapshot, ScopeSnapshot, Snapshot, SNAPSHOT_VERSION};
use crate::state::State;

impl Registry {
    /// Every connection and scope template, as of one clock reading.
    ///
    /// Walks the connections as the sweep does (registration order, no shard lock) and
    /// reads each under its transition lock, so that its state, step, deadline and
    /// counts belong together; a connection registered or removed during the walk may
    /// or may not be in it. The walk waits for a sweep in progress, and the next sweep
    /// waits for it.
    pub fn snapshot(&self) -> Snapshot {
        let now = self.cx.clock.now();
        let mut connections = Vec::with_capacity(self.len());
        self.map.sweep(|segment| {
            connections.extend(
                segment
                    .cells()
                    .filter_map(|(_, c)| c.capture(&self.cx, now)),
            );
        });
        let scopes = self
            .cx
            .layers
            .scopes()
            .into_iter()
            .map(|(scope, defaults)| ScopeSnapshot { scope, defaults })
            .collect();
        Snapshot {
            version: SNAPSHOT_VERSION,
            taken_at: self.cx.wall(now),
            scopes,
            connections,
        }
    }

    /// Restores `snapshot`: its scope templates replace those of the same scopes; each
    /// of its connections is registered if it is not here (its `Registered` event, then
    /// a `StateChanged` with cause `Restore` unless it is `Unknown`), or else takes the
    /// snapshot's overrides, metadata and state (a `StateChanged` with cause
    /// `Restore` if the state changes); see `ConnectionCell::restore` for counters and
    /// times. Connections here and not in the snapshot are left as they are. Returns
    /// the number of connections restored: all of the snapshot's.
    ///
    /// All or nothing: everything is checked first ([`Snapshot::validate`], each
    /// template and override over the defaults, room under `max_connections` for the
    /// connections to register), and nothing changes on error.
    ///
    /// # Errors
    /// [`Error::InvalidSnapshot`] naming what is wrong; [`Error::CapacityExceeded`].
    pub fn restore(&self, snapshot: &Snapshot) -> Result<usize, Error> {
        snapshot.validate()?;
        let defaults = Config::clone(&self.cx.defaults());
        // Each scope's defaults over the registry's, once per scope: the snapshot's
        // template, else this registry's.
        let mut bases: HashMap<&str, Config> = HashMap::new();
        for (i, s) in snapshot.scopes.iter().enumerate() {
            let base = s
                .defaults
                .apply(&defaults)
                .map_err(|e| Error::invalid_snapshot(format!("scope {i} ({:?}): {e}", s.scope)))?;
            bases.insert(&s.scope, base);
        }
        let mut missing = 0;
        for (i, c) in snapshot.connections.iter().enumerate() {
            if let Some(own) = c.overrides.as_deref() {
                let base = match c.scope.as_deref() {
                    Some(scope) => bases.entry(scope).or_insert_with(|| {
                        self.cx
                            .layers
                            .scope(Some(scope))
                            .and_then(|t| t.apply(&defaults).ok())
                            .unwrap_or_else(|| defaults.clone())
                    }),
                    None => &defaults,
                };
                own.without_inherit().apply(base).map_err(|e| {
                    Error::invalid_snapshot(format!("connection {i} ({}): {e}", c.key()))
                })?;
            }
            // Room is counted only where there is a limit to count against.
            if self.max_connections.is_some() && self.find(c.key(), |_| ()).is_none() {
                missing += 1;
            }
        }
        // Read before anything changes (a custom clock is user code).
        let now = self.cx.clock.now();
        let mut room = Room::take(self, missing)?;
        let at = Rebase {
            taken_at: snapshot.taken_at,
            now,
        };
        for s in &snapshot.scopes {
            let template = s.defaults.without_inherit();
            // Cannot fail: `next` never does.
            let _ = self.cx.layers.update_scope(&s.scope, |_| Ok(template));
        }
        if !snapshot.scopes.is_empty() {
            self.publish_configured(now);
            // One walk for all of them: the connections of a restored scope resolve their
            // layers again.
            let restored: HashSet<&str> =
                snapshot.scopes.iter().map(|s| s.scope.as_str()).collect();
            self.refresh_walk(|c| c.key().scope().is_some_and(|s| restored.contains(s)));
        }
        crate::events::defer_wakes(|| {
            for c in &snapshot.connections {
                self.restore_one(c, &at, &mut room);
            }
        });
        Ok(snapshot.connections.len())
    }

    /// Restores one (validated) connection: into the one registered under its key, or
    /// as a new one if there is none, whatever registrations and removals race it.
    fn restore_one(&self, snap: &ConnectionSnapshot, at: &Rebase, room: &mut Room<'_>) {
        let own = snap.own_options();
        loop {
            if let Some(cell) = self.find(snap.key(), CellRef::clone) {
                let held = cell.hold_transitions();
                if cell.is_removed() {
                    continue;
                }
                cell.replace_extras(&own, snap.metadata.clone());
                cell.refresh_layers(&self.cx);
                drop(held);
                if cell.restore_announced(&self.cx, snap, at) {
                    return;
                }
                continue;
            }
            let Ok(owned) = snap.key().to_owned_key() else {
                return; // validated: never
            };
            let options = snap
                .metadata
                .iter()
                .fold(own.clone(), |o, (k, v)| o.metadata(k.clone(), v.clone()));
            let cell = Arc::new(ConnectionCell::new(
                owned,
                at.at(snap.registered_at),
                &options,
            ));
            let change = cell.restore(snap, at, true);
            let entered = self.enter(
                &cell,
                || Ok(()),
                |cell| {
                    self.cx.bus.publish(EventType::Registered, |seq| {
                        crate::events::Event::new(
                            seq,
                            EventKind::Registered,
                            self.cx.wall(at.now),
                            Some(cell.key().clone()),
                            State::Unknown,
                            Counts::default(),
                        )
                    });
                    if let Some(change) = change {
                        cell.announce_restore(&self.cx, change, at.now);
                    }
                },
            );
            if entered.is_ok() {
                room.use_one();
                return;
            }
            // Registered meanwhile: restore into that one.
        }
    }
}

/// Places under `max_connections` taken for a restore's new connections at once (so
/// that a restore that does not fit changes nothing); the unused ones are given back
/// when it drops.
struct Room<'a> {
    registry: &'a Registry,
    left: usize,
}

impl<'a> Room<'a> {
    fn take(registry: &'a Registry, n: usize) -> Result<Room<'a>, Error> {
        match registry.max_connections {
            None => {
                // Relaxed: a gauge without a limit (as `reserve`).
                registry.len.fetch_add(n, Ordering::Relaxed);
            }
            Some(max) => {
                registry
                    .len
                    // Relaxed: as `reserve`, the CAS on the gauge alone enforces the limit.
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |len| {
                        len.checked_add(n).filter(|&after| after <= max)
                    })
                    .map_err(|_| Error::CapacityExceeded)?;
            }
        }
        Ok(Room { registry, left: n })
    }

    /// A new connection entered the map. Past what was taken (with no limit, nothing
    /// is taken ahead; with one, a key that was here when the restore counted was
    /// removed before it was restored), it takes one more place whatever the limit: the
    /// removal gave one back.
    fn use_one(&mut self) {
        match self.left.checked_sub(1) {
            Some(left) => self.left = left,
            // Relaxed: as `reserve`.
            None => {
                self.registry.len.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Room<'_> {
    fn drop(&mut self) {
        // Relaxed: as `unreserve`.
        self.registry.len.fetch_sub(self.left, Ordering::Relaxed);
    }
}
