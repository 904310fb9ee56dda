//! SPEC §6: the janitor thread and the sweep it runs.
//!
//! Rules of the sweep are tested on a `ManualClock` with `brama.sweep()`, and a janitor
//! interval of an hour so the thread never sweeps on its own meanwhile. Where the real
//! thread is the subject, the tests poll (every 5 ms, with a generous deadline) and never
//! assert on elapsed time. Every test here takes `serial()`: the thread counts read
//! `/proc/self/task/*/comm` of this whole process, so no other test of this file may be
//! creating or dropping a `Brama` meanwhile; counts are relative to a baseline taken under
//! the lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use brama_sync::{
    Brama, Error, EventKind, EventType, Filter, ManualClock, OpenOptions, Options, State,
};

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);
const EXPIRY: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(5);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Threads of this process named `brama-janitor`.
fn janitor_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == "brama-janitor")
        })
        .count()
}

/// Polls `cond` every 5 ms until it holds or `deadline` passes; returns whether it held.
fn eventually(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// The janitor threads before a test: those of earlier tests (all dropped under
/// `serial()`) may take a moment to leave `/proc`.
fn baseline() -> usize {
    eventually(Duration::from_secs(5), || janitor_threads() == 0);
    janitor_threads()
}

fn threads_become(n: usize) -> bool {
    eventually(Duration::from_secs(5), || janitor_threads() == n)
}

/// A registry on a manual clock whose janitor never sweeps by itself during a test.
fn manual(clock: &ManualClock, inactive: Duration) -> Brama {
    Brama::builder()
        .failure_threshold(2)
        .expiry(EXPIRY)
        .probe_timeout(Duration::from_secs(5))
        .cleanup_interval(HOUR)
        .inactive_threshold(inactive)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn present(brama: &Brama, key: &str) -> bool {
    match brama.status(key) {
        Ok(_) => true,
        Err(Error::NotFound { .. }) => false,
        Err(e) => panic!("status({key}): {e}"),
    }
}

// ----- the thread ---------------------------------------------------------------------

#[test]
fn a_janitor_thread_lives_exactly_as_long_as_some_brama_clone() {
    let _serial = serial();
    let base = baseline();
    let brama = Brama::builder().cleanup_interval(HOUR).build().unwrap();
    assert!(threads_become(base + 1), "no brama-janitor thread");
    let clone = brama.clone();
    let moved = brama.clone();
    thread::spawn(move || drop(moved)).join().unwrap();
    drop(brama);
    assert_eq!(janitor_threads(), base + 1, "stopped while a clone lives");
    assert_eq!(clone.janitor_panics(), 0);
    drop(clone);
    assert!(threads_become(base), "the thread outlived the last clone");
}

#[test]
fn one_janitor_per_brama() {
    let _serial = serial();
    let base = baseline();
    let bramas: Vec<Brama> = (0..3).map(|_| Brama::new()).collect();
    assert!(threads_become(base + 3));
    drop(bramas);
    assert!(threads_become(base));
}

#[test]
fn a_brama_with_a_one_hour_interval_drops_promptly_and_its_thread_is_gone() {
    let _serial = serial();
    let base = baseline();
    let brama = Brama::builder()
        .cleanup_interval(HOUR)
        .clock(ManualClock::new()) // the thread then wakes only to sweep: hourly
        .build()
        .unwrap();
    assert!(threads_become(base + 1));
    // Dropping joins the thread; this returns only once it has stopped.
    let dropper = thread::spawn(move || drop(brama));
    dropper.join().unwrap();
    assert!(threads_become(base), "the janitor thread is still there");
}

#[test]
fn creating_and_dropping_100_bramas_leaves_no_janitor_behind() {
    let _serial = serial();
    let base = baseline();
    for i in 0..100 {
        let brama = Brama::builder()
            .cleanup_interval(if i % 2 == 0 { HOUR } else { POLL })
            .build()
            .unwrap();
        brama.register("db", Options::new()).unwrap();
        match i % 4 {
            // A handle and a subscription outliving the Brama.
            0 => {
                let conn = brama.connection("db").unwrap();
                let sub = brama.subscribe(Filter::new());
                drop(brama);
                assert!(conn.success().is_ok());
                drop((conn, sub));
            }
            // The last clone dropped on another thread.
            1 => {
                let clone = brama.clone();
                drop(brama);
                thread::spawn(move || drop(clone)).join().unwrap();
            }
            // A permit outliving the Brama.
            2 => {
                let permit = brama.acquire("db").unwrap();
                drop(brama);
                permit.ignore().unwrap();
            }
            _ => drop(brama),
        }
    }
    assert!(
        threads_become(base),
        "{} brama-janitor threads left behind",
        janitor_threads().saturating_sub(base)
    );
}

#[test]
fn the_janitor_evicts_idle_connections_by_itself() {
    let _serial = serial();
    let brama = Brama::builder()
        .cleanup_interval(Duration::from_millis(10))
        .inactive_threshold(Duration::from_millis(50))
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new().event_types([EventType::Evicted]));
    brama.register("idle", Options::new()).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !present(&brama, "idle")),
        "not evicted"
    );
    let e = sub
        .recv_timeout(Duration::from_secs(10))
        .expect("an Evicted event");
    assert_eq!(
        (e.event_type(), e.identifier()),
        (EventType::Evicted, "idle")
    );
    assert!(brama.janitor_sweeps() > 0);
}

#[test]
fn the_janitor_moves_expired_open_circuits_to_half_open_by_itself() {
    let _serial = serial();
    let brama = Brama::builder()
        .cleanup_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new().event_type(EventType::StateChanged));
    brama.register("db", Options::new()).unwrap();
    brama
        .open_circuit("db", OpenOptions::new().duration(Duration::from_millis(20)))
        .unwrap();
    // Nobody checks or reports: only the janitor can move it (status never does).
    assert!(
        eventually(Duration::from_secs(10), || brama
            .status("db")
            .unwrap()
            .state
            == State::HalfOpen),
        "still open"
    );
    let changes: Vec<_> = sub.try_iter().map(|e| e.kind).collect();
    assert!(matches!(
        changes.last(),
        Some(EventKind::StateChanged {
            from: State::Open,
            to: State::HalfOpen,
            ..
        })
    ));
}

#[test]
fn a_shorter_cleanup_interval_takes_effect_at_once() {
    let _serial = serial();
    let brama = Brama::builder()
        .cleanup_interval(HOUR)
        .inactive_threshold(Duration::from_millis(10))
        .build()
        .unwrap();
    brama.register("idle", Options::new()).unwrap();
    assert_eq!(brama.janitor_sweeps(), 0);
    brama
        .set_cleanup_interval(Duration::from_millis(10))
        .unwrap();
    assert_eq!(brama.cleanup_interval(), Duration::from_millis(10));
    // With the old interval this would take an hour.
    assert!(
        eventually(Duration::from_secs(10), || !present(&brama, "idle")),
        "the janitor kept its one-hour interval"
    );
}

#[test]
fn a_shorter_inactive_threshold_takes_effect_at_once() {
    let _serial = serial();
    let brama = Brama::builder()
        .cleanup_interval(Duration::from_millis(10))
        .inactive_threshold(HOUR)
        .build()
        .unwrap();
    brama.register("idle", Options::new()).unwrap();
    // The janitor is sweeping, and keeps the connection.
    assert!(eventually(Duration::from_secs(10), || brama
        .janitor_sweeps()
        >= 2));
    assert!(present(&brama, "idle"));
    brama
        .set_inactive_threshold(Duration::from_millis(10))
        .unwrap();
    assert_eq!(brama.inactive_threshold(), Duration::from_millis(10));
    assert!(
        eventually(Duration::from_secs(10), || !present(&brama, "idle")),
        "the janitor kept the one-hour threshold"
    );
}

#[test]
fn a_panic_during_a_sweep_does_not_kill_the_janitor() {
    let _serial = serial();
    let base = baseline();
    let brama = Brama::builder()
        .cleanup_interval(Duration::from_millis(5))
        .inactive_threshold(Duration::from_millis(10))
        .build()
        .unwrap();
    brama.set_sweep_hook(Some(Box::new(|| panic!("injected sweep panic"))));
    assert!(
        eventually(Duration::from_secs(10), || brama.janitor_panics() >= 2),
        "no sweep panicked"
    );
    assert_eq!(janitor_threads(), base + 1, "the janitor thread died");
    brama.set_sweep_hook(None);
    let sweeps = brama.janitor_sweeps();
    assert!(
        eventually(Duration::from_secs(10), || brama.janitor_sweeps() > sweeps),
        "the janitor stopped sweeping after a panic"
    );
    // And its sweeps still do their work.
    brama.register("idle", Options::new()).unwrap();
    assert!(eventually(Duration::from_secs(10), || !present(
        &brama, "idle"
    )));
    drop(brama);
    assert!(threads_become(base));
}

// ----- what a sweep does (ManualClock + brama.sweep()) --------------------------------

#[test]
fn a_sweep_moves_expired_open_circuits_and_frees_timed_out_probes() {
    let _serial = serial();
    let clock = ManualClock::new();
    let brama = manual(&clock, HOUR);
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    brama.failure("db").unwrap();
    assert_eq!(brama.sweep().transitioned, 0, "not expired yet");
    clock.advance(EXPIRY);
    let report = brama.sweep();
    assert_eq!((report.examined, report.transitioned), (1, 1));
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);

    let probe = brama.acquire("db").unwrap();
    assert!(!brama.available("db"), "the only slot is taken");
    clock.advance(Duration::from_secs(5));
    assert_eq!(brama.sweep().transitioned, 1);
    // The slot was freed by the sweep; the abandoned probe decides nothing.
    let conn = brama.connection("db").unwrap();
    let next = conn.acquire().unwrap();
    assert!(next.is_probe());
    probe.success().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);
    next.success().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
}

#[test]
fn open_half_open_and_held_connections_are_never_evicted() {
    let _serial = serial();
    let clock = ManualClock::new();
    let brama = manual(&clock, MINUTE);
    for key in ["idle", "open", "forever", "half", "handle", "permit"] {
        brama.register(key, Options::new()).unwrap();
    }
    brama
        .open_circuit(
            "open",
            OpenOptions::new().duration(Duration::from_secs(10 * 3600)),
        )
        .unwrap();
    brama
        .open_circuit("forever", OpenOptions::new().indefinitely())
        .unwrap();
    brama.failure("half").unwrap();
    brama.failure("half").unwrap();
    let handle = brama.connection("handle").unwrap();
    let permit = brama.acquire("permit").unwrap();
    clock.advance(EXPIRY);
    brama.sweep(); // "half" moves to HalfOpen
    assert_eq!(brama.status("half").unwrap().state, State::HalfOpen);

    for _ in 0..11 {
        clock.advance(HOUR);
        brama.sweep();
    }
    assert!(!present(&brama, "idle"));
    for key in ["open", "forever", "half", "handle", "permit"] {
        assert!(present(&brama, key), "{key} was evicted");
    }
    assert_eq!(
        brama.status("open").unwrap().state,
        State::HalfOpen,
        "expired after 10 h"
    );
    assert_eq!(brama.status("forever").unwrap().state, State::Open);

    // Closing or dropping what kept them makes them ordinary: evicted once idle.
    brama.close_circuit("half").unwrap();
    drop(handle);
    permit.ignore().unwrap();
    clock.advance(MINUTE + Duration::from_secs(1));
    let report = brama.sweep();
    assert_eq!(report.evicted, 3);
    for key in ["half", "handle", "permit"] {
        assert!(!present(&brama, key), "{key} was kept");
    }
    assert!(present(&brama, "open") && present(&brama, "forever"));
}

#[test]
fn registration_counts_as_activity() {
    let _serial = serial();
    let clock = ManualClock::new();
    let brama = manual(&clock, MINUTE);
    clock.advance(HOUR);
    brama.register("new", Options::new()).unwrap();
    brama.sweep();
    assert!(present(&brama, "new"), "evicted right after registering");
    clock.advance(MINUTE);
    assert_eq!(
        brama.sweep().evicted,
        0,
        "inactive for exactly the threshold"
    );
    clock.advance(Duration::from_nanos(1));
    assert_eq!(brama.sweep().evicted, 1);
    assert!(!present(&brama, "new"));
}

#[test]
fn reports_and_manual_actions_count_as_activity() {
    let _serial = serial();
    let clock = ManualClock::new();
    let brama = manual(&clock, MINUTE);
    let keys = [
        "success",
        "failure",
        "close",
        "reset",
        "configure",
        "untouched",
    ];
    for key in keys {
        brama.register(key, Options::new()).unwrap();
    }
    clock.advance(Duration::from_secs(50));
    brama.success("success").unwrap();
    brama.failure("failure").unwrap();
    brama.close_circuit("close").unwrap();
    brama.reset_circuit("reset").unwrap();
    brama
        .configure("configure", Options::new().metadata("k", "v"))
        .unwrap();
    clock.advance(Duration::from_secs(50));
    assert_eq!(brama.sweep().evicted, 1);
    assert!(!present(&brama, "untouched"));
    for key in &keys[..5] {
        assert!(present(&brama, key), "{key} was evicted");
    }
    clock.advance(MINUTE);
    assert_eq!(brama.sweep().evicted, 5);
}

#[test]
fn a_dropped_handle_leaves_its_connection_active_for_a_full_threshold() {
    let _serial = serial();
    let clock = ManualClock::new();
    let brama = manual(&clock, MINUTE);
    brama.register("held", Options::new()).unwrap();
    brama.register("permit", Options::new()).unwrap();
    let handle = brama.connection("held").unwrap();
    let permit = brama.acquire("permit").unwrap();
    clock.advance(HOUR);
    assert_eq!(brama.sweep().evicted, 0);
    // A live handle is activity up to the moment it is dropped.
    drop(handle);
    permit.ignore().unwrap();
    assert_eq!(
        brama.sweep().evicted,
        0,
        "evicted the moment its handle dropped"
    );
    clock.advance(MINUTE + Duration::from_secs(1));
    assert_eq!(brama.sweep().evicted, 2);
}

#[test]
fn a_large_sweep_lets_checks_and_reports_on_other_connections_flow() {
    const IDLE: usize = 20_000;
    const CHECKERS: usize = 4;
    let _serial = serial();
    let clock = ManualClock::new();
    let brama = manual(&clock, MINUTE);
    for i in 0..IDLE {
        brama
            .register(format!("idle-{i}").as_str(), Options::new())
            .unwrap();
    }
    clock.advance(HOUR);
    let hot: Vec<String> = (0..CHECKERS).map(|i| format!("hot-{i}")).collect();
    for key in &hot {
        brama.register(key.as_str(), Options::new()).unwrap();
    }
    let done = AtomicBool::new(false);
    let start = Barrier::new(CHECKERS + 1);
    let (report, checks) = thread::scope(|s| {
        let workers: Vec<_> = hot
            .iter()
            .map(|key| {
                let (brama, done, start) = (&brama, &done, &start);
                s.spawn(move || {
                    let conn = brama.connection(key.as_str()).unwrap();
                    start.wait();
                    let mut n = 0u64;
                    while !done.load(Ordering::Relaxed) {
                        assert!(brama.available(key.as_str()));
                        brama.success(key.as_str()).unwrap();
                        conn.success().unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        start.wait();
        let report = brama.sweep();
        done.store(true, Ordering::Relaxed);
        let checks: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        (report, checks)
    });
    assert_eq!(report.evicted, IDLE);
    assert_eq!(brama.len(), CHECKERS);
    let total: u64 = hot
        .iter()
        .map(|k| brama.status(k.as_str()).unwrap().total_successes)
        .sum();
    assert_eq!(total, 2 * checks, "a report was lost");
}
