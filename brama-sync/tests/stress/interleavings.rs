//! Exact interleavings, forced with a clock that stops one thread at chosen readings.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use brama_sync::{Brama, Error, EventType, Filter, Options, State};

use crate::support::{assert_gap_free, check_lifecycles, collect, KEYS};

/// A manual clock whose readings on one chosen thread stop, at chosen call numbers,
/// until the test releases them. Every clock reading inside brama is a point where the
/// test can freeze that thread, so a race that stress finds rarely can be replayed
/// exactly.
#[derive(Clone, Default)]
struct GateClock(Arc<GateInner>);

#[derive(Default)]
struct GateInner {
    now: std::sync::atomic::AtomicU64,
    gate: Mutex<Gate>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct Gate {
    thread: Option<thread::ThreadId>,
    calls: u32,
    stops: Vec<u32>,
    stopped_at: Option<u32>,
    released: u32,
}

impl brama_sync::Clock for GateClock {
    fn now(&self) -> Duration {
        let mut g = self.0.gate.lock().unwrap();
        if g.thread == Some(thread::current().id()) {
            g.calls += 1;
            let n = g.calls;
            if g.stops.contains(&n) {
                g.stopped_at = Some(n);
                self.0.changed.notify_all();
                while g.released < n {
                    g = self.0.changed.wait(g).unwrap();
                }
                g.stopped_at = None;
            }
        }
        Duration::from_nanos(self.0.now.load(Ordering::SeqCst))
    }
}

impl GateClock {
    fn advance(&self, d: Duration) {
        self.0
            .now
            .fetch_add(u64::try_from(d.as_nanos()).unwrap(), Ordering::SeqCst);
    }

    /// From now on, the calling thread's clock readings number `stops` stop.
    fn trap_this_thread(&self, stops: &[u32]) {
        let mut g = self.0.gate.lock().unwrap();
        *g = Gate {
            thread: Some(thread::current().id()),
            stops: stops.to_vec(),
            ..Gate::default()
        };
    }

    /// Waits until the trapped thread stops at reading `n` (false after `limit`).
    fn await_stop(&self, n: u32, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut g = self.0.gate.lock().unwrap();
        while g.stopped_at != Some(n) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self.0.changed.wait_timeout(g, left).unwrap().0;
        }
        true
    }

    /// Lets the trapped thread go on past reading `n`.
    fn release(&self, n: u32) {
        self.0.gate.lock().unwrap().released = n;
        self.0.changed.notify_all();
    }
}

fn gated_brama(clock: &GateClock) -> Brama {
    Brama::builder()
        .failure_threshold(1)
        .expiry(Duration::from_millis(10))
        .cleanup_interval(Duration::from_secs(3600))
        .clock(brama_sync::ClockSource::custom(clock.clone()))
        .build()
        .expect("valid")
}

/// Runs `f` on a new thread and waits up to `limit` for it; returns its handle and
/// whether it finished.
fn spawn_and_wait<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> (JoinHandle<T>, bool) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    let done = rx.recv_timeout(limit).is_ok();
    (handle, done)
}

/// A success by key whose lock-free attempt under the map's read lock gives up (the
/// circuit it saw had expired) must not count itself lock-free after the guard is
/// dropped: an `unregister` can complete in between, and the report would return `Ok`
/// yet be in no final count. Forced interleaving of the race in `reports_racing_*`.
#[test]
fn a_report_off_the_map_lock_is_in_the_final_counts_or_refused() {
    let clock = GateClock::default();
    let brama = gated_brama(&clock);
    let key = KEYS[0];
    let events = brama.subscribe(Filter::new().event_type(EventType::Unregistered));
    brama.register(key, Options::new()).expect("fresh");
    brama.failure(key).expect("trips");
    clock.advance(Duration::from_millis(10)); // the open period has passed
    let reporter = {
        let (brama, clock) = (brama.clone(), clock.clone());
        thread::spawn(move || {
            // Reading 1: the open-expiry test of the fast path, under the read lock.
            // Reading 2: whatever the report does next.
            clock.trap_this_thread(&[1, 2]);
            brama.success(key)
        })
    };
    assert!(
        clock.await_stop(1, Duration::from_secs(10)),
        "reporter at reading 1"
    );
    // Meanwhile the circuit goes half-open and a probe closes it, with the same deadline.
    assert!(brama.available(key));
    brama.success(key).expect("probe result");
    assert_eq!(brama.status(key).unwrap().state, State::Closed);
    clock.release(1);
    let stopped = clock.await_stop(2, Duration::from_secs(10));
    // The reporter is off the map lock now: unregister can run. If the report holds a
    // lock that removal takes, unregister waits for it.
    let (unregister, _) = spawn_and_wait(Duration::from_millis(300), {
        let brama = brama.clone();
        move || brama.unregister(key)
    });
    if stopped {
        clock.release(2);
    }
    let reported = reporter.join().expect("reporter");
    let last = unregister
        .join()
        .expect("unregister")
        .expect("was registered");
    drop(brama);
    let e = events
        .recv_timeout(Duration::from_secs(1))
        .expect("Unregistered");
    let expected = 1 + u64::from(reported.is_ok());
    assert_eq!(
        (e.counts.total_successes, last.total_successes),
        (expected, expected),
        "the report returned {reported:?}: it must be in the final counts exactly when Ok"
    );
}

/// The `Unregistered` event of a connection comes before the `Registered` event of the
/// next connection under the same key (SPEC §5: sequence numbers in the order of the
/// changes), even when the registration races the end of the unregistration.
#[test]
fn a_removal_is_published_before_the_key_can_be_registered_again() {
    let clock = GateClock::default();
    let brama = gated_brama(&clock);
    let key = KEYS[1];
    let collector = collect(brama.subscribe(Filter::new()));
    brama.register(key, Options::new()).expect("fresh");
    let unregister = {
        let (brama, clock) = (brama.clone(), clock.clone());
        thread::spawn(move || {
            // Stops at the first clock reading of the unregistration (after the
            // entry is chosen for removal, before or after it leaves the map).
            clock.trap_this_thread(&[1]);
            brama.unregister(key)
        })
    };
    assert!(
        clock.await_stop(1, Duration::from_secs(10)),
        "unregister at reading 1"
    );
    let (register, _) = spawn_and_wait(Duration::from_millis(300), {
        let brama = brama.clone();
        move || brama.register(key, Options::new())
    });
    clock.release(1);
    unregister.join().expect("thread").expect("was registered");
    let again = register.join().expect("thread");
    assert!(
        matches!(again, Ok(_) | Err(Error::AlreadyRegistered)),
        "{again:?}"
    );
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    check_lifecycles(&events, true);
}

/// A state change of a connection that is being unregistered is published before its
/// `Unregistered` event, and both before the next connection's `Registered`.
#[test]
fn a_state_change_racing_removal_is_published_before_the_next_registration() {
    let clock = GateClock::default();
    let brama = gated_brama(&clock);
    let key = KEYS[2];
    let collector = collect(brama.subscribe(Filter::new()));
    brama.register(key, Options::new()).expect("fresh");
    let reporter = {
        let (brama, clock) = (brama.clone(), clock.clone());
        thread::spawn(move || {
            // Reading 1: the slow path's clock reading, under the transition lock.
            clock.trap_this_thread(&[1]);
            brama.failure(key)
        })
    };
    assert!(
        clock.await_stop(1, Duration::from_secs(10)),
        "reporter at reading 1"
    );
    let (unregister, _) = spawn_and_wait(Duration::from_millis(100), {
        let brama = brama.clone();
        move || brama.unregister(key)
    });
    let (register, _) = spawn_and_wait(Duration::from_millis(300), {
        let brama = brama.clone();
        move || brama.register(key, Options::new())
    });
    clock.release(1);
    let reported = reporter.join().expect("reporter");
    unregister.join().expect("thread").expect("was registered");
    let again = register.join().expect("thread");
    assert!(
        matches!(again, Ok(_) | Err(Error::AlreadyRegistered)),
        "{again:?}"
    );
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    let l = &check_lifecycles(&events, true)[2];
    assert_eq!(
        l.removed_reports,
        u64::from(reported.is_ok()),
        "the failure is in the final counts exactly when it returned Ok ({reported:?})"
    );
}
