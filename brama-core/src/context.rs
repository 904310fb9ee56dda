//! What every connection of one registry shares: clock, event bus, live defaults.

use std::fmt;
use std::task::Waker;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::clock::{ClockSource, Nanos, NOT_A_READING};
use crate::config::Config;
use crate::events::EventBus;
use crate::layers::Layers;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// The shared part of a registry that connection cells and handles need.
pub struct Context {
    /// The registry's clock.
    pub clock: ClockSource,
    /// The registry's event bus.
    pub bus: EventBus,
    /// The scope templates and the default mode (between `defaults` and a
    /// connection's own overrides).
    pub layers: Layers,
    defaults: ArcSwap<Config>,
    // Hot scalars of `defaults`, readable with one load on the report paths.
    default_threshold: AtomicU32,
    default_probes: AtomicU32,
    // Whether connections without their own `Options::critical` are critical; not part
    // of `Config` (it decides no call), read only by health reports.
    default_critical: AtomicBool,
    wall_base: SystemTime,
    mono_base: Nanos,
    rng: AtomicU64,
}

impl Context {
    /// A context with these defaults (already validated), clock and event-queue capacity.
    pub fn new(defaults: Config, clock: ClockSource, event_queue_capacity: usize) -> Context {
        // Before any connection of this context exists (see `barrier::init`).
        crate::barrier::init();
        let mono_base = clock.now();
        Context {
            default_threshold: AtomicU32::new(defaults.word_threshold()),
            default_probes: AtomicU32::new(defaults.half_open_probes),
            default_critical: AtomicBool::new(false),
            defaults: ArcSwap::from_pointee(defaults),
            bus: EventBus::new(event_queue_capacity),
            layers: Layers::new(),
            wall_base: SystemTime::now(),
            mono_base,
            rng: AtomicU64::new(mono_base ^ 0x9E37_79B9_7F4A_7C15),
            clock,
        }
    }

    /// One tick of whatever tends the registry (brama-sync's janitor, every
    /// millisecond while the registry is in use): refreshes the system clock's cached
    /// reading and publishes it as the bus's quiet stamp ([`EventBus::quiet`]), so that
    /// handle successes on healthy circuits stamped in this period may be counted with
    /// no report. Returns whether any hot path used the cached reading since the
    /// previous tick (false for the clocks that have no cache). Until it is called, and
    /// always under a manual or custom clock, every handle success is reported in full.
    pub fn refresh(&self) -> bool {
        match self.clock.tick() {
            Some((now, used)) => {
                self.bus.publish_quiet(now);
                used
            }
            None => false,
        }
    }

    /// The ticker asks to sleep (see [`ClockSource::rest`]): true if it may; the first
    /// hot path that reads the clock after that wakes `waker`.
    pub fn rest(&self, waker: &Waker) -> bool {
        self.clock.rest(waker)
    }

    /// The ticker went away (brama-sync's janitor ended, awake or resting): the hot
    /// paths read the clock precisely from now on ([`ClockSource::untend`]), and the
    /// quiet stamp is withdrawn, so handle successes stamp their time again instead of
    /// matching the last tick's reading for ever.
    pub fn untend(&self) {
        self.clock.untend();
        // After the clock: a success that misses the stamp from here stamps a precise
        // reading. (The store is made under the sequencer lock, as every store of it.)
        self.bus.publish_quiet(NOT_A_READING);
    }

    /// The registry defaults now in force.
    pub fn defaults(&self) -> std::sync::Arc<Config> {
        self.defaults.load_full()
    }

    /// The registry defaults now in force, borrowed from the `ArcSwap` without touching
    /// the shared reference count (for a snapshot that only reads them).
    pub(crate) fn defaults_now(&self) -> arc_swap::Guard<std::sync::Arc<Config>> {
        self.defaults.load()
    }

    /// Replaces the defaults (already validated). Connections without overrides follow.
    pub fn set_defaults(&self, cfg: Config) {
        // Relaxed: each scalar is read on its own; `defaults` (arc-swap) orders the rest.
        self.default_threshold
            .store(cfg.word_threshold(), Ordering::Relaxed);
        self.default_probes
            .store(cfg.half_open_probes, Ordering::Relaxed);
        self.defaults.store(std::sync::Arc::new(cfg));
    }

    /// Whether connections with no `critical` of their own are critical (false until
    /// `configure_defaults` sets it).
    pub fn default_critical(&self) -> bool {
        // Relaxed: a lone flag; a health report racing configure_defaults may use either.
        self.default_critical.load(Ordering::Relaxed)
    }

    /// Sets [`default_critical`](Self::default_critical).
    pub fn set_default_critical(&self, critical: bool) {
        // Relaxed: see `default_critical`.
        self.default_critical.store(critical, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn default_threshold(&self) -> u32 {
        // Relaxed: a lone value; a report racing configure_defaults may use either.
        self.default_threshold.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn default_probes(&self) -> u32 {
        // Relaxed: as above.
        self.default_probes.load(Ordering::Relaxed)
    }

    /// The wall-clock time of clock reading `t`: the registry's creation time plus the
    /// monotonic time elapsed, so it is exact under a manual clock. A reading before the
    /// creation (a restored timestamp) is as far before it.
    pub fn wall(&self, t: Nanos) -> SystemTime {
        match t.checked_sub(self.mono_base) {
            Some(after) => self.wall_base.checked_add(Duration::from_nanos(after)),
            None => self
                .wall_base
                .checked_sub(Duration::from_nanos(self.mono_base - t)),
        }
        .unwrap_or(self.wall_base)
    }

    /// A uniform sample in `[0, 1)` for jitter (splitmix64 over a shared counter).
    pub fn jitter_sample(&self) -> f64 {
        // Relaxed: only uniqueness of the counter value matters.
        let x = self.rng.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("clock", &self.clock)
            .field("defaults", &self.defaults.load())
            .finish_non_exhaustive()
    }
}
