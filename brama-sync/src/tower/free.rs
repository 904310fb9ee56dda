//! [`Free`]: a call the layer admitted on a healthy circuit, with no permit.

use std::sync::Arc;

use brama_core::engine::{CellRef, Fast, Registry, Spot};

use crate::call::Outcome;

/// A call admitted by one load of a circuit that admitted freely (`Unknown` or
/// `Closed`, no slow-call timing), found through this thread's cache or the map,
/// with no handle held: where the connection was found (its key's hash and its
/// cell's address, a [`Spot`]) and the cycle it was admitted in. No key: the report
/// finds the cell again by the spot, with no hash to compute and no key to compare.
///
/// The connection is remembered by its cell's address, compared and never
/// dereferenced: a report counts only on that connection, so a call that outlives it
/// (unregistered, evicted) counts nowhere, not on a connection registered later under
/// the same key. (Were the old cell freed and a new one allocated at its address, for
/// a key with the same hash, the new connection would take the report: a removal, a
/// re-registration and a reused allocation, all while one call is in flight.)
///
/// Its success is counted as [`Brama::success`](crate::Brama::success) counts one on
/// a healthy circuit (through the per-thread cache, with a counter that removal
/// seals); every other report goes to the cell with the cycle, so a report from an
/// earlier cycle (the circuit changed state since) is counted and decides nothing,
/// exactly as through a [`Permit`](crate::Permit). It holds no probe slot, so there
/// is nothing to free when it is dropped.
pub(super) struct Free {
    registry: Arc<Registry>,
    spot: Spot,
    gen: u32,
}

impl Free {
    #[inline]
    pub(super) fn new(registry: Arc<Registry>, spot: Spot, gen: u32) -> Free {
        Free {
            registry,
            spot,
            gen,
        }
    }

    /// Reports `outcome` (with `reason` for the events of a failure). False if the
    /// connection was removed since (the outcome counts nowhere).
    #[inline]
    pub(super) fn report(&self, outcome: Outcome, reason: Option<&str>) -> bool {
        if outcome == Outcome::Success {
            let cx = self.registry.context();
            let counted = self.registry.peek_at(self.spot, |cell| {
                (cell.success_unlocked(cx) == Fast::Counted).then_some(())
            });
            if counted.is_some() {
                return true;
            }
        }
        self.report_slow(outcome, reason)
    }

    /// A report that is not a success on a healthy circuit: on the cell, with the
    /// ticket.
    #[cold]
    #[inline(never)]
    fn report_slow(&self, outcome: Outcome, reason: Option<&str>) -> bool {
        // Not a probe: an ignored call has no slot to free.
        if outcome == Outcome::Ignore {
            return true;
        }
        let cx = self.registry.context();
        let Some(cell) = self
            .registry
            .peek_at(self.spot, |c| (!c.is_removed()).then(|| CellRef::clone(c)))
        else {
            return false;
        };
        let ticket = Some(brama_core::engine::Ticket {
            gen: self.gen,
            probe: false,
        });
        match outcome {
            Outcome::Success => cell.success(cx, ticket),
            _ => cell.failure(cx, ticket, reason),
        }
        .is_ok()
    }
}
