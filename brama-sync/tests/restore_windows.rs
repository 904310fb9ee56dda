//! SPEC §8, §11, §13: what a restore, a change of configuration and a change of mode
//! leave of a rate policy's window and half-open cycle. A restored circuit starts with
//! an empty window and keeps recording its reports (and timing its calls); a cycle
//! whose probe count is lowered below the probes that reported is decided by them; a
//! new half-open cycle (a restore, a change of mode) has all its probe slots. ManualClock
//! only, no sleeps.

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Filter, Janitor, ManualClock, Mode, Options, State, TripPolicy, Window,
};

const EXPIRY: Duration = Duration::from_secs(30);
const MS: Duration = Duration::from_millis(1);

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

/// The audit's policy: 60 % of the last 4 calls, from 2 calls on.
fn rate_60_of_4() -> TripPolicy {
    TripPolicy::failure_rate(0.6)
        .window(Window::count(4))
        .minimum_calls(2)
}

/// 50 % of the last 10 calls, from 4 calls on.
fn rate_50_of_10() -> TripPolicy {
    TripPolicy::failure_rate(0.5)
        .window(Window::count(10))
        .minimum_calls(4)
}

// ----- restore ---------------------------------------------------------------------

#[test]
fn a_restore_onto_a_rate_connection_empties_its_window_and_keeps_recording() {
    let clock = ManualClock::new();
    let a = brama_with(&clock, rate_60_of_4(), 1);
    a.register("api", Options::new()).unwrap();
    a.success("api").unwrap();
    assert_eq!(a.state("api").unwrap(), State::Closed);
    let snap = a.snapshot();

    let b = brama_with(&clock, rate_60_of_4(), 1);
    b.register("api", Options::new()).unwrap();
    b.failure("api").unwrap();
    assert_eq!(b.status("api").unwrap().window_calls, 1);
    b.restore(&snap).unwrap();
    let s = b.status("api").unwrap();
    assert_eq!(
        (s.state, s.window_calls, s.failure_rate),
        (State::Closed, 0, None),
        "a restored circuit starts with an empty window"
    );
    for _ in 0..3 {
        b.success("api").unwrap();
    }
    let s = b.status("api").unwrap();
    assert_eq!(
        (s.window_calls, s.failure_rate),
        (3, Some(0.0)),
        "successes after the restore are recorded"
    );
    b.failure("api").unwrap();
    b.failure("api").unwrap();
    // The window holds the last 4: S, S, F, F: 50 %, under 60 %.
    let s = b.status("api").unwrap();
    assert_eq!(
        (s.state, s.window_calls, s.failure_rate),
        (State::Closed, 4, Some(0.5))
    );
    b.failure("api").unwrap(); // S, F, F, F: 75 %
    assert_eq!(b.state("api").unwrap(), State::Open);
}

#[test]
fn a_restored_connection_keeps_timing_its_calls() {
    let clock = ManualClock::new();
    let policy = TripPolicy::slow_call_rate(100 * MS, 0.5)
        .window(Window::count(4))
        .minimum_calls(4);
    let a = brama_with(&clock, policy, 1);
    a.register("search", Options::new()).unwrap();
    a.success("search").unwrap();
    let snap = a.snapshot();

    let b = brama_with(&clock, policy, 1);
    b.register("search", Options::new()).unwrap();
    b.success_after("search", 5 * MS).unwrap();
    b.restore(&snap).unwrap();
    let permit = b.acquire("search").unwrap();
    clock.advance(200 * MS);
    permit.success().unwrap();
    let s = b.status("search").unwrap();
    assert_eq!(
        (s.window_calls, s.slow_call_rate),
        (1, Some(1.0)),
        "the permit timed its call and the window recorded it as slow"
    );
}

#[test]
fn a_restore_into_half_open_gives_the_new_cycle_all_its_probe_slots() {
    let clock = ManualClock::new();
    // The snapshot's circuit: half-open, no probe out.
    let a = brama_with(&clock, rate_50_of_10(), 3);
    a.register("api", Options::new()).unwrap();
    for _ in 0..4 {
        a.failure("api").unwrap();
    }
    clock.advance(EXPIRY);
    drop(a.acquire("api").unwrap()); // moves it to half-open; the slot freed
    assert_eq!(a.state("api").unwrap(), State::HalfOpen);
    let snap = a.snapshot();

    // The restoring one: half-open, two of its three probes reported.
    let b = brama_with(&clock, rate_50_of_10(), 3);
    b.register("api", Options::new()).unwrap();
    for _ in 0..4 {
        b.failure("api").unwrap();
    }
    clock.advance(EXPIRY);
    b.acquire("api").unwrap().success().unwrap();
    b.acquire("api").unwrap().success().unwrap();
    assert_eq!(b.state("api").unwrap(), State::HalfOpen);
    b.restore(&snap).unwrap();
    let s = b.status("api").unwrap();
    assert_eq!((s.state, s.window_calls), (State::HalfOpen, 0));
    let probes: Vec<_> = (0..3)
        .map(|i| {
            b.acquire("api")
                .unwrap_or_else(|e| panic!("probe {i} of the restored cycle refused: {e}"))
        })
        .collect();
    assert!(!b.available("api"), "three probes in all");
    let mut probes = probes.into_iter();
    probes.next().unwrap().success().unwrap();
    probes.next().unwrap().success().unwrap();
    assert_eq!(
        b.state("api").unwrap(),
        State::HalfOpen,
        "the restored cycle waits for its own third probe"
    );
    probes.next().unwrap().success().unwrap();
    assert_eq!(b.state("api").unwrap(), State::Closed);
}

// ----- the probe count lowered under a half-open cycle ------------------------------

/// A `rate_50_of_10` circuit with 5 probes, half-open, `outcomes` of its probes
/// reported (true: success), none in flight.
fn half_open_with_reported(clock: &ManualClock, outcomes: &[bool]) -> Brama {
    let brama = brama_with(clock, rate_50_of_10(), 5);
    brama.register("api", Options::new()).unwrap();
    for _ in 0..4 {
        brama.failure("api").unwrap();
    }
    clock.advance(EXPIRY);
    for &ok in outcomes {
        let p = brama.acquire("api").unwrap();
        if ok {
            p.success().unwrap();
        } else {
            p.failure().unwrap();
        }
    }
    assert_eq!(brama.state("api").unwrap(), State::HalfOpen);
    brama
}

#[test]
fn lowering_the_probes_below_those_reported_closes_at_the_next_check() {
    let clock = ManualClock::new();
    let brama = half_open_with_reported(&clock, &[true, true, true]);
    let sub = brama.subscribe(Filter::new());
    brama
        .configure("api", Options::new().half_open_probes(2))
        .unwrap();
    assert!(
        brama.available("api"),
        "three successful probes of two decide the cycle: closed"
    );
    assert_eq!(brama.state("api").unwrap(), State::Closed);
    let got: Vec<_> = sub
        .try_iter()
        .filter_map(|e| match e.kind {
            brama_sync::EventKind::StateChanged { from, to, cause } => Some((from, to, cause)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![(State::HalfOpen, State::Closed, Cause::ProbeSuccess)]
    );
}

#[test]
fn lowering_the_probes_below_those_reported_reopens_on_their_failure_rate() {
    let clock = ManualClock::new();
    let brama = half_open_with_reported(&clock, &[false, true, false]);
    brama
        .configure_defaults(Options::new().half_open_probes(3))
        .unwrap();
    assert!(!brama.available("api"), "2 of 3 probes failed: re-opened");
    assert_eq!(brama.state("api").unwrap(), State::Open);
    assert_eq!(brama.status("api").unwrap().trips, 2);
    // Not stuck: the next cycle runs as usual.
    clock.advance(Duration::from_secs(3600));
    for _ in 0..3 {
        brama.acquire("api").unwrap().success().unwrap();
    }
    assert_eq!(brama.state("api").unwrap(), State::Closed);
}

#[test]
fn lowering_the_probes_below_those_reported_decides_at_the_next_report() {
    let clock = ManualClock::new();
    let brama = half_open_with_reported(&clock, &[true, true, true]);
    brama
        .configure("api", Options::new().half_open_probes(1))
        .unwrap();
    // A call that started before the circuit opened reports: the cycle is decided
    // first, and the report counted.
    brama.success("api").unwrap();
    assert_eq!(brama.state("api").unwrap(), State::Closed);
    assert_eq!(brama.status("api").unwrap().total_successes, 4);
}

#[test]
fn a_probe_freed_after_the_probes_were_lowered_leaves_the_cycle_decidable() {
    let clock = ManualClock::new();
    let brama = half_open_with_reported(&clock, &[true, true, true]);
    let out = brama.acquire("api").unwrap();
    brama
        .configure("api", Options::new().half_open_probes(2))
        .unwrap();
    assert!(!brama.available("api"), "a probe is still out");
    drop(out); // frees its slot with no result
    assert!(brama.available("api"));
    assert_eq!(brama.state("api").unwrap(), State::Closed);
}

// ----- a change of mode under a half-open cycle ---------------------------------------

#[test]
fn a_mode_change_in_half_open_frees_the_reported_probes_slots() {
    let clock = ManualClock::new();
    let brama = brama_with(&clock, rate_50_of_10(), 3);
    brama.register("api", Options::new()).unwrap();
    for _ in 0..4 {
        brama.failure("api").unwrap();
    }
    clock.advance(EXPIRY);
    brama.acquire("api").unwrap().failure().unwrap();
    brama.acquire("api").unwrap().failure().unwrap();
    assert_eq!(brama.state("api").unwrap(), State::HalfOpen);
    brama.set_mode("api", Mode::Disabled).unwrap();
    brama.set_mode("api", Mode::Normal).unwrap();
    assert_eq!(brama.state("api").unwrap(), State::HalfOpen);
    let probes: Vec<_> = (0..3)
        .map(|i| {
            brama
                .acquire("api")
                .unwrap_or_else(|e| panic!("probe {i} of the new cycle refused: {e}"))
        })
        .collect();
    assert!(!brama.available("api"), "three probes in all");
    let mut probes = probes.into_iter();
    probes.next().unwrap().success().unwrap();
    assert_eq!(
        brama.state("api").unwrap(),
        State::HalfOpen,
        "the old cycle's failures decide nothing in the new one"
    );
    probes.next().unwrap().success().unwrap();
    probes.next().unwrap().success().unwrap();
    assert_eq!(brama.state("api").unwrap(), State::Closed);
}
