//! Half-open under a rate policy: probes, their decision, dropped and timed-out probes.

use std::time::Duration;

use brama_sync::{Brama, Cause, Filter, ManualClock, Options, State, Subscription};

use crate::support::{brama_with, changes, rate_50_of_10, EXPIRY};

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
