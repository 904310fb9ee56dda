//! SPEC §11, scopes: the operations on a whole scope (`open_scope`, `close_scope`,
//! `reset_scope`, `unregister_scope`), their counts and their events, and scope
//! defaults layered between the registry's defaults and a connection's own overrides,
//! live, with fields cleared back to "inherit".

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Error, Event, EventKind, EventType, Filter, Key, ManualClock, OpenOptions,
    Options, State, Subscription, TripPolicy,
};

const HOUR: Duration = Duration::from_secs(3600);

fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(5)
        .expiry(Duration::from_secs(60))
        .cleanup_interval(HOUR)
        .clock(clock.clone())
        .build()
        .unwrap()
}

const PAY: [Key<'static>; 3] = [
    Key::scoped("payments", "stripe"),
    Key::scoped("payments", "adyen"),
    Key::scoped("payments", "paypal"),
];
const SEARCH: Key<'static> = Key::scoped("search", "elastic");
const PLAIN: Key<'static> = Key::new("payments"); // unscoped, named like the scope

fn register_all(brama: &Brama) {
    for key in PAY.iter().chain([&SEARCH, &PLAIN]) {
        brama.register(*key, Options::new()).unwrap();
    }
}

fn state_changes(sub: &Subscription) -> Vec<(String, State, State, Cause, Option<String>)> {
    sub.try_iter()
        .filter_map(|e: Event| match e.kind {
            EventKind::StateChanged { from, to, cause } => {
                Some((e.identifier().to_owned(), from, to, cause, e.reason.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn open_scope_opens_every_connection_of_the_scope_and_only_those() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    register_all(&brama);
    brama.open_circuit(PAY[2], OpenOptions::new()).unwrap(); // already open: re-armed
    let sub = brama.subscribe(Filter::new().event_types([EventType::StateChanged]));

    let n = brama.open_scope(
        "payments",
        OpenOptions::new()
            .reason("incident 42")
            .duration(Duration::from_secs(30)),
    );

    assert_eq!(n, 3, "applied to every connection of the scope");
    for key in PAY {
        assert_eq!(brama.status(key).unwrap().state, State::Open, "{key}");
        assert!(!brama.available(key));
    }
    assert_eq!(brama.status(SEARCH).unwrap().state, State::Unknown);
    assert_eq!(
        brama.status(PLAIN).unwrap().state,
        State::Unknown,
        "unscoped"
    );
    let mut changes = state_changes(&sub);
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    let reason = Some("incident 42".to_owned());
    assert_eq!(
        changes,
        [
            (
                "adyen".into(),
                State::Unknown,
                State::Open,
                Cause::Scope,
                reason.clone()
            ),
            (
                "stripe".into(),
                State::Unknown,
                State::Open,
                Cause::Scope,
                reason
            ),
        ],
        "one StateChanged per connection that changed, cause Scope"
    );
    // The re-armed one took the new duration.
    clock.advance(Duration::from_secs(30));
    for key in PAY {
        assert!(
            brama.available(key),
            "{key}: every open period is the scope's 30 s"
        );
    }
}

#[test]
fn close_and_reset_scope_count_and_report_like_open() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    register_all(&brama);
    brama
        .open_circuit(PAY[0], OpenOptions::new().indefinitely())
        .unwrap();
    brama.success(PAY[1]).unwrap(); // Closed
    brama.open_circuit(SEARCH, OpenOptions::new()).unwrap();
    let sub = brama.subscribe(Filter::new().event_types([EventType::StateChanged]));

    assert_eq!(brama.close_scope("payments"), 3);
    let mut changes = state_changes(&sub);
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        changes,
        [
            (
                "paypal".into(),
                State::Unknown,
                State::Closed,
                Cause::Scope,
                None
            ),
            (
                "stripe".into(),
                State::Open,
                State::Closed,
                Cause::Scope,
                None
            ),
        ],
        "adyen was closed already: no event"
    );
    assert_eq!(brama.status(SEARCH).unwrap().state, State::Open);

    brama.failure(PAY[0]).unwrap();
    assert_eq!(brama.reset_scope("payments"), 3);
    for key in PAY {
        let s = brama.status(key).unwrap();
        assert_eq!(
            (s.state, s.consecutive_failures),
            (State::Unknown, 0),
            "{key}"
        );
    }
    assert_eq!(
        brama.status(PAY[0]).unwrap().total_failures,
        1,
        "totals kept"
    );
    assert_eq!(
        state_changes(&sub)
            .iter()
            .filter(|c| c.3 == Cause::Scope)
            .count(),
        3
    );
}

#[test]
fn unregister_scope_removes_the_scope_and_keeps_its_defaults() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    register_all(&brama);
    brama
        .configure_scope("payments", Options::new().failure_threshold(1))
        .unwrap();
    let held = brama.connection(PAY[0]).unwrap();
    let sub = brama.subscribe(Filter::new().event_types([EventType::Unregistered]));

    assert_eq!(brama.unregister_scope("payments"), 3);

    assert_eq!(brama.len(), 2);
    assert_eq!(sub.try_iter().count(), 3, "one Unregistered each");
    assert!(matches!(brama.status(PAY[1]), Err(Error::NotFound { .. })));
    assert!(!held.available(), "a handle outlives its connection");
    assert!(matches!(held.success(), Err(Error::NotFound { .. })));
    assert!(brama.connections_in("payments").is_empty());
    assert_eq!(brama.unregister_scope("payments"), 0, "nothing left");
    // The scope's defaults stay for later registrations.
    brama.register(PAY[0], Options::new()).unwrap();
    brama.failure(PAY[0]).unwrap();
    assert_eq!(brama.status(PAY[0]).unwrap().state, State::Open);
}

#[test]
fn an_unknown_or_invalid_scope_is_zero_and_changes_nothing() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    register_all(&brama);
    let sub = brama.subscribe(Filter::new());
    let long = "x".repeat(300);
    for scope in ["nowhere", "", long.as_str(), "Payments", "payments/stripe"] {
        assert_eq!(brama.open_scope(scope, OpenOptions::new()), 0, "{scope:?}");
        assert_eq!(brama.close_scope(scope), 0);
        assert_eq!(brama.reset_scope(scope), 0);
        assert_eq!(brama.unregister_scope(scope), 0);
    }
    // A bad open duration opens nothing: 0 from open_scope, the error from try_open_scope.
    let zero = OpenOptions::new().duration(Duration::ZERO);
    assert_eq!(brama.open_scope("payments", zero.clone()), 0);
    assert!(matches!(
        brama.try_open_scope("payments", zero),
        Err(Error::InvalidConfig {
            field: "duration",
            ..
        })
    ));
    assert_eq!(
        brama.try_open_scope("payments", OpenOptions::new()),
        Ok(3),
        "the fallible form counts as well"
    );
    assert_eq!(brama.close_scope("payments"), 3);
    let kinds: Vec<EventType> = sub.try_iter().map(|e| e.event_type()).collect();
    assert_eq!(
        kinds.len(),
        6,
        "only the two good operations' events: {kinds:?}"
    );
    assert_eq!(brama.len(), 5);
}

#[test]
fn scope_defaults_sit_between_the_registry_and_the_connection_live() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let early = PAY[0];
    brama.register(early, Options::new()).unwrap();
    let own = PAY[1];
    brama
        .register(own, Options::new().failure_threshold(4))
        .unwrap();

    // An existing connection follows at once; one registered later too.
    brama
        .configure_scope("payments", Options::new().failure_threshold(2))
        .unwrap();
    let late = PAY[2];
    brama.register(late, Options::new()).unwrap();
    for key in [early, late] {
        brama.failure(key).unwrap();
        assert_eq!(brama.status(key).unwrap().state, State::Closed);
        brama.failure(key).unwrap();
        assert_eq!(
            brama.status(key).unwrap().state,
            State::Open,
            "{key}: scope's 2"
        );
    }
    // Its own value wins.
    for _ in 0..3 {
        brama.failure(own).unwrap();
    }
    assert_eq!(brama.status(own).unwrap().state, State::Closed, "own 4");
    brama.failure(own).unwrap();
    assert_eq!(brama.status(own).unwrap().state, State::Open);

    // Other scopes and unscoped connections keep the registry's 5.
    brama.register(SEARCH, Options::new()).unwrap();
    for _ in 0..4 {
        brama.failure(SEARCH).unwrap();
    }
    assert_eq!(brama.status(SEARCH).unwrap().state, State::Closed);

    // The open duration of a trip comes from the scope too (fields it does not set
    // come from the registry).
    brama
        .configure_scope("payments", Options::new().expiry(Duration::from_secs(7)))
        .unwrap();
    assert_eq!(
        brama.scope_defaults("payments"),
        Some(
            Options::new()
                .failure_threshold(2)
                .expiry(Duration::from_secs(7))
        ),
        "only the fields given change"
    );
    brama.close_circuit(early).unwrap();
    brama.failure(early).unwrap();
    brama.failure(early).unwrap();
    assert_eq!(
        brama.status(early).unwrap().open_duration,
        Duration::from_secs(7)
    );
    clock.advance(Duration::from_secs(7));
    assert!(brama.available(early), "expired after the scope's 7 s");
}

#[test]
fn inherit_clears_a_field_back_to_the_layer_below() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let key = PAY[0];
    brama
        .register(key, Options::new().failure_threshold(1))
        .unwrap();
    brama
        .configure_scope("payments", Options::new().failure_threshold(2))
        .unwrap();

    // The connection's own 1 back to the scope's 2.
    brama
        .configure(key, Options::new().inherit_failure_threshold())
        .unwrap();
    brama.failure(key).unwrap();
    assert_eq!(brama.status(key).unwrap().state, State::Closed);
    brama.failure(key).unwrap();
    assert_eq!(
        brama.status(key).unwrap().state,
        State::Open,
        "the scope's 2"
    );

    // The scope's 2 back to the registry's 5.
    brama.close_circuit(key).unwrap();
    brama
        .configure_scope("payments", Options::new().inherit_failure_threshold())
        .unwrap();
    assert_eq!(
        brama.scope_defaults("payments"),
        None,
        "an empty template is gone"
    );
    for _ in 0..4 {
        brama.failure(key).unwrap();
    }
    assert_eq!(brama.status(key).unwrap().state, State::Closed);
    brama.failure(key).unwrap();
    assert_eq!(
        brama.status(key).unwrap().state,
        State::Open,
        "the registry's 5"
    );

    // The registry's 5 (set by the builder) back to SPEC §4's... also 5; take jitter.
    brama
        .configure_defaults(Options::new().jitter(0.5).failure_threshold(3))
        .unwrap();
    brama
        .configure_defaults(Options::new().inherit_jitter())
        .unwrap();
    assert_eq!(brama.defaults().jitter, 0.0);
    assert_eq!(brama.defaults().failure_threshold, 3, "untouched");

    // Setting after clearing sets (the last call wins).
    brama
        .configure(
            key,
            Options::new()
                .inherit_failure_threshold()
                .failure_threshold(9),
        )
        .unwrap();
    brama.close_circuit(key).unwrap();
    for _ in 0..8 {
        brama.failure(key).unwrap();
    }
    assert_eq!(brama.status(key).unwrap().state, State::Closed, "own 9");
}

/// `inherit_trip_policy` is `inherit_failure_threshold` under the policy's name: it
/// clears a rate policy (and a threshold) back to the layer below, at each layer.
#[test]
fn inherit_trip_policy_clears_a_rate_policy_back_to_the_layer_below() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let key = PAY[0];
    // Two failures are under the rate policy's minimum of ten calls.
    let rate = TripPolicy::failure_rate(0.5).minimum_calls(10);
    let two_failures = |state: State, why: &str| {
        brama.success(key).unwrap(); // the streak starts over
        brama.failure(key).unwrap();
        brama.failure(key).unwrap();
        assert_eq!(brama.state(key).unwrap(), state, "{why}");
        brama.close_circuit(key).unwrap();
    };
    brama
        .register(key, Options::new().trip_policy(rate))
        .unwrap();
    brama
        .configure_scope("payments", Options::new().failure_threshold(2))
        .unwrap();
    two_failures(State::Closed, "its own rate policy");

    // The connection's own rate policy back to the scope's threshold of 2.
    brama
        .configure(key, Options::new().inherit_trip_policy())
        .unwrap();
    two_failures(State::Open, "the scope's 2");

    // The scope's rate policy back to the registry's threshold of 5.
    brama
        .configure_scope("payments", Options::new().trip_policy(rate))
        .unwrap();
    two_failures(State::Closed, "the scope's rate policy");
    brama
        .configure_scope("payments", Options::new().inherit_trip_policy())
        .unwrap();
    assert_eq!(brama.scope_defaults("payments"), None, "nothing left set");
    brama.success(key).unwrap();
    for _ in 0..4 {
        brama.failure(key).unwrap();
    }
    assert_eq!(brama.state(key).unwrap(), State::Closed);
    brama.failure(key).unwrap();
    assert_eq!(brama.state(key).unwrap(), State::Open, "the registry's 5");

    // The registry's rate policy back to SPEC §4's `consecutive(5)`.
    brama
        .configure_defaults(Options::new().trip_policy(rate))
        .unwrap();
    assert_eq!(brama.defaults().trip_policy(), rate);
    brama
        .configure_defaults(Options::new().inherit_trip_policy())
        .unwrap();
    assert_eq!(brama.defaults().trip_policy(), TripPolicy::consecutive(5));
}

#[test]
fn bad_scope_defaults_are_refused_and_change_nothing() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    register_all(&brama);
    brama
        .configure_scope("payments", Options::new().failure_threshold(2))
        .unwrap();
    let sub = brama.subscribe(Filter::new());
    let before = brama.scope_defaults("payments");

    let bad = [
        (
            "payments",
            Options::new().failure_threshold(0),
            "failure_threshold",
        ),
        (
            "payments",
            Options::new().jitter(1.0).failure_threshold(3),
            "jitter",
        ),
        ("payments", Options::new().expiry(Duration::ZERO), "expiry"),
        (
            "payments",
            Options::new().half_open_probes(0),
            "half_open_probes",
        ),
        (
            "payments",
            Options::new().metadata("team", "billing"),
            "metadata",
        ),
    ];
    for (scope, options, field) in bad {
        match brama.configure_scope(scope, options) {
            Err(Error::InvalidConfig { field: f, reason }) => {
                assert_eq!(f, field);
                assert!(!reason.is_empty());
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    let long = "s".repeat(257);
    for scope in ["", long.as_str()] {
        assert!(matches!(
            brama.configure_scope(scope, Options::new().failure_threshold(3)),
            Err(Error::InvalidKey { .. })
        ));
        assert_eq!(brama.set_scope_mode(scope, brama_sync::Mode::Disabled), 0);
    }
    assert_eq!(brama.scope_defaults("payments"), before, "nothing changed");
    assert_eq!(brama.scope_defaults(""), None);
    assert_eq!(sub.try_iter().count(), 0, "no event");
    brama.failure(PAY[0]).unwrap();
    brama.failure(PAY[0]).unwrap();
    assert_eq!(brama.status(PAY[0]).unwrap().state, State::Open, "still 2");
}

#[test]
fn configure_scope_emits_one_registry_wide_configured() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    register_all(&brama);
    let sub = brama.subscribe(Filter::new());
    brama
        .configure_scope("payments", Options::new().half_open_probes(3))
        .unwrap();
    let events: Vec<Event> = sub.try_iter().collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Configured);
    assert_eq!(events[0].key(), None);
}

#[test]
fn for_each_status_visits_what_connections_lists() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    register_all(&brama);
    brama.open_scope("payments", OpenOptions::new());
    let mut seen = Vec::new();
    brama.for_each_status(|s| seen.push(s.clone()));
    assert_eq!(seen, brama.connections());
    let mut open = 0;
    brama.for_each_status_in("payments", |s| {
        assert_eq!(s.scope.as_deref(), Some("payments"));
        open += usize::from(s.state == State::Open);
        // No lock is held: calling back in is fine.
        assert!(brama.status(Key::scoped("payments", &s.identifier)).is_ok());
        assert_eq!(brama.health().total(), 5);
    });
    assert_eq!(open, 3);
}

/// Of `threads` callers racing on one key of a registry with room for one connection,
/// exactly one registers it and all get it (none is told it is full).
fn race_connection_or_register(threads: usize) -> Brama {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .max_connections(1)
        .cleanup_interval(HOUR)
        .clock(clock.clone())
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new().event_types([EventType::Registered]));
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                let conn = brama
                    .connection_or_register(PAY[0], Options::new().failure_threshold(3))
                    .unwrap();
                conn.failure().unwrap();
            });
        }
    });
    assert_eq!(sub.try_iter().count(), 1, "registered exactly once");
    let s = brama.status(PAY[0]).unwrap();
    assert_eq!(
        s.total_failures, threads as u64,
        "every handle is the one connection"
    );
    assert_eq!(s.state, State::Open, "registered with the options given");
    brama
}

#[test]
fn connection_or_register_registers_once_and_hands_out_the_same_connection() {
    for _ in 0..50 {
        race_connection_or_register(4);
    }
    let brama = race_connection_or_register(8);
    // Bad input is refused even when the connection exists; capacity still applies.
    assert!(matches!(
        brama.connection_or_register(PAY[0], Options::new().failure_threshold(0)),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        brama.connection_or_register(Key::new(""), Options::new()),
        Err(Error::InvalidKey { .. })
    ));
    assert_eq!(
        brama.connection_or_register(PAY[1], Options::new()).err(),
        Some(Error::CapacityExceeded)
    );
    assert!(brama.connection_or_register(PAY[0], Options::new()).is_ok());
}
