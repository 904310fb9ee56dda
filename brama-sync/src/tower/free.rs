//! [`Free`]: a call the layer admitted on a healthy circuit, with no permit.

use std::sync::Arc;

use brama_core::engine::{CellRef, Context, Fast, Registry, Spot, Ticket};

use super::registries;
use crate::call::Outcome;

/// A call admitted by one load of a circuit that admitted freely (`Unknown` or
/// `Closed`, no slow-call timing), found through this thread's cache or the map,
/// with no handle held: where the connection was found (its key's hash and its
/// cell's address, a [`Spot`]), its registry's id, and the cycle it was admitted in.
/// No key: the report finds the cell again by the spot, with no hash to compute and
/// no key to compare.
///
/// Admitted through this thread's cache, it holds no reference at all (no `Arc`
/// raised and dropped per call): the cache's slot holds the cell and the registry's
/// context, and a report on the same thread while the slot still holds the cell
/// (the common case) counts there. Otherwise (another thread, the slot taken by
/// another key since) the report finds the registry by its id among the live ones
/// ([`registries`]); a call that outlives every `Brama` of its registry then counts
/// nowhere, like one whose connection was removed. Admitted through the map (a key
/// this thread has not used lately), it holds an `Arc` of the registry, as its report
/// will not find the cell cached.
///
/// The connection is remembered by its cell's address, compared and never
/// dereferenced: a report counts only on that connection, so a call that outlives it
/// (unregistered, evicted) counts nowhere, not on a connection registered later under
/// the same key. (Were the old cell freed and a new one allocated at its address, for
/// a key with the same hash, the new connection would take the report: a removal, a
/// re-registration and a reused allocation, all while one call is in flight.)
///
/// Its success is counted as [`Brama::success`](crate::Brama::success) counts one on
/// a healthy circuit (with a counter that removal seals); every other report goes to
/// the cell with the cycle, so a report from an earlier cycle (the circuit changed
/// state since) is counted and decides nothing, exactly as through a
/// [`Permit`](crate::Permit). It holds no probe slot, so there is nothing to free
/// when it is dropped.
pub(super) struct Free {
    /// `Some` only when admitted through the map.
    registry: Option<Arc<Registry>>,
    id: u64,
    spot: Spot,
    /// The cycle, widened to a word: no padding bytes to copy (see `Spot`).
    gen: u64,
}

impl Free {
    #[inline]
    pub(super) fn new(registry: &Arc<Registry>, spot: Spot, gen: u32) -> Free {
        Free {
            registry: (!spot.cached()).then(|| Arc::clone(registry)),
            id: registry.id(),
            spot,
            gen: u64::from(gen),
        }
    }

    /// Reports `outcome` (with `reason` for the events of a failure). False if the
    /// connection was removed since, or its registry dropped (the outcome counts
    /// nowhere).
    #[inline]
    pub(super) fn report(&self, outcome: Outcome, reason: Option<&str>) -> bool {
        if outcome == Outcome::Success {
            let counted = match &self.registry {
                None => Registry::peek_cached(self.id, self.spot, |cell, cx| {
                    cell.success_unlocked(cx) == Fast::Counted
                }),
                Some(registry) => registry.peek_at(self.spot, |cell| {
                    Some(cell.success_unlocked(registry.context()) == Fast::Counted)
                }),
            };
            if counted == Some(true) {
                return true;
            }
        }
        self.report_slow(outcome, reason)
    }

    /// A report that is not a success on a healthy circuit counted through this
    /// thread's cache: on the cell, with the ticket.
    #[cold]
    #[inline(never)]
    fn report_slow(&self, outcome: Outcome, reason: Option<&str>) -> bool {
        // Not a probe: an ignored call has no slot to free.
        if outcome == Outcome::Ignore {
            return true;
        }
        let live = |c: &CellRef| (!c.is_removed()).then(|| CellRef::clone(c));
        // Cloned out of the cache, which is not borrowed while the report runs.
        let found = match Registry::peek_cached(self.id, self.spot, |c, cx| {
            live(c).map(|c| (c, Arc::clone(cx)))
        }) {
            Some(found) => found,
            None => self.registry().and_then(|registry| {
                let cx = Arc::clone(registry.context());
                registry.peek_at(self.spot, live).map(|c| (c, cx))
            }),
        };
        let Some((cell, cx)) = found else {
            return false;
        };
        report_on(&cell, &cx, self.gen, outcome, reason)
    }

    /// The registry: held, or found by its id.
    fn registry(&self) -> Option<Arc<Registry>> {
        match &self.registry {
            Some(r) => Some(Arc::clone(r)),
            None => registries::find(self.id),
        }
    }
}

/// A report on `cell` with the ticket of cycle `gen`.
fn report_on(
    cell: &CellRef,
    cx: &Context,
    gen: u64,
    outcome: Outcome,
    reason: Option<&str>,
) -> bool {
    // Widened from a `u32` in `Free::new`.
    let gen = u32::try_from(gen).unwrap_or(u32::MAX);
    let ticket = Some(Ticket { gen, probe: false });
    match outcome {
        Outcome::Success => cell.success(cx, ticket),
        _ => cell.failure(cx, ticket, reason),
    }
    .is_ok()
}
