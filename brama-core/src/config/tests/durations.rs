use super::*;

#[test]
fn open_options_builders() {
    let o = OpenOptions::new();
    assert_eq!(o.reason_str(), None);
    assert_eq!(o.open_duration(), OpenDuration::Current);
    let o = o.reason("maintenance").indefinitely();
    assert_eq!(o.reason_str(), Some("maintenance"));
    assert_eq!(o.open_duration(), OpenDuration::Indefinitely);
    o.validate().unwrap();
    let o = o.duration(secs(30));
    assert_eq!(o.open_duration(), OpenDuration::For(secs(30)));
    assert_eq!(o.indefinitely().open_duration(), OpenDuration::Indefinitely);
}

// ---- open_duration --------------------------------------------------------

#[test]
fn open_duration_fixed_is_expiry() {
    let c = Config {
        expiry: secs(7),
        ..Config::default()
    };
    for n in [0, 1, 2, 100, u32::MAX] {
        assert_eq!(c.open_duration(n), secs(7));
    }
}

#[test]
fn open_duration_progressive_steps() {
    let c = progressive(secs(1), secs(100), 2.0);
    assert_eq!(c.open_duration(0), secs(1));
    assert_eq!(c.open_duration(1), secs(1));
    assert_eq!(c.open_duration(2), secs(2));
    assert_eq!(c.open_duration(3), secs(4));
    assert_eq!(c.open_duration(7), secs(64));
}

#[test]
fn open_duration_progressive_capped_at_max() {
    let c = progressive(secs(1), secs(5), 2.0);
    assert_eq!(c.open_duration(3), secs(4));
    assert_eq!(c.open_duration(4), secs(5));
    assert_eq!(c.open_duration(5), secs(5));
    assert_eq!(c.open_duration(1_000), secs(5));
}

#[test]
fn open_duration_huge_n_saturates_without_panic() {
    let c = progressive(secs(1), MAX_DURATION, 2.0);
    assert_eq!(c.open_duration(u32::MAX), MAX_DURATION);
    let c = progressive(NS, secs(1), 1.000_000_1);
    assert_eq!(c.open_duration(u32::MAX), secs(1));
    let c = progressive(MAX_DURATION, MAX_DURATION, f64::MAX);
    assert_eq!(c.open_duration(u32::MAX), MAX_DURATION);
    assert_eq!(c.open_duration(2), MAX_DURATION);
}

#[test]
fn open_duration_factor_one_stays_initial() {
    let c = progressive(secs(3), secs(30), 1.0);
    for n in [1, 2, 3, 1_000, u32::MAX] {
        assert_eq!(c.open_duration(n), secs(3));
    }
}

#[test]
fn open_duration_never_panics_on_unvalidated_config() {
    let weird = [
        (Duration::ZERO, Duration::ZERO, 2.0),
        (secs(10), secs(1), 2.0),
        (secs(1), secs(10), f64::NAN),
        (secs(1), secs(10), -3.0),
        (secs(1), secs(10), f64::INFINITY),
        (Duration::MAX, Duration::MAX, 2.0),
    ];
    for (initial, max, factor) in weird {
        let c = progressive(initial, max, factor);
        for n in [0, 1, 2, 64, u32::MAX] {
            assert!(c.open_duration(n) <= max);
        }
    }
}

// ---- jittered -------------------------------------------------------------

#[test]
fn jittered_zero_jitter_is_exact() {
    let c = Config::default();
    for d in [NS, secs(1), Duration::from_nanos(123_456_789), MAX_DURATION] {
        for u in [0.0, 0.25, 0.5, 0.999_999] {
            assert_eq!(c.jittered(d, u), d);
        }
    }
}

#[test]
fn jittered_stays_within_bounds() {
    for j in [0.0, 0.1, 0.5, 0.999] {
        let c = Config {
            jitter: j,
            ..Config::default()
        };
        for d in [
            secs(1),
            secs(60),
            Duration::from_nanos(987_654_321),
            MAX_DURATION,
        ] {
            let lo = d.as_secs_f64() * (1.0 - j);
            let hi = d.as_secs_f64() * (1.0 + j);
            // Float rounding: a nanosecond, or a few ulps for long durations.
            let slack = 1e-9 + hi * 1e-12;
            for u in [0.0, 0.5, 0.999_999] {
                let out = c.jittered(d, u).as_secs_f64();
                assert!(
                    out >= lo - slack && out <= hi + slack,
                    "j={j} d={d:?} u={u}: {out} not in [{lo}, {hi}]"
                );
            }
            assert_eq!(c.jittered(d, 0.5), d);
        }
    }
}

#[test]
fn jittered_spreads_both_ways() {
    let c = Config {
        jitter: 0.5,
        ..Config::default()
    };
    assert_eq!(c.jittered(secs(10), 0.0), secs(5));
    assert_eq!(c.jittered(secs(10), 0.75), Duration::from_millis(12_500));
}

#[test]
fn jittered_never_below_one_nanosecond_or_panics() {
    let c = Config {
        jitter: 0.999,
        ..Config::default()
    };
    assert_eq!(c.jittered(NS, 0.0), NS);
    assert_eq!(c.jittered(Duration::ZERO, 0.0), NS);
    let _ = c.jittered(Duration::MAX, 0.999_999);
    for u in [f64::NAN, -1.0, 2.0, f64::INFINITY, f64::NEG_INFINITY] {
        let out = c.jittered(secs(1), u);
        assert!(out >= NS && out <= secs(2), "u={u}: {out:?}");
    }
    for j in [f64::NAN, -1.0, 1.0, 5.0, f64::INFINITY] {
        let c = Config {
            jitter: j,
            ..Config::default()
        };
        for u in [0.0, 0.5, 0.999_999] {
            let out = c.jittered(secs(1), u);
            assert!(out >= NS && out <= secs(2), "j={j} u={u}: {out:?}");
        }
    }
}

// ---- apply and overlay ----------------------------------------------------

#[test]
fn apply_empty_options_is_base() {
    let base = Config::default();
    assert_eq!(Options::new().apply(&base).unwrap(), base);
}

#[test]
fn apply_changes_only_set_fields() {
    let base = Config::default();
    let strategy = ExpiryStrategy::progressive(secs(2));
    let cases: Vec<(Options, Config)> = vec![
        (
            Options::new().failure_threshold(9),
            Config {
                failure_threshold: 9,
                ..base.clone()
            },
        ),
        (
            Options::new().expiry(secs(5)),
            Config {
                expiry: secs(5),
                ..base.clone()
            },
        ),
        (
            Options::new().expiry_strategy(strategy),
            Config {
                strategy,
                ..base.clone()
            },
        ),
        (
            Options::new().jitter(0.25),
            Config {
                jitter: 0.25,
                ..base.clone()
            },
        ),
        (
            Options::new().half_open_probes(4),
            Config {
                half_open_probes: 4,
                ..base.clone()
            },
        ),
        (
            Options::new().probe_timeout(secs(3)),
            Config {
                probe_timeout: Some(secs(3)),
                ..base.clone()
            },
        ),
        (Options::new().metadata("team", "billing"), base.clone()),
    ];
    for (options, expected) in cases {
        assert_eq!(options.apply(&base).unwrap(), expected, "{options:?}");
    }
}

#[test]
fn apply_keeps_base_probe_timeout_when_unset() {
    let base = Config {
        probe_timeout: Some(secs(4)),
        ..Config::default()
    };
    let c = Options::new().expiry(secs(9)).apply(&base).unwrap();
    assert_eq!(c.probe_timeout(), secs(4));
}

#[test]
fn apply_rejects_invalid_set_field() {
    let o = Options::new().failure_threshold(3).jitter(1.0);
    assert_eq!(field_of(o.apply(&Config::default())), "jitter");
}

#[test]
fn apply_validates_the_whole() {
    let bad_base = Config {
        half_open_probes: 0,
        ..Config::default()
    };
    assert_eq!(
        field_of(Options::new().failure_threshold(2).apply(&bad_base)),
        "half_open_probes"
    );
    // Overriding the bad field repairs it.
    Options::new().half_open_probes(2).apply(&bad_base).unwrap();
    let inverted = ExpiryStrategy::Progressive {
        initial: secs(10),
        max: secs(1),
        factor: 2.0,
    };
    assert_eq!(
        field_of(
            Options::new()
                .expiry_strategy(inverted)
                .apply(&Config::default())
        ),
        "expiry_strategy.max"
    );
}

#[test]
fn overlay_newer_fields_win() {
    let old = Options::new()
        .failure_threshold(3)
        .expiry(secs(5))
        .jitter(0.1)
        .metadata("a", "1")
        .metadata("b", "2");
    let newer = Options::new()
        .failure_threshold(7)
        .half_open_probes(2)
        .metadata("b", "20")
        .metadata("c", "30");
    let merged = old.overlay(&newer);
    assert_eq!(merged.failure_threshold_value(), Some(7));
    assert_eq!(merged.expiry_value(), Some(secs(5)));
    assert_eq!(merged.jitter_value(), Some(0.1));
    assert_eq!(merged.half_open_probes_value(), Some(2));
    assert_eq!(merged.expiry_strategy_value(), None);
    assert_eq!(merged.probe_timeout_value(), None);
    let md = merged.metadata_map();
    assert_eq!(md.len(), 3);
    assert_eq!(md["a"], "1");
    assert_eq!(md["b"], "20");
    assert_eq!(md["c"], "30");
}

#[test]
fn overlay_with_empty_is_identity() {
    let o = Options::new()
        .expiry_strategy(ExpiryStrategy::progressive(secs(1)))
        .probe_timeout(secs(2))
        .metadata("k", "v");
    assert_eq!(o.overlay(&Options::new()), o);
    assert_eq!(Options::new().overlay(&o), o);
}

#[test]
fn is_empty_tracks_every_field() {
    assert!(Options::new().is_empty());
    let set = [
        Options::new().failure_threshold(1),
        Options::new().expiry(secs(1)),
        Options::new().expiry_strategy(ExpiryStrategy::Fixed),
        Options::new().jitter(0.0),
        Options::new().half_open_probes(1),
        Options::new().probe_timeout(secs(1)),
        Options::new().metadata("k", "v"),
    ];
    for o in set {
        assert!(!o.is_empty(), "{o:?}");
    }
}

#[test]
fn getters_return_set_values() {
    let o = Options::new()
        .failure_threshold(2)
        .expiry(secs(3))
        .expiry_strategy(ExpiryStrategy::Fixed)
        .jitter(0.5)
        .half_open_probes(6)
        .probe_timeout(secs(7));
    assert_eq!(o.failure_threshold_value(), Some(2));
    assert_eq!(o.expiry_value(), Some(secs(3)));
    assert_eq!(o.expiry_strategy_value(), Some(ExpiryStrategy::Fixed));
    assert_eq!(o.jitter_value(), Some(0.5));
    assert_eq!(o.half_open_probes_value(), Some(6));
    assert_eq!(o.probe_timeout_value(), Some(secs(7)));
    assert!(o.metadata_map().is_empty());
}

#[test]
fn error_messages_name_field_and_limit() {
    let err = Options::new()
        .expiry(MAX_DURATION + NS)
        .validate()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`expiry`"), "{text}");
    assert!(text.contains("100 years"), "{text}");
}
