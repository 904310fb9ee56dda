//! SPEC §10 / §13 (issue #17): `state()` reads without side effects, `Options::critical`,
//! and `health()` / `health_in(scope)` with their verdicts. ManualClock only, manual
//! janitor (nothing sweeps behind the test's back), no sleeps.

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Error, Event, EventKind, Filter, Health, Janitor, Key, ManualClock, OpenOptions,
    Options, State, Status, Subscription, TripPolicy, Verdict, Window,
};

const EXPIRY: Duration = Duration::from_secs(30);

/// Threshold 1, a fixed 30 s open duration, one probe, a 10 s probe timeout.
fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(1)
        .expiry(EXPIRY)
        .probe_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .expect("valid settings")
}

fn drain(sub: &Subscription) -> Vec<Event> {
    sub.try_iter().collect()
}

/// What a side-effect-free read must leave exactly as it was (`since_state_change`
/// moves with the clock and is left out).
fn fixed(s: &Status) -> impl PartialEq + std::fmt::Debug {
    (
        s.state,
        s.consecutive_failures,
        (
            s.total_successes,
            s.total_failures,
            s.total_rejected,
            s.trips,
        ),
        (s.last_success_at, s.last_failure_at, s.opened_at),
        s.last_state_change_at,
        s.open_duration,
    )
}

fn state_changes(events: &[Event]) -> Vec<(State, State, Cause)> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::StateChanged { from, to, cause } => Some((from, to, cause)),
            _ => None,
        })
        .collect()
}

// ----- state(): no side effects --------------------------------------------------------

#[test]
fn open_before_expiry_reads_open_and_counts_no_rejection() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    let before = brama.status("db").unwrap();
    let sub = brama.subscribe(Filter::new());
    let conn = brama.connection("db").unwrap();
    for _ in 0..3 {
        assert_eq!(brama.state("db"), Ok(State::Open));
        assert_eq!(conn.state(), Ok(State::Open));
    }
    assert_eq!(fixed(&brama.status("db").unwrap()), fixed(&before));
    assert_eq!(before.total_rejected, 0, "state() is not a check");
    assert!(drain(&sub).is_empty());
}

#[test]
fn open_past_expiry_reads_half_open_and_takes_nothing() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    let conn = brama.connection("db").unwrap();
    let sub = brama.subscribe(Filter::new());
    clock.advance(EXPIRY);
    let before = brama.status("db").unwrap();

    for _ in 0..3 {
        assert_eq!(brama.state("db"), Ok(State::HalfOpen));
        assert_eq!(conn.state(), Ok(State::HalfOpen));
        let _ = brama.health();
        let _ = brama.health_in("nowhere");
    }

    // Nothing moved it: the circuit is still Open, no counter, timestamp or event.
    let after = brama.status("db").unwrap();
    assert_eq!(after.state, State::Open);
    assert_eq!(fixed(&after), fixed(&before));
    assert!(drain(&sub).is_empty(), "state() and health() emit nothing");

    // No probe slot was taken: the next caller is admitted as the probe, and it is
    // this check that moves the circuit (one StateChanged, Expiry).
    let permit = brama.acquire("db").expect("the probe is admitted");
    assert_eq!(
        state_changes(&drain(&sub)),
        vec![(State::Open, State::HalfOpen, Cause::Expiry)]
    );
    permit.success().unwrap();
    assert_eq!(brama.state("db"), Ok(State::Closed));
}

#[test]
fn half_open_with_every_slot_taken_reads_half_open_and_takes_nothing() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    clock.advance(EXPIRY);
    let probe = brama.acquire("db").expect("the one probe");
    let sub = brama.subscribe(Filter::new());
    let before = brama.status("db").unwrap();
    assert_eq!(before.state, State::HalfOpen);

    assert_eq!(brama.state("db"), Ok(State::HalfOpen));
    assert_eq!(brama.connection("db").unwrap().state(), Ok(State::HalfOpen));
    assert_eq!(fixed(&brama.status("db").unwrap()), fixed(&before));

    // Past the probe timeout: still HalfOpen, and a read changes nothing and emits
    // nothing. (Under this policy a freed slot is seen only by a check, which applies
    // the timeout itself; the test below shows, under a rate policy, that a read does
    // not apply it.)
    clock.advance(Duration::from_secs(10));
    assert_eq!(brama.state("db"), Ok(State::HalfOpen));
    assert_eq!(brama.connection("db").unwrap().state(), Ok(State::HalfOpen));
    assert!(drain(&sub).is_empty());
    assert_eq!(fixed(&brama.status("db").unwrap()), fixed(&before));

    // The check applies it: the slot is freed, with no state change and no event, and
    // this caller probes; it holds the only slot.
    let second = brama
        .acquire("db")
        .expect("the timed-out slot is free again");
    assert!(second.is_probe());
    assert!(drain(&sub).is_empty(), "a freed slot is not a state change");
    assert_eq!(brama.state("db"), Ok(State::HalfOpen));
    assert_eq!(fixed(&brama.status("db").unwrap()), fixed(&before));
    assert!(!brama.available("db"), "the new probe holds the only slot");
    assert_eq!(brama.status("db").unwrap().total_rejected, 1);
    // The timed-out permit is stale: its late success decides nothing.
    probe.success().unwrap();
    assert_eq!(brama.state("db"), Ok(State::HalfOpen));
    assert!(state_changes(&drain(&sub)).is_empty());
    second.success().unwrap();
    assert_eq!(brama.state("db"), Ok(State::Closed));
}

#[test]
fn half_open_past_the_probe_timeout_reads_half_open_until_a_check_applies_it() {
    // Under a rate policy a timed-out probe counts as a failure: with one probe, giving
    // it up decides the cycle (re-opens). A read must not do that; the next check does.
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .trip_policy(
            TripPolicy::failure_rate(0.5)
                .window(Window::count(10))
                .minimum_calls(1),
        )
        .expiry(EXPIRY)
        .probe_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .expect("valid settings");
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    assert_eq!(brama.state("db"), Ok(State::Open));
    clock.advance(EXPIRY);
    let probe = brama.acquire("db").expect("the one probe");
    let sub = brama.subscribe(Filter::new());
    let before = brama.status("db").unwrap();
    assert_eq!(before.state, State::HalfOpen);

    clock.advance(Duration::from_secs(10));
    for _ in 0..3 {
        assert_eq!(brama.state("db"), Ok(State::HalfOpen));
        assert_eq!(brama.connection("db").unwrap().state(), Ok(State::HalfOpen));
        let _ = brama.health();
        let s = brama.status("db").unwrap();
        assert_eq!(fixed(&s), fixed(&before));
        assert_eq!((s.window_calls, s.failure_rate), (0, None), "not applied");
    }
    assert!(drain(&sub).is_empty(), "reads emit nothing");

    // The check applies it: the timed-out probe is a failure, the cycle re-opens.
    assert!(!brama.available("db"));
    assert_eq!(
        state_changes(&drain(&sub)),
        vec![(State::HalfOpen, State::Open, Cause::FailureRate)]
    );
    assert_eq!(brama.status("db").unwrap().trips, before.trips + 1);
    probe.success().unwrap();
    assert_eq!(
        brama.state("db"),
        Ok(State::Open),
        "the late probe decides nothing"
    );
}

#[test]
fn half_open_with_slots_taken_refuses_checks_but_state_says_half_open() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    clock.advance(EXPIRY);
    let _probe = brama.acquire("db").unwrap();
    assert!(!brama.available("db"), "the one slot is taken");
    let rejected = brama.status("db").unwrap().total_rejected;
    assert_eq!(brama.state("db"), Ok(State::HalfOpen));
    assert_eq!(brama.status("db").unwrap().total_rejected, rejected);
}

#[test]
fn opened_indefinitely_reads_open_for_ever() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama
        .open_circuit("db", OpenOptions::new().indefinitely())
        .unwrap();
    clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    assert_eq!(brama.state("db"), Ok(State::Open));
}

#[test]
fn unknown_key_is_not_found_and_never_registered() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .auto_register(true)
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new());
    assert!(matches!(brama.state("ghost"), Err(Error::NotFound { .. })));
    assert!(matches!(
        brama.state(Key::scoped("s", "ghost")),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(brama.len(), 0, "state() never auto-registers");
    assert!(drain(&sub).is_empty());
    assert_eq!(brama.health().total(), 0);
    // A scoped connection is found only with its scope.
    brama
        .register(Key::scoped("s", "db"), Options::new())
        .unwrap();
    assert!(matches!(brama.state("db"), Err(Error::NotFound { .. })));
    assert_eq!(brama.state(("s", "db")), Ok(State::Unknown));
}

#[test]
fn invalid_keys_are_rejected_as_other_methods_reject_them() {
    let brama = Brama::builder().janitor(Janitor::Manual).build().unwrap();
    let long = "x".repeat(257);
    for key in [Key::new(""), Key::new(&long), Key::scoped("", "db")] {
        assert!(
            matches!(brama.state(key), Err(Error::InvalidKey { .. })),
            "{key:?}"
        );
        assert_eq!(
            std::mem::discriminant(&brama.state(key).unwrap_err()),
            std::mem::discriminant(&brama.status(key).unwrap_err()),
            "state and status agree on {key:?}"
        );
    }
}

#[test]
fn a_handle_to_a_removed_connection_is_not_found() {
    let brama = Brama::builder().janitor(Janitor::Manual).build().unwrap();
    brama.register("db", Options::new()).unwrap();
    let conn = brama.connection("db").unwrap();
    assert_eq!(conn.state(), Ok(State::Unknown));
    brama.unregister("db").unwrap();
    assert!(matches!(conn.state(), Err(Error::NotFound { .. })));
    assert!(matches!(brama.state("db"), Err(Error::NotFound { .. })));
    // Registered again: the old handle still refers to the removed connection.
    brama.register("db", Options::new()).unwrap();
    assert!(matches!(conn.state(), Err(Error::NotFound { .. })));
    assert_eq!(brama.state("db"), Ok(State::Unknown));
}

// ----- health ---------------------------------------------------------------------------

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
