//! The registry: every tracked connection of one `Brama`, by key.
//!
//! A sharded map from key to an `Arc` of the connection's cell. Lookups encode the
//! borrowed key on the stack and never allocate. A report by key runs its lock-free
//! fast path under the shard's read lock, so removal (which takes the write lock) is
//! exclusive with it; anything slower (a state change, an event) runs after the guard
//! is dropped, under the cell's own transition lock, which removal also takes. A
//! success on a key this thread used recently is counted on the cell the per-thread
//! cache holds, with no map lock, through a counter that removal seals. That is what
//! makes "every report that returned `Ok` is counted exactly once" hold across
//! eviction and unregistration.

use std::fmt;
use std::time::Duration;

use crate::cell::{CellRef, ConnectionCell, Fast, Ticket};
use crate::clock::{nanos, ClockSource, Nanos};
use crate::config::{Config, OpenOptions, Options, Settings};
use crate::context::Context;
use crate::error::Error;
use crate::event::{Counts, Event, EventKind, EventType};
use crate::key::{Key, Lookup, OwnedKey, ShortLookup, ShortProbe};
#[cfg(not(brama_loom))]
use crate::lookup_cache::Cached;
use crate::map::Map;
use crate::map::MapKey;
use crate::rules::Outcome;
use crate::state::State;
use crate::status::Status;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Ordering};

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Connections looked at.
    pub examined: usize,
    /// Open circuits moved to half-open, and half-open circuits whose timed-out probe
    /// slots were freed.
    pub transitioned: usize,
    /// Connections evicted for inactivity.
    pub evicted: usize,
    /// The longest this sweep held any one lock that checks, reports or registrations
    /// take: a stripe of the sweep list while taking it out or putting it back (timed
    /// from acquisition to release), or a shard's write lock while evicting one
    /// connection (timed around the removal, so an upper bound that includes the wait
    /// for the lock). Zero under loom.
    pub longest_lock_hold: Duration,
}

/// Why a connection left the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Removal {
    Unregistered,
    Evicted,
}

/// Every tracked connection of one registry.
pub struct Registry {
    map: Map,
    /// A process-unique id, for the per-thread lookup cache.
    #[cfg(not(brama_loom))]
    id: u64,
    cx: Arc<Context>,
    len: AtomicUsize,
    max_connections: Option<usize>,
    auto_register: bool,
    cleanup_interval: AtomicU64,
    inactive_threshold: AtomicU64,
    #[cfg(not(brama_loom))]
    sweep_hook: std::sync::Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

impl Registry {
    /// A registry with these defaults, settings and clock.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if a default or setting is out of range.
    pub fn new(
        defaults: Config,
        settings: Settings,
        clock: ClockSource,
    ) -> Result<Registry, Error> {
        defaults.validate()?;
        settings.validate()?;
        #[cfg(not(brama_loom))]
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Registry {
            map: Map::new(),
            // Relaxed: only uniqueness matters.
            #[cfg(not(brama_loom))]
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            cx: Arc::new(Context::new(defaults, clock, settings.event_queue_capacity)),
            len: AtomicUsize::new(0),
            max_connections: settings.max_connections,
            auto_register: settings.auto_register,
            cleanup_interval: AtomicU64::new(nanos(settings.cleanup_interval)),
            inactive_threshold: AtomicU64::new(nanos(settings.inactive_threshold)),
            #[cfg(not(brama_loom))]
            sweep_hook: std::sync::Mutex::new(None),
        })
    }

    /// The shared context (clock, events, defaults).
    pub fn context(&self) -> &Arc<Context> {
        &self.cx
    }

    /// Connections registered now.
    pub fn len(&self) -> usize {
        // Relaxed: a gauge.
        self.len.load(Ordering::Relaxed)
    }

    /// Whether no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ----- settings ------------------------------------------------------------------

    /// The janitor's period.
    pub fn cleanup_interval(&self) -> Duration {
        // Relaxed: a lone setting, read by the janitor each round.
        Duration::from_nanos(self.cleanup_interval.load(Ordering::Relaxed))
    }

    /// Changes the janitor's period (the janitor must be woken to see it at once).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if zero or above the maximum duration.
    pub fn set_cleanup_interval(&self, d: Duration) -> Result<(), Error> {
        Settings {
            cleanup_interval: d,
            ..Settings::default()
        }
        .validate()?;
        // Relaxed: see `cleanup_interval`.
        self.cleanup_interval.store(nanos(d), Ordering::Relaxed);
        Ok(())
    }

    /// How long a connection may stay inactive before a sweep evicts it.
    pub fn inactive_threshold(&self) -> Duration {
        // Relaxed: a lone setting read by each sweep.
        Duration::from_nanos(self.inactive_threshold.load(Ordering::Relaxed))
    }

    /// Changes the inactivity threshold; the next sweep uses it.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if zero or above the maximum duration.
    pub fn set_inactive_threshold(&self, d: Duration) -> Result<(), Error> {
        Settings {
            inactive_threshold: d,
            ..Settings::default()
        }
        .validate()?;
        // Relaxed: see `inactive_threshold`.
        self.inactive_threshold.store(nanos(d), Ordering::Relaxed);
        Ok(())
    }

    /// The capacity limit, if any.
    pub fn max_connections(&self) -> Option<usize> {
        self.max_connections
    }

    /// Whether unknown keys are registered on first use.
    pub fn auto_register(&self) -> bool {
        self.auto_register
    }

    // ----- registration --------------------------------------------------------------

    /// Registers a connection.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::InvalidConfig`] (options), [`Error::AlreadyRegistered`],
    /// [`Error::CapacityExceeded`]. On error nothing changes.
    pub fn register(&self, key: Key<'_>, options: &Options) -> Result<Status, Error> {
        let owned = key.to_owned_key()?;
        // Empty options leave the defaults, which were validated when they were set.
        if !options.is_empty() {
            options.apply(&self.cx.defaults())?;
        }
        let (cell, now) = self.insert(owned, options)?;
        // The snapshot as of the registration, named by the caller's key: no second
        // clock reading, and the stored key is not decoded again.
        Ok(cell.status_at(&self.cx, now, key))
    }

    /// Inserts a new connection; returns it and the time it was registered at.
    fn insert(&self, owned: OwnedKey, options: &Options) -> Result<(CellRef, Nanos), Error> {
        if let Err(full) = self.reserve() {
            // At capacity, a duplicate is still reported as the duplicate it is.
            return Err(if self.find(owned.as_key(), |_| ()).is_some() {
                Error::AlreadyRegistered
            } else {
                full
            });
        }
        let now = self.cx.clock.now();
        let cell = Arc::new(ConnectionCell::new(owned, now, options));
        // Held from before the connection is visible until `Registered` is published:
        // every other event of a connection is published under this lock, so none can
        // come before it.
        let held = cell.hold_transitions();
        if !self.map.insert_new(&cell) {
            self.unreserve();
            return Err(Error::AlreadyRegistered);
        }
        self.emit(
            EventType::Registered,
            &cell,
            EventKind::Registered,
            Counts::default(),
            now,
        );
        drop(held);
        Ok((cell, now))
    }

    fn reserve(&self) -> Result<(), Error> {
        match self.max_connections {
            None => {
                // Relaxed: a gauge without a limit.
                self.len.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Some(max) => self
                .len
                // Relaxed: the CAS on the gauge alone enforces the limit; nothing else is
                // published through it.
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < max).then_some(n + 1)
                })
                .map(|_| ())
                .map_err(|_| Error::CapacityExceeded),
        }
    }

    fn unreserve(&self) {
        // Relaxed: see `reserve`.
        self.len.fetch_sub(1, Ordering::Relaxed);
    }

    /// The cell for `key`, registering it first when `auto_register` is on.
    fn lookup(&self, key: Key<'_>) -> Result<CellRef, Error> {
        if let Some(cell) = self.find(key, CellRef::clone) {
            return Ok(cell);
        }
        self.auto(key)
    }

    fn auto(&self, key: Key<'_>) -> Result<CellRef, Error> {
        if !self.auto_register {
            key.validate()?;
            return Err(Error::NotFound);
        }
        let owned = key.to_owned_key()?;
        match self.insert(owned, &Options::new()) {
            Ok((cell, _)) => Ok(cell),
            // Another thread registered it first: use theirs.
            Err(Error::AlreadyRegistered) => self.find(key, CellRef::clone).ok_or(Error::NotFound),
            Err(e) => Err(e),
        }
    }

    /// Unregisters a connection; returns its last status.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn unregister(&self, key: Key<'_>) -> Result<Status, Error> {
        key.validate()?;
        let now = self.cx.clock.now();
        let cell = self
            .map
            .remove_if(&key, |c| {
                self.retire(c, Removal::Unregistered, now);
                true
            })
            .ok_or(Error::NotFound)?;
        self.unreserve();
        Ok(cell.status(&self.cx))
    }

    /// Marks a connection removed and publishes its `Unregistered`/`Evicted` event with
    /// its final counts. Runs inside the removal, under the shard's write lock, so the
    /// event is out before the key can be registered again: the next connection's
    /// `Registered`, and every event of it, come after it (SPEC §5, "in the order of
    /// the changes"). `mark_removed` waits for a state change in progress, so the
    /// connection's own events come before it too. This is the one place a shard lock
    /// is held across an event (STYLE 2): nothing else takes a transition lock under a
    /// shard lock, publishing takes only the bus's sequencer, and `now` is read before
    /// the lock, so no user code runs under it and the nesting cannot deadlock.
    fn retire(&self, cell: &ConnectionCell, why: Removal, now: Nanos) {
        cell.mark_removed();
        self.announce_removal(cell, why, now);
    }

    /// The removal event of `cell`, which this thread has just marked removed (see
    /// [`retire`](Self::retire)).
    fn announce_removal(&self, cell: &ConnectionCell, why: Removal, now: Nanos) {
        let counts = cell.counts();
        let (ty, kind) = match why {
            Removal::Unregistered => (EventType::Unregistered, EventKind::Unregistered),
            Removal::Evicted => (EventType::Evicted, EventKind::Evicted),
        };
        self.emit(ty, cell, kind, counts, now);
    }

    // ----- checks and reports by key ------------------------------------------------

    /// `available(key)`: false for an unknown or invalid key (unless auto-registering).
    ///
    /// A hot key is answered from a per-thread cache that writes nothing shared; other
    /// keys take one load under the shard's read lock; anything slower runs after the
    /// guard is dropped.
    ///
    /// What a caller inlines is the cache look-up for a short key: packing the key, its
    /// hash, the cache slot and the cell's word. The map path is one call away.
    #[inline(always)]
    pub fn available(&self, key: Key<'_>) -> bool {
        match ShortProbe::new(key) {
            Some(probe) => {
                let hash = probe.lookup_hash();
                let Some(fill) = self.cache_check(hash, &probe) else {
                    return true;
                };
                self.available_short(key, &probe, hash, fill)
            }
            None => self.available_long(key),
        }
    }

    /// `available` for a short key the per-thread cache did not answer.
    #[inline(never)]
    fn available_short(&self, key: Key<'_>, probe: &ShortProbe, hash: u64, fill: bool) -> bool {
        self.available_by(key, &ShortLookup::new(probe, hash), hash, fill)
    }

    /// `available` for a key too long to be stored inline.
    #[inline(never)]
    fn available_long(&self, key: Key<'_>) -> bool {
        let hash = key.lookup_hash();
        let Some(fill) = self.cache_check(hash, &key) else {
            return true;
        };
        self.available_by(key, &key, hash, fill)
    }

    /// The per-thread cache's answer to a check: `None` if it admitted (a hit), else
    /// whether the map path should fill the slot. (No cache under loom.)
    #[inline(always)]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    fn cache_check<P: Lookup + ?Sized>(&self, hash: u64, probe: &P) -> Option<bool> {
        #[cfg(not(brama_loom))]
        return match crate::lookup_cache::admits(self.id, hash, probe) {
            Cached::Hit => None,
            c => Some(c == Cached::Fill),
        };
        #[cfg(brama_loom)]
        return Some(false);
    }

    /// A success by key through the per-thread cache (the unlocked, sealed attempt on
    /// the cached cell): `None` if it counted, else whether the map path should fill
    /// the slot. (No cache under loom.)
    #[inline(always)]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    fn cache_success<P: Lookup + ?Sized>(&self, hash: u64, probe: &P) -> Option<bool> {
        #[cfg(not(brama_loom))]
        return match crate::lookup_cache::with_cell(self.id, hash, probe, |cell| {
            cell.success_unlocked(&self.cx)
        }) {
            Ok(Fast::Counted) => None,
            Ok(_) => Some(true),
            Err(c) => Some(c == Cached::Fill),
        };
        #[cfg(brama_loom)]
        return Some(false);
    }

    /// `available` through the map, for one form of the key (see `key::Lookup`), after
    /// the per-thread cache did not answer. `hash` is the probe's; `fill` says whether
    /// the cache wants the cell if it admits freely.
    #[inline(always)]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    fn available_by<P: Lookup + MapKey>(
        &self,
        key: Key<'_>,
        probe: &P,
        hash: u64,
        fill: bool,
    ) -> bool {
        let found = self.map.get(probe, |cell| {
            if cell.available_fast() {
                #[cfg(not(brama_loom))]
                if fill {
                    crate::lookup_cache::fill(self.id, hash, cell);
                }
                None
            } else {
                Some(CellRef::clone(cell))
            }
        });
        match found {
            Some(None) => true,
            Some(Some(cell)) => cell.available(&self.cx),
            None => self.auto(key).is_ok_and(|cell| cell.available(&self.cx)),
        }
    }

    /// Runs `f` on the connection of `key` under its shard's read lock.
    #[inline]
    fn find<R>(&self, key: Key<'_>, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
        match ShortProbe::new(key) {
            Some(probe) => self
                .map
                .get(&ShortLookup::new(&probe, probe.lookup_hash()), f),
            None => self.map.get(&key, f),
        }
    }

    /// `acquire(key)`: the cell and its admission ticket.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::Rejected`].
    pub fn acquire(&self, key: Key<'_>) -> Result<(CellRef, Ticket), Error> {
        let cell = self.lookup(key)?;
        let ticket = cell.acquire(&self.cx)?;
        Ok((cell, ticket))
    }

    /// A success by key.
    ///
    /// What a caller inlines is the per-thread cache's look-up for a short key: packing
    /// the key, its hash, the cache slot, and [`ConnectionCell::success_unlocked`] (the
    /// word, the subscribers' mask, one CAS on the sealed counter). The map path is one
    /// call away.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    #[inline(always)]
    pub fn success(&self, key: Key<'_>) -> Result<(), Error> {
        match ShortProbe::new(key) {
            Some(probe) => {
                let hash = probe.lookup_hash();
                // A success on a hot key: the cell this thread cached, with no map lock.
                // Exact against removal through the sealed counter
                // (`ConnectionCell::success_unlocked`); a removed or re-registered cell
                // is never counted here.
                let Some(fill) = self.cache_success(hash, &probe) else {
                    return Ok(());
                };
                self.report_short(key, &probe, hash, fill, Outcome::Success, None)
            }
            None => self.report_long(key, Outcome::Success, None),
        }
    }

    /// A failure by key, with an optional reason for the events.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    #[inline]
    pub fn failure(&self, key: Key<'_>, reason: Option<&str>) -> Result<(), Error> {
        match ShortProbe::new(key) {
            Some(probe) => {
                let hash = probe.lookup_hash();
                self.report_short(key, &probe, hash, false, Outcome::Failure, reason)
            }
            None => self.report_long(key, Outcome::Failure, reason),
        }
    }

    /// A report by a short key, through the map.
    #[inline(never)]
    fn report_short(
        &self,
        key: Key<'_>,
        probe: &ShortProbe,
        hash: u64,
        fill: bool,
        outcome: Outcome,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        self.report_by(
            key,
            &ShortLookup::new(probe, hash),
            hash,
            fill,
            outcome,
            reason,
        )
    }

    /// A report by a key too long to be stored inline.
    #[inline(never)]
    fn report_long(
        &self,
        key: Key<'_>,
        outcome: Outcome,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let hash = key.lookup_hash();
        let fill = match outcome {
            Outcome::Success => match self.cache_success(hash, &key) {
                None => return Ok(()),
                Some(fill) => fill,
            },
            _ => false,
        };
        self.report_by(key, &key, hash, fill, outcome, reason)
    }

    /// A report through the map, for one form of the key (see `key::Lookup`), after the
    /// per-thread cache did not take it. `hash` is the probe's; `fill` says whether the
    /// cache wants the cell if the report leaves it admitting freely.
    #[inline(always)]
    #[cfg_attr(brama_loom, allow(unused_variables))]
    fn report_by<P: Lookup + MapKey>(
        &self,
        key: Key<'_>,
        probe: &P,
        hash: u64,
        fill: bool,
        outcome: Outcome,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        // The fast path runs under the shard's read lock: removal cannot interleave.
        let found = self.map.get(probe, |cell| {
            match cell.report_fast(&self.cx, outcome, None) {
                Fast::Counted => {
                    #[cfg(not(brama_loom))]
                    if fill && cell.available_fast() {
                        crate::lookup_cache::fill(self.id, hash, cell);
                    }
                    None
                }
                Fast::Removed | Fast::Slow => Some(CellRef::clone(cell)),
            }
        });
        self.report_rest(found, key, outcome, reason)
    }

    /// A report by key after the map's fast path: done (`Some(None)`), the cell for the
    /// locked path, or not found.
    fn report_rest(
        &self,
        found: Option<Option<CellRef>>,
        key: Key<'_>,
        outcome: Outcome,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let cell = match found {
            Some(None) => return Ok(()),
            Some(Some(cell)) => cell,
            None => self.auto(key)?,
        };
        // Off the guard, only the locked path may count: removal takes the same lock,
        // so the report is either in the final counts or answered NotFound. (A second
        // lock-free attempt here could count after the removal's snapshot; the loom
        // model `two_reports_racing_eviction_are_never_lost` found exactly that.)
        cell.report_slow(&self.cx, outcome, None, reason)
    }

    /// A success by key as a thread that holds `held` (the cell it found for `key`
    /// earlier, as the per-thread cache does) reports it: the unlocked, sealed attempt
    /// on `held`, then the by-key path under the map lock. For the loom models, which
    /// run without the cache.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    #[doc(hidden)]
    pub fn success_held(&self, held: &ConnectionCell, key: Key<'_>) -> Result<(), Error> {
        if held.success_unlocked(&self.cx) == Fast::Counted {
            return Ok(());
        }
        let found = self.find(key, |cell| {
            match cell.report_fast(&self.cx, Outcome::Success, None) {
                Fast::Counted => None,
                Fast::Removed | Fast::Slow => Some(CellRef::clone(cell)),
            }
        });
        self.report_rest(found, key, Outcome::Success, None)
    }

    /// The cell registered under `key`, as the per-thread cache holds it (no handle is
    /// taken, so it does not keep the connection from eviction). For the loom models.
    #[doc(hidden)]
    pub fn cell(&self, key: Key<'_>) -> Option<CellRef> {
        self.find(key, CellRef::clone)
    }

    /// A status snapshot.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn status(&self, key: Key<'_>) -> Result<Status, Error> {
        key.validate()?;
        Ok(self.existing(key)?.status(&self.cx))
    }

    fn existing(&self, key: Key<'_>) -> Result<CellRef, Error> {
        key.validate()?;
        self.find(key, CellRef::clone).ok_or(Error::NotFound)
    }

    /// A handle to the connection: the cell, with its live-handle count raised (under the
    /// shard lock, so eviction cannot slip in between). Release it with
    /// [`ConnectionCell::release_handle`].
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn handle(&self, key: Key<'_>) -> Result<CellRef, Error> {
        key.validate()?;
        let found = self.find(key, |cell| {
            cell.retain_handle();
            CellRef::clone(cell)
        });
        match found {
            Some(cell) => Ok(cell),
            None => {
                let cell = self.auto(key)?;
                cell.retain_handle();
                if cell.is_removed() {
                    cell.release_handle();
                    return Err(Error::NotFound);
                }
                Ok(cell)
            }
        }
    }

    // ----- manual control ------------------------------------------------------------

    /// `open_circuit`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::InvalidConfig`] (duration).
    pub fn open(&self, key: Key<'_>, options: &OpenOptions) -> Result<(), Error> {
        options.validate()?;
        self.existing(key)?.open(&self.cx, options)
    }

    /// `close_circuit`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn close(&self, key: Key<'_>) -> Result<(), Error> {
        self.existing(key)?.close(&self.cx)
    }

    /// `reset_circuit`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn reset(&self, key: Key<'_>) -> Result<(), Error> {
        self.existing(key)?.reset(&self.cx)
    }

    /// Changes only the given fields of one connection's overrides (and merges metadata).
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::InvalidConfig`]; nothing changes on error.
    pub fn configure(&self, key: Key<'_>, options: &Options) -> Result<(), Error> {
        let cell = self.existing(key)?;
        // Ordered with the connection's state changes (and after its removal, refused),
        // so `Configured` takes its place in the order of the changes.
        let _held = cell.hold_transitions();
        if cell.is_removed() {
            return Err(Error::NotFound);
        }
        configure_cell(&self.cx, &cell, options)?;
        let now = self.cx.clock.now();
        cell.touch(now);
        self.emit(
            EventType::Configured,
            &cell,
            EventKind::Configured,
            cell.counts(),
            now,
        );
        Ok(())
    }

    /// Changes only the given fields of the registry defaults; connections without their
    /// own value follow at once.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (including metadata, which is per connection); nothing
    /// changes on error.
    pub fn configure_defaults(&self, options: &Options) -> Result<(), Error> {
        if !options.metadata_map().is_empty() {
            return Err(Error::invalid_config(
                "metadata",
                "metadata belongs to a connection; pass it to register or configure",
            ));
        }
        let next = options.apply(&self.cx.defaults())?;
        self.cx.set_defaults(next);
        let now = self.cx.clock.now();
        self.cx.bus.publish(EventType::Configured, |seq| {
            Event::new(
                seq,
                EventKind::Configured,
                self.cx.wall(now),
                None,
                State::Unknown,
                Counts::default(),
            )
        });
        Ok(())
    }

    /// The registry defaults now in force.
    pub fn defaults(&self) -> Config {
        (*self.cx.defaults()).clone()
    }

    // ----- listing -------------------------------------------------------------------

    /// Status of every connection (one shard locked at a time while collecting).
    pub fn connections(&self) -> Vec<Status> {
        self.collect(|_| true)
    }

    /// Status of every connection in `scope`.
    pub fn connections_in(&self, scope: &str) -> Vec<Status> {
        self.collect(|c| c.key().scope() == Some(scope))
    }

    fn collect(&self, keep: impl Fn(&ConnectionCell) -> bool) -> Vec<Status> {
        let mut cells = Vec::new();
        self.map.for_each(|c| {
            if keep(c) {
                cells.push(CellRef::clone(c));
            }
        });
        cells.iter().map(|c| c.status(&self.cx)).collect()
    }

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
    fn evict(&self, cell: &CellRef, now: Nanos, inactive: Nanos) -> (bool, Duration) {
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

    fn emit(
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

/// Validates and applies `options` as new overrides of `cell`; nothing changes on error.
fn configure_cell(cx: &Context, cell: &ConnectionCell, options: &Options) -> Result<(), Error> {
    let merged = cell.overrides().overlay(options);
    merged.apply(&cx.defaults())?;
    let mut metadata = cell.metadata();
    metadata.extend(options.metadata_map());
    let mut check = Options::new();
    for (k, v) in &metadata {
        check = check.metadata(k.clone(), v.clone());
    }
    check.validate()?;
    cell.set_overrides(&merged);
    cell.merge_metadata(options.metadata_map());
    Ok(())
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.len())
            .field("max_connections", &self.max_connections)
            .field("auto_register", &self.auto_register)
            .field("cx", &self.cx)
            .finish_non_exhaustive()
    }
}
