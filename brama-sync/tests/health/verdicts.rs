//! `health()` and `health_in(scope)`: counts, verdicts, scopes, `critical`, concurrency.

use std::time::Duration;

use brama_sync::{Brama, Health, Key, ManualClock, OpenOptions, Options, State, Status, Verdict};

use crate::support::{brama, EXPIRY};

/// Puts the connection `key` (registered with `options`) in `state`, at the clock's
/// current time: HalfOpen is an open duration of 1 s run out and one probe admitted.
fn put(brama: &Brama, clock: &ManualClock, key: Key<'_>, options: Options, state: State) {
    brama.register(key, options).unwrap();
    match state {
        State::Unknown => {}
        State::Closed => brama.success(key).unwrap(),
        State::Open => brama.open_circuit(key, OpenOptions::new()).unwrap(),
        State::HalfOpen => {
            let d = Duration::from_secs(1);
            brama
                .open_circuit(key, OpenOptions::new().duration(d))
                .unwrap();
            clock.advance(d);
            assert!(brama.available(key), "the probe");
        }
    }
    assert_eq!(brama.status(key).unwrap().state, state);
}

fn health_of(connections: &[(State, bool)]) -> Health {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    for (i, &(state, critical)) in connections.iter().enumerate() {
        let id = format!("c{i}");
        put(
            &brama,
            &clock,
            Key::new(&id),
            Options::new().critical(critical),
            state,
        );
    }
    brama.health()
}

#[test]
fn verdict_for_every_combination() {
    use State::*;
    use Verdict::*;
    let cases: &[(&[(State, bool)], Verdict)] = &[
        (&[], Healthy),
        (&[(Unknown, false), (Closed, false)], Healthy),
        (&[(Unknown, true), (Closed, true)], Healthy),
        (&[(Open, false)], Degraded),
        (&[(HalfOpen, false)], Degraded),
        (&[(HalfOpen, true)], Degraded),
        (&[(HalfOpen, true), (Open, false), (Closed, true)], Degraded),
        (&[(Open, true)], Unhealthy),
        (
            &[(Open, true), (Closed, false), (HalfOpen, false)],
            Unhealthy,
        ),
        (&[(Closed, false), (Open, false), (Open, true)], Unhealthy),
    ];
    for (connections, verdict) in cases {
        let health = health_of(connections);
        assert_eq!(health.verdict(), *verdict, "{connections:?}: {health:?}");
        let critical_open = connections.iter().filter(|c| **c == (Open, true)).count();
        let critical_half = connections
            .iter()
            .filter(|c| **c == (HalfOpen, true))
            .count();
        assert_eq!(health.critical_open(), critical_open, "{connections:?}");
        assert_eq!(
            health.critical_half_open(),
            critical_half,
            "{connections:?}"
        );
        assert_eq!(health.total(), connections.len());
        assert_eq!(health.scope(), None);
    }
}

#[test]
fn counts_by_state() {
    use State::*;
    let health = health_of(&[
        (Unknown, false),
        (Unknown, false),
        (Closed, false),
        (Closed, true),
        (Closed, false),
        (Open, false),
        (HalfOpen, true),
        (HalfOpen, false),
    ]);
    assert_eq!(
        [Unknown, Closed, Open, HalfOpen].map(|s| health.count(s)),
        [2, 3, 1, 2]
    );
    assert_eq!(health.total(), 8);
    assert_eq!(health.verdict(), Verdict::Degraded);
}

#[test]
fn an_expired_critical_circuit_counts_as_half_open() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    put(
        &brama,
        &clock,
        Key::new("db"),
        Options::new().critical(true),
        State::Open,
    );
    assert_eq!(brama.health().verdict(), Verdict::Unhealthy);
    clock.advance(EXPIRY);
    let health = brama.health();
    assert_eq!(health.verdict(), Verdict::Degraded, "{health:?}");
    assert_eq!(
        (health.count(State::HalfOpen), health.critical_half_open()),
        (1, 1)
    );
    assert_eq!(
        brama.status("db").unwrap().state,
        State::Open,
        "not moved by health()"
    );
}

#[test]
fn unregistered_connections_are_not_counted() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    put(
        &brama,
        &clock,
        Key::new("db"),
        Options::new().critical(true),
        State::Open,
    );
    brama.unregister("db").unwrap();
    assert_eq!(brama.health(), Health::default());
}

#[test]
fn health_in_counts_only_its_scope() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let critical = || Options::new().critical(true);
    put(
        &brama,
        &clock,
        Key::scoped("pay", "stripe"),
        critical(),
        State::Closed,
    );
    put(
        &brama,
        &clock,
        Key::scoped("pay", "adyen"),
        Options::new(),
        State::Open,
    );
    put(
        &brama,
        &clock,
        Key::scoped("search", "es"),
        critical(),
        State::Open,
    );
    put(&brama, &clock, Key::new("pay"), critical(), State::Open); // unscoped "pay"

    let pay = brama.health_in("pay");
    assert_eq!(pay.scope(), Some("pay"));
    assert_eq!(
        (
            pay.total(),
            pay.count(State::Open),
            pay.count(State::Closed)
        ),
        (2, 1, 1)
    );
    assert_eq!(pay.verdict(), Verdict::Degraded);

    let search = brama.health_in("search");
    assert_eq!((search.total(), search.critical_open()), (1, 1));
    assert_eq!(search.verdict(), Verdict::Unhealthy);

    let none = brama.health_in("nowhere");
    assert_eq!((none.total(), none.verdict()), (0, Verdict::Healthy));
    let invalid = brama.health_in("");
    assert_eq!((invalid.total(), invalid.verdict()), (0, Verdict::Healthy));

    let all = brama.health();
    assert_eq!((all.total(), all.critical_open()), (4, 2));
    assert_eq!(all.verdict(), Verdict::Unhealthy);
}

#[test]
fn configure_critical_takes_effect_at_once() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    put(&brama, &clock, Key::new("db"), Options::new(), State::Open);
    assert_eq!(brama.health().verdict(), Verdict::Degraded);

    brama
        .configure("db", Options::new().critical(true))
        .unwrap();
    assert_eq!(brama.health().verdict(), Verdict::Unhealthy);

    // Other fields leave it as it is.
    brama
        .configure("db", Options::new().failure_threshold(3))
        .unwrap();
    assert_eq!(brama.health().critical_open(), 1);

    brama
        .configure("db", Options::new().critical(false))
        .unwrap();
    assert_eq!(brama.health().verdict(), Verdict::Degraded);
}

#[test]
fn configure_defaults_makes_connections_without_their_own_value_critical() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    put(&brama, &clock, Key::new("a"), Options::new(), State::Open);
    put(
        &brama,
        &clock,
        Key::new("b"),
        Options::new().critical(false),
        State::Open,
    );
    assert_eq!(brama.health().critical_open(), 0);

    brama
        .configure_defaults(Options::new().critical(true))
        .unwrap();
    let health = brama.health();
    assert_eq!(health.critical_open(), 1, "only `a`: `b` said false itself");
    assert_eq!(health.verdict(), Verdict::Unhealthy);

    // Other defaults leave it as it is; setting it false again clears it.
    brama
        .configure_defaults(Options::new().failure_threshold(2))
        .unwrap();
    assert_eq!(brama.health().critical_open(), 1);
    brama
        .configure_defaults(Options::new().critical(false))
        .unwrap();
    assert_eq!(brama.health().verdict(), Verdict::Degraded);
}

#[test]
fn critical_decides_nothing_about_calls() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("a", Options::new().critical(true)).unwrap();
    brama.register("b", Options::new()).unwrap();
    for key in ["a", "b"] {
        assert!(brama.available(key));
        brama.failure(key).unwrap();
        assert!(!brama.available(key));
        clock.advance(EXPIRY);
        assert!(brama.available(key));
        brama.success(key).unwrap();
        assert_eq!(brama.state(key), Ok(State::Closed));
    }
    let counts = |s: Status| {
        let c = (
            s.state,
            s.consecutive_failures,
            s.total_successes,
            s.total_failures,
        );
        (c, s.total_rejected, s.trips, s.open_duration)
    };
    let (a, b) = (brama.status("a").unwrap(), brama.status("b").unwrap());
    assert_eq!(counts(a), counts(b));
}

#[test]
fn verdict_and_health_traits() {
    fn traits<T: std::fmt::Debug + Clone + Send + Sync + 'static>() {}
    traits::<Health>();
    traits::<Verdict>();
    let v = Verdict::Unhealthy;
    let copy = v;
    assert_eq!(v, copy);
    assert_eq!(
        [Verdict::Healthy, Verdict::Degraded, Verdict::Unhealthy].map(|v| v.to_string()),
        ["healthy", "degraded", "unhealthy"]
    );
    let h = Health::default();
    assert_eq!(h.clone(), h);
}

/// Health walks the janitor's sweep list: beside sweeps (which take the same list) and
/// registrations and removals (which queue while a list is out), every report ends, and
/// once the writers stop it counts exactly what is registered.
#[test]
fn health_beside_sweeps_and_writers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let clock = ManualClock::new();
    let brama = brama(&clock);
    for i in 0..2_000 {
        let id = format!("c{i}");
        brama
            .register(Key::scoped("s", &id), Options::new())
            .unwrap();
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                brama.sweep();
            }
        });
        sc.spawn(|| {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("w{i}");
                let key = Key::scoped("w", &id);
                brama.register(key, Options::new()).unwrap();
                brama.unregister(key).unwrap();
                i += 1;
            }
        });
        for _ in 0..50 {
            let health = brama.health();
            assert!(
                health.total() >= 2_000 && health.total() <= 2_001,
                "{health:?}"
            );
            assert_eq!(brama.health_in("s").total(), 2_000);
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(brama.health().total(), brama.len());
    assert_eq!(brama.health().total(), 2_000);
}
