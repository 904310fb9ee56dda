//! [`ExpiryStrategy`]: how long an opened circuit stays open.

use std::time::Duration;

use super::limits::*;
use super::validate::*;
use crate::error::Error;

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
#[non_exhaustive]
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

    pub(super) fn validate(&self) -> Result<(), Error> {
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
