//! [`Options`]: per-connection overrides and metadata.

use std::collections::BTreeMap;
use std::time::Duration;

use super::expiry::*;
use super::inherit::{Inherit, Inherited};
use super::resolved::*;
use super::trip::TripPolicy;
use super::validate::*;
use crate::error::Error;
use crate::mode::Mode;

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
    pub(super) failure_threshold: Option<u32>,
    pub(super) expiry: Option<Duration>,
    pub(super) expiry_strategy: Option<ExpiryStrategy>,
    pub(super) jitter: Option<f64>,
    pub(super) half_open_probes: Option<u32>,
    pub(super) probe_timeout: Option<Duration>,
    pub(super) critical: Option<bool>,
    // A rate policy (a consecutive one is kept in `failure_threshold`). A rate policy
    // wins over a failure threshold set before it; `failure_threshold` clears it.
    pub(super) trip_policy: Option<TripPolicy>,
    pub(super) mode: Option<Mode>,
    /// Fields to clear back to "inherit" when these options are laid over others
    /// (`inherit_*`, in `inherit.rs`).
    pub(super) inherit: Inherited,
    pub(super) metadata: BTreeMap<String, String>,
}

impl Options {
    /// No overrides and no metadata.
    pub fn new() -> Options {
        Options::default()
    }

    /// Adds a metadata entry, replacing any earlier value for the same key.
    ///
    /// Limits (checked by [`Options::validate`]): keys of 1 to
    /// [`MAX_METADATA_KEY_BYTES`](crate::MAX_METADATA_KEY_BYTES) bytes, values of at most
    /// [`MAX_METADATA_VALUE_BYTES`](crate::MAX_METADATA_VALUE_BYTES), at most [`MAX_METADATA_ENTRIES`](crate::MAX_METADATA_ENTRIES) entries and
    /// [`MAX_METADATA_TOTAL_BYTES`](crate::MAX_METADATA_TOTAL_BYTES) in all.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Options {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Consecutive failures that open the circuit; at least 1.
    pub fn failure_threshold(mut self, n: u32) -> Options {
        self.failure_threshold = Some(n);
        self.trip_policy = None;
        self
    }

    /// Overrides the trip policy (SPEC §8): `TripPolicy::consecutive(n)` is
    /// [`failure_threshold(n)`](Options::failure_threshold), a rate policy replaces it.
    /// The later of the two setters wins.
    ///
    /// # Examples
    /// ```
    /// use brama_core::{Options, TripPolicy, Window};
    ///
    /// let options = Options::new().trip_policy(TripPolicy::failure_rate(0.5).window(Window::count(20)));
    /// assert!(options.validate().is_ok());
    /// assert_eq!(Options::new().trip_policy(TripPolicy::consecutive(3)).failure_threshold_value(), Some(3));
    /// ```
    pub fn trip_policy(mut self, policy: TripPolicy) -> Options {
        match policy.consecutive_threshold() {
            Some(n) => return self.failure_threshold(n),
            // A failure threshold set before stays, unused while the rate policy is
            // in force (as the builder's `Config` keeps it).
            None => self.trip_policy = Some(policy),
        }
        self
    }

    /// Whether these options set a rate policy (it is then in force over any failure
    /// threshold they set: `apply` lays it last).
    pub fn sets_rate_policy(&self) -> bool {
        self.trip_policy.is_some()
    }

    /// The trip policy override, if any (`consecutive(n)` when only a failure threshold
    /// is set).
    pub fn trip_policy_value(&self) -> Option<TripPolicy> {
        self.trip_policy
            .or(self.failure_threshold.map(TripPolicy::consecutive))
    }

    /// The fixed open duration (and the probe timeout when none is set); greater than
    /// zero and at most [`MAX_DURATION`](crate::MAX_DURATION).
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
    /// [`MAX_HALF_OPEN_PROBES`](crate::MAX_HALF_OPEN_PROBES).
    pub fn half_open_probes(mut self, n: u32) -> Options {
        self.half_open_probes = Some(n);
        self
    }

    /// How long a probe may go without reporting before its slot is freed; greater
    /// than zero and at most [`MAX_DURATION`](crate::MAX_DURATION).
    pub fn probe_timeout(mut self, d: Duration) -> Options {
        self.probe_timeout = Some(d);
        self
    }

    /// Whether the connection is critical to the service: an `Open` critical connection
    /// makes the registry's health verdict `Unhealthy` (a non-critical one, or a critical
    /// one that is `HalfOpen`, makes it `Degraded`). Not critical unless set, here or in
    /// the registry defaults (`configure_defaults`, where it becomes the value of every
    /// connection that has none of its own).
    ///
    /// It decides nothing about calls: it is not part of the resolved [`Config`], no
    /// check or report reads it, and only a health report (`Brama::health`) does, for
    /// the connections it finds `Open` or `HalfOpen`.
    ///
    /// # Examples
    /// ```
    /// use brama_core::Options;
    ///
    /// let options = Options::new().critical(true);
    /// assert_eq!(options.critical_value(), Some(true));
    /// assert_eq!(Options::new().critical_value(), None); // follows the registry default
    /// ```
    pub fn critical(mut self, critical: bool) -> Options {
        self.critical = Some(critical);
        self
    }

    /// The connection's [`Mode`]; in `configure_scope` the scope's, in
    /// `configure_defaults` the registry's default mode. Not part of the resolved
    /// [`Config`]: a connection's mode in effect is its own, else its scope's, else the
    /// registry default (see `Status::mode`).
    ///
    /// # Examples
    /// ```
    /// use brama_core::{Mode, Options};
    ///
    /// assert_eq!(Options::new().mode(Mode::MetricsOnly).mode_value(), Some(Mode::MetricsOnly));
    /// assert_eq!(Options::new().mode_value(), None); // inherits
    /// ```
    pub fn mode(mut self, mode: Mode) -> Options {
        self.mode = Some(mode);
        self
    }

    /// The mode, if set (see [`Options::mode`]).
    pub fn mode_value(&self) -> Option<Mode> {
        self.mode
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

    /// Whether the connection is critical, if set (see [`Options::critical`]).
    pub fn critical_value(&self) -> Option<bool> {
        self.critical
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
            && self.trip_policy.is_none()
            && self.expiry.is_none()
            && self.expiry_strategy.is_none()
            && self.jitter.is_none()
            && self.half_open_probes.is_none()
            && self.probe_timeout.is_none()
            && self.critical.is_none()
            && self.mode.is_none()
            && self.inherit.is_empty()
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
        if let Some(p) = &self.trip_policy {
            p.validate()?;
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
    /// [`critical`](Options::critical) and [`mode`](Options::mode) are not part of a
    /// [`Config`] and are left out, as are the `inherit_*` marks (a field marked and not
    /// set is taken from `base`).
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
        let mut config = Config {
            failure_threshold: base.failure_threshold,
            trip_policy: base.trip_policy,
            expiry: self.expiry.unwrap_or(base.expiry),
            strategy: self.expiry_strategy.unwrap_or(base.strategy),
            jitter: self.jitter.unwrap_or(base.jitter),
            half_open_probes: self.half_open_probes.unwrap_or(base.half_open_probes),
            probe_timeout: self.probe_timeout.or(base.probe_timeout),
        };
        if let Some(n) = self.failure_threshold {
            config.set_trip_policy(TripPolicy::consecutive(n));
        }
        if let Some(policy) = self.trip_policy {
            config.set_trip_policy(policy);
        }
        config.validate()?;
        Ok(config)
    }

    /// `self` with every field that `newer` sets replaced by `newer`'s, and every field
    /// `newer` marks with an `inherit_*` method (and does not set) cleared; `newer`'s
    /// metadata entries are added, overwriting entries with the same key (metadata is
    /// never removed). The result carries no `inherit_*` marks.
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
        let keep = |field: Inherit| !newer.inherit.has(field);
        // The trip policy is one setting kept in two fields: the newer wins whole, and
        // `inherit_failure_threshold` clears both.
        let (failure_threshold, trip_policy) =
            if newer.failure_threshold.is_some() || newer.trip_policy.is_some() {
                (newer.failure_threshold, newer.trip_policy)
            } else if keep(Inherit::FailureThreshold) {
                (self.failure_threshold, self.trip_policy)
            } else {
                (None, None)
            };
        Options {
            failure_threshold,
            trip_policy,
            expiry: newer
                .expiry
                .or(self.expiry.filter(|_| keep(Inherit::Expiry))),
            expiry_strategy: newer.expiry_strategy.or(self
                .expiry_strategy
                .filter(|_| keep(Inherit::ExpiryStrategy))),
            jitter: newer
                .jitter
                .or(self.jitter.filter(|_| keep(Inherit::Jitter))),
            half_open_probes: newer.half_open_probes.or(self
                .half_open_probes
                .filter(|_| keep(Inherit::HalfOpenProbes))),
            probe_timeout: newer
                .probe_timeout
                .or(self.probe_timeout.filter(|_| keep(Inherit::ProbeTimeout))),
            critical: newer
                .critical
                .or(self.critical.filter(|_| keep(Inherit::Critical))),
            mode: newer.mode.or(self.mode.filter(|_| keep(Inherit::Mode))),
            inherit: Inherited::NONE,
            metadata,
        }
    }
}
