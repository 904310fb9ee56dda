//! Every invalid input of SPEC §7, and the nastier ones around it (durations that would
//! overflow, `u32::MAX`, NaN and infinities, multi-byte UTF-8 at the 256-byte boundary,
//! metadata bombs), through every public entry point that takes it: the builder,
//! `register`, `configure`, `configure_defaults`, `open_circuit`, the run-time settings,
//! and every method that takes a key. Each must return its documented error, emit no
//! event, and leave the registry exactly as it was (connections and their status,
//! defaults, settings). Every call runs under `catch_unwind`: no public method may panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use brama_core::engine::config::MAX_DURATION;
use brama_sync::{
    Brama, Builder, CallError, Error, ExpiryStrategy, Filter, Key, ManualClock, OpenOptions,
    Options, Outcome, State, Status, Subscription,
};

/// Runs `f`, failing the test if it panics.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(out) => out,
        Err(_) => panic!("{what} panicked"),
    }
}

/// One setting, as `Options` and the builder spell it.
#[derive(Clone, Debug)]
enum Setting {
    Threshold(u32),
    Expiry(Duration),
    Strategy(ExpiryStrategy),
    Jitter(f64),
    Probes(u32),
    ProbeTimeout(Duration),
    /// Metadata entries (options only; the builder has none).
    Metadata(Vec<(String, String)>),
}

impl Setting {
    fn options(&self, o: Options) -> Options {
        match self.clone() {
            Setting::Threshold(n) => o.failure_threshold(n),
            Setting::Expiry(d) => o.expiry(d),
            Setting::Strategy(s) => o.expiry_strategy(s),
            Setting::Jitter(j) => o.jitter(j),
            Setting::Probes(n) => o.half_open_probes(n),
            Setting::ProbeTimeout(d) => o.probe_timeout(d),
            Setting::Metadata(entries) => entries.into_iter().fold(o, |o, (k, v)| o.metadata(k, v)),
        }
    }

    fn builder(&self, b: Builder) -> Option<Builder> {
        Some(match self.clone() {
            Setting::Threshold(n) => b.failure_threshold(n),
            Setting::Expiry(d) => b.expiry(d),
            Setting::Strategy(s) => b.expiry_strategy(s),
            Setting::Jitter(j) => b.jitter(j),
            Setting::Probes(n) => b.half_open_probes(n),
            Setting::ProbeTimeout(d) => b.probe_timeout(d),
            Setting::Metadata(_) => return None,
        })
    }
}

fn progressive(initial: Duration, max: Duration, factor: f64) -> ExpiryStrategy {
    ExpiryStrategy::Progressive {
        initial,
        max,
        factor,
    }
}

fn entries(n: usize, key_len: usize, value_len: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let k = format!("{i:0>width$}", width = key_len.max(1));
            (k, "v".repeat(value_len))
        })
        .collect()
}

/// Durations no setting accepts: zero, just above the 100-year cap, and the ones that
/// overflow a nanosecond count.
fn bad_durations() -> Vec<Duration> {
    vec![
        Duration::ZERO,
        MAX_DURATION + Duration::from_nanos(1),
        Duration::from_secs(u64::MAX),
        Duration::MAX,
    ]
}

/// Every invalid setting, with the field its error must name.
fn invalid_settings() -> Vec<(Setting, &'static str)> {
    let s = Duration::from_secs(1);
    let mut v = vec![
        (Setting::Threshold(0), "failure_threshold"),
        (Setting::Probes(0), "half_open_probes"),
        (Setting::Probes(65_536), "half_open_probes"),
        (Setting::Probes(u32::MAX), "half_open_probes"),
    ];
    for d in bad_durations() {
        v.push((Setting::Expiry(d), "expiry"));
        v.push((Setting::ProbeTimeout(d), "probe_timeout"));
        v.push((
            Setting::Strategy(progressive(d, MAX_DURATION, 2.0)),
            "expiry_strategy.initial",
        ));
        if !d.is_zero() {
            v.push((
                Setting::Strategy(progressive(s, d, 2.0)),
                "expiry_strategy.max",
            ));
        }
    }
    v.push((
        Setting::Strategy(progressive(s * 2, s, 2.0)),
        "expiry_strategy.max",
    ));
    for j in [
        -f64::MIN_POSITIVE,
        -0.5,
        1.0,
        1.5,
        f64::MAX,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        v.push((Setting::Jitter(j), "jitter"));
    }
    for f in [
        0.999_999,
        0.0,
        -1.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        v.push((
            Setting::Strategy(progressive(s, s * 10, f)),
            "expiry_strategy.factor",
        ));
    }
    let euro_key = "€".repeat(43); // 129 bytes
    for m in [
        vec![(String::new(), "v".to_owned())],
        vec![("k".repeat(129), "v".to_owned())],
        vec![(euro_key, "v".to_owned())],
        vec![("k".to_owned(), "v".repeat(1025))],
        vec![("k".to_owned(), "é".repeat(513))], // 1026 bytes
        entries(33, 2, 1),
        entries(9, 3, 1000),                           // 9,027 bytes in all
        entries(10_000, 5, 1),                         // a metadata bomb
        vec![("big".to_owned(), "x".repeat(1 << 20))], // 1 MB value
    ] {
        v.push((Setting::Metadata(m), "metadata"));
    }
    v
}

/// Settings at the edge of their ranges, which must be accepted.
fn edge_settings() -> Vec<Setting> {
    let s = Duration::from_secs(1);
    vec![
        Setting::Threshold(1),
        Setting::Threshold(u32::MAX),
        Setting::Probes(1),
        Setting::Probes(65_535),
        Setting::Expiry(Duration::from_nanos(1)),
        Setting::Expiry(MAX_DURATION),
        Setting::ProbeTimeout(MAX_DURATION),
        Setting::Jitter(0.0),
        Setting::Jitter(-0.0),
        Setting::Jitter(0.999_999_999),
        Setting::Strategy(progressive(s, s, 1.0)),
        Setting::Strategy(progressive(Duration::from_nanos(1), MAX_DURATION, f64::MAX)),
        Setting::Metadata(vec![("k".repeat(128), "v".repeat(1024))]),
        Setting::Metadata(vec![("€".repeat(42) + "ab", "é".repeat(512))]), // 128 and 1024 bytes
        Setting::Metadata(entries(32, 2, 200)),
    ]
}

/// What must not change: every connection's status, the defaults, the settings.
#[derive(Debug, PartialEq)]
struct Snapshot {
    connections: Vec<Status>,
    defaults: brama_sync::ResolvedConfig,
    len: usize,
    cleanup_interval: Duration,
    inactive_threshold: Duration,
}

fn snapshot(brama: &Brama) -> Snapshot {
    let mut connections = brama.connections();
    connections.sort_by(|a, b| (&a.scope, &a.identifier).cmp(&(&b.scope, &b.identifier)));
    Snapshot {
        connections,
        defaults: brama.defaults(),
        len: brama.len(),
        cleanup_interval: brama.cleanup_interval(),
        inactive_threshold: brama.inactive_threshold(),
    }
}

/// A registry on a manual clock (so status snapshots compare exactly) with a few
/// connections in different states, and a subscription to every event.
fn populated(auto_register: bool) -> (Brama, ManualClock, Subscription) {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(2)
        .auto_register(auto_register)
        .max_connections(4)
        .clock(clock.clone())
        .build()
        .expect("valid");
    brama
        .register("closed", Options::new().metadata("team", "a"))
        .expect("fresh");
    brama
        .register(("s", "open"), Options::new().failure_threshold(1))
        .expect("fresh");
    brama.register("unknown", Options::new()).expect("fresh");
    brama.success("closed").expect("registered");
    brama.failure(("s", "open")).expect("registered");
    assert_eq!(brama.status(("s", "open")).unwrap().state, State::Open);
    clock.advance(Duration::from_secs(1));
    let sub = brama.subscribe(Filter::new());
    (brama, clock, sub)
}

/// Runs `op` (which must fail with an error `check` accepts) and checks that nothing
/// changed and no event was emitted.
fn rejected<T: std::fmt::Debug>(
    brama: &Brama,
    sub: &Subscription,
    what: &str,
    op: impl FnOnce() -> Result<T, Error>,
    check: impl FnOnce(&Error) -> bool,
) {
    let before = snapshot(brama);
    let out = no_panic(what, op);
    match &out {
        Err(e) if check(e) => {}
        other => panic!("{what}: unexpected result {other:?}"),
    }
    assert_eq!(snapshot(brama), before, "{what}: the registry changed");
    let events: Vec<_> = sub.try_iter().collect();
    assert!(events.is_empty(), "{what}: emitted {events:?}");
}

fn invalid_config(field: &'static str) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::InvalidConfig { field: f, .. } if *f == field)
}

#[test]
fn every_invalid_setting_is_rejected_by_every_entry_point_and_changes_nothing() {
    let (brama, _clock, sub) = populated(false);
    let mut fresh = 0;
    for (setting, field) in invalid_settings() {
        let what = format!("{setting:?}").chars().take(120).collect::<String>();
        // The builder: no registry, no thread, the documented error.
        if let Some(b) = setting.builder(Brama::builder()) {
            let out = no_panic(&format!("builder {what}"), || b.build());
            match out {
                Err(ref e) if invalid_config(field)(e) => {}
                other => panic!("builder {what}: {other:?}"),
            }
        }
        let options = setting.options(Options::new());
        fresh += 1;
        let id = format!("new-{fresh}");
        rejected(
            &brama,
            &sub,
            &format!("register {what}"),
            || brama.register(id.as_str(), options.clone()),
            invalid_config(field),
        );
        assert!(matches!(
            brama.status(id.as_str()),
            Err(Error::NotFound { .. })
        ));
        for key in [
            Key::new("closed"),
            Key::scoped("s", "open"),
            Key::new("unknown"),
        ] {
            rejected(
                &brama,
                &sub,
                &format!("configure {key:?} {what}"),
                || brama.configure(key, options.clone()),
                invalid_config(field),
            );
        }
        // Metadata belongs to connections: any metadata is refused for the defaults.
        rejected(
            &brama,
            &sub,
            &format!("configure_defaults {what}"),
            || brama.configure_defaults(options.clone()),
            invalid_config(field),
        );
    }
    // Valid metadata is still refused by configure_defaults.
    rejected(
        &brama,
        &sub,
        "configure_defaults with metadata",
        || brama.configure_defaults(Options::new().metadata("a", "b")),
        invalid_config("metadata"),
    );
    // Configure merges metadata: a valid addition that pushes the total past a limit.
    brama
        .configure("closed", Options::new().metadata("m", "x".repeat(1000)))
        .expect("within limits");
    let _ = sub.try_iter().count();
    rejected(
        &brama,
        &sub,
        "configure: merged metadata over the total",
        || {
            brama.configure(
                "closed",
                Setting::Metadata(entries(8, 4, 1000)).options(Options::new()),
            )
        },
        invalid_config("metadata"),
    );
}

#[test]
fn every_edge_setting_is_accepted_everywhere() {
    let (brama, clock, _sub) = populated(false);
    for (i, setting) in edge_settings().into_iter().enumerate() {
        let what = format!("{setting:?}").chars().take(120).collect::<String>();
        if let Some(b) = setting.builder(Brama::builder()) {
            no_panic(&what, || b.build()).unwrap_or_else(|e| panic!("builder {what}: {e:?}"));
        }
        let options = setting.options(Options::new());
        let id = format!("edge-{i}");
        brama
            .register(id.as_str(), options.clone())
            .unwrap_or_else(|e| panic!("register {what}: {e:?}"));
        brama
            .configure(id.as_str(), options.clone())
            .unwrap_or_else(|e| panic!("configure {what}: {e:?}"));
        if !matches!(setting, Setting::Metadata(_)) {
            brama
                .configure_defaults(options)
                .unwrap_or_else(|e| panic!("configure_defaults {what}: {e:?}"));
        }
        // The connection works at the edge: reports, a trip, expiry, status.
        no_panic(&what, || {
            for _ in 0..3 {
                let _ = brama.failure(id.as_str());
                let _ = brama.available(id.as_str());
            }
            clock.advance(MAX_DURATION);
            let _ = brama.available(id.as_str());
            let _ = brama.success(id.as_str());
            brama
                .status(id.as_str())
                .unwrap_or_else(|e| panic!("{what}: status {e:?}"));
            // A hundred idle years later, the sweep evicts the closed connection.
            brama.sweep();
        });
        match brama.unregister(id.as_str()) {
            Ok(_) | Err(Error::NotFound { .. }) => {}
            Err(e) => panic!("{what}: unregister {e:?}"),
        }
    }
}

#[test]
fn u32_max_threshold_counts_without_overflow_and_never_trips_early() {
    let brama = Brama::builder()
        .failure_threshold(u32::MAX)
        .build()
        .expect("valid");
    brama.register("db", Options::new()).expect("fresh");
    for _ in 0..10_000 {
        brama.failure("db").expect("registered");
    }
    let s = brama.status("db").expect("registered");
    assert_eq!((s.state, s.consecutive_failures), (State::Closed, 10_000));
}

#[test]
fn every_invalid_run_time_setting_is_rejected_and_changes_nothing() {
    let (brama, _clock, sub) = populated(false);
    for d in bad_durations() {
        rejected(
            &brama,
            &sub,
            &format!("set_cleanup_interval {d:?}"),
            || brama.set_cleanup_interval(d),
            invalid_config("cleanup_interval"),
        );
        rejected(
            &brama,
            &sub,
            &format!("set_inactive_threshold {d:?}"),
            || brama.set_inactive_threshold(d),
            invalid_config("inactive_threshold"),
        );
        for b in [
            Brama::builder().cleanup_interval(d),
            Brama::builder().inactive_threshold(d),
        ] {
            let out = no_panic("builder", || b.build());
            assert!(matches!(out, Err(Error::InvalidConfig { .. })), "{out:?}");
        }
    }
    for (b, field) in [
        (Brama::builder().max_connections(0), "max_connections"),
        (
            Brama::builder().event_queue_capacity(0),
            "event_queue_capacity",
        ),
        (
            Brama::builder().event_queue_capacity((1 << 20) + 1),
            "event_queue_capacity",
        ),
        (
            Brama::builder().event_queue_capacity(usize::MAX),
            "event_queue_capacity",
        ),
    ] {
        match no_panic(field, || b.build()) {
            Err(ref e) if invalid_config(field)(e) => {}
            other => panic!("{field}: {other:?}"),
        }
    }
    // Past max_connections (4: three registered, one place left).
    brama
        .register("fourth", Options::new())
        .expect("one place left");
    let _ = sub.try_iter().count();
    rejected(
        &brama,
        &sub,
        "register past max_connections",
        || brama.register("fifth", Options::new()),
        |e| *e == Error::CapacityExceeded,
    );
    rejected(
        &brama,
        &sub,
        "register twice",
        || brama.register("closed", Options::new()),
        |e| *e == Error::AlreadyRegistered,
    );
}

#[test]
fn every_invalid_open_duration_is_rejected_and_changes_nothing() {
    let (brama, _clock, sub) = populated(false);
    for d in bad_durations() {
        for key in [
            Key::new("closed"),
            Key::scoped("s", "open"),
            Key::new("unknown"),
        ] {
            rejected(
                &brama,
                &sub,
                &format!("open_circuit {key:?} for {d:?}"),
                || brama.open_circuit(key, OpenOptions::new().reason("r").duration(d)),
                invalid_config("duration"),
            );
        }
    }
    // The longest valid duration, and indefinitely, are fine; the deadline saturates.
    brama
        .open_circuit("closed", OpenOptions::new().duration(MAX_DURATION))
        .expect("valid");
    brama
        .open_circuit("unknown", OpenOptions::new().indefinitely())
        .expect("valid");
    assert_eq!(
        brama.status("unknown").unwrap().open_duration,
        Duration::MAX
    );
}

/// Keys that break the rules: empty parts, and parts over 256 bytes, including
/// multi-byte UTF-8 that crosses the boundary.
fn invalid_keys() -> Vec<(Option<String>, String)> {
    let ok = "id".to_owned();
    let over: Vec<String> = vec![
        "a".repeat(257),
        "é".repeat(128) + "a", // 257 bytes, 129 chars
        "€".repeat(86),        // 258 bytes
        "🦀".repeat(65),       // 260 bytes, 65 chars
        "€".repeat(85) + "é",  // 257 bytes
        "x".repeat(1 << 20),   // 1 MB
    ];
    let mut v = vec![
        (None, String::new()),
        (Some(String::new()), ok.clone()),
        (Some(String::new()), String::new()),
        (Some("s".to_owned()), String::new()),
    ];
    for o in over {
        v.push((None, o.clone()));
        v.push((Some(o.clone()), ok.clone()));
        v.push((Some("s".to_owned()), o));
    }
    v
}

fn key_of(k: &(Option<String>, String)) -> Key<'_> {
    match &k.0 {
        Some(scope) => Key::scoped(scope, &k.1),
        None => Key::new(&k.1),
    }
}

#[test]
fn every_invalid_key_is_rejected_by_every_method_and_changes_nothing() {
    for auto in [false, true] {
        let (brama, _clock, sub) = populated(auto);
        for k in invalid_keys() {
            let key = key_of(&k);
            let what = |m: &str| format!("{m} {:?}", (k.0.as_deref().map(str::len), k.1.len()));
            let is_key = |e: &Error| matches!(e, Error::InvalidKey { .. });
            rejected(
                &brama,
                &sub,
                &what("register"),
                || brama.register(key, Options::new()),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("unregister"),
                || brama.unregister(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("success"),
                || brama.success(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("failure"),
                || brama.failure(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("failure_with"),
                || brama.failure_with(key, "r"),
                is_key,
            );
            rejected(&brama, &sub, &what("status"), || brama.status(key), is_key);
            rejected(
                &brama,
                &sub,
                &what("open_circuit"),
                || brama.open_circuit(key, OpenOptions::new()),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("close_circuit"),
                || brama.close_circuit(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("reset_circuit"),
                || brama.reset_circuit(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("configure"),
                || brama.configure(key, Options::new().failure_threshold(3)),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("connection"),
                || brama.connection(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("acquire"),
                || brama.acquire(key).and_then(|p| p.ignore()),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("call"),
                || match brama.call(key, || -> Result<(), ()> { panic!("must not run") }) {
                    Err(CallError::Rejected(e)) => Err::<(), _>(e),
                    other => panic!("call: {other:?}"),
                },
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("call_with"),
                || match brama.call_with(
                    key,
                    |_: &Result<(), ()>| Outcome::Failure,
                    || -> Result<(), ()> { panic!("must not run") },
                ) {
                    Err(CallError::Rejected(e)) => Err::<(), _>(e),
                    other => panic!("call_with: {other:?}"),
                },
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("call_async"),
                || {
                    let fut = brama.call_async(key, async {
                        assert!(std::hint::black_box(false), "must not run");
                        Ok::<(), ()>(())
                    });
                    match pollster::block_on(fut) {
                        Err(CallError::Rejected(e)) => Err::<(), _>(e),
                        other => panic!("call_async: {other:?}"),
                    }
                },
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("available"),
                || {
                    if brama.available(key) {
                        Ok(())
                    } else {
                        Err(Error::InvalidKey {
                            reason: String::new(),
                        })
                    }
                },
                is_key,
            );
            if let Some(scope) = k.0.as_deref().filter(|s| s.is_empty() || s.len() > 256) {
                rejected(
                    &brama,
                    &sub,
                    &what("connections_in"),
                    || {
                        let listed = brama.connections_in(scope);
                        assert!(listed.is_empty(), "no connection lives in an invalid scope");
                        Err::<(), _>(Error::InvalidKey {
                            reason: String::new(),
                        })
                    },
                    is_key,
                );
            }
        }
    }
}

/// Unusual but valid keys: exactly 256 bytes of multi-byte UTF-8, control and format
/// characters, canonically equivalent but differently encoded strings. Each is its own
/// connection, found again by the same key and only by it.
#[test]
fn unusual_valid_keys_are_distinct_connections() {
    let ids = [
        "é".repeat(128),      // 256 bytes
        "€".repeat(85) + "a", // 256 bytes
        "🦀".repeat(64),      // 256 bytes
        "\0".to_owned(),
        "\u{feff}".to_owned(),    // byte-order mark
        "\u{202e}abc".to_owned(), // right-to-left override
        "e\u{301}".to_owned(),    // e + combining acute
        "\u{e9}".to_owned(),      // precomposed é
        "a:b".to_owned(),
        " ".to_owned(),
        "\u{10ffff}".to_owned(),
    ];
    let brama = Brama::new();
    let mut keys: Vec<Key<'_>> = ids.iter().map(|id| Key::new(id)).collect();
    keys.extend(ids.iter().map(|id| Key::scoped(id, id)));
    keys.push(Key::scoped("a", "b"));
    for (i, key) in keys.iter().enumerate() {
        brama
            .register(*key, Options::new().metadata("i", i.to_string()))
            .unwrap_or_else(|e| panic!("{key:?}: {e:?}"));
    }
    assert_eq!(brama.len(), keys.len(), "every key is its own connection");
    for (i, key) in keys.iter().enumerate() {
        let s = brama.status(*key).expect("registered");
        assert_eq!(
            s.metadata["i"],
            i.to_string(),
            "{key:?} finds its own connection"
        );
        assert_eq!(s.identifier, key.identifier());
        assert_eq!(s.scope.as_deref(), key.scope());
        brama.failure(*key).expect("registered");
    }
    assert_eq!(brama.connections_in("a").len(), 1);
}
