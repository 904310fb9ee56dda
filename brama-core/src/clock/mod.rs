//! Time: the [`Clock`] trait, the system's monotonic clock and [`ManualClock`].
//!
//! Internally time is `u64` nanoseconds since the clock's origin. The hot paths read
//! [`ClockSource::recent`], which for the system clock is one atomic load of a value a
//! ticker (the janitor) refreshes every millisecond while the registry is in use; while
//! nobody tends it (an idle registry whose janitor sleeps, or no janitor), the hot
//! paths read the clock precisely instead (`tend.rs`). Rules that start a period (an
//! open circuit's deadline) read the precise time. Under [`ManualClock`] both readings
//! are the same exact value, so every rule can be tested without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

mod tend;

use tend::{Tend, UNUSED};

/// Nanoseconds since a clock's origin.
pub type Nanos = u64;

/// Converts a duration to nanoseconds, saturating at `u64::MAX` (584 years).
#[inline]
pub fn nanos(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A monotonic time source.
///
/// Implement it to drive brama from your own notion of time; most users want the
/// default (the system's monotonic clock) or [`ManualClock`] in tests.
pub trait Clock: Send + Sync + 'static {
    /// Time elapsed since this clock's fixed origin. Must never go backwards.
    fn now(&self) -> Duration;
}

/// A clock that moves only when told to. Clones share one time.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::engine::clock::{Clock, ManualClock};
/// let clock = ManualClock::new();
/// let other = clock.clone();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(other.now(), Duration::from_secs(5));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Moves time forward by `d`, saturating at `u64::MAX - 2` nanoseconds (584 years;
    /// time never wraps). Every clock stops there, so that [`NOT_A_READING`] is never a
    /// reading.
    pub fn advance(&self, d: Duration) {
        let step = nanos(d);
        // Relaxed: the value is its own synchronisation; callers that need ordering with
        // other data (tests) get it from their own thread joins or the registry's atomics.
        let _ = self
            .now
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(step).min(CLOCK_MAX))
            });
    }

    /// The current time since origin, in nanoseconds.
    #[inline]
    pub fn nanos(&self) -> Nanos {
        // Relaxed: see `advance`.
        self.now.load(Ordering::Relaxed)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos())
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &Duration::from_nanos(self.nanos()))
            .finish()
    }
}

/// The system's monotonic clock, with a cached "recent" reading for the hot paths.
#[derive(Clone)]
pub struct SystemClock {
    inner: Arc<SystemInner>,
}

struct SystemInner {
    origin: Instant,
    /// The cached reading (even), with the "unused since the last tick" mark in bit 0.
    recent: Arc<AtomicU64>,
    tend: Tend,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> SystemClock {
        SystemClock {
            inner: Arc::new(SystemInner {
                origin: Instant::now(),
                // Reading 0, marked: untended until a ticker ticks.
                recent: Arc::new(AtomicU64::new(UNUSED)),
                tend: Tend::new(),
            }),
        }
    }

    /// The precise time since origin. (It leaves the cached reading alone: only a tick
    /// writes it.)
    #[inline]
    pub fn nanos(&self) -> Nanos {
        nanos(self.inner.origin.elapsed()).min(CLOCK_MAX)
    }

    /// The cached reading: at most one tick behind [`SystemClock::nanos`] while a
    /// ticker tends the clock; whatever the last tick left otherwise.
    #[inline]
    pub fn recent_nanos(&self) -> Nanos {
        // Relaxed: a lone monotonic value; the mark bit is not part of the reading.
        self.inner.recent.load(Ordering::Relaxed) & !UNUSED
    }

    /// Advances the cached reading to now. It does not tend the cache: while no
    /// ticker (brama-sync's janitor) is awake, the hot paths keep reading the clock
    /// precisely, whatever the cached reading says.
    pub fn refresh(&self) {
        Tend::store_reading(&self.inner.recent, self.nanos() & !UNUSED);
    }

    fn tick(&self) -> (Nanos, bool) {
        self.inner
            .tend
            .tick(&self.inner.recent, self.nanos() & !UNUSED)
    }

    /// The hot-path reading when the cache carries the mark (`v`): the cached reading
    /// if a ticker is awake, else a precise one (and the ticker is asked to wake).
    #[cold]
    #[inline(never)]
    fn recent_marked(&self, v: Nanos) -> Nanos {
        match self.inner.tend.used(&self.inner.recent) {
            Some(t) => t.max(v & !UNUSED),
            None => {
                self.inner.tend.wake();
                self.nanos()
            }
        }
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos())
    }
}

impl fmt::Debug for SystemClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemClock")
            .field("recent", &Duration::from_nanos(self.recent_nanos()))
            .finish()
    }
}

/// A value no clock's reading takes (every clock stops at [`CLOCK_MAX`]), so no stamp
/// taken from a clock equals it: what a registry's quiet stamp holds while handle
/// successes may not skip their report (see `EventBus::quiet`).
pub const NOT_A_READING: Nanos = CLOCK_MAX + 1;

/// The latest reading any clock gives: the manual clock and custom clocks saturate
/// here, two nanoseconds short of `u64::MAX` (584 years; the system clock, counting
/// from its creation, gets nowhere near), so that [`NOT_A_READING`] and the "never"
/// sentinel `u64::MAX` are never readings.
pub const CLOCK_MAX: Nanos = u64::MAX - 2;

/// A custom clock's reading, out of line so the hot paths lay out the cached load first.
#[cold]
#[inline(never)]
fn custom_now(c: &Arc<dyn Clock>) -> Nanos {
    nanos(c.now()).min(CLOCK_MAX)
}

/// The clock a registry runs on: the system clock, a [`ManualClock`], or any [`Clock`].
///
/// The hot-path reading is one load of a shared atomic (the system clock's cached
/// reading, or the manual clock's time) with no dispatch; only a custom clock is called.
#[derive(Clone)]
pub struct ClockSource {
    kind: Kind,
    /// What `recent()` loads: the system clock's cache or the manual clock's time.
    fast: Arc<AtomicU64>,
}

#[derive(Clone)]
enum Kind {
    System(SystemClock),
    Manual(ManualClock),
    Custom(Arc<dyn Clock>),
}

impl ClockSource {
    /// The precise time since origin.
    #[inline]
    pub fn now(&self) -> Nanos {
        match &self.kind {
            Kind::System(c) => c.nanos(),
            Kind::Manual(c) => c.nanos(),
            Kind::Custom(c) => custom_now(c),
        }
    }

    /// The hot-path reading: exact for manual clocks; for the system clock, the cached
    /// reading (at most one tick old) while a ticker tends it, else a precise one.
    #[inline]
    pub fn recent(&self) -> Nanos {
        if let Kind::Custom(c) = &self.kind {
            return custom_now(c);
        }
        // Relaxed: a lone monotonic value (see `SystemClock::recent_nanos`); the mark
        // protocol's own orderings are in `tend.rs`.
        let v = self.fast.load(Ordering::Relaxed);
        if v & UNUSED != 0 {
            if let Kind::System(c) = &self.kind {
                return c.recent_marked(v);
            }
        }
        v
    }

    /// The system clock's cached reading (what [`recent`](Self::recent) loads), or
    /// `None` for the clocks that have no cache to refresh.
    #[inline]
    pub fn cached(&self) -> Option<Nanos> {
        match &self.kind {
            Kind::System(c) => Some(c.recent_nanos()),
            _ => None,
        }
    }

    /// Advances the cached reading to now, where there is one
    /// ([`SystemClock::refresh`]: it does not tend the cache, a ticker does).
    pub fn refresh(&self) {
        if let Kind::System(c) = &self.kind {
            c.refresh();
        }
    }

    /// One tick of the ticker that tends the system clock's cache: stores a fresh
    /// reading and returns it with whether any hot path used the cache since the
    /// previous tick; `None` for the clocks that have no cache.
    #[doc(hidden)]
    pub fn tick(&self) -> Option<(Nanos, bool)> {
        match &self.kind {
            Kind::System(c) => Some(c.tick()),
            _ => None,
        }
    }

    /// The ticker asks to sleep: true if it may (nobody used the cache since the last
    /// tick); from then on hot paths read the clock precisely and the first one wakes
    /// `waker`. Always true for the clocks that have no cache.
    #[doc(hidden)]
    pub fn rest(&self, waker: &Waker) -> bool {
        match &self.kind {
            Kind::System(c) => c.inner.tend.rest(&c.inner.recent, waker),
            _ => true,
        }
    }

    /// The ticker is gone for good (its janitor ended): hot paths read the clock
    /// precisely from now on, until a ticker ticks again. Nothing for the clocks that
    /// have no cache.
    #[doc(hidden)]
    pub fn untend(&self) {
        if let Kind::System(c) = &self.kind {
            c.inner.tend.untend(&c.inner.recent);
        }
    }

    /// Whether no ticker tends the cache now (hot paths read precisely); false for the
    /// clocks that have no cache.
    #[doc(hidden)]
    pub fn untended(&self) -> bool {
        matches!(&self.kind, Kind::System(c) if c.inner.tend.asleep())
    }

    /// Whether the clock has a cached reading that a ticker tends (the system clock):
    /// brama-sync's janitor ticks it while the registry is in use.
    pub fn needs_refresh(&self) -> bool {
        matches!(self.kind, Kind::System(_))
    }

    /// Wraps any clock. It is asked on every reading (there is no cached one), and its
    /// readings saturate at [`CLOCK_MAX`] (`u64::MAX - 2` nanoseconds, 584 years), as
    /// the manual clock's do.
    pub fn custom(clock: impl Clock) -> ClockSource {
        ClockSource {
            kind: Kind::Custom(Arc::new(clock)),
            fast: Arc::new(AtomicU64::new(NOT_A_READING)),
        }
    }
}

impl Default for ClockSource {
    fn default() -> ClockSource {
        ClockSource::from(SystemClock::new())
    }
}

impl From<ManualClock> for ClockSource {
    fn from(c: ManualClock) -> ClockSource {
        ClockSource {
            fast: Arc::clone(&c.now),
            kind: Kind::Manual(c),
        }
    }
}

impl From<SystemClock> for ClockSource {
    fn from(c: SystemClock) -> ClockSource {
        ClockSource {
            fast: Arc::clone(&c.inner.recent),
            kind: Kind::System(c),
        }
    }
}

impl fmt::Debug for ClockSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::System(c) => c.fmt(f),
            Kind::Manual(c) => c.fmt(f),
            Kind::Custom(_) => f.write_str("ClockSource::Custom"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Noop;

    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn noop() -> Waker {
        Waker::from(Arc::new(Noop))
    }

    #[test]
    fn manual_clock_clones_share_time_and_saturate() {
        let c = ManualClock::new();
        let d = c.clone();
        c.advance(Duration::from_millis(1500));
        assert_eq!(d.nanos(), 1_500_000_000);
        d.advance(Duration::MAX);
        assert_eq!(c.nanos(), CLOCK_MAX);
        d.advance(Duration::from_nanos(1));
        assert_eq!(c.nanos(), CLOCK_MAX, "it stays there");
        assert_ne!(c.nanos(), NOT_A_READING);
    }

    #[test]
    fn system_recent_is_precise_until_tended_and_cached_while_ticked() {
        let c = SystemClock::new();
        let s = ClockSource::from(c.clone());
        assert!(s.untended(), "no ticker yet");
        let a = s.recent();
        std::thread::sleep(Duration::from_millis(2));
        let b = s.recent();
        assert!(b > a, "untended: every reading is precise");
        assert_eq!(c.recent_nanos(), 0, "and nothing was cached");

        let (t, used) = s.tick().unwrap();
        assert!(!used, "nobody used the cache before the first tick");
        assert!(!s.untended());
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(s.recent(), t, "tended: the tick's reading");
        assert_eq!(s.recent(), t);
        let (t2, used) = s.tick().unwrap();
        assert!(
            used && t2 > t,
            "the hot path's use is seen by the next tick"
        );
        let (_, used) = s.tick().unwrap();
        assert!(!used, "no use since the last tick");

        assert!(s.rest(&noop()), "idle: the ticker may rest");
        assert!(s.untended());
        let before = s.recent();
        std::thread::sleep(Duration::from_millis(2));
        assert!(s.recent() > before, "resting: precise again");
    }

    #[test]
    fn a_use_racing_a_rest_keeps_the_ticker_awake() {
        let s = ClockSource::from(SystemClock::new());
        let _ = s.tick();
        let _ = s.recent(); // used since the tick
        assert!(!s.rest(&noop()), "used since the last tick");
        assert!(!s.untended());
    }

    /// Issue #20, defect 1: a ticker that goes away while awake (its janitor ended)
    /// must not leave the hot paths reading its last tick for ever, whether or not a
    /// hot path had cleared the mark since.
    #[test]
    fn a_ticker_that_goes_away_awake_leaves_precise_readings() {
        for used_since_tick in [false, true] {
            let c = SystemClock::new();
            let s = ClockSource::from(c.clone());
            let (t, _) = s.tick().unwrap();
            if used_since_tick {
                assert_eq!(s.recent(), t, "tended: the cached reading");
            }
            s.untend();
            assert!(s.untended(), "{used_since_tick}: nobody tends it now");
            std::thread::sleep(Duration::from_millis(2));
            let a = s.recent();
            assert!(a > t, "{used_since_tick}: precise, not the last tick");
            std::thread::sleep(Duration::from_millis(2));
            assert!(s.recent() > a, "{used_since_tick}: and again");
            assert_eq!(c.recent_nanos(), t, "precise readings write nothing");
            let (t2, _) = s.tick().unwrap();
            assert!(!s.untended() && t2 > t, "a ticker may come back");
            assert_eq!(s.recent(), t2);
        }
    }

    /// A user's `refresh` advances the cached reading but does not stand in for a
    /// ticker: with none awake, the hot-path reading stays precise (it once marked the
    /// clock tended, and every check after the first read that refresh's value for as
    /// long as the janitor rested).
    #[test]
    fn a_refresh_advances_the_cache_without_tending_it() {
        let c = SystemClock::new();
        let s = ClockSource::from(c.clone());
        s.refresh();
        assert!(s.untended(), "a refresh is not a ticker");
        let r = c.recent_nanos();
        assert!(r > 0, "the cached reading advanced");
        for _ in 0..3 {
            let a = s.recent();
            // No sleep: spin until the clock has moved past `a` (nanoseconds).
            while c.nanos() <= a {
                std::hint::spin_loop();
            }
            assert!(s.recent() > a, "untended: every reading is precise");
        }
        assert_eq!(c.recent_nanos(), r, "precise readings write nothing");

        // Tended: a refresh keeps the ticker's view of use.
        let (t, _) = s.tick().unwrap();
        assert_eq!(s.recent(), t, "tended: the tick's reading (used)");
        while c.nanos() <= t + 2 {
            std::hint::spin_loop();
        }
        s.refresh();
        assert!(!s.untended());
        let (_, used) = s.tick().unwrap();
        assert!(
            used,
            "the use before the refresh is still seen by the next tick"
        );
        let (_, used) = s.tick().unwrap();
        assert!(!used);
        s.refresh();
        assert!(
            s.rest(&noop()),
            "an unused cache stays unused through a refresh"
        );
        let before = s.recent();
        while c.nanos() <= before {
            std::hint::spin_loop();
        }
        assert!(s.recent() > before, "resting: precise");
    }

    #[test]
    fn a_custom_clock_saturates_below_the_placeholder() {
        struct Far(u64);
        impl Clock for Far {
            fn now(&self) -> Duration {
                Duration::from_nanos(self.0)
            }
        }
        let m = ManualClock::new();
        let s = ClockSource::custom(m.clone());
        m.advance(Duration::from_nanos(7));
        assert_eq!((s.now(), s.recent()), (7, 7));
        assert_eq!(s.cached(), None, "a custom clock is never cached");
        for far in [u64::MAX - 1, u64::MAX] {
            let s = ClockSource::custom(Far(far));
            assert_eq!((s.now(), s.recent()), (CLOCK_MAX, CLOCK_MAX));
        }
        assert_ne!(NOT_A_READING, u64::MAX, "the placeholder is not \"never\"");
    }

    #[test]
    fn source_readings_agree_for_manual() {
        let m = ManualClock::new();
        let s = ClockSource::from(m.clone());
        m.advance(Duration::from_nanos(42));
        assert_eq!(s.now(), 42);
        assert_eq!(s.recent(), 42);
        assert_eq!(s.cached(), None, "nothing to refresh");
        assert!(!s.needs_refresh());
    }
}
