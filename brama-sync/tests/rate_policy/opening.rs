//! When a closed circuit opens: the rate, the minimum, slow calls, timed reports.

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Error, Filter, Janitor, ManualClock, Options, State, TripPolicy, Window,
};

use crate::support::{brama_with, changes, rate_50_of_10, MS};

#[test]
fn a_failure_rate_opens_at_the_threshold_and_not_before_the_minimum() {
    let clock = ManualClock::new();
    let brama = brama_with(&clock, rate_50_of_10(), 1);
    brama.register("api", Options::new()).unwrap();
    let sub = brama.subscribe(Filter::new());
    // One failure and two successes: 33 %, under minimum_calls (4) anyway.
    brama.failure("api").unwrap();
    brama.success("api").unwrap();
    brama.success("api").unwrap();
    let s = brama.status("api").unwrap();
    assert_eq!(s.window_calls, 3);
    assert_eq!(s.failure_rate, Some(1.0 / 3.0));
    assert_eq!(s.consecutive_failures, 0, "a rate policy counts no streak");
    // A success: 1 of 4 = 25 %. Then failures: 2 of 5 = 40 %, then 3 of 6 = 50 %: open,
    // cause FailureRate.
    brama.success("api").unwrap();
    brama.failure("api").unwrap();
    assert_eq!(brama.state("api").unwrap(), State::Closed);
    brama.failure("api").unwrap();
    assert_eq!(brama.state("api").unwrap(), State::Open);
    assert_eq!(
        changes(&sub),
        vec![
            (State::Unknown, State::Closed, Cause::Report),
            (State::Closed, State::Open, Cause::FailureRate)
        ]
    );
    let s = brama.status("api").unwrap();
    assert_eq!((s.trips, s.total_failures, s.total_successes), (1, 3, 3));
    assert_eq!(s.failure_rate, Some(0.5));
}

#[test]
fn a_success_that_reaches_the_minimum_decides_too() {
    // As in resilience4j, every report is a decision point: three failures wait for
    // the minimum (4), and the success that reaches it finds 75 %.
    let clock = ManualClock::new();
    let brama = brama_with(&clock, rate_50_of_10(), 1);
    brama.register("api", Options::new()).unwrap();
    for _ in 0..3 {
        brama.failure("api").unwrap();
    }
    assert_eq!(brama.state("api").unwrap(), State::Closed);
    brama.success("api").unwrap();
    assert_eq!(brama.state("api").unwrap(), State::Open);
}

#[test]
fn slow_calls_open_the_circuit_though_every_call_succeeds() {
    let clock = ManualClock::new();
    let policy = TripPolicy::slow_call_rate(100 * MS, 0.5)
        .window(Window::count(4))
        .minimum_calls(4);
    let brama = brama_with(&clock, policy, 1);
    brama.register("search", Options::new()).unwrap();
    let sub = brama.subscribe(Filter::new());
    brama.success_after("search", 99 * MS).unwrap();
    brama.success("search").unwrap(); // no duration: never slow
    brama.success_after("search", 100 * MS).unwrap();
    assert_eq!(
        brama.status("search").unwrap().slow_call_rate,
        Some(1.0 / 3.0)
    );
    brama.success_after("search", 5000 * MS).unwrap();
    assert_eq!(brama.state("search").unwrap(), State::Open);
    let got = changes(&sub);
    assert_eq!(
        got.last(),
        Some(&(State::Closed, State::Open, Cause::SlowCalls))
    );
    assert_eq!(brama.status("search").unwrap().total_failures, 0);
}

#[test]
fn a_permit_times_its_call_with_the_registry_clock() {
    let clock = ManualClock::new();
    let policy = TripPolicy::slow_call_rate(Duration::from_secs(1), 1.0)
        .window(Window::count(2))
        .minimum_calls(2);
    let brama = brama_with(&clock, policy, 1);
    brama.register("s3", Options::new()).unwrap();
    let conn = brama.connection("s3").unwrap();
    // The first report moves Unknown to Closed (fast calls).
    conn.acquire().unwrap().success().unwrap();
    let p = conn.acquire().unwrap();
    clock.advance(Duration::from_secs(2));
    p.success().unwrap();
    assert_eq!(conn.status().unwrap().slow_call_rate, Some(0.5));
    // `call` times itself too.
    let out: Result<(), brama_sync::CallError<()>> = conn.call(|| {
        clock.advance(Duration::from_secs(3));
        Ok(())
    });
    out.unwrap();
    assert_eq!(
        conn.state().unwrap(),
        State::Open,
        "two slow calls of the last two"
    );
}

/// A failure with a reason is timed as a plain one: through a permit (`failure_with`,
/// owned or not) and through `call` when the closure panics. They used to be reported
/// untimed, so slow failures never counted as slow.
#[test]
fn failures_with_a_reason_and_panics_are_timed_too() {
    let clock = ManualClock::new();
    let policy = TripPolicy::slow_call_rate(Duration::from_secs(1), 1.0)
        .window(Window::count(4))
        .minimum_calls(4);
    let brama = brama_with(&clock, policy, 1);
    brama.register("slow", Options::new()).unwrap();
    let conn = brama.connection("slow").unwrap();
    let p = conn.acquire().unwrap();
    clock.advance(Duration::from_secs(2));
    p.failure_with("timeout").unwrap();
    let p = conn.acquire_owned().unwrap();
    clock.advance(Duration::from_secs(2));
    p.failure_with("timeout").unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        conn.call(|| -> Result<(), ()> {
            clock.advance(Duration::from_secs(2));
            panic!("the callee panics")
        })
    }));
    assert!(panicked.is_err());
    let s = conn.status().unwrap();
    assert_eq!((s.window_calls, s.slow_call_rate), (3, Some(1.0)));
    let p = conn.acquire().unwrap();
    clock.advance(Duration::from_secs(2));
    p.failure_with("timeout").unwrap();
    assert_eq!(
        conn.state().unwrap(),
        State::Open,
        "four slow calls of four"
    );
}

#[test]
fn minimum_calls_above_a_count_window_is_its_size() {
    let clock = ManualClock::new();
    let policy = TripPolicy::failure_rate(1.0)
        .window(Window::count(3))
        .minimum_calls(1000);
    let brama = brama_with(&clock, policy, 1);
    brama.register("k", Options::new()).unwrap();
    for _ in 0..3 {
        brama.failure("k").unwrap();
    }
    assert_eq!(brama.state("k").unwrap(), State::Open);
}

#[test]
fn timed_reports_on_a_consecutive_policy_are_plain_reports() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(2)
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap();
    brama.register("k", Options::new()).unwrap();
    brama.success_after("k", Duration::from_secs(100)).unwrap();
    brama.failure_after("k", MS).unwrap();
    let conn = brama.connection("k").unwrap();
    conn.failure_after(MS).unwrap();
    assert_eq!(brama.state("k").unwrap(), State::Open);
    let s = brama.status("k").unwrap();
    assert_eq!((s.total_successes, s.total_failures), (1, 2));
    assert_eq!(
        (s.failure_rate, s.slow_call_rate, s.window_calls),
        (None, None, 0)
    );
    assert!(matches!(
        brama.success_after("nope", MS),
        Err(Error::NotFound { .. })
    ));
}
