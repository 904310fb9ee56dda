//! SPEC §5: events, their sequence numbers, counts and filters, and subscriptions.
//!
//! Every registry here runs on a `ManualClock` with a one-hour janitor interval, so the
//! janitor never sweeps (and never emits `Swept`) during a test: the only events are
//! the ones the test causes.

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use brama_sync::{
    Brama, Cause, Counts, Event, EventKind, EventType, Filter, Key, ManualClock, OpenOptions,
    Options, State, Subscription,
};

const HOUR: Duration = Duration::from_secs(3600);
const EXPIRY: Duration = Duration::from_secs(10);
const WAIT: Duration = Duration::from_secs(5);

fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(2)
        .expiry(EXPIRY)
        .probe_timeout(Duration::from_secs(5))
        .cleanup_interval(HOUR)
        .inactive_threshold(HOUR)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Everything queued now.
fn drain(sub: &Subscription) -> Vec<Event> {
    sub.try_iter().collect()
}

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

fn assert_gap_free(events: &[Event], first: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, first + i as u64, "gap or reordering at {i}: {e:?}");
    }
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
fn seqs_stay_gap_free_and_ordered_under_concurrent_reporters() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 300;
    let brama = Brama::builder()
        .failure_threshold(2)
        .cleanup_interval(HOUR)
        .event_queue_capacity(1 << 16)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new());
    brama.register("shared", Options::new()).unwrap();
    thread::scope(|s| {
        for t in 0..THREADS {
            let brama = &brama;
            s.spawn(move || {
                let own = format!("own-{t}");
                brama.register(own.as_str(), Options::new()).unwrap();
                for i in 0..ROUNDS {
                    if i % 3 == 0 {
                        brama.success("shared").unwrap();
                    } else {
                        brama.failure_with("shared", "boom").unwrap();
                    }
                    if i % 7 == 0 {
                        brama.close_circuit("shared").unwrap();
                    }
                    brama.failure(own.as_str()).unwrap();
                    brama.success(own.as_str()).unwrap();
                }
            });
        }
    });
    let events = drain(&sub);
    assert_eq!(sub.dropped(), 0);
    assert_gap_free(&events, 1);

    // Per connection: each report's event shows exactly the reports before it, and each
    // state change starts where the previous one ended.
    let mut successes: HashMap<String, u64> = HashMap::new();
    let mut failures: HashMap<String, u64> = HashMap::new();
    let mut state: HashMap<String, State> = HashMap::new();
    for e in &events {
        let id = e.identifier().to_owned();
        match e.kind {
            EventKind::Registered => {
                assert!(state.insert(id, State::Unknown).is_none());
            }
            EventKind::Success => {
                let n = successes.entry(id).or_default();
                assert_eq!(e.counts.total_successes, *n, "{e:?}");
                *n += 1;
            }
            EventKind::Failure { .. } => {
                let n = failures.entry(id).or_default();
                assert_eq!(e.counts.total_failures, *n, "{e:?}");
                *n += 1;
            }
            EventKind::StateChanged { from, to, .. } => {
                let s = state
                    .get_mut(&id)
                    .expect("a state change before Registered");
                assert_eq!(*s, from, "{e:?}");
                assert_eq!(e.state, from, "{e:?}");
                *s = to;
            }
            ref other => panic!("unexpected {other:?}"),
        }
    }
    let shared = brama.status("shared").unwrap();
    assert_eq!(successes["shared"], shared.total_successes);
    assert_eq!(failures["shared"], shared.total_failures);
    assert_eq!(state["shared"], shared.state);
    assert_eq!(
        shared.total_successes + shared.total_failures,
        (THREADS * ROUNDS) as u64
    );
}

#[test]
fn filters_select_by_type_identifier_and_scope() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let all = brama.subscribe(Filter::new());
    let failures = brama.subscribe(Filter::new().event_type(EventType::Failure));
    let two_types =
        brama.subscribe(Filter::new().event_types([EventType::Registered, EventType::Swept]));
    let stripe = brama.subscribe(Filter::new().identifier("stripe"));
    let payments = brama.subscribe(Filter::new().scope("payments"));
    let payments_stripe_changes = brama.subscribe(
        Filter::new()
            .event_types([EventType::StateChanged])
            .scope("payments")
            .identifier("stripe"),
    );

    let keys = [
        Key::scoped("payments", "stripe"),
        Key::scoped("payments", "adyen"),
        Key::new("stripe"),
        Key::new("payments:stripe"),
    ];
    for k in keys {
        brama.register(k, Options::new()).unwrap();
        brama.failure(k).unwrap();
        brama.failure(k).unwrap(); // trips
    }
    brama.sweep();

    let ids = |sub: &Subscription| -> Vec<(EventType, String, Option<String>)> {
        drain(sub)
            .iter()
            .map(|e| {
                (
                    e.event_type(),
                    e.identifier().to_owned(),
                    e.scope().map(str::to_owned),
                )
            })
            .collect()
    };
    let everything = ids(&all);
    // Per key: Registered, Failure, StateChanged(report), Failure, StateChanged(trip); then Swept.
    assert_eq!(everything.len(), keys.len() * 5 + 1);

    let f = ids(&failures);
    assert_eq!(f.len(), 8);
    assert!(f.iter().all(|(t, ..)| *t == EventType::Failure));

    let t = ids(&two_types);
    assert_eq!(t.len(), 5);
    assert!(t[..4].iter().all(|(t, ..)| *t == EventType::Registered));
    assert_eq!(t[4].0, EventType::Swept);

    // Identifier: "stripe" in any scope or none, never "payments:stripe"; never Swept.
    let s = ids(&stripe);
    assert_eq!(s.len(), 10);
    assert!(s.iter().all(|(_, id, _)| id == "stripe"));
    assert!(s.iter().any(|(_, _, scope)| scope.is_none()));
    assert!(s
        .iter()
        .any(|(_, _, scope)| scope.as_deref() == Some("payments")));

    // Scope: only keys in "payments"; unscoped "payments:stripe" is not.
    let p = ids(&payments);
    assert_eq!(p.len(), 10);
    assert!(p
        .iter()
        .all(|(_, _, scope)| scope.as_deref() == Some("payments")));

    let both = ids(&payments_stripe_changes);
    assert_eq!(
        both,
        vec![
            (
                EventType::StateChanged,
                "stripe".to_owned(),
                Some("payments".to_owned())
            );
            2
        ]
    );
}

#[test]
fn a_full_queue_drops_the_newest_events_and_counts_them() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .event_queue_capacity(3)
        .cleanup_interval(HOUR)
        .clock(clock.clone())
        .build()
        .unwrap();
    let slow = brama.subscribe(Filter::new().event_type(EventType::Success));
    let other = brama.subscribe(Filter::new().event_type(EventType::Registered));
    assert_eq!(slow.capacity(), 3);
    brama.register("db", Options::new()).unwrap();
    // The reporting thread never blocks on the full queue.
    for _ in 0..1000 {
        brama.success("db").unwrap();
    }
    assert_eq!(slow.dropped(), 997);
    let kept: Vec<u64> = drain(&slow).iter().map(|e| e.seq).collect();
    assert_eq!(
        kept,
        [2, 3, 4],
        "the oldest stay queued, the newest are dropped"
    );
    assert_eq!(brama.status("db").unwrap().total_successes, 1000);
    // Another subscriber is unaffected.
    assert_eq!(other.dropped(), 0);
    assert_eq!(drain(&other).len(), 1);
    // Room again: new events are queued, the count stays.
    brama.success("db").unwrap();
    assert_eq!(
        drain(&slow).iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1002]
    );
    assert_eq!(slow.dropped(), 997);
}

#[test]
fn reports_emit_success_and_failure_only_when_someone_subscribes() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let changes = brama.subscribe(Filter::new().event_type(EventType::StateChanged));
    assert!(!brama.is_subscribed(EventType::Success) && !brama.is_subscribed(EventType::Failure));
    brama.register("db", Options::new()).unwrap();
    for _ in 0..10 {
        brama.success("db").unwrap();
        brama.failure("db").unwrap();
    }
    // No Success/Failure event took a sequence number: the only events are the changes.
    brama.failure("db").unwrap(); // trips
    let seqs: Vec<u64> = drain(&changes).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(brama.last_event_seq(), 2);

    let reports =
        brama.subscribe(Filter::new().event_types([EventType::Success, EventType::Failure]));
    assert!(brama.is_subscribed(EventType::Success) && brama.is_subscribed(EventType::Failure));
    brama.close_circuit("db").unwrap(); // seq 3
    brama.success("db").unwrap(); // seq 4
    brama.failure("db").unwrap(); // seq 5
    let got: Vec<(u64, EventType)> = drain(&reports)
        .iter()
        .map(|e| (e.seq, e.event_type()))
        .collect();
    assert_eq!(got, [(4, EventType::Success), (5, EventType::Failure)]);
    drop(reports);
    assert!(!brama.is_subscribed(EventType::Success) && !brama.is_subscribed(EventType::Failure));
    brama.success("db").unwrap();
    assert_eq!(brama.last_event_seq(), 5);
}

#[test]
fn dropping_a_subscription_unsubscribes() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let keep = brama.subscribe(Filter::new().event_type(EventType::Registered));
    let gone = brama.subscribe(Filter::new());
    assert_eq!(brama.subscriber_count(), 2);
    brama.register("a", Options::new()).unwrap(); // seq 1
    brama.success("a").unwrap(); // Success 2, StateChanged 3
    drop(gone);
    assert_eq!(brama.subscriber_count(), 1);
    for t in [
        EventType::Success,
        EventType::StateChanged,
        EventType::Swept,
    ] {
        assert!(!brama.is_subscribed(t), "{t:?} still wanted");
    }
    brama.success("a").unwrap();
    brama.sweep();
    brama.register("b", Options::new()).unwrap();
    // Nothing the dropped subscriber wanted took a number.
    let seqs: Vec<u64> = drain(&keep).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 4]);
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

#[test]
fn a_subscriber_that_calls_back_into_brama_does_not_deadlock() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let sub =
        brama.subscribe(Filter::new().event_types([EventType::Failure, EventType::StateChanged]));
    let listener = {
        let brama = brama.clone();
        thread::spawn(move || {
            let mut seen = 0;
            while seen < 200 {
                let Some(e) = sub.recv_timeout(WAIT) else {
                    break;
                };
                // Re-enter the registry while holding the event.
                let _ = brama.status(e.key().unwrap()).unwrap();
                let _ = brama.available("db");
                seen += 1;
            }
            seen
        })
    };
    for _ in 0..100 {
        brama.failure("db").unwrap();
        brama.open_circuit("db", OpenOptions::new()).unwrap();
        brama.close_circuit("db").unwrap();
    }
    assert!(listener.join().unwrap() >= 200);
}

#[test]
fn registered_comes_before_every_other_event_of_its_connection() {
    const KEYS: usize = 5000;
    const REPORTERS: usize = 3;
    let brama = Brama::builder()
        .cleanup_interval(HOUR)
        .event_queue_capacity(1 << 16)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new());
    let names: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    thread::scope(|s| {
        for r in 0..REPORTERS {
            let (brama, names) = (&brama, &names);
            // Reporters: hammer each key until its registration is visible.
            s.spawn(move || {
                for name in names.iter().skip(r).step_by(REPORTERS) {
                    while brama.failure(name.as_str()).is_err() {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        for name in &names {
            brama.register(name.as_str(), Options::new()).unwrap();
        }
    });
    let mut registered = std::collections::HashSet::new();
    for e in drain(&sub) {
        if e.event_type() == EventType::Registered {
            registered.insert(e.identifier().to_owned());
        } else {
            assert!(
                registered.contains(e.identifier()),
                "{:?} of {} came before its Registered event",
                e.kind,
                e.identifier()
            );
        }
    }
    assert_eq!(registered.len(), KEYS);
}
