//! [`Connection`]: a handle to one connection, with no lookup per call.

use std::fmt;
use std::sync::Arc;

use brama_core::engine::{CellRef, Context};
use brama_core::{Error, Key, Status};

use crate::call::{self, CallError, Classification};
use crate::permit::Permit;

/// A handle to one connection: checks and reports with no lookup, `available()` is one
/// atomic load on a healthy circuit. `Clone + Send + Sync`.
///
/// While any handle (or permit) lives, the connection is never evicted, and dropping one
/// counts as activity: the inactivity threshold runs from that moment. After the
/// connection is unregistered, the handle answers `false` / `Err(NotFound)` and never
/// brings it back.
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
pub struct Connection {
    pub(crate) cell: CellRef,
    pub(crate) cx: Arc<Context>,
}

impl Connection {
    /// Wraps a cell whose handle count the caller already raised.
    pub(crate) fn from_parts(cell: CellRef, cx: Arc<Context>) -> Connection {
        Connection { cell, cx }
    }

    /// The key.
    pub fn key(&self) -> Key<'_> {
        self.cell.key().as_key()
    }

    /// The identifier.
    pub fn identifier(&self) -> &str {
        self.cell.key().identifier()
    }

    /// The scope, if any.
    pub fn scope(&self) -> Option<&str> {
        self.cell.key().scope()
    }

    /// Whether a call may go ahead now (see [`Brama::available`](crate::Brama::available)).
    #[inline]
    pub fn available(&self) -> bool {
        self.cell.available(&self.cx)
    }

    /// Reports a success.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn success(&self) -> Result<(), Error> {
        if self.cell.success_if_quiet(&self.cx) {
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
        self.cell.success(&self.cx, None)
    }

    /// Reports a failure.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    #[inline]
    pub fn failure(&self) -> Result<(), Error> {
        self.cell.failure(&self.cx, None, None)
    }

    /// Reports a failure with a reason for the events.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn failure_with(&self, reason: &str) -> Result<(), Error> {
        self.cell.failure(&self.cx, None, Some(reason))
    }

    /// A status snapshot.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn status(&self) -> Result<Status, Error> {
        if self.cell.is_removed() {
            return Err(Error::NotFound);
        }
        Ok(self.cell.status(&self.cx))
    }

    /// Asks to make one call; the permit borrows this handle.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Rejected`].
    #[inline]
    pub fn acquire(&self) -> Result<Permit<'_>, Error> {
        let ticket = self.cell.acquire(&self.cx)?;
        Ok(Permit::borrowed(self, ticket))
    }

    pub(crate) fn into_permit(self) -> Result<Permit<'static>, Error> {
        let ticket = self.cell.acquire(&self.cx)?;
        Ok(Permit::owned(self, ticket))
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
        C: FnOnce(&Result<T, E>) -> Classification,
    {
        let permit = self.acquire().map_err(CallError::Rejected)?;
        call::run(permit, classify, f)
    }
}

impl Clone for Connection {
    fn clone(&self) -> Connection {
        self.cell.retain_handle();
        Connection {
            cell: CellRef::clone(&self.cell),
            cx: Arc::clone(&self.cx),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A live handle is activity (SPEC §6) up to this moment: the inactivity threshold
        // counts from here. Stamped before the release, which publishes it to a sweep
        // that sees no handle left.
        self.cell.touch(self.cx.clock.recent());
        self.cell.release_handle();
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("key", &self.key())
            .field("state", &self.cell.state())
            .finish()
    }
}
