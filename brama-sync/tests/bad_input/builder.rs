//! Builder and run-time settings: invalid ones name their field; the edges are valid.

use std::time::Duration;

use brama_sync::{Brama, Builder};

use crate::support::{brama, invalid_field, progressive, HOUR, MAX_DURATION, TOO_LONG};

#[test]
fn every_invalid_builder_setting_is_invalid_config_naming_the_field() {
    let s = Duration::from_secs(1);
    let cases: Vec<(Builder, &str)> = vec![
        (Brama::builder().failure_threshold(0), "failure_threshold"),
        (Brama::builder().expiry(Duration::ZERO), "expiry"),
        (Brama::builder().expiry(TOO_LONG), "expiry"),
        (Brama::builder().expiry(Duration::MAX), "expiry"),
        (
            Brama::builder().expiry_strategy(progressive(Duration::ZERO, s, 2.0)),
            "expiry_strategy.initial",
        ),
        (
            Brama::builder().expiry_strategy(progressive(TOO_LONG, TOO_LONG, 2.0)),
            "expiry_strategy.initial",
        ),
        (
            Brama::builder().expiry_strategy(progressive(s, Duration::ZERO, 2.0)),
            "expiry_strategy.max",
        ),
        // Inverted: max below initial.
        (
            Brama::builder().expiry_strategy(progressive(2 * s, s, 2.0)),
            "expiry_strategy.max",
        ),
        (
            Brama::builder().expiry_strategy(progressive(s, s, 0.5)),
            "expiry_strategy.factor",
        ),
        (
            Brama::builder().expiry_strategy(progressive(s, s, -1.0)),
            "expiry_strategy.factor",
        ),
        (
            Brama::builder().expiry_strategy(progressive(s, s, f64::NAN)),
            "expiry_strategy.factor",
        ),
        (
            Brama::builder().expiry_strategy(progressive(s, s, f64::INFINITY)),
            "expiry_strategy.factor",
        ),
        (Brama::builder().jitter(-0.1), "jitter"),
        (Brama::builder().jitter(1.0), "jitter"),
        (Brama::builder().jitter(1.5), "jitter"),
        (Brama::builder().jitter(f64::NAN), "jitter"),
        (Brama::builder().jitter(f64::INFINITY), "jitter"),
        (Brama::builder().jitter(f64::NEG_INFINITY), "jitter"),
        (Brama::builder().half_open_probes(0), "half_open_probes"),
        (
            Brama::builder().half_open_probes(65_536),
            "half_open_probes",
        ),
        (
            Brama::builder().half_open_probes(u32::MAX),
            "half_open_probes",
        ),
        (
            Brama::builder().probe_timeout(Duration::ZERO),
            "probe_timeout",
        ),
        (Brama::builder().probe_timeout(TOO_LONG), "probe_timeout"),
        (
            Brama::builder().cleanup_interval(Duration::ZERO),
            "cleanup_interval",
        ),
        (
            Brama::builder().cleanup_interval(TOO_LONG),
            "cleanup_interval",
        ),
        (
            Brama::builder().inactive_threshold(Duration::ZERO),
            "inactive_threshold",
        ),
        (
            Brama::builder().inactive_threshold(TOO_LONG),
            "inactive_threshold",
        ),
        (Brama::builder().max_connections(0), "max_connections"),
        (
            Brama::builder().event_queue_capacity(0),
            "event_queue_capacity",
        ),
        (
            Brama::builder().event_queue_capacity((1 << 20) + 1),
            "event_queue_capacity",
        ),
    ];
    for (b, field) in cases {
        let described = format!("{b:?}");
        assert_eq!(invalid_field(b.build()), field, "{described}");
    }
}

#[test]
fn the_edges_of_every_builder_range_are_valid() {
    let s = Duration::from_secs(1);
    let ok = [
        Brama::builder().failure_threshold(1),
        Brama::builder().failure_threshold(u32::MAX),
        Brama::builder().expiry(Duration::from_nanos(1)),
        Brama::builder().expiry(MAX_DURATION),
        Brama::builder().expiry_strategy(progressive(s, s, 1.0)),
        Brama::builder().expiry_strategy(progressive(
            Duration::from_nanos(1),
            MAX_DURATION,
            f64::MAX,
        )),
        Brama::builder().jitter(0.0),
        Brama::builder().jitter(0.999_999),
        Brama::builder().half_open_probes(1),
        Brama::builder().half_open_probes(65_535),
        Brama::builder().probe_timeout(MAX_DURATION),
        Brama::builder().cleanup_interval(MAX_DURATION),
        Brama::builder().inactive_threshold(Duration::from_nanos(1)),
        Brama::builder().max_connections(1),
        Brama::builder().max_connections(usize::MAX),
        Brama::builder().event_queue_capacity(1),
        Brama::builder().event_queue_capacity(1 << 20),
    ];
    for b in ok {
        let described = format!("{b:?}");
        b.build().unwrap_or_else(|e| panic!("{described}: {e}"));
    }
}

#[test]
fn invalid_run_time_settings_are_rejected_and_change_nothing() {
    let brama = brama();
    assert_eq!(
        invalid_field(brama.set_cleanup_interval(Duration::ZERO)),
        "cleanup_interval"
    );
    assert_eq!(
        invalid_field(brama.set_cleanup_interval(TOO_LONG)),
        "cleanup_interval"
    );
    assert_eq!(brama.cleanup_interval(), HOUR);
    assert_eq!(
        invalid_field(brama.set_inactive_threshold(Duration::ZERO)),
        "inactive_threshold"
    );
    assert_eq!(brama.inactive_threshold(), Duration::from_secs(24 * 3600));
}
