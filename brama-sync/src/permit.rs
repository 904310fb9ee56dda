//! [`Permit`]: leave to make one call, tied to the circuit cycle it was granted in.

use std::fmt;

use brama_core::engine::Ticket;
use brama_core::Error;

use crate::handle::Handle;

/// The handle a permit reports through: borrowed from the caller, or owned (a permit by
/// key owns the handle it looked up).
enum Holder<'a> {
    Borrowed(&'a Handle),
    Owned(Handle),
}

impl Holder<'_> {
    #[inline]
    fn get(&self) -> &Handle {
        match self {
            Holder::Borrowed(c) => c,
            Holder::Owned(c) => c,
        }
    }
}

/// Leave to make one call, tied to the circuit cycle it was granted in.
///
/// Report the outcome with [`success`](Permit::success), [`failure`](Permit::failure)
/// or [`ignore`](Permit::ignore) (neither); dropping it unreported is the same as
/// `ignore`: a half-open probe slot it held is freed. A permit from an earlier cycle
/// (the circuit changed state since) is counted in the totals but decides nothing.
#[must_use = "report the call's outcome on the permit, or it counts as neither"]
pub struct Permit<'a> {
    conn: Holder<'a>,
    ticket: Ticket,
    done: bool,
}

impl<'a> Permit<'a> {
    /// A permit that borrows the handle.
    #[inline]
    pub(crate) fn borrowed(conn: &'a Handle, ticket: Ticket) -> Permit<'a> {
        Permit {
            conn: Holder::Borrowed(conn),
            ticket,
            done: false,
        }
    }
}

impl Permit<'static> {
    /// A permit that owns the handle.
    pub(crate) fn owned(conn: Handle, ticket: Ticket) -> Permit<'static> {
        Permit {
            conn: Holder::Owned(conn),
            ticket,
            done: false,
        }
    }
}

impl Permit<'_> {
    /// Whether this permit holds a half-open probe slot.
    pub fn is_probe(&self) -> bool {
        self.ticket.probe
    }

    /// Reports a success.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn success(mut self) -> Result<(), Error> {
        self.done = true;
        let c = self.conn.get();
        c.cell.success(&c.cx, Some(self.ticket))
    }

    /// Reports a failure.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn failure(mut self) -> Result<(), Error> {
        self.done = true;
        let c = self.conn.get();
        c.cell.failure(&c.cx, Some(self.ticket), None)
    }

    /// Reports a failure with a reason for the events.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn failure_with(mut self, reason: &str) -> Result<(), Error> {
        self.done = true;
        let c = self.conn.get();
        c.cell.failure(&c.cx, Some(self.ticket), Some(reason))
    }

    /// Ends the permit without a result; frees its probe slot.
    pub fn ignore(self) {
        drop(self);
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.conn.get().cell.release(self.ticket);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("key", &self.conn.get().cell.key())
            .field("ticket", &self.ticket)
            .finish()
    }
}
