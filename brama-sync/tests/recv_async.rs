//! SPEC §9: `Subscription::recv_async` on any executor: woken on publish, with no brama
//! lock held while the waker runs; `None` once the registry is gone; a dropped receive
//! loses nothing. Each scenario that could hang runs under the watchdog.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use brama_sync::{Brama, EventKind, EventType, Filter, Options, RecvFuture, State, Subscription};

mod watchdog;
use watchdog::with_watchdog;

#[path = "common/poll.rs"]
mod poll;

fn brama() -> Brama {
    let b = Brama::builder().failure_threshold(2).build().unwrap();
    b.register("db", Options::new()).unwrap();
    b
}

fn trip(b: &Brama) {
    b.failure("db").unwrap();
    b.failure("db").unwrap();
}

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn subscriptions_are_send_and_sync_and_their_receive_future_is_send() {
    send_sync::<Subscription>();
    send::<RecvFuture<'static>>();
}

#[test]
fn recv_async_wakes_a_task_on_tokio_multi_thread() {
    with_watchdog("tokio recv_async", || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let b = brama();
        let sub = b.subscribe(Filter::new().event_types([EventType::StateChanged]));
        let waiter = rt.spawn(async move {
            // Unknown -> Closed comes first, then Closed -> Open.
            let first = sub.recv_async().await;
            (first, sub.recv_async().await)
        });
        // Give the task time to park on the empty queue (not needed for correctness).
        thread::sleep(Duration::from_millis(20));
        trip(&b);
        let (first, e) = rt.block_on(waiter).unwrap();
        assert!(first.is_some());
        let e = e.expect("an event");
        assert!(matches!(
            e.kind,
            EventKind::StateChanged {
                to: State::Open,
                ..
            }
        ));
    });
}

#[test]
fn recv_async_on_the_futures_executor_with_a_publisher_thread() {
    with_watchdog("futures recv_async", || {
        let b = brama();
        let sub = b.subscribe(Filter::new().event_types([EventType::Failure]));
        let publisher = {
            let b = b.clone();
            thread::spawn(move || {
                for _ in 0..50 {
                    b.failure("db").unwrap();
                    thread::yield_now();
                }
            })
        };
        let seqs = futures::executor::block_on(async {
            let mut seqs = Vec::new();
            while seqs.len() < 50 {
                seqs.push(sub.recv_async().await.expect("the bus is live").seq);
            }
            seqs
        });
        publisher.join().unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in sequence order");
    });
}

#[test]
fn recv_async_ends_with_none_once_the_last_brama_is_dropped() {
    with_watchdog("recv_async close", || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let b = brama();
        let sub = b.subscribe(Filter::new().event_types([EventType::Failure]));
        b.failure("db").unwrap();
        let waiter = rt.spawn(async move {
            let mut n = 0;
            while sub.recv_async().await.is_some() {
                n += 1;
            }
            n
        });
        thread::sleep(Duration::from_millis(20));
        drop(b);
        assert_eq!(rt.block_on(waiter).unwrap(), 1, "drained, then None");
    });
}

#[test]
fn a_receive_dropped_before_it_resolved_loses_no_event() {
    let b = brama();
    let sub = b.subscribe(Filter::new().event_types([EventType::Failure]));
    let waker = poll::noop_waker();
    let mut cx = Context::from_waker(&waker);
    {
        let mut recv = pin!(sub.recv_async());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
    }
    b.failure("db").unwrap();
    let mut recv = pin!(sub.recv_async());
    assert!(matches!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(_))));
    assert!(sub.try_recv().is_none(), "delivered once");
}

/// A waker that calls back into brama (each call takes the bus's sequencer lock): if a
/// publisher woke it while holding that lock, the wake would deadlock.
struct CallsBack {
    brama: Brama,
    woken: AtomicUsize,
}

impl Wake for CallsBack {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.brama.last_event_seq();
        drop(self.brama.subscribe(Filter::new()));
        let _ = self.brama.failure("other");
        // Relaxed: a test counter, read after the publisher returned.
        self.woken.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn the_waker_runs_after_the_publisher_released_every_lock() {
    with_watchdog("waker calls back", || {
        let b = brama();
        b.register("other", Options::new()).unwrap();
        let sub = b.subscribe(Filter::new().identifier("db"));
        let calls_back = Arc::new(CallsBack {
            brama: b.clone(),
            woken: AtomicUsize::new(0),
        });
        let waker = Waker::from(Arc::clone(&calls_back));
        let mut cx = Context::from_waker(&waker);
        let mut recv = pin!(sub.recv_async());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        b.failure("db").unwrap(); // publishes, then wakes on this thread
                                  // Relaxed: as above.
        assert_eq!(calls_back.woken.load(Ordering::Relaxed), 1);
        assert!(matches!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(_))));
    });
}

/// Several tasks waiting on one subscription: every event is delivered once, and no
/// waiter is left asleep while events are queued.
#[test]
fn two_tasks_sharing_a_subscription_get_every_event_once() {
    with_watchdog("shared subscription", || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let b = brama();
        let sub = Arc::new(b.subscribe(Filter::new().event_types([EventType::Failure])));
        let got = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (sub, got) = (Arc::clone(&sub), Arc::clone(&got));
                rt.spawn(async move {
                    while sub.recv_async().await.is_some() {
                        // Relaxed: a test counter.
                        got.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for _ in 0..200 {
            b.failure("db").unwrap();
        }
        // Relaxed: polled until the tasks have taken everything.
        while got.load(Ordering::Relaxed) < 200 {
            thread::sleep(Duration::from_millis(1));
        }
        drop(b);
        for t in tasks {
            rt.block_on(t).unwrap();
        }
        assert_eq!(got.load(Ordering::Relaxed), 200);
    });
}

/// A waker that runs, inside `wake()`, the calls that take the sweep list's turn or a
/// shard lock: `health`, `connections`, `sweep`, and reports by key.
struct CallsBackEverywhere {
    brama: Brama,
    woken: AtomicUsize,
}

impl Wake for CallsBackEverywhere {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.brama.health();
        let _ = self.brama.connections();
        let _ = self.brama.sweep();
        let _ = self.brama.failure("other");
        let _ = self.brama.available("db");
        // Relaxed: a test counter, read after the publisher returned.
        self.woken.fetch_add(1, Ordering::Relaxed);
    }
}

/// Events a sweep publishes (an eviction, under a shard's write lock and the sweep's
/// turn) and an `unregister`'s (under the shard's write lock) wake async receivers only
/// after those are released: a waker that calls back into brama inline does not
/// deadlock. (Before, the sweep woke them inside its walk.)
#[test]
fn wakers_woken_by_a_sweep_or_an_unregister_run_with_no_registry_lock_held() {
    with_watchdog("waker calls back from a sweep", || {
        let clock = brama_sync::ManualClock::new();
        let b = Brama::builder()
            .inactive_threshold(std::time::Duration::from_secs(60))
            .cleanup_interval(std::time::Duration::from_secs(3600))
            .clock(clock.clone())
            .build()
            .unwrap();
        for key in ["db", "other", "gone"] {
            b.register(key, Options::new()).unwrap();
        }
        let sub =
            b.subscribe(Filter::new().event_types([EventType::Evicted, EventType::Unregistered]));
        let calls_back = Arc::new(CallsBackEverywhere {
            brama: b.clone(),
            woken: AtomicUsize::new(0),
        });
        let waker = Waker::from(Arc::clone(&calls_back));
        let mut cx = Context::from_waker(&waker);

        let mut recv = pin!(sub.recv_async());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        b.unregister("gone").unwrap(); // wakes on this thread, after the shard lock
        assert_eq!(calls_back.woken.load(Ordering::Relaxed), 1);
        assert!(matches!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(_))));

        let mut recv = pin!(sub.recv_async());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        clock.advance(std::time::Duration::from_secs(120));
        assert!(b.sweep().evicted >= 1); // evicts "db" (idle); wakes after the walk
        assert!(calls_back.woken.load(Ordering::Relaxed) >= 2);
        assert!(matches!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(_))));
    });
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

/// A receive per request under a timeout, on a quiet subscription: each future is
/// polled once (pending) by its own task, then dropped. Dropping it takes its waker
/// back out of the queue: no task's waker is left behind (each `Arc` is ours alone
/// again), and the next event wakes none of the finished tasks. Before, every dropped
/// future left its waker until the next event: memory grew with each request.
#[test]
fn receives_dropped_before_an_event_leave_no_waker_behind() {
    let b = brama();
    let sub = b.subscribe(Filter::new().event_types([EventType::Failure]));
    let tasks: Vec<Arc<Counting>> = (0..1000).map(|_| Arc::default()).collect();
    for task in &tasks {
        let waker = Waker::from(Arc::clone(task));
        let mut recv = pin!(sub.recv_async());
        assert!(recv
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        // Polled again by the same task: nothing more is kept.
        assert!(recv
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    let left = tasks.iter().filter(|t| Arc::strong_count(t) > 1).count();
    assert_eq!(
        left, 0,
        "wakers of dropped receives still held by the queue"
    );

    // A receive still waiting is woken as before.
    let waiting = Arc::new(Counting::default());
    let waker = Waker::from(Arc::clone(&waiting));
    let mut cx = Context::from_waker(&waker);
    let mut recv = pin!(sub.recv_async());
    assert!(recv.as_mut().poll(&mut cx).is_pending());
    b.failure("db").unwrap();
    // Relaxed: test counters; the wakes ran on this thread, inside `failure`.
    assert_eq!(waiting.0.load(Ordering::Relaxed), 1);
    let woken = tasks
        .iter()
        .map(|t| t.0.load(Ordering::Relaxed))
        .sum::<usize>();
    assert_eq!(woken, 0, "finished tasks woken");
    assert!(matches!(recv.as_mut().poll(&mut cx), Poll::Ready(Some(_))));
    // Resolved: neither the queue nor the future holds its waker.
    drop(waker);
    assert_eq!(Arc::strong_count(&waiting), 1);
}
