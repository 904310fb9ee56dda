//! Feature `serde`: the formats every serialized brama value shares, and the
//! (de)serialization of [`State`], [`Cause`], [`Verdict`] and [`Status`]. Options and
//! expiry strategies are in `config/serde.rs`, events in `events/serde.rs`.
//!
//! - Durations are humantime strings: written as humantime writes them (`"1m"`,
//!   `"500ms"`, `"1h 30m"`), read in any form humantime reads (`"60s"`, `"1m"`,
//!   `"500ms"`, `"2h 5min"`). `Duration::MAX`, what a status shows for a circuit open
//!   indefinitely, is `"forever"`.
//! - Wall-clock times are RFC 3339 in UTC with nanoseconds
//!   (`"2026-05-01T12:00:00.123456789Z"`), so a round trip is exact.
//! - Enums are lower-case snake_case strings (`"half_open"`, `"probe_timeout"`).
//! - Unknown fields are rejected, naming the field.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::health::Verdict;
use crate::mode::Mode;
use crate::state::{Cause, State};
use crate::status::Status;

/// What `Duration::MAX` is written as (a circuit opened indefinitely).
const FOREVER: &str = "forever";

/// A [`Duration`] as a humantime string (`#[serde(with = "duration")]`).
pub mod duration {
    use super::*;

    /// Writes `d` as humantime does (`"1m"`, `"500ms"`); `Duration::MAX` as `"forever"`.
    ///
    /// # Errors
    /// Whatever the serializer says.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if *d == Duration::MAX {
            s.serialize_str(FOREVER)
        } else {
            s.collect_str(&humantime::format_duration(*d))
        }
    }

    /// Reads any duration humantime reads (`"60s"`, `"1m"`, `"500ms"`), or `"forever"`.
    ///
    /// # Errors
    /// A value that is not a string, or a string humantime cannot read, with what it
    /// says (`expected a duration such as "500ms" or "60s"`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"500ms\", \"60s\" or \"1m\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            if v.trim() == FOREVER {
                return Ok(Duration::MAX);
            }
            humantime::parse_duration(v).map_err(|e| {
                E::custom(format_args!(
                    "invalid duration {v:?}: {e} (write it as \"500ms\", \"60s\" or \"1m\")"
                ))
            })
        }
    }
}

/// An `Option<Duration>` as a humantime string or nothing (`#[serde(with = ...)]`,
/// with `default` and `skip_serializing_if = "Option::is_none"`).
pub mod option_duration {
    use super::*;

    /// Writes the duration (see [`duration::serialize`]) or none.
    ///
    /// # Errors
    /// Whatever the serializer says.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&Humantime(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads a duration (see [`duration::deserialize`]) or none.
    ///
    /// # Errors
    /// As [`duration::deserialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<Humantime>::deserialize(d)?.map(|h| h.0))
    }
}

/// A [`Duration`] that (de)serializes as a humantime string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Humantime(pub Duration);

impl Serialize for Humantime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        duration::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Humantime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Humantime, D::Error> {
        duration::deserialize(d).map(Humantime)
    }
}

/// A [`SystemTime`] as an RFC 3339 string in UTC with nanoseconds.
pub mod time {
    use super::*;

    /// Writes `t` as RFC 3339 (`"2026-05-01T12:00:00.000000001Z"`).
    ///
    /// # Errors
    /// Whatever the serializer says.
    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_nanos(*t))
    }

    /// Reads an RFC 3339 time in UTC (`Z`), with or without a fraction of a second.
    ///
    /// # Errors
    /// A value that is not such a string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        d.deserialize_str(TimeVisitor)
    }

    struct TimeVisitor;

    impl Visitor<'_> for TimeVisitor {
        type Value = SystemTime;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 time in UTC such as \"2026-05-01T12:00:00Z\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<SystemTime, E> {
            humantime::parse_rfc3339(v)
                .map_err(|e| E::custom(format_args!("invalid time {v:?}: {e}")))
        }
    }
}

/// An `Option<SystemTime>` as an RFC 3339 string or nothing.
pub mod option_time {
    use super::*;

    /// Writes the time (see [`time::serialize`]) or none.
    ///
    /// # Errors
    /// Whatever the serializer says.
    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&Rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    /// Reads a time (see [`time::deserialize`]) or none.
    ///
    /// # Errors
    /// As [`time::deserialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        Ok(Option::<Rfc3339>::deserialize(d)?.map(|t| t.0))
    }

    struct Rfc3339(SystemTime);

    impl Serialize for Rfc3339 {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            time::serialize(&self.0, s)
        }
    }

    impl<'de> Deserialize<'de> for Rfc3339 {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rfc3339, D::Error> {
            time::deserialize(d).map(Rfc3339)
        }
    }
}

/// The snake_case names of a fieldless enum, both ways.
macro_rules! named_enum {
    ($ty:ident, $what:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(match self {
                    $($ty::$variant => $name,)+
                })
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                struct V;
                impl ::serde::de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        match v {
                            $($name => Ok($ty::$variant),)+
                            _ => Err(E::unknown_variant(v, &[$($name),+])),
                        }
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}
pub(crate) use named_enum;

named_enum!(Mode, "a mode", [
    Normal => "normal",
    Disabled => "disabled",
    ForcedOpen => "forced_open",
    MetricsOnly => "metrics_only",
]);

named_enum!(State, "a circuit state", [
    Unknown => "unknown",
    Closed => "closed",
    Open => "open",
    HalfOpen => "half_open",
]);

named_enum!(Cause, "the cause of a state change", [
    Report => "report",
    Threshold => "threshold",
    Expiry => "expiry",
    ProbeSuccess => "probe_success",
    ProbeFailure => "probe_failure",
    ProbeTimeout => "probe_timeout",
    ManualOpen => "manual_open",
    ManualClose => "manual_close",
    ManualReset => "manual_reset",
    FailureRate => "failure_rate",
    SlowCalls => "slow_calls",
    Remote => "remote",
    Scope => "scope",
    Restore => "restore",
]);

named_enum!(Verdict, "a health verdict", [
    Healthy => "healthy",
    Degraded => "degraded",
    Unhealthy => "unhealthy",
]);

/// [`Status`] on the wire: every field, under its own name. `S` is `String` when read,
/// `&str` when written (nothing is copied to serialize); `M` likewise for the metadata.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusWire<S, M> {
    identifier: S,
    #[serde(default)]
    scope: Option<S>,
    state: State,
    consecutive_failures: u32,
    total_successes: u64,
    total_failures: u64,
    total_rejected: u64,
    trips: u64,
    #[serde(with = "time")]
    registered_at: SystemTime,
    #[serde(default, with = "option_time")]
    last_success_at: Option<SystemTime>,
    #[serde(default, with = "option_time")]
    last_failure_at: Option<SystemTime>,
    #[serde(default, with = "option_time")]
    opened_at: Option<SystemTime>,
    #[serde(with = "time")]
    last_state_change_at: SystemTime,
    #[serde(with = "duration")]
    since_state_change: Duration,
    #[serde(with = "duration")]
    open_duration: Duration,
    #[serde(default)]
    metadata: M,
    #[serde(default)]
    failure_rate: Option<f64>,
    #[serde(default)]
    slow_call_rate: Option<f64>,
    #[serde(default)]
    window_calls: u64,
    #[serde(default)]
    mode: Mode,
}

impl Serialize for Status {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        // Destructured in full: a field added to `Status` fails to compile here until
        // it is given its place on the wire.
        let Status {
            identifier,
            scope,
            state,
            consecutive_failures,
            total_successes,
            total_failures,
            total_rejected,
            trips,
            registered_at,
            last_success_at,
            last_failure_at,
            opened_at,
            last_state_change_at,
            since_state_change,
            open_duration,
            metadata,
            failure_rate,
            slow_call_rate,
            window_calls,
            mode,
        } = self;
        StatusWire::<&str, &BTreeMap<String, String>> {
            identifier,
            scope: scope.as_deref(),
            state: *state,
            consecutive_failures: *consecutive_failures,
            total_successes: *total_successes,
            total_failures: *total_failures,
            total_rejected: *total_rejected,
            trips: *trips,
            registered_at: *registered_at,
            last_success_at: *last_success_at,
            last_failure_at: *last_failure_at,
            opened_at: *opened_at,
            last_state_change_at: *last_state_change_at,
            since_state_change: *since_state_change,
            open_duration: *open_duration,
            metadata,
            failure_rate: *failure_rate,
            slow_call_rate: *slow_call_rate,
            window_calls: *window_calls,
            mode: *mode,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let w = StatusWire::<String, BTreeMap<String, String>>::deserialize(d)?;
        Ok(Status {
            identifier: w.identifier,
            scope: w.scope,
            state: w.state,
            consecutive_failures: w.consecutive_failures,
            total_successes: w.total_successes,
            total_failures: w.total_failures,
            total_rejected: w.total_rejected,
            trips: w.trips,
            registered_at: w.registered_at,
            last_success_at: w.last_success_at,
            last_failure_at: w.last_failure_at,
            opened_at: w.opened_at,
            last_state_change_at: w.last_state_change_at,
            since_state_change: w.since_state_change,
            open_duration: w.open_duration,
            metadata: w.metadata,
            failure_rate: w.failure_rate,
            slow_call_rate: w.slow_call_rate,
            window_calls: w.window_calls,
            mode: w.mode,
        })
    }
}
