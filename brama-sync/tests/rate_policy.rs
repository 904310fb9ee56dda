//! SPEC §8 (issue #15): rate trip policies, through the public API. ManualClock only,
//! manual janitor, no sleeps.

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Error, Event, EventKind, Filter, Janitor, ManualClock, Options, State,
    Subscription, TripPolicy, Window,
};

const MS: Duration = Duration::from_millis(1);
const EXPIRY: Duration = Duration::from_secs(30);

fn brama_with(clock: &ManualClock, policy: TripPolicy, probes: u32) -> Brama {
    Brama::builder()
        .trip_policy(policy)
        .expiry(EXPIRY)
        .half_open_probes(probes)
        .probe_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .expect("valid settings")
}

fn changes(sub: &Subscription) -> Vec<(State, State, Cause)> {
    sub.try_iter()
        .filter_map(|e: Event| match e.kind {
            EventKind::StateChanged { from, to, cause } => Some((from, to, cause)),
            _ => None,
        })
        .collect()
}

fn rate_50_of_10() -> TripPolicy {
    TripPolicy::failure_rate(0.5)
        .window(Window::count(10))
        .minimum_calls(4)
}

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

/// Opens a `rate_50_of_10` circuit, then lets its open duration pass.
fn tripped(clock: &ManualClock, probes: u32) -> (Brama, Subscription) {
    let brama = brama_with(clock, rate_50_of_10(), probes);
    brama.register("api", Options::new()).unwrap();
    for _ in 0..4 {
        brama.failure("api").unwrap();
    }
    assert_eq!(brama.state("api").unwrap(), State::Open);
    clock.advance(EXPIRY);
    let sub = brama.subscribe(Filter::new());
    (brama, sub)
}

#[test]
fn half_open_admits_the_probes_and_decides_when_all_have_reported() {
    let clock = ManualClock::new();
    let (brama, sub) = tripped(&clock, 3);
    let probes: Vec<_> = (0..3).map(|_| brama.acquire("api").unwrap()).collect();
    assert!(!brama.available("api"), "three probes in all");
    let s = brama.status("api").unwrap();
    assert_eq!(
        (s.state, s.window_calls, s.failure_rate),
        (State::HalfOpen, 0, None)
    );
    let mut probes = probes.into_iter();
    probes.next().unwrap().success().unwrap();
    probes.next().unwrap().failure().unwrap();
    assert_eq!(
        brama.state("api").unwrap(),
        State::HalfOpen,
        "one probe still out"
    );
    assert!(!brama.available("api"), "reported probes keep their slots");
    let s = brama.status("api").unwrap();
    assert_eq!((s.window_calls, s.failure_rate), (2, Some(0.5)));
    probes.next().unwrap().success().unwrap(); // 1 of 3 failed: under 50 %
    assert_eq!(brama.state("api").unwrap(), State::Closed);
    assert_eq!(
        changes(&sub),
        vec![
            (State::Open, State::HalfOpen, Cause::Expiry),
            (State::HalfOpen, State::Closed, Cause::ProbeSuccess)
        ]
    );
    let s = brama.status("api").unwrap();
    assert_eq!(
        (s.window_calls, s.failure_rate),
        (0, None),
        "a close clears the window"
    );
}

#[test]
fn probes_at_the_failure_rate_reopen_with_the_next_backoff_step() {
    let clock = ManualClock::new();
    let (brama, sub) = tripped(&clock, 2);
    let a = brama.acquire("api").unwrap();
    let b = brama.acquire("api").unwrap();
    a.failure().unwrap();
    b.success().unwrap();
    assert_eq!(brama.state("api").unwrap(), State::Open);
    let got = changes(&sub);
    assert_eq!(
        got.last(),
        Some(&(State::HalfOpen, State::Open, Cause::FailureRate))
    );
    assert_eq!(brama.status("api").unwrap().trips, 2);
}

#[test]
fn a_dropped_or_ignored_probe_frees_its_slot_for_another_call() {
    let clock = ManualClock::new();
    let (brama, _sub) = tripped(&clock, 2);
    let a = brama.acquire("api").unwrap();
    let b = brama.acquire("api").unwrap();
    drop(a);
    b.ignore().unwrap();
    // Neither counted: two new probes decide the cycle.
    let c = brama.acquire("api").unwrap();
    let d = brama.acquire("api").unwrap();
    assert!(!brama.available("api"));
    c.success().unwrap();
    d.success().unwrap();
    assert_eq!(brama.state("api").unwrap(), State::Closed);
}

#[test]
fn a_timed_out_probe_counts_as_a_failure() {
    let clock = ManualClock::new();
    let (brama, sub) = tripped(&clock, 2);
    let late = brama.acquire("api").unwrap();
    let ok = brama.acquire("api").unwrap();
    ok.success().unwrap();
    clock.advance(Duration::from_secs(10)); // the probe timeout
                                            // The next check gives `late` up: 1 failure of 2 probes is 50 %: re-open.
    assert!(!brama.available("api"));
    assert_eq!(brama.state("api").unwrap(), State::Open);
    let got = changes(&sub);
    assert_eq!(
        got.last(),
        Some(&(State::HalfOpen, State::Open, Cause::FailureRate))
    );
    // The late permit decides nothing now.
    late.success().unwrap();
    assert_eq!(brama.state("api").unwrap(), State::Open);
}

#[test]
fn a_plain_report_with_no_probe_out_decides_nothing() {
    let clock = ManualClock::new();
    let (brama, sub) = tripped(&clock, 1);
    assert_eq!(brama.state("api").unwrap(), State::HalfOpen);
    // A call that started before the circuit opened reports now.
    brama.success("api").unwrap();
    assert_eq!(brama.state("api").unwrap(), State::HalfOpen);
    assert_eq!(
        changes(&sub),
        vec![(State::Open, State::HalfOpen, Cause::Expiry)],
        "the report moved the expired circuit to half-open and decided nothing"
    );
    assert_eq!(brama.status("api").unwrap().total_successes, 1);
    // With a probe out, a plain report is its result.
    assert!(brama.available("api"));
    brama.success("api").unwrap();
    assert_eq!(brama.state("api").unwrap(), State::Closed);
}

#[test]
fn a_connection_can_override_the_registry_policy_and_back() {
    let clock = ManualClock::new();
    let brama = brama_with(&clock, rate_50_of_10(), 1);
    brama
        .register(
            "legacy",
            Options::new().trip_policy(TripPolicy::consecutive(2)),
        )
        .unwrap();
    brama.register("new", Options::new()).unwrap();
    brama.failure("legacy").unwrap();
    brama.success("legacy").unwrap();
    brama.failure("legacy").unwrap();
    assert_eq!(brama.status("legacy").unwrap().consecutive_failures, 1);
    assert_eq!(brama.status("legacy").unwrap().failure_rate, None);
    brama.failure("legacy").unwrap();
    assert_eq!(brama.state("legacy").unwrap(), State::Open, "two in a row");
    // Live: the rate connection becomes consecutive(1).
    brama
        .configure("new", Options::new().failure_threshold(1))
        .unwrap();
    brama.failure("new").unwrap();
    assert_eq!(brama.state("new").unwrap(), State::Open);
}

#[test]
fn configure_defaults_moves_following_connections_to_the_new_policy() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(100)
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap();
    for id in ["a", "b"] {
        brama.register(id, Options::new()).unwrap();
        brama.success(id).unwrap();
    }
    brama
        .configure_defaults(
            Options::new().trip_policy(
                TripPolicy::failure_rate(1.0)
                    .window(Window::count(2))
                    .minimum_calls(2),
            ),
        )
        .unwrap();
    brama.failure("a").unwrap();
    assert_eq!(brama.status("a").unwrap().window_calls, 1);
    brama.failure("a").unwrap();
    assert_eq!(brama.state("a").unwrap(), State::Open);
    assert_eq!(brama.state("b").unwrap(), State::Closed);
    // And back: "b" counts a streak again.
    brama
        .configure_defaults(Options::new().failure_threshold(1))
        .unwrap();
    brama.failure("b").unwrap();
    assert_eq!(brama.state("b").unwrap(), State::Open);
}

#[test]
fn bad_policies_are_rejected_naming_the_field_and_change_nothing() {
    let cases: Vec<(TripPolicy, &str)> = vec![
        (TripPolicy::failure_rate(0.0), "trip_policy.failure_rate"),
        (TripPolicy::failure_rate(1.01), "trip_policy.failure_rate"),
        (
            TripPolicy::failure_rate(f64::NAN),
            "trip_policy.failure_rate",
        ),
        (
            TripPolicy::failure_rate(0.5).window(Window::count(0)),
            "trip_policy.window",
        ),
        (
            TripPolicy::failure_rate(0.5).window(Window::count(brama_sync::MAX_WINDOW_CALLS + 1)),
            "trip_policy.window",
        ),
        (
            TripPolicy::failure_rate(0.5).window(Window::time(Duration::ZERO)),
            "trip_policy.window",
        ),
        (
            TripPolicy::failure_rate(0.5)
                .window(Window::time(brama_sync::MAX_WINDOW_DURATION + MS)),
            "trip_policy.window",
        ),
        (
            TripPolicy::failure_rate(0.5).minimum_calls(0),
            "trip_policy.minimum_calls",
        ),
        (
            TripPolicy::failure_rate(0.5).slow_calls(Duration::ZERO, 0.5),
            "trip_policy.slow_call_duration",
        ),
        (
            TripPolicy::slow_call_rate(MS, 2.0),
            "trip_policy.slow_call_rate",
        ),
        // consecutive(n) is failure_threshold(n): the error names that setting.
        (TripPolicy::consecutive(0), "failure_threshold"),
        (TripPolicy::consecutive(3).minimum_calls(2), "trip_policy"),
    ];
    let clock = ManualClock::new();
    let brama = brama_with(&clock, rate_50_of_10(), 1);
    brama.register("x", Options::new()).unwrap();
    for (policy, field) in cases {
        let builder = Brama::builder().trip_policy(policy).build();
        match builder {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field, "{policy:?}"),
            other => panic!("{policy:?}: {other:?}"),
        }
        let err = brama
            .configure("x", Options::new().trip_policy(policy))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { field: f, .. } if f == field),
            "{err}"
        );
        let err = brama
            .register("y", Options::new().trip_policy(policy))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
        let err = brama
            .configure_defaults(Options::new().trip_policy(policy))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    }
    assert!(brama.status("y").is_err(), "nothing registered");
    // Nothing changed: "x" still trips at 50 % of at least 4.
    for _ in 0..4 {
        brama.failure("x").unwrap();
    }
    assert_eq!(brama.state("x").unwrap(), State::Open);
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
