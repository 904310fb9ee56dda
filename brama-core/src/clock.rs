//! Time: the [`Clock`] trait, the system's monotonic clock and [`ManualClock`].
//!
//! Internally time is `u64` nanoseconds since the clock's origin. The hot paths read
//! [`ClockSource::recent`], which for the system clock is one atomic load of a value the
//! janitor refreshes every millisecond (and every precise reading refreshes too); rules
//! that start a period (an open circuit's deadline) read the precise time. Under
//! [`ManualClock`] both readings are the same exact value, so every rule can be tested
//! without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    recent: Arc<AtomicU64>,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> SystemClock {
        SystemClock {
            inner: Arc::new(SystemInner {
                origin: Instant::now(),
                recent: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    /// The precise time since origin; also refreshes the cached reading.
    #[inline]
    pub fn nanos(&self) -> Nanos {
        let t = nanos(self.inner.origin.elapsed());
        // Relaxed: the cache is a lone monotonic value; fetch_max keeps it from going back.
        self.inner.recent.fetch_max(t, Ordering::Relaxed);
        t
    }

    /// The cached reading: at most one refresh period behind [`SystemClock::nanos`].
    #[inline]
    pub fn recent_nanos(&self) -> Nanos {
        // Relaxed: a stale value only delays a rule by one refresh period.
        self.inner.recent.load(Ordering::Relaxed)
    }

    /// Refreshes the cached reading (the janitor calls this every millisecond).
    pub fn refresh(&self) {
        let _ = self.nanos();
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

    /// The hot-path reading: exact for manual clocks, at most one refresh period
    /// behind for the system clock.
    #[inline]
    pub fn recent(&self) -> Nanos {
        if let Kind::Custom(c) = &self.kind {
            return custom_now(c);
        }
        // Relaxed: a lone monotonic value (see `SystemClock::recent_nanos`).
        self.fast.load(Ordering::Relaxed)
    }

    /// The system clock's cached reading (what [`recent`](Self::recent) loads), or
    /// `None` for the clocks that have no cache to refresh.
    #[inline]
    pub fn cached(&self) -> Option<Nanos> {
        // Relaxed: as in `recent`.
        matches!(self.kind, Kind::System(_)).then(|| self.fast.load(Ordering::Relaxed))
    }

    /// Refreshes the cached reading, where there is one.
    pub fn refresh(&self) {
        if let Kind::System(c) = &self.kind {
            c.refresh();
        }
    }

    /// Whether the hot-path reading needs [`ClockSource::refresh`] to advance.
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
    fn system_recent_never_ahead_of_precise_and_refreshes() {
        let c = SystemClock::new();
        let before = c.recent_nanos();
        let precise = c.nanos();
        assert!(c.recent_nanos() >= before);
        assert!(
            c.recent_nanos() >= precise,
            "a precise reading refreshes the cache"
        );
        let later = c.nanos();
        assert!(later >= precise);
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
