//! [`Config`]: the resolved configuration of one connection, and the open-duration
//! arithmetic.

use std::time::Duration;

use super::expiry::*;
use super::trip::{Kind, TripPolicy};
use super::validate::*;
use crate::error::Error;

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
    /// [`MAX_HALF_OPEN_PROBES`](crate::MAX_HALF_OPEN_PROBES).
    pub half_open_probes: u32,
    /// How long a probe may go without reporting before its slot is freed;
    /// `None` means equal to `expiry`.
    pub probe_timeout: Option<Duration>,
    /// A rate policy (SPEC §8); `None` means `TripPolicy::consecutive(failure_threshold)`.
    /// Set through [`set_trip_policy`](Config::set_trip_policy), which keeps a
    /// consecutive policy in `failure_threshold`.
    pub trip_policy: Option<TripPolicy>,
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
            trip_policy: None,
        }
    }
}

impl Config {
    /// The trip policy these settings resolve to: the rate policy when one is set,
    /// else consecutive failures ([`failure_threshold`](Config::failure_threshold)).
    #[inline]
    pub fn policy(&self) -> crate::policy::Policy {
        match self.trip_policy.map(|p| p.0) {
            Some(Kind::Rate(spec)) => crate::policy::Policy::Rate(crate::policy::Rate::of(&spec)),
            Some(Kind::Consecutive(n)) => {
                crate::policy::Policy::Consecutive(crate::policy::Consecutive { threshold: n })
            }
            None => crate::policy::Policy::Consecutive(crate::policy::Consecutive {
                threshold: self.failure_threshold,
            }),
        }
    }

    /// The trip policy in force, as the builder takes it.
    pub fn trip_policy(&self) -> TripPolicy {
        self.trip_policy
            .unwrap_or(TripPolicy::consecutive(self.failure_threshold))
    }

    /// Sets the trip policy: `consecutive(n)` is `failure_threshold = n` (and no rate
    /// policy), a rate policy is kept in [`trip_policy`](Config::trip_policy).
    pub fn set_trip_policy(&mut self, policy: TripPolicy) {
        match policy.0 {
            Kind::Consecutive(n) => {
                self.failure_threshold = n;
                self.trip_policy = None;
            }
            Kind::Rate(_) => self.trip_policy = Some(policy),
        }
    }

    /// The failure threshold the lock-free failure path compares the word's count
    /// with: the consecutive policy's, or 1 under a rate policy (so that no failure
    /// of a rate policy is counted in the word).
    pub(crate) fn word_threshold(&self) -> u32 {
        match self.trip_policy.map(|p| p.0) {
            Some(Kind::Rate(_)) => 1,
            Some(Kind::Consecutive(n)) => crate::circuit::word_threshold_of(n),
            None => crate::circuit::word_threshold_of(self.failure_threshold),
        }
    }

    /// Checks every field against the SPEC §7 rules.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field that breaks its rule:
    /// `failure_threshold` below 1; `expiry` or `probe_timeout` zero or above
    /// [`MAX_DURATION`](crate::MAX_DURATION); a progressive `expiry_strategy.initial` or
    /// `expiry_strategy.max` out of that range, a max below initial, or an
    /// `expiry_strategy.factor` below 1.0 or not finite; `jitter` outside [0, 1);
    /// `half_open_probes` outside 1 to [`MAX_HALF_OPEN_PROBES`](crate::MAX_HALF_OPEN_PROBES).
    pub fn validate(&self) -> Result<(), Error> {
        check_failure_threshold(self.failure_threshold)?;
        check_duration("expiry", self.expiry)?;
        self.strategy.validate()?;
        check_jitter(self.jitter)?;
        check_half_open_probes(self.half_open_probes)?;
        if let Some(timeout) = self.probe_timeout {
            check_duration("probe_timeout", timeout)?;
        }
        if let Some(policy) = &self.trip_policy {
            policy.validate()?;
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
pub(super) fn progressive_duration(
    initial: Duration,
    max: Duration,
    factor: f64,
    n: u32,
) -> Duration {
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
pub(super) fn scale(d: Duration, k: f64) -> Duration {
    if k.is_nan() || k <= 0.0 {
        return Duration::ZERO;
    }
    let secs = d.as_secs_f64() * k;
    // Too large (or infinite) to represent, or not finite: saturate.
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}
