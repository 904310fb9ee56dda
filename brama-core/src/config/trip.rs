//! [`TripPolicy`] and [`Window`]: what opens a circuit (SPEC §8).

use std::time::Duration;

use super::validate::check_duration;
use crate::error::Error;

/// The largest count window, in calls: a connection's window keeps one 8-byte slot per
/// call, so `count(MAX_WINDOW_CALLS)` is about 8 MB.
pub const MAX_WINDOW_CALLS: u32 = 1_000_000;

/// The longest time window: one day.
pub const MAX_WINDOW_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// How many buckets a time window keeps: a window of `d` is 10 buckets of `d / 10`, so
/// an outcome counts for between `0.9 d` and `d` after it was reported (precision: one
/// bucket).
pub const TIME_WINDOW_BUCKETS: u32 = 10;

/// The window a rate policy computes its rates over.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::Window;
///
/// let last_100_calls = Window::count(100);
/// let last_minute = Window::time(Duration::from_secs(60));
/// assert_ne!(last_100_calls, last_minute);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Window {
    /// The last `n` calls, exactly.
    Count(u32),
    /// The calls of the last `d`, in [`TIME_WINDOW_BUCKETS`] buckets of `d / 10`.
    Time(Duration),
}

impl Window {
    /// The last `n` calls (1 to [`MAX_WINDOW_CALLS`]).
    pub const fn count(n: u32) -> Window {
        Window::Count(n)
    }

    /// The calls of the last `d` (at least [`TIME_WINDOW_BUCKETS`] ns, at most
    /// [`MAX_WINDOW_DURATION`]).
    pub const fn time(d: Duration) -> Window {
        Window::Time(d)
    }

    fn validate(&self) -> Result<(), Error> {
        match *self {
            Window::Count(n) if n == 0 || n > MAX_WINDOW_CALLS => Err(Error::invalid_config(
                "trip_policy.window",
                format!("a count window holds 1 to {MAX_WINDOW_CALLS} calls, got {n}"),
            )),
            Window::Time(d)
                if d < Duration::from_nanos(u64::from(TIME_WINDOW_BUCKETS))
                    || d > MAX_WINDOW_DURATION =>
            {
                Err(Error::invalid_config(
                    "trip_policy.window",
                    format!(
                        "a time window lasts {TIME_WINDOW_BUCKETS}ns to one day \
                         ({MAX_WINDOW_DURATION:?}), got {d:?}"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The rate half of a [`TripPolicy`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RateSpec {
    pub(crate) failure_rate: Option<f64>,
    pub(crate) slow: Option<(Duration, f64)>,
    pub(crate) window: Window,
    pub(crate) minimum_calls: u32,
}

/// What opens a circuit: `consecutive(n)` failures in a row (the default, what
/// `failure_threshold(n)` sets), or a rate over a sliding window of calls, as
/// resilience4j and tower-resilience have it.
///
/// A rate policy opens the circuit when, with at least `minimum_calls` calls in the
/// window, failures / calls reaches the failure rate (cause `FailureRate`) or slow
/// calls / calls reaches the slow-call rate (cause `SlowCalls`). Defaults: window
/// `count(100)`, `minimum_calls` 100 (taken as the window's size when larger, SPEC
/// §13), no slow-call rule.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::{TripPolicy, Window};
///
/// let policy = TripPolicy::failure_rate(0.5)
///     .window(Window::count(100))
///     .minimum_calls(20)
///     .slow_calls(Duration::from_millis(500), 0.8);
/// assert!(policy.validate().is_ok());
/// assert!(TripPolicy::failure_rate(1.5).validate().is_err());
/// assert_eq!(TripPolicy::consecutive(3).consecutive_threshold(), Some(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TripPolicy(pub(crate) Kind);

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Consecutive(u32),
    Rate(RateSpec),
}

/// The default window and minimum of a rate policy (resilience4j's defaults).
const DEFAULT_WINDOW: Window = Window::Count(100);
const DEFAULT_MINIMUM_CALLS: u32 = 100;

impl TripPolicy {
    /// Open after `n` consecutive failures (SPEC §2; `n` at least 1).
    pub const fn consecutive(n: u32) -> TripPolicy {
        TripPolicy(Kind::Consecutive(n))
    }

    /// Open when failures / calls in the window reaches `rate`, in (0, 1].
    pub const fn failure_rate(rate: f64) -> TripPolicy {
        TripPolicy(Kind::Rate(RateSpec {
            failure_rate: Some(rate),
            slow: None,
            window: DEFAULT_WINDOW,
            minimum_calls: DEFAULT_MINIMUM_CALLS,
        }))
    }

    /// Open when slow calls / calls in the window reaches `rate`, in (0, 1], a call
    /// being slow when it took `slower_than` or longer; no failure-rate rule.
    pub const fn slow_call_rate(slower_than: Duration, rate: f64) -> TripPolicy {
        TripPolicy(Kind::Rate(RateSpec {
            failure_rate: None,
            slow: Some((slower_than, rate)),
            window: DEFAULT_WINDOW,
            minimum_calls: DEFAULT_MINIMUM_CALLS,
        }))
    }

    /// The window of a rate policy (on a consecutive policy: an `InvalidConfig` at
    /// validation).
    pub fn window(self, window: Window) -> TripPolicy {
        self.rate_mut(|r| r.window = window)
    }

    /// No decision before `n` calls are in the window (at least 1; above a count
    /// window's size it is taken as the size).
    pub fn minimum_calls(self, n: u32) -> TripPolicy {
        self.rate_mut(|r| r.minimum_calls = n)
    }

    /// Adds a slow-call rule: a call of `slower_than` or longer is slow; open when slow
    /// calls / calls reaches `rate`.
    pub fn slow_calls(self, slower_than: Duration, rate: f64) -> TripPolicy {
        self.rate_mut(|r| r.slow = Some((slower_than, rate)))
    }

    fn rate_mut(self, f: impl FnOnce(&mut RateSpec)) -> TripPolicy {
        match self.0 {
            Kind::Rate(mut r) => {
                f(&mut r);
                TripPolicy(Kind::Rate(r))
            }
            // Rate settings on a consecutive policy make it invalid; kept visible so
            // that `validate` names the mistake instead of ignoring it.
            Kind::Consecutive(_) => TripPolicy(Kind::Rate(RateSpec {
                failure_rate: None,
                slow: None,
                window: Window::Count(0),
                minimum_calls: 0,
            })),
        }
    }

    /// `Some(n)` for `consecutive(n)`.
    pub const fn consecutive_threshold(&self) -> Option<u32> {
        match self.0 {
            Kind::Consecutive(n) => Some(n),
            Kind::Rate(_) => None,
        }
    }

    /// The failure-rate threshold of a rate policy.
    pub const fn failure_rate_threshold(&self) -> Option<f64> {
        match self.0 {
            Kind::Rate(r) => r.failure_rate,
            Kind::Consecutive(_) => None,
        }
    }

    /// The slow-call rule of a rate policy: (duration, rate).
    pub const fn slow_call_rule(&self) -> Option<(Duration, f64)> {
        match self.0 {
            Kind::Rate(r) => r.slow,
            Kind::Consecutive(_) => None,
        }
    }

    /// The window of a rate policy.
    pub const fn window_spec(&self) -> Option<Window> {
        match self.0 {
            Kind::Rate(r) => Some(r.window),
            Kind::Consecutive(_) => None,
        }
    }

    /// The minimum calls of a rate policy.
    pub const fn minimum_calls_value(&self) -> Option<u32> {
        match self.0 {
            Kind::Rate(r) => Some(r.minimum_calls),
            Kind::Consecutive(_) => None,
        }
    }

    /// Checks the policy against SPEC §8's rules.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field: `trip_policy.consecutive` below 1;
    /// `trip_policy.failure_rate` or `trip_policy.slow_call_rate` outside (0, 1];
    /// `trip_policy.slow_call_duration` zero or above 100 years; `trip_policy.window`
    /// empty or beyond [`MAX_WINDOW_CALLS`] / [`MAX_WINDOW_DURATION`] (or set on a
    /// consecutive policy); `trip_policy.minimum_calls` 0; a rate policy with neither
    /// rule (`trip_policy`).
    pub fn validate(&self) -> Result<(), Error> {
        match self.0 {
            Kind::Consecutive(0) => Err(Error::invalid_config(
                "trip_policy.consecutive",
                "must be at least 1, got 0",
            )),
            Kind::Consecutive(_) => Ok(()),
            Kind::Rate(r) => {
                if r.failure_rate.is_none() && r.slow.is_none() {
                    return Err(Error::invalid_config(
                        "trip_policy",
                        "a rate policy needs a failure rate or a slow-call rule (window, \
                         minimum_calls and slow_calls apply only to TripPolicy::failure_rate \
                         or TripPolicy::slow_call_rate)",
                    ));
                }
                if let Some(rate) = r.failure_rate {
                    check_rate("trip_policy.failure_rate", rate)?;
                }
                if let Some((d, rate)) = r.slow {
                    check_duration("trip_policy.slow_call_duration", d)?;
                    check_rate("trip_policy.slow_call_rate", rate)?;
                }
                r.window.validate()?;
                if r.minimum_calls == 0 {
                    return Err(Error::invalid_config(
                        "trip_policy.minimum_calls",
                        "must be at least 1, got 0",
                    ));
                }
                Ok(())
            }
        }
    }
}

fn check_rate(field: &'static str, rate: f64) -> Result<(), Error> {
    if rate.is_nan() || rate <= 0.0 || rate > 1.0 {
        return Err(Error::invalid_config(
            field,
            format!("must be a fraction in (0, 1], got {rate}"),
        ));
    }
    Ok(())
}

impl Default for TripPolicy {
    /// `consecutive(5)`, SPEC §4's failure threshold.
    fn default() -> TripPolicy {
        TripPolicy::consecutive(5)
    }
}
