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

mod by_key;
#[cfg(not(brama_loom))]
pub(crate) mod cache;
mod health;
mod manage;
pub(crate) mod map;
mod peek;
pub use peek::Spot;
mod register;
mod scope;
mod snapshot;
mod sweep;
mod visit;

use std::fmt;
use std::time::Duration;

use crate::clock::{nanos, ClockSource};
use crate::config::{Config, Settings};
use crate::context::Context;
use crate::error::Error;
use crate::registry::map::Map;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Ordering};

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
pub(super) enum Removal {
    Unregistered,
    Evicted,
}

/// Every tracked connection of one registry.
pub struct Registry {
    pub(super) map: Map,
    /// A process-unique id, for the per-thread lookup cache.
    #[cfg(not(brama_loom))]
    pub(super) id: u64,
    pub(super) cx: Arc<Context>,
    pub(super) len: AtomicUsize,
    pub(super) max_connections: Option<usize>,
    pub(super) auto_register: bool,
    pub(super) cleanup_interval: AtomicU64,
    pub(super) inactive_threshold: AtomicU64,
    #[cfg(not(brama_loom))]
    pub(super) sweep_hook: std::sync::Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
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

    /// The map shard `key` lives in (or would), `0..SHARDS`: a test and benchmark hook
    /// (the writer-wait harness and `writer_progress` put writers' keys in a hot key's
    /// shard). Not API.
    #[cfg(not(brama_loom))]
    #[doc(hidden)]
    pub fn shard_of(&self, key: crate::key::Key<'_>) -> usize {
        self.map.shard_of(key.key_hash())
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
