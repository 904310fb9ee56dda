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
            metadata,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Options, D::Error> {
        let w = OptionsWire::<BTreeMap<String, String>>::deserialize(d)?;
        Ok(Options {
            failure_threshold: w.failure_threshold,
            expiry: w.expiry,
            expiry_strategy: w.expiry_strategy,
            jitter: w.jitter,
            half_open_probes: w.half_open_probes,
            probe_timeout: w.probe_timeout,
            critical: w.critical,
            metadata: w.metadata,
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
