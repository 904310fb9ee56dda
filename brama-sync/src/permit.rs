//! [`Permit`] and [`OwnedPermit`]: leave to make one call, tied to the circuit cycle it
//! was granted in.

use std::fmt;

use brama_core::engine::clock::Nanos;
use brama_core::engine::rules::Outcome as EngineOutcome;
use brama_core::engine::{ConnectionCell, Context, Ticket};
use brama_core::Error;

use crate::call::Outcome;
use crate::handle::Handle;

/// What a permit reports through: the borrowed handle's cell and context (one load
/// each away, like the owned handle's), or an owned handle (a permit by key owns the
/// handle it looked up).
///
/// `repr(usize)`: a whole-word tag, so the permit has no padding bytes, which a move
/// of a `Result<Permit, Error>` would otherwise copy in overlapping pieces (a
/// store-forwarding stall in `call_async`, perf annotate of the benchmark).
#[repr(usize)]
enum Holder<'a> {
    Borrowed {
        cell: &'a ConnectionCell,
        cx: &'a Context,
    },
    Owned(Handle),
}

impl Holder<'_> {
    #[inline]
    fn cell(&self) -> &ConnectionCell {
        match self {
            Holder::Borrowed { cell, .. } => cell,
            Holder::Owned(c) => &c.cell,
        }
    }

    #[inline]
    fn cx(&self) -> &Context {
        match self {
            Holder::Borrowed { cx, .. } => cx,
            Holder::Owned(c) => &c.cx,
        }
    }
}

/// Leave to make one call, tied to the circuit cycle it was granted in.
///
/// Report the outcome with [`success`](Permit::success), [`failure`](Permit::failure)
/// or [`ignore`](Permit::ignore) (neither); dropping it unreported is the same as
/// `ignore`: a half-open probe slot it held is freed. A permit from an earlier cycle
/// (the circuit changed state since) is counted in the totals but decides nothing.
///
/// # Forgetting a permit
///
/// A permit by key ([`Brama::acquire`](crate::Brama::acquire)) owns a handle to its
/// connection, and while that handle lives the connection is never evicted. One that
/// is never dropped (`mem::forget`, a leaked task) therefore pins its connection
/// against eviction for the life of the process, in any state; nothing expires the
/// pin. A forgotten half-open probe still gives its slot back at the probe timeout,
/// and [`Brama::unregister`](crate::Brama::unregister) still removes the connection
/// (reports through the permit then say [`Error::NotFound`]). A permit from
/// [`Connection::acquire`](crate::Connection::acquire) borrows the connection's handle
/// instead, so forgetting it pins nothing beyond the `Connection` itself.
#[must_use = "report the call's outcome on the permit, or it counts as neither"]
pub struct Permit<'a> {
    conn: Holder<'a>,
    // The ticket's cycle, and its probe flag with the permit's own `DONE` in `flags`:
    // whole words, no padding (see `Holder`).
    gen: u32,
    flags: u32,
    // When the call started, for a rate policy's slow-call rule ([`UNTIMED`] when the
    // connection has none: the clock is read only when it does).
    started: Nanos,
}

/// `Permit::flags`: the ticket holds a half-open probe slot.
const PROBE: u32 = 1;
/// `Permit::flags`: reported (or its outcome taken over); the drop does nothing.
const DONE: u32 = 2;

/// A permit whose call is not timed.
const UNTIMED: Nanos = Nanos::MAX;

/// The start of a call admitted on `conn`: now if it is to be timed.
#[inline]
fn started(cx: &Context, timed: bool) -> Nanos {
    if timed {
        now(cx)
    } else {
        UNTIMED
    }
}

/// The clock's precise reading, out of line: only a rate policy's slow-call rule
/// times its calls.
#[cold]
#[inline(never)]
fn now(cx: &Context) -> Nanos {
    cx.clock.now()
}

impl<'a> Permit<'a> {
    /// A permit that borrows the handle; `timed` as [`ConnectionCell::acquire_free`]
    /// (or `times_calls`) answered with the ticket.
    #[inline]
    pub(crate) fn borrowed(conn: &'a Handle, ticket: Ticket, timed: bool) -> Permit<'a> {
        Permit {
            started: started(&conn.cx, timed),
            conn: Holder::Borrowed {
                cell: &conn.cell,
                cx: &conn.cx,
            },
            gen: ticket.gen,
            flags: if ticket.probe { PROBE } else { 0 },
        }
    }
}

impl Permit<'static> {
    /// A permit that owns the handle.
    pub(crate) fn owned(conn: Handle, ticket: Ticket) -> Permit<'static> {
        Permit {
            started: started(&conn.cx, conn.cell.times_calls()),
            conn: Holder::Owned(conn),
            gen: ticket.gen,
            flags: if ticket.probe { PROBE } else { 0 },
        }
    }
}

impl Permit<'_> {
    /// The admission ticket.
    #[inline]
    fn ticket(&self) -> Ticket {
        Ticket {
            gen: self.gen,
            probe: self.flags & PROBE != 0,
        }
    }

    /// Whether this permit holds a half-open probe slot.
    pub fn is_probe(&self) -> bool {
        self.flags & PROBE != 0
    }

    /// Marks the permit finished (its drop then does nothing; the probe flag is no
    /// longer needed). One whole-word store of a constant, which the drop's load of
    /// the same word reads back from the store buffer: an `|=` compiles to a one-byte
    /// `or`, and the drop's four-byte load of it stalled `call_async` (perf annotate).
    #[inline]
    fn finish(&mut self) {
        self.flags = DONE;
    }

    /// Reports a success.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn success(mut self) -> Result<(), Error> {
        self.report(Outcome::Success)
    }

    /// Reports a failure.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn failure(mut self) -> Result<(), Error> {
        self.report(Outcome::Failure)
    }

    /// Reports a failure with a reason for the events.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn failure_with(mut self, reason: &str) -> Result<(), Error> {
        let ticket = self.ticket();
        self.finish();
        if self.started == UNTIMED {
            return (self.conn.cell()).failure(self.conn.cx(), Some(ticket), Some(reason));
        }
        // Timed as `failure` is (a slow-call rule reads how long the call took).
        self.timed_report(EngineOutcome::Failure, ticket, Some(reason))
    }

    /// Ends the permit without a result: counts neither, frees its probe slot.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered (the permit is ended
    /// all the same).
    pub fn ignore(mut self) -> Result<(), Error> {
        self.report(Outcome::Ignore)
    }

    /// Reports `outcome` in place, leaving a finished permit behind (its drop does
    /// nothing): what [`success`](Self::success), [`failure`](Self::failure) and
    /// [`ignore`](Self::ignore) do (`call` and the futures, which hold their permit
    /// inside their state, use [`report_in_place`](Self::report_in_place)). Reading the
    /// permit's fields one by one, rather than moving it out whole, avoids a
    /// store-forwarding stall when a future is polled right after it was made (the
    /// permit's fields were just written one by one): 35-45 ns of `call_async`'s
    /// overhead went there (perf annotate, a scratch loop).
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub(crate) fn report(&mut self, outcome: Outcome) -> Result<(), Error> {
        if self.quiet_success(outcome) {
            return Ok(());
        }
        self.report_unquiet(outcome)
    }

    /// [`report`](Self::report) with the result dropped and the quiet success always
    /// in line, so that it writes no result: `call_async` 8.5 -> 6.6 ns
    /// (docs/benchmarks.md, "One quiet session"). For `call` and the futures, whose
    /// caller's result stands whatever the report says (only `NotFound` can come back).
    #[inline(always)]
    pub(crate) fn report_in_place(&mut self, outcome: Outcome) {
        if !self.quiet_success(outcome) {
            let _ = self.report_unquiet(outcome);
        }
    }

    /// A success on a healthy circuit (Closed, no consecutive failures), counted as
    /// `Connection::success` counts it: it decides nothing whatever the permit's
    /// cycle, and frees no slot (a probe's cycle has ended once the circuit is
    /// Closed). True if it was counted, the permit then finished.
    #[inline(always)]
    fn quiet_success(&mut self, outcome: Outcome) -> bool {
        let quiet =
            outcome == Outcome::Success && self.conn.cell().success_if_quiet(self.conn.cx());
        if quiet {
            self.finish();
        }
        quiet
    }

    /// [`report`](Self::report) for anything but a quiet success, out of line.
    #[inline(never)]
    fn report_unquiet(&mut self, outcome: Outcome) -> Result<(), Error> {
        let ticket = self.ticket();
        self.finish();
        let (cell, cx) = (self.conn.cell(), self.conn.cx());
        match outcome {
            Outcome::Success => self.success_reported(ticket),
            Outcome::Failure if self.started == UNTIMED => cell.failure(cx, Some(ticket), None),
            Outcome::Failure => self.timed_report(EngineOutcome::Failure, ticket, None),
            Outcome::Ignore => {
                cell.release(ticket);
                if cell.is_removed() {
                    Err(Error::not_found(cell.key().as_key()))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// A success when the quiet case does not apply.
    #[cold]
    #[inline(never)]
    fn success_reported(&self, ticket: Ticket) -> Result<(), Error> {
        if self.started != UNTIMED {
            return self.timed_report(EngineOutcome::Success, ticket, None);
        }
        let (cell, cx) = (self.conn.cell(), self.conn.cx());
        if cell.time_window_success_if_quiet(cx, Some(ticket.gen)) {
            return Ok(());
        }
        cell.success(cx, Some(ticket))
    }

    /// A report with the call's duration, for a rate policy's slow-call rule.
    #[cold]
    #[inline(never)]
    fn timed_report(
        &self,
        outcome: EngineOutcome,
        ticket: Ticket,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let (cell, cx) = (self.conn.cell(), self.conn.cx());
        let elapsed = cx.clock.now().saturating_sub(self.started);
        cell.report_timed(cx, outcome, Some(ticket), reason, Some(elapsed))
    }
}

/// A [`Permit`] that owns its handle: `'static + Send + Sync`, so it can move into a
/// spawned task or another thread. Made by
/// [`Connection::acquire_owned`](crate::Connection::acquire_owned) and
/// [`Brama::acquire_owned`](crate::Brama::acquire_owned).
///
/// Same methods and drop rules as [`Permit`]: report with
/// [`success`](OwnedPermit::success), [`failure`](OwnedPermit::failure) or
/// [`ignore`](OwnedPermit::ignore); dropped unreported, it counts as neither and frees
/// its half-open probe slot. While it lives the connection is never evicted.
///
/// It owns a handle to its connection: one that is never dropped (`mem::forget`, a
/// task leaked or parked for ever) pins the connection against eviction for the life
/// of the process. The pin does not expire (a probe's half-open slot still does, at
/// the probe timeout); [`Brama::unregister`](crate::Brama::unregister) still removes
/// the connection, and reports through the permit then say [`Error::NotFound`]. See
/// docs/janitor.md, "Forgotten permits and handles".
///
/// # Examples
/// ```
/// use brama_sync::{Brama, Options};
/// let brama = Brama::new();
/// brama.register("db", Options::new())?;
/// let permit = brama.connection("db")?.acquire_owned()?;
/// std::thread::spawn(move || permit.success()).join().unwrap()?;
/// assert_eq!(brama.status("db")?.total_successes, 1);
/// # Ok::<(), brama_sync::Error>(())
/// ```
#[must_use = "report the call's outcome on the permit, or it counts as neither"]
pub struct OwnedPermit {
    inner: Permit<'static>,
}

impl OwnedPermit {
    pub(crate) fn new(conn: Handle, ticket: Ticket) -> OwnedPermit {
        OwnedPermit {
            inner: Permit::owned(conn, ticket),
        }
    }

    /// Whether this permit holds a half-open probe slot.
    pub fn is_probe(&self) -> bool {
        self.inner.is_probe()
    }

    /// Reports a success.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn success(self) -> Result<(), Error> {
        self.inner.success()
    }

    /// Reports a failure.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn failure(self) -> Result<(), Error> {
        self.inner.failure()
    }

    /// Reports a failure with a reason for the events.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn failure_with(self, reason: &str) -> Result<(), Error> {
        self.inner.failure_with(reason)
    }

    /// Ends the permit without a result: counts neither, frees its probe slot.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn ignore(self) -> Result<(), Error> {
        self.inner.ignore()
    }

    /// The permit as a [`Permit<'static>`](Permit), e.g. for code written against
    /// `Permit`.
    pub fn into_permit(self) -> Permit<'static> {
        self.inner
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedPermit").field(&self.inner).finish()
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.flags & DONE == 0 {
            self.conn.cell().release(self.ticket());
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("key", &self.conn.cell().key())
            .field("ticket", &self.ticket())
            .finish()
    }
}
