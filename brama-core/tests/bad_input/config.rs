//! Configuration rejections (§7): every invalid default, setting, option and open duration.

use std::time::Duration;

use brama_core::engine::config::{
    MAX_DURATION, MAX_EVENT_QUEUE_CAPACITY, MAX_HALF_OPEN_PROBES, MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_BYTES, MAX_METADATA_VALUE_BYTES,
};
use brama_core::{
    Config, Error, EventType, ExpiryStrategy, Filter, OpenOptions, Options, Settings, State,
};

use crate::common::*;
use crate::support::registry;

// ----- configuration rejections (§7) ------------------------------------------------------

fn progressive(initial: Duration, max: Duration, factor: f64) -> ExpiryStrategy {
    ExpiryStrategy::Progressive {
        initial,
        max,
        factor,
    }
}

/// Every invalid per-connection setting: `(field, options)`.
fn bad_options() -> Vec<(&'static str, Options)> {
    let too_long = MAX_DURATION + NS;
    let mut v = vec![
        ("failure_threshold", Options::new().failure_threshold(0)),
        ("expiry", Options::new().expiry(Duration::ZERO)),
        ("expiry", Options::new().expiry(too_long)),
        ("expiry", Options::new().expiry(Duration::MAX)),
        (
            "probe_timeout",
            Options::new().probe_timeout(Duration::ZERO),
        ),
        ("probe_timeout", Options::new().probe_timeout(too_long)),
        ("half_open_probes", Options::new().half_open_probes(0)),
        (
            "half_open_probes",
            Options::new().half_open_probes(MAX_HALF_OPEN_PROBES + 1),
        ),
        (
            "half_open_probes",
            Options::new().half_open_probes(u32::MAX),
        ),
        (
            "expiry_strategy.initial",
            Options::new().expiry_strategy(progressive(Duration::ZERO, secs(10), 2.0)),
        ),
        (
            "expiry_strategy.initial",
            Options::new().expiry_strategy(progressive(too_long, too_long, 2.0)),
        ),
        (
            "expiry_strategy.max",
            Options::new().expiry_strategy(progressive(secs(10), secs(9), 2.0)),
        ),
        (
            "expiry_strategy.max",
            Options::new().expiry_strategy(progressive(secs(10), too_long, 2.0)),
        ),
    ];
    for j in [-0.01, 1.0, 1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        v.push(("jitter", Options::new().jitter(j)));
    }
    for f in [0.0, 0.5, 0.999, -2.0, f64::NAN, f64::INFINITY] {
        v.push((
            "expiry_strategy.factor",
            Options::new().expiry_strategy(progressive(secs(1), secs(10), f)),
        ));
    }
    v
}

/// Oversized or malformed metadata.
fn bad_metadata() -> Vec<Options> {
    let mut many = Options::new();
    for i in 0..=MAX_METADATA_ENTRIES {
        many = many.metadata(format!("k{i}"), "v");
    }
    let mut big = Options::new();
    for i in 0..9 {
        big = big.metadata(format!("k{i}"), "v".repeat(1000));
    }
    vec![
        Options::new().metadata("", "v"),
        Options::new().metadata("k".repeat(MAX_METADATA_KEY_BYTES + 1), "v"),
        Options::new().metadata("k", "v".repeat(MAX_METADATA_VALUE_BYTES + 1)),
        many,
        big,
    ]
}

/// The config every option in `bad_options` would break, as a whole `Config`.
fn bad_configs() -> Vec<(&'static str, Config)> {
    bad_options()
        .into_iter()
        .map(|(field, o)| {
            let c = Config {
                failure_threshold: o.failure_threshold_value().unwrap_or(5),
                expiry: o.expiry_value().unwrap_or(secs(60)),
                strategy: o.expiry_strategy_value().unwrap_or_default(),
                jitter: o.jitter_value().unwrap_or(0.0),
                half_open_probes: o.half_open_probes_value().unwrap_or(1),
                probe_timeout: o.probe_timeout_value(),
                trip_policy: o
                    .trip_policy_value()
                    .filter(|p| p.consecutive_threshold().is_none()),
            };
            (field, c)
        })
        .collect()
}

fn bad_settings() -> Vec<(&'static str, Settings)> {
    let d = Settings::default;
    vec![
        (
            "cleanup_interval",
            Settings {
                cleanup_interval: Duration::ZERO,
                ..d()
            },
        ),
        (
            "cleanup_interval",
            Settings {
                cleanup_interval: MAX_DURATION + NS,
                ..d()
            },
        ),
        (
            "inactive_threshold",
            Settings {
                inactive_threshold: Duration::ZERO,
                ..d()
            },
        ),
        (
            "inactive_threshold",
            Settings {
                inactive_threshold: Duration::MAX,
                ..d()
            },
        ),
        (
            "max_connections",
            Settings {
                max_connections: Some(0),
                ..d()
            },
        ),
        (
            "event_queue_capacity",
            Settings {
                event_queue_capacity: 0,
                ..d()
            },
        ),
        (
            "event_queue_capacity",
            Settings {
                event_queue_capacity: MAX_EVENT_QUEUE_CAPACITY + 1,
                ..d()
            },
        ),
    ]
}

#[test]
fn registry_rejects_every_invalid_default() {
    for (field, cfg) in bad_configs() {
        let r = registry(cfg.clone(), Settings::default());
        assert_eq!(invalid_field(r), field, "{cfg:?}");
    }
}

#[test]
fn registry_rejects_every_invalid_setting() {
    for (field, settings) in bad_settings() {
        let r = registry(Config::default(), settings.clone());
        assert_eq!(invalid_field(r), field, "{settings:?}");
    }
}

#[test]
fn registry_accepts_the_boundaries() {
    let good = [
        fixed(1, NS),
        fixed(u32::MAX, MAX_DURATION),
        Config {
            jitter: 0.999_999,
            half_open_probes: MAX_HALF_OPEN_PROBES,
            probe_timeout: Some(NS),
            ..Config::default()
        },
        Config {
            probe_timeout: Some(MAX_DURATION),
            strategy: progressive(NS, NS, 1.0),
            ..Config::default()
        },
        Config {
            strategy: progressive(secs(1), MAX_DURATION, f64::MAX),
            ..Config::default()
        },
    ];
    for cfg in good {
        registry(cfg.clone(), Settings::default()).unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    }
    let settings = Settings {
        cleanup_interval: NS,
        inactive_threshold: MAX_DURATION,
        max_connections: Some(1),
        auto_register: true,
        event_queue_capacity: MAX_EVENT_QUEUE_CAPACITY,
    };
    registry(Config::default(), settings).unwrap();
}

#[test]
fn register_with_invalid_options_registers_nothing() {
    let h = Harness::empty(Config::default());
    let events = h.cx().bus.subscribe(Filter::new());
    let mut cases: Vec<(&str, Options)> = bad_options();
    cases.extend(bad_metadata().into_iter().map(|o| ("metadata", o)));
    for (field, options) in cases {
        let r = h.reg.register(KEY, &options);
        assert_eq!(invalid_field(r), field, "{options:?}");
        assert!(matches!(h.reg.status(KEY), Err(Error::NotFound { .. })));
    }
    assert!(h.reg.is_empty());
    assert_eq!(events.try_iter().count(), 0, "no event");
    // The key is still free.
    h.reg.register(KEY, &Options::new()).unwrap();
}

#[test]
fn configure_with_invalid_options_changes_nothing() {
    let h = Harness::new(fixed(3, secs(60)));
    h.reg
        .configure(KEY, &Options::new().metadata("team", "billing"))
        .unwrap();
    let configured = h
        .cx()
        .bus
        .subscribe(Filter::new().event_type(EventType::Configured));
    let mut cases: Vec<(&str, Options)> = bad_options();
    cases.extend(bad_metadata().into_iter().map(|o| ("metadata", o)));
    for (field, options) in cases {
        // A valid field set alongside the bad one must not slip through either.
        let options = if field == "failure_threshold" {
            options
        } else {
            options.failure_threshold(1)
        };
        let r = h.reg.configure(KEY, &options);
        assert_eq!(invalid_field(r), field, "{options:?}");
    }
    assert_eq!(configured.try_iter().count(), 0, "no Configured event");
    let s = h.status();
    assert_eq!(s.metadata.len(), 1);
    assert_eq!(s.metadata["team"], "billing");
    assert_eq!(s.open_duration, secs(60), "expiry unchanged");
    h.failures(2);
    assert_eq!(h.state(), State::Closed, "threshold still 3");
    h.failure();
    assert_eq!(h.state(), State::Open);
}

#[test]
fn configure_rejects_metadata_that_would_grow_past_the_limit() {
    let h = Harness::empty(Config::default());
    let mut full = Options::new();
    for i in 0..MAX_METADATA_ENTRIES {
        full = full.metadata(format!("k{i}"), "v");
    }
    h.reg.register(KEY, &full).unwrap();
    let r = h
        .reg
        .configure(KEY, &Options::new().metadata("one-more", "v"));
    assert_eq!(invalid_field(r), "metadata");
    assert_eq!(h.status().metadata.len(), MAX_METADATA_ENTRIES);
    // Replacing an existing entry is fine.
    h.reg
        .configure(KEY, &Options::new().metadata("k0", "w"))
        .unwrap();
    assert_eq!(h.status().metadata["k0"], "w");
}

#[test]
fn configure_defaults_with_invalid_options_changes_nothing() {
    let h = Harness::new(fixed(3, secs(60)));
    let before = h.reg.defaults();
    let configured = h
        .cx()
        .bus
        .subscribe(Filter::new().event_type(EventType::Configured));
    let mut cases: Vec<(&str, Options)> = bad_options();
    cases.push(("metadata", Options::new().metadata("team", "billing")));
    for (field, options) in cases {
        let r = h.reg.configure_defaults(&options);
        assert_eq!(invalid_field(r), field, "{options:?}");
        assert_eq!(h.reg.defaults(), before);
    }
    assert_eq!(configured.try_iter().count(), 0);
}

#[test]
fn manual_open_with_invalid_duration_is_rejected_before_lookup() {
    let h = Harness::empty(Config::default());
    let r = h
        .reg
        .open(KEY, &OpenOptions::new().duration(Duration::ZERO));
    assert_eq!(invalid_field(r), "duration");
}
