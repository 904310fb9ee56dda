//! SPEC §7 (bad input is rejected with a clear error and changes nothing), the key rules
//! of §1, and the registration rules of §3 (AlreadyRegistered, NotFound, auto_register,
//! max_connections).

mod common;

use std::time::Duration;

use brama_core::engine::config::{
    MAX_DURATION, MAX_EVENT_QUEUE_CAPACITY, MAX_HALF_OPEN_PROBES, MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_BYTES, MAX_METADATA_VALUE_BYTES,
};
use brama_core::engine::Registry;
use brama_core::{
    ClockSource, Config, Error, EventType, ExpiryStrategy, Filter, Key, ManualClock, OpenOptions,
    Options, Settings, State,
};
use common::*;

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

fn registry(cfg: Config, settings: Settings) -> Result<Registry, Error> {
    Registry::new(cfg, settings, ClockSource::from(ManualClock::new()))
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

// ----- keys (§1) -------------------------------------------------------------------------

fn bad_keys() -> Vec<(String, Option<String>)> {
    let long = "x".repeat(257);
    let long_utf8 = "é".repeat(129); // 258 bytes, 129 chars
    vec![
        (String::new(), None),
        (long.clone(), None),
        (long_utf8.clone(), None),
        ("id".into(), Some(String::new())),
        ("id".into(), Some(long)),
        (String::new(), Some("scope".into())),
        ("x".repeat(300), Some(long_utf8)),
    ]
}

fn key_of(k: &(String, Option<String>)) -> Key<'_> {
    match &k.1 {
        Some(scope) => Key::scoped(scope, &k.0),
        None => Key::new(&k.0),
    }
}

#[test]
fn invalid_keys_are_rejected_by_every_method_and_change_nothing() {
    for auto_register in [false, true] {
        let h = Harness::with_settings(
            Config::default(),
            Settings {
                auto_register,
                ..Settings::default()
            },
        );
        let events = h.cx().bus.subscribe(Filter::new());
        for k in &bad_keys() {
            let key = key_of(k);
            let what = format!("auto={auto_register} {key:?}");
            assert!(
                is_invalid_key(&h.reg.register(key, &Options::new())),
                "{what}"
            );
            assert!(!h.reg.available(key), "{what}");
            assert!(is_invalid_key(&h.reg.acquire(key)), "{what}");
            assert!(is_invalid_key(&h.reg.success(key)), "{what}");
            assert!(is_invalid_key(&h.reg.failure(key, Some("x"))), "{what}");
            assert!(is_invalid_key(&h.reg.status(key)), "{what}");
            assert!(is_invalid_key(&h.reg.unregister(key)), "{what}");
            assert!(
                is_invalid_key(&h.reg.open(key, &OpenOptions::new())),
                "{what}"
            );
            assert!(is_invalid_key(&h.reg.close(key)), "{what}");
            assert!(is_invalid_key(&h.reg.reset(key)), "{what}");
            assert!(
                is_invalid_key(&h.reg.configure(key, &Options::new())),
                "{what}"
            );
            assert!(is_invalid_key(&h.reg.handle(key)), "{what}");
        }
        assert!(h.reg.is_empty());
        assert!(h.reg.connections().is_empty());
        assert_eq!(events.try_iter().count(), 0);
    }
}

#[test]
fn key_parts_of_256_bytes_are_accepted() {
    let h = Harness::empty(Config::default());
    let id = "x".repeat(256);
    let scope = "é".repeat(128); // 256 bytes
    let utf8_id = "日".repeat(85); // 255 bytes
    for key in [
        Key::new(&id),
        Key::scoped(&scope, &id),
        Key::scoped(&scope, "a"),
        Key::new(&utf8_id),
        Key::new("a"),
        Key::scoped("s", "a"),
    ] {
        let s = h.reg.register(key, &Options::new()).unwrap();
        assert_eq!(s.identifier, key.identifier());
        assert_eq!(s.scope.as_deref(), key.scope());
        h.reg.failure(key, None).unwrap();
        assert_eq!(h.reg.status(key).unwrap().total_failures, 1);
    }
    assert_eq!(h.reg.len(), 6);
}

#[test]
fn scoped_and_unscoped_keys_are_different_connections() {
    let h = Harness::empty(fixed(1, secs(60)));
    let unscoped = Key::new("a:b");
    let scoped = Key::scoped("a", "b");
    assert_eq!(Key::from("a:b"), unscoped);
    assert_eq!(Key::from(("a", "b")), scoped);
    h.reg.register(unscoped, &Options::new()).unwrap();
    assert!(matches!(h.reg.status(scoped), Err(Error::NotFound { .. })));
    assert!(!h.reg.available(scoped));
    assert!(matches!(h.reg.success(scoped), Err(Error::NotFound { .. })));
    h.reg.register(scoped, &Options::new()).unwrap();
    assert_eq!(h.reg.len(), 2);
    h.reg.failure(scoped, None).unwrap();
    assert_eq!(h.reg.status(scoped).unwrap().state, State::Open);
    assert_eq!(h.reg.status(unscoped).unwrap().state, State::Unknown);
    assert!(h.reg.available(unscoped));
    assert_eq!(h.reg.connections_in("a").len(), 1);
    assert_eq!(h.reg.connections().len(), 2);
    h.reg.unregister(unscoped).unwrap();
    assert_eq!(h.reg.status(scoped).unwrap().state, State::Open);
}

#[test]
fn a_scoped_connection_is_found_only_with_its_scope() {
    let h = Harness::empty(Config::default());
    let key = Key::scoped("payments", "stripe");
    h.reg.register(key, &Options::new()).unwrap();
    for other in [
        Key::new("stripe"),
        Key::scoped("billing", "stripe"),
        Key::new("payments:stripe"),
        Key::new("payments/stripe"),
        Key::new("paymentsstripe"),
        Key::scoped("paymentss", "tripe"),
        Key::scoped("payment", "sstripe"),
    ] {
        assert!(
            matches!(h.reg.status(other), Err(Error::NotFound { .. })),
            "{other:?}"
        );
        assert!(!h.reg.available(other), "{other:?}");
    }
    assert_eq!(h.reg.status(key).unwrap().identifier, "stripe");
}

#[test]
fn scope_and_identifier_boundaries_do_not_collide() {
    // Same concatenated bytes, split differently.
    let h = Harness::empty(fixed(1, secs(60)));
    let keys = [
        Key::scoped("ab", "c"),
        Key::scoped("a", "bc"),
        Key::new("abc"),
        Key::scoped("abc", "x"),
    ];
    for k in keys {
        h.reg.register(k, &Options::new()).unwrap();
    }
    h.reg.failure(keys[0], None).unwrap();
    let states: Vec<State> = keys
        .iter()
        .map(|k| h.reg.status(*k).unwrap().state)
        .collect();
    assert_eq!(
        states,
        [State::Open, State::Unknown, State::Unknown, State::Unknown]
    );
}

// ----- registration (§3) --------------------------------------------------------------------

#[test]
fn registering_twice_is_already_registered_and_changes_nothing() {
    let h = Harness::empty(Config::default());
    let registered = h
        .cx()
        .bus
        .subscribe(Filter::new().event_type(EventType::Registered));
    h.reg
        .register(
            KEY,
            &Options::new().failure_threshold(2).metadata("team", "a"),
        )
        .unwrap();
    h.failure();
    h.advance(secs(5));
    let before = h.status();
    let r = h.reg.register(
        KEY,
        &Options::new()
            .failure_threshold(1)
            .metadata("team", "b")
            .metadata("extra", "x"),
    );
    assert_eq!(r, Err(Error::AlreadyRegistered));
    let s = h.status();
    assert_eq!(s.metadata, before.metadata);
    assert_eq!(s.registered_at, before.registered_at);
    assert_eq!(
        (s.state, s.consecutive_failures, s.total_failures),
        (State::Closed, 1, 1)
    );
    assert_eq!(h.reg.len(), 1);
    assert_eq!(registered.try_iter().count(), 1, "one Registered event");
    h.failure();
    assert_eq!(h.state(), State::Open, "the original threshold 2 holds");
    // Invalid options on an existing key: still AlreadyRegistered or InvalidConfig,
    // never a change.
    assert!(h
        .reg
        .register(KEY, &Options::new().failure_threshold(0))
        .is_err());
    assert_eq!(h.state(), State::Open);
}

#[test]
fn unknown_keys_are_not_found_and_change_nothing() {
    let h = Harness::empty(Config::default());
    let events = h.cx().bus.subscribe(Filter::new());
    let key = Key::scoped("nowhere", "nothing");
    assert!(!h.reg.available(key));
    assert!(matches!(
        h.reg.acquire(key).err(),
        Some(Error::NotFound { .. })
    ));
    assert!(matches!(h.reg.success(key), Err(Error::NotFound { .. })));
    assert!(matches!(
        h.reg.failure(key, None),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(h.reg.status(key), Err(Error::NotFound { .. })));
    assert!(matches!(h.reg.unregister(key), Err(Error::NotFound { .. })));
    assert!(matches!(
        h.reg.open(key, &OpenOptions::new()),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(h.reg.close(key), Err(Error::NotFound { .. })));
    assert!(matches!(h.reg.reset(key), Err(Error::NotFound { .. })));
    assert!(matches!(
        h.reg.configure(key, &Options::new().failure_threshold(2)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        h.reg.handle(key).err(),
        Some(Error::NotFound { .. })
    ));
    assert!(h.reg.is_empty());
    assert_eq!(events.try_iter().count(), 0);
}

#[test]
fn unregistered_connection_is_gone_and_its_cell_is_inert() {
    let h = Harness::new(fixed(1, secs(60)));
    let (cell, ticket) = h.reg.acquire(KEY).unwrap();
    h.failure();
    let last = h.reg.unregister(KEY).unwrap();
    assert_eq!((last.state, last.total_failures), (State::Open, 1));
    assert!(matches!(h.reg.unregister(KEY), Err(Error::NotFound { .. })));
    assert!(matches!(h.reg.status(KEY), Err(Error::NotFound { .. })));
    assert!(matches!(h.reg.success(KEY), Err(Error::NotFound { .. })));
    assert!(!h.reg.available(KEY));
    assert!(h.reg.is_empty());
    // A cell held past its removal reports NotFound and never resurrects the key.
    assert!(matches!(
        cell.success(h.cx(), Some(ticket)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        cell.failure(h.cx(), None, None),
        Err(Error::NotFound { .. })
    ));
    assert!(!cell.available(h.cx()));
    assert!(matches!(cell.acquire(h.cx()), Err(Error::NotFound { .. })));
    cell.release(ticket);
    assert!(matches!(h.reg.status(KEY), Err(Error::NotFound { .. })));
    // The key can be registered again, fresh.
    let s = h.reg.register(KEY, &Options::new()).unwrap();
    assert_eq!((s.state, s.total_failures, s.trips), (State::Unknown, 0, 0));
}

#[test]
fn auto_register_registers_on_first_use() {
    let h = Harness::with_settings(
        fixed(1, secs(60)),
        Settings {
            auto_register: true,
            ..Settings::default()
        },
    );
    let registered = h
        .cx()
        .bus
        .subscribe(Filter::new().event_type(EventType::Registered));
    assert!(h.reg.available(Key::new("a")), "registered and admitted");
    assert_eq!(h.reg.status(Key::new("a")).unwrap().state, State::Unknown);
    h.reg.failure(Key::scoped("s", "b"), None).unwrap();
    let s = h.reg.status(Key::scoped("s", "b")).unwrap();
    assert_eq!(
        (s.state, s.total_failures),
        (State::Open, 1),
        "defaults apply"
    );
    h.reg.success(Key::new("c")).unwrap();
    assert_eq!(h.reg.status(Key::new("c")).unwrap().state, State::Closed);
    let (_, t) = h.reg.acquire(Key::new("d")).unwrap();
    assert!(!t.probe);
    assert_eq!(h.reg.len(), 4);
    assert_eq!(registered.try_iter().count(), 4);
    // Lookups that do not use a connection do not register it.
    assert!(matches!(
        h.reg.status(Key::new("e")),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        h.reg.unregister(Key::new("e")),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        h.reg.close(Key::new("e")),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(h.reg.len(), 4);
    // Already registered: used, not re-registered.
    assert!(!h.reg.available(Key::scoped("s", "b")));
    assert_eq!(registered.try_iter().count(), 0);
}

#[test]
fn auto_register_off_by_default() {
    let h = Harness::empty(Config::default());
    assert!(!h.reg.auto_register());
    assert!(!h.reg.available(KEY));
    assert!(matches!(h.reg.success(KEY), Err(Error::NotFound { .. })));
    assert!(h.reg.is_empty());
}

#[test]
fn auto_register_is_bounded_by_max_connections() {
    let h = Harness::with_settings(
        Config::default(),
        Settings {
            auto_register: true,
            max_connections: Some(2),
            ..Settings::default()
        },
    );
    assert!(h.reg.available(Key::new("a")));
    h.reg.success(Key::new("b")).unwrap();
    assert!(
        !h.reg.available(Key::new("c")),
        "over capacity: not admitted"
    );
    assert_eq!(h.reg.success(Key::new("c")), Err(Error::CapacityExceeded));
    assert_eq!(
        h.reg.acquire(Key::new("c")).err(),
        Some(Error::CapacityExceeded)
    );
    assert_eq!(h.reg.len(), 2);
    assert!(matches!(
        h.reg.status(Key::new("c")),
        Err(Error::NotFound { .. })
    ));
    // Existing ones keep working.
    assert!(h.reg.available(Key::new("a")));
    h.reg.unregister(Key::new("a")).unwrap();
    assert!(h.reg.available(Key::new("c")), "room again");
}

#[test]
fn max_connections_rejects_past_the_limit_and_changes_nothing() {
    let h = Harness::with_settings(
        Config::default(),
        Settings {
            max_connections: Some(2),
            ..Settings::default()
        },
    );
    let registered = h
        .cx()
        .bus
        .subscribe(Filter::new().event_type(EventType::Registered));
    h.reg.register(Key::new("a"), &Options::new()).unwrap();
    h.reg.register(Key::new("b"), &Options::new()).unwrap();
    assert_eq!(
        h.reg.register(Key::new("c"), &Options::new()),
        Err(Error::CapacityExceeded)
    );
    assert_eq!(h.reg.len(), 2);
    assert!(matches!(
        h.reg.status(Key::new("c")),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(registered.try_iter().count(), 2);
    // A duplicate at capacity is AlreadyRegistered, and frees nothing.
    assert_eq!(
        h.reg.register(Key::new("a"), &Options::new()),
        Err(Error::AlreadyRegistered)
    );
    assert_eq!(h.reg.len(), 2);
    h.reg.unregister(Key::new("a")).unwrap();
    h.reg.register(Key::new("c"), &Options::new()).unwrap();
    assert_eq!(
        h.reg.register(Key::new("d"), &Options::new()),
        Err(Error::CapacityExceeded)
    );
    assert_eq!(h.reg.len(), 2);
}

#[test]
fn failed_registrations_do_not_use_up_capacity() {
    let h = Harness::with_settings(
        Config::default(),
        Settings {
            max_connections: Some(1),
            ..Settings::default()
        },
    );
    for _ in 0..10 {
        assert!(h.reg.register(Key::new(""), &Options::new()).is_err());
        assert!(h
            .reg
            .register(Key::new("a"), &Options::new().jitter(2.0))
            .is_err());
    }
    h.reg.register(Key::new("a"), &Options::new()).unwrap();
    assert!(h.reg.register(Key::new("a"), &Options::new()).is_err());
    assert_eq!(h.reg.len(), 1);
}

#[test]
fn errors_say_what_to_do() {
    let e = registry(fixed(0, secs(1)), Settings::default()).unwrap_err();
    assert!(e.to_string().contains("failure_threshold"), "{e}");
    let h = Harness::new(Config::default());
    let e = h.reg.register(Key::new(""), &Options::new()).unwrap_err();
    assert!(e.to_string().contains("identifier"), "{e}");
    let long = "s".repeat(257);
    let e = h
        .reg
        .register(Key::scoped(&long, "a"), &Options::new())
        .unwrap_err();
    assert!(
        e.to_string().contains("scope") && e.to_string().contains("256"),
        "{e}"
    );
    let e = h.reg.register(KEY, &Options::new()).unwrap_err();
    assert!(e.to_string().contains("already registered"), "{e}");
}
