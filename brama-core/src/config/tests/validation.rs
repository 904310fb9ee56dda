use super::*;

// ---- defaults -------------------------------------------------------------

#[test]
fn defaults_match_spec() {
    let c = Config::default();
    assert_eq!(c.failure_threshold, 5);
    assert_eq!(c.expiry, secs(60));
    assert_eq!(c.strategy, ExpiryStrategy::Fixed);
    assert_eq!(c.jitter, 0.0);
    assert_eq!(c.half_open_probes, 1);
    assert_eq!(c.probe_timeout, None);
    assert_eq!(c.probe_timeout(), secs(60));
    c.validate().unwrap();

    let s = Settings::default();
    assert_eq!(s.cleanup_interval, secs(10));
    assert_eq!(s.inactive_threshold, secs(24 * 3600));
    assert_eq!(s.max_connections, None);
    assert!(!s.auto_register);
    assert_eq!(s.event_queue_capacity, 1024);
    s.validate().unwrap();

    assert!(Options::new().is_empty());
    Options::new().validate().unwrap();
    OpenOptions::new().validate().unwrap();
}

#[test]
fn progressive_defaults_derive_from_expiry() {
    assert_eq!(
        ExpiryStrategy::progressive(secs(60)),
        ExpiryStrategy::Progressive {
            initial: secs(60),
            max: secs(600),
            factor: 2.0
        }
    );
    // The default cap never exceeds MAX_DURATION, so a valid expiry stays valid.
    let s = ExpiryStrategy::progressive(MAX_DURATION / 2);
    assert_eq!(
        s,
        ExpiryStrategy::Progressive {
            initial: MAX_DURATION / 2,
            max: MAX_DURATION,
            factor: 2.0
        }
    );
    Options::new().expiry_strategy(s).validate().unwrap();
    // No overflow for the largest Duration.
    let _ = ExpiryStrategy::progressive(Duration::MAX);
}

#[test]
fn max_duration_is_100_years() {
    assert_eq!(MAX_DURATION, secs(3_153_600_000));
}

// ---- failure_threshold ----------------------------------------------------

#[test]
fn failure_threshold_zero_rejected() {
    assert_eq!(
        field_of(Options::new().failure_threshold(0).validate()),
        "failure_threshold"
    );
    let c = Config {
        failure_threshold: 0,
        ..Config::default()
    };
    assert_eq!(field_of(c.validate()), "failure_threshold");
}

#[test]
fn failure_threshold_reason_says_what_is_allowed() {
    match Options::new().failure_threshold(0).validate() {
        Err(Error::InvalidConfig { reason, .. }) => {
            assert_eq!(reason, "must be at least 1, got 0")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failure_threshold_boundaries_accepted() {
    for n in [1, u32::MAX] {
        Options::new().failure_threshold(n).validate().unwrap();
        let c = Options::new()
            .failure_threshold(n)
            .apply(&Config::default())
            .unwrap();
        assert_eq!(c.failure_threshold, n);
    }
}

// ---- half_open_probes -----------------------------------------------------

#[test]
fn half_open_probes_out_of_range_rejected() {
    for n in [0, MAX_HALF_OPEN_PROBES + 1, u32::MAX] {
        assert_eq!(
            field_of(Options::new().half_open_probes(n).validate()),
            "half_open_probes"
        );
    }
    match Options::new().half_open_probes(70_000).validate() {
        Err(Error::InvalidConfig { reason, .. }) => {
            assert!(reason.contains("16 bits"), "{reason}");
            assert!(reason.contains("65535"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn half_open_probes_boundaries_accepted() {
    for n in [1, 65_535] {
        Options::new().half_open_probes(n).validate().unwrap();
    }
}

// ---- durations ------------------------------------------------------------

#[test]
fn zero_durations_rejected() {
    assert_eq!(
        field_of(Options::new().expiry(Duration::ZERO).validate()),
        "expiry"
    );
    assert_eq!(
        field_of(Options::new().probe_timeout(Duration::ZERO).validate()),
        "probe_timeout"
    );
    assert_eq!(
        field_of(OpenOptions::new().duration(Duration::ZERO).validate()),
        "duration"
    );
    let s = Settings {
        cleanup_interval: Duration::ZERO,
        ..Settings::default()
    };
    assert_eq!(field_of(s.validate()), "cleanup_interval");
    let s = Settings {
        inactive_threshold: Duration::ZERO,
        ..Settings::default()
    };
    assert_eq!(field_of(s.validate()), "inactive_threshold");
}

#[test]
fn durations_above_max_rejected() {
    let over = MAX_DURATION + NS;
    assert_eq!(field_of(Options::new().expiry(over).validate()), "expiry");
    assert_eq!(
        field_of(Options::new().probe_timeout(over).validate()),
        "probe_timeout"
    );
    assert_eq!(
        field_of(OpenOptions::new().duration(over).validate()),
        "duration"
    );
    assert_eq!(
        field_of(OpenOptions::new().duration(Duration::MAX).validate()),
        "duration"
    );
    let s = Settings {
        cleanup_interval: over,
        ..Settings::default()
    };
    assert_eq!(field_of(s.validate()), "cleanup_interval");
    let s = Settings {
        inactive_threshold: over,
        ..Settings::default()
    };
    assert_eq!(field_of(s.validate()), "inactive_threshold");
}

#[test]
fn duration_boundaries_accepted() {
    for d in [NS, MAX_DURATION] {
        Options::new()
            .expiry(d)
            .probe_timeout(d)
            .validate()
            .unwrap();
        OpenOptions::new().duration(d).validate().unwrap();
        Settings {
            cleanup_interval: d,
            inactive_threshold: d,
            ..Settings::default()
        }
        .validate()
        .unwrap();
        Options::new()
            .expiry_strategy(ExpiryStrategy::Progressive {
                initial: d,
                max: d,
                factor: 1.0,
            })
            .validate()
            .unwrap();
    }
}

#[test]
fn config_probe_timeout_validated() {
    let c = Config {
        probe_timeout: Some(Duration::ZERO),
        ..Config::default()
    };
    assert_eq!(field_of(c.validate()), "probe_timeout");
    let c = Config {
        expiry: MAX_DURATION + NS,
        ..Config::default()
    };
    assert_eq!(field_of(c.validate()), "expiry");
}

// ---- progressive strategy -------------------------------------------------

#[test]
fn progressive_initial_zero_rejected() {
    let s = ExpiryStrategy::Progressive {
        initial: Duration::ZERO,
        max: secs(10),
        factor: 2.0,
    };
    assert_eq!(
        field_of(Options::new().expiry_strategy(s).validate()),
        "expiry_strategy.initial"
    );
}

#[test]
fn progressive_above_max_duration_rejected() {
    let s = ExpiryStrategy::Progressive {
        initial: secs(1),
        max: MAX_DURATION + NS,
        factor: 2.0,
    };
    assert_eq!(
        field_of(Options::new().expiry_strategy(s).validate()),
        "expiry_strategy.max"
    );
}

#[test]
fn progressive_max_below_initial_rejected() {
    let s = ExpiryStrategy::Progressive {
        initial: secs(10),
        max: secs(10) - NS,
        factor: 2.0,
    };
    assert_eq!(
        field_of(Options::new().expiry_strategy(s).validate()),
        "expiry_strategy.max"
    );
    assert_eq!(
        field_of(progressive(secs(10), secs(5), 2.0).validate()),
        "expiry_strategy.max"
    );
}

#[test]
fn progressive_bad_factor_rejected() {
    for factor in [0.999, 0.0, -2.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let s = ExpiryStrategy::Progressive {
            initial: secs(1),
            max: secs(10),
            factor,
        };
        assert_eq!(
            field_of(Options::new().expiry_strategy(s).validate()),
            "expiry_strategy.factor",
            "factor {factor}"
        );
    }
}

#[test]
fn progressive_factor_boundaries_accepted() {
    for factor in [1.0, f64::MAX] {
        progressive(secs(1), secs(10), factor).validate().unwrap();
    }
}

// ---- jitter ---------------------------------------------------------------

#[test]
fn jitter_out_of_range_rejected() {
    for j in [
        -0.0001,
        1.0,
        1.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(
            field_of(Options::new().jitter(j).validate()),
            "jitter",
            "jitter {j}"
        );
    }
}

#[test]
fn jitter_boundaries_accepted() {
    for j in [0.0, 0.999] {
        Options::new().jitter(j).validate().unwrap();
    }
}

// ---- settings -------------------------------------------------------------

#[test]
fn max_connections_zero_rejected() {
    let s = Settings {
        max_connections: Some(0),
        ..Settings::default()
    };
    assert_eq!(field_of(s.validate()), "max_connections");
    for max in [None, Some(1), Some(usize::MAX)] {
        Settings {
            max_connections: max,
            ..Settings::default()
        }
        .validate()
        .unwrap();
    }
}

#[test]
fn event_queue_capacity_range() {
    for cap in [0, MAX_EVENT_QUEUE_CAPACITY + 1, usize::MAX] {
        let s = Settings {
            event_queue_capacity: cap,
            ..Settings::default()
        };
        assert_eq!(field_of(s.validate()), "event_queue_capacity");
    }
    for cap in [1, 1_048_576] {
        Settings {
            event_queue_capacity: cap,
            ..Settings::default()
        }
        .validate()
        .unwrap();
    }
}

// ---- metadata -------------------------------------------------------------

#[test]
fn metadata_key_limits() {
    assert_eq!(
        field_of(Options::new().metadata("", "v").validate()),
        "metadata"
    );
    let long = "k".repeat(MAX_METADATA_KEY_BYTES + 1);
    assert_eq!(
        field_of(Options::new().metadata(long, "v").validate()),
        "metadata"
    );
    Options::new()
        .metadata("k".repeat(MAX_METADATA_KEY_BYTES), "v")
        .metadata("x", "v")
        .validate()
        .unwrap();
}

#[test]
fn metadata_value_limits() {
    let long = "v".repeat(MAX_METADATA_VALUE_BYTES + 1);
    match Options::new().metadata("k", long).validate() {
        Err(Error::InvalidConfig { field, reason }) => {
            assert_eq!(field, "metadata");
            assert!(reason.contains("1024"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    Options::new()
        .metadata("k", "v".repeat(MAX_METADATA_VALUE_BYTES))
        .metadata("empty", "")
        .validate()
        .unwrap();
}

#[test]
fn metadata_entry_count_limit() {
    let mut o = Options::new();
    for i in 0..MAX_METADATA_ENTRIES {
        o = o.metadata(format!("k{i}"), "v");
    }
    o.validate().unwrap();
    // Re-setting an existing key does not add an entry.
    o = o.metadata("k0", "w");
    o.validate().unwrap();
    o = o.metadata("one-too-many", "v");
    match o.validate() {
        Err(Error::InvalidConfig { field, reason }) => {
            assert_eq!(field, "metadata");
            assert!(reason.contains("32"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn metadata_total_size_limit() {
    // 8 entries of a 2-byte key and a 1022-byte value: 8 * 1024 = 8192 bytes.
    let mut o = Options::new();
    for i in 0..8 {
        o = o.metadata(format!("k{i}"), "v".repeat(1022));
    }
    o.validate().unwrap();
    let o = o.metadata("z", "");
    match o.validate() {
        Err(Error::InvalidConfig { field, reason }) => {
            assert_eq!(field, "metadata");
            assert!(reason.contains("8192"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn apply_checks_metadata() {
    let o = Options::new().metadata("", "v");
    assert_eq!(field_of(o.apply(&Config::default())), "metadata");
}

// ---- open options ---------------------------------------------------------
