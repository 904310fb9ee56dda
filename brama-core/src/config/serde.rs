//! Feature `serde`: [`Options`] and [`ExpiryStrategy`].
//!
//! `Options` is a table of the fields it sets, each named as its setter
//! (`failure_threshold`, `expiry`, `expiry_strategy`, `jitter`, `half_open_probes`,
//! `probe_timeout`, `critical`, `metadata`); a field left out is not set (the
//! connection follows the registry default). Nothing is validated while reading: the
//! registry validates when the options are used, and names the field it rejects.
//!
//! `ExpiryStrategy` is `"fixed"`, or a table
//! `{ progressive = { initial = "1s", max = "1m", factor = 2.0 } }`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::expiry::ExpiryStrategy;
use super::options::Options;
use super::trip::TripPolicy;
use crate::serde::{duration, option_duration};

/// [`Options`] on the wire. `M` is the metadata: owned when read, borrowed when written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(
    serialize = "M: Serialize + Empty",
    deserialize = "M: Deserialize<'de> + Default"
))]
struct OptionsWire<M> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_threshold: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "option_duration"
    )]
    expiry: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expiry_strategy: Option<ExpiryStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    half_open_probes: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "option_duration"
    )]
    probe_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    critical: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trip_policy: Option<TripPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mode: Option<crate::mode::Mode>,
    /// Fields cleared back to "inherit" (`Options::inherit_*`), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    inherit: Vec<String>,
    #[serde(default, skip_serializing_if = "Empty::is_empty")]
    metadata: M,
}

/// The metadata, in either form, is left out when empty.
trait Empty {
    fn is_empty(&self) -> bool;
}

impl Empty for BTreeMap<String, String> {
    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
}

impl Empty for &BTreeMap<String, String> {
    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
}

impl Serialize for Options {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Destructured in full: a field added to `Options` fails to compile here until
        // it is given its place on the wire.
        let Options {
            failure_threshold,
            expiry,
            expiry_strategy,
            jitter,
            half_open_probes,
            probe_timeout,
            critical,
            trip_policy,
            mode,
            inherit: _,
            metadata,
        } = self;
        OptionsWire {
            failure_threshold: *failure_threshold,
            expiry: *expiry,
            expiry_strategy: *expiry_strategy,
            jitter: *jitter,
            half_open_probes: *half_open_probes,
            probe_timeout: *probe_timeout,
            critical: *critical,
            trip_policy: *trip_policy,
            mode: *mode,
            inherit: self.inherited().map(str::to_owned).collect(),
            metadata,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Options, D::Error> {
        let w = OptionsWire::<BTreeMap<String, String>>::deserialize(d)?;
        let options = Options {
            failure_threshold: w.failure_threshold,
            expiry: w.expiry,
            expiry_strategy: w.expiry_strategy,
            jitter: w.jitter,
            half_open_probes: w.half_open_probes,
            probe_timeout: w.probe_timeout,
            critical: w.critical,
            trip_policy: None,
            mode: w.mode,
            inherit: super::inherit::Inherited::NONE,
            metadata: w.metadata,
        };
        let mut options = options;
        for name in &w.inherit {
            options = options.inherit_named(name).ok_or_else(|| {
                serde::de::Error::custom(format!("inherit: `{name}` is not a setting"))
            })?;
        }
        // Through the setter: a rate policy replaces a failure threshold read beside
        // it, as in code.
        Ok(match w.trip_policy {
            Some(p) => options.trip_policy(p),
            None => options,
        })
    }
}

/// [`ExpiryStrategy`] on the wire.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum StrategyWire {
    Fixed,
    Progressive {
        #[serde(with = "duration")]
        initial: Duration,
        #[serde(with = "duration")]
        max: Duration,
        factor: f64,
    },
}

impl Serialize for ExpiryStrategy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            ExpiryStrategy::Fixed => StrategyWire::Fixed,
            ExpiryStrategy::Progressive {
                initial,
                max,
                factor,
            } => StrategyWire::Progressive {
                initial,
                max,
                factor,
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ExpiryStrategy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ExpiryStrategy, D::Error> {
        Ok(match StrategyWire::deserialize(d)? {
            StrategyWire::Fixed => ExpiryStrategy::Fixed,
            StrategyWire::Progressive {
                initial,
                max,
                factor,
            } => ExpiryStrategy::Progressive {
                initial,
                max,
                factor,
            },
        })
    }
}

/// [`TripPolicy`] on the wire: `{ consecutive = 3 }`, or a rate policy
/// `{ failure_rate = 0.5, window = { count = 100 }, minimum_calls = 20,
/// slow_calls = { duration = "500ms", rate = 0.8 } }` (window `{ time = "60s" }`; every
/// field but one rule optional, with the defaults of [`TripPolicy::failure_rate`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TripWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consecutive: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slow_calls: Option<SlowWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<super::trip::Window>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    minimum_calls: Option<u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlowWire {
    #[serde(with = "duration")]
    duration: Duration,
    rate: f64,
}

/// [`Window`](super::trip::Window) on the wire: `{ count = 100 }` or `{ time = "60s" }`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum WindowWire {
    Count(u32),
    Time(#[serde(with = "duration")] Duration),
}

impl Serialize for super::trip::Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            super::trip::Window::Count(n) => WindowWire::Count(n),
            super::trip::Window::Time(d) => WindowWire::Time(d),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for super::trip::Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<super::trip::Window, D::Error> {
        Ok(match WindowWire::deserialize(d)? {
            WindowWire::Count(n) => super::trip::Window::Count(n),
            WindowWire::Time(d) => super::trip::Window::Time(d),
        })
    }
}

impl Serialize for TripPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match self.consecutive_threshold() {
            Some(n) => TripWire {
                consecutive: Some(n),
                failure_rate: None,
                slow_calls: None,
                window: None,
                minimum_calls: None,
            },
            None => TripWire {
                consecutive: None,
                failure_rate: self.failure_rate_threshold(),
                slow_calls: self
                    .slow_call_rule()
                    .map(|(duration, rate)| SlowWire { duration, rate }),
                window: self.window_spec(),
                minimum_calls: self.minimum_calls_value(),
            },
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TripPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TripPolicy, D::Error> {
        let w = TripWire::deserialize(d)?;
        let base = match (w.consecutive, w.failure_rate, &w.slow_calls) {
            (Some(n), None, None) if w.window.is_none() && w.minimum_calls.is_none() => {
                return Ok(TripPolicy::consecutive(n));
            }
            (Some(_), ..) => {
                return Err(serde::de::Error::custom(
                    "trip_policy: `consecutive` takes no rate settings (failure_rate, \
                     slow_calls, window, minimum_calls)",
                ))
            }
            (None, Some(r), _) => TripPolicy::failure_rate(r),
            (None, None, Some(slow)) => TripPolicy::slow_call_rate(slow.duration, slow.rate),
            (None, None, None) => {
                return Err(serde::de::Error::custom(
                    "trip_policy needs `consecutive`, `failure_rate` or `slow_calls`",
                ))
            }
        };
        let mut p = base;
        if let (Some(_), Some(slow)) = (w.failure_rate, &w.slow_calls) {
            p = p.slow_calls(slow.duration, slow.rate);
        }
        if let Some(window) = w.window {
            p = p.window(window);
        }
        if let Some(n) = w.minimum_calls {
            p = p.minimum_calls(n);
        }
        Ok(p)
    }
}
