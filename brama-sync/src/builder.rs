//! [`Builder`]: every setting of a [`Brama`], validated at `build`.

use std::sync::Arc;
use std::time::Duration;

use brama_core::engine::Registry;
use brama_core::{
    ClockSource, Config, Error, ExpiryStrategy, Mode, Options, Settings, Snapshot, TripPolicy,
};

use crate::brama::Brama;
use crate::janitor::{Janitor, JanitorHandle};

/// Builds a [`Brama`]; every setting has the default of SPEC §4.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_sync::{Brama, ExpiryStrategy};
/// let brama = Brama::builder()
///     .failure_threshold(3)
///     .expiry_strategy(ExpiryStrategy::Progressive {
///         initial: Duration::from_secs(1),
///         max: Duration::from_secs(60),
///         factor: 2.0,
///     })
///     .max_connections(10_000)
///     .build()?;
/// # drop(brama);
/// # Ok::<(), brama_sync::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    options: Options,
    settings: Settings,
    clock: Option<ClockSource>,
    janitor: Janitor,
    restore: Option<Arc<Snapshot>>,
}

impl Builder {
    /// Consecutive failures that open a circuit (at least 1).
    pub fn failure_threshold(mut self, n: u32) -> Builder {
        self.options = self.options.failure_threshold(n);
        self
    }

    /// What opens a circuit (SPEC §8): `TripPolicy::consecutive(n)` is
    /// [`failure_threshold(n)`](Builder::failure_threshold); a rate policy opens on a
    /// failure or slow-call rate over a window. The later of the two setters wins.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_sync::{Brama, TripPolicy, Window};
    ///
    /// let brama = Brama::builder()
    ///     .trip_policy(
    ///         TripPolicy::failure_rate(0.5)
    ///             .window(Window::count(100))
    ///             .minimum_calls(20)
    ///             .slow_calls(Duration::from_millis(500), 0.8),
    ///     )
    ///     .build()?;
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    pub fn trip_policy(mut self, policy: TripPolicy) -> Builder {
        self.options = self.options.trip_policy(policy);
        self
    }

    /// The fixed open duration.
    pub fn expiry(mut self, d: Duration) -> Builder {
        self.options = self.options.expiry(d);
        self
    }

    /// Fixed or progressive open durations.
    pub fn expiry_strategy(mut self, s: ExpiryStrategy) -> Builder {
        self.options = self.options.expiry_strategy(s);
        self
    }

    /// Random spread of open durations, a fraction in [0, 1).
    pub fn jitter(mut self, j: f64) -> Builder {
        self.options = self.options.jitter(j);
        self
    }

    /// Probe calls a half-open circuit admits at once (1 to 65535).
    pub fn half_open_probes(mut self, n: u32) -> Builder {
        self.options = self.options.half_open_probes(n);
        self
    }

    /// How long a probe may go without reporting before its slot is freed.
    pub fn probe_timeout(mut self, d: Duration) -> Builder {
        self.options = self.options.probe_timeout(d);
        self
    }

    /// The janitor's period.
    pub fn cleanup_interval(mut self, d: Duration) -> Builder {
        self.settings.cleanup_interval = d;
        self
    }

    /// Inactivity after which a connection is evicted.
    pub fn inactive_threshold(mut self, d: Duration) -> Builder {
        self.settings.inactive_threshold = d;
        self
    }

    /// The most connections the registry holds.
    pub fn max_connections(mut self, n: usize) -> Builder {
        self.settings.max_connections = Some(n);
        self
    }

    /// Register unknown keys on first use, with the defaults.
    pub fn auto_register(mut self, on: bool) -> Builder {
        self.settings.auto_register = on;
        self
    }

    /// Events each subscriber's queue holds.
    pub fn event_queue_capacity(mut self, n: usize) -> Builder {
        self.settings.event_queue_capacity = n;
        self
    }

    /// The clock (default: the system's monotonic clock). Pass a [`ManualClock`] in tests.
    ///
    /// [`ManualClock`]: crate::ManualClock
    pub fn clock(mut self, clock: impl Into<ClockSource>) -> Builder {
        self.clock = Some(clock.into());
        self
    }

    /// Where the janitor runs: its own thread (the default) or, with
    /// [`Janitor::Manual`], nowhere until you spawn
    /// [`Brama::janitor_task`](crate::Brama::janitor_task) on your runtime or call
    /// [`Brama::sweep`](crate::Brama::sweep) yourself.
    pub fn janitor(mut self, janitor: Janitor) -> Builder {
        self.janitor = janitor;
        self
    }

    /// The default [`Mode`] of every connection without one of its own or of its
    /// scope's (default `Mode::Normal`); `configure_defaults` changes it at run time.
    pub fn mode(mut self, mode: Mode) -> Builder {
        self.options = self.options.mode(mode);
        self
    }

    /// Restores `snapshot` (taken by [`Brama::snapshot`](crate::Brama::snapshot), in
    /// this process or an earlier one) into the registry when it is built, before its
    /// janitor starts: a restarted process does not hammer a dependency it knew was
    /// down. See [`Brama::restore`](crate::Brama::restore) for what is restored. The
    /// snapshot is checked at [`build`](Builder::build), which fails if it is bad. A
    /// second call replaces the first.
    pub fn restore(mut self, snapshot: &Snapshot) -> Builder {
        self.restore = Some(Arc::new(snapshot.clone()));
        self
    }

    fn registry(&self) -> Result<Registry, Error> {
        let defaults = self.options.apply(&Config::default())?;
        let registry = Registry::new(
            defaults,
            self.settings.clone(),
            self.clock.clone().unwrap_or_default(),
        )?;
        if let Some(mode) = self.options.mode_value() {
            registry.configure_defaults(&Options::new().mode(mode))?;
        }
        if let Some(snapshot) = &self.restore {
            registry.restore(snapshot)?;
        }
        Ok(registry)
    }

    /// Validates the settings, creates the registry, restores the snapshot given to
    /// [`restore`](Builder::restore), and spawns its janitor thread (with
    /// [`Janitor::Thread`], the default).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad setting; [`Error::InvalidSnapshot`]
    /// or [`Error::CapacityExceeded`] for a snapshot that cannot be restored;
    /// [`Error::Spawn`] if the thread cannot be started.
    pub fn build(self) -> Result<Brama, Error> {
        let registry = Arc::new(self.registry()?);
        let janitor = JanitorHandle::start(self.janitor, Arc::downgrade(&registry))?;
        Ok(Brama::from_parts(registry, janitor))
    }

    pub(crate) fn build_without_janitor(self) -> Brama {
        let registry = Arc::new(self.registry().unwrap_or_else(|_| {
            Registry::new(
                Config::default(),
                Settings::default(),
                ClockSource::default(),
            )
            .unwrap_or_else(|_| unreachable!("the defaults are valid"))
        }));
        let janitor = JanitorHandle::idle(&Arc::downgrade(&registry));
        Brama::from_parts(registry, janitor)
    }
}
