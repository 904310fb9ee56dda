use super::bus::*;
use super::event::*;
use super::filter::*;
use super::subscription::*;
use crate::key::{Key, OwnedKey};
use crate::state::State;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, SystemTime};

fn key(id: &str) -> OwnedKey {
    Key::new(id).to_owned_key().unwrap()
}

fn scoped(scope: &str, id: &str) -> OwnedKey {
    Key::scoped(scope, id).to_owned_key().unwrap()
}

fn event(seq: u64, kind: EventKind, key: Option<OwnedKey>) -> Event {
    Event::new(
        seq,
        kind,
        SystemTime::UNIX_EPOCH,
        key,
        State::Closed,
        Counts::default(),
    )
}

fn failure() -> EventKind {
    EventKind::Failure { reason: None }
}

fn swept() -> EventKind {
    EventKind::Swept {
        examined: 3,
        evicted: 1,
    }
}

/// Publishes a `Success` for `k`, returning the sequence number if one was used.
fn publish_success(bus: &EventBus, k: &OwnedKey) -> Option<u64> {
    bus.publish(EventType::Success, |seq| {
        event(seq, EventKind::Success, Some(k.clone()))
    })
}

#[test]
fn event_accessors_report_key_parts() {
    let e = event(1, EventKind::Success, Some(scoped("payments", "stripe")));
    assert_eq!(e.identifier(), "stripe");
    assert_eq!(e.scope(), Some("payments"));
    assert_eq!(e.key(), Some(Key::scoped("payments", "stripe")));

    let u = event(2, failure(), Some(key("db")));
    assert_eq!((u.identifier(), u.scope()), ("db", None));
    assert_eq!(u.event_type(), EventType::Failure);

    let s = event(3, swept(), None);
    assert_eq!((s.identifier(), s.scope(), s.key()), ("", None, None));
    assert_eq!(s.event_type(), EventType::Swept);
}

#[test]
fn event_type_masks_are_distinct_bits() {
    let mut seen = 0;
    for t in EventType::ALL {
        assert_eq!(t.mask().count_ones(), 1);
        assert_eq!(seen & t.mask(), 0, "{t:?} shares a bit");
        seen |= t.mask();
    }
    assert_eq!(seen, ALL_TYPES_MASK);
}

#[test]
fn filter_matches_by_type_identifier_and_scope() {
    let stripe_in_payments = event(1, EventKind::Success, Some(scoped("payments", "stripe")));
    let stripe_unscoped = event(2, EventKind::Success, Some(key("stripe")));
    let adyen_in_payments = event(3, failure(), Some(scoped("payments", "adyen")));
    let payments_colon_stripe = event(4, EventKind::Success, Some(key("payments:stripe")));
    let sweep = event(5, swept(), None);
    let all = [
        &stripe_in_payments,
        &stripe_unscoped,
        &adyen_in_payments,
        &payments_colon_stripe,
        &sweep,
    ];
    let hits =
        |f: &Filter| -> Vec<u64> { all.iter().filter(|e| f.matches(e)).map(|e| e.seq).collect() };

    assert_eq!(hits(&Filter::new()), [1, 2, 3, 4, 5]);
    assert_eq!(
        hits(&Filter::new().event_type(EventType::Success)),
        [1, 2, 4]
    );
    assert_eq!(
        hits(&Filter::new().event_types([EventType::Failure, EventType::Swept])),
        [3, 5]
    );
    // event_type and event_types add to the set.
    assert_eq!(
        hits(
            &Filter::new()
                .event_type(EventType::Failure)
                .event_types([EventType::Swept])
        ),
        [3, 5]
    );
    // Identifier alone: that identifier in any scope, or none.
    assert_eq!(hits(&Filter::new().identifier("stripe")), [1, 2]);
    // Scope alone: only keys in that scope; unscoped "payments:stripe" is not.
    assert_eq!(hits(&Filter::new().scope("payments")), [1, 3]);
    assert_eq!(
        hits(&Filter::new().scope("payments").identifier("stripe")),
        [1]
    );
    assert_eq!(
        hits(
            &Filter::new()
                .scope("payments")
                .event_type(EventType::Failure)
        ),
        [3]
    );
    assert_eq!(
        hits(
            &Filter::new()
                .identifier("stripe")
                .event_type(EventType::Failure)
        ),
        [] as [u64; 0]
    );
    assert_eq!(hits(&Filter::new().scope("stripe")), [] as [u64; 0]);
    // A keyless Swept event never matches an identifier or scope filter.
    assert!(!Filter::new()
        .event_type(EventType::Swept)
        .identifier("")
        .matches(&sweep));
}

#[test]
fn a_fleet_link_event_is_keyless_and_filtered_by_type_only() {
    let e = event(1, EventKind::FleetLink { connected: false }, None);
    assert_eq!((e.identifier(), e.scope(), e.key()), ("", None, None));
    assert_eq!(e.event_type(), EventType::FleetLink);
    assert!(Filter::new().matches(&e));
    assert!(Filter::new().event_type(EventType::FleetLink).matches(&e));
    assert!(!Filter::new().event_type(EventType::Swept).matches(&e));
    assert!(!Filter::new()
        .event_type(EventType::FleetLink)
        .scope("payments")
        .matches(&e));
    assert!(!Filter::new().identifier("").matches(&e));
    // Published only to a subscriber that wants it.
    let bus = EventBus::new(4);
    let states = bus.subscribe(Filter::new().event_type(EventType::StateChanged));
    let links = bus.subscribe(Filter::new().event_type(EventType::FleetLink));
    assert!(bus.wants(EventType::FleetLink));
    let seq = bus.publish(EventType::FleetLink, |seq| {
        event(seq, EventKind::FleetLink { connected: true }, None)
    });
    assert_eq!(seq, Some(1));
    assert_eq!(
        links.try_recv().map(|e| e.kind),
        Some(EventKind::FleetLink { connected: true })
    );
    assert!(states.try_recv().is_none());
}

#[test]
fn wants_is_false_without_subscribers_and_publish_skips_build() {
    let bus = EventBus::new(4);
    for t in EventType::ALL {
        assert!(!bus.wants(t));
    }
    let mut called = false;
    let out = bus.publish(EventType::Success, |seq| {
        called = true;
        event(seq, EventKind::Success, Some(key("db")))
    });
    assert_eq!(out, None);
    assert!(!called, "build ran with nobody subscribed");
    assert_eq!(bus.last_seq(), 0);

    // A subscriber to another type does not make Success wanted either.
    let sub = bus.subscribe(Filter::new().event_type(EventType::Failure));
    assert!(bus.wants(EventType::Failure));
    assert!(!bus.wants(EventType::Success));
    assert_eq!(publish_success(&bus, &key("db")), None);
    assert_eq!(bus.last_seq(), 0);

    // The first sequence number actually used is 1.
    let published = bus.publish(EventType::Failure, |seq| {
        event(seq, failure(), Some(key("db")))
    });
    assert_eq!(published, Some(1));
    assert_eq!(sub.try_recv().map(|e| e.seq), Some(1));
}

#[test]
fn seqs_are_gap_free_and_arrive_in_order() {
    let bus = EventBus::new(64);
    let sub = bus.subscribe(Filter::new());
    let k = key("db");
    for expected in 1..=50 {
        assert_eq!(publish_success(&bus, &k), Some(expected));
    }
    assert_eq!(bus.last_seq(), 50);
    let seqs: Vec<u64> = sub.try_iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    assert_eq!(sub.dropped(), 0);
}

#[test]
fn full_queue_drops_newest_and_counts_exactly() {
    let bus = EventBus::new(2);
    let sub = bus.subscribe(Filter::new());
    assert_eq!(sub.capacity(), 2);
    let k = key("db");
    for _ in 0..5 {
        publish_success(&bus, &k);
    }
    assert_eq!(sub.dropped(), 3);
    let kept: Vec<u64> = sub.try_iter().map(|e| e.seq).collect();
    assert_eq!(kept, [1, 2], "the oldest stay queued");

    // Room again: the next event is queued, the count stays.
    assert_eq!(publish_success(&bus, &k), Some(6));
    assert_eq!(sub.try_recv().map(|e| e.seq), Some(6));
    assert_eq!(sub.dropped(), 3);
}

#[test]
fn a_full_subscriber_does_not_affect_another() {
    let bus = EventBus::new(1);
    let slow = bus.subscribe(Filter::new());
    bus.set_capacity(8);
    let fast = bus.subscribe(Filter::new());
    assert_eq!((slow.capacity(), fast.capacity()), (1, 8));
    let k = key("db");
    for _ in 0..4 {
        publish_success(&bus, &k);
    }
    assert_eq!(slow.dropped(), 3);
    assert_eq!(fast.dropped(), 0);
    assert_eq!(fast.try_iter().count(), 4);
    assert_eq!(slow.try_iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
}

#[test]
fn capacity_zero_is_taken_as_one() {
    let bus = EventBus::new(0);
    assert_eq!(bus.subscribe(Filter::new()).capacity(), 1);
    bus.set_capacity(0);
    let sub = bus.subscribe(Filter::new());
    assert_eq!(sub.capacity(), 1);
    publish_success(&bus, &key("db"));
    assert_eq!(sub.try_recv().map(|e| e.seq), Some(1));
}

#[test]
fn dropping_the_subscription_unsubscribes() {
    let bus = EventBus::new(4);
    let a = bus.subscribe(Filter::new().event_type(EventType::Success));
    let b = bus.subscribe(Filter::new().event_type(EventType::Failure));
    assert_eq!(bus.subscriber_count(), 2);
    assert!(bus.wants(EventType::Success) && bus.wants(EventType::Failure));

    drop(a);
    assert_eq!(bus.subscriber_count(), 1);
    assert!(!bus.wants(EventType::Success));
    assert!(bus.wants(EventType::Failure));

    drop(b);
    assert_eq!(bus.subscriber_count(), 0);
    for t in EventType::ALL {
        assert!(!bus.wants(t));
    }
    assert_eq!(publish_success(&bus, &key("db")), None);
    assert_eq!(bus.last_seq(), 0);
}

#[test]
fn a_subscriber_whose_filter_does_not_match_gets_nothing() {
    let bus = EventBus::new(16);
    let other_scope = bus.subscribe(Filter::new().scope("billing"));
    let other_type = bus.subscribe(Filter::new().event_type(EventType::Failure));
    let everything = bus.subscribe(Filter::new());
    let k = scoped("payments", "stripe");
    for _ in 0..3 {
        publish_success(&bus, &k);
    }
    assert!(other_scope.try_recv().is_none());
    assert!(other_type.try_recv().is_none());
    assert_eq!(other_scope.dropped() + other_type.dropped(), 0);
    assert_eq!(everything.try_iter().count(), 3);
}

#[test]
fn concurrent_publishers_deliver_gap_free_increasing_seqs() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 2_000;
    const TOTAL: usize = THREADS * PER_THREAD;

    let bus = EventBus::new(TOTAL);
    let sub = bus.subscribe(Filter::new());
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (bus, start) = (&bus, &start);
            s.spawn(move || {
                let k = key(&format!("t{t}"));
                start.wait();
                for _ in 0..PER_THREAD {
                    assert!(publish_success(bus, &k).is_some());
                }
            });
        }
    });

    assert_eq!(sub.dropped(), 0);
    let events: Vec<Event> = sub.try_iter().collect();
    assert_eq!(events.len(), TOTAL);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "gap or reordering at position {i}");
    }
    for t in 0..THREADS {
        let id = format!("t{t}");
        let n = events.iter().filter(|e| e.identifier() == id).count();
        assert_eq!(n, PER_THREAD, "events from {id}");
    }
    assert_eq!(bus.last_seq(), TOTAL as u64);
}

#[test]
fn recv_timeout_on_an_empty_queue_is_none() {
    let bus = EventBus::new(4);
    let sub = bus.subscribe(Filter::new());
    assert!(sub.recv_timeout(Duration::from_millis(10)).is_none());
    assert!(sub.try_recv().is_none());
    assert_eq!(sub.try_iter().count(), 0);
}

#[test]
fn subscriptions_drain_then_end_when_the_bus_is_gone() {
    let bus = EventBus::new(4);
    let clone = bus.clone();
    let sub = bus.subscribe(Filter::new());
    publish_success(&bus, &key("db"));
    drop(bus);
    // A clone keeps the bus open.
    assert_eq!(clone.subscriber_count(), 1);
    assert_eq!(publish_success(&clone, &key("db")), Some(2));
    drop(clone);
    assert_eq!(sub.recv().map(|e| e.seq), Some(1));
    assert_eq!(sub.recv().map(|e| e.seq), Some(2));
    assert!(sub.recv().is_none());
    assert!(sub.recv_timeout(Duration::from_secs(60)).is_none());
}

#[test]
fn subscription_is_send_and_moves_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Subscription>();
    fn assert_sync<T: Sync>() {}
    assert_send::<EventBus>();
    assert_sync::<EventBus>();

    let bus = EventBus::new(4);
    let sub = bus.subscribe(Filter::new());
    publish_success(&bus, &key("db"));
    let got = thread::spawn(move || sub.recv().map(|e| e.seq))
        .join()
        .unwrap();
    assert_eq!(got, Some(1));
    assert_eq!(bus.subscriber_count(), 0);
}

/// A task's waker that counts its wakes.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Relaxed: a test counter, read on this thread.
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Counting {
    fn woken(&self) -> usize {
        // Relaxed: as above.
        self.0.load(Ordering::Relaxed)
    }
}

fn waker() -> (Arc<Counting>, Waker) {
    let task = Arc::new(Counting::default());
    let waker = Waker::from(Arc::clone(&task));
    (task, waker)
}

/// `timeout(d, sub.recv_async())` once per request on a quiet subscription: each
/// future, polled once and dropped, takes its waker back out of the queue.
#[test]
fn dropped_receives_leave_no_waker_in_the_queue() {
    let bus = EventBus::new(4);
    let sub = bus.subscribe(Filter::new());
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (task, waker) = waker();
        let mut recv = pin!(sub.recv_async());
        assert!(recv
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        assert_eq!(sub.queue.wakers(), 1, "the waiting receive's waker");
        tasks.push(task);
    }
    assert_eq!(sub.queue.wakers(), 0);
    assert!(tasks.iter().all(|t| Arc::strong_count(t) == 1));
}

/// A receive polled again keeps one waker: the same one (nothing cloned), or the new
/// one when its task's waker changed (the old one released).
#[test]
fn a_receive_polled_again_keeps_one_waker_its_latest() {
    let bus = EventBus::new(4);
    let sub = bus.subscribe(Filter::new());
    let (first, w1) = waker();
    let (second, w2) = waker();
    let mut recv = pin!(sub.recv_async());
    for _ in 0..3 {
        assert!(recv
            .as_mut()
            .poll(&mut Context::from_waker(&w1))
            .is_pending());
    }
    assert_eq!(sub.queue.wakers(), 1);
    assert_eq!(
        Arc::strong_count(&first),
        4,
        "ours, w1, the queue's, the future's"
    );
    assert!(recv
        .as_mut()
        .poll(&mut Context::from_waker(&w2))
        .is_pending());
    assert_eq!(sub.queue.wakers(), 1);
    assert_eq!(Arc::strong_count(&first), 2, "ours and w1");
    publish_success(&bus, &key("db"));
    assert_eq!((first.woken(), second.woken()), (0, 1));
    assert!(matches!(
        recv.as_mut().poll(&mut Context::from_waker(&w2)),
        Poll::Ready(Some(_))
    ));
    assert_eq!(
        Arc::strong_count(&second),
        2,
        "ours and w2: the future let go"
    );
}

/// A receive whose waker the publisher took (it was woken) owns nothing in the queue
/// any more: dropping it does not take out the waker another receive of the same task
/// left since.
#[test]
fn a_woken_receive_dropped_takes_no_other_receives_waker() {
    let bus = EventBus::new(4);
    let sub = bus.subscribe(Filter::new());
    let (task, w) = waker();
    let mut cx = Context::from_waker(&w);
    let mut first = Box::pin(sub.recv_async());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    publish_success(&bus, &key("db"));
    assert_eq!(task.woken(), 1);
    assert!(sub.try_recv().is_some(), "taken by another receiver");
    let mut second = pin!(sub.recv_async());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    drop(first);
    assert_eq!(sub.queue.wakers(), 1, "the second receive's");
    publish_success(&bus, &key("db"));
    assert_eq!(task.woken(), 2, "the second receive was left asleep");
    assert!(matches!(
        second.as_mut().poll(&mut cx),
        Poll::Ready(Some(_))
    ));
}

/// Two receives of one task wait at once (a `select!`): dropping one leaves the
/// other's waker.
#[test]
fn two_receives_of_one_task_each_own_their_waker() {
    let bus = EventBus::new(4);
    let sub = bus.subscribe(Filter::new());
    let (task, w) = waker();
    let mut cx = Context::from_waker(&w);
    let mut a = Box::pin(sub.recv_async());
    let mut b = pin!(sub.recv_async());
    assert!(a.as_mut().poll(&mut cx).is_pending());
    assert!(b.as_mut().poll(&mut cx).is_pending());
    drop(a);
    assert_eq!(sub.queue.wakers(), 1);
    publish_success(&bus, &key("db"));
    assert_eq!(task.woken(), 1);
    assert!(matches!(b.as_mut().poll(&mut cx), Poll::Ready(Some(_))));
}

/// The journal's kept waker: kept once however often it polls, woken by the next
/// event, and never taken out by a receive future of the same waker being dropped.
#[test]
fn a_kept_waker_is_kept_once_and_outlives_receive_futures() {
    let bus = EventBus::new(4);
    let sub = bus.subscribe(Filter::new());
    let (task, w) = waker();
    for _ in 0..3 {
        assert!(sub.poll_recv_keeping(&w).is_pending());
    }
    assert_eq!(sub.queue.wakers(), 1);
    let mut recv = Box::pin(sub.recv_async());
    assert!(recv
        .as_mut()
        .poll(&mut Context::from_waker(&w))
        .is_pending());
    assert_eq!(sub.queue.wakers(), 2);
    drop(recv);
    assert_eq!(sub.queue.wakers(), 1, "the kept one");
    publish_success(&bus, &key("db"));
    assert_eq!(task.woken(), 1);
    assert_eq!(sub.queue.wakers(), 0);
    assert!(matches!(sub.poll_recv_keeping(&w), Poll::Ready(Some(_))));
    drop(bus);
    assert!(matches!(sub.poll_recv_keeping(&w), Poll::Ready(None)));
}
