//! Operations (SPEC §11): acting on a whole scope, scope defaults, modes, snapshots and
//! restores, getting or registering a connection in one call, and visiting statuses.
//! docs/operations.md is the runbook.

use std::sync::Arc;

use crate::AsKey;
use brama_core::{Error, Mode, OpenOptions, Options, Snapshot, Status};

use crate::brama::Brama;
use crate::connection::Connection;

/// # Operations (SPEC §11)
///
/// A scope operation walks every connection as [`Brama::health`] does (the registry is
/// not indexed by scope: about as long as a health report, docs/health.md), taking no
/// shard lock while it reads and at most one lock at a time while it acts, so checks
/// and reports on every scope keep flowing. It returns the number of connections it
/// applied to; an unknown scope (or an invalid one) is 0, not an error. A connection
/// registered or removed while it runs may or may not be counted.
impl Brama {
    /// Opens every connection of `scope` (see [`Brama::open_circuit`]): one
    /// `StateChanged` with cause `Scope` for each that changed; an open one is re-armed
    /// with the new duration. Returns how many connections it applied to.
    ///
    /// `options` with a bad duration open nothing and return 0; use
    /// [`Brama::try_open_scope`] to get the error.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_sync::{Brama, Key, OpenOptions, Options, State};
    ///
    /// let brama = Brama::new();
    /// brama.register(Key::scoped("payments", "stripe"), Options::new())?;
    /// brama.register(Key::scoped("payments", "adyen"), Options::new())?;
    /// brama.register(Key::scoped("search", "elastic"), Options::new())?;
    /// let n = brama.open_scope("payments", OpenOptions::new().reason("incident 42").indefinitely());
    /// assert_eq!(n, 2);
    /// assert!(!brama.available(Key::scoped("payments", "adyen")));
    /// assert!(brama.available(Key::scoped("search", "elastic")));
    /// assert_eq!(brama.open_scope("nowhere", OpenOptions::new()), 0);
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    pub fn open_scope(&self, scope: &str, options: OpenOptions) -> usize {
        self.try_open_scope(scope, options).unwrap_or(0)
    }

    /// Like [`Brama::open_scope`], with the error for a bad open duration.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (field `duration`); nothing changes.
    pub fn try_open_scope(&self, scope: &str, options: OpenOptions) -> Result<usize, Error> {
        self.reg().open_scope(scope, &options)
    }

    /// Closes every connection of `scope` (see [`Brama::close_circuit`]); returns how
    /// many connections it applied to.
    pub fn close_scope(&self, scope: &str) -> usize {
        self.reg().close_scope(scope)
    }

    /// Resets every connection of `scope` (see [`Brama::reset_circuit`]); returns how
    /// many connections it applied to.
    pub fn reset_scope(&self, scope: &str) -> usize {
        self.reg().reset_scope(scope)
    }

    /// Unregisters every connection of `scope`, each with its `Unregistered` event;
    /// returns how many it removed. The scope's defaults ([`Brama::configure_scope`])
    /// stay, for connections registered later.
    pub fn unregister_scope(&self, scope: &str) -> usize {
        self.reg().unregister_scope(scope)
    }

    /// Sets defaults for `scope`, between the registry's defaults and each
    /// connection's own overrides: only the fields given change, a field marked with an
    /// `inherit_*` method (e.g. [`Options::inherit_failure_threshold`]) is cleared, and
    /// every connection of the scope, now and registered later, follows them live
    /// wherever it has no value of its own. [`Options::mode`] sets the scope's mode,
    /// [`Options::critical`] its criticality. Emits one registry-wide `Configured`.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Key, Options, State};
    ///
    /// let brama = Brama::builder().failure_threshold(5).build()?;
    /// let stripe = Key::scoped("payments", "stripe");
    /// brama.register(stripe, Options::new())?;
    /// brama.configure_scope("payments", Options::new().failure_threshold(2))?;
    /// brama.failure(stripe)?;
    /// brama.failure(stripe)?;
    /// assert_eq!(brama.status(stripe)?.state, State::Open); // the scope's 2, not 5
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a bad scope; [`Error::InvalidConfig`] for a bad value
    /// or for metadata (it belongs to connections). Nothing changes on error.
    pub fn configure_scope(&self, scope: &str, options: Options) -> Result<(), Error> {
        self.reg().configure_scope(scope, &options)
    }

    /// The defaults of `scope` set by [`Brama::configure_scope`] (mode included), if
    /// any.
    pub fn scope_defaults(&self, scope: &str) -> Option<Options> {
        self.reg().scope_defaults(scope)
    }

    /// Sets the [`Mode`] of one connection (its own, which wins over its scope's and
    /// the default; `configure(key, Options::new().inherit_mode())` clears it). Emits
    /// `Configured`. A change of mode starts a new cycle: permits admitted before it
    /// decide nothing after it.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Mode, OpenOptions, Options, State};
    ///
    /// let brama = Brama::new();
    /// brama.register("db", Options::new())?;
    /// brama.set_mode("db", Mode::ForcedOpen)?;
    /// assert!(!brama.available("db"));
    /// assert_eq!(brama.status("db")?.state, State::Unknown); // the state is left as it was
    /// brama.set_mode("db", Mode::MetricsOnly)?;
    /// brama.open_circuit("db", OpenOptions::new())?;
    /// assert!(brama.available("db")); // shadow mode: tracks Open, admits all the same
    /// assert_eq!(brama.status("db")?.mode, Mode::MetricsOnly);
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn set_mode(&self, key: impl AsKey, mode: Mode) -> Result<(), Error> {
        self.reg().set_mode(key.as_key(), mode)
    }

    /// Sets the [`Mode`] of `scope`, for its connections (now and registered later)
    /// that have no mode of their own; returns the number of connections in the scope.
    /// An invalid scope changes nothing and is 0. Same as
    /// `configure_scope(scope, Options::new().mode(mode))`.
    pub fn set_scope_mode(&self, scope: &str, mode: Mode) -> usize {
        self.reg().set_scope_mode(scope, mode)
    }

    /// Every connection (key, own overrides, metadata, mode, state, counters, an open
    /// circuit's remaining time) and every scope's defaults, to restore after a restart
    /// with [`Builder::restore`](crate::Builder::restore) or [`Brama::restore`].
    ///
    /// Walks the connections as [`Brama::health`] does (no shard lock; it waits for a
    /// sweep in progress and the next sweep waits for it) and reads each under its own
    /// lock, so that each is consistent in itself. Registry defaults are not in it: a
    /// restarted process takes them from its builder. Measured at 1M connections in
    /// docs/benchmarks.md.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Options, OpenOptions, State};
    ///
    /// let old = Brama::new();
    /// old.register("db", Options::new().metadata("team", "storage"))?;
    /// old.open_circuit("db", OpenOptions::new())?;
    /// let snapshot = old.snapshot();
    ///
    /// let new = Brama::builder().restore(&snapshot).build()?;
    /// let db = new.status("db")?;
    /// assert_eq!((db.state, db.trips, db.metadata["team"].as_str()), (State::Open, 1, "storage"));
    /// assert!(!new.available("db")); // still open: no amnesia after the restart
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    pub fn snapshot(&self) -> Snapshot {
        self.reg().snapshot()
    }

    /// Restores `snapshot` into this registry: its scope defaults replace those of the
    /// same scopes; each of its connections is registered if it is not here (with its
    /// `Registered` event), or else takes the snapshot's overrides, metadata and state;
    /// a restored state that differs emits a `StateChanged` with cause `Restore`. The
    /// totals are added to the connection's own (a connection registered by the restore
    /// has none), and an open circuit stays open for the time it had left, counted from
    /// now on this registry's clock. Connections not in the snapshot are left alone.
    /// Returns the number of connections restored.
    ///
    /// All or nothing: everything is checked first, and nothing changes on error.
    ///
    /// # Errors
    /// [`Error::InvalidSnapshot`] (an unknown version, a bad key, setting or value, a
    /// key twice: the message names the connection); [`Error::CapacityExceeded`] if the
    /// connections to register do not fit under `max_connections`.
    pub fn restore(&self, snapshot: &Snapshot) -> Result<usize, Error> {
        self.reg().restore(snapshot)
    }

    /// A handle to the connection of `key`, registering it with `options` first if it
    /// is not registered: in one call, exact under races (of many callers racing on one
    /// key, exactly one registers it, and all get the same connection). `options` are
    /// checked even when the connection exists, and are then unused (use
    /// [`Brama::configure`] to change a registered connection).
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Options};
    ///
    /// let brama = Brama::new();
    /// let a = brama.connection_or_register("db", Options::new().failure_threshold(3))?;
    /// let b = brama.connection_or_register("db", Options::new())?;
    /// a.failure()?;
    /// assert_eq!(b.status()?.total_failures, 1); // one connection
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::InvalidConfig`], [`Error::CapacityExceeded`].
    pub fn connection_or_register(
        &self,
        key: impl AsKey,
        options: Options,
    ) -> Result<Connection, Error> {
        let cell = self.reg().handle_or_register(key.as_key(), &options)?;
        Ok(Connection::from_parts(
            cell,
            Arc::clone(self.reg().context()),
        ))
    }

    /// Hands every connection's status to `f`, one at a time, without collecting them:
    /// [`Brama::connections`] without the `Vec` of a million statuses. The walk is
    /// [`Brama::health`]'s; `f` runs after it, with no lock held, so it may call back
    /// into this `Brama`. A connection registered during the walk may be missed.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Key, Options, OpenOptions};
    ///
    /// let brama = Brama::new();
    /// brama.register(Key::scoped("payments", "stripe"), Options::new())?;
    /// brama.register("db", Options::new())?;
    /// let mut open = 0;
    /// brama.for_each_status(|s| open += usize::from(s.state == brama_sync::State::Open));
    /// assert_eq!(open, 0);
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    pub fn for_each_status(&self, mut f: impl FnMut(&Status)) {
        self.reg().visit(None, |s| f(&s));
    }

    /// Like [`Brama::for_each_status`], for the connections of `scope` only.
    pub fn for_each_status_in(&self, scope: &str, mut f: impl FnMut(&Status)) {
        self.reg().visit(Some(scope), |s| f(&s));
    }
}
