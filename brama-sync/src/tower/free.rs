//! [`Free`]: a call the layer admitted on a healthy circuit, with no permit.

use std::sync::Arc;

use brama_core::engine::{CellRef, Fast, Registry, Ticket};
use brama_core::Error;

use crate::call::Outcome;
use crate::keybuf::KeyBuf;

/// A call admitted by one load of a circuit that admitted freely (`Unknown` or
/// `Closed`, no slow-call timing), found through this thread's cache or the map,
/// with no handle held: the key to report by, the connection it was admitted on and
/// the cycle it was admitted in.
///
/// The connection is remembered by its cell's address, compared and never
/// dereferenced: a report counts only on that connection, so a call that outlives it
/// (unregistered, evicted) counts nowhere, not on a connection registered later under
/// the same key. (Were the old cell freed and a new one allocated at its address, the
/// new connection would take the report: a removal, a re-registration and a reused
/// allocation, all while one call is in flight.)
///
/// Its success is counted as [`Brama::success`](crate::Brama::success) counts one on
/// a healthy circuit (through the per-thread cache, with a counter that removal
/// seals); every other report goes to the cell with the ticket, so a report from an
/// earlier cycle (the circuit changed state since) is counted and decides nothing,
/// exactly as through a [`Permit`](crate::Permit). It holds no probe slot, so there
/// is nothing to free when it is dropped.
pub(super) struct Free {
    registry: Arc<Registry>,
    key: KeyBuf,
    cell: usize,
    ticket: Ticket,
}

/// The address a connection's cell is remembered by.
#[inline]
pub(super) fn address(cell: &CellRef) -> usize {
    Arc::as_ptr(cell) as usize
}

impl Free {
    #[inline]
    pub(super) fn new(registry: Arc<Registry>, key: KeyBuf, admitted: (Ticket, usize)) -> Free {
        let (ticket, cell) = admitted;
        Free {
            registry,
            key,
            cell,
            ticket,
        }
    }

    /// Reports `outcome` (with `reason` for the events of a failure).
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed since.
    #[inline]
    pub(super) fn report(&self, outcome: Outcome, reason: Option<&str>) -> Result<(), Error> {
        if outcome == Outcome::Success {
            let cx = self.registry.context();
            let counted = self.registry.peek(self.key.as_key(), false, |cell| {
                (address(cell) == self.cell && cell.success_unlocked(cx) == Fast::Counted)
                    .then_some(())
            });
            if counted.is_some() {
                return Ok(());
            }
        }
        self.report_slow(outcome, reason)
    }

    /// A report that is not a success on a healthy circuit: on the cell, with the
    /// ticket.
    #[cold]
    #[inline(never)]
    fn report_slow(&self, outcome: Outcome, reason: Option<&str>) -> Result<(), Error> {
        let key = self.key.as_key();
        let cx = self.registry.context();
        // Not a probe: an ignored call has no slot to free.
        if outcome == Outcome::Ignore {
            return Ok(());
        }
        let cell = self
            .registry
            .peek(key, false, |c| {
                (address(c) == self.cell && !c.is_removed()).then(|| CellRef::clone(c))
            })
            .ok_or_else(|| Error::not_found(key))?;
        match outcome {
            Outcome::Success => cell.success(cx, Some(self.ticket)),
            _ => cell.failure(cx, Some(self.ticket), reason),
        }
    }
}
