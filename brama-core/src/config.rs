//! Configuration: the resolved per-connection [`Config`], the per-connection overrides
//! in [`Options`], manual-open [`OpenOptions`], registry-wide [`Settings`], and the
//! validation rules of SPEC §7.
//!
//! Every limit is a named constant here, and every rejection is an
//! [`Error::InvalidConfig`] whose `field` is the builder method's name and whose
//! `reason` says what is allowed and what was given.
//!
//! Durations are capped at [`MAX_DURATION`] (100 years) so that adding any valid
//! duration, even after jitter doubles it, to a clock reading can never overflow.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::Error;

/// The longest duration any setting accepts: 100 years of 365 days.
///
/// A jittered open duration is at most twice this, about 6.3 × 10¹⁸ ns, which still
/// fits an `i64` or `u64` count of nanoseconds added to any realistic clock reading.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The most half-open probes a circuit admits at once: the cell packs the in-flight
/// probe count in 16 bits.
pub const MAX_HALF_OPEN_PROBES: u32 = u16::MAX as u32;

/// The largest per-subscriber event queue.
pub const MAX_EVENT_QUEUE_CAPACITY: usize = 1 << 20;

/// The longest metadata key, in bytes (keys must also be non-empty).
pub const MAX_METADATA_KEY_BYTES: usize = 128;

/// The longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_BYTES: usize = 1024;

/// The most metadata entries one connection carries.
pub const MAX_METADATA_ENTRIES: usize = 32;

/// The most bytes of metadata (keys plus values) one connection carries.
pub const MAX_METADATA_TOTAL_BYTES: usize = 8 * 1024;

/// The default progressive backoff factor (SPEC §4).
const DEFAULT_BACKOFF_FACTOR: f64 = 2.0;

/// How many times `expiry` the default progressive cap is (SPEC §4).
const DEFAULT_MAX_EXPIRY_MULTIPLE: u32 = 10;

/// How long an opened circuit stays open (SPEC §2 rule 6).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::ExpiryStrategy;
///
/// let s = ExpiryStrategy::progressive(Duration::from_secs(5));
/// assert_eq!(
///     s,
///     ExpiryStrategy::Progressive {
///         initial: Duration::from_secs(5),
///         max: Duration::from_secs(50),
///         factor: 2.0,
///     }
/// );
/// assert_eq!(ExpiryStrategy::default(), ExpiryStrategy::Fixed);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ExpiryStrategy {
    /// Always `expiry` (the default).
    #[default]
    Fixed,
    /// `min(max, initial * factor ^ (consecutive_trips - 1))`, where consecutive trips
    /// counts opens since the circuit was last closed.
    Progressive {
        /// The open duration of the first trip; must be greater than zero.
        initial: Duration,
        /// The cap; must be at least `initial`.
        max: Duration,
        /// The growth per consecutive trip; finite and at least 1.0.
        factor: f64,
    },
}

impl ExpiryStrategy {
    /// The progressive strategy with the SPEC §4 defaults derived from `expiry`:
    /// initial `expiry`, max `10 × expiry` (capped at [`MAX_DURATION`]), factor 2.0.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_core::{Config, ExpiryStrategy};
    ///
    /// let config = Config {
    ///     strategy: ExpiryStrategy::progressive(Duration::from_secs(1)),
    ///     ..Config::default()
    /// };
    /// assert_eq!(config.open_duration(3), Duration::from_secs(4));
    /// ```
    pub fn progressive(expiry: Duration) -> ExpiryStrategy {
        ExpiryStrategy::Progressive {
            initial: expiry,
            max: expiry
                .saturating_mul(DEFAULT_MAX_EXPIRY_MULTIPLE)
                .min(MAX_DURATION),
            factor: DEFAULT_BACKOFF_FACTOR,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        match *self {
            ExpiryStrategy::Fixed => Ok(()),
            ExpiryStrategy::Progressive {
                initial,
                max,
                factor,
            } => {
                check_duration("expiry_strategy.initial", initial)?;
                check_duration("expiry_strategy.max", max)?;
                if max < initial {
                    return Err(Error::invalid_config(
                        "expiry_strategy.max",
                        format!(
                            "must be at least expiry_strategy.initial ({initial:?}), got {max:?}"
                        ),
                    ));
                }
                if !factor.is_finite() || factor < 1.0 {
                    return Err(Error::invalid_config(
                        "expiry_strategy.factor",
                        format!("must be a finite number of at least 1.0, got {factor}"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The resolved configuration of one connection: the registry defaults with its
/// overrides applied.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::Config;
///
/// let config = Config::default();
/// assert_eq!(config.failure_threshold, 5);
/// assert_eq!(config.expiry, Duration::from_secs(60));
/// assert_eq!(config.probe_timeout(), Duration::from_secs(60));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Consecutive failures that open the circuit; at least 1.
    pub failure_threshold: u32,
    /// The open duration under [`ExpiryStrategy::Fixed`], and the probe timeout when
    /// none is set.
    pub expiry: Duration,
    /// How the open duration is chosen.
    pub strategy: ExpiryStrategy,
    /// The fraction in [0, 1) by which open durations are spread at random.
    pub jitter: f64,
    /// How many probe calls a half-open circuit admits at once; 1 to
    /// [`MAX_HALF_OPEN_PROBES`].
    pub half_open_probes: u32,
    /// How long a probe may go without reporting before its slot is freed;
    /// `None` means equal to `expiry`.
    pub probe_timeout: Option<Duration>,
}

impl Default for Config {
    /// The SPEC §4 defaults: threshold 5, expiry 60 s fixed, no jitter, one probe,
    /// probe timeout equal to expiry.
    fn default() -> Config {
        Config {
            failure_threshold: 5,
            expiry: Duration::from_secs(60),
            strategy: ExpiryStrategy::Fixed,
            jitter: 0.0,
            half_open_probes: 1,
            probe_timeout: None,
        }
    }
}

impl Config {
    /// Checks every field against the SPEC §7 rules.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field that breaks its rule:
    /// `failure_threshold` below 1; `expiry` or `probe_timeout` zero or above
    /// [`MAX_DURATION`]; a progressive `expiry_strategy.initial` or
    /// `expiry_strategy.max` out of that range, a max below initial, or an
    /// `expiry_strategy.factor` below 1.0 or not finite; `jitter` outside [0, 1);
    /// `half_open_probes` outside 1 to [`MAX_HALF_OPEN_PROBES`].
    pub fn validate(&self) -> Result<(), Error> {
        check_failure_threshold(self.failure_threshold)?;
        check_duration("expiry", self.expiry)?;
        self.strategy.validate()?;
        check_jitter(self.jitter)?;
        check_half_open_probes(self.half_open_probes)?;
        if let Some(timeout) = self.probe_timeout {
            check_duration("probe_timeout", timeout)?;
        }
        Ok(())
    }

    /// The open duration for the `consecutive_trips`-th consecutive trip (0 is taken
    /// as 1), before jitter.
    ///
    /// Fixed: `expiry`. Progressive: `min(max, initial * factor ^ (n - 1))`, saturating
    /// at `max` for any `n` without overflow or panic. On a config that was never
    /// validated, a factor that is NaN or below 1.0 is taken as 1.0.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_core::{Config, ExpiryStrategy};
    ///
    /// let config = Config {
    ///     strategy: ExpiryStrategy::Progressive {
    ///         initial: Duration::from_secs(1),
    ///         max: Duration::from_secs(3),
    ///         factor: 2.0,
    ///     },
    ///     ..Config::default()
    /// };
    /// assert_eq!(config.open_duration(1), Duration::from_secs(1));
    /// assert_eq!(config.open_duration(2), Duration::from_secs(2));
    /// assert_eq!(config.open_duration(3), Duration::from_secs(3)); // capped
    /// assert_eq!(config.open_duration(u32::MAX), Duration::from_secs(3));
    /// ```
    pub fn open_duration(&self, consecutive_trips: u32) -> Duration {
        match self.strategy {
            ExpiryStrategy::Fixed => self.expiry,
            ExpiryStrategy::Progressive {
                initial,
                max,
                factor,
            } => progressive_duration(initial, max, factor, consecutive_trips),
        }
    }

    /// `d` spread by the jitter: `d * (1 + jitter * (2u - 1))` for a uniform sample
    /// `u` in [0, 1), so the result lies in `[d * (1 - jitter), d * (1 + jitter)]`.
    ///
    /// With jitter 0 (or `u` = 0.5) the result is exactly `d`. It is never below 1 ns
    /// and never panics: `u` outside [0, 1] is clamped (NaN is taken as 0.5), and on a
    /// config that was never validated a jitter that is NaN or not positive means none
    /// and one above 1 is taken as 1.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_core::Config;
    ///
    /// let config = Config { jitter: 0.1, ..Config::default() };
    /// let d = Duration::from_secs(10);
    /// assert_eq!(config.jittered(d, 0.0), Duration::from_secs(9));
    /// assert_eq!(config.jittered(d, 0.5), d);
    /// assert_eq!(Config::default().jittered(d, 0.9), d);
    /// ```
    pub fn jittered(&self, d: Duration, u: f64) -> Duration {
        let jitter = self.jitter;
        if jitter.is_nan() || jitter <= 0.0 {
            return d;
        }
        let jitter = jitter.min(1.0);
        let u = if u.is_nan() { 0.5 } else { u.clamp(0.0, 1.0) };
        let signed = 2.0 * u - 1.0;
        // |signed| <= 1 and jitter <= 1, so the spread is at most `d`.
        let spread = scale(d, jitter * signed.abs());
        let out = if signed >= 0.0 {
            d.saturating_add(spread)
        } else {
            d.saturating_sub(spread)
        };
        out.max(Duration::from_nanos(1))
    }

    /// The probe timeout in force: the explicit one, or `expiry`.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_core::Config;
    ///
    /// let config = Config { expiry: Duration::from_secs(5), ..Config::default() };
    /// assert_eq!(config.probe_timeout(), Duration::from_secs(5));
    /// let config = Config { probe_timeout: Some(Duration::from_secs(1)), ..config };
    /// assert_eq!(config.probe_timeout(), Duration::from_secs(1));
    /// ```
    pub fn probe_timeout(&self) -> Duration {
        self.probe_timeout.unwrap_or(self.expiry)
    }
}

/// `min(max, initial * factor ^ (n - 1))` without overflow or panic.
fn progressive_duration(initial: Duration, max: Duration, factor: f64, n: u32) -> Duration {
    let steps = n.max(1) - 1;
    // A factor of 1.0 (or, unvalidated, NaN or one below it) never grows the duration.
    if steps == 0 || factor.is_nan() || factor <= 1.0 {
        return initial.min(max);
    }
    // Infinite (a huge step or factor) saturates at `max` inside `scale`.
    let multiplier = factor.powf(f64::from(steps));
    scale(initial, multiplier).min(max)
}

/// `d * k` for a non-negative `k`, saturating at `Duration::MAX`; never panics.
/// A NaN or negative `k` gives zero.
fn scale(d: Duration, k: f64) -> Duration {
    if k.is_nan() || k <= 0.0 {
        return Duration::ZERO;
    }
    let secs = d.as_secs_f64() * k;
    // Too large (or infinite) to represent, or not finite: saturate.
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// Per-connection overrides and metadata; also the argument of `configure` and
/// `configure_defaults`.
///
/// Every field is optional: a connection follows the registry defaults, live, for
/// every field it does not set. Setters consume and return `self`; nothing is checked
/// until [`Options::validate`] or [`Options::apply`], which the registry calls.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::{Config, Options};
///
/// let options = Options::new()
///     .failure_threshold(3)
///     .expiry(Duration::from_secs(10))
///     .metadata("team", "billing");
/// assert!(options.validate().is_ok());
///
/// let config = options.apply(&Config::default())?;
/// assert_eq!(config.failure_threshold, 3);
/// assert_eq!(config.expiry, Duration::from_secs(10));
/// assert_eq!(config.half_open_probes, 1); // not set: the default
/// assert_eq!(options.metadata_map()["team"], "billing");
/// # Ok::<(), brama_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    failure_threshold: Option<u32>,
    expiry: Option<Duration>,
    expiry_strategy: Option<ExpiryStrategy>,
    jitter: Option<f64>,
    half_open_probes: Option<u32>,
    probe_timeout: Option<Duration>,
    metadata: BTreeMap<String, String>,
}

impl Options {
    /// No overrides and no metadata.
    pub fn new() -> Options {
        Options::default()
    }

    /// Adds a metadata entry, replacing any earlier value for the same key.
    ///
    /// Limits (checked by [`Options::validate`]): keys of 1 to
    /// [`MAX_METADATA_KEY_BYTES`] bytes, values of at most
    /// [`MAX_METADATA_VALUE_BYTES`], at most [`MAX_METADATA_ENTRIES`] entries and
    /// [`MAX_METADATA_TOTAL_BYTES`] in all.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Options {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Consecutive failures that open the circuit; at least 1.
    pub fn failure_threshold(mut self, n: u32) -> Options {
        self.failure_threshold = Some(n);
        self
    }

    /// The fixed open duration (and the probe timeout when none is set); greater than
    /// zero and at most [`MAX_DURATION`].
    pub fn expiry(mut self, d: Duration) -> Options {
        self.expiry = Some(d);
        self
    }

    /// How the open duration is chosen.
    pub fn expiry_strategy(mut self, s: ExpiryStrategy) -> Options {
        self.expiry_strategy = Some(s);
        self
    }

    /// The fraction in [0, 1) by which open durations are spread at random.
    pub fn jitter(mut self, j: f64) -> Options {
        self.jitter = Some(j);
        self
    }

    /// How many probe calls a half-open circuit admits at once; 1 to
    /// [`MAX_HALF_OPEN_PROBES`].
    pub fn half_open_probes(mut self, n: u32) -> Options {
        self.half_open_probes = Some(n);
        self
    }

    /// How long a probe may go without reporting before its slot is freed; greater
    /// than zero and at most [`MAX_DURATION`].
    pub fn probe_timeout(mut self, d: Duration) -> Options {
        self.probe_timeout = Some(d);
        self
    }

    /// The failure threshold, if set.
    pub fn failure_threshold_value(&self) -> Option<u32> {
        self.failure_threshold
    }

    /// The fixed expiry, if set.
    pub fn expiry_value(&self) -> Option<Duration> {
        self.expiry
    }

    /// The expiry strategy, if set.
    pub fn expiry_strategy_value(&self) -> Option<ExpiryStrategy> {
        self.expiry_strategy
    }

    /// The jitter, if set.
    pub fn jitter_value(&self) -> Option<f64> {
        self.jitter
    }

    /// The number of half-open probes, if set.
    pub fn half_open_probes_value(&self) -> Option<u32> {
        self.half_open_probes
    }

    /// The probe timeout, if set.
    pub fn probe_timeout_value(&self) -> Option<Duration> {
        self.probe_timeout
    }

    /// A copy of the metadata, sorted by key.
    pub fn metadata_map(&self) -> BTreeMap<String, String> {
        self.metadata.clone()
    }

    /// The same overrides without the metadata.
    pub fn without_metadata(&self) -> Options {
        Options {
            metadata: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// True when no field is set and there is no metadata.
    pub fn is_empty(&self) -> bool {
        self.failure_threshold.is_none()
            && self.expiry.is_none()
            && self.expiry_strategy.is_none()
            && self.jitter.is_none()
            && self.half_open_probes.is_none()
            && self.probe_timeout.is_none()
            && self.metadata.is_empty()
    }

    /// Checks every field that is set, and the metadata limits.
    ///
    /// Rules that involve two fields (none at present beyond those inside a
    /// progressive strategy) are checked by [`Options::apply`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field that breaks its rule (see
    /// [`Config::validate`]), or `metadata` when an entry or the whole exceeds the
    /// limits documented on [`Options::metadata`].
    ///
    /// # Examples
    /// ```
    /// use brama_core::{Error, Options};
    ///
    /// let err = Options::new().failure_threshold(0).validate().unwrap_err();
    /// assert!(matches!(err, Error::InvalidConfig { field: "failure_threshold", .. }));
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(n) = self.failure_threshold {
            check_failure_threshold(n)?;
        }
        if let Some(d) = self.expiry {
            check_duration("expiry", d)?;
        }
        if let Some(s) = self.expiry_strategy {
            s.validate()?;
        }
        if let Some(j) = self.jitter {
            check_jitter(j)?;
        }
        if let Some(n) = self.half_open_probes {
            check_half_open_probes(n)?;
        }
        if let Some(d) = self.probe_timeout {
            check_duration("probe_timeout", d)?;
        }
        check_metadata(&self.metadata)
    }

    /// The config that results from applying the set fields over `base`, validated as
    /// a whole. The metadata limits are checked too, so a registry can call this alone.
    ///
    /// # Errors
    /// Anything [`Options::validate`] rejects, and anything [`Config::validate`]
    /// rejects in the combined config (for instance an invalid `base`).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_core::{Config, Options};
    ///
    /// let base = Config::default();
    /// let config = Options::new().jitter(0.2).apply(&base)?;
    /// assert_eq!(config, Config { jitter: 0.2, ..base });
    /// # Ok::<(), brama_core::Error>(())
    /// ```
    pub fn apply(&self, base: &Config) -> Result<Config, Error> {
        self.validate()?;
        let config = Config {
            failure_threshold: self.failure_threshold.unwrap_or(base.failure_threshold),
            expiry: self.expiry.unwrap_or(base.expiry),
            strategy: self.expiry_strategy.unwrap_or(base.strategy),
            jitter: self.jitter.unwrap_or(base.jitter),
            half_open_probes: self.half_open_probes.unwrap_or(base.half_open_probes),
            probe_timeout: self.probe_timeout.or(base.probe_timeout),
        };
        config.validate()?;
        Ok(config)
    }

    /// `self` with every field that `newer` sets replaced by `newer`'s; `newer`'s
    /// metadata entries are added, overwriting entries with the same key. Nothing is
    /// ever unset or removed.
    ///
    /// # Examples
    /// ```
    /// use brama_core::Options;
    ///
    /// let old = Options::new().failure_threshold(3).jitter(0.1).metadata("a", "1");
    /// let new = Options::new().failure_threshold(7).metadata("a", "2").metadata("b", "3");
    /// let merged = old.overlay(&new);
    /// assert_eq!(merged.failure_threshold_value(), Some(7));
    /// assert_eq!(merged.jitter_value(), Some(0.1));
    /// assert_eq!(merged.metadata_map().len(), 2);
    /// assert_eq!(merged.metadata_map()["a"], "2");
    /// ```
    pub fn overlay(&self, newer: &Options) -> Options {
        let mut metadata = self.metadata.clone();
        metadata.extend(newer.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        Options {
            failure_threshold: newer.failure_threshold.or(self.failure_threshold),
            expiry: newer.expiry.or(self.expiry),
            expiry_strategy: newer.expiry_strategy.or(self.expiry_strategy),
            jitter: newer.jitter.or(self.jitter),
            half_open_probes: newer.half_open_probes.or(self.half_open_probes),
            probe_timeout: newer.probe_timeout.or(self.probe_timeout),
            metadata,
        }
    }
}

/// How long a manual open lasts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpenDuration {
    /// The connection's current open duration, as if it had tripped (the default).
    #[default]
    Current,
    /// The given duration; greater than zero and at most [`MAX_DURATION`].
    For(Duration),
    /// Until closed (or reset) by hand; neither time nor the janitor moves it to
    /// half-open.
    Indefinitely,
}

/// Options for a manual open (`open_circuit`, SPEC §2 rule 7).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::{OpenDuration, OpenOptions};
///
/// let options = OpenOptions::new()
///     .reason("maintenance")
///     .duration(Duration::from_secs(30));
/// assert!(options.validate().is_ok());
/// assert_eq!(options.reason_str(), Some("maintenance"));
/// assert_eq!(options.open_duration(), OpenDuration::For(Duration::from_secs(30)));
/// assert_eq!(OpenOptions::new().open_duration(), OpenDuration::Current);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenOptions {
    reason: Option<String>,
    duration: OpenDuration,
}

impl OpenOptions {
    /// Open for the current open duration, without a reason.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// The reason, carried in the `StateChanged` event.
    pub fn reason(mut self, reason: impl Into<String>) -> OpenOptions {
        self.reason = Some(reason.into());
        self
    }

    /// Open for `d` instead of the current open duration; greater than zero and at
    /// most [`MAX_DURATION`]. Replaces an earlier [`OpenOptions::indefinitely`].
    pub fn duration(mut self, d: Duration) -> OpenOptions {
        self.duration = OpenDuration::For(d);
        self
    }

    /// Open until closed by hand. Replaces an earlier [`OpenOptions::duration`].
    pub fn indefinitely(mut self) -> OpenOptions {
        self.duration = OpenDuration::Indefinitely;
        self
    }

    /// Checks the duration, if one was given.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] with field `duration` when it is zero or above
    /// [`MAX_DURATION`].
    pub fn validate(&self) -> Result<(), Error> {
        match self.duration {
            OpenDuration::For(d) => check_duration("duration", d),
            OpenDuration::Current | OpenDuration::Indefinitely => Ok(()),
        }
    }

    /// The reason, if one was given.
    pub fn reason_str(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// How long the open lasts.
    pub fn open_duration(&self) -> OpenDuration {
        self.duration
    }
}

/// Registry-wide settings that are not per connection; the `Brama` builder fills
/// them in.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::Settings;
///
/// let settings = Settings { max_connections: Some(100_000), ..Settings::default() };
/// assert!(settings.validate().is_ok());
/// assert_eq!(settings.cleanup_interval, Duration::from_secs(10));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The janitor's period; greater than zero and at most [`MAX_DURATION`].
    pub cleanup_interval: Duration,
    /// How long a connection may go without activity before the janitor evicts it;
    /// greater than zero and at most [`MAX_DURATION`].
    pub inactive_threshold: Duration,
    /// The most connections the registry holds; `None` is unbounded. `Some(0)` is
    /// rejected.
    pub max_connections: Option<usize>,
    /// Whether unknown keys are registered, with the defaults, on first use.
    pub auto_register: bool,
    /// Events each subscriber's queue holds; 1 to [`MAX_EVENT_QUEUE_CAPACITY`].
    pub event_queue_capacity: usize,
}

impl Default for Settings {
    /// The SPEC §4 defaults: sweep every 10 s, evict after 24 h inactive, unbounded,
    /// no auto-registration, 1024 events per subscriber.
    fn default() -> Settings {
        Settings {
            cleanup_interval: Duration::from_secs(10),
            inactive_threshold: Duration::from_secs(24 * 60 * 60),
            max_connections: None,
            auto_register: false,
            event_queue_capacity: 1024,
        }
    }
}

impl Settings {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field that breaks its rule:
    /// `cleanup_interval` or `inactive_threshold` zero or above [`MAX_DURATION`],
    /// `max_connections` of `Some(0)`, `event_queue_capacity` outside 1 to
    /// [`MAX_EVENT_QUEUE_CAPACITY`].
    pub fn validate(&self) -> Result<(), Error> {
        check_duration("cleanup_interval", self.cleanup_interval)?;
        check_duration("inactive_threshold", self.inactive_threshold)?;
        if self.max_connections == Some(0) {
            return Err(Error::invalid_config(
                "max_connections",
                "must be at least 1 (leave it unset for no limit), got 0",
            ));
        }
        if !(1..=MAX_EVENT_QUEUE_CAPACITY).contains(&self.event_queue_capacity) {
            return Err(Error::invalid_config(
                "event_queue_capacity",
                format!(
                    "must be between 1 and {MAX_EVENT_QUEUE_CAPACITY}, got {}",
                    self.event_queue_capacity
                ),
            ));
        }
        Ok(())
    }
}

fn check_failure_threshold(n: u32) -> Result<(), Error> {
    if n == 0 {
        return Err(Error::invalid_config(
            "failure_threshold",
            "must be at least 1, got 0",
        ));
    }
    Ok(())
}

fn check_duration(field: &'static str, d: Duration) -> Result<(), Error> {
    if d.is_zero() {
        return Err(Error::invalid_config(
            field,
            "must be greater than zero, got 0ns",
        ));
    }
    if d > MAX_DURATION {
        return Err(Error::invalid_config(
            field,
            format!("must be at most 100 years ({MAX_DURATION:?}), got {d:?}"),
        ));
    }
    Ok(())
}

fn check_jitter(j: f64) -> Result<(), Error> {
    if !(0.0..1.0).contains(&j) {
        return Err(Error::invalid_config(
            "jitter",
            format!("must be a fraction in [0, 1), got {j}"),
        ));
    }
    Ok(())
}

fn check_half_open_probes(n: u32) -> Result<(), Error> {
    if !(1..=MAX_HALF_OPEN_PROBES).contains(&n) {
        return Err(Error::invalid_config(
            "half_open_probes",
            format!(
                "must be between 1 and {MAX_HALF_OPEN_PROBES} (the in-flight probe count is \
                 kept in 16 bits), got {n}"
            ),
        ));
    }
    Ok(())
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), Error> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(Error::invalid_config(
            "metadata",
            format!(
                "at most {MAX_METADATA_ENTRIES} entries are allowed, got {}",
                metadata.len()
            ),
        ));
    }
    let mut total = 0usize;
    for (key, value) in metadata {
        if key.is_empty() {
            return Err(Error::invalid_config(
                "metadata",
                format!("keys must be 1 to {MAX_METADATA_KEY_BYTES} bytes, got an empty key"),
            ));
        }
        if key.len() > MAX_METADATA_KEY_BYTES {
            return Err(Error::invalid_config(
                "metadata",
                format!(
                    "keys must be 1 to {MAX_METADATA_KEY_BYTES} bytes, got a key of {} bytes",
                    key.len()
                ),
            ));
        }
        if value.len() > MAX_METADATA_VALUE_BYTES {
            return Err(Error::invalid_config(
                "metadata",
                format!(
                    "values must be at most {MAX_METADATA_VALUE_BYTES} bytes, got {} bytes for \
                     key {key:?}",
                    value.len()
                ),
            ));
        }
        total += key.len() + value.len();
    }
    if total > MAX_METADATA_TOTAL_BYTES {
        return Err(Error::invalid_config(
            "metadata",
            format!(
                "keys and values together must be at most {MAX_METADATA_TOTAL_BYTES} bytes, \
                 got {total}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: Duration = Duration::from_nanos(1);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The field of an `InvalidConfig` error, failing the test on anything else.
    fn field_of(result: Result<impl std::fmt::Debug, Error>) -> &'static str {
        match result {
            Err(Error::InvalidConfig { field, reason }) => {
                assert!(!reason.is_empty());
                field
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    fn progressive(initial: Duration, max: Duration, factor: f64) -> Config {
        Config {
            strategy: ExpiryStrategy::Progressive {
                initial,
                max,
                factor,
            },
            ..Config::default()
        }
    }

    // ---- defaults -------------------------------------------------------------

    #[test]
    fn defaults_match_spec() {
        let c = Config::default();
        assert_eq!(c.failure_threshold, 5);
        assert_eq!(c.expiry, secs(60));
        assert_eq!(c.strategy, ExpiryStrategy::Fixed);
        assert_eq!(c.jitter, 0.0);
        assert_eq!(c.half_open_probes, 1);
        assert_eq!(c.probe_timeout, None);
        assert_eq!(c.probe_timeout(), secs(60));
        c.validate().unwrap();

        let s = Settings::default();
        assert_eq!(s.cleanup_interval, secs(10));
        assert_eq!(s.inactive_threshold, secs(24 * 3600));
        assert_eq!(s.max_connections, None);
        assert!(!s.auto_register);
        assert_eq!(s.event_queue_capacity, 1024);
        s.validate().unwrap();

        assert!(Options::new().is_empty());
        Options::new().validate().unwrap();
        OpenOptions::new().validate().unwrap();
    }

    #[test]
    fn progressive_defaults_derive_from_expiry() {
        assert_eq!(
            ExpiryStrategy::progressive(secs(60)),
            ExpiryStrategy::Progressive {
                initial: secs(60),
                max: secs(600),
                factor: 2.0
            }
        );
        // The default cap never exceeds MAX_DURATION, so a valid expiry stays valid.
        let s = ExpiryStrategy::progressive(MAX_DURATION / 2);
        assert_eq!(
            s,
            ExpiryStrategy::Progressive {
                initial: MAX_DURATION / 2,
                max: MAX_DURATION,
                factor: 2.0
            }
        );
        Options::new().expiry_strategy(s).validate().unwrap();
        // No overflow for the largest Duration.
        let _ = ExpiryStrategy::progressive(Duration::MAX);
    }

    #[test]
    fn max_duration_is_100_years() {
        assert_eq!(MAX_DURATION, secs(3_153_600_000));
    }

    // ---- failure_threshold ----------------------------------------------------

    #[test]
    fn failure_threshold_zero_rejected() {
        assert_eq!(
            field_of(Options::new().failure_threshold(0).validate()),
            "failure_threshold"
        );
        let c = Config {
            failure_threshold: 0,
            ..Config::default()
        };
        assert_eq!(field_of(c.validate()), "failure_threshold");
    }

    #[test]
    fn failure_threshold_reason_says_what_is_allowed() {
        match Options::new().failure_threshold(0).validate() {
            Err(Error::InvalidConfig { reason, .. }) => {
                assert_eq!(reason, "must be at least 1, got 0")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failure_threshold_boundaries_accepted() {
        for n in [1, u32::MAX] {
            Options::new().failure_threshold(n).validate().unwrap();
            let c = Options::new()
                .failure_threshold(n)
                .apply(&Config::default())
                .unwrap();
            assert_eq!(c.failure_threshold, n);
        }
    }

    // ---- half_open_probes -----------------------------------------------------

    #[test]
    fn half_open_probes_out_of_range_rejected() {
        for n in [0, MAX_HALF_OPEN_PROBES + 1, u32::MAX] {
            assert_eq!(
                field_of(Options::new().half_open_probes(n).validate()),
                "half_open_probes"
            );
        }
        match Options::new().half_open_probes(70_000).validate() {
            Err(Error::InvalidConfig { reason, .. }) => {
                assert!(reason.contains("16 bits"), "{reason}");
                assert!(reason.contains("65535"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn half_open_probes_boundaries_accepted() {
        for n in [1, 65_535] {
            Options::new().half_open_probes(n).validate().unwrap();
        }
    }

    // ---- durations ------------------------------------------------------------

    #[test]
    fn zero_durations_rejected() {
        assert_eq!(
            field_of(Options::new().expiry(Duration::ZERO).validate()),
            "expiry"
        );
        assert_eq!(
            field_of(Options::new().probe_timeout(Duration::ZERO).validate()),
            "probe_timeout"
        );
        assert_eq!(
            field_of(OpenOptions::new().duration(Duration::ZERO).validate()),
            "duration"
        );
        let s = Settings {
            cleanup_interval: Duration::ZERO,
            ..Settings::default()
        };
        assert_eq!(field_of(s.validate()), "cleanup_interval");
        let s = Settings {
            inactive_threshold: Duration::ZERO,
            ..Settings::default()
        };
        assert_eq!(field_of(s.validate()), "inactive_threshold");
    }

    #[test]
    fn durations_above_max_rejected() {
        let over = MAX_DURATION + NS;
        assert_eq!(field_of(Options::new().expiry(over).validate()), "expiry");
        assert_eq!(
            field_of(Options::new().probe_timeout(over).validate()),
            "probe_timeout"
        );
        assert_eq!(
            field_of(OpenOptions::new().duration(over).validate()),
            "duration"
        );
        assert_eq!(
            field_of(OpenOptions::new().duration(Duration::MAX).validate()),
            "duration"
        );
        let s = Settings {
            cleanup_interval: over,
            ..Settings::default()
        };
        assert_eq!(field_of(s.validate()), "cleanup_interval");
        let s = Settings {
            inactive_threshold: over,
            ..Settings::default()
        };
        assert_eq!(field_of(s.validate()), "inactive_threshold");
    }

    #[test]
    fn duration_boundaries_accepted() {
        for d in [NS, MAX_DURATION] {
            Options::new()
                .expiry(d)
                .probe_timeout(d)
                .validate()
                .unwrap();
            OpenOptions::new().duration(d).validate().unwrap();
            Settings {
                cleanup_interval: d,
                inactive_threshold: d,
                ..Settings::default()
            }
            .validate()
            .unwrap();
            Options::new()
                .expiry_strategy(ExpiryStrategy::Progressive {
                    initial: d,
                    max: d,
                    factor: 1.0,
                })
                .validate()
                .unwrap();
        }
    }

    #[test]
    fn config_probe_timeout_validated() {
        let c = Config {
            probe_timeout: Some(Duration::ZERO),
            ..Config::default()
        };
        assert_eq!(field_of(c.validate()), "probe_timeout");
        let c = Config {
            expiry: MAX_DURATION + NS,
            ..Config::default()
        };
        assert_eq!(field_of(c.validate()), "expiry");
    }

    // ---- progressive strategy -------------------------------------------------

    #[test]
    fn progressive_initial_zero_rejected() {
        let s = ExpiryStrategy::Progressive {
            initial: Duration::ZERO,
            max: secs(10),
            factor: 2.0,
        };
        assert_eq!(
            field_of(Options::new().expiry_strategy(s).validate()),
            "expiry_strategy.initial"
        );
    }

    #[test]
    fn progressive_above_max_duration_rejected() {
        let s = ExpiryStrategy::Progressive {
            initial: secs(1),
            max: MAX_DURATION + NS,
            factor: 2.0,
        };
        assert_eq!(
            field_of(Options::new().expiry_strategy(s).validate()),
            "expiry_strategy.max"
        );
    }

    #[test]
    fn progressive_max_below_initial_rejected() {
        let s = ExpiryStrategy::Progressive {
            initial: secs(10),
            max: secs(10) - NS,
            factor: 2.0,
        };
        assert_eq!(
            field_of(Options::new().expiry_strategy(s).validate()),
            "expiry_strategy.max"
        );
        assert_eq!(
            field_of(progressive(secs(10), secs(5), 2.0).validate()),
            "expiry_strategy.max"
        );
    }

    #[test]
    fn progressive_bad_factor_rejected() {
        for factor in [0.999, 0.0, -2.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let s = ExpiryStrategy::Progressive {
                initial: secs(1),
                max: secs(10),
                factor,
            };
            assert_eq!(
                field_of(Options::new().expiry_strategy(s).validate()),
                "expiry_strategy.factor",
                "factor {factor}"
            );
        }
    }

    #[test]
    fn progressive_factor_boundaries_accepted() {
        for factor in [1.0, f64::MAX] {
            progressive(secs(1), secs(10), factor).validate().unwrap();
        }
    }

    // ---- jitter ---------------------------------------------------------------

    #[test]
    fn jitter_out_of_range_rejected() {
        for j in [
            -0.0001,
            1.0,
            1.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(
                field_of(Options::new().jitter(j).validate()),
                "jitter",
                "jitter {j}"
            );
        }
    }

    #[test]
    fn jitter_boundaries_accepted() {
        for j in [0.0, 0.999] {
            Options::new().jitter(j).validate().unwrap();
        }
    }

    // ---- settings -------------------------------------------------------------

    #[test]
    fn max_connections_zero_rejected() {
        let s = Settings {
            max_connections: Some(0),
            ..Settings::default()
        };
        assert_eq!(field_of(s.validate()), "max_connections");
        for max in [None, Some(1), Some(usize::MAX)] {
            Settings {
                max_connections: max,
                ..Settings::default()
            }
            .validate()
            .unwrap();
        }
    }

    #[test]
    fn event_queue_capacity_range() {
        for cap in [0, MAX_EVENT_QUEUE_CAPACITY + 1, usize::MAX] {
            let s = Settings {
                event_queue_capacity: cap,
                ..Settings::default()
            };
            assert_eq!(field_of(s.validate()), "event_queue_capacity");
        }
        for cap in [1, 1_048_576] {
            Settings {
                event_queue_capacity: cap,
                ..Settings::default()
            }
            .validate()
            .unwrap();
        }
    }

    // ---- metadata -------------------------------------------------------------

    #[test]
    fn metadata_key_limits() {
        assert_eq!(
            field_of(Options::new().metadata("", "v").validate()),
            "metadata"
        );
        let long = "k".repeat(MAX_METADATA_KEY_BYTES + 1);
        assert_eq!(
            field_of(Options::new().metadata(long, "v").validate()),
            "metadata"
        );
        Options::new()
            .metadata("k".repeat(MAX_METADATA_KEY_BYTES), "v")
            .metadata("x", "v")
            .validate()
            .unwrap();
    }

    #[test]
    fn metadata_value_limits() {
        let long = "v".repeat(MAX_METADATA_VALUE_BYTES + 1);
        match Options::new().metadata("k", long).validate() {
            Err(Error::InvalidConfig { field, reason }) => {
                assert_eq!(field, "metadata");
                assert!(reason.contains("1024"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        Options::new()
            .metadata("k", "v".repeat(MAX_METADATA_VALUE_BYTES))
            .metadata("empty", "")
            .validate()
            .unwrap();
    }

    #[test]
    fn metadata_entry_count_limit() {
        let mut o = Options::new();
        for i in 0..MAX_METADATA_ENTRIES {
            o = o.metadata(format!("k{i}"), "v");
        }
        o.validate().unwrap();
        // Re-setting an existing key does not add an entry.
        o = o.metadata("k0", "w");
        o.validate().unwrap();
        o = o.metadata("one-too-many", "v");
        match o.validate() {
            Err(Error::InvalidConfig { field, reason }) => {
                assert_eq!(field, "metadata");
                assert!(reason.contains("32"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn metadata_total_size_limit() {
        // 8 entries of a 2-byte key and a 1022-byte value: 8 * 1024 = 8192 bytes.
        let mut o = Options::new();
        for i in 0..8 {
            o = o.metadata(format!("k{i}"), "v".repeat(1022));
        }
        o.validate().unwrap();
        let o = o.metadata("z", "");
        match o.validate() {
            Err(Error::InvalidConfig { field, reason }) => {
                assert_eq!(field, "metadata");
                assert!(reason.contains("8192"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn apply_checks_metadata() {
        let o = Options::new().metadata("", "v");
        assert_eq!(field_of(o.apply(&Config::default())), "metadata");
    }

    // ---- open options ---------------------------------------------------------

    #[test]
    fn open_options_builders() {
        let o = OpenOptions::new();
        assert_eq!(o.reason_str(), None);
        assert_eq!(o.open_duration(), OpenDuration::Current);
        let o = o.reason("maintenance").indefinitely();
        assert_eq!(o.reason_str(), Some("maintenance"));
        assert_eq!(o.open_duration(), OpenDuration::Indefinitely);
        o.validate().unwrap();
        let o = o.duration(secs(30));
        assert_eq!(o.open_duration(), OpenDuration::For(secs(30)));
        assert_eq!(o.indefinitely().open_duration(), OpenDuration::Indefinitely);
    }

    // ---- open_duration --------------------------------------------------------

    #[test]
    fn open_duration_fixed_is_expiry() {
        let c = Config {
            expiry: secs(7),
            ..Config::default()
        };
        for n in [0, 1, 2, 100, u32::MAX] {
            assert_eq!(c.open_duration(n), secs(7));
        }
    }

    #[test]
    fn open_duration_progressive_steps() {
        let c = progressive(secs(1), secs(100), 2.0);
        assert_eq!(c.open_duration(0), secs(1));
        assert_eq!(c.open_duration(1), secs(1));
        assert_eq!(c.open_duration(2), secs(2));
        assert_eq!(c.open_duration(3), secs(4));
        assert_eq!(c.open_duration(7), secs(64));
    }

    #[test]
    fn open_duration_progressive_capped_at_max() {
        let c = progressive(secs(1), secs(5), 2.0);
        assert_eq!(c.open_duration(3), secs(4));
        assert_eq!(c.open_duration(4), secs(5));
        assert_eq!(c.open_duration(5), secs(5));
        assert_eq!(c.open_duration(1_000), secs(5));
    }

    #[test]
    fn open_duration_huge_n_saturates_without_panic() {
        let c = progressive(secs(1), MAX_DURATION, 2.0);
        assert_eq!(c.open_duration(u32::MAX), MAX_DURATION);
        let c = progressive(NS, secs(1), 1.000_000_1);
        assert_eq!(c.open_duration(u32::MAX), secs(1));
        let c = progressive(MAX_DURATION, MAX_DURATION, f64::MAX);
        assert_eq!(c.open_duration(u32::MAX), MAX_DURATION);
        assert_eq!(c.open_duration(2), MAX_DURATION);
    }

    #[test]
    fn open_duration_factor_one_stays_initial() {
        let c = progressive(secs(3), secs(30), 1.0);
        for n in [1, 2, 3, 1_000, u32::MAX] {
            assert_eq!(c.open_duration(n), secs(3));
        }
    }

    #[test]
    fn open_duration_never_panics_on_unvalidated_config() {
        let weird = [
            (Duration::ZERO, Duration::ZERO, 2.0),
            (secs(10), secs(1), 2.0),
            (secs(1), secs(10), f64::NAN),
            (secs(1), secs(10), -3.0),
            (secs(1), secs(10), f64::INFINITY),
            (Duration::MAX, Duration::MAX, 2.0),
        ];
        for (initial, max, factor) in weird {
            let c = progressive(initial, max, factor);
            for n in [0, 1, 2, 64, u32::MAX] {
                assert!(c.open_duration(n) <= max);
            }
        }
    }

    // ---- jittered -------------------------------------------------------------

    #[test]
    fn jittered_zero_jitter_is_exact() {
        let c = Config::default();
        for d in [NS, secs(1), Duration::from_nanos(123_456_789), MAX_DURATION] {
            for u in [0.0, 0.25, 0.5, 0.999_999] {
                assert_eq!(c.jittered(d, u), d);
            }
        }
    }

    #[test]
    fn jittered_stays_within_bounds() {
        for j in [0.0, 0.1, 0.5, 0.999] {
            let c = Config {
                jitter: j,
                ..Config::default()
            };
            for d in [
                secs(1),
                secs(60),
                Duration::from_nanos(987_654_321),
                MAX_DURATION,
            ] {
                let lo = d.as_secs_f64() * (1.0 - j);
                let hi = d.as_secs_f64() * (1.0 + j);
                // Float rounding: a nanosecond, or a few ulps for long durations.
                let slack = 1e-9 + hi * 1e-12;
                for u in [0.0, 0.5, 0.999_999] {
                    let out = c.jittered(d, u).as_secs_f64();
                    assert!(
                        out >= lo - slack && out <= hi + slack,
                        "j={j} d={d:?} u={u}: {out} not in [{lo}, {hi}]"
                    );
                }
                assert_eq!(c.jittered(d, 0.5), d);
            }
        }
    }

    #[test]
    fn jittered_spreads_both_ways() {
        let c = Config {
            jitter: 0.5,
            ..Config::default()
        };
        assert_eq!(c.jittered(secs(10), 0.0), secs(5));
        assert_eq!(c.jittered(secs(10), 0.75), Duration::from_millis(12_500));
    }

    #[test]
    fn jittered_never_below_one_nanosecond_or_panics() {
        let c = Config {
            jitter: 0.999,
            ..Config::default()
        };
        assert_eq!(c.jittered(NS, 0.0), NS);
        assert_eq!(c.jittered(Duration::ZERO, 0.0), NS);
        let _ = c.jittered(Duration::MAX, 0.999_999);
        for u in [f64::NAN, -1.0, 2.0, f64::INFINITY, f64::NEG_INFINITY] {
            let out = c.jittered(secs(1), u);
            assert!(out >= NS && out <= secs(2), "u={u}: {out:?}");
        }
        for j in [f64::NAN, -1.0, 1.0, 5.0, f64::INFINITY] {
            let c = Config {
                jitter: j,
                ..Config::default()
            };
            for u in [0.0, 0.5, 0.999_999] {
                let out = c.jittered(secs(1), u);
                assert!(out >= NS && out <= secs(2), "j={j} u={u}: {out:?}");
            }
        }
    }

    // ---- apply and overlay ----------------------------------------------------

    #[test]
    fn apply_empty_options_is_base() {
        let base = Config::default();
        assert_eq!(Options::new().apply(&base).unwrap(), base);
    }

    #[test]
    fn apply_changes_only_set_fields() {
        let base = Config::default();
        let strategy = ExpiryStrategy::progressive(secs(2));
        let cases: Vec<(Options, Config)> = vec![
            (
                Options::new().failure_threshold(9),
                Config {
                    failure_threshold: 9,
                    ..base.clone()
                },
            ),
            (
                Options::new().expiry(secs(5)),
                Config {
                    expiry: secs(5),
                    ..base.clone()
                },
            ),
            (
                Options::new().expiry_strategy(strategy),
                Config {
                    strategy,
                    ..base.clone()
                },
            ),
            (
                Options::new().jitter(0.25),
                Config {
                    jitter: 0.25,
                    ..base.clone()
                },
            ),
            (
                Options::new().half_open_probes(4),
                Config {
                    half_open_probes: 4,
                    ..base.clone()
                },
            ),
            (
                Options::new().probe_timeout(secs(3)),
                Config {
                    probe_timeout: Some(secs(3)),
                    ..base.clone()
                },
            ),
            (Options::new().metadata("team", "billing"), base.clone()),
        ];
        for (options, expected) in cases {
            assert_eq!(options.apply(&base).unwrap(), expected, "{options:?}");
        }
    }

    #[test]
    fn apply_keeps_base_probe_timeout_when_unset() {
        let base = Config {
            probe_timeout: Some(secs(4)),
            ..Config::default()
        };
        let c = Options::new().expiry(secs(9)).apply(&base).unwrap();
        assert_eq!(c.probe_timeout(), secs(4));
    }

    #[test]
    fn apply_rejects_invalid_set_field() {
        let o = Options::new().failure_threshold(3).jitter(1.0);
        assert_eq!(field_of(o.apply(&Config::default())), "jitter");
    }

    #[test]
    fn apply_validates_the_whole() {
        let bad_base = Config {
            half_open_probes: 0,
            ..Config::default()
        };
        assert_eq!(
            field_of(Options::new().failure_threshold(2).apply(&bad_base)),
            "half_open_probes"
        );
        // Overriding the bad field repairs it.
        Options::new().half_open_probes(2).apply(&bad_base).unwrap();
        let inverted = ExpiryStrategy::Progressive {
            initial: secs(10),
            max: secs(1),
            factor: 2.0,
        };
        assert_eq!(
            field_of(
                Options::new()
                    .expiry_strategy(inverted)
                    .apply(&Config::default())
            ),
            "expiry_strategy.max"
        );
    }

    #[test]
    fn overlay_newer_fields_win() {
        let old = Options::new()
            .failure_threshold(3)
            .expiry(secs(5))
            .jitter(0.1)
            .metadata("a", "1")
            .metadata("b", "2");
        let newer = Options::new()
            .failure_threshold(7)
            .half_open_probes(2)
            .metadata("b", "20")
            .metadata("c", "30");
        let merged = old.overlay(&newer);
        assert_eq!(merged.failure_threshold_value(), Some(7));
        assert_eq!(merged.expiry_value(), Some(secs(5)));
        assert_eq!(merged.jitter_value(), Some(0.1));
        assert_eq!(merged.half_open_probes_value(), Some(2));
        assert_eq!(merged.expiry_strategy_value(), None);
        assert_eq!(merged.probe_timeout_value(), None);
        let md = merged.metadata_map();
        assert_eq!(md.len(), 3);
        assert_eq!(md["a"], "1");
        assert_eq!(md["b"], "20");
        assert_eq!(md["c"], "30");
    }

    #[test]
    fn overlay_with_empty_is_identity() {
        let o = Options::new()
            .expiry_strategy(ExpiryStrategy::progressive(secs(1)))
            .probe_timeout(secs(2))
            .metadata("k", "v");
        assert_eq!(o.overlay(&Options::new()), o);
        assert_eq!(Options::new().overlay(&o), o);
    }

    #[test]
    fn is_empty_tracks_every_field() {
        assert!(Options::new().is_empty());
        let set = [
            Options::new().failure_threshold(1),
            Options::new().expiry(secs(1)),
            Options::new().expiry_strategy(ExpiryStrategy::Fixed),
            Options::new().jitter(0.0),
            Options::new().half_open_probes(1),
            Options::new().probe_timeout(secs(1)),
            Options::new().metadata("k", "v"),
        ];
        for o in set {
            assert!(!o.is_empty(), "{o:?}");
        }
    }

    #[test]
    fn getters_return_set_values() {
        let o = Options::new()
            .failure_threshold(2)
            .expiry(secs(3))
            .expiry_strategy(ExpiryStrategy::Fixed)
            .jitter(0.5)
            .half_open_probes(6)
            .probe_timeout(secs(7));
        assert_eq!(o.failure_threshold_value(), Some(2));
        assert_eq!(o.expiry_value(), Some(secs(3)));
        assert_eq!(o.expiry_strategy_value(), Some(ExpiryStrategy::Fixed));
        assert_eq!(o.jitter_value(), Some(0.5));
        assert_eq!(o.half_open_probes_value(), Some(6));
        assert_eq!(o.probe_timeout_value(), Some(secs(7)));
        assert!(o.metadata_map().is_empty());
    }

    #[test]
    fn error_messages_name_field_and_limit() {
        let err = Options::new()
            .expiry(MAX_DURATION + NS)
            .validate()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`expiry`"), "{text}");
        assert!(text.contains("100 years"), "{text}");
    }
}
