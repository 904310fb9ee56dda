//! Filters, a full queue, `Success`/`Failure` only when wanted, dropped subscriptions.

use brama_sync::{Brama, EventType, Filter, Key, ManualClock, Options, Subscription};

use crate::support::{brama, drain, HOUR};

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
