//! What events carry: every kind and cause in order; counts, state, time, failure reasons.

use std::time::Duration;

use brama_sync::{
    Cause, Counts, Event, EventKind, EventType, Filter, Key, ManualClock, OpenOptions, Options,
    State,
};

use crate::support::{assert_gap_free, brama, drain, EXPIRY};

/// An event as (type, cause of a state change) for compact comparisons.
fn shape(e: &Event) -> (EventType, Option<Cause>) {
    match e.kind {
        EventKind::StateChanged { cause, .. } => (EventType::StateChanged, Some(cause)),
        _ => (e.event_type(), None),
    }
}

fn changed(cause: Cause) -> (EventType, Option<Cause>) {
    (EventType::StateChanged, Some(cause))
}

fn plain(t: EventType) -> (EventType, Option<Cause>) {
    (t, None)
}

#[test]
fn every_kind_is_emitted_with_gap_free_seqs_in_the_order_of_the_changes() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let sub = brama.subscribe(Filter::new());
    let key = Key::scoped("payments", "stripe");

    brama.register(key, Options::new()).unwrap();
    brama
        .configure(key, Options::new().metadata("team", "billing"))
        .unwrap();
    brama
        .configure_defaults(Options::new().half_open_probes(1))
        .unwrap();
    brama.success(key).unwrap(); // Unknown -> Closed
    brama.failure(key).unwrap();
    brama.failure(key).unwrap(); // threshold: Closed -> Open
    clock.advance(EXPIRY);
    assert!(brama.available(key)); // expiry: Open -> HalfOpen, this caller is the probe
    brama.failure(key).unwrap(); // probe failure: HalfOpen -> Open
    clock.advance(EXPIRY);
    assert!(brama.available(key)); // expiry again
    brama.success(key).unwrap(); // probe success: HalfOpen -> Closed
    brama.open_circuit(key, OpenOptions::new()).unwrap(); // manual open
    clock.advance(EXPIRY);
    let late = brama.acquire(key).unwrap(); // expiry; this probe does not report in time
    clock.advance(Duration::from_secs(5));
    brama.sweep(); // probe timeout: its slot freed, no state change; then Swept
    assert!(brama.available(key)); // the freed slot admits a new probe
    late.success().unwrap(); // stale: a Success, no state change
    assert_eq!(brama.state(key).unwrap(), State::HalfOpen);
    brama.close_circuit(key).unwrap();
    brama.reset_circuit(key).unwrap();
    brama.unregister(key).unwrap();
    brama.register("idle", Options::new()).unwrap();
    brama
        .set_inactive_threshold(Duration::from_secs(1))
        .unwrap();
    clock.advance(Duration::from_secs(2));
    brama.sweep(); // Evicted, then Swept

    let events = drain(&sub);
    let shapes: Vec<_> = events.iter().map(shape).collect();
    assert_eq!(
        shapes,
        [
            plain(EventType::Registered),
            plain(EventType::Configured),
            plain(EventType::Configured),
            plain(EventType::Success),
            changed(Cause::Report),
            plain(EventType::Failure),
            plain(EventType::Failure),
            changed(Cause::Threshold),
            changed(Cause::Expiry),
            plain(EventType::Failure),
            changed(Cause::ProbeFailure),
            changed(Cause::Expiry),
            plain(EventType::Success),
            changed(Cause::ProbeSuccess),
            changed(Cause::ManualOpen),
            changed(Cause::Expiry),
            plain(EventType::Swept),
            plain(EventType::Success),
            changed(Cause::ManualClose),
            changed(Cause::ManualReset),
            plain(EventType::Unregistered),
            plain(EventType::Registered),
            plain(EventType::Evicted),
            plain(EventType::Swept),
        ]
    );
    assert_gap_free(&events, 1);

    // from/to of every state change, in order.
    let transitions: Vec<(State, State)> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::StateChanged { from, to, .. } => Some((from, to)),
            _ => None,
        })
        .collect();
    use State::*;
    assert_eq!(
        transitions,
        [
            (Unknown, Closed),
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed),
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed),
            (Closed, Unknown),
        ]
    );

    // Every event carries its key; registry-wide events carry none.
    for e in &events {
        match e.event_type() {
            EventType::Swept => assert_eq!((e.identifier(), e.scope()), ("", None)),
            EventType::Configured if e.identifier().is_empty() => {} // the defaults
            _ if e.identifier() == "idle" => assert_eq!(e.scope(), None),
            _ => assert_eq!((e.identifier(), e.scope()), ("stripe", Some("payments"))),
        }
    }
    let swept: Vec<_> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Swept { examined, evicted } => Some((examined, evicted)),
            _ => None,
        })
        .collect();
    assert_eq!(swept, [(1, 0), (1, 1)]);
}

#[test]
fn events_carry_the_counts_and_state_from_just_before_the_change() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let sub = brama.subscribe(Filter::new());
    brama.register("db", Options::new()).unwrap();
    brama.success("db").unwrap();
    brama.success("db").unwrap();
    brama.failure("db").unwrap();
    brama.failure("db").unwrap(); // trips
    assert!(!brama.available("db")); // rejected: total_rejected 1
    brama.unregister("db").unwrap();

    let events = drain(&sub);
    let by_shape = |s: (EventType, Option<Cause>), nth: usize| -> &Event {
        events
            .iter()
            .filter(|e| shape(e) == s)
            .nth(nth)
            .unwrap_or_else(|| panic!("no {s:?} #{nth} in {events:?}"))
    };
    let counts = |c: u32, s: u64, f: u64, r: u64, t: u64| {
        // `Counts` is `#[non_exhaustive]`: filled field by field.
        let mut counts = Counts::default();
        counts.consecutive_failures = c;
        counts.total_successes = s;
        counts.total_failures = f;
        counts.total_rejected = r;
        counts.trips = t;
        counts
    };

    let registered = by_shape(plain(EventType::Registered), 0);
    assert_eq!(
        (registered.counts, registered.state),
        (Counts::default(), State::Unknown)
    );
    let first_success = by_shape(plain(EventType::Success), 0);
    assert_eq!(
        (first_success.counts, first_success.state),
        (counts(0, 0, 0, 0, 0), State::Unknown)
    );
    // The state change the first success caused: the success itself is already counted.
    let report = by_shape(changed(Cause::Report), 0);
    assert_eq!(
        (report.counts, report.state),
        (counts(0, 1, 0, 0, 0), State::Unknown)
    );
    let second_success = by_shape(plain(EventType::Success), 1);
    assert_eq!(second_success.counts, counts(0, 1, 0, 0, 0));
    assert_eq!(second_success.state, State::Closed);
    let first_failure = by_shape(plain(EventType::Failure), 0);
    assert_eq!(first_failure.counts, counts(0, 2, 0, 0, 0));
    let second_failure = by_shape(plain(EventType::Failure), 1);
    assert_eq!(second_failure.counts, counts(1, 2, 1, 0, 0));
    // The trip: the tripping failure is counted, the trip itself not yet.
    let trip = by_shape(changed(Cause::Threshold), 0);
    assert_eq!(
        (trip.counts, trip.state),
        (counts(2, 2, 2, 0, 0), State::Closed)
    );
    // Removal: the final counts.
    let gone = by_shape(plain(EventType::Unregistered), 0);
    assert_eq!(
        (gone.counts, gone.state),
        (counts(2, 2, 2, 1, 1), State::Open)
    );
}

#[test]
fn events_carry_the_wall_clock_time_of_the_change() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let sub = brama.subscribe(Filter::new().event_type(EventType::Failure));
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    clock.advance(Duration::from_secs(90));
    brama.failure("db").unwrap();
    let events = drain(&sub);
    assert_eq!(events.len(), 2);
    let elapsed = events[1].at.duration_since(events[0].at).unwrap();
    assert_eq!(elapsed, Duration::from_secs(90));
    let status = brama.status("db").unwrap();
    assert_eq!(status.last_failure_at, Some(events[1].at));
}

#[test]
fn failure_reasons_travel_in_failure_and_state_changed_events() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let sub =
        brama.subscribe(Filter::new().event_types([EventType::Failure, EventType::StateChanged]));
    brama.register("db", Options::new()).unwrap();
    brama.failure_with("db", "connect refused").unwrap(); // Unknown -> Closed
    brama.failure_with("db", "timeout").unwrap(); // trips
    clock.advance(EXPIRY);
    let conn = brama.connection("db").unwrap();
    let permit = conn.acquire().unwrap(); // expiry; the probe
    permit.failure_with("still down").unwrap(); // probe failure
    brama.close_circuit("db").unwrap();
    brama.failure("db").unwrap(); // no reason
    brama
        .open_circuit("db", OpenOptions::new().reason("maintenance"))
        .unwrap();
    brama.close_circuit("db").unwrap();
    conn.failure_with("via handle").unwrap();

    // (type, cause, reason in the kind, reason on the event): each reason is stored
    // once, a Failure's in its kind, a StateChanged's on the event; `reason_text`
    // reads whichever holds it.
    type Seen = (EventType, Option<Cause>, Option<String>, Option<String>);
    let got: Vec<Seen> = drain(&sub)
        .into_iter()
        .map(|e| {
            let in_kind = match &e.kind {
                EventKind::Failure { reason } => reason.clone(),
                _ => None,
            };
            assert_eq!(
                e.reason_text(),
                in_kind.as_deref().or(e.reason.as_deref()),
                "{e:?}"
            );
            let (t, c) = shape(&e);
            (t, c, in_kind, e.reason)
        })
        .collect();
    let s = |x: &str| Some(x.to_owned());
    use EventType::{Failure, StateChanged};
    assert_eq!(
        got,
        [
            (Failure, None, s("connect refused"), None),
            (
                StateChanged,
                Some(Cause::Report),
                None,
                s("connect refused")
            ),
            (Failure, None, s("timeout"), None),
            (StateChanged, Some(Cause::Threshold), None, s("timeout")),
            (StateChanged, Some(Cause::Expiry), None, None),
            (Failure, None, s("still down"), None),
            (
                StateChanged,
                Some(Cause::ProbeFailure),
                None,
                s("still down")
            ),
            (StateChanged, Some(Cause::ManualClose), None, None),
            (Failure, None, None, None),
            (
                StateChanged,
                Some(Cause::ManualOpen),
                None,
                s("maintenance")
            ),
            (StateChanged, Some(Cause::ManualClose), None, None),
            (Failure, None, s("via handle"), None),
        ]
    );
}
