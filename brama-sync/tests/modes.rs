//! SPEC §11, modes: `Disabled` (always available, reports not counted), `ForcedOpen`
//! (never available), `MetricsOnly` (never rejects; counts, tracks the state it would
//! be in and emits its events), set per connection, per scope and as a default, and
//! what `Status` shows in each.

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Config, Error, EventKind, EventType, Filter, Janitor, Key, ManualClock, Mode,
    OpenOptions, Options, State, Status,
};

const HOUR: Duration = Duration::from_secs(3600);
const EXPIRY: Duration = Duration::from_secs(10);

fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(2)
        .expiry(EXPIRY)
        .janitor(Janitor::Manual)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn totals(s: &Status) -> (u64, u64, u64, u64) {
    (
        s.total_successes,
        s.total_failures,
        s.total_rejected,
        s.trips,
    )
}

/// Every way of asking for admission, through the key, a handle and a permit.
fn admitted(brama: &Brama, key: Key<'_>) -> [bool; 4] {
    let conn = brama.connection(key).unwrap();
    [
        brama.available(key),
        conn.available(),
        brama.acquire(key).is_ok(),
        brama.call(key, || Ok::<_, ()>(())).is_ok(),
    ]
}

#[test]
fn disabled_admits_everything_counts_nothing_and_leaves_the_state() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    brama.failure("db").unwrap();
    let open = brama.status("db").unwrap();
    assert_eq!(open.state, State::Open);

    brama.set_mode("db", Mode::Disabled).unwrap();
    let sub = brama.subscribe(Filter::new());
    assert_eq!(admitted(&brama, "db".into()), [true; 4]);
    let conn = brama.connection("db").unwrap();
    for _ in 0..5 {
        brama.success("db").unwrap();
        brama.failure_with("db", "boom").unwrap();
        conn.success().unwrap();
        conn.failure().unwrap();
        brama.acquire("db").unwrap().failure().unwrap();
    }
    clock.advance(EXPIRY * 3);
    assert_eq!(brama.sweep().transitioned, 0, "time does not move it");
    let s = brama.status("db").unwrap();
    assert_eq!((s.state, s.mode), (State::Open, Mode::Disabled));
    assert_eq!(totals(&s), totals(&open), "nothing counted");
    assert_eq!(
        brama.state("db").unwrap(),
        State::HalfOpen,
        "what Normal's next check would see"
    );
    let kinds: Vec<EventType> = sub.try_iter().map(|e| e.event_type()).collect();
    assert_eq!(kinds, [EventType::Swept], "no report, no state change");

    // Back to Normal: the circuit is where it was, and time applies again.
    brama.set_mode("db", Mode::Normal).unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Open);
    assert!(
        brama.available("db"),
        "expired long ago: this check is the probe"
    );
    brama.success("db").unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
}

#[test]
fn forced_open_refuses_everything_and_leaves_the_state() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let key = Key::scoped("payments", "stripe");
    brama.register(key, Options::new()).unwrap();
    brama.success(key).unwrap();

    brama.set_mode(key, Mode::ForcedOpen).unwrap();
    let sub = brama.subscribe(Filter::new().event_types([EventType::StateChanged]));
    assert_eq!(admitted(&brama, key), [false; 4]);
    assert!(
        matches!(
            brama.acquire(key).err(),
            Some(Error::Rejected {
                state: State::Open,
                retry_after: None,
                ..
            })
        ),
        "refused as open, with no time to wait for"
    );
    // Reports from calls that started before are counted, and decide nothing.
    for _ in 0..5 {
        brama.failure(key).unwrap();
    }
    brama.connection(key).unwrap().success().unwrap();
    clock.advance(HOUR);
    brama.sweep();
    let s = brama.status(key).unwrap();
    assert_eq!(
        (s.state, s.mode),
        (State::Closed, Mode::ForcedOpen),
        "left as it was"
    );
    assert_eq!(totals(&s), (2, 5, 5, 0));
    assert_eq!(sub.try_iter().count(), 0, "no state change");
    assert_eq!(
        brama.health().count(State::Closed),
        1,
        "health counts the state"
    );

    brama.set_mode(key, Mode::Normal).unwrap();
    assert!(brama.available(key));
    assert_eq!(brama.status(key).unwrap().consecutive_failures, 0);
}

#[test]
fn metrics_only_tracks_and_reports_the_state_but_admits_every_call() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.set_mode("db", Mode::MetricsOnly).unwrap();
    let sub = brama.subscribe(Filter::new().event_types([EventType::StateChanged]));

    brama.failure("db").unwrap();
    brama.failure_with("db", "timeout").unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.state, s.mode, s.trips),
        (State::Open, Mode::MetricsOnly, 1)
    );
    let events: Vec<_> = sub.try_iter().collect();
    assert_eq!(
        events.len(),
        2,
        "Unknown to Closed, then the trip: {events:?}"
    );
    assert_eq!(
        events[1].kind,
        EventKind::StateChanged {
            from: State::Closed,
            to: State::Open,
            cause: Cause::Threshold
        }
    );
    assert_eq!(events[1].reason.as_deref(), Some("timeout"));

    // Never rejects; each check the state would refuse is counted as rejected.
    assert_eq!(admitted(&brama, "db".into()), [true; 4]);
    let s = brama.status("db").unwrap();
    assert_eq!(s.total_rejected, 4, "shadow rejections");
    assert_eq!(s.total_successes, 1, "the call was made and counted");
    assert_eq!(s.state, State::Open, "a report while open changes nothing");

    // A permit admitted only by the mode decides nothing, even past the deadline.
    let shadow = brama.acquire("db").unwrap();
    assert!(!shadow.is_probe());
    clock.advance(EXPIRY);
    // The first check after the deadline is the probe, as in Normal.
    let probe = brama.acquire("db").unwrap();
    assert!(probe.is_probe());
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);
    let extra = brama.acquire("db").unwrap();
    assert!(
        !extra.is_probe(),
        "a second caller is admitted, not as a probe"
    );
    shadow.failure().unwrap();
    extra.failure().unwrap();
    assert_eq!(
        brama.status("db").unwrap().state,
        State::HalfOpen,
        "they decided nothing"
    );
    probe.success().unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!(s.state, State::Closed, "the probe decided");
    assert_eq!(s.total_rejected, 6, "and the shadow and extra checks");
    let causes: Vec<_> = sub
        .try_iter()
        .filter_map(|e| match e.kind {
            EventKind::StateChanged { cause, .. } => Some(cause),
            _ => None,
        })
        .collect();
    assert_eq!(causes, [Cause::Expiry, Cause::ProbeSuccess]);
}

#[test]
fn metrics_only_counts_through_the_fast_paths_too() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama
        .register("db", Options::new().mode(Mode::MetricsOnly))
        .unwrap();
    let conn = brama.connection("db").unwrap();
    for _ in 0..10 {
        assert!(conn.available());
        conn.success().unwrap();
        brama.success("db").unwrap();
    }
    conn.failure().unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.total_successes, s.total_failures, s.consecutive_failures),
        (20, 1, 1)
    );
    assert_eq!(s.mode, Mode::MetricsOnly, "Options::mode at registration");
}

#[test]
fn the_mode_in_effect_is_the_connections_else_the_scopes_else_the_default() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .mode(Mode::MetricsOnly)
        .janitor(Janitor::Manual)
        .clock(clock.clone())
        .build()
        .unwrap();
    let (a, b, c) = (
        Key::scoped("payments", "a"),
        Key::scoped("payments", "b"),
        Key::new("c"),
    );
    brama.register(a, Options::new()).unwrap();
    brama
        .register(b, Options::new().mode(Mode::Normal))
        .unwrap();
    brama.register(c, Options::new()).unwrap();
    let mode = |k| brama.status(k).unwrap().mode;
    assert_eq!(
        (mode(a), mode(b), mode(c)),
        (Mode::MetricsOnly, Mode::Normal, Mode::MetricsOnly)
    );

    assert_eq!(
        brama.set_scope_mode("payments", Mode::ForcedOpen),
        2,
        "both counted"
    );
    assert_eq!(
        (mode(a), mode(b), mode(c)),
        (Mode::ForcedOpen, Mode::Normal, Mode::MetricsOnly)
    );
    let later = Key::scoped("payments", "later");
    brama.register(later, Options::new()).unwrap();
    assert_eq!(
        mode(later),
        Mode::ForcedOpen,
        "later connections get the scope's"
    );
    assert!(!brama.available(later));

    brama
        .configure_defaults(Options::new().mode(Mode::Disabled))
        .unwrap();
    assert_eq!((mode(a), mode(c)), (Mode::ForcedOpen, Mode::Disabled));
    brama.configure(b, Options::new().inherit_mode()).unwrap();
    assert_eq!(mode(b), Mode::ForcedOpen, "its own cleared: the scope's");
    brama
        .configure_scope("payments", Options::new().inherit_mode())
        .unwrap();
    assert_eq!(
        (mode(a), mode(b)),
        (Mode::Disabled, Mode::Disabled),
        "the default"
    );
    brama
        .configure_defaults(Options::new().inherit_mode())
        .unwrap();
    assert_eq!(
        (mode(a), mode(c)),
        (Mode::Normal, Mode::Normal),
        "SPEC default"
    );
    assert_eq!(brama.set_scope_mode("nowhere", Mode::Disabled), 0);
    assert!(matches!(
        brama.set_mode("missing", Mode::Disabled),
        Err(Error::NotFound { .. })
    ));
}

/// `Config::mode` is `Builder::mode` as data (SPEC §13: one `Config` field per builder
/// setting): the default mode of every connection, through `Builder::config` and
/// `Brama::from_config`.
#[test]
fn the_default_mode_of_a_config_applies_to_every_connection() {
    let config = Config {
        mode: Some(Mode::Disabled),
        failure_threshold: Some(2),
        janitor: Some(Janitor::Manual),
        ..Config::default()
    };
    let by_config = Brama::builder()
        .config(&config)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let from_config = Brama::from_config(config.clone()).unwrap();
    for brama in [&by_config, &from_config] {
        let keys = [Key::new("db"), Key::scoped("payments", "stripe")];
        for k in keys {
            brama.register(k, Options::new()).unwrap();
        }
        for k in keys {
            for _ in 0..5 {
                brama.failure(k).unwrap();
            }
            assert_eq!(admitted(brama, k), [true; 4], "{k:?}");
            let s = brama.status(k).unwrap();
            assert_eq!((s.state, s.mode), (State::Unknown, Mode::Disabled), "{k:?}");
            assert_eq!(totals(&s), (0, 0, 0, 0), "nothing counted: {k:?}");
        }
        // A connection's own mode still wins over the default.
        brama
            .register("own", Options::new().mode(Mode::Normal))
            .unwrap();
        brama.failure("own").unwrap();
        brama.failure("own").unwrap();
        assert_eq!(brama.status("own").unwrap().state, State::Open);
    }

    // A setting made on the builder after `config` wins; a config without a mode
    // leaves the builder's.
    let mode_of = |b: brama_sync::Builder| {
        let brama = b.janitor(Janitor::Manual).build().unwrap();
        brama.register("k", Options::new()).unwrap();
        brama.status("k").unwrap().mode
    };
    assert_eq!(
        mode_of(Brama::builder().config(&config).mode(Mode::MetricsOnly)),
        Mode::MetricsOnly
    );
    assert_eq!(
        mode_of(
            Brama::builder()
                .mode(Mode::ForcedOpen)
                .config(&Config::default())
        ),
        Mode::ForcedOpen
    );
    assert_eq!(
        mode_of(Brama::builder().config(&Config::default())),
        Mode::Normal
    );
}

#[test]
fn a_change_of_mode_starts_a_new_cycle() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama
        .register("db", Options::new().failure_threshold(1))
        .unwrap();
    let before = brama.acquire("db").unwrap();
    brama.set_mode("db", Mode::MetricsOnly).unwrap();
    before.failure().unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.state, s.total_failures),
        (State::Unknown, 1),
        "counted, decided nothing"
    );
    // A half-open circuit's probe slots are freed.
    brama.set_mode("db", Mode::Normal).unwrap();
    brama.open_circuit("db", OpenOptions::new()).unwrap();
    clock.advance(EXPIRY);
    let probe = brama.acquire("db").unwrap();
    assert!(probe.is_probe());
    assert!(!brama.available("db"), "one probe at a time");
    brama.set_mode("db", Mode::MetricsOnly).unwrap();
    brama.set_mode("db", Mode::Normal).unwrap();
    assert!(
        brama.available("db"),
        "the slot was freed with the old cycle"
    );
    probe.success().unwrap();
    assert_eq!(
        brama.status("db").unwrap().state,
        State::HalfOpen,
        "the old probe decided nothing"
    );
}

#[test]
fn a_connection_with_a_mode_of_its_own_is_not_evicted() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .inactive_threshold(Duration::from_secs(1))
        .janitor(Janitor::Manual)
        .clock(clock.clone())
        .build()
        .unwrap();
    let keys = [
        Key::new("normal"),
        Key::new("forced"),
        Key::new("shadow"),
        Key::scoped("s", "by-scope"),
    ];
    for k in keys {
        brama.register(k, Options::new()).unwrap();
    }
    brama.set_mode(keys[1], Mode::ForcedOpen).unwrap();
    brama.set_mode(keys[2], Mode::MetricsOnly).unwrap();
    brama.set_scope_mode("s", Mode::Disabled);
    clock.advance(Duration::from_secs(2));
    assert_eq!(brama.sweep().evicted, 2);
    let left: Vec<String> = brama
        .connections()
        .into_iter()
        .map(|s| s.identifier)
        .collect();
    assert_eq!(
        left,
        ["forced", "shadow"],
        "a scope's mode comes back with a new registration"
    );
}
