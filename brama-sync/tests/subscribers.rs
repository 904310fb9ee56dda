//! Subscribers cannot hold reporters back (SPEC §5): a subscriber that never reads
//! loses the newest events, counted exactly, while reporters on every key finish with
//! exact totals; and a consumer that calls back into `Brama` while draining events
//! (gobreaker's callback-under-a-lock deadlock) cannot deadlock. Each scenario runs under
//! a watchdog that fails the test after 10 s instead of hanging.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use brama_sync::{Brama, Error, EventKind, EventType, Filter, Options};

mod watchdog;
use watchdog::with_watchdog;

/// Reports on `key` `n` times in a pattern that trips the circuit, lets it expire and
/// closes it again; returns (successes, failures) that returned `Ok`.
fn report_pattern(brama: &Brama, key: &str, n: usize) -> (u64, u64) {
    let (mut ok_s, mut ok_f) = (0, 0);
    for i in 0..n {
        let _ = brama.available(key);
        let r = if i % 5 < 3 {
            brama.failure(key).map(|()| ok_f += 1)
        } else {
            brama.success(key).map(|()| ok_s += 1)
        };
        match r {
            Ok(()) => {}
            Err(e) => panic!("{key}: {e:?}"),
        }
    }
    (ok_s, ok_f)
}

/// Subscribers with a queue of one event that never read: one for everything, one for
/// the hot key. Reporters on other keys (and on the hot key) all finish with exact
/// totals, and each slow subscriber holds the oldest event and counts every other one
/// as dropped.
#[test]
fn a_subscriber_that_never_reads_does_not_hold_reporters_back() {
    const THREADS: usize = 3;
    const REPORTS: usize = 4_000;
    with_watchdog("reporters with a stalled subscriber", || {
        let brama = Brama::builder()
            .failure_threshold(2)
            .expiry(Duration::from_micros(200))
            .event_queue_capacity(1)
            .build()
            .expect("valid");
        let stalled_all = brama.subscribe(Filter::new());
        let stalled_hot = brama.subscribe(Filter::new().identifier("hot"));
        // A reference count of the hot key's events, from a subscriber that keeps up.
        brama.set_event_queue_capacity(1 << 20).expect("in range");
        let counted_hot = brama.subscribe(Filter::new().identifier("hot"));
        let keys: Vec<String> = (0..THREADS)
            .map(|t| format!("k{t}"))
            .chain(["hot".to_owned()])
            .collect();
        for k in &keys {
            brama.register(k.as_str(), Options::new()).expect("fresh");
        }
        let barrier = Arc::new(Barrier::new(keys.len()));
        let reporters: Vec<_> = keys
            .iter()
            .cloned()
            .map(|k| {
                let (brama, barrier) = (brama.clone(), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    let n = if k == "hot" { REPORTS * 2 } else { REPORTS };
                    (k.clone(), report_pattern(&brama, &k, n))
                })
            })
            .collect();
        for r in reporters {
            let (k, (ok_s, ok_f)) = r.join().expect("reporter");
            let s = brama.status(k.as_str()).expect("registered");
            assert_eq!(
                (s.total_successes, s.total_failures),
                (ok_s, ok_f),
                "{k}: every report counted"
            );
            assert!(s.trips > 0, "{k}: the pattern trips the circuit");
        }
        let published = brama.last_event_seq();
        let hot_events = counted_hot.try_iter().count() as u64;
        assert_eq!(counted_hot.dropped(), 0);
        let held_all = stalled_all.try_iter().count() as u64;
        let held_hot = stalled_hot.try_iter().count() as u64;
        assert_eq!(held_all, 1, "a queue of one holds one event");
        assert_eq!(
            held_all + stalled_all.dropped(),
            published,
            "every event kept or counted"
        );
        assert_eq!(held_hot, 1);
        assert_eq!(held_hot + stalled_hot.dropped(), hot_events);
    });
}

/// A consumer drains every event and, for each one, calls back into the same `Brama`:
/// `status`, `available`, `connections`, `configure` on the event's key, a report on a
/// key of its own, and a subscription made and dropped. Reporters, a registration churn
/// and the janitor (every millisecond) run at the same time. Nothing deadlocks, and the
/// consumer's own reports are counted exactly.
#[test]
fn a_consumer_that_calls_back_into_brama_cannot_deadlock() {
    const REPORTS: usize = 2_000;
    with_watchdog("consumer calling back", || {
        let brama = Brama::builder()
            .failure_threshold(2)
            .expiry(Duration::from_micros(300))
            .cleanup_interval(Duration::from_millis(1))
            .event_queue_capacity(1 << 16)
            .build()
            .expect("valid");
        for k in ["k0", "k1", "cb"] {
            brama.register(k, Options::new()).expect("fresh");
        }
        // Every event but the janitor's `Swept`, which never pauses (so the consumer can
        // tell when it has drained everything else).
        let sub = brama.subscribe(
            Filter::new().event_types(
                EventType::ALL
                    .into_iter()
                    .filter(|t| *t != EventType::Swept),
            ),
        );
        // Set when the reporters are done: the last sequence number the consumer must
        // reach. (Its own callbacks keep the stream going: a check on a half-open circuit
        // takes a probe slot that times out into another event, which it answers...)
        let target = Arc::new(AtomicU64::new(u64::MAX));
        let callbacks = Arc::new(AtomicU64::new(0));
        let consumer = {
            let (brama, target, callbacks) =
                (brama.clone(), Arc::clone(&target), Arc::clone(&callbacks));
            thread::spawn(move || {
                let (mut ok_s, mut ok_f) = (0u64, 0u64);
                loop {
                    let Some(e) = sub.recv_timeout(Duration::from_millis(5)) else {
                        if target.load(Ordering::SeqCst) != u64::MAX {
                            break;
                        }
                        continue;
                    };
                    if e.seq >= target.load(Ordering::SeqCst) {
                        break;
                    }
                    // The consumer's own key and registry-wide events call back no
                    // further, so the feedback stays bounded.
                    let Some(key) = e.key() else { continue };
                    if key.identifier() == "cb" {
                        continue;
                    }
                    callbacks.fetch_add(1, Ordering::Relaxed);
                    match brama.status(key) {
                        Ok(_) | Err(Error::NotFound { .. }) => {}
                        Err(err) => panic!("{err:?}"),
                    }
                    let _ = brama.available(key);
                    if matches!(e.kind, EventKind::StateChanged { .. }) {
                        let _ = brama.connections();
                        match brama
                            .configure(key, Options::new().metadata("seen", e.seq.to_string()))
                        {
                            Ok(()) | Err(Error::NotFound { .. }) => {}
                            Err(err) => panic!("{err:?}"),
                        }
                        drop(brama.subscribe(Filter::new().event_type(EventType::Swept)));
                    }
                    if e.seq % 2 == 0 {
                        brama.success("cb").expect("registered");
                        ok_s += 1;
                    } else {
                        brama.failure("cb").expect("registered");
                        ok_f += 1;
                    }
                }
                (ok_s, ok_f, sub.dropped())
            })
        };
        let reporters: Vec<_> = ["k0", "k1"]
            .into_iter()
            .map(|k| {
                let brama = brama.clone();
                thread::spawn(move || report_pattern(&brama, k, REPORTS))
            })
            .collect();
        let churn = {
            let brama = brama.clone();
            thread::spawn(move || {
                for _ in 0..100 {
                    brama
                        .register("churn", Options::new())
                        .expect("unregistered");
                    brama.failure("churn").expect("registered");
                    brama.unregister("churn").expect("registered");
                }
            })
        };
        for r in reporters {
            r.join().expect("reporter");
        }
        churn.join().expect("churn");
        target.store(brama.last_event_seq(), Ordering::SeqCst);
        let (ok_s, ok_f, dropped) = consumer.join().expect("consumer");
        assert_eq!(dropped, 0, "the consumer kept up");
        assert!(callbacks.load(Ordering::Relaxed) > 0);
        let s = brama.status("cb").expect("registered");
        assert_eq!((s.total_successes, s.total_failures), (ok_s, ok_f));
    });
}
