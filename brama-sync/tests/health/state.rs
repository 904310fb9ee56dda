//! `state()`: no side effects in any state; unknown and invalid keys; removed connections.

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Error, Event, EventKind, Filter, Janitor, Key, ManualClock, OpenOptions, Options,
    State, Status, Subscription, TripPolicy, Window,
};

use crate::support::{brama, EXPIRY};

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
