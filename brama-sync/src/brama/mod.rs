//! `Brama`: the registry users hold, its builder, and the methods of SPEC §3 (its
//! janitor's settings and statistics in `janitor_api.rs`).

mod janitor_api;

use std::fmt;
use std::sync::Arc;

use brama_core::engine::Registry;
use brama_core::{
    Config, Error, EventType, Filter, Health, OpenOptions, Options, Settings, State, Status,
    Subscription, SweepReport,
};

use crate::as_key::AsKey;
use crate::builder::Builder;
use crate::call::{self, ByResult, CallError, CallFuture, Outcome};
use crate::connection::Connection;
use crate::janitor::JanitorHandle;
use crate::permit::{OwnedPermit, Permit};

/// A registry of connections and their circuits, with its janitor thread.
///
/// `Brama` is a cheap `Clone`: clones share one registry. Building one spawns one thread,
/// `brama-janitor`; it stops and is joined when the last clone is dropped.
/// Every method takes `&self`; none blocks except where noted, none panics.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_sync::{Brama, Key, ManualClock, Options, State};
///
/// let clock = ManualClock::new();
/// let brama = Brama::builder().failure_threshold(2).expiry(Duration::from_secs(30)).clock(clock.clone()).build()?;
/// let key = Key::scoped("payments", "stripe");
/// brama.register(key, Options::new())?;
/// brama.failure(key)?;
/// brama.failure(key)?;
/// assert!(!brama.available(key));
/// clock.advance(Duration::from_secs(30));
/// assert!(brama.available(key)); // half-open: this caller is the probe
/// brama.success(key)?;
/// assert_eq!(brama.status(key)?.state, State::Closed);
/// # Ok::<(), brama_sync::Error>(())
/// ```
#[derive(Clone)]
pub struct Brama {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<Registry>,
    janitor: JanitorHandle,
}

impl Brama {
    /// A registry with every default (SPEC §4).
    ///
    /// # Panics
    /// Never; if the janitor thread cannot be spawned, use [`Brama::builder`] to get the
    /// error instead. This constructor then returns a registry whose janitor is absent
    /// and whose sweeps run only through [`Brama::sweep`].
    pub fn new() -> Brama {
        match Brama::builder().build() {
            Ok(b) => b,
            Err(_) => Builder::default().build_without_janitor(),
        }
    }

    /// A builder with every default.
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub(crate) fn reg(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The registry, held weakly by an integration's background thread (`redis`).
    #[cfg(feature = "redis")]
    pub(crate) fn registry_weak(&self) -> std::sync::Weak<Registry> {
        Arc::downgrade(&self.inner.registry)
    }

    /// The integrations fed by the janitor (`observe/`).
    pub(crate) fn observers(&self) -> &crate::observe::Observers {
        &self.inner.janitor.shared.observers
    }

    /// Registers a connection with per-connection `options` (overrides and metadata).
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::InvalidConfig`], [`Error::AlreadyRegistered`],
    /// [`Error::CapacityExceeded`]; nothing changes on error.
    pub fn register(&self, key: impl AsKey, options: Options) -> Result<Status, Error> {
        self.reg().register(key.as_key(), &options)
    }

    /// Whether a call to the connection may go ahead now: one atomic load on a healthy
    /// circuit. In `HalfOpen`, a true answer makes the caller one of the probes. Unknown
    /// or invalid keys answer false (unless built with `auto_register(true)`).
    // Always, as `success`: with the key taken as `impl AsKey`, `#[inline]` left
    // `key_available` 0.7-1.1 ns slower (hot_path, alternated: 5.6-6.3 ns always in
    // line, 6.4-7.5 with the hint, 5.8-8.3 before AsKey).
    #[inline(always)]
    pub fn available(&self, key: impl AsKey) -> bool {
        self.reg().available(key.as_key())
    }

    /// Reports a success.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    // Always, as `Registry::success` under it: left to the heuristics, this wrapper kept
    // the cache look-up out of line in some builds (docs/benchmarks.md, 22.5 -> 26-29 ns).
    #[inline(always)]
    pub fn success(&self, key: impl AsKey) -> Result<(), Error> {
        self.reg().success(key.as_key())
    }

    /// Reports a failure.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    #[inline]
    pub fn failure(&self, key: impl AsKey) -> Result<(), Error> {
        self.reg().failure(key.as_key(), None)
    }

    /// Reports a failure with a reason, carried by the `Failure` and `StateChanged` events.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn failure_with(&self, key: impl AsKey, reason: &str) -> Result<(), Error> {
        self.reg().failure(key.as_key(), Some(reason))
    }

    /// A snapshot of one connection.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn status(&self, key: impl AsKey) -> Result<Status, Error> {
        self.reg().status(key.as_key())
    }

    /// The state of one connection as the next check would see it, with no side effect
    /// at all: no probe slot is taken, no rejection counted, no event emitted, no
    /// timestamp written, and an unknown key is never registered (even with
    /// `auto_register(true)`).
    ///
    /// What it answers past a deadline: an `Open` circuit whose open duration has
    /// passed reads `HalfOpen`, because the next check (or report, or sweep) moves it
    /// there and is admitted as its first probe; the circuit itself stays `Open` until
    /// then, so [`Brama::status`] may still say `Open`. A `HalfOpen` circuit reads
    /// `HalfOpen` whether or not its probe slots are all taken (the next check is then
    /// refused: use [`Brama::available`] to ask for admission). A circuit opened
    /// indefinitely reads `Open` until closed. The clock is read once, precisely; under
    /// the system clock a check within a millisecond of the deadline may still be
    /// refused on its cached reading.
    ///
    /// Costs one lookup and one or two atomic loads; takes a shard's read lock for the
    /// lookup, like [`Brama::status`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_sync::{Brama, ManualClock, Options, State};
    ///
    /// let clock = ManualClock::new();
    /// let brama = Brama::builder().failure_threshold(1).expiry(Duration::from_secs(30))
    ///     .clock(clock.clone()).build()?;
    /// brama.register("db", Options::new())?;
    /// brama.failure("db")?;
    /// assert_eq!(brama.state("db")?, State::Open);
    /// clock.advance(Duration::from_secs(30));
    /// assert_eq!(brama.state("db")?, State::HalfOpen); // what the next check would see
    /// assert_eq!(brama.status("db")?.state, State::Open); // nothing moved it yet
    /// assert!(brama.available("db")); // this check moves it, and is the probe
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`] (unknown or unregistered key).
    pub fn state(&self, key: impl AsKey) -> Result<State, Error> {
        self.reg().state(key.as_key())
    }

    /// Every connection counted by state, with the [`Verdict`](crate::Verdict) a
    /// readiness or health probe answers with: `Unhealthy` when a connection marked
    /// [`Options::critical`] is `Open`, `Degraded` when any other is `Open` or any is
    /// `HalfOpen`, else `Healthy`. Changes nothing: each connection is counted in the
    /// state [`Brama::state`] would answer.
    ///
    /// Walks every connection in registration order through the janitor's sweep list:
    /// no shard lock is taken, so checks, reports, registrations and removals never
    /// wait for it (a list is locked only to be taken out and put back), and nothing is
    /// cloned or allocated per connection. It waits for a sweep in progress, and the
    /// next sweep waits for it (one walk of the list at a time). A connection registered
    /// during the walk may be missed. Measured in docs/health.md: 33 to 36 ms (median)
    /// at 1M connections on a shared 2-core AMD EPYC VM.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, OpenOptions, Options, State, Verdict};
    ///
    /// let brama = Brama::new();
    /// brama.register("db", Options::new().critical(true))?;
    /// brama.register("search", Options::new())?;
    /// assert_eq!(brama.health().verdict(), Verdict::Healthy);
    ///
    /// brama.open_circuit("search", OpenOptions::new())?;
    /// assert_eq!(brama.health().verdict(), Verdict::Degraded);
    ///
    /// brama.open_circuit("db", OpenOptions::new())?;
    /// let health = brama.health();
    /// assert_eq!(health.verdict(), Verdict::Unhealthy);
    /// assert_eq!((health.count(State::Open), health.critical_open(), health.total()), (2, 1, 2));
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    pub fn health(&self) -> Health {
        self.reg().health()
    }

    /// Like [`Brama::health`], for the connections of `scope` only. The registry is not
    /// indexed by scope: this walks every connection as [`Brama::health`] does and
    /// counts those of `scope`, so it costs about as much (docs/health.md: 27 to 46 ms
    /// for one scope of 1,000 among 1M connections). An unknown scope gives an empty,
    /// `Healthy` report.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Key, OpenOptions, Options, Verdict};
    ///
    /// let brama = Brama::new();
    /// brama.register(Key::scoped("payments", "stripe"), Options::new().critical(true))?;
    /// brama.register(Key::scoped("search", "elastic"), Options::new().critical(true))?;
    /// brama.open_circuit(Key::scoped("search", "elastic"), OpenOptions::new())?;
    /// assert_eq!(brama.health_in("payments").verdict(), Verdict::Healthy);
    /// assert_eq!(brama.health_in("search").verdict(), Verdict::Unhealthy);
    /// assert_eq!(brama.health_in("search").scope(), Some("search"));
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    pub fn health_in(&self, scope: &str) -> Health {
        self.reg().health_in(scope)
    }

    /// Opens the circuit by hand: for the current open duration, a given one, or
    /// indefinitely (until [`Brama::close_circuit`]).
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::InvalidConfig`] (duration).
    pub fn open_circuit(&self, key: impl AsKey, options: OpenOptions) -> Result<(), Error> {
        self.reg().open(key.as_key(), &options)
    }

    /// Closes the circuit by hand: `Closed`, consecutive count 0, backoff step cleared.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn close_circuit(&self, key: impl AsKey) -> Result<(), Error> {
        self.reg().close(key.as_key())
    }

    /// Resets the circuit: `Unknown`, counters and backoff step cleared, totals kept.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn reset_circuit(&self, key: impl AsKey) -> Result<(), Error> {
        self.reg().reset(key.as_key())
    }

    /// Changes only the given fields of one connection's settings (and merges metadata).
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::InvalidConfig`]; nothing changes on error.
    pub fn configure(&self, key: impl AsKey, options: Options) -> Result<(), Error> {
        self.reg().configure(key.as_key(), &options)
    }

    /// Changes only the given fields of the registry defaults; connections without their
    /// own value follow at once.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; nothing changes on error.
    pub fn configure_defaults(&self, options: Options) -> Result<(), Error> {
        self.reg().configure_defaults(&options)
    }

    /// Removes a connection; returns its last status. Handles and permits to it then
    /// answer `false` / `Err(NotFound)`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn unregister(&self, key: impl AsKey) -> Result<Status, Error> {
        self.reg().unregister(key.as_key())
    }

    /// Every connection's status (locks one shard at a time while collecting).
    pub fn connections(&self) -> Vec<Status> {
        self.reg().connections()
    }

    /// The status of every connection in `scope`.
    pub fn connections_in(&self, scope: &str) -> Vec<Status> {
        self.reg().connections_in(scope)
    }

    /// Runs the janitor's work now, on this thread (with the features `tracing` and
    /// `metrics`, the janitor's logging and publishing too).
    pub fn sweep(&self) -> SweepReport {
        let report = self.reg().sweep();
        self.observers().after_sweep(self.reg());
        self.observers().round(self.reg());
        report
    }

    /// A handle to one connection: checks and reports without a lookup. While it lives
    /// the connection is never evicted.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn connection(&self, key: impl AsKey) -> Result<Connection, Error> {
        let cell = self.reg().handle(key.as_key())?;
        Ok(Connection::from_parts(
            cell,
            Arc::clone(self.reg().context()),
        ))
    }

    /// Asks to make one call: a [`Permit`] to report its outcome on, or why not.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::Rejected`].
    pub fn acquire(&self, key: impl AsKey) -> Result<Permit<'static>, Error> {
        self.connection(key)?.into_permit()
    }

    /// Like [`Brama::acquire`], as an [`OwnedPermit`] (`'static + Send + Sync`).
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::Rejected`].
    pub fn acquire_owned(&self, key: impl AsKey) -> Result<OwnedPermit, Error> {
        self.connection(key)?.into_owned_permit()
    }

    /// Runs `f` if the circuit admits it: `Ok` counts as a success, `Err` as a failure,
    /// a panic as a failure (and is resumed).
    ///
    /// # Errors
    /// [`CallError::Rejected`] if not admitted, [`CallError::Failed`] with `f`'s error.
    pub fn call<T, E, F>(&self, key: impl AsKey, f: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        let permit = self.acquire(key).map_err(CallError::Rejected)?;
        call::run(permit, call::by_result, f)
    }

    /// Like [`Brama::call`], with `classify` deciding success, failure or neither.
    ///
    /// # Errors
    /// As [`Brama::call`].
    pub fn call_with<T, E, F, C>(
        &self,
        key: impl AsKey,
        classify: C,
        f: F,
    ) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Result<T, E>,
        C: FnOnce(&Result<T, E>) -> Outcome,
    {
        let permit = self.acquire(key).map_err(CallError::Rejected)?;
        call::run(permit, classify, f)
    }

    /// Wraps a future: admitted now (the permit is asked for when the future is made)
    /// or rejected at its first poll, without polling `fut`; its `Ok`/`Err`/panic is
    /// reported when it completes; dropped before completing, it counts as neither and
    /// frees its probe slot. Works on any executor, and allocates nothing per call: the
    /// returned [`CallFuture`] holds `fut` in place.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Options};
    /// let brama = Brama::new();
    /// brama.register("db", Options::new())?;
    /// let rows = pollster::block_on(brama.call_async("db", async { Ok::<_, std::io::Error>(3) }));
    /// assert_eq!(rows.ok(), Some(3));
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    ///
    /// # Errors
    /// The future resolves to [`CallError::Rejected`] if not admitted (unknown or
    /// invalid key included), [`CallError::Failed`] with `fut`'s error.
    pub fn call_async<T, E, F>(&self, key: impl AsKey, fut: F) -> CallFuture<'static, F>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        CallFuture::new(self.acquire(key), ByResult, fut)
    }

    /// Like [`Brama::call_async`], with `classify` deciding success, failure or neither
    /// from the result (an `Ok` can be a failure, e.g. an HTTP 503).
    ///
    /// # Errors
    /// As [`Brama::call_async`].
    pub fn call_async_with<T, E, F, C>(
        &self,
        key: impl AsKey,
        classify: C,
        fut: F,
    ) -> CallFuture<'static, F, C>
    where
        F: std::future::Future<Output = Result<T, E>>,
        C: Fn(&Result<T, E>) -> Outcome,
    {
        CallFuture::new(self.acquire(key), classify, fut)
    }

    /// Subscribes to events matching `filter`. The queue holds `event_queue_capacity`
    /// events; when full, newer events are dropped and counted.
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        self.reg().context().bus.subscribe(filter)
    }

    /// The registry defaults now in force.
    pub fn defaults(&self) -> Config {
        self.reg().defaults()
    }

    /// Connections registered now.
    pub fn len(&self) -> usize {
        self.reg().len()
    }

    /// Whether no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.reg().is_empty()
    }

    /// The index of the map shard `key` lives in (or would). A test and benchmark hook
    /// (to put a writer's keys in a hot key's shard); not API.
    #[doc(hidden)]
    pub fn shard_of(&self, key: impl AsKey) -> usize {
        self.reg().shard_of(key.as_key())
    }

    /// Subscriptions alive now.
    pub fn subscriber_count(&self) -> usize {
        self.reg().context().bus.subscriber_count()
    }

    /// The sequence number of the latest event (0 before the first). Sequence numbers
    /// are gap-free, so the difference of two readings is the number of events published
    /// in between.
    pub fn last_event_seq(&self) -> u64 {
        self.reg().context().bus.last_seq()
    }

    /// Whether a live subscription wants events of type `t`. Reports whose event type
    /// nobody wants build no event and cost nothing extra (SPEC §5).
    pub fn is_subscribed(&self, t: EventType) -> bool {
        self.reg().context().bus.wants(t)
    }

    /// Changes the queue capacity of subscriptions made from now on (those made before
    /// keep theirs).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (field `event_queue_capacity`) outside 1 to
    /// [`MAX_EVENT_QUEUE_CAPACITY`](crate::MAX_EVENT_QUEUE_CAPACITY); nothing changes.
    pub fn set_event_queue_capacity(&self, n: usize) -> Result<(), Error> {
        Settings {
            event_queue_capacity: n,
            ..Settings::default()
        }
        .validate()?;
        self.reg().context().bus.set_capacity(n);
        Ok(())
    }

    /// The registry and janitor, put together by the builder.
    pub(crate) fn from_parts(registry: Arc<Registry>, janitor: JanitorHandle) -> Brama {
        Brama {
            inner: Arc::new(Inner { registry, janitor }),
        }
    }
}

impl Default for Brama {
    fn default() -> Brama {
        Brama::new()
    }
}

impl fmt::Debug for Brama {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Brama")
            .field("registry", &self.inner.registry)
            .finish_non_exhaustive()
    }
}
