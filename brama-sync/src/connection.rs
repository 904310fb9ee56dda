//! [`Connection`]: a handle to one connection, with no lookup per call.

use std::fmt;
use std::sync::Arc;

use brama_core::engine::{CellRef, Context, Ticket};
use brama_core::{Error, Key, State, Status};

use crate::call::{self, ByResult, CallError, CallFuture, Outcome};
use crate::handle::Handle;
use crate::permit::{OwnedPermit, Permit};

/// A handle to one connection: checks and reports with no lookup, `available()` is one
/// atomic load on a healthy circuit. `Clone + Send + Sync`.
///
/// While any handle (or permit) lives, the connection is never evicted, and dropping one
/// counts as activity: the inactivity threshold runs from that moment. After the
/// connection is unregistered, the handle answers `false` / `Err(NotFound)` and never
/// brings it back.
///
/// A handle that is never dropped (`mem::forget`, a leak), or an [`OwnedPermit`] or a
/// [`Permit`] by key that is never dropped (each owns a handle), pins its connection
/// against eviction for the life of the process: the pin does not expire. Only
/// [`Brama::unregister`](crate::Brama::unregister) removes such a connection.
///
/// A handle may outlive its [`Brama`](crate::Brama): it keeps working (checks,
/// reports, an open circuit's expiry, read from the clock itself once the janitor is
/// gone), though nothing sweeps or evicts any more.
///
/// # Examples
/// ```
/// use brama_sync::{Brama, Options};
/// let brama = Brama::new();
/// brama.register("db", Options::new())?;
/// let db = brama.connection("db")?;
/// if db.available() {
///     db.success()?;
/// }
/// # Ok::<(), brama_sync::Error>(())
/// ```
#[derive(Clone)]
pub struct Connection {
    pub(crate) handle: Handle,
}

impl Connection {
    /// Wraps a cell whose handle count the caller already raised.
    pub(crate) fn from_parts(cell: CellRef, cx: Arc<Context>) -> Connection {
        Connection {
            handle: Handle { cell, cx },
        }
    }

    /// The key.
    pub fn key(&self) -> Key<'_> {
        self.handle.cell.key().as_key()
    }

    /// The identifier.
    pub fn identifier(&self) -> &str {
        self.handle.cell.key().identifier()
    }

    /// The scope, if any.
    pub fn scope(&self) -> Option<&str> {
        self.handle.cell.key().scope()
    }

    /// Whether a call may go ahead now (see [`Brama::available`](crate::Brama::available)).
    #[inline]
    pub fn available(&self) -> bool {
        self.handle.cell.available(&self.handle.cx)
    }

    /// Reports a success.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn success(&self) -> Result<(), Error> {
        if self.handle.cell.handle_success_if_quiet(&self.handle.cx) {
            Ok(())
        } else {
            self.success_reported()
        }
    }

    /// [`success`](Self::success) when the quiet case does not apply: a complete
    /// report, out of line so that the inlined part needs only `self`.
    #[cold]
    #[inline(never)]
    fn success_reported(&self) -> Result<(), Error> {
        self.handle.cell.success(&self.handle.cx, None)
    }

    /// Reports a failure.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn failure(&self) -> Result<(), Error> {
        self.handle.cell.failure(&self.handle.cx, None, None)
    }

    /// Reports a failure with a reason for the events.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn failure_with(&self, reason: &str) -> Result<(), Error> {
        self.handle
            .cell
            .failure(&self.handle.cx, None, Some(reason))
    }

    /// A status snapshot.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn status(&self) -> Result<Status, Error> {
        if self.handle.cell.is_removed() {
            return Err(Error::not_found(self.key()));
        }
        Ok(self.handle.cell.status(&self.handle.cx))
    }

    /// The state as the next check would see it, with no side effect at all (see
    /// [`Brama::state`](crate::Brama::state) for what it answers past a deadline).
    /// Reading it is not activity: it does not keep the connection from eviction any
    /// more than holding the handle does.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Options, State};
    /// let brama = Brama::new();
    /// brama.register("db", Options::new())?;
    /// let db = brama.connection("db")?;
    /// assert_eq!(db.state()?, State::Unknown);
    /// brama.unregister("db")?;
    /// assert!(db.state().is_err()); // NotFound
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn state(&self) -> Result<State, Error> {
        let now = self.handle.cx.clock.now();
        self.handle
            .cell
            .state_at(now)
            .ok_or_else(|| Error::not_found(self.key()))
    }

    /// Asks to make one call; the permit borrows this handle.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Rejected`].
    #[inline]
    pub fn acquire(&self) -> Result<Permit<'_>, Error> {
        // The admission and whether to time the call, from one load of the word.
        let (ticket, timed) = match self.handle.cell.acquire_free() {
            Some(free) => free,
            None => self.acquire_slow()?,
        };
        Ok(Permit::borrowed(&self.handle, ticket, timed))
    }

    /// [`acquire`](Self::acquire) when the circuit does not admit freely.
    #[cold]
    #[inline(never)]
    fn acquire_slow(&self) -> Result<(Ticket, bool), Error> {
        let ticket = self.handle.cell.acquire(&self.handle.cx)?;
        Ok((ticket, self.handle.cell.times_calls()))
    }

    /// Asks to make one call; the permit owns a clone of this handle, so it is
    /// `'static + Send + Sync` and can move into a spawned task. The handle is cloned
    /// only when the call is admitted.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Options};
    /// let brama = Brama::new();
    /// brama.register("db", Options::new())?;
    /// let db = brama.connection("db")?;
    /// let permit = db.acquire_owned()?;
    /// let worker = std::thread::spawn(move || permit.failure());
    /// worker.join().unwrap()?;
    /// assert_eq!(db.status()?.total_failures, 1);
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Rejected`].
    #[inline]
    pub fn acquire_owned(&self) -> Result<OwnedPermit, Error> {
        let ticket = self.handle.cell.acquire(&self.handle.cx)?;
        Ok(OwnedPermit::new(self.handle.clone(), ticket))
    }

    pub(crate) fn into_owned_permit(self) -> Result<OwnedPermit, Error> {
        let ticket = self.handle.cell.acquire(&self.handle.cx)?;
        Ok(OwnedPermit::new(self.handle, ticket))
    }

    pub(crate) fn into_permit(self) -> Result<Permit<'static>, Error> {
        let ticket = self.handle.cell.acquire(&self.handle.cx)?;
        Ok(Permit::owned(self.handle, ticket))
    }

    /// Runs `f` if admitted (see [`Brama::call`](crate::Brama::call)).
    ///
    /// # Errors
    /// [`CallError::Rejected`] or [`CallError::Failed`].
    pub fn call<T, E, F>(&self, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        let permit = self.acquire().map_err(CallError::Rejected)?;
        call::run(permit, call::by_result, f)
    }

    /// Runs `f` if admitted, with `classify` deciding the outcome.
    ///
    /// # Errors
    /// [`CallError::Rejected`] or [`CallError::Failed`].
    pub fn call_with<T, E, F, C>(&self, classify: C, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Result<T, E>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        let permit = self.acquire().map_err(CallError::Rejected)?;
        call::run(permit, classify, f)
    }

    /// Wraps a future (see [`Brama::call_async`](crate::Brama::call_async)): the
    /// permit borrows this handle, so the call costs no lookup and no reference count.
    /// To move the call into a spawned task, move a clone of the `Connection` in with
    /// it.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Options};
    /// let brama = Brama::new();
    /// brama.register("db", Options::new())?;
    /// let db = brama.connection("db")?;
    /// let out = pollster::block_on(db.call_async(async { Err::<u32, _>("timeout") }));
    /// assert!(out.is_err());
    /// assert_eq!(db.status()?.total_failures, 1);
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    ///
    /// # Errors
    /// The future resolves to [`CallError::Rejected`] if not admitted,
    /// [`CallError::Failed`] with `fut`'s error.
    #[inline]
    pub fn call_async<T, E, F>(&self, fut: F) -> CallFuture<'_, F>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        CallFuture::new(self.acquire(), ByResult, fut)
    }

    /// Like [`call_async`](Self::call_async), with `classify` deciding success,
    /// failure or neither from the result.
    ///
    /// # Errors
    /// As [`call_async`](Self::call_async).
    #[inline]
    pub fn call_async_with<T, E, F, C>(&self, classify: C, fut: F) -> CallFuture<'_, F, C>
    where
        F: std::future::Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> Outcome,
    {
        CallFuture::new(self.acquire(), classify, fut)
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("key", &self.key())
            .field("state", &self.handle.cell.state())
            .finish()
    }
}
