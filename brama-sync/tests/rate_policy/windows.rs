//! What the windows hold over time, under load, from many threads and in shadow mode.

use std::time::Duration;

use brama_sync::{ManualClock, Options, State, TripPolicy, Window};

use crate::support::{brama_with, rate_50_of_10};

#[test]
fn the_count_window_forgets_the_oldest_outcomes() {
    let clock = ManualClock::new();
    let policy = TripPolicy::failure_rate(0.6)
        .window(Window::count(5))
        .minimum_calls(5);
    let brama = brama_with(&clock, policy, 1);
    let conn = {
        brama.register("db", Options::new()).unwrap();
        brama.connection("db").unwrap()
    };
    // F F S S S: 40 %. Then F: the first F leaves, F S S S F: 40 %. Then F: S S S F F:
    // 40 %... only three failures among the last five open it.
    for ok in [false, false, true, true, true, false, false] {
        if ok {
            conn.success().unwrap();
        } else {
            conn.failure().unwrap();
        }
        assert_eq!(conn.state().unwrap(), State::Closed);
    }
    assert_eq!(conn.status().unwrap().failure_rate, Some(0.4));
    conn.failure().unwrap(); // S S F F F
    assert_eq!(conn.state().unwrap(), State::Open);
}

#[test]
fn a_time_window_drops_outcomes_older_than_its_duration() {
    let clock = ManualClock::new();
    let policy = TripPolicy::failure_rate(0.5)
        .window(Window::time(Duration::from_secs(10)))
        .minimum_calls(3);
    let brama = brama_with(&clock, policy, 1);
    brama.register("q", Options::new()).unwrap();
    brama.failure("q").unwrap();
    brama.failure("q").unwrap();
    assert_eq!(brama.status("q").unwrap().window_calls, 2);
    // Ten seconds on, both failures have left the window.
    clock.advance(Duration::from_secs(10));
    let s = brama.status("q").unwrap();
    assert_eq!((s.window_calls, s.failure_rate), (0, None));
    brama.failure("q").unwrap();
    brama.success("q").unwrap();
    brama.success("q").unwrap();
    assert_eq!(brama.state("q").unwrap(), State::Closed, "1 of 3");
    brama.failure("q").unwrap(); // 2 of 4
    assert_eq!(brama.state("q").unwrap(), State::Open);
}

#[test]
fn a_time_window_left_idle_for_hours_does_not_bring_old_failures_back() {
    // Ten buckets of 1 s, whose tags come round every 1,023 epochs of a bucket's own:
    // 10,230 s after a failure, its bucket's tag is the current one's again. The
    // failure is long out of the window and must stay out (it came back, and with
    // the new failure made 2 of 2: the circuit opened).
    let clock = ManualClock::new();
    let policy = TripPolicy::failure_rate(0.5)
        .window(Window::time(Duration::from_secs(10)))
        .minimum_calls(2);
    let brama = brama_with(&clock, policy, 1);
    brama.register("q", Options::new()).unwrap();
    brama.failure("q").unwrap();
    clock.advance(Duration::from_secs(10_230));
    let s = brama.status("q").unwrap();
    assert_eq!(
        (s.window_calls, s.failure_rate),
        (0, None),
        "read before a report"
    );
    brama.failure("q").unwrap();
    let s = brama.status("q").unwrap();
    assert_eq!(s.window_calls, 1);
    assert_eq!(s.state, State::Closed, "1 call, under the minimum of 2");
}

#[test]
fn a_busy_time_window_keeps_counting_past_a_quarter_million_calls_a_bucket() {
    // A bucket held 262,143 calls (three 18-bit fields in one word) and evicted the
    // rest: a 60 s window lost every outcome past 43,690 calls a second, and failures
    // after the first 262,143 calls of a bucket were never seen. Without a slow-call
    // rule a bucket holds 2^27 - 1 calls.
    let clock = ManualClock::new();
    let policy = TripPolicy::failure_rate(0.5)
        .window(Window::time(Duration::from_secs(60)))
        .minimum_calls(10);
    let brama = brama_with(&clock, policy, 1);
    brama.register("hot", Options::new()).unwrap();
    let conn = brama.connection("hot").unwrap();
    let calls = 300_000u64;
    for _ in 0..calls {
        conn.success().unwrap();
    }
    for _ in 0..calls {
        conn.failure().unwrap();
    }
    let s = conn.status().unwrap();
    assert_eq!(s.state, State::Open, "{s:?}");
    assert_eq!(
        s.total_failures, calls,
        "the rate reached 0.5 at the last failure"
    );
}

#[test]
fn reports_from_many_threads_on_one_connection_are_counted_exactly() {
    const THREADS: u64 = 4;
    const EACH: u64 = 5_000;
    let clock = ManualClock::new();
    // Never 100 % failures: the circuit stays closed, every report is in the totals.
    let policy = TripPolicy::failure_rate(1.0).window(Window::count(100));
    let brama = brama_with(&clock, policy, 1);
    brama.register("hot", Options::new()).unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let brama = &brama;
            s.spawn(move || {
                let conn = brama.connection("hot").unwrap();
                for i in 0..EACH {
                    let failure = (i + t) % 3 == 0;
                    match (failure, i % 2 == 0) {
                        (true, true) => conn.failure().unwrap(),
                        (true, false) => brama.failure("hot").unwrap(),
                        (false, true) => conn.success().unwrap(),
                        (false, false) => brama.success("hot").unwrap(),
                    }
                }
            });
        }
    });
    let s = brama.status("hot").unwrap();
    assert_eq!(s.state, State::Closed);
    assert_eq!(s.total_successes + s.total_failures, THREADS * EACH);
    let failures: u64 = (0..THREADS)
        .map(|t| (0..EACH).filter(|i| (i + t) % 3 == 0).count() as u64)
        .sum();
    assert_eq!(s.total_failures, failures);
    assert_eq!(s.window_calls, 100, "the window holds exactly its size");
}

#[test]
fn a_metrics_only_connection_records_every_report_in_its_window() {
    // Shadow mode (SPEC §11) under a rate policy: it counts and tracks the state it
    // would be in, so its window holds every report, successes included.
    let clock = ManualClock::new();
    let brama = brama_with(&clock, rate_50_of_10(), 1);
    brama.register("shadow", Options::new()).unwrap();
    brama
        .set_mode("shadow", brama_sync::Mode::MetricsOnly)
        .unwrap();
    for _ in 0..3 {
        brama.success("shadow").unwrap();
    }
    let conn = brama.connection("shadow").unwrap();
    conn.success().unwrap();
    let s = brama.status("shadow").unwrap();
    assert_eq!((s.window_calls, s.failure_rate), (4, Some(0.0)));
    for _ in 0..4 {
        conn.failure().unwrap();
    }
    let s = brama.status("shadow").unwrap();
    assert_eq!((s.state, s.window_calls, s.trips), (State::Open, 8, 1));
    assert!(brama.available("shadow"), "shadow mode never rejects");
}

/// The shortest time window (ten buckets of 1 ns) at the end of the clock's range
/// (`CLOCK_MAX`, where a manual clock saturates): bucket numbers are as large as the
/// readings there, and the window still counts, rolls and decides without overflowing
/// (it panicked in a debug build, and wrapped in a release one).
#[test]
fn the_shortest_time_window_works_at_the_end_of_the_clock() {
    let clock = ManualClock::new();
    let policy = TripPolicy::failure_rate(0.5)
        .window(Window::time(Duration::from_nanos(10)))
        .minimum_calls(2);
    let brama = brama_with(&clock, policy, 1);
    brama.register("end", Options::new()).unwrap();
    clock.advance(Duration::MAX);
    brama.success("end").unwrap();
    brama.success("end").unwrap();
    let s = brama.status("end").unwrap();
    assert_eq!((s.state, s.window_calls), (State::Closed, 2));
    brama.failure("end").unwrap(); // 1 of 3
    assert_eq!(brama.state("end").unwrap(), State::Closed);
    brama.failure("end").unwrap(); // 2 of 4
    let s = brama.status("end").unwrap();
    assert_eq!((s.trips, s.state), (1, State::Open));
}
