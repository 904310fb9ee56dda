//! [`Config`]: every setting of the [`Builder`] as plain data, each field named as its
//! builder method and unset by default, and [`Brama::from_config`].
//!
//! With the feature `serde` it reads from (and writes to) any serde format, e.g. a TOML
//! file; see `brama-sync/src/serde.rs` for the format.

use std::time::Duration;

use brama_core::{Error, ExpiryStrategy, Mode, TripPolicy};

use crate::brama::Brama;
use crate::builder::Builder;
use crate::janitor::Janitor;

/// Every setting of the [`Builder`], as data: one field per builder method, named as
/// the method, each `None` (the SPEC §4 default) unless set.
///
/// The clock is not a setting of a file: pass one with [`Builder::clock`] after
/// [`Builder::config`]. Nothing is checked until [`Brama::from_config`] (or
/// [`Builder::build`]), which rejects a bad value with [`Error::InvalidConfig`] naming
/// the field.
///
/// Built with `..Config::default()`: the struct is not `#[non_exhaustive]` so that this
/// form works, and every field is an `Option`, so a field added later keeps it working.
///
/// With the feature `serde`, it (de)serializes as a table of the fields that are set,
/// durations as humantime strings (`"500ms"`, `"60s"`, `"1m"`), unknown fields rejected
/// with their name (docs/observability.md, "Configuration files"):
///
/// ```toml
/// failure_threshold = 3
/// expiry = "30s"
/// half_open_probes = 2
/// cleanup_interval = "5s"
/// max_connections = 10000
/// janitor = "thread"
/// mode = "normal"
/// expiry_strategy = { progressive = { initial = "1s", max = "1m", factor = 2.0 } }
/// ```
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_sync::{Brama, Config};
///
/// let config = Config {
///     failure_threshold: Some(3),
///     expiry: Some(Duration::from_secs(30)),
///     ..Config::default()
/// };
/// let brama = Brama::from_config(config)?;
/// assert_eq!(brama.defaults().failure_threshold, 3);
/// assert_eq!(brama.defaults().half_open_probes, 1); // unset: the default
/// # Ok::<(), brama_sync::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// [`Builder::failure_threshold`].
    pub failure_threshold: Option<u32>,
    /// [`Builder::expiry`].
    pub expiry: Option<Duration>,
    /// [`Builder::expiry_strategy`].
    pub expiry_strategy: Option<ExpiryStrategy>,
    /// [`Builder::jitter`].
    pub jitter: Option<f64>,
    /// [`Builder::half_open_probes`].
    pub half_open_probes: Option<u32>,
    /// [`Builder::probe_timeout`].
    pub probe_timeout: Option<Duration>,
    /// [`Builder::cleanup_interval`].
    pub cleanup_interval: Option<Duration>,
    /// [`Builder::inactive_threshold`].
    pub inactive_threshold: Option<Duration>,
    /// [`Builder::max_connections`].
    pub max_connections: Option<usize>,
    /// [`Builder::auto_register`].
    pub auto_register: Option<bool>,
    /// [`Builder::event_queue_capacity`].
    pub event_queue_capacity: Option<usize>,
    /// [`Builder::janitor`].
    pub janitor: Option<Janitor>,
    /// [`Builder::trip_policy`] (applied after `failure_threshold`, so a rate policy
    /// set here wins over it).
    pub trip_policy: Option<TripPolicy>,
    /// [`Builder::mode`]: the default [`Mode`] of every connection without one of its
    /// own or of its scope's. On the wire `"normal"`, `"disabled"`, `"forced_open"` or
    /// `"metrics_only"`.
    pub mode: Option<Mode>,
}

impl Builder {
    /// Applies every setting `config` sets (and only those) to this builder. Settings
    /// made on the builder afterwards win; the clock is set with [`Builder::clock`].
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Config, ManualClock};
    ///
    /// let config = Config { failure_threshold: Some(2), ..Config::default() };
    /// let clock = ManualClock::new();
    /// let brama = Brama::builder().config(&config).clock(clock).build()?;
    /// assert_eq!(brama.defaults().failure_threshold, 2);
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    pub fn config(self, config: &Config) -> Builder {
        // Destructured in full: a field added to `Config` fails to compile here until
        // it is applied.
        let Config {
            failure_threshold,
            expiry,
            expiry_strategy,
            jitter,
            half_open_probes,
            probe_timeout,
            cleanup_interval,
            inactive_threshold,
            max_connections,
            auto_register,
            event_queue_capacity,
            janitor,
            trip_policy,
            mode,
        } = config.clone();
        let mut b = self;
        if let Some(v) = failure_threshold {
            b = b.failure_threshold(v);
        }
        if let Some(v) = trip_policy {
            b = b.trip_policy(v);
        }
        if let Some(v) = expiry {
            b = b.expiry(v);
        }
        if let Some(v) = expiry_strategy {
            b = b.expiry_strategy(v);
        }
        if let Some(v) = jitter {
            b = b.jitter(v);
        }
        if let Some(v) = half_open_probes {
            b = b.half_open_probes(v);
        }
        if let Some(v) = probe_timeout {
            b = b.probe_timeout(v);
        }
        if let Some(v) = cleanup_interval {
            b = b.cleanup_interval(v);
        }
        if let Some(v) = inactive_threshold {
            b = b.inactive_threshold(v);
        }
        if let Some(v) = max_connections {
            b = b.max_connections(v);
        }
        if let Some(v) = auto_register {
            b = b.auto_register(v);
        }
        if let Some(v) = event_queue_capacity {
            b = b.event_queue_capacity(v);
        }
        if let Some(v) = janitor {
            b = b.janitor(v);
        }
        if let Some(v) = mode {
            b = b.mode(v);
        }
        b
    }
}

impl Brama {
    /// A registry built from `config`: `Brama::builder().config(&config).build()`.
    ///
    /// # Examples
    /// ```
    /// # #[cfg(feature = "serde")] {
    /// use brama_sync::{Brama, Config};
    ///
    /// let config: Config = toml::from_str(r#"
    ///     failure_threshold = 3
    ///     expiry = "30s"
    /// "#).unwrap();
    /// let brama = Brama::from_config(config)?;
    /// assert_eq!(brama.defaults().expiry, std::time::Duration::from_secs(30));
    /// # }
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Builder::build`]: [`Error::InvalidConfig`] naming the first bad setting,
    /// [`Error::Spawn`] if the janitor thread cannot be started.
    pub fn from_config(config: Config) -> Result<Brama, Error> {
        Brama::builder().config(&config).build()
    }
}
