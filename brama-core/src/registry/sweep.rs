//! The sweep: one pass of the janitor's work as a plain function of the time.

use std::time::Duration;

use super::*;
use crate::circuit::{CellRef, ConnectionCell};
use crate::clock::{nanos, Nanos};
use crate::events::{Counts, Event, EventKind, EventType};
use crate::key::OwnedKey;
use crate::state::State;
use crate::sync::Arc;

impl Registry {
    // ----- the sweep -----------------------------------------------------------------

    /// One pass of the janitor's work at the clock's current time: expired `Open`
    /// circuits move to `HalfOpen`, timed-out probe slots are freed, and connections
    /// inactive for longer than `inactive_threshold` (and not `Open`, `HalfOpen` or held
    /// by a handle) are evicted. Walks the connections in registration order through the
    /// map's sweep list, holding no lock while it reads them; after each segment it
    /// changes the circuits that are due and evicts, each eviction under one shard's
    /// write lock. Emits one `Swept` event.
    pub fn sweep(&self) -> SweepReport {
        #[cfg(not(brama_loom))]
        if let Some(hook) = &*crate::sync::lock(&self.sweep_hook) {
            hook();
        }
        // Async receivers are woken after the walk: a waker that calls back into the
        // registry must not find the sweep list's turn or a shard lock held.
        crate::events::defer_wakes(|| self.walk())
    }

    /// The sweep's work, see [`sweep`](Self::sweep).
    fn walk(&self) -> SweepReport {
        let now = self.cx.clock.now();
        let inactive = nanos(self.inactive_threshold());
        let mut report = SweepReport::default();
        let mut due = Vec::new();
        let mut idle = Vec::new();
        // A segment at a time: read (no lock held), then act.
        let held = self.map.sweep(|segment| {
            for (pos, cell) in segment.cells() {
                if cell.is_removed() {
                    continue; // left the map; its slot is being freed
                }
                report.examined += 1;
                if cell.tick_due(&self.cx, now) {
                    due.push(CellRef::clone(cell));
                } else if cell.evictable(now, inactive) {
                    idle.push((pos, CellRef::clone(cell)));
                }
            }
            for cell in due.drain(..) {
                if cell.tick(&self.cx) {
                    report.transitioned += 1;
                }
            }
            for (pos, cell) in idle.drain(..) {
                let (evicted, held) = self.evict(&cell, now, inactive);
                report.longest_lock_hold = report.longest_lock_hold.max(held);
                if evicted {
                    segment.release(pos);
                    report.evicted += 1;
                }
            }
        });
        report.longest_lock_hold = report.longest_lock_hold.max(held);
        let (examined, evicted) = (report.examined, report.evicted);
        self.cx.bus.publish(EventType::Swept, |seq| {
            Event::new(
                seq,
                EventKind::Swept { examined, evicted },
                self.cx.wall(now),
                None,
                State::Unknown,
                Counts::default(),
            )
        });
        report
    }

    /// Evicts `cell` if it is still evictable, re-checked under its shard's write lock
    /// (a report, handle or transition since the scan keeps it). Returns whether it was
    /// evicted, and the time the removal took: an upper bound on the shard lock's hold,
    /// since it includes the wait for the lock.
    pub(super) fn evict(&self, cell: &CellRef, now: Nanos, inactive: Nanos) -> (bool, Duration) {
        let key: &OwnedKey = cell.key();
        #[cfg(not(brama_loom))]
        let start = std::time::Instant::now();
        let removed = self.map.remove_swept(key, |c| {
            // Checked under the shard's write lock (no report by key, handle or manual
            // action can start), then again under the connection's transition lock: a
            // report by key that left the shard lock to change state (a trip) may
            // still be finishing, and an `Open` circuit, or one just reported on, must
            // not be evicted.
            let evict = Arc::ptr_eq(c, cell)
                && c.evictable(now, inactive)
                && c.mark_removed_if(|| c.evictable(now, inactive));
            if evict {
                self.announce_removal(c, Removal::Evicted, now);
            }
            evict
        });
        #[cfg(not(brama_loom))]
        let held = start.elapsed();
        #[cfg(brama_loom)]
        let held = Duration::ZERO;
        if removed.is_some() {
            self.unreserve();
        }
        (removed.is_some(), held)
    }

    /// Test hook: runs at the start of every sweep (used to inject a panic).
    #[cfg(not(brama_loom))]
    #[doc(hidden)]
    pub fn set_sweep_hook(&self, hook: Option<Box<dyn Fn() + Send + Sync>>) {
        *crate::sync::lock(&self.sweep_hook) = hook;
    }

    pub(super) fn emit(
        &self,
        ty: EventType,
        cell: &ConnectionCell,
        kind: EventKind,
        counts: Counts,
        now: Nanos,
    ) {
        self.cx.bus.publish(ty, |seq| {
            Event::new(
                seq,
                kind,
                self.cx.wall(now),
                Some(cell.key().clone()),
                cell.state(),
                counts,
            )
        });
    }
}
