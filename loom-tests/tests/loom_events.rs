//! The bus's quiet stamp: a handle success on a healthy circuit skips its report only
//! while the stamp holds a clock reading, and a `Success` subscription must put it out
//! of reach at once, whatever clock refresh races the subscribe
//! (`EventBus::publish_quiet`'s SeqCst re-check). And `recv_async`: a receive racing
//! a publish either takes the event or is woken.
#![cfg(brama_loom)]

mod support;

use std::future::Future;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::SystemTime;

use brama_core::engine::clock::NOT_A_READING;
use brama_core::engine::EventBus;
use brama_core::{Counts, Event, EventKind, EventType, Filter, Key, State};
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// A clock reading the refresh publishes.
const NOW: u64 = 5;

/// A subscribe to `Success` racing a refresh: once the subscribe has returned, the
/// subscriber (and, after the join, everyone) reads `NOT_A_READING`, so no handle
/// success can skip the event it now wants.
#[test]
fn a_success_subscription_is_never_outrun_by_a_refresh() {
    support::check("events/subscribe vs refresh", || {
        let bus = Arc::new(EventBus::new(4));
        bus.publish_quiet(NOW - 1);
        let refresher = {
            let bus = Arc::clone(&bus);
            thread::spawn(move || bus.publish_quiet(NOW))
        };
        let sub = bus.subscribe(Filter::new().event_type(EventType::Success));
        assert_eq!(bus.quiet(), NOT_A_READING, "outrun after the subscribe");
        refresher.join().unwrap();
        assert_eq!(bus.quiet(), NOT_A_READING, "outrun after the join");
        drop(sub);
        bus.publish_quiet(NOW + 1);
        assert_eq!(
            bus.quiet(),
            NOW + 1,
            "quiet again once nobody wants Success"
        );
    });
}

/// A subscription to other events leaves the stamp to the refresh.
#[test]
fn other_subscriptions_leave_the_stamp_to_the_refresh() {
    support::check("events/other subscription vs refresh", || {
        let bus = Arc::new(EventBus::new(4));
        let refresher = {
            let bus = Arc::clone(&bus);
            thread::spawn(move || bus.publish_quiet(NOW))
        };
        let _sub = bus.subscribe(Filter::new().event_type(EventType::StateChanged));
        refresher.join().unwrap();
        assert_eq!(bus.quiet(), NOW);
    });
}

/// The refresh deciding from the mask under the lock but storing after releasing it:
/// the subscribe can store its mask and `NOT_A_READING` in between, and the refresh's
/// reading lands last.
#[test]
#[should_panic(expected = "outrun")]
fn broken_refresh_storing_outside_the_lock_is_caught() {
    struct MiniBus {
        wants: Mutex<u32>,
        quiet: AtomicU64,
    }
    const SUCCESS: u32 = 1;
    support::check("events/broken twin", || {
        let bus = Arc::new(MiniBus {
            wants: Mutex::new(0),
            quiet: AtomicU64::new(NOT_A_READING),
        });
        let refresher = {
            let bus = Arc::clone(&bus);
            thread::spawn(move || {
                let wants = *bus.wants.lock().unwrap();
                let quiet = if wants & SUCCESS != 0 {
                    NOT_A_READING
                } else {
                    NOW
                };
                // BROKEN: stored after the lock is released.
                bus.quiet.store(quiet, Ordering::Relaxed);
            })
        };
        {
            let mut wants = bus.wants.lock().unwrap();
            *wants |= SUCCESS;
            bus.quiet.store(NOT_A_READING, Ordering::Relaxed);
        }
        let seen = bus.quiet.load(Ordering::Relaxed);
        refresher.join().unwrap();
        assert_eq!(seen, NOT_A_READING, "outrun after the subscribe");
        assert_eq!(
            bus.quiet.load(Ordering::Relaxed),
            NOT_A_READING,
            "outrun after the join"
        );
    });
}

/// A waker that records that it was woken (a loom atomic, so the model sees it).
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn failure_event(seq: u64) -> Event {
    let key = Key::new("db").to_owned_key().unwrap();
    Event::new(
        seq,
        EventKind::Failure { reason: None },
        SystemTime::UNIX_EPOCH,
        Some(key),
        State::Closed,
        Counts::default(),
    )
}

/// `recv_async` racing a publish: either the poll takes the event, or it registers its
/// waker before the publisher looks for wakers, so the publisher wakes it. A receiver
/// is never left asleep with an event queued.
#[test]
fn an_async_receive_racing_a_publish_is_never_left_asleep() {
    support::check("events/recv_async vs publish", || {
        let bus = Arc::new(EventBus::new(4));
        let sub = bus.subscribe(Filter::new().event_type(EventType::Failure));
        let publisher = {
            let bus = Arc::clone(&bus);
            thread::spawn(move || {
                bus.publish(EventType::Failure, failure_event);
            })
        };
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(std::sync::Arc::clone(&flag));
        let mut cx = TaskContext::from_waker(&waker);
        let mut recv = pin!(sub.recv_async());
        let got = recv.as_mut().poll(&mut cx);
        publisher.join().unwrap();
        match got {
            Poll::Ready(Some(e)) => assert_eq!(e.seq, 1),
            Poll::Ready(None) => panic!("the bus is live"),
            Poll::Pending => {
                assert!(flag.0.load(Ordering::SeqCst), "asleep: never woken");
                assert!(matches!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(_))));
            }
        }
    });
}

/// The receive checking the queue and registering its waker under two separate locks:
/// a publish can fall in between, find no waker, and the receiver sleeps with an event
/// queued.
#[test]
#[should_panic(expected = "asleep")]
fn broken_receive_registering_after_the_check_is_caught() {
    struct MiniQueue {
        events: Mutex<Vec<u64>>,
        waiting: Mutex<bool>,
        woken: AtomicBool,
    }
    support::check("events/broken receive twin", || {
        let q = Arc::new(MiniQueue {
            events: Mutex::new(Vec::new()),
            waiting: Mutex::new(false),
            woken: AtomicBool::new(false),
        });
        let publisher = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                q.events.lock().unwrap().push(1);
                if std::mem::take(&mut *q.waiting.lock().unwrap()) {
                    q.woken.store(true, Ordering::SeqCst);
                }
            })
        };
        let got = q.events.lock().unwrap().pop();
        if got.is_none() {
            // BROKEN: registered under another lock than the check.
            *q.waiting.lock().unwrap() = true;
        }
        publisher.join().unwrap();
        assert!(got.is_some() || q.woken.load(Ordering::SeqCst), "asleep");
    });
}

/// Two publishers racing with no shared lock (issue #20, defect 5), while a second
/// subscription comes and goes: the numbers are 1 and 2, each event reaches the
/// subscriber exactly once, and once both publishes returned the queue holds them in
/// sequence order, whichever pushed first.
#[test]
fn racing_publishers_number_gap_free_and_deliver_each_event_once_in_order() {
    support::check("events/two publishers", || {
        let bus = Arc::new(EventBus::new(4));
        let sub = bus.subscribe(Filter::new().event_type(EventType::Failure));
        let publishers: Vec<_> = (0..2)
            .map(|_| {
                let bus = Arc::clone(&bus);
                thread::spawn(move || bus.publish(EventType::Failure, failure_event).unwrap())
            })
            .collect();
        let other = bus.subscribe(Filter::new().event_type(EventType::Failure));
        drop(other);
        let mut numbers: Vec<u64> = publishers.into_iter().map(|p| p.join().unwrap()).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, [1, 2]);
        let got: Vec<u64> = sub.try_iter().map(|e| e.seq).collect();
        assert_eq!(got, [1, 2], "each once, in sequence order");
        assert_eq!(bus.last_seq(), 2);
    });
}

/// The twin: numbering with a load and a store instead of one read-modify-write. Two
/// publishers can read the same last number and both use the next: a duplicate.
#[test]
#[should_panic(expected = "duplicate")]
fn broken_numbering_with_load_and_store_is_caught() {
    support::check("events/broken numbering twin", || {
        let last = Arc::new(AtomicU64::new(0));
        let take = |last: &AtomicU64| {
            // BROKEN: not one read-modify-write.
            let n = last.load(Ordering::SeqCst) + 1;
            last.store(n, Ordering::SeqCst);
            n
        };
        let other = {
            let last = Arc::clone(&last);
            thread::spawn(move || take(&last))
        };
        let mine = take(&last);
        let theirs = other.join().unwrap();
        assert_ne!(mine, theirs, "duplicate");
    });
}
