//! Feature `serde`: [`Config`] and [`Janitor`] (de)serialize. The value types of the
//! engine (`Options`, `ExpiryStrategy`, `State`, `Cause`, `Status`, `Event`, ...) get
//! theirs from `brama-core`'s feature `serde`, which this feature turns on.
//!
//! `Config` is a table of the settings that are set, each named as its builder method;
//! unknown fields are rejected with their name; durations are humantime strings read as
//! `"500ms"`, `"60s"` or `"1m"` and written as humantime writes them; the janitor is
//! `"thread"` or `"manual"`; the mode is `"normal"`, `"disabled"`, `"forced_open"` or
//! `"metrics_only"`.

use std::time::Duration;

use brama_core::formats::option_duration;
use brama_core::{ExpiryStrategy, Mode, TripPolicy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::Config;
use crate::janitor::Janitor;

/// [`Config`] on the wire.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigWire {
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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "option_duration"
    )]
    cleanup_interval: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "option_duration"
    )]
    inactive_threshold: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_connections: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auto_register: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_queue_capacity: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    janitor: Option<Janitor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trip_policy: Option<TripPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mode: Option<Mode>,
}

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Destructured in full: a field added to `Config` fails to compile here until
        // it is given its place on the wire.
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
        } = self.clone();
        ConfigWire {
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
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Config, D::Error> {
        let w = ConfigWire::deserialize(d)?;
        Ok(Config {
            failure_threshold: w.failure_threshold,
            expiry: w.expiry,
            expiry_strategy: w.expiry_strategy,
            jitter: w.jitter,
            half_open_probes: w.half_open_probes,
            probe_timeout: w.probe_timeout,
            cleanup_interval: w.cleanup_interval,
            inactive_threshold: w.inactive_threshold,
            max_connections: w.max_connections,
            auto_register: w.auto_register,
            event_queue_capacity: w.event_queue_capacity,
            janitor: w.janitor,
            trip_policy: w.trip_policy,
            mode: w.mode,
        })
    }
}

/// [`Janitor`] on the wire.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum JanitorWire {
    Thread,
    Manual,
}

impl Serialize for Janitor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Janitor::Thread => JanitorWire::Thread,
            Janitor::Manual => JanitorWire::Manual,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Janitor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Janitor, D::Error> {
        Ok(match JanitorWire::deserialize(d)? {
            JanitorWire::Thread => Janitor::Thread,
            JanitorWire::Manual => Janitor::Manual,
        })
    }
}
