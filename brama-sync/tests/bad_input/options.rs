//! Options for register, configure and configure_defaults; metadata limits; open durations.

use std::time::Duration;

use brama_sync::{Filter, OpenOptions, Options, State};

use crate::support::{brama, drain, fixed, invalid_field, progressive, MAX_DURATION, TOO_LONG};

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
