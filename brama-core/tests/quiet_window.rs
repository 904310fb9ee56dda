//! The quiet path of a handle success into a time window
//! (`time_window_success_if_quiet`, tried before a full report, under a
//! `failure_rate` policy over `Window::time`): recorded in the window and counted,
//! never for a permit of an earlier cycle, and a success that the window's rates call
//! for a change on still changes the state. In a process of its own: the path needs
//! threads that own counter lanes (`counter::OWNED_LANES` per process).
//!
//! The window is a minute long and the test takes milliseconds, so every report falls
//! in the window whatever the system clock does meanwhile.

mod common;

use brama_core::engine::counter::{lane, OWNED_LANES};
use brama_core::engine::{ConnectionCell, Context, Registry};
use brama_core::{
    ClockSource, Config, Key, Options, Settings, State, SystemClock, TripPolicy, Window,
};
use common::{cell, secs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

/// One test at a time: the quiet path needs lanes, of which a process has three, and
/// a test that holds one while another's threads claim theirs could starve them.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn context(minimum_calls: u32) -> Context {
    let cfg = Config {
        trip_policy: Some(
            TripPolicy::failure_rate(0.5)
                .window(Window::time(secs(60)))
                .minimum_calls(minimum_calls),
        ),
        ..Config::default()
    };
    Context::new(cfg, ClockSource::from(SystemClock::new()), 16)
}

/// A closed connection whose success stamp holds the published reading, so that the
/// next success may take the quiet path (this thread then owns a lane).
fn closed_and_stamped(cx: &Context) -> ConnectionCell {
    let db = cell(cx);
    db.success(cx, None).unwrap(); // Unknown -> Closed, claims a lane
    cx.refresh();
    db.success(cx, None).unwrap(); // stamps the published reading
    assert!(lane().is_owned(), "this test thread got no counter lane");
    db
}

#[test]
fn quiet_successes_are_recorded_in_the_window_and_a_stale_permit_is_not() {
    let _serial = serial();
    let cx = context(10);
    let db = closed_and_stamped(&cx);
    let before = db.status(&cx);
    assert_eq!(before.state, State::Closed);
    for i in 0..100 {
        assert!(
            db.time_window_success_if_quiet(&cx, None),
            "success {i} took the full path"
        );
    }
    let after = db.status(&cx);
    assert_eq!(after.window_calls, before.window_calls + 100);
    assert_eq!(after.total_successes, before.total_successes + 100);

    // A permit of this cycle goes quiet too; one of another cycle does not, and has
    // written nothing.
    let gen = db.acquire(&cx).unwrap().gen;
    assert!(db.time_window_success_if_quiet(&cx, Some(gen)));
    assert!(!db.time_window_success_if_quiet(&cx, Some(gen.wrapping_add(1))));
    let last = db.status(&cx);
    assert_eq!(last.window_calls, after.window_calls + 1);
    assert_eq!(last.total_successes, after.total_successes + 1);
}

#[test]
fn a_quiet_success_that_completes_the_minimum_trips_the_circuit() {
    let _serial = serial();
    // Two successes and three failures: five calls, short of the minimum of six; the
    // sixth, a success, makes three failures in six calls, the rate of 0.5.
    let cx = context(6);
    let db = closed_and_stamped(&cx);
    assert_eq!(db.status(&cx).window_calls, 2, "the two successes");
    for _ in 0..3 {
        db.failure(&cx, None, None).unwrap();
    }
    let status = db.status(&cx);
    assert_eq!(
        (status.state, status.window_calls),
        (State::Closed, 5),
        "{status:?}"
    );
    assert!(
        db.time_window_success_if_quiet(&cx, None),
        "the stamp is still the published one"
    );
    let status = db.status(&cx);
    assert_eq!(status.state, State::Open, "{status:?}");
    assert_eq!((status.total_successes, status.total_failures), (3, 3));
}

/// Threads that each own a lane report quiet successes at once: every one is in the
/// window and in the totals, exactly once.
#[test]
fn concurrent_quiet_successes_are_each_recorded_once() {
    let _serial = serial();
    const THREADS: usize = 2;
    const EACH: u64 = 50_000;
    const { assert!(THREADS < OWNED_LANES) };
    let cx = Arc::new(context(10));
    let db = Arc::new(cell(&cx));
    thread::scope(|s| s.spawn(|| db.success(&cx, None).unwrap()).join().unwrap());
    cx.refresh();
    let before = db.status(&cx);
    let quiet: u64 = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut quiet = 0;
                    for _ in 0..EACH {
                        if db.time_window_success_if_quiet(&cx, None) {
                            quiet += 1;
                        } else {
                            db.success(&cx, None).unwrap();
                        }
                    }
                    quiet
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let after = db.status(&cx);
    let reports = THREADS as u64 * EACH;
    assert!(quiet > 0, "no success took the quiet path");
    assert_eq!(after.window_calls, before.window_calls + reports);
    assert_eq!(after.total_successes, before.total_successes + reports);
}

/// Successes by key on a key this thread checked (so its per-thread cache holds the
/// cell, which then counts quietly, `success_unlocked`): each recorded and counted once.
#[test]
fn quiet_successes_by_key_are_recorded_once() {
    let _serial = serial();
    let cfg = Config {
        trip_policy: Some(
            TripPolicy::failure_rate(0.5)
                .window(Window::time(secs(60)))
                .minimum_calls(10),
        ),
        ..Config::default()
    };
    let r = Registry::new(
        cfg,
        Settings::default(),
        ClockSource::from(SystemClock::new()),
    )
    .unwrap();
    let k = Key::new("db");
    r.register(k, &Options::new()).unwrap();
    r.success(k).unwrap(); // Unknown -> Closed
    assert!(r.available(k) && r.available(k)); // the second check fills the slot
    r.context().refresh();
    r.success(k).unwrap(); // stamps the published reading
    let before = r.status(k).unwrap();
    for _ in 0..1_000 {
        r.success(k).unwrap();
    }
    let after = r.status(k).unwrap();
    assert_eq!(after.window_calls, before.window_calls + 1_000);
    assert_eq!(after.total_successes, before.total_successes + 1_000);
    // Removed: the cached cell answers for nothing, and nothing more is counted.
    let removed = r.unregister(k).unwrap();
    assert_eq!(removed.total_successes, after.total_successes);
    assert!(r.success(k).is_err());
}

/// Successes counted in a thread's lane of the window (once the window is open at the
/// stamp, `window/buckets/quiet.rs`) count towards the minimum and the rate the
/// failures that follow are decided on.
#[test]
fn quiet_successes_count_in_the_rate_the_next_failures_decide_on() {
    let _serial = serial();
    let cx = context(10);
    let db = closed_and_stamped(&cx);
    let recorded = db.status(&cx).window_calls;
    while db.status(&cx).window_calls < 5 {
        assert!(db.time_window_success_if_quiet(&cx, None));
    }
    let status = db.status(&cx);
    assert_eq!(status.window_calls, 5);
    assert!(status.window_calls > recorded, "successes went quiet");
    // Four failures: nine calls, short of the minimum of ten.
    for _ in 0..4 {
        db.failure(&cx, None, None).unwrap();
    }
    assert_eq!(db.status(&cx).state, State::Closed);
    // The fifth: five failures in ten calls, the rate of 0.5.
    db.failure(&cx, None, None).unwrap();
    let status = db.status(&cx);
    assert_eq!(status.state, State::Open, "{status:?}");
    assert_eq!((status.total_successes, status.total_failures), (5, 5));
}

/// A removed connection's final totals hold every quiet success, and a success after
/// the removal is not counted.
#[test]
fn a_removed_connections_totals_hold_its_quiet_successes() {
    let _serial = serial();
    let cx = context(10);
    let db = closed_and_stamped(&cx);
    for _ in 0..100 {
        assert!(db.time_window_success_if_quiet(&cx, None));
    }
    let before = db.status(&cx).total_successes;
    assert!(db.mark_removed());
    assert!(!db.time_window_success_if_quiet(&cx, None));
    assert_eq!(db.status(&cx).total_successes, before);
    assert_eq!(before, 102);
}
