//! SPEC §7 (and the error rules of §3): bad input is rejected with a clear `Error` and
//! changes nothing; no public method panics on any input.

use std::thread;
use std::time::Duration;

use brama_sync::{
    Brama, Builder, CallError, Error, Event, EventType, ExpiryStrategy, Filter, Key, ManualClock,
    OpenOptions, Options, State, Status, Subscription,
};

const HOUR: Duration = Duration::from_secs(3600);
/// The longest duration any setting accepts (100 years).
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
const TOO_LONG: Duration = Duration::from_secs(100 * 365 * 24 * 3600 + 1);

fn builder(clock: &ManualClock) -> Builder {
    Brama::builder()
        .failure_threshold(2)
        .cleanup_interval(HOUR)
        .clock(clock.clone())
}

fn brama() -> Brama {
    builder(&ManualClock::new()).build().unwrap()
}

/// The field of an `InvalidConfig`, checking that the message names it too.
fn invalid_field<T: std::fmt::Debug>(result: Result<T, Error>) -> &'static str {
    match result {
        Err(e @ Error::InvalidConfig { .. }) => {
            let Error::InvalidConfig { field, ref reason } = e else {
                unreachable!()
            };
            let message = e.to_string();
            assert!(message.contains(field), "{message:?} does not name {field}");
            assert!(!reason.is_empty());
            field
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

fn is_invalid_key<T: std::fmt::Debug>(result: Result<T, Error>) -> bool {
    match result {
        Err(e @ Error::InvalidKey { .. }) => {
            let message = e.to_string();
            assert!(message.contains("256 bytes"), "{message:?}");
            true
        }
        other => panic!("expected InvalidKey, got {other:?}"),
    }
}

/// Everything queued on `sub` now.
fn drain(sub: &Subscription) -> Vec<Event> {
    sub.try_iter().collect()
}

/// A status without the fields that move with time.
fn fixed(mut s: Status) -> Status {
    s.since_state_change = Duration::ZERO;
    s
}

fn progressive(initial: Duration, max: Duration, factor: f64) -> ExpiryStrategy {
    ExpiryStrategy::Progressive {
        initial,
        max,
        factor,
    }
}

// ----- the builder ----------------------------------------------------------------------

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

// ----- options: register, configure, configure_defaults -------------------------------

#[test]
fn invalid_options_are_invalid_config_and_change_nothing() {
    let brama = brama();
    let sub = brama.subscribe(Filter::new());
    let s = Duration::from_secs(1);
    let bad: Vec<(Options, &str)> = vec![
        (Options::new().failure_threshold(0), "failure_threshold"),
        (Options::new().expiry(Duration::ZERO), "expiry"),
        (Options::new().expiry(TOO_LONG), "expiry"),
        (
            Options::new().expiry_strategy(progressive(2 * s, s, 2.0)),
            "expiry_strategy.max",
        ),
        (
            Options::new().expiry_strategy(progressive(s, s, f64::NAN)),
            "expiry_strategy.factor",
        ),
        (Options::new().jitter(1.0), "jitter"),
        (Options::new().half_open_probes(0), "half_open_probes"),
        (
            Options::new().probe_timeout(Duration::ZERO),
            "probe_timeout",
        ),
        // Valid fields alongside an invalid one: none of them applies.
        (
            Options::new()
                .failure_threshold(7)
                .metadata("team", "x")
                .jitter(-1.0),
            "jitter",
        ),
    ];

    // register: nothing registered.
    for (options, field) in &bad {
        assert_eq!(invalid_field(brama.register("db", options.clone())), *field);
    }
    assert_eq!(brama.len(), 0);
    assert!(drain(&sub).is_empty());

    // configure: the connection keeps its settings and metadata.
    brama
        .register("db", Options::new().metadata("team", "billing"))
        .unwrap();
    let _ = drain(&sub);
    let before = fixed(brama.status("db").unwrap());
    for (options, field) in &bad {
        assert_eq!(
            invalid_field(brama.configure("db", options.clone())),
            *field
        );
    }
    assert_eq!(fixed(brama.status("db").unwrap()), before);
    assert!(drain(&sub).is_empty(), "an event for a rejected configure");
    // The threshold is still the registry's (2): one failure does not open it.
    brama.failure("db").unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
    let _ = drain(&sub);

    // configure_defaults: the defaults stay.
    let defaults = brama.defaults();
    for (options, field) in &bad {
        // Metadata is refused first there: it belongs to connections (see below).
        let field = if options.metadata_map().is_empty() {
            field
        } else {
            "metadata"
        };
        assert_eq!(
            invalid_field(brama.configure_defaults(options.clone())),
            field
        );
    }
    assert_eq!(brama.defaults(), defaults);
    assert!(drain(&sub).is_empty());
}

#[test]
fn metadata_belongs_to_connections_not_to_the_defaults() {
    let brama = brama();
    let defaults = brama.defaults();
    assert_eq!(
        invalid_field(brama.configure_defaults(Options::new().metadata("team", "x").jitter(0.5))),
        "metadata"
    );
    assert_eq!(brama.defaults(), defaults);
}

#[test]
fn metadata_beyond_its_limits_is_rejected() {
    let brama = brama();
    let entries = |n: usize, value: &str| {
        (0..n).fold(Options::new(), |o, i| o.metadata(format!("k{i}"), value))
    };
    let bad = [
        entries(33, "v"),
        Options::new().metadata("", "empty key"),
        Options::new().metadata("k".repeat(129), "v"),
        Options::new().metadata("k", "v".repeat(1025)),
        // 9 × (2 + 1000) bytes: over the 8 KiB total.
        entries(9, &"v".repeat(1000)),
    ];
    for options in bad {
        assert_eq!(invalid_field(brama.register("db", options)), "metadata");
    }
    assert_eq!(brama.len(), 0);

    let good = [
        entries(32, "v"),
        Options::new().metadata("k".repeat(128), "v"),
        Options::new().metadata("k", "v".repeat(1024)),
        entries(8, &"v".repeat(1000)),
    ];
    for (i, options) in good.into_iter().enumerate() {
        let key = format!("ok-{i}");
        brama.register(key.as_str(), options).unwrap();
    }

    // configure merges: going over a limit in total is rejected, and nothing merges.
    brama.register("merge", entries(30, "v")).unwrap();
    let before = brama.status("merge").unwrap().metadata;
    let more = Options::new()
        .metadata("new-1", "v")
        .metadata("new-2", "v")
        .metadata("new-3", "v");
    assert_eq!(invalid_field(brama.configure("merge", more)), "metadata");
    assert_eq!(brama.status("merge").unwrap().metadata, before);
    // Replacing existing entries stays within the limit.
    brama
        .configure("merge", Options::new().metadata("k0", "changed"))
        .unwrap();
    assert_eq!(brama.status("merge").unwrap().metadata["k0"], "changed");
    assert_eq!(brama.status("merge").unwrap().metadata.len(), 30);
}

#[test]
fn open_circuit_with_a_zero_or_too_long_duration_is_rejected() {
    let brama = brama();
    let sub = brama.subscribe(Filter::new());
    brama.register("db", Options::new()).unwrap();
    let _ = drain(&sub);
    for d in [Duration::ZERO, TOO_LONG, Duration::MAX] {
        let out = brama.open_circuit("db", OpenOptions::new().duration(d).reason("x"));
        assert_eq!(invalid_field(out), "duration");
    }
    let s = brama.status("db").unwrap();
    assert_eq!((s.state, s.trips), (State::Unknown, 0));
    assert!(drain(&sub).is_empty());
    // The last of duration/indefinitely wins; a valid one works.
    brama
        .open_circuit(
            "db",
            OpenOptions::new().duration(Duration::ZERO).indefinitely(),
        )
        .unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Open);
    brama
        .open_circuit("db", OpenOptions::new().duration(MAX_DURATION))
        .unwrap();
}

// ----- keys ---------------------------------------------------------------------------

#[test]
fn invalid_keys_are_invalid_key_everywhere_and_change_nothing() {
    let long = "x".repeat(257);
    let long_multibyte = "é".repeat(129); // 258 bytes
    let bad = [
        Key::new(""),
        Key::scoped("", "db"),
        Key::scoped("payments", ""),
        Key::new(&long),
        Key::scoped(&long, "db"),
        Key::scoped("payments", &long),
        Key::new(&long_multibyte),
    ];
    for auto in [false, true] {
        let brama = builder(&ManualClock::new())
            .auto_register(auto)
            .build()
            .unwrap();
        let sub = brama.subscribe(Filter::new());
        for k in bad {
            assert!(is_invalid_key(brama.register(k, Options::new())));
            assert!(!brama.available(k));
            assert!(is_invalid_key(brama.success(k)));
            assert!(is_invalid_key(brama.failure(k)));
            assert!(is_invalid_key(brama.failure_with(k, "x")));
            assert!(is_invalid_key(brama.status(k)));
            assert!(is_invalid_key(brama.open_circuit(k, OpenOptions::new())));
            assert!(is_invalid_key(brama.close_circuit(k)));
            assert!(is_invalid_key(brama.reset_circuit(k)));
            assert!(is_invalid_key(brama.configure(k, Options::new())));
            assert!(is_invalid_key(brama.unregister(k)));
            assert!(is_invalid_key(brama.connection(k)));
            assert!(is_invalid_key(brama.acquire(k)));
            let out: Result<(), CallError<()>> = brama.call(k, || Ok(()));
            assert!(
                matches!(out, Err(CallError::Rejected(Error::InvalidKey { .. }))),
                "{out:?}"
            );
        }
        assert_eq!(brama.len(), 0, "auto_register({auto})");
        assert!(brama.connections().is_empty());
        assert!(drain(&sub).is_empty());
    }
}

#[test]
fn key_parts_of_exactly_256_bytes_are_valid() {
    let brama = brama();
    let ascii = "x".repeat(256);
    let multibyte = "é".repeat(128);
    for k in [
        Key::new(&ascii),
        Key::scoped(&ascii, &ascii),
        Key::scoped(&multibyte, &multibyte),
        Key::new("\0 with NUL, spaces\tand ✓"),
    ] {
        brama.register(k, Options::new()).unwrap();
        assert!(brama.available(k));
        brama.success(k).unwrap();
    }
    assert_eq!(brama.len(), 4);
}

// ----- registration ---------------------------------------------------------------------

#[test]
fn registering_twice_is_already_registered_and_changes_nothing() {
    let clock = ManualClock::new();
    let brama = builder(&clock).build().unwrap();
    let sub = brama.subscribe(Filter::new());
    brama
        .register("db", Options::new().metadata("team", "billing"))
        .unwrap();
    brama.failure("db").unwrap();
    let _ = drain(&sub);
    let before = fixed(brama.status("db").unwrap());
    clock.advance(Duration::from_secs(5));
    let again = brama.register(
        "db",
        Options::new()
            .metadata("team", "other")
            .failure_threshold(1),
    );
    assert_eq!(again.unwrap_err(), Error::AlreadyRegistered);
    // With invalid options as well, nothing changes.
    assert!(brama
        .register("db", Options::new().failure_threshold(0))
        .is_err());
    assert_eq!(fixed(brama.status("db").unwrap()), before);
    assert_eq!(brama.len(), 1);
    assert!(
        drain(&sub).is_empty(),
        "an event for a rejected registration"
    );
    // The threshold stayed 2: one more failure opens it, not the first.
    brama.failure("db").unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Open);
    // A scoped key with the same identifier is another connection.
    brama.register(("s", "db"), Options::new()).unwrap();
}

#[test]
fn registering_past_max_connections_is_capacity_exceeded_and_changes_nothing() {
    let clock = ManualClock::new();
    let brama = builder(&clock)
        .max_connections(2)
        .inactive_threshold(Duration::from_secs(60))
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new().event_type(EventType::Registered));
    brama.register("a", Options::new()).unwrap();
    brama.register("b", Options::new()).unwrap();
    assert_eq!(
        brama.register("c", Options::new()).unwrap_err(),
        Error::CapacityExceeded
    );
    assert_eq!(brama.len(), 2);
    assert!(matches!(
        brama.status("c").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(drain(&sub).len(), 2);
    // Registering an existing key at capacity is still AlreadyRegistered.
    assert_eq!(
        brama.register("a", Options::new()).unwrap_err(),
        Error::AlreadyRegistered
    );

    // Room comes back with unregistration and with eviction.
    brama.unregister("a").unwrap();
    brama.register("c", Options::new()).unwrap();
    assert_eq!(
        brama.register("d", Options::new()).unwrap_err(),
        Error::CapacityExceeded
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(brama.sweep().evicted, 2);
    brama.register("d", Options::new()).unwrap();
    brama.register("e", Options::new()).unwrap();
    assert_eq!(brama.len(), 2);
}

#[test]
fn max_connections_holds_under_concurrent_registration() {
    const MAX: usize = 50;
    let brama = builder(&ManualClock::new())
        .max_connections(MAX)
        .build()
        .unwrap();
    let accepted: usize = thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let brama = &brama;
                s.spawn(move || {
                    (0..100)
                        .filter(|i| {
                            let key = format!("t{t}-{i}");
                            match brama.register(key.as_str(), Options::new()) {
                                Ok(_) => true,
                                Err(Error::CapacityExceeded) => false,
                                Err(e) => panic!("{e}"),
                            }
                        })
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(accepted, MAX);
    assert_eq!(brama.len(), MAX);
    assert_eq!(brama.connections().len(), MAX);
}

// ----- unknown keys and auto-registration ---------------------------------------------

#[test]
fn an_unknown_key_is_not_found_and_never_available() {
    let brama = brama();
    let sub = brama.subscribe(Filter::new());
    for k in [Key::new("nope"), Key::scoped("s", "nope")] {
        assert!(!brama.available(k));
        assert!(matches!(brama.success(k), Err(Error::NotFound { .. })));
        assert!(matches!(brama.failure(k), Err(Error::NotFound { .. })));
        assert!(matches!(
            brama.failure_with(k, "x"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.status(k).unwrap_err(),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            brama.open_circuit(k, OpenOptions::new()),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.close_circuit(k),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.reset_circuit(k),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.configure(k, Options::new()),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.unregister(k).unwrap_err(),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            brama.connection(k).unwrap_err(),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            brama.acquire(k).unwrap_err(),
            Error::NotFound { .. }
        ));
    }
    // A scoped connection is not found without its scope, nor an unscoped one with one.
    brama.register(("s", "db"), Options::new()).unwrap();
    brama.register("plain", Options::new()).unwrap();
    let _ = drain(&sub);
    assert!(!brama.available("db"));
    assert!(matches!(brama.success("db"), Err(Error::NotFound { .. })));
    assert!(!brama.available(("s", "plain")));
    assert_eq!(brama.len(), 2);
    assert!(drain(&sub).is_empty());
}

#[test]
fn auto_register_registers_unknown_keys_with_the_defaults() {
    let clock = ManualClock::new();
    let brama = builder(&clock).auto_register(true).build().unwrap();
    let sub = brama.subscribe(Filter::new().event_type(EventType::Registered));
    assert!(brama.available("a"));
    brama.failure("b").unwrap();
    let _conn = brama.connection(("s", "c")).unwrap();
    brama.acquire("d").unwrap().success().unwrap();
    let out: Result<(), CallError<()>> = brama.call("e", || Ok(()));
    out.unwrap();
    let registered: Vec<String> = drain(&sub)
        .iter()
        .map(|e| e.identifier().to_owned())
        .collect();
    assert_eq!(registered, ["a", "b", "c", "d", "e"]);
    assert_eq!(brama.len(), 5);

    // With the registry defaults, followed live: threshold 2, then 3.
    let s = brama.status("a").unwrap();
    assert!(s.metadata.is_empty());
    brama.failure("a").unwrap();
    brama.failure("a").unwrap();
    assert_eq!(brama.status("a").unwrap().state, State::Open);
    brama
        .configure_defaults(Options::new().failure_threshold(3))
        .unwrap();
    brama.failure("b").unwrap(); // 2 of 3
    assert_eq!(brama.status("b").unwrap().state, State::Closed);
    brama.failure("b").unwrap();
    assert_eq!(brama.status("b").unwrap().state, State::Open);

    // Reads, manual actions and removal do not register.
    assert!(matches!(
        brama.status("f").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        brama.close_circuit("f"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        brama.unregister("f").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(brama.len(), 5);
}

#[test]
fn auto_register_respects_max_connections() {
    let brama = builder(&ManualClock::new())
        .auto_register(true)
        .max_connections(2)
        .build()
        .unwrap();
    assert!(brama.available("a"));
    brama.success("b").unwrap();
    assert!(!brama.available("c"));
    assert_eq!(brama.success("c"), Err(Error::CapacityExceeded));
    assert_eq!(brama.failure("c"), Err(Error::CapacityExceeded));
    assert_eq!(brama.connection("c").unwrap_err(), Error::CapacityExceeded);
    assert_eq!(brama.acquire("c").unwrap_err(), Error::CapacityExceeded);
    let out: Result<(), CallError<()>> = brama.call("c", || Ok(()));
    assert!(matches!(
        out,
        Err(CallError::Rejected(Error::CapacityExceeded))
    ));
    assert_eq!(brama.len(), 2);
    assert!(matches!(
        brama.status("c").unwrap_err(),
        Error::NotFound { .. }
    ));
    // Known keys keep working at capacity.
    assert!(brama.available("a"));
    brama.unregister("a").unwrap();
    assert!(brama.available("c"));
}

// ----- no panics ------------------------------------------------------------------------

#[test]
fn no_public_method_panics_on_extreme_input() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(u32::MAX)
        .expiry(MAX_DURATION)
        .expiry_strategy(progressive(Duration::from_nanos(1), MAX_DURATION, f64::MAX))
        .jitter(0.999_999)
        .half_open_probes(65_535)
        .probe_timeout(MAX_DURATION)
        .cleanup_interval(MAX_DURATION)
        .inactive_threshold(MAX_DURATION)
        .max_connections(usize::MAX)
        .event_queue_capacity(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new());
    let reason = "r".repeat(1 << 20);
    brama
        .register("db", Options::new().failure_threshold(1))
        .unwrap();
    for _ in 0..50 {
        brama.failure_with("db", &reason).unwrap();
        let _ = brama.available("db");
        clock.advance(MAX_DURATION);
        let _ = brama.available("db");
        brama.sweep();
    }
    let _ = brama.status("db").unwrap();
    brama
        .open_circuit("db", OpenOptions::new().duration(MAX_DURATION))
        .unwrap();
    clock.advance(Duration::MAX); // the clock saturates
    let s = brama.status("db").unwrap();
    let _ = (s.success_rate(), s.since_state_change, s.open_duration);
    assert!(brama.available("db"));
    brama.success("db").unwrap();
    brama
        .open_circuit("db", OpenOptions::new().indefinitely())
        .unwrap();
    assert_eq!(brama.status("db").unwrap().open_duration, Duration::MAX);
    assert!(!brama.available("db"));
    brama.sweep();
    brama.reset_circuit("db").unwrap();
    for _ in 0..10 {
        let _ = brama.acquire("db").and_then(|p| p.ignore());
    }
    let _ = sub.dropped();
    let _ = brama.connections_in("");
    let _ = brama.connections_in(&reason);
    brama.unregister("db").unwrap();
    assert!(brama.unregister("db").is_err());
}
